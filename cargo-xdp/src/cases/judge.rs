//! The loader's answer to a case, judged against what the case expects:
//! one line per difference, `field: expected X, got Y`.

use std::collections::BTreeMap;

use cargo_xdp_wire::{CaseAnswer, Hex};

use super::{Action, Case};
use crate::{
    packets,
    typed_maps::{MapTypes, Typed},
};

/// What is wrong with the answer, as lines of "expected ..., got ...".
/// `types`: the map types of the case's object, by which map keys and
/// values are also shown by field.
pub(crate) fn judge(case: &Case, answer: &CaseAnswer, types: Option<&MapTypes>) -> Vec<String> {
    let answer = match answer {
        CaseAnswer::Failed { error, .. } => return vec![format!("could not run: {error}")],
        // Reported as ignored before anything is judged.
        CaseAnswer::Skipped { .. } => return Vec::new(),
        CaseAnswer::Ran(run) => run,
    };
    let expect = &case.spec.expect;
    let mut problems = Vec::new();
    if let Some(wanted) = expect.action {
        if u64::from(answer.action) != wanted as u64 {
            problems.push(format!(
                "action: expected {}, got {}",
                wanted.name(),
                Action::of(answer.action.into())
            ));
        }
    }
    let got = &answer.packet.0;
    if let Some(wanted) = &case.expected_packet {
        if wanted != got {
            problems.extend(packet_diff(wanted, got, case.spec.link));
        }
    }
    if let Some(wanted) = &expect.fields {
        let fields: BTreeMap<String, String> = packets::fields_for(got, case.spec.link)
            .into_iter()
            .collect();
        for (name, value) in wanted {
            let value = value.text();
            match fields.get(name) {
                Some(now) if now.eq_ignore_ascii_case(&value) => {}
                Some(now) => problems.push(format!("packet {name}: expected {value}, got {now}")),
                None => problems.push(format!(
                    "packet {name}: no such field in it (it has {})",
                    fields.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            }
        }
    }
    if let Some(counters) = &expect.counters {
        for (wanted_action, count) in counters {
            let got = answer
                .counters
                .and_then(|c| c.get(wanted_action.name()))
                .map(|c| c.packets);
            match got {
                Some(got) if got == *count => {}
                Some(got) => problems.push(format!(
                    "counters.{}: expected {count} packets, got {got}",
                    wanted_action.name()
                )),
                None => problems
                    .push("counters: the object has no xdp_stats map to count in".to_string()),
            }
        }
    }
    for (map, entries) in expect.maps.iter().flatten() {
        let shown = Shown { map, types };
        problems.extend(map_problems(
            &shown,
            entries,
            answer.map(map).unwrap_or_default(),
        ));
    }
    problems
}

/// A map's keys and values in hex, and by field when its BTF types them:
/// `0035 = { port: 13568 }` shows a byte-order slip at once.
struct Shown<'a> {
    map: &'a str,
    types: Option<&'a MapTypes>,
}

impl Shown<'_> {
    fn key(&self, hex: &str) -> String {
        self.typed(hex, |types, bytes| types.key(self.map, bytes))
    }

    fn value(&self, hex: &str) -> String {
        self.typed(hex, |types, bytes| types.value(self.map, bytes))
    }

    fn typed(&self, hex: &str, read: impl Fn(&MapTypes, &[u8]) -> Option<Typed>) -> String {
        let typed = self
            .types
            .zip(Hex::parse(hex))
            .and_then(|(types, bytes)| read(types, &bytes.0));
        match typed {
            Some(typed) => format!("{hex} = {typed}"),
            None => hex.to_string(),
        }
    }
}

/// What differs between the entries a case expects in `map` and `got`.
fn map_problems(
    shown: &Shown,
    entries: &[super::MapEntry],
    got: &[cargo_xdp_wire::MapEntry],
) -> Vec<String> {
    let map = shown.map;
    let mut problems = Vec::new();
    for entry in entries {
        let key = entry.key.to_ascii_lowercase();
        let found = got.iter().find(|e| e.key.to_string() == key);
        match (found, &entry.value) {
            (None, _) => {
                let keys: Vec<String> = got
                    .iter()
                    .take(8)
                    .map(|e| shown.key(&e.key.to_string()))
                    .collect();
                let present = match got.len() {
                    0 => "the map is empty".to_string(),
                    n if n > keys.len() => format!("it has {n} keys: {}, ...", keys.join(", ")),
                    _ => format!("it has {}", keys.join(", ")),
                };
                problems.push(format!(
                    "maps.{map}: no entry with key {} ({present}; keys are the map's \
                     bytes in hex, in the byte order the program writes them)",
                    shown.key(&key)
                ))
            }
            (Some(found), Some(value)) => {
                let value = value.to_ascii_lowercase();
                let first = found.values.first().map(Hex::to_string).unwrap_or_default();
                if first != value {
                    problems.push(format!(
                        "maps.{map}[{}]: expected {}, got {}",
                        shown.key(&key),
                        shown.value(&value),
                        shown.value(&first)
                    ));
                }
            }
            (Some(_), None) => {}
        }
    }
    problems
}

/// The packet fields that differ, `field: expected X, got Y`.
pub(crate) fn packet_diff(wanted: &[u8], got: &[u8], link: packets::Link) -> Vec<String> {
    let wanted_fields = packets::fields_for(wanted, link);
    let got_fields: BTreeMap<String, String> = packets::fields_for(got, link).into_iter().collect();
    let mut lines: Vec<String> = wanted_fields
        .iter()
        .filter(|(k, v)| got_fields.get(k) != Some(v))
        .map(|(k, v)| {
            format!(
                "packet {k}: expected {v}, got {}",
                got_fields.get(k).map_or("(none)", String::as_str)
            )
        })
        .collect();
    if lines.is_empty() {
        lines.push(format!(
            "packet: expected {} ({} bytes), got {} ({} bytes)",
            packets::hex(wanted),
            wanted.len(),
            packets::hex(got),
            got.len()
        ));
    }
    lines
}

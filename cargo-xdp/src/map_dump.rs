//! `cargo xdp map dump MAP`: a map's entries (pinned, or the attached
//! program's own) with their keys and values read by field, by the types the project's kern objects give the
//! map in their BTF (typed_maps.rs), asked of the loader here (through sudo
//! unless root) or of root's deployed copy on a device. The loader answers
//! in hex (`map dump MAP --json`); the typing happens on this side, from
//! this machine's build of the same sources (for a device, of the kern
//! objects alone: no loader built here), so the loader on the phone carries
//! no BTF reader. `--hex` shows the loader's own text.

use std::{cell::OnceCell, path::PathBuf};

use anyhow::{bail, Context, Result};
use cargo_xdp_wire::MapEntry;
use serde_json::{json, Value};

use crate::{
    builder,
    cargo_args::CargoArgs,
    loader_place::LoaderPlace,
    messages::Message,
    session::DeviceChoice,
    shell::Shell,
    typed_maps::{MapTypes, Typed},
};

#[derive(Debug, Clone)]
pub struct MapDumpOptions {
    /// Ask this device (None: this machine, through sudo unless root).
    pub device: Option<DeviceChoice>,
    pub cargo: CargoArgs,
    pub map: String,
    /// The loader's hex, as `NAME_user map dump` prints it.
    pub hex: bool,
    /// One JSON object with every entry.
    pub json: bool,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

pub fn map_dump(args: &MapDumpOptions, shell: &Shell) -> Result<()> {
    check_map_name(&args.map)?;
    let place = LoaderPlace {
        device: args.device.as_ref(),
        cargo: &args.cargo,
        manifest_path: args.manifest_path.as_deref(),
        what: "`cargo xdp map dump`",
        needs_root: true,
    };
    // Here the build for the loader gives the objects too; for a device
    // only they are built (no loader for this machine), when the types are
    // wanted.
    let objects: OnceCell<Vec<PathBuf>> = OnceCell::new();
    let build_here = |project: &_| {
        let built = builder::build_for_host(project, &args.cargo, shell)?;
        let _ = objects.set(built.kern_objects);
        Ok(built.loader)
    };
    place.with_host(shell, build_here, |host, project| {
        if args.hex {
            let mut loader = vec!["map", "dump", args.map.as_str()];
            if args.json {
                loader.push("--json");
            }
            return host.run(&loader, &mut |line| {
                println!("{}", crate::shell::harmless(line))
            });
        }
        let objects = match objects.get() {
            Some(objects) => objects.clone(),
            None => builder::kern_for_host(project, &args.cargo, shell)?,
        };
        let types = types_of(&objects, &args.map)?;
        let mut answer = String::new();
        host.run(&["map", "dump", &args.map, "--json"], &mut |line| {
            answer.push_str(line)
        })?;
        let entries: Vec<MapEntry> = serde_json::from_str(answer.trim()).with_context(|| {
            format!(
                "the loader's `map dump {} --json` answered `{}`: its loader may predate \
                 --json (cargo xdp upgrade)",
                args.map,
                crate::shell::harmless(answer.trim())
            )
        })?;
        let dump = Dump::read(&args.map, types.as_ref(), &entries);
        if types.is_none() {
            shell.warn(format!(
                "map `{}` has no key and value types in the BTF of this project's kern objects \
                 (a legacy map without BPF_ANNOTATE_KV_PAIR, a map declared with \
                 key_size/value_size, or objects built without -g): shown in hex",
                args.map
            ));
        }
        dump.show(args.json, host.serial(), shell);
        Ok(())
    })
}

/// The first of `objects` whose BTF types `map`, and its file name.
fn types_of(objects: &[PathBuf], map: &str) -> Result<Option<(String, MapTypes)>> {
    for object in objects {
        if let Some(types) = MapTypes::of_object(object)? {
            if types.knows(map) {
                let name = object
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Ok(Some((name, types)));
            }
        }
    }
    Ok(None)
}

/// A map's entries read by their types (or as hex).
struct Dump<'a> {
    map: &'a str,
    /// The object whose BTF typed them; None: hex.
    typed_by: Option<&'a str>,
    entries: Vec<Row>,
}

/// One entry: its key, one value per CPU for per-CPU maps (else one), and
/// for those the values summed field by field.
struct Row {
    key: Typed,
    values: Vec<Typed>,
    sum: Option<Typed>,
}

impl<'a> Dump<'a> {
    fn read(map: &'a str, types: Option<&'a (String, MapTypes)>, entries: &[MapEntry]) -> Self {
        let by_type = types.map(|(_, types)| types);
        let rows = entries
            .iter()
            .map(|entry| {
                let key = by_type
                    .and_then(|types| types.key(map, &entry.key.0))
                    .unwrap_or_else(|| Typed::hex(&entry.key.0));
                let values: Vec<Typed> = entry
                    .values
                    .iter()
                    .map(|value| {
                        by_type
                            .and_then(|types| types.value(map, &value.0))
                            .unwrap_or_else(|| Typed::hex(&value.0))
                    })
                    .collect();
                // Summing bytes means nothing: only typed values are.
                let sum = (values.len() > 1 && types.is_some())
                    .then(|| Typed::sum(&values))
                    .flatten();
                Row { key, values, sum }
            })
            .collect();
        Dump {
            map,
            typed_by: types.map(|(object, _)| object.as_str()),
            entries: rows,
        }
    }

    fn show(&self, json: bool, serial: Option<&str>, shell: &Shell) {
        if json {
            println!("{}", self.to_json());
        } else if shell.human() {
            print!("{}", self.text());
        } else {
            for row in &self.entries {
                shell.message(&Message::MapEntry {
                    serial,
                    map: self.map,
                    typed: self.typed_by.is_some(),
                    key: row.key.to_json(),
                    values: row.values.iter().map(Typed::to_json).collect(),
                    sum: row.sum.as_ref().map(Typed::to_json),
                });
            }
        }
    }

    /// A header, then `KEY: VALUE` per entry; per-CPU values summed, then
    /// each CPU's on its own line.
    fn text(&self) -> String {
        let cpus = self.entries.first().map_or(1, |row| row.values.len());
        let mut text = format!("{}: {} entries", self.map, self.entries.len());
        if cpus > 1 {
            text += &format!(", a value per CPU ({cpus} CPUs)");
        }
        match self.typed_by {
            Some(object) => text += &format!(", typed by the BTF of {object}\n"),
            None => text += ", in hex\n",
        }
        for row in &self.entries {
            match (&row.sum, row.values.as_slice()) {
                (None, [one]) => text += &format!("{}: {one}\n", row.key),
                (sum, values) => {
                    match sum {
                        Some(sum) => text += &format!("{}: {sum} (sum)\n", row.key),
                        None => text += &format!("{}:\n", row.key),
                    }
                    for (cpu, value) in values.iter().enumerate() {
                        text += &format!("  cpu {cpu}: {value}\n");
                    }
                }
            }
        }
        text
    }

    fn to_json(&self) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|row| {
                let mut entry = json!({
                    "key": row.key.to_json(),
                    "values": row.values.iter().map(Typed::to_json).collect::<Vec<_>>(),
                });
                if let Some(sum) = &row.sum {
                    entry["sum"] = sum.to_json();
                }
                entry
            })
            .collect();
        json!({ "map": self.map, "typed_by": self.typed_by, "entries": entries })
    }
}

/// A name the loader can be asked about (and nothing a shell would read).
fn check_map_name(map: &str) -> Result<()> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    if map.is_empty() || map.len() > 64 || map.starts_with('.') || !map.bytes().all(allowed) {
        bail!(
            "`{}` is not a map name: a map's name is letters, digits, `_` and `.` (the name in the \
             kern source; `cargo xdp loader -- maps` lists them)",
            crate::shell::harmless(map)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cargo_xdp_wire::Hex;

    #[test]
    fn untyped_entries_stay_hex_and_per_cpu_values_are_summed_only_when_typed() {
        let entries = vec![MapEntry {
            key: Hex(vec![1, 0, 0, 0]),
            values: vec![Hex(vec![2, 0]), Hex(vec![3, 0])],
        }];
        let dump = Dump::read("counts", None, &entries);
        assert_eq!(
            dump.text(),
            "counts: 1 entries, a value per CPU (2 CPUs), in hex\n\
             0x01000000:\n  cpu 0: 0x0200\n  cpu 1: 0x0300\n"
        );
        let json = dump.to_json();
        assert_eq!(json["typed_by"], Value::Null);
        assert_eq!(json["entries"][0]["key"], "01000000");
        assert_eq!(json["entries"][0]["values"][1], "0300");
    }

    #[test]
    fn map_names_are_checked_before_they_reach_a_device() {
        assert!(check_map_name("xdp_stats").is_ok());
        for bad in ["", "../maps", "a b", "x;reboot", "-json"] {
            let error = check_map_name(bad).unwrap_err().to_string();
            assert!(error.contains("is not a map name"), "{error}");
        }
    }
}

//! Pinned maps against the object an `attach` is about to load (aya 0.14
//! would reuse any map pinned under the name, whatever its definition).
//!
//! Each map the object pins by name and that is pinned already is compared
//! with its definition: the same, it is kept (counters and rules go on);
//! only `max_entries` or flags changed, a new map takes its entries (refused
//! before anything changed when they do not fit); type, key or value size
//! (or a map of maps' inner map) changed, a new empty map, and the note says
//! what changed and how many entries were dropped. `--reset-maps` starts
//! every pinned map empty.
//!
//! The old maps stay open until the attach ends: a failed attach pins them
//! back, so the program still running keeps its maps where they were.

use std::{
    fmt, fs,
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use aya::maps::{MapData, MapInfo};
use aya_obj::maps::PinningType;

use crate::maps;

/// A map's definition: what the object declares, or what the kernel says of
/// a pinned map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Definition {
    pub kind: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

impl Definition {
    fn of_object(map: &aya_obj::Map) -> Definition {
        Definition {
            kind: map.map_type(),
            key_size: map.key_size(),
            value_size: map.value_size(),
            max_entries: map.max_entries(),
            flags: map.map_flags(),
        }
    }

    fn of_kernel(info: &MapInfo) -> Definition {
        Definition {
            kind: info.map_type().map(|t| t as u32).unwrap_or(u32::MAX),
            key_size: info.key_size(),
            value_size: info.value_size(),
            max_entries: info.max_entries(),
            flags: info.map_flags(),
        }
    }
}

/// What becomes of one pinned map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Capacity or flags changed: a new map with the old entries.
    CarryOver(Vec<String>),
    /// Its shape changed (or --reset-maps): a new empty map.
    StartEmpty(Vec<String>),
}

/// `pinned` against `wanted`: what differs, and so what to do.
pub fn compare(wanted: &Definition, pinned: &Definition) -> Verdict {
    let mut shape = Vec::new();
    if wanted.kind != pinned.kind {
        shape.push(format!(
            "type {} -> {}",
            maps::type_name(pinned.kind),
            maps::type_name(wanted.kind)
        ));
    }
    for (what, old, new) in [
        ("key", pinned.key_size, wanted.key_size),
        ("value", pinned.value_size, wanted.value_size),
    ] {
        if old != new {
            shape.push(format!("{what} {old} -> {new} bytes"));
        }
    }
    if !shape.is_empty() {
        return Verdict::StartEmpty(shape);
    }
    let mut capacity = Vec::new();
    // 0: the loader sizes it (a perf event array: one slot per CPU).
    if wanted.max_entries != 0 && wanted.max_entries != pinned.max_entries {
        capacity.push(format!(
            "max_entries {} -> {}",
            pinned.max_entries, wanted.max_entries
        ));
    }
    if wanted.flags != pinned.flags {
        capacity.push(format!("flags {:#x} -> {:#x}", pinned.flags, wanted.flags));
    }
    if capacity.is_empty() {
        Verdict::Keep
    } else {
        Verdict::CarryOver(capacity)
    }
}

/// One pinned map that changes: its old self (kept open), what it held
/// (for a carry-over) and why.
struct Change {
    name: String,
    pin: PathBuf,
    old: MapData,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    carry: bool,
    what: Vec<String>,
}

/// The changes one attach makes to the project's pinned maps.
#[derive(Default)]
pub struct Plan {
    changes: Vec<Change>,
}

const PROG_ARRAY: u32 = 3;
const ARRAY_OF_MAPS: u32 = 12;
const HASH_OF_MAPS: u32 = 13;
const ARRAY_KINDS: [u32; 5] = [2, 6, PROG_ARRAY, 4, ARRAY_OF_MAPS];

impl Plan {
    /// Compares every map `object` pins by name with its pin under
    /// `maps_dir`, and unpins those that change (their old selves kept open
    /// here). Refuses, having changed nothing, when entries would not fit.
    pub fn prepare(object: &Path, maps_dir: &Path, reset: bool) -> Result<Plan> {
        let bytes =
            fs::read(object).with_context(|| format!("cannot read {}", object.display()))?;
        let parsed = aya_obj::Object::parse(&bytes)
            .with_context(|| format!("cannot read {}", object.display()))?;
        // In the object's (hash) order: sorting would cost the loader a
        // sort routine of its own for a list of a handful.
        let mut changes = Vec::new();
        for (name, map) in &parsed.maps {
            let pin = maps_dir.join(name);
            if !matches!(map.pinning(), PinningType::ByName) || !pin.exists() {
                continue;
            }
            let old = MapData::from_pin(&pin)
                .with_context(|| format!("cannot open the pinned map {}", pin.display()))?;
            let info = old
                .info()
                .context("cannot ask the kernel about a pinned map")?;
            let pinned = Definition::of_kernel(&info);
            let wanted = Definition::of_object(map);
            let mut verdict = compare(&wanted, &pinned);
            if verdict == Verdict::Keep {
                if let Some(what) = inner_changed(map, old.fd().as_fd(), &info)? {
                    verdict = Verdict::StartEmpty(vec![what]);
                }
            }
            if reset && verdict == Verdict::Keep {
                verdict = Verdict::StartEmpty(vec!["--reset-maps".into()]);
            }
            let (carry, what) = match verdict {
                Verdict::Keep => continue,
                Verdict::CarryOver(what) => (true, what),
                Verdict::StartEmpty(what) => (false, what),
            };
            // Program slots and maps of maps hold fds, not data: refilled, not carried.
            let carry = carry && ![PROG_ARRAY, ARRAY_OF_MAPS, HASH_OF_MAPS].contains(&pinned.kind);
            let entries = maps::raw_entries(old.fd().as_fd(), &info)
                .with_context(|| format!("cannot read the pinned map `{name}`"))?;
            if carry {
                check_fits(name, &entries, &pinned, &wanted)?;
            }
            changes.push(Change {
                name: name.clone(),
                pin,
                old,
                entries,
                carry,
                what,
            });
        }
        for change in &changes {
            fs::remove_file(&change.pin)
                .with_context(|| format!("cannot unpin {}", change.pin.display()))?;
        }
        Ok(Plan { changes })
    }

    /// Once the object is loaded (its new maps pinned): the carried entries
    /// written into them, before the program sees a packet.
    pub fn carry_over(&self) -> Result<()> {
        for change in self.changes.iter().filter(|c| c.carry) {
            let new = MapData::from_pin(&change.pin)
                .with_context(|| format!("cannot open the new map {}", change.pin.display()))?;
            for (key, value) in &change.entries {
                maps::raw_update(new.fd().as_fd(), key, value).with_context(|| {
                    format!(
                        "cannot carry an entry of `{}` into its new map",
                        change.name
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The attach failed: the old maps pinned back where they were.
    pub fn restore(&self) {
        for change in &self.changes {
            let _ = fs::remove_file(&change.pin);
            if let Err(error) = change.old.pin(&change.pin) {
                eprintln!(
                    "warning: cannot pin the old map `{}` back at {}: {error}",
                    change.name,
                    change.pin.display()
                );
            }
        }
    }

    /// One note per map that changed (after a successful attach).
    pub fn report(&self, others: &[String]) {
        for change in &self.changes {
            eprintln!("note: {change}");
        }
        if !self.changes.is_empty() && !others.is_empty() {
            eprintln!(
                "note: {} still run{} the old maps until attached again",
                others.join(", "),
                if others.len() == 1 { "s" } else { "" }
            );
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.what.join(", ");
        let n = self.entries.len();
        let entries = if n == 1 { "entry" } else { "entries" };
        if self.carry {
            write!(
                f,
                "map `{}` changed ({what}): a new map, {n} {entries} carried over",
                self.name
            )
        } else if self.what == ["--reset-maps"] {
            write!(
                f,
                "map `{}` started empty (--reset-maps): {n} {entries} dropped",
                self.name
            )
        } else {
            write!(
                f,
                "map `{}` changed ({what}): a new empty map, {n} {entries} dropped",
                self.name
            )
        }
    }
}

/// Refuses a carry-over the new capacity cannot hold: a hash-like map with
/// more entries, or an array whose cut-off slots hold something.
fn check_fits(
    name: &str,
    entries: &[(Vec<u8>, Vec<u8>)],
    pinned: &Definition,
    wanted: &Definition,
) -> Result<()> {
    let lost = if ARRAY_KINDS.contains(&pinned.kind) {
        entries
            .iter()
            .filter(|(key, value)| {
                let index = u32::from_le_bytes(key[..4].try_into().expect("4-byte key"));
                index >= wanted.max_entries && value.iter().any(|&b| b != 0)
            })
            .count()
    } else {
        entries.len().saturating_sub(wanted.max_entries as usize)
    };
    if lost > 0 {
        bail!(
            "map `{name}` holds {} entries and its new max_entries is {}: {lost} would not fit. \
             Nothing was changed; raise max_entries in the kern source, or pass --reset-maps to \
             start the maps empty",
            entries.len(),
            wanted.max_entries
        );
    }
    Ok(())
}

/// For a map of maps with an entry: the inner map's definition against the
/// object's, when it differs (an empty one has none to compare).
fn inner_changed(
    map: &aya_obj::Map,
    fd: std::os::fd::BorrowedFd,
    info: &MapInfo,
) -> Result<Option<String>> {
    let Some(inner) = map.inner() else {
        return Ok(None);
    };
    let entries = maps::raw_entries(fd, info)?;
    let Some((_, value)) = entries.first() else {
        return Ok(None);
    };
    let id = u32::from_le_bytes(value[..4].try_into().expect("a map id"));
    let Ok(now) = MapInfo::from_id(id) else {
        return Ok(None);
    };
    let wanted = Definition::of_object(&inner);
    Ok(match compare(&wanted, &Definition::of_kernel(&now)) {
        Verdict::Keep => None,
        Verdict::CarryOver(what) | Verdict::StartEmpty(what) => {
            Some(format!("inner map: {}", what.join(", ")))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(max_entries: u32) -> Definition {
        Definition {
            kind: 1,
            key_size: 4,
            value_size: 8,
            max_entries,
            flags: 0,
        }
    }

    #[test]
    fn the_same_map_is_kept_capacity_is_carried_and_shape_starts_empty() {
        assert_eq!(compare(&hash(64), &hash(64)), Verdict::Keep);
        assert_eq!(
            compare(&hash(128), &hash(64)),
            Verdict::CarryOver(vec!["max_entries 64 -> 128".into()])
        );
        let mut narrower = hash(64);
        narrower.key_size = 2;
        narrower.flags = 1;
        assert_eq!(
            compare(&narrower, &hash(64)),
            Verdict::StartEmpty(vec!["key 4 -> 2 bytes".into()])
        );
        let mut lpm = hash(64);
        lpm.kind = 11;
        assert_eq!(
            compare(&lpm, &hash(64)),
            Verdict::StartEmpty(vec!["type hash -> lpm_trie".into()])
        );
        let mut sized_by_loader = hash(0);
        sized_by_loader.kind = 4;
        let mut per_cpu = sized_by_loader;
        per_cpu.max_entries = 8;
        assert_eq!(compare(&sized_by_loader, &per_cpu), Verdict::Keep);
    }

    #[test]
    fn entries_that_do_not_fit_are_refused_with_the_fix() {
        let three: Vec<(Vec<u8>, Vec<u8>)> = (0u32..3)
            .map(|i| (i.to_le_bytes().to_vec(), vec![1]))
            .collect();
        assert!(check_fits("m", &three, &hash(64), &hash(3)).is_ok());
        let error = check_fits("m", &three, &hash(64), &hash(2))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("map `m` holds 3 entries and its new max_entries is 2: 1 would")
                && error.contains("--reset-maps"),
            "{error}"
        );
        // An array cut short loses only slots that hold something.
        let mut array = hash(4);
        array.kind = 2;
        let mut slots = three.clone();
        slots.push((3u32.to_le_bytes().to_vec(), vec![0]));
        let mut smaller = array;
        smaller.max_entries = 3;
        assert!(check_fits("a", &slots, &array, &smaller).is_ok());
        smaller.max_entries = 2;
        assert!(check_fits("a", &slots, &array, &smaller).is_err());
    }
}

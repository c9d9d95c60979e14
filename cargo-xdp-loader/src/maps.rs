//! `maps`: every map of the kern object, read from the object itself (no
//! kernel, no root). `map dump NAME`: the entries of a pinned map (or of an
//! unpinned one of the program attached now), keys and values in hex,
//! through the bpf() syscall (aya's typed maps need the key
//! and value types at compile time; this reads any map).

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use aya::maps::MapInfo;
use cargo_xdp_wire::{Hex, MapEntry};

/// One map as the object declares it.
pub struct Declared {
    pub name: String,
    pub kind: &'static str,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

/// The maps of `object`, by name; data sections (.rodata, .bss) included.
pub fn declared(object: &Path) -> Result<Vec<Declared>> {
    let bytes =
        std::fs::read(object).with_context(|| format!("cannot read {}", object.display()))?;
    let parsed = aya_obj::Object::parse(&bytes)
        .with_context(|| format!("cannot read {}", object.display()))?;
    let mut maps: Vec<Declared> = parsed
        .maps
        .iter()
        .map(|(name, map)| Declared {
            name: name.clone(),
            kind: type_name(map.map_type()),
            key_size: map.key_size(),
            value_size: map.value_size(),
            max_entries: map.max_entries(),
        })
        .collect();
    crate::short_sort::sort_short_by(&mut maps, |a, b| a.name < b.name);
    Ok(maps)
}

/// The programs (functions) of a kern object; none when it cannot be read.
pub fn program_names(object: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(object) else {
        return Vec::new();
    };
    match aya_obj::Object::parse(&bytes) {
        Ok(parsed) => parsed.programs.keys().cloned().collect(),
        Err(_) => Vec::new(),
    }
}

/// The kernel's names for BPF_MAP_TYPE_* (uapi linux/bpf.h order).
pub fn type_name(kind: u32) -> &'static str {
    const NAMES: [&str; 34] = [
        "unspec",
        "hash",
        "array",
        "prog_array",
        "perf_event_array",
        "percpu_hash",
        "percpu_array",
        "stack_trace",
        "cgroup_array",
        "lru_hash",
        "lru_percpu_hash",
        "lpm_trie",
        "array_of_maps",
        "hash_of_maps",
        "devmap",
        "sockmap",
        "cpumap",
        "xskmap",
        "sockhash",
        "cgroup_storage",
        "reuseport_sockarray",
        "percpu_cgroup_storage",
        "queue",
        "stack",
        "sk_storage",
        "devmap_hash",
        "struct_ops",
        "ringbuf",
        "inode_storage",
        "task_storage",
        "bloom_filter",
        "user_ringbuf",
        "cgrp_storage",
        "arena",
    ];
    NAMES.get(kind as usize).copied().unwrap_or("unknown")
}

fn is_per_cpu(kind: u32) -> bool {
    // percpu_hash, percpu_array, lru_percpu_hash, percpu_cgroup_storage
    matches!(kind, 5 | 6 | 10 | 21)
}

/// Every entry of the map pinned at `pin`.
/// Per-CPU maps have one value per CPU.
pub fn dump(pin: &Path) -> Result<(MapInfo, Vec<MapEntry>)> {
    let info = MapInfo::from_pin(pin).with_context(|| format!("cannot open {}", pin.display()))?;
    let entries = dump_map(&info).with_context(|| format!("cannot read {}", pin.display()))?;
    Ok((info, entries))
}

/// A map a program of the project attached now uses (Project::attached_maps).
pub struct AttachedMap {
    /// The interface the program is attached to.
    pub interface: String,
    /// The program's pin.
    pub pin: PathBuf,
    pub info: MapInfo,
}

/// The map `name` among the `attached` programs' maps (Project::
/// attached_maps), for a map that is not pinned (it lives as long as the
/// program): the interface it is attached to and its entries. None when no
/// attached program has such a map; an error when several have one each
/// (which one is meant?).
pub fn dump_attached(
    attached: Vec<AttachedMap>,
    name: &str,
) -> Result<Option<(String, MapInfo, Vec<MapEntry>)>> {
    // The kernel keeps the first BPF_OBJ_NAME_LEN - 1 bytes of a name.
    let kernel_name = &name.as_bytes()[..name.len().min(15)];
    let mut found: Vec<(String, MapInfo)> = Vec::new();
    for AttachedMap {
        interface, info, ..
    } in attached
    {
        let same = |(_, other): &(String, MapInfo)| other.id() == info.id();
        if info.name() == kernel_name && !found.iter().any(same) {
            found.push((interface, info));
        }
    }
    if found.len() > 1 {
        let interfaces: Vec<&str> = found.iter().map(|(i, _)| i.as_str()).collect();
        bail!(
            "map `{name}` is not pinned, and the programs attached to {} each have their own; \
             pin it (`__uint(pinning, LIBBPF_PIN_BY_NAME)`) to share one, or detach all but one",
            interfaces.join(", ")
        );
    }
    let Some((interface, info)) = found.pop() else {
        return Ok(None);
    };
    let entries = dump_map(&info)
        .with_context(|| format!("cannot read map `{name}` of the program on {interface}"))?;
    Ok(Some((interface, info, entries)))
}

/// Every entry of an open map.
fn dump_map(info: &MapInfo) -> Result<Vec<MapEntry>> {
    let fd = info.fd().context("cannot open the map")?;
    let value_size = info.value_size() as usize;
    let slot = value_slot(info)?;
    let entries = raw_entries(fd.as_fd(), info)?
        .into_iter()
        .map(|(key, value)| MapEntry {
            key: Hex(key),
            values: value
                .chunks(slot)
                .map(|c| Hex(c[..value_size].to_vec()))
                .collect(),
        })
        .collect();
    Ok(entries)
}

/// The bytes one CPU's value takes in a lookup's buffer: per-CPU values
/// come as one 8-byte-aligned slot per possible CPU.
fn value_slot(info: &MapInfo) -> Result<usize> {
    let value_size = info.value_size() as usize;
    Ok(if cpus_of(info)? > 1 {
        value_size.div_ceil(8) * 8
    } else {
        value_size
    })
}

/// How many values a lookup returns: the possible CPUs for a per-CPU map.
fn cpus_of(info: &MapInfo) -> Result<usize> {
    let kind = info.map_type().map(|t| t as u32).unwrap_or(0);
    if is_per_cpu(kind) {
        aya::util::nr_cpus().map_err(|(what, e)| anyhow::anyhow!("{what}: {e}"))
    } else {
        Ok(1)
    }
}

/// Every (key, value) of the map `fd` (described by `info`), raw: a per-CPU
/// value is every CPU's slot, as BPF_MAP_UPDATE_ELEM takes it back.
pub fn raw_entries(fd: BorrowedFd, info: &MapInfo) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let key_size = info.key_size() as usize;
    let buffer = value_slot(info)? * cpus_of(info)?;
    let mut entries = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    loop {
        let mut next = vec![0u8; key_size];
        if !next_key(fd, key.as_deref(), &mut next)? {
            break;
        }
        let mut value = vec![0u8; buffer];
        // An entry deleted between the two calls, or one userspace may not
        // read (a PROG_ARRAY slot): skip it.
        if lookup(fd, &next, &mut value).is_ok() {
            entries.push((next.clone(), value));
        }
        key = Some(next);
        if entries.len() > 1_000_000 {
            bail!("the map has over a million entries; stopped");
        }
    }
    Ok(entries)
}

/// Reads the value of `key` in the map `fd` into `value` (the map's
/// value size).
pub fn raw_lookup(fd: BorrowedFd, key: &[u8], value: &mut [u8]) -> Result<()> {
    lookup(fd, key, value).context("BPF_MAP_LOOKUP_ELEM failed")
}

/// Writes one raw entry (as `raw_entries` read it) into the map `fd`.
pub fn raw_update(fd: BorrowedFd, key: &[u8], value: &[u8]) -> Result<()> {
    let attr = ElementAttr {
        map_fd: fd.as_raw_fd() as u32,
        _pad: 0,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags: 0,
    };
    bpf(BPF_MAP_UPDATE_ELEM, attr).context("BPF_MAP_UPDATE_ELEM failed")
}

/// `union bpf_attr` for the map element commands.
#[repr(C)]
struct ElementAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// Writes one entry of the map pinned at `pin`, raw: `key` and `value` of
/// the map's sizes (for a per-CPU map, `value` goes to every CPU).
pub fn update(pin: &Path, key: &[u8], value: &[u8]) -> Result<()> {
    let info = MapInfo::from_pin(pin).with_context(|| format!("cannot open {}", pin.display()))?;
    let (key_size, value_size) = (info.key_size() as usize, info.value_size() as usize);
    if key.len() != key_size || value.len() != value_size {
        bail!(
            "the map takes {key_size}-byte keys and {value_size}-byte values, not {} and {}",
            key.len(),
            value.len()
        );
    }
    let kind = info.map_type().map(|t| t as u32).unwrap_or(0);
    let value = if is_per_cpu(kind) {
        let cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow::anyhow!("{what}: {e}"))?;
        let slot = value_size.div_ceil(8) * 8;
        let mut all = vec![0u8; slot * cpus];
        for chunk in all.chunks_mut(slot) {
            chunk[..value_size].copy_from_slice(value);
        }
        all
    } else {
        value.to_vec()
    };
    let fd = info.fd().context("cannot open the map")?;
    raw_update(fd.as_fd(), key, &value)
}

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

fn bpf(command: libc::c_long, mut attr: ElementAttr) -> io::Result<()> {
    // SAFETY: ElementAttr is the map element commands' bpf_attr; its
    // pointers point to buffers of the map's key and value sizes.
    unsafe { crate::sys::bpf(command, &mut attr) }.map(|_| ())
}

/// The key after `key` (the first when None); false at the end.
fn next_key(fd: BorrowedFd, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool> {
    let attr = ElementAttr {
        map_fd: fd.as_raw_fd() as u32,
        _pad: 0,
        key: key.map_or(0, |k| k.as_ptr() as u64),
        value: next.as_mut_ptr() as u64,
        flags: 0,
    };
    match bpf(BPF_MAP_GET_NEXT_KEY, attr) {
        Ok(()) => Ok(true),
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(error) => Err(error).context("BPF_MAP_GET_NEXT_KEY failed"),
    }
}

fn lookup(fd: BorrowedFd, key: &[u8], value: &mut [u8]) -> io::Result<()> {
    let attr = ElementAttr {
        map_fd: fd.as_raw_fd() as u32,
        _pad: 0,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        flags: 0,
    };
    bpf(BPF_MAP_LOOKUP_ELEM, attr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_types() {
        assert_eq!(type_name(2), "array");
        assert_eq!(type_name(11), "lpm_trie");
        assert_eq!(type_name(999), "unknown");
        assert!(is_per_cpu(6) && !is_per_cpu(1));
    }
}

//! Global data a program keeps in step with the project's pinned maps.
//!
//! On kernels from 5.2 on a kernel variant (variant.rs) can read its rules
//! from global data, a plain load, instead of looking them up in maps. The
//! maps stay where rules are written and read (`rules`, `map dump`, every
//! interface's program sharing them); each program's own global data
//! section (its `.bss.NAME` map, one per loaded program) is a copy, which
//! the project's [`Extension::fill_global_data`] lays out from the maps:
//! for the program an attach or a packet test loads, before it sees a
//! packet, and for every attached program after the maps change
//! ([`refresh_attached`]).

use std::os::fd::{AsFd, BorrowedFd};

use anyhow::{Context, Result};
use aya::{maps::Map, Ebpf};

use crate::{extension::Extension, maps, xdp::Project};

/// Fills the global data sections the extension names in the program just
/// loaded (those the object has: the base object has none).
pub fn fill_loaded(ext: &dyn Extension, project: &Project, ebpf: &Ebpf) -> Result<()> {
    for &section in ext.global_data_sections() {
        if let Some(Map::Array(data)) = ebpf.map(section) {
            let size = data.info()?.value_size() as usize;
            refill(ext, project, section, data.fd().as_fd(), size)?;
        }
    }
    Ok(())
}

/// Refills the global data sections of every program of the project that
/// is attached (pinned) now: after a command changed the maps they copy.
pub fn refresh_attached(ext: &dyn Extension, project: &Project) -> Result<()> {
    let sections = ext.global_data_sections();
    if sections.is_empty() {
        return Ok(());
    }
    for maps::AttachedMap { pin, info, .. } in project.attached_maps()? {
        let Some(&section) = sections.iter().find(|&&s| info.name_as_str() == Some(s)) else {
            continue;
        };
        let fd = info.fd().context("cannot open a program's global data")?;
        let size = info.value_size() as usize;
        refill(ext, project, section, fd.as_fd(), size)
            .with_context(|| format!("the program pinned at {}", pin.display()))?;
    }
    Ok(())
}

/// The section's value read, laid out anew by the extension, written back.
fn refill(
    ext: &dyn Extension,
    project: &Project,
    section: &str,
    fd: BorrowedFd,
    size: usize,
) -> Result<()> {
    let key = 0u32.to_ne_bytes();
    let mut data = vec![0u8; size];
    maps::raw_lookup(fd, &key, &mut data)
        .with_context(|| format!("cannot read global data `{section}`"))?;
    ext.fill_global_data(project, section, &mut data)?;
    maps::raw_update(fd, &key, &data)
        .with_context(|| format!("cannot write global data `{section}`"))
}

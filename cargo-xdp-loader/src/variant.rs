//! Per-kernel variants of a kern object (`<stem>.variants` beside it, see
//! cargo_xdp_wire::variants): which one an `attach` loads on this kernel,
//! and the record `status` reads of which one each attached program is.
//!
//! The record is an empty directory per attached program in the project's
//! bpffs directory, `variants/<program id>_<major>_<minor>` (bpffs takes
//! directories but no dots in names): it names the kernel's id of the
//! program it speaks for, so a record outliving its program says nothing.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use cargo_xdp_wire::variants::{self, KernelVersion};

/// The object an attach loads: `base` or one of its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub object: PathBuf,
    /// The variant's kernel, None for the base object.
    pub variant: Option<KernelVersion>,
    /// The running kernel, as uname says (None: unreadable).
    pub running: Option<KernelVersion>,
    /// Whether `base` has variants at all.
    pub has_variants: bool,
}

impl Chosen {
    /// `, variant for kernel 5.2+ (kernel 6.18)`, or nothing without variants.
    pub fn describe(&self) -> String {
        if !self.has_variants {
            return String::new();
        }
        let running = self
            .running
            .map(|k| format!("kernel {k}"))
            .unwrap_or_else(|| "kernel unknown".into());
        match self.variant {
            Some(kernel) => format!(", variant for kernel {kernel}+ ({running})"),
            None => format!(", base variant ({running})"),
        }
    }
}

/// The object to load for `base` on the running kernel.
pub fn for_this_kernel(base: &Path) -> Chosen {
    choose_for(base, running_kernel())
}

/// The variants `<stem>.variants` lists beside `base`, oldest kernel first.
pub fn listed(base: &Path) -> Vec<variants::Variant> {
    let list = base
        .file_stem()
        .map(|stem| base.with_file_name(variants::list_name(&stem.to_string_lossy())));
    let mut listed = list
        .and_then(|path| fs::read_to_string(path).ok())
        .map(|text| variants::parse(&text))
        .unwrap_or_default();
    crate::short_sort::sort_short_by(&mut listed, |a, b| a.kernel < b.kernel);
    listed
}

fn choose_for(base: &Path, running: Option<KernelVersion>) -> Chosen {
    let listed = listed(base);
    let chosen = variants::choose(&listed, running)
        .map(|v| (base.with_file_name(&v.file), v.kernel))
        .filter(|(object, _)| object.is_file());
    Chosen {
        object: chosen
            .as_ref()
            .map(|(object, _)| object.clone())
            .unwrap_or_else(|| base.to_path_buf()),
        variant: chosen.map(|(_, kernel)| kernel),
        running,
        has_variants: !listed.is_empty(),
    }
}

/// The running kernel's `major.minor` (uname's release).
pub fn running_kernel() -> Option<KernelVersion> {
    // SAFETY: uname fills the struct it is given; all-zero is a valid one.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return None;
    }
    // SAFETY: uname's release is NUL-terminated within the array.
    let release = unsafe { std::ffi::CStr::from_ptr(name.release.as_ptr()) };
    KernelVersion::parse(&release.to_string_lossy())
}

fn record_name(program_id: u32, kernel: KernelVersion) -> String {
    format!("{program_id}_{}_{}", kernel.major, kernel.minor)
}

fn parse_record(name: &str) -> Option<(u32, KernelVersion)> {
    let mut parts = name.splitn(3, '_');
    let id = parts.next()?.parse().ok()?;
    let kernel = KernelVersion::parse(&format!("{}.{}", parts.next()?, parts.next()?))?;
    Some((id, kernel))
}

/// Records that program `program_id` is the variant for `kernel` (nothing
/// for the base object: no record is the base).
pub fn record(dir: &Path, program_id: u32, kernel: Option<KernelVersion>) -> Result<()> {
    let Some(kernel) = kernel else {
        return Ok(());
    };
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(record_name(program_id, kernel));
    match fs::create_dir(&path) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(error).with_context(|| format!("cannot create {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The variant recorded for `program_id`; None for the base object or
/// where nothing was recorded.
pub fn recorded(dir: &Path, program_id: u32) -> Option<KernelVersion> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| parse_record(&entry.ok()?.file_name().to_string_lossy()))
        .find(|(id, _)| *id == program_id)
        .map(|(_, kernel)| kernel)
}

/// Removes the records of programs not in `live` (and the directory once
/// it is empty).
pub fn sweep(dir: &Path, live: &[u32]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !parse_record(&name).is_some_and(|(id, _)| live.contains(&id)) {
            let _ = fs::remove_dir(entry.path());
        }
    }
    let _ = fs::remove_dir(dir); // fails while records remain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u16, minor: u16) -> KernelVersion {
        KernelVersion { major, minor }
    }

    /// A fresh directory of this test's own (the runtime has no tempfile).
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cxl-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_variant_listed_for_this_kernel_is_chosen_when_its_file_is_there() {
        let dir = scratch("variants");
        let base = dir.join("f_kern.o");
        fs::write(&base, "base").unwrap();
        let plain = choose_for(&base, Some(v(6, 1)));
        assert_eq!((plain.object.clone(), plain.variant), (base.clone(), None));
        assert_eq!(plain.describe(), "");

        fs::write(dir.join("f_kern.variants"), "5.2 f_kern.k5.2.o\n").unwrap();
        let missing = choose_for(&base, Some(v(6, 1)));
        assert_eq!(missing.object, base, "a listed file that is not there");
        fs::write(dir.join("f_kern.k5.2.o"), "v").unwrap();
        let chosen = choose_for(&base, Some(v(6, 1)));
        assert_eq!(chosen.object, dir.join("f_kern.k5.2.o"));
        assert_eq!(chosen.describe(), ", variant for kernel 5.2+ (kernel 6.1)");
        let old = choose_for(&base, Some(v(4, 14)));
        assert_eq!((old.object.clone(), old.variant), (base.clone(), None));
        assert_eq!(old.describe(), ", base variant (kernel 4.14)");
        assert_eq!(choose_for(&base, None).object, base);
        assert!(running_kernel().is_some());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_speak_for_their_program_only() {
        let dir = scratch("records");
        let records = dir.join("variants");
        record(&records, 41, Some(v(5, 2))).unwrap();
        record(&records, 41, Some(v(5, 2))).unwrap();
        record(&records, 42, None).unwrap();
        assert_eq!(recorded(&records, 41), Some(v(5, 2)));
        assert_eq!(recorded(&records, 42), None);
        assert_eq!(parse_record("7_5_10"), Some((7, v(5, 10))));
        assert_eq!(parse_record("x_5_10"), None);
        sweep(&records, &[41]);
        assert_eq!(recorded(&records, 41), Some(v(5, 2)));
        sweep(&records, &[]);
        assert!(!records.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}

//! The bpffs the pins live in, and the directories of ours inside it:
//! mounted only where nothing would be hidden, root's alone, and checked
//! (never trusted) before the loader reads or removes anything there.

use std::{
    ffi::CString,
    fs,
    io::ErrorKind,
    os::unix::fs::{DirBuilderExt, MetadataExt},
    path::Path,
};

use anyhow::{anyhow, bail, Context, Result};

/// Where bpffs lives unless `--bpffs` says otherwise.
pub const DEFAULT_BPFFS: &str = "/sys/fs/bpf";
/// statfs(2)'s f_type of a bpffs: a signed 32-bit word on 32-bit targets,
/// where 0xcafe4a11 reads negative, so compared as the low 32 bits.
const BPF_FS_MAGIC: u32 = 0xcafe4a11;

fn is_bpffs(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: zeroed statfs is a valid out-parameter.
    let mut info: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(path.as_ptr(), &mut info) } == 0) && info.f_type as u32 == BPF_FS_MAGIC
}

/// Pins need bpffs: the one at `dir`, else a new one mounted there, but
/// only on a missing or empty directory (never over files), and saying so;
/// it stays mounted, as the pins live in it.
pub(crate) fn ensure_bpffs(dir: &Path) -> Result<()> {
    if is_bpffs(dir) {
        return Ok(());
    }
    let fix = format!(
        "mount it with `mount -t bpf bpf {}` or pass --bpffs DIR",
        dir.display()
    );
    if let Ok(mut entries) = fs::read_dir(dir) {
        if entries.next().is_some() {
            bail!(
                "{} is not a bpffs and is not empty: refusing to mount a bpffs over its files; \
                 pass --bpffs with a bpffs (`mount | grep bpf`) or an empty or new directory",
                dir.display()
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "bpffs is not mounted at {} and the directory cannot be created; {fix}",
            dir.display()
        )
    })?;
    let target = CString::new(dir.as_os_str().as_encoded_bytes())?;
    let bpf = CString::new("bpf")?;
    // Root's alone: the kernel's default for a new bpffs is 1777.
    let options = CString::new("mode=0700")?;
    // SAFETY: valid C strings; bpffs takes its options as a string.
    let rc = unsafe {
        libc::mount(
            bpf.as_ptr(),
            target.as_ptr(),
            bpf.as_ptr(),
            0,
            options.as_ptr().cast(),
        )
    };
    if rc != 0 || !is_bpffs(dir) {
        bail!(
            "bpffs is not mounted at {} and mounting it failed ({}); {fix}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
    eprintln!(
        "note: mounted a bpffs at {} (it stays mounted: the pins live there)",
        dir.display()
    );
    Ok(())
}

/// Removes the pins in one of our checked bpffs directories (a missing one
/// has none); the entries themselves, never what a link names.
pub(crate) fn remove_dir_contents(dir: &Path) -> Result<()> {
    if !own_dir(dir, false)? {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        fs::remove_file(entry?.path())?;
    }
    Ok(())
}

/// A directory of ours in bpffs (the project's, its `maps`/`progs`, a
/// test run's scratch): made 0700 where `create` and it is missing, then
/// refused unless it is a real directory (not a link) on a bpffs, owned by
/// root and writable by no one else. False: missing (and not created).
pub(crate) fn own_dir(dir: &Path, create: bool) -> Result<bool> {
    if create {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Err(error) if error.kind() != ErrorKind::AlreadyExists => {
                return Err(anyhow!(error).context(format!("cannot create {}", dir.display())))
            }
            _ => {}
        }
    }
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(false),
        Err(error) if error.kind() == ErrorKind::PermissionDenied => {
            bail!("cannot read {}: run as root", dir.display())
        }
        Err(error) => return Err(anyhow!(error).context(format!("cannot read {}", dir.display()))),
    };
    let fix = format!(
        "remove it as root (`rm -rf {}`; pins go with it) and attach again",
        dir.display()
    );
    if !meta.file_type().is_dir() {
        bail!(
            "{} is not a directory (a link?), and the loader follows nothing in bpffs it did not \
             make: {fix}",
            dir.display()
        );
    }
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        bail!(
            "{} is not root's alone (owner uid {}, mode {:o}): another user could change the pins \
             in it; {fix}",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        );
    }
    if !is_bpffs(dir) {
        bail!(
            "{} is not on a bpffs (something is mounted over it?): {fix}",
            dir.display()
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A bpffs the loader mounts is root's alone (the kernel's default is
    /// 1777), and its directories are checked, not trusted. Needs root
    /// (CI runs as root); elsewhere it says so and checks nothing.
    #[test]
    fn a_bpffs_of_ours_is_root_only_and_checked() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("a_bpffs_of_ours_is_root_only_and_checked: not root, skipped");
            return;
        }
        let dir = std::env::temp_dir().join(format!("cxl-mount-{}", std::process::id()));
        ensure_bpffs(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().mode() & 0o7777;
        let project = dir.join("p");
        let made = own_dir(&project, true);
        let link = dir.join("link");
        std::os::unix::fs::symlink("/tmp", &link).unwrap();
        let linked = own_dir(&link, false).map_err(|e| e.to_string());
        fs::create_dir(dir.join("open")).unwrap();
        fs::set_permissions(dir.join("open"), fs::Permissions::from_mode(0o777)).unwrap();
        let open = own_dir(&dir.join("open"), false).map_err(|e| e.to_string());
        let missing = own_dir(&dir.join("missing"), false).unwrap();
        let target = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string naming the bpffs mounted above.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        let outside = own_dir(&dir, false).map_err(|e| e.to_string());
        fs::remove_dir(&dir).unwrap();
        // (bpffs always adds the sticky bit to its root.)
        assert_eq!(mode, 0o1700);
        assert!(made.unwrap());
        assert!(linked.unwrap_err().contains("is not a directory (a link?)"));
        assert!(open.unwrap_err().contains("is not root's alone"));
        assert!(!missing);
        assert!(outside.unwrap_err().contains("is not on a bpffs"));
    }

    #[test]
    fn bpffs_is_never_mounted_over_files() {
        let dir = std::env::temp_dir().join(format!("cxl-bpffs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("precious"), "x").unwrap();
        let error = ensure_bpffs(&dir).unwrap_err().to_string();
        assert!(error.contains("is not empty: refusing to mount"), "{error}");
        assert!(dir.join("precious").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}

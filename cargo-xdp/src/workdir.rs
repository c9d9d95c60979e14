//! `target/xdp/`, the directory every cargo-xdp build writes: one lock so
//! two builds never write it at once, and temporary names that a killed
//! build leaves behind are swept by the next one.
//!
//! Every temporary file a build makes is named `.tmp*` (tempfile's prefix)
//! and made while the lock is held, so whatever `.tmp*` is there when the
//! lock is taken is a leftover. The lock file says whether the last build
//! ended (`clean`) or was killed (`dirty`): only after a killed one are
//! the targets' directories read (~1 ms of a touched kern source's build). A deploy's scratch directories live in
//! `target/xdp/scratch/<pid>-*` without the lock (a push may take long):
//! those are swept once their process is gone.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::shell::Shell;

/// Held for a whole build; released when dropped (or when the process dies).
pub struct BuildLock {
    file: File,
}

impl BuildLock {
    /// Takes the lock of `<target_dir>/xdp`, waiting (and saying so, as cargo
    /// does) while another build holds it, then sweeps what killed builds left.
    pub fn acquire(target_dir: &Path, shell: &Shell) -> Result<BuildLock> {
        let dir = target_dir.join("xdp");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the build lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                shell.status(
                    "Blocking",
                    format!("waiting for file lock on {}", path.display()),
                );
                file.lock()
                    .with_context(|| format!("cannot lock {}", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        let mut said = [0u8; 5];
        let last_ended = std::os::unix::fs::FileExt::read_at(&file, &mut said, 0)
            .is_ok_and(|n| &said[..n] == ENDED);
        if !last_ended {
            sweep_leftovers(&dir);
        }
        sweep_scratch(&dir.join("scratch"));
        say(&file, BUILDING);
        Ok(BuildLock { file })
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        say(&self.file, ENDED);
    }
}

/// What the lock file says: the build holding it is running (or was
/// killed), or the last one ended. One length, so a state overwrites the
/// other in place (no truncation on every build; a longer word an older
/// version left keeps its tail, which nobody reads).
const BUILDING: &[u8] = b"dirty";
const ENDED: &[u8] = b"clean";

fn say(file: &File, state: &[u8]) {
    let _ = std::os::unix::fs::FileExt::write_all_at(file, state, 0);
}

/// A scratch directory for one process (a deploy's unpacked bundle) under
/// `<target_dir>/xdp/scratch`; removed when dropped, swept by a later build
/// if this process is killed first.
pub fn scratch_dir(target_dir: &Path) -> Result<tempfile::TempDir> {
    let dir = target_dir.join("xdp").join("scratch");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    tempfile::Builder::new()
        .prefix(&format!("{}-", std::process::id()))
        .tempdir_in(&dir)
        .with_context(|| format!("cannot make a scratch directory in {}", dir.display()))
}

/// Puts a finished temporary file in place as `destination` with `mode`
/// (tempfile makes 0600; bundles, loaders and headers are for others too).
pub fn persist(file: tempfile::NamedTempFile, destination: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(
        file.path(),
        std::os::unix::fs::PermissionsExt::from_mode(mode),
    )?;
    file.persist(destination)
        .with_context(|| format!("cannot write {}", destination.display()))?;
    Ok(())
}

/// Scratch directories of processes that are gone (made without the lock,
/// so swept whatever the lock file says).
fn sweep_scratch(scratch: &Path) {
    for dir in entries(scratch) {
        if !owner_alive(&dir) {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

/// Removes `.tmp*` in every `<target>/`, `<target>/kern/` and
/// `<target>/loader/`.
fn sweep_leftovers(xdp: &Path) {
    for target in entries(xdp).into_iter().filter(|p| p.is_dir()) {
        if target.file_name().is_some_and(|n| n == "scratch") {
            continue;
        }
        for dir in [target.clone(), target.join("kern"), target.join("loader")] {
            for leftover in entries(&dir).into_iter().filter(|p| is_temporary(p)) {
                let _ = if leftover.is_dir() {
                    fs::remove_dir_all(&leftover)
                } else {
                    fs::remove_file(&leftover)
                };
            }
        }
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|list| list.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".tmp"))
}

/// `<pid>-...`: is that process still running?
fn owner_alive(scratch: &Path) -> bool {
    let name = scratch
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name
        .split('-')
        .next()
        .and_then(|pid| pid.parse::<u32>().ok())
    {
        Some(pid) => Path::new(&format!("/proc/{pid}")).exists(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::MessageFormat;

    #[test]
    fn the_lock_sweeps_what_killed_builds_left() {
        let dir = tempfile::tempdir().unwrap();
        let kern = dir.path().join("xdp/linux-x86_64/kern");
        fs::create_dir_all(&kern).unwrap();
        fs::write(kern.join(".tmpAbC123.o"), "half an object").unwrap();
        fs::write(kern.join("f_kern.o"), "object").unwrap();
        fs::write(dir.path().join("xdp/linux-x86_64/.tmpXyZ"), "half a bundle").unwrap();
        let scratch = dir.path().join("xdp/scratch");
        // pid 0 is never a process of ours: its scratch is a leftover.
        fs::create_dir_all(scratch.join("0-gone/f")).unwrap();
        let mine = scratch_dir(dir.path()).unwrap();

        let shell = Shell::new(true, 0, MessageFormat::Human);
        let _lock = BuildLock::acquire(dir.path(), &shell).unwrap();
        assert!(kern.join("f_kern.o").exists());
        assert!(!kern.join(".tmpAbC123.o").exists());
        assert!(!dir.path().join("xdp/linux-x86_64/.tmpXyZ").exists());
        assert!(!scratch.join("0-gone").exists());
        assert!(mine.path().exists(), "a live process keeps its scratch");
    }

    #[test]
    fn only_a_build_that_did_not_end_leaves_leftovers_to_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::new(true, 0, MessageFormat::Human);
        let kern = dir.path().join("xdp/linux-x86_64/kern");
        drop(BuildLock::acquire(dir.path(), &shell).unwrap());
        assert_eq!(fs::read(dir.path().join("xdp/.lock")).unwrap(), ENDED);
        // Not a build's (the lock says the last one ended): left alone.
        fs::create_dir_all(&kern).unwrap();
        fs::write(kern.join(".tmpOther"), "").unwrap();
        let lock = BuildLock::acquire(dir.path(), &shell).unwrap();
        assert_eq!(fs::read(dir.path().join("xdp/.lock")).unwrap(), BUILDING);
        assert!(kern.join(".tmpOther").exists());
        // A build killed while it held the lock (so its Drop never ran):
        // the next one sweeps.
        drop(lock);
        fs::write(dir.path().join("xdp/.lock"), BUILDING).unwrap();
        let _next = BuildLock::acquire(dir.path(), &shell).unwrap();
        assert!(!kern.join(".tmpOther").exists());
    }

    #[test]
    fn a_second_lock_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::new(true, 0, MessageFormat::Human);
        let first = BuildLock::acquire(dir.path(), &shell).unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let shell = Shell::new(true, 0, MessageFormat::Human);
            let _second = BuildLock::acquire(&path, &shell).unwrap();
            sender.send(()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(receiver.try_recv().is_err(), "the second build waits");
        drop(first);
        receiver
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("and goes on once the first is done");
        waiter.join().unwrap();
    }
}

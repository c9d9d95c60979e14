//! `log [--all] [--ours] [--tracefs DIR]`: the kernel's trace pipe,
//! followed until stopped, one trace line per line: by default the lines
//! `bpf_printk` wrote (every program's: the trace does not say which
//! program printed), with `--ours` only those of this project's `xdp_log`
//! (`NAME: ...`), with `--all` every event enabled there.
//!
//! It never outlives its reader: with `--keepalive` (cargo-xdp always asks
//! for it) a second without news writes a keepalive line ([`KEEPALIVE`]),
//! and a write that fails (the host went away: adbd closed the stream's
//! pipe or pty, a pipe's reader exited) ends it, even when the trace is
//! quiet. Reads are bounded: a line over 4 KiB is cut.

use std::{
    fs::File,
    io::{self, ErrorKind, Read, Write},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use cargo_xdp_wire::trace::{TraceLine, KEEPALIVE};

use crate::xdp::{self, Project};

/// Where tracefs is usually mounted, newest first.
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Longest line passed on; the rest is cut.
const MAX_LINE: usize = 4096;

/// What `log` passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// bpf_printk lines of every program.
    Printk,
    /// Only this project's `xdp_log` lines.
    Ours,
    /// Every trace line.
    All,
}

pub fn command(
    project: &Project,
    shown: Shown,
    tracefs: Option<PathBuf>,
    keepalive: bool,
) -> Result<()> {
    xdp::require_root_for("`log`")?;
    let pipe = open_trace_pipe(tracefs)?;
    eprintln!(
        "note: following {} ({}); Ctrl-C stops",
        pipe.1.display(),
        match shown {
            Shown::Printk => "bpf_printk lines of every program",
            Shown::Ours => "this project's xdp_log lines",
            Shown::All => "every trace event",
        }
    );
    match follow(pipe.0, project.name, shown, keepalive, &mut io::stdout()) {
        // The reader went away: nothing more to do.
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot follow the trace pipe"),
    }
}

/// The trace pipe of `tracefs`, else of the usual places; tracefs mounted
/// at /sys/kernel/tracing when it is nowhere.
fn open_trace_pipe(tracefs: Option<PathBuf>) -> Result<(File, PathBuf)> {
    let candidates: Vec<PathBuf> = match tracefs {
        Some(dir) => vec![dir],
        None => TRACEFS.iter().map(PathBuf::from).collect(),
    };
    let found = candidates
        .iter()
        .map(|dir| dir.join("trace_pipe"))
        .find(|pipe| pipe.exists());
    let pipe = match found {
        Some(pipe) => pipe,
        None if candidates.len() > 1 => mount_tracefs(Path::new(TRACEFS[0]))?,
        None => bail!(
            "no trace_pipe in {}: tracefs is not mounted there; mount it with `mount -t tracefs \
             nodev {}` as root, or leave out --tracefs",
            candidates[0].display(),
            candidates[0].display()
        ),
    };
    match File::open(&pipe) {
        Ok(file) => Ok((file, pipe)),
        Err(error) => Err(unreadable(&pipe, error)),
    }
}

/// What to do when the trace pipe is there but will not open.
fn unreadable(pipe: &Path, error: io::Error) -> anyhow::Error {
    if error.kind() == ErrorKind::PermissionDenied {
        anyhow::anyhow!(
            "cannot read {}: {error}. As root this is a security policy (SELinux on Android): \
             run `log` from a root shell that may read tracefs (Magisk's `su`, or `setenforce 0` \
             while debugging)",
            pipe.display()
        )
    } else {
        anyhow::Error::new(error).context(format!("cannot open {}", pipe.display()))
    }
}

fn mount_tracefs(dir: &Path) -> Result<PathBuf> {
    let target = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())?;
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        bail!(
            "the kernel's trace pipe is not there (tracefs is not mounted at {} or \
             /sys/kernel/debug/tracing) and mounting it failed: {}; mount it with `mount -t \
             tracefs nodev {}` as root (a kernel without CONFIG_TRACING has none)",
            dir.display(),
            io::Error::last_os_error(),
            dir.display()
        );
    }
    eprintln!(
        "note: mounted tracefs at {} (it stays mounted)",
        dir.display()
    );
    Ok(dir.join("trace_pipe"))
}

/// Passes on what `pipe` gives, as `shown` says, to `out`; a keepalive
/// after each quiet second when `keepalive`. Ends only on an error.
fn follow(
    pipe: File,
    name: &str,
    shown: Shown,
    keepalive: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut pipe = pipe;
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if !readable_within(&pipe, 1000)? {
            if keepalive {
                writeln!(out, "{KEEPALIVE}")?;
                out.flush()?;
            }
            continue;
        }
        let read = match pipe.read(&mut buffer) {
            // An end (a FIFO's writer left; trace_pipe never ends): wait.
            Ok(0) => {
                if keepalive {
                    writeln!(out, "{KEEPALIVE}")?;
                    out.flush()?;
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        pending.extend_from_slice(&buffer[..read]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            pass_on(&line[..line.len() - 1], name, shown, out)?;
        }
        if pending.len() > MAX_LINE {
            let line: Vec<u8> = std::mem::take(&mut pending);
            pass_on(&line, name, shown, out)?;
        }
        out.flush()?;
    }
}

fn pass_on(line: &[u8], name: &str, shown: Shown, out: &mut dyn Write) -> io::Result<()> {
    let line = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
    let wanted = match (shown, TraceLine::parse(&line)) {
        (Shown::All, _) => true,
        (Shown::Printk, Some(event)) => event.is_printk(),
        (Shown::Ours, Some(event)) => event.is_printk() && event.is_from(name),
        (_, None) => false,
    };
    if wanted {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Whether `file` has data within `millis` (poll).
fn readable_within(file: &File, millis: i32) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    match unsafe { libc::poll(&mut poll, 1, millis) } {
        -1 => {
            let error = io::Error::last_os_error();
            if error.kind() == ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(error)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printk_lines_pass_and_ours_are_told_apart() {
        let lines = [
            "  ping-1  [000] ..s2.  1.000000: bpf_trace_printk: demo: hello",
            "  ping-1  [000] ..s2.  1.000001: bpf_trace_printk: other tool",
            "  sh-2    [001] ....  1.000002: sched_switch: prev_comm=sh",
        ];
        let shown = |shown: Shown| {
            let mut out = Vec::new();
            for line in lines {
                pass_on(line.as_bytes(), "demo", shown, &mut out).unwrap();
            }
            String::from_utf8(out).unwrap().lines().count()
        };
        assert_eq!(shown(Shown::Printk), 2);
        assert_eq!(shown(Shown::Ours), 1);
        assert_eq!(shown(Shown::All), 3);
    }

    #[test]
    fn a_trace_pipe_that_will_not_open_says_what_to_do() {
        let pipe = Path::new("/sys/kernel/tracing/trace_pipe");
        let denied = unreadable(pipe, ErrorKind::PermissionDenied.into()).to_string();
        assert!(
            denied.contains("cannot read /sys/kernel/tracing/trace_pipe")
                && denied.contains("SELinux"),
            "{denied}"
        );
        let other = format!(
            "{:#}",
            unreadable(pipe, io::Error::from_raw_os_error(libc::EIO))
        );
        assert!(
            other.starts_with("cannot open /sys/kernel/tracing/trace_pipe: "),
            "{other}"
        );
        // Not mounted where --tracefs says: mount it, or leave it out.
        let error = open_trace_pipe(Some(PathBuf::from("/nonexistent"))).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("mount -t tracefs nodev /nonexistent"),
            "{error}"
        );
    }

    #[test]
    fn a_closed_reader_ends_the_follow() {
        // A FIFO with a writer that says one line; the reader side of the
        // output is a closed pipe.
        let dir = std::env::temp_dir().join(format!("cxl-trace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("trace_pipe");
        let path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let writer_path = fifo.clone();
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .unwrap();
            writeln!(w, "  p-1  [000] ....  1.0: bpf_trace_printk: demo: x").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
        });
        let pipe = File::open(&fifo).unwrap();
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let error = follow(pipe, "demo", Shown::Printk, true, &mut Closed).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BrokenPipe);
        writer.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

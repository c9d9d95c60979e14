//! The way to one device, as a deploy uses it: its shell (time-limited, or
//! streaming), a push of files, and where files go there. `adb::Adb` (a
//! phone) and `ssh::Ssh` (a Linux board) are the real ones; session's tests
//! put a scripted device behind it.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::Stdio,
};

use anyhow::{bail, Context, Result};

use crate::{
    layout::Layout,
    process::{Finished, Process},
    remote::split_sentinel,
};

/// The longest line `stats --watch` takes from a device.
pub const MAX_LINE: usize = 64 << 10;

pub trait Transport: Send + Sync {
    /// The device's name for messages: an adb serial, or `[user@]host`.
    fn serial(&self) -> &str;
    /// `script` (quoted by the caller, ending in the `__rc` sentinel) in the
    /// device's shell; `what` names the step. Stopped by Ctrl-C.
    fn shell(&self, script: &str, what: &str) -> Result<Output>;
    /// The same, not stopped by Ctrl-C: for cleaning up after one.
    fn shell_cleanup(&self, script: &str) -> Result<Output>;
    /// The same without a time limit, each line passed on as it comes.
    fn shell_streaming(&self, script: &str, line: &mut dyn FnMut(&str)) -> Result<Option<i32>>;
    /// `files` into the existing directory `dir`.
    fn push(&self, files: &[PathBuf], dir: &str) -> Result<()>;
    /// `adb root` and the device back; refused where there is no such thing.
    fn root(&self) -> Result<()>;
    /// Where the login user stages files and root keeps its own.
    fn layout(&self) -> &Layout;
}

/// What a device command printed, and its exit status from the sentinel.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Output {
    /// A finished device shell's output: stdout without the `__rc=`
    /// sentinel line, whose status becomes `code`.
    pub fn of(call: &Finished) -> Output {
        let (stdout, code) = split_sentinel(&String::from_utf8_lossy(&call.stdout));
        Output {
            stdout,
            stderr: String::from_utf8_lossy(&call.stderr).into_owned(),
            code,
        }
    }
}

/// Runs `command` (a device shell running a sentinel-terminated script),
/// passing each line of its output on as it comes; returns the sentinel's
/// status. A line longer than MAX_LINE stops it (`who` names the device,
/// `check` says how to look at it by hand).
pub fn stream_lines(
    mut command: Process,
    who: &str,
    check: &str,
    line: &mut dyn FnMut(&str),
) -> Result<Option<i32>> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", command))?;
    let mut code = None;
    let mut lines = BufReader::new(child.stdout.take().expect("piped"));
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        // A line may be MAX_LINE long; a device that sends a longer one is
        // stopped, not buffered without end.
        let read = (&mut lines)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut bytes)?;
        if read == 0 {
            break;
        }
        if bytes.len() > MAX_LINE && !bytes.ends_with(b"\n") {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{who} sent a line of more than {} KiB, far longer than any real answer, so it \
                 was stopped; {check}",
                MAX_LINE >> 10
            );
        }
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end_matches('\n');
        let text = text.strip_suffix('\r').unwrap_or(text);
        match text.strip_prefix("__rc=") {
            Some(rc) => code = rc.trim().parse().ok(),
            None => line(text),
        }
    }
    child.wait()?;
    Ok(code)
}

//! This machine as the place a loader runs: as root already, or through
//! sudo (or what $CARGO_XDP_SUDO names, e.g. doas), asked once before a
//! build so no password prompt lands half way through a run. Reads a built
//! loader; never builds one.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::process::Process;
use crate::{messages, shell::Shell};

/// How the loader gets root: it already has it, or through sudo (or what
/// $CARGO_XDP_SUDO names, e.g. doas).
pub enum Privilege {
    Root,
    Sudo(PathBuf),
}

impl Privilege {
    /// Root, or a sudo that agreed (its password asked now, before the
    /// build, not half way through a run).
    pub fn acquire(what: &str, shell: &Shell) -> Result<Privilege> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return Ok(Privilege::Root);
        }
        let (sudo, origin) = match std::env::var_os("CARGO_XDP_SUDO") {
            Some(sudo) => (PathBuf::from(sudo), "$CARGO_XDP_SUDO"),
            None => (PathBuf::from("sudo"), "PATH"),
        };
        let Ok(sudo) = which::which(&sudo) else {
            bail!(
                "{what} needs root to attach on this machine, and there is no `{}` (looked up \
                 in {origin}): install sudo, name another tool with CARGO_XDP_SUDO (e.g. doas), \
                 or run as root; the build itself needs no root",
                sudo.display()
            );
        };
        // `true` rather than sudo's own -v: doas has no -v. It asks for
        // the password once, and sudo (or doas `persist`) remembers it.
        shell.verbose_status("Running", format!("{} true", sudo.display()));
        let validated = Process::new(&sudo)
            .arg("true")
            .status()
            .with_context(|| format!("cannot run {}", sudo.display()))?;
        if !validated.success() {
            bail!(
                "{what} needs root to attach on this machine, and `{} true` refused ({validated}; \
                 its reason is above): ask for sudo rights, or run as root",
                sudo.display()
            );
        }
        Ok(Privilege::Sudo(sudo))
    }

    /// `loader args...`, as root.
    pub fn command(&self, loader: &Path, args: &[&OsStr]) -> Process {
        let mut command = match self {
            Privilege::Root => Process::new(loader),
            Privilege::Sudo(sudo) => {
                let mut command = Process::new(sudo);
                command.arg("--").arg(loader);
                command
            }
        };
        command.args(args);
        command
    }
}

/// The loader's JSON lines on stdout, each as a `loader-answer` message.
pub fn wrap_answers(stdout: impl std::io::Read, command: &str, shell: &Shell) {
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(|l| l.ok()) {
        if let Some(message) = messages::loader_answer(None, command, &line) {
            shell.message(&message);
        }
    }
}

/// Writes `text` (cases) to `file` and has the loader run them; its answers.
pub fn test_run(
    privilege: &Privilege,
    loader: &Path,
    object: &Path,
    file: &Path,
    text: &str,
    shell: &Shell,
) -> Result<Vec<cargo_xdp_wire::CaseAnswer>> {
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    let loader_args = [
        OsStr::new("test-run"),
        file.as_os_str(),
        OsStr::new("--object"),
        object.as_os_str(),
    ];
    let mut command = privilege.command(loader, &loader_args);
    shell.verbose_status("Running", format!("{command:?}"));
    let out = command.output().context("cannot run the loader")?;
    if !out.status.success() {
        bail!(
            "the loader's test-run failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .with_context(|| format!("the loader's test-run answered `{line}`"))
        })
        .collect()
}

/// The loader `loader` with `loader_args`, as root; its output shown as it
/// comes (with --message-format json, each JSON line it prints wrapped as a
/// `loader-answer` message).
pub fn run_loader(
    privilege: &Privilege,
    loader: &Path,
    loader_args: &[&str],
    shell: &Shell,
) -> Result<()> {
    let args: Vec<&OsStr> = loader_args.iter().map(OsStr::new).collect();
    let mut command = privilege.command(loader, &args);
    let status = if shell.human() {
        command.status().context("cannot run the loader")?
    } else {
        // Its JSON objects (one per line, as they come), wrapped as ours.
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("cannot run the loader")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        wrap_answers(stdout, loader_args[0], shell);
        child.wait()?
    };
    if !status.success() {
        bail!(
            "the loader's `{}` exited with {status} (it said why above)",
            loader_args[0]
        );
    }
    Ok(())
}

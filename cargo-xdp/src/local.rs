//! This machine as the place a loader runs: as root already, or through
//! sudo (or what $CARGO_XDP_SUDO names, e.g. doas), asked once before a
//! build so no password prompt lands half way through a run. Reads a built
//! loader; never builds one.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::host::LoaderHost;
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
        let validated = Process::new(&sudo)
            .arg("true")
            .echo(shell)
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

/// This machine's kernel (`/proc/sys/kernel/osrelease`), None if unreadable.
pub fn running_kernel() -> Option<cargo_xdp_wire::variants::KernelVersion> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    cargo_xdp_wire::variants::KernelVersion::parse(release.trim())
}

/// Writes `text` (cases) to `file` and has the loader run them; its answers.
/// With `variants`, the loader runs them on each kernel variant of
/// `object` too.
pub fn test_run(
    privilege: &Privilege,
    loader: &Path,
    object: &Path,
    (file, text): (&Path, &str),
    variants: bool,
    shell: &Shell,
) -> Result<Vec<cargo_xdp_wire::CaseAnswer>> {
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    let mut loader_args = vec![
        OsStr::new("test-run"),
        file.as_os_str(),
        OsStr::new("--object"),
        object.as_os_str(),
    ];
    if variants {
        loader_args.push(OsStr::new("--variants"));
    }
    let out = privilege
        .command(loader, &loader_args)
        .echo(shell)
        .output()
        .context("cannot run the loader")?;
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

/// This machine's build of the loader, run as root.
pub struct ThisMachine {
    pub privilege: Privilege,
    pub loader: PathBuf,
}

impl LoaderHost for ThisMachine {
    fn serial(&self) -> Option<&str> {
        None
    }

    fn run(&self, args: &[&str], line: &mut dyn FnMut(&str)) -> Result<()> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let mut command = self.privilege.command(&self.loader, &args);
        // Lines as they come: `stats --watch` prints until stopped.
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("cannot run the loader")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        for text in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(|l| l.ok()) {
            line(&text);
        }
        let status = child.wait()?;
        if !status.success() {
            bail!(
                "the loader's `{}` exited with {status} (it said why above)",
                args[0].to_string_lossy()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_hands_on_the_loaders_lines_and_says_how_it_failed() {
        let host: &dyn LoaderHost = &ThisMachine {
            privilege: Privilege::Root,
            loader: PathBuf::from("/bin/sh"),
        };
        assert_eq!(host.serial(), None);
        let mut lines = Vec::new();
        host.run(&["-c", "echo one; echo two"], &mut |line| {
            lines.push(line.to_string())
        })
        .unwrap();
        assert_eq!(lines, ["one", "two"]);
        let error = host.run(&["-c", "exit 3"], &mut |_| {}).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("the loader's `-c` exited with exit status: 3"),
            "{error}"
        );
    }
}

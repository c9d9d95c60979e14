//! A Linux board over ssh: the system's `ssh` (OpenSSH's client; `$CARGO_XDP_SSH`
//! names another), so the user's `~/.ssh/config`, agent and known hosts
//! apply. One `ssh` process per call, each time-limited and stopped on
//! Ctrl-C like adb's; `BatchMode` so nothing waits on a password or a
//! host-key question, which cargo-xdp never answers for the user. Files go
//! as one tar stream into `tar -x` on the board (busybox has it), the only
//! tool it needs besides a POSIX shell.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::{
    layout::Layout,
    process::{run_call, Call, Finished, Interrupt, Process, Via},
    remote::quote,
    transport::{stream_lines, Output, Transport},
};

/// `[user@]host[:port]` as `--ssh` takes it (`[addr]:port` for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Destination {
    pub fn parse(text: &str) -> Result<Destination> {
        let bad = |why: &str| {
            anyhow::anyhow!(
                "`{text}` is not an ssh destination ({why}): write [USER@]HOST[:PORT], e.g. \
                 root@192.168.1.1 or pi@raspberrypi.local:2222 ([ADDRESS]:PORT for IPv6)"
            )
        };
        let (user, rest) = match text.rsplit_once('@') {
            Some((user, rest)) => (Some(user.to_string()), rest),
            None => (None, text),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (host, after) = inner.split_once(']').ok_or_else(|| bad("an unclosed ["))?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(bad("text after ]")),
            }
        } else if rest.matches(':').count() == 1 {
            let (host, port) = rest.split_once(':').expect("one colon");
            (host, Some(port))
        } else {
            (rest, None)
        };
        let port = match port {
            Some(port) => Some(
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad("a bad port"))?,
            ),
            None => None,
        };
        // Nothing ssh would read as an option or that a shell would split.
        let plain = |s: &str| {
            !s.is_empty()
                && !s.starts_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-:%".contains(c))
        };
        if !plain(host) {
            return Err(bad("a bad host"));
        }
        if user
            .as_deref()
            .is_some_and(|u| !plain(u) || u.contains(':'))
        {
            return Err(bad("a bad user"));
        }
        Ok(Destination {
            user,
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match (self.port, self.host.contains(':')) {
            (Some(port), true) => write!(f, "[{}]:{port}", self.host),
            (Some(port), false) => write!(f, "{}:{port}", self.host),
            (None, _) => f.write_str(&self.host),
        }
    }
}

/// An absolute path a shell reads as one word, quoted or not.
fn plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
}

/// How long ssh may take to connect, within a call's own limit.
const CONNECT_SECS: u64 = 15;

/// One board, through one ssh binary, with a time limit and a byte limit
/// per call.
pub struct Ssh {
    program: PathBuf,
    destination: Destination,
    name: String,
    limit: Duration,
    pub max_output: usize,
    layout: Layout,
}

impl Ssh {
    /// Reaches the board once (which also shows a host key or login
    /// problem before anything else) and learns the login user's home,
    /// where its pushes are staged.
    pub fn connect(destination: Destination, limit: Duration, max_output: usize) -> Result<Ssh> {
        let program = std::env::var_os("CARGO_XDP_SSH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| "ssh".into());
        let mut ssh = Ssh {
            program,
            name: destination.to_string(),
            destination,
            limit,
            max_output,
            layout: Layout::default(),
        };
        let out = ssh.shell("echo \"home=$HOME\"; echo __rc=0", "the connection")?;
        let home = out.stdout.lines().find_map(|l| l.strip_prefix("home="));
        match home.filter(|h| plain_path(h)) {
            Some(home) => ssh.layout = Layout::board(home),
            None => bail!(
                "{} answered, but its login user's home ($HOME: {}) is not a plain absolute path \
                 (letters, digits, `/._-`), and cargo-xdp stages files there and names it to root's \
                 shell: log in as a user with a plain home",
                ssh.name,
                crate::shell::harmless(&format!("{:?}", home.unwrap_or_default()))
            ),
        }
        Ok(ssh)
    }

    fn command(&self, remote: &str) -> Process {
        let mut command = Process::new(&self.program);
        command.args(["-T", "-o", "BatchMode=yes"]);
        command
            .arg("-o")
            .arg(format!("ConnectTimeout={CONNECT_SECS}"));
        command.args([
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=2",
        ]);
        if let Some(port) = self.destination.port {
            command.arg("-p").arg(port.to_string());
        }
        if let Some(user) = &self.destination.user {
            command.arg("-l").arg(user);
        }
        // The login shell may be any (fish, csh): a POSIX sh runs the script.
        command
            .arg("--")
            .arg(&self.destination.host)
            .arg(format!("exec sh -c {}", quote(remote)));
        command
    }

    fn run(
        &self,
        remote: &str,
        what: &str,
        interrupt: Interrupt,
        input: Option<Vec<u8>>,
    ) -> Result<Finished> {
        let call = Call {
            what: &format!("{what} on {}", self.name),
            limit: self.limit,
            max_output: self.max_output,
            interrupt,
            via: Via::Ssh,
            input,
        };
        let out = run_call(self.command(remote), call)?;
        // 255: ssh itself failed (the remote command's own status otherwise).
        if out.status.code() == Some(255) {
            bail!("{}", self.failure(&String::from_utf8_lossy(&out.stderr)));
        }
        Ok(out)
    }

    /// ssh's own failure, worded with the fix.
    fn failure(&self, stderr: &str) -> String {
        let said = crate::shell::harmless(stderr.trim());
        let name = &self.name;
        if said.contains("Host key verification failed")
            || said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            format!(
                "ssh does not know the host key of {name} (or it changed), and cargo-xdp never \
                 accepts one for you: check the key's fingerprint and accept it once with `ssh \
                 {name}`, then run this again\nssh said: {said}"
            )
        } else if said.contains("Permission denied") {
            format!(
                "ssh could not log in to {name} without asking (cargo-xdp runs ssh in batch \
                 mode): add your key to ssh-agent or name it with IdentityFile in ~/.ssh/config, \
                 and check `ssh {name} true` works without a prompt\nssh said: {said}"
            )
        } else {
            format!("ssh could not reach {name}: {said} (check `ssh {name} true` by hand)")
        }
    }

    fn shell_with(&self, script: &str, what: &str, interrupt: Interrupt) -> Result<Output> {
        Ok(Output::of(&self.run(script, what, interrupt, None)?))
    }
}

impl Transport for Ssh {
    fn serial(&self) -> &str {
        &self.name
    }

    fn shell(&self, script: &str, what: &str) -> Result<Output> {
        self.shell_with(script, what, Interrupt::Stops)
    }

    fn shell_cleanup(&self, script: &str) -> Result<Output> {
        self.shell_with(script, "the cleanup", Interrupt::Ignored)
    }

    fn shell_streaming(&self, script: &str, line: &mut dyn FnMut(&str)) -> Result<Option<i32>> {
        let check = format!("check the board with `ssh {}`", self.name);
        stream_lines(self.command(script), &self.name, &check, line)
    }

    /// All `files` as one tar stream into `tar -x` in `dir`.
    fn push(&self, files: &[PathBuf], dir: &str) -> Result<()> {
        let archive = tar_of(files)?;
        let script = format!("cd {} && tar -xf -", quote(dir));
        let out = self.run(&script, "the push", Interrupt::Stops, Some(archive))?;
        if !out.status.success() {
            bail!(
                "the push to {} failed: {}",
                self.name,
                crate::shell::harmless(String::from_utf8_lossy(&out.stderr).trim())
            );
        }
        Ok(())
    }

    fn root(&self) -> Result<()> {
        bail!("{} is reached over ssh, which has no `adb root`", self.name)
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// `files` (regular files) as a tar archive of their base names, owned by
/// root with their modes, dated 0: the same bytes for the same files.
fn tar_of(files: &[PathBuf]) -> Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    for file in files {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(file)?.permissions());
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode & 0o755);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        let name = file
            .file_name()
            .map(Path::new)
            .context("a file to push has no name")?;
        archive.append_data(&mut header, name, bytes.as_slice())?;
    }
    Ok(archive.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_user_host_and_port() {
        let parsed = |t| Destination::parse(t).unwrap();
        assert_eq!(parsed("root@192.168.1.1").user.as_deref(), Some("root"));
        assert_eq!(parsed("pi@rpi.local:2222").port, Some(2222));
        assert_eq!(parsed("[fe80::1%eth0]:22").host, "fe80::1%eth0");
        assert_eq!(
            parsed("fe80::1").port,
            None,
            "a bare IPv6 address has no port"
        );
        assert_eq!(parsed("me@[::1]:2022").to_string(), "me@[::1]:2022");
        for bad in [
            "",
            "-oProxyCommand=x",
            "a b",
            "host:0",
            "host:ssh",
            "[::1",
            "u;x@h",
            "h'",
        ] {
            let error = Destination::parse(bad).unwrap_err().to_string();
            assert!(
                error.contains("is not an ssh destination"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn only_a_plain_home_is_named_to_root_s_shell() {
        assert!(plain_path("/home/pi") && plain_path("/root") && plain_path("/home/a.b-c_d"));
        for bad in [
            "",
            "home/pi",
            "/home/a b",
            "/home/$(x)",
            "/home/a'b",
            "/home/a\nb",
        ] {
            assert!(!plain_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn ssh_failures_name_the_fix() {
        let ssh = Ssh {
            program: "ssh".into(),
            destination: Destination::parse("pi@board").unwrap(),
            name: "pi@board".into(),
            limit: Duration::from_secs(1),
            max_output: 1 << 20,
            layout: Layout::default(),
        };
        let key = ssh.failure("No ED25519 host key is known for board and you have requested strict checking.\r\nHost key verification failed.\r\n");
        assert!(
            key.contains("never accepts one for you") && key.contains("`ssh pi@board`"),
            "{key}"
        );
        assert!(!key.contains('\r'), "device text is made harmless");
        let login = ssh.failure("pi@board: Permission denied (publickey).");
        assert!(login.contains("ssh-agent"), "{login}");
        let gone = ssh.failure("ssh: connect to host board port 22: Connection refused");
        assert!(gone.contains("could not reach pi@board"), "{gone}");
    }

    #[test]
    fn a_push_is_one_tar_of_base_names() {
        let dir = tempfile::tempdir().unwrap();
        let loader = dir.path().join("fw_user");
        std::fs::write(&loader, b"\x7fELF").unwrap();
        std::fs::set_permissions(&loader, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let bytes = tar_of(std::slice::from_ref(&loader)).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("fw_user"));
        assert_eq!(entry.header().mode().unwrap(), 0o755);
        assert_eq!(
            tar_of(&[loader]).unwrap(),
            bytes,
            "the same bytes each time"
        );
    }
}

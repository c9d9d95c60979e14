//! The fake Linux boards of tests/fixtures/board: a real ssh server in a
//! network and mount namespace of its own, reached from this machine over
//! a veth (`eth0` on the board), with a `lan0` whose other end is a client
//! namespace that sends the board traffic.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use super::{ok, NetPair};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Board {
    pub dir: tempfile::TempDir,
    /// client <-> board: the board's `lan0` is the pair's receiver end.
    pub lan: NetPair,
    host_if: String,
    /// The board's address on the host link, where its ssh listens.
    pub address: String,
    /// The login user: `root`, or `xdpboard` (with sudo, or without).
    pub user: &'static str,
}

impl Board {
    /// `server`: openssh | dropbear; `login`: root | sudo | user;
    /// `userland`: full | busybox (see board.sh).
    pub fn new(project: &str, server: &str, login: &str, userland: &str) -> Board {
        let lan = NetPair::with_receiver_if(project, Some("lan0"));
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let subnet = format!("10.198.{}", (std::process::id() as usize * 5 + n) % 250);
        let host_if = format!("xb{id}");
        let ip = |args: &[&str]| ok(Command::new("ip").args(args));
        ip(&[
            "link",
            "add",
            &host_if,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &lan.receiver,
        ]);
        ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&[
            "-n",
            &lan.receiver,
            "addr",
            "add",
            &format!("{subnet}.2/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &lan.receiver, "link", "set", "eth0", "up"]);
        let dir = tempfile::tempdir().unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/board/board.sh");
        ok(Command::new(fixture).arg("create").arg(dir.path()).args([
            &lan.receiver,
            server,
            login,
            userland,
        ]));
        let board = Board {
            dir,
            lan,
            host_if,
            address: format!("{subnet}.2"),
            user: if login == "root" { "root" } else { "xdpboard" },
        };
        board.wait_for_ssh();
        board
    }

    /// `--ssh` for this board.
    pub fn destination(&self) -> String {
        format!("{}@{}", self.user, self.address)
    }

    /// The ssh that knows this board ($CARGO_XDP_SSH).
    pub fn ssh(&self) -> PathBuf {
        self.dir.path().join("ssh")
    }

    fn wait_for_ssh(&self) {
        let started = Instant::now();
        loop {
            let done = Command::new(self.ssh())
                .args([
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=2",
                    &self.destination(),
                    "true",
                ])
                .output()
                .unwrap();
            if done.status.success() {
                return;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let log = std::fs::read_to_string(self.dir.path().join("server.log"));
                panic!(
                    "the board's ssh never answered: {}\nserver log: {log:?}",
                    String::from_utf8_lossy(&done.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `script` run as root inside the board (its mount namespace: its
    /// /opt, bpffs), through the server's process.
    pub fn as_root(&self, script: &str) -> String {
        let pid = std::fs::read_to_string(self.dir.path().join("server.pid")).unwrap();
        ok(Command::new("nsenter").args(["-t", pid.trim(), "-m", "-n", "--", "sh", "-c", script]))
    }

    /// A reboot, as far as XDP can tell: nothing attached to lan0, no pins;
    /// then what the board's init runs at boot (systemd's wanted units'
    /// ExecStart, OpenWrt's `/etc/rc.d/S* boot`, sysvinit's `/etc/rc2.d/S*
    /// start`), as root in the board. What those printed.
    pub fn reboot(&self) -> String {
        for mode in ["xdp", "xdpgeneric"] {
            let _ = Command::new("ip")
                .args([
                    "-n",
                    &self.lan.receiver,
                    "link",
                    "set",
                    "dev",
                    "lan0",
                    mode,
                    "off",
                ])
                .status();
        }
        self.as_root(
            "rm -rf /sys/fs/bpf/*; export PATH=/usr/sbin:/usr/bin:/sbin:/bin
             for unit in /etc/systemd/system/multi-user.target.wants/*.service; do
                 [ ! -e \"$unit\" ] || sh -c \"$(sed -n 's/^ExecStart=//p' \"$unit\")\"
             done
             for s in /etc/rc.d/S*; do [ ! -e \"$s\" ] || \"$s\" boot; done
             for s in /etc/rc2.d/S*; do [ ! -e \"$s\" ] || \"$s\" start; done
             true",
        )
    }

    /// The XDP program ids the kernel reports on the board's lan0.
    pub fn xdp_programs(&self) -> Vec<String> {
        self.lan.xdp_programs()
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/board/board.sh");
        let _ = Command::new(fixture)
            .arg("destroy")
            .arg(self.dir.path())
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
    }
}

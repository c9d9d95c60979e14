//! Shared by the integration tests: running cargo-xdp, making projects,
//! and network namespaces joined by a veth pair that clean up after
//! themselves (also when a test fails: Drop runs on panic).
#![allow(dead_code)]

mod board;
mod fake_adb;
#[allow(unused_imports)] // not every test binary deploys
pub use board::Board;
#[allow(unused_imports)]
pub use fake_adb::FakeAdb;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
};

pub fn cargo_xdp() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-xdp"));
    // One target dir for every generated project: aya compiles once.
    command.env("CARGO_TARGET_DIR", shared_target_dir());
    command.env_remove("CLANG");
    // The tests choose their NDK themselves.
    for var in [
        "ANDROID_NDK_HOME",
        "ANDROID_NDK_ROOT",
        "ANDROID_NDK_PATH",
        "NDK_HOME",
        "ANDROID_HOME",
        "ANDROID_SDK_ROOT",
        "ANDROID_SDK_HOME",
        "NDK_STANDIN_LOG",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        command.env_remove(var);
    }
    command
}

/// The stand-in NDK r26 (tests/fixtures/ndk), made once per version of its
/// script and shared by every test: built into a temp dir beside it and
/// renamed into place, so concurrent tests never see half of one.
pub fn standin_ndk() -> PathBuf {
    static NDK: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    NDK.get_or_init(|| {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ndk");
        let mut hasher = std::hash::DefaultHasher::new();
        for file in [
            "make-standin-ndk.sh",
            "bionic-like-headers.sh",
            "bionic-extras.syms",
            "api-levels.txt",
        ] {
            let bytes = std::fs::read(fixture.join(file))
                .unwrap_or_else(|e| panic!("{}: {e}", fixture.join(file).display()));
            std::hash::Hash::hash(&bytes, &mut hasher);
        }
        // A real NDK's headers (shared/ndk, or $BIONIC_HEADERS); without
        // them (a fresh clone) the script makes a less faithful tree from
        // this machine's headers and says so, or, with CI set, fails.
        let bionic = std::env::var_os("BIONIC_HEADERS")
            .map(PathBuf::from)
            .unwrap_or_else(|| fixture.join("../../../../shared/ndk/bionic-headers.tgz"));
        match std::fs::read(&bionic) {
            Ok(bytes) => std::hash::Hash::hash(&bytes, &mut hasher),
            Err(_) => std::hash::Hash::hash("made from this machine's headers", &mut hasher),
        }
        // The script takes the newest clang-NN on PATH: a new one, a new NDK.
        let clangs: Vec<String> =
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .filter_map(|dir| std::fs::read_dir(dir).ok())
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.strip_prefix("clang-")
                        .is_some_and(|v| v.parse::<u32>().is_ok())
                })
                .collect();
        std::hash::Hash::hash(&clangs, &mut hasher);
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ndk-standin");
        let ndk = base.join(format!("{:016x}", std::hash::Hasher::finish(&hasher)));
        if ndk.join("source.properties").is_file() {
            return ndk;
        }
        std::fs::create_dir_all(&base).unwrap();
        let tmp = tempfile::tempdir_in(&base).unwrap();
        let made = tmp.path().join("ndk");
        ok(Command::new(fixture.join("make-standin-ndk.sh")).arg(&made));
        // Another test process may have won the race: theirs is as good.
        if std::fs::rename(&made, &ndk).is_err() {
            assert!(ndk.join("source.properties").is_file());
        }
        ndk
    })
    .clone()
}

/// The cargo-xdp command with the stand-in NDK as $ANDROID_NDK_HOME.
pub fn cargo_xdp_with_ndk() -> Command {
    let mut command = cargo_xdp();
    command.env("ANDROID_NDK_HOME", standin_ndk());
    command
}

pub fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-projects")
}

/// Runs and returns the output, whatever the exit status.
pub fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs and panics with both streams unless it succeeded.
pub fn ok(command: &mut Command) -> String {
    let out = output(command);
    assert!(out.status.success(), "{command:?} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs and panics unless it failed; returns stdout + stderr.
pub fn fails(command: &mut Command) -> String {
    let out = output(command);
    assert!(
        !out.status.success(),
        "{command:?} should have failed:\n{}",
        text(&out)
    );
    text(&out)
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A new project `name` from `template` in a fresh temp dir.
pub fn new_project(name: &str, template: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    ok(cargo_xdp()
        .current_dir(dir.path())
        .args(["xdp", "new", name, "--template", template]));
    let root = dir.path().join(name);
    (dir, root)
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// True when a root-only test may run. In CI it must: not being root there
/// fails the test instead of skipping it.
pub fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs root, and CI must run it: run the tests as root");
    }
    eprintln!(
        "SKIPPED {test}: needs root (bpf(), netlink, network namespaces); run the tests as root"
    );
    false
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Two network namespaces, `sender` and `receiver`, joined by a veth pair
/// with 10.199.N.1 (sender) and 10.199.N.2 (receiver). Removed on drop,
/// together with the bpffs pins of the project under test.
pub struct NetPair {
    pub sender: String,
    pub receiver: String,
    pub sender_if: String,
    pub receiver_if: String,
    pub receiver_ip: String,
    bpffs_dir: PathBuf,
}

impl NetPair {
    pub fn new(project: &str) -> NetPair {
        Self::with_receiver_if(project, None)
    }

    /// A pair whose receiver interface has the given name (a fake phone's
    /// `wlan0`); each end lives in its own namespace, so names never clash.
    pub fn with_receiver_if(project: &str, receiver_if: Option<&str>) -> NetPair {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let subnet = format!("10.199.{}", (std::process::id() as usize * 7 + n) % 250);
        let pair = NetPair {
            sender: format!("cxdp-s{id}"),
            receiver: format!("cxdp-r{id}"),
            sender_if: format!("xs{id}"),
            receiver_if: receiver_if.map_or_else(|| format!("xr{id}"), String::from),
            receiver_ip: format!("{subnet}.2"),
            bpffs_dir: Path::new("/sys/fs/bpf").join(project),
        };
        let sender_if = pair.sender_if.clone();
        let sender_ip = format!("{subnet}.1");
        let ip = |args: &[&str]| ok(Command::new("ip").args(args));
        ip(&["netns", "add", &pair.sender]);
        ip(&["netns", "add", &pair.receiver]);
        ip(&[
            "link",
            "add",
            &sender_if,
            "netns",
            &pair.sender,
            "type",
            "veth",
            "peer",
            "name",
            &pair.receiver_if,
            "netns",
            &pair.receiver,
        ]);
        ip(&[
            "-n",
            &pair.sender,
            "addr",
            "add",
            &format!("{sender_ip}/24"),
            "dev",
            &sender_if,
        ]);
        ip(&[
            "-n",
            &pair.receiver,
            "addr",
            "add",
            &format!("{}/24", pair.receiver_ip),
            "dev",
            &pair.receiver_if,
        ]);
        for (ns, dev) in [
            (&pair.sender, &sender_if),
            (&pair.receiver, &pair.receiver_if),
        ] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }

    /// A command run in the receiver's network namespace only (not its own
    /// mount namespace, so pins land in the host's bpffs and outlive it).
    pub fn in_receiver(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/var/run/netns/{}", self.receiver))
            .arg("--")
            .arg(program);
        command
    }

    /// Pings the receiver from the sender: true when any reply came back.
    pub fn ping(&self) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.sender,
                "ping",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "1",
                &self.receiver_ip,
            ])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Sends `count` UDP datagrams from the sender to the receiver's `port`.
    pub fn send_udp(&self, port: u16, count: usize) {
        let script = format!(
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor _ in range({count}): s.sendto(b'x'*64,('{}',{port}))",
            self.receiver_ip
        );
        ok(Command::new("ip").args(["netns", "exec", &self.sender, "python3", "-c", &script]));
    }

    /// `ip -n RECEIVER link set dev RECEIVER_IF ARGS...`: XDP set or unset
    /// the way another tool would.
    fn ip_link_set(&self, args: &[&std::ffi::OsStr]) {
        ok(Command::new("ip")
            .args([
                "-n",
                &self.receiver,
                "link",
                "set",
                "dev",
                &self.receiver_if,
            ])
            .args(args));
    }

    /// `ip link set dev RECEIVER_IF <mode> off`: whatever XDP program runs
    /// there in that mode (`xdp`, `xdpgeneric`) is detached, outside us.
    pub fn xdp_off(&self, mode: &str) {
        self.ip_link_set(&[mode.as_ref(), "off".as_ref()]);
    }

    /// Attaches `object`'s `xdp` section to the receiver's interface with
    /// iproute2, as another tool would (generic mode).
    pub fn attach_with_ip(&self, object: &Path) {
        self.ip_link_set(&[
            "xdpgeneric".as_ref(),
            "obj".as_ref(),
            object.as_os_str(),
            "sec".as_ref(),
            "xdp".as_ref(),
        ]);
    }

    /// Lets the sender reach the receiver without ARP (a static neighbour
    /// entry with the receiver's MAC): for programs that answer or forward
    /// instead of the receiver's stack.
    pub fn sender_knows_receiver_mac(&self) {
        let shown = ok(Command::new("ip").args([
            "-n",
            &self.receiver,
            "link",
            "show",
            "dev",
            &self.receiver_if,
        ]));
        let mac = shown
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .expect("a veth has a MAC")
            .to_string();
        ok(Command::new("ip").args([
            "-n",
            &self.sender,
            "neigh",
            "replace",
            &self.receiver_ip,
            "lladdr",
            &mac,
            "dev",
            &self.sender_if,
        ]));
    }

    /// The XDP program ids the kernel reports on the receiver's interface.
    pub fn xdp_programs(&self) -> Vec<String> {
        let shown = ok(Command::new("ip").args([
            "-n",
            &self.receiver,
            "-d",
            "link",
            "show",
            "dev",
            &self.receiver_if,
        ]));
        shown
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(3)
            .filter(|w| w[0].starts_with("prog/xdp") && w[1] == "id")
            .map(|w| w[2].to_string())
            .collect()
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.sender, &self.receiver] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.bpffs_dir);
    }
}

/// Waits for a device command, reading its stderr as it comes: whether it
/// succeeded, what it said, and how long it ran after its build finished
/// (or since it started, when it stopped before building: a deploy
/// probes first). A build may wait long for the shared target dir's lock
/// while other tests build, so time limits count from its end.
pub fn device_steps_timed(mut child: std::process::Child) -> (bool, String, std::time::Duration) {
    use std::io::{BufRead, BufReader};
    let started = std::time::Instant::now();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let mut built = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        if built.is_none() && line.contains("Finished") {
            built = Some(std::time::Instant::now());
        }
        said.push_str(&line);
        said.push('\n');
    }
    let status = child.wait().unwrap();
    let since = built.unwrap_or(started);
    (status.success(), said, since.elapsed())
}

/// Dates `path` now, as an editor's save does.
pub fn touch(path: &Path) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
}

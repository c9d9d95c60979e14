//! The fake devices of tests/fixtures/fake-adb: namespaces on this machine,
//! each with a `wlan0` (the receiver end of a NetPair), reached through the
//! fast fake adb client, or through the real adb (Debian's `adb`: AOSP's
//! client and server) talking the adb protocol to a fake adbd per device.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use super::{ok, NetPair};

pub struct FakeAdb {
    pub home: tempfile::TempDir,
    /// What $ADB is: the fake client, or a logging wrapper of the real one.
    pub adb: PathBuf,
    fixture: PathBuf,
    /// Each device with the network pair it lives on.
    devices: Vec<(String, NetPair)>,
    real: Option<RealAdb>,
}

/// A private adb server (its own port) and one adbd process per device.
struct RealAdb {
    server_port: u16,
    /// Device name -> (adbd process, the serial adb knows it by).
    daemons: Vec<(String, Child, String)>,
}

impl FakeAdb {
    pub fn new() -> FakeAdb {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-adb");
        FakeAdb {
            home: tempfile::tempdir().unwrap(),
            adb: fixture.join("adb"),
            fixture,
            devices: Vec::new(),
            real: None,
        }
    }

    /// Devices reached through the real adb client and a server of this
    /// test's own; each device speaks the adb protocol (fixtures' adbd).
    pub fn real() -> FakeAdb {
        let mut fake = FakeAdb::new();
        let server_port = {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap().port()
        };
        // $ADB logs each call (the tests count round trips), then is adb.
        let wrapper = fake.home.path().join("adb");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" | tr '\\n' ' ' >> '{log}'\necho >> '{log}'\nexec adb \"$@\"\n",
                log = fake.home.path().join("calls.log").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        fake.adb = wrapper;
        fake.real = Some(RealAdb {
            server_port,
            daemons: Vec::new(),
        });
        // Started here with a HOME of its own (its adbkey lives there).
        ok(fake
            .real_adb()
            .env("HOME", fake.home.path())
            .arg("start-server"));
        fake
    }

    /// The real adb, talking to this test's server.
    pub fn real_adb(&self) -> Command {
        let real = self.real.as_ref().expect("a real-adb FakeAdb");
        let mut command = Command::new("adb");
        command.env("ANDROID_ADB_SERVER_PORT", real.server_port.to_string());
        command
    }

    /// The serial adb knows a device by: its name with the fast fake,
    /// `127.0.0.1:PORT` with the real adb.
    pub fn serial(&self, name: &str) -> String {
        match &self.real {
            Some(real) => real
                .daemons
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, serial)| serial.clone())
                .unwrap_or_else(|| panic!("no device {name}")),
            None => name.to_string(),
        }
    }

    /// A device `serial` whose `wlan0` is pinged from the host side of its
    /// pair; `keys` as fake-device.sh takes them (root=su, state=offline ...).
    pub fn add_device(&mut self, serial: &str, project: &str, keys: &[&str]) -> &NetPair {
        let pair = NetPair::with_receiver_if(project, Some("wlan0"));
        ok(Command::new(self.fixture.join("fake-device.sh"))
            .arg("create")
            .arg(self.home.path())
            .arg(serial)
            .arg(&pair.receiver)
            .args(keys));
        self.devices.push((serial.to_string(), pair));
        if self.real.is_some() {
            self.start_adbd(serial);
        }
        &self.devices.last().unwrap().1
    }

    /// The device's adbd, connected to (`adb connect`) and ready.
    fn start_adbd(&mut self, name: &str) {
        let mut adbd = Command::new(self.fixture.join("adbd"))
            .arg(self.home.path())
            .arg(name)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(adbd.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .expect("adbd says its port");
        let serial = format!("127.0.0.1:{port}");
        let said = ok(self.real_adb().args(["connect", &serial]));
        assert!(said.contains("connected to"), "{said}");
        ok(self.real_adb().args(["-s", &serial, "wait-for-device"]));
        let real = self.real.as_mut().unwrap();
        real.daemons.push((name.to_string(), adbd, serial));
    }

    /// The device's adbd dies (a cable pulled, a phone rebooting).
    pub fn stop_adbd(&mut self, name: &str) {
        let real = self.real.as_mut().expect("a real-adb FakeAdb");
        let (_, adbd, serial) = real
            .daemons
            .iter_mut()
            .find(|(n, _, _)| n == name)
            .expect("a device of this FakeAdb");
        adbd.kill().unwrap();
        adbd.wait().unwrap();
        let serial = serial.clone();
        // Until the server notices, it may still list the device.
        for _ in 0..100 {
            let listed = ok(self.real_adb().args(["devices"]));
            if !listed.contains(&format!("{serial}\tdevice")) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("adb still lists {serial} as a device");
    }

    pub fn device(&self, serial: &str) -> &NetPair {
        &self.devices.iter().find(|(s, _)| s == serial).unwrap().1
    }

    /// `command` talking to these devices.
    pub fn wire(&self, command: &mut Command) {
        command
            .env("ADB", &self.adb)
            .env("FAKE_ADB_HOME", self.home.path())
            .env_remove("ANDROID_SERIAL");
        if let Some(real) = &self.real {
            command.env("ANDROID_ADB_SERVER_PORT", real.server_port.to_string());
        }
    }

    /// Every adb invocation so far (one line of argv each), then forgets them.
    pub fn take_calls(&self) -> Vec<String> {
        let log = self.home.path().join("calls.log");
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        calls.lines().map(String::from).collect()
    }

    /// Runs `script` in the device as root, as its adb shell would; stdout.
    pub fn on_device(&self, serial: &str, script: &str) -> String {
        ok(&mut self.in_device(serial, false, script))
    }

    /// What is in cargo-xdp's two places on the device (hidden entries
    /// too): the shell user's staging area, then root's directory.
    pub fn left_on(&self, serial: &str) -> String {
        self.on_device(
            serial,
            "for d in /data/local/tmp/cargo-xdp /data/local/cargo-xdp; do ls -A $d 2>/dev/null; done; true",
        )
    }

    /// `script` in the device as the shell user (uid 2000, no capabilities),
    /// which is what an app or anything started from `adb shell` is.
    pub fn as_shell_user(&self, serial: &str, script: &str) -> Command {
        self.in_device(serial, true, script)
    }

    /// `script` in the device as root (not waited for: spawn it, or run it
    /// with `ok`).
    pub fn as_root_on(&self, serial: &str, script: &str) -> Command {
        self.in_device(serial, false, script)
    }

    /// `cargo xdp ARGS` in the project at `root`, talking to these devices.
    pub fn xdp(&self, root: &Path, args: &[&str]) -> Command {
        let mut command = super::cargo_xdp();
        self.wire(&mut command);
        command.current_dir(root).arg("xdp").args(args);
        command
    }

    /// Host processes whose command line holds `needle` (the devices share
    /// this machine's process table): what root left running on a device.
    pub fn processes_with(needle: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle)
                && entry.file_name() != std::process::id().to_string().as_str()
            {
                found.push(format!(
                    "{}: {}",
                    entry.file_name().to_string_lossy(),
                    cmdline.chars().take(200).collect::<String>()
                ));
            }
        }
        found
    }

    /// Changes a device's keys (fake-device.sh set).
    pub fn set(&self, serial: &str, keys: &[&str]) {
        ok(Command::new(self.fixture.join("fake-device.sh"))
            .arg("set")
            .arg(self.home.path())
            .arg(serial)
            .args(keys));
    }

    fn in_device(&self, serial: &str, shell_user: bool, script: &str) -> Command {
        let ns = self.home.path().join("devices").join(serial).join("ns/mnt");
        let mut command = Command::new("nsenter");
        command
            .arg(format!(
                "--net=/var/run/netns/{}",
                self.device(serial).receiver
            ))
            .arg(format!("--mount={}", ns.display()))
            .arg("--");
        if shell_user {
            command.args([
                "setpriv",
                "--reuid=2000",
                "--regid=2000",
                "--clear-groups",
                "--",
            ]);
        }
        command.args(["sh", "-c", script]);
        command
    }
}

impl Drop for FakeAdb {
    fn drop(&mut self) {
        if let Some(real) = &mut self.real {
            for (_, adbd, _) in &mut real.daemons {
                let _ = adbd.kill();
                let _ = adbd.wait();
            }
            let _ = Command::new("adb")
                .env("ANDROID_ADB_SERVER_PORT", real.server_port.to_string())
                .arg("kill-server")
                .status();
        }
        for (serial, _) in &self.devices {
            let _ = Command::new(self.fixture.join("fake-device.sh"))
                .arg("destroy")
                .arg(self.home.path())
                .arg(serial)
                .status();
        }
        // The NetPairs drop after this: their namespaces go, and with them
        // whatever XDP program was attached in there.
    }
}

//! The fake adb of tests/fixtures/fake-adb: devices that are namespaces on
//! this machine, each with a `wlan0` (the receiver end of a NetPair).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use super::{ok, NetPair};

pub struct FakeAdb {
    pub home: tempfile::TempDir,
    pub adb: PathBuf,
    fixture: PathBuf,
    /// Each device with the network pair it lives on.
    devices: Vec<(String, NetPair)>,
}

impl FakeAdb {
    pub fn new() -> FakeAdb {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/fake-adb");
        FakeAdb {
            home: tempfile::tempdir().unwrap(),
            adb: fixture.join("adb"),
            fixture,
            devices: Vec::new(),
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
        &self.devices.last().unwrap().1
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

    /// `script` in the device as the shell user (uid 2000, no capabilities),
    /// which is what an app or anything started from `adb shell` is.
    pub fn as_shell_user(&self, serial: &str, script: &str) -> Command {
        self.in_device(serial, true, script)
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

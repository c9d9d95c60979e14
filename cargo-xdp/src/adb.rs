//! Finding adb, choosing a device, and talking to it: one `adb` process
//! per call, so a deploy's round trips can be counted. Every call but a
//! streaming one has a time limit, and Ctrl-C stops the call in flight so
//! the deploy can clean up before it exits.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::process::Process;
use crate::{
    layout::Layout,
    ndk::SDK_VARS,
    process::{run_limited, Finished, Interrupt},
    transport::{stream_lines, Output, Transport},
};

/// `$ADB`, else `adb` on PATH, else the SDK's platform-tools.
pub fn locate() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ADB").filter(|v| !v.is_empty()) {
        return which::which(&path).with_context(|| {
            format!(
                "$ADB is set to `{}` but that is not an executable",
                path.to_string_lossy()
            )
        });
    }
    if let Ok(path) = which::which("adb") {
        return Ok(path);
    }
    let sdks = SDK_VARS
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .chain(std::env::var_os("HOME").map(|h| Path::new(&h).join("Android/Sdk")));
    for sdk in sdks {
        let adb = sdk.join("platform-tools/adb");
        if adb.is_file() {
            return Ok(adb);
        }
    }
    bail!(
        "adb not found (tried $ADB, PATH, $ANDROID_HOME/platform-tools, ~/Android/Sdk/platform-tools); \
         install Android's platform-tools (Debian/Ubuntu: `apt-get install adb`) or set ADB=/path/to/adb"
    )
}

/// One line of `adb devices -l`.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub serial: String,
    pub state: DeviceState,
    pub model: Option<String>,
}

pub fn devices(adb: &Path, limit: Duration) -> Result<Vec<Device>> {
    let mut command = Process::new(adb);
    command.args(["devices", "-l"]);
    let output = run_limited(
        command,
        limit,
        DEFAULT_MAX_OUTPUT,
        "`adb devices`",
        Interrupt::Stops,
    )?;
    if !output.status.success() {
        bail!(
            "`{} devices` failed: {}",
            adb.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(parse_devices(&String::from_utf8_lossy(&output.stdout)))
}

/// Parses `adb devices -l`: `SERIAL  STATE [key:value ...]`, where STATE
/// may be two words (`no permissions (...)`).
pub fn parse_devices(text: &str) -> Vec<Device> {
    text.lines()
        .filter(|line| !line.starts_with("List of devices") && !line.starts_with('*'))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let serial = words.next()?.to_string();
            let rest: Vec<&str> = words.collect();
            let state = if rest.first() == Some(&"no") && rest.get(1) == Some(&"permissions") {
                DeviceState::NoPermissions
            } else {
                DeviceState::from_adb(rest.first()?)
            };
            let model = rest
                .iter()
                .find_map(|w| w.strip_prefix("model:"))
                .map(str::to_string);
            Some(Device {
                serial,
                state,
                model,
            })
        })
        .collect()
}

/// What `adb devices` says of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    /// Ready.
    Device,
    Offline,
    Unauthorized,
    NoPermissions,
    /// Any other word adb uses (recovery, sideload, bootloader ...).
    Other(String),
}

impl DeviceState {
    pub fn from_adb(word: &str) -> DeviceState {
        match word {
            "device" => DeviceState::Device,
            "offline" => DeviceState::Offline,
            "unauthorized" => DeviceState::Unauthorized,
            "no permissions" => DeviceState::NoPermissions,
            other => DeviceState::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for DeviceState {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            DeviceState::Device => "device",
            DeviceState::Offline => "offline",
            DeviceState::Unauthorized => "unauthorized",
            DeviceState::NoPermissions => "no permissions",
            DeviceState::Other(word) => word,
        })
    }
}

/// The device to use: `requested` (-s, else $ANDROID_SERIAL), else the only
/// one. Every state but `device` is an error that says what to do.
pub fn select(devices: &[Device], requested: Option<&str>) -> Result<Device> {
    let device = match requested {
        Some(serial) => devices
            .iter()
            .find(|d| d.serial == serial)
            .with_context(|| {
                format!(
                    "no device `{serial}` is connected (adb lists: {}); check the serial with \
                 `adb devices`",
                    listing(devices, ", ")
                )
            })?,
        None => match devices {
            [] => bail!(
                "no Android device found: connect one with USB debugging on (Settings > \
                 Developer options) and check that `adb devices` lists it"
            ),
            [one] => one,
            several => bail!(
                "{} devices are connected; choose one with -s SERIAL (or ANDROID_SERIAL), or \
                 deploy to all with --all-devices:\n{}",
                several.len(),
                listing(several, "\n")
            ),
        },
    };
    check_ready(device)?;
    Ok(device.clone())
}

/// An error for every state but `device`, with the fix.
pub fn check_ready(device: &Device) -> Result<()> {
    let serial = &device.serial;
    match &device.state {
        DeviceState::Device => Ok(()),
        DeviceState::Unauthorized => bail!(
            "device {serial} is unauthorized: unlock it and accept the \"Allow USB debugging?\" \
             prompt (tick \"Always allow\"), then try again"
        ),
        DeviceState::Offline => bail!(
            "device {serial} is offline: replug the cable or run `adb reconnect` (if it stays \
             offline, `adb kill-server` and try again)"
        ),
        DeviceState::NoPermissions => bail!(
            "no permission to use device {serial} over USB: install udev rules for Android \
             devices (Debian/Ubuntu: `apt-get install android-sdk-platform-tools-common`) or \
             join the plugdev group, then replug it"
        ),
        DeviceState::Other(other) => {
            bail!("device {serial} is `{other}`, not ready; check `adb devices`")
        }
    }
}

fn listing(devices: &[Device], separator: &str) -> String {
    devices
        .iter()
        .map(|d| {
            format!(
                "  {}  {}  {}",
                d.serial,
                d.model.as_deref().unwrap_or("-"),
                d.state
            )
        })
        .collect::<Vec<_>>()
        .join(separator)
}

/// The most one adb call may print (stdout and stderr each): far above any
/// real answer (a status, counters, a test run's JSON); a device that
/// sends more is stopped there, not buffered without end.
pub const DEFAULT_MAX_OUTPUT: usize = 16 << 20;

/// How long one adb call may take unless --adb-timeout says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(DEFAULT_TIMEOUT_SECS);

impl Transport for Adb {
    fn serial(&self) -> &str {
        &self.serial
    }

    fn shell(&self, script: &str, what: &str) -> Result<Output> {
        Adb::shell(self, script, what)
    }

    fn shell_cleanup(&self, script: &str) -> Result<Output> {
        Adb::shell_cleanup(self, script)
    }

    fn shell_streaming(&self, script: &str, line: &mut dyn FnMut(&str)) -> Result<Option<i32>> {
        Adb::shell_streaming(self, script, line)
    }

    fn push(&self, files: &[PathBuf], dir: &str) -> Result<()> {
        Adb::push(self, files, dir)
    }

    fn root(&self) -> Result<()> {
        Adb::root(self)
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// One device, through one adb binary, with a time limit and a byte limit
/// per call.
#[derive(Debug, Clone)]
pub struct Adb {
    pub path: PathBuf,
    pub serial: String,
    pub limit: Duration,
    /// The most one call may print (DEFAULT_MAX_OUTPUT unless a step
    /// expects more, as reading a kernel's BTF does).
    pub max_output: usize,
    /// A phone's: where the shell user stages and root keeps its files.
    pub layout: Layout,
}

impl Adb {
    pub fn new(path: PathBuf, serial: String, limit: Duration) -> Adb {
        Adb {
            path,
            serial,
            limit,
            max_output: DEFAULT_MAX_OUTPUT,
            layout: Layout::android(),
        }
    }

    fn command(&self) -> Process {
        let mut command = Process::new(&self.path);
        command.args(["-s", &self.serial]);
        command
    }

    fn run(&self, command: Process, what: &str, interrupt: Interrupt) -> Result<Finished> {
        run_limited(
            command,
            self.limit,
            self.max_output,
            &format!("{what} on {}", self.serial),
            interrupt,
        )
    }

    /// Runs `script` (one string, quoted by the caller, ending in the
    /// `__rc` sentinel) in the device's shell; `what` names the step.
    pub fn shell(&self, script: &str, what: &str) -> Result<Output> {
        self.shell_with(script, what, Interrupt::Stops)
    }

    /// The same, not stopped by Ctrl-C: for cleaning up after one.
    pub fn shell_cleanup(&self, script: &str) -> Result<Output> {
        self.shell_with(script, "the cleanup", Interrupt::Ignored)
    }

    fn shell_with(&self, script: &str, what: &str, interrupt: Interrupt) -> Result<Output> {
        let mut command = self.command();
        command.args(["shell", script]);
        let mut out = Output::of(&self.run(command, what, interrupt)?);
        // adbd before Android 7 answers through a pty.
        out.stderr = out.stderr.replace("\r\n", "\n");
        Ok(out)
    }

    /// Like `shell`, passing each line of output on as it comes
    /// (`stats --watch`, no time limit); returns the sentinel's status.
    pub fn shell_streaming(&self, script: &str, line: &mut dyn FnMut(&str)) -> Result<Option<i32>> {
        let mut command = self.command();
        command.args(["shell", script]);
        stream_lines(
            command,
            &self.serial,
            "check the device with `adb shell`",
            line,
        )
    }

    /// One `adb push` of all `files` into the existing directory `dir`.
    pub fn push(&self, files: &[PathBuf], dir: &str) -> Result<()> {
        let mut command = self.command();
        command.arg("push").args(files).arg(format!("{dir}/"));
        let out = self.run(command, "adb push", Interrupt::Stops)?;
        if !out.status.success() {
            bail!(
                "adb push to {} failed: {}",
                self.serial,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// `adb root`, then wait until adbd is back (it restarts).
    pub fn root(&self) -> Result<()> {
        let mut command = self.command();
        command.arg("root");
        let out = self.run(command, "`adb root`", Interrupt::Stops)?;
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || said.contains("cannot run as root") {
            bail!("`adb root` was refused by {}: {}", self.serial, said.trim());
        }
        let mut wait = self.command();
        wait.arg("wait-for-device");
        if !self
            .run(wait, "`adb wait-for-device`", Interrupt::Stops)?
            .status
            .success()
        {
            bail!("{} did not come back after `adb root`", self.serial);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_lines_and_states() {
        let text = "List of devices attached\n\
            * daemon started successfully\n\
            R58M12345   device usb:1-1 product:beyond1 model:SM_G973F device:beyond1 transport_id:1\n\
            emulator-5554 offline transport_id:2\n\
            0123abcd    unauthorized usb:1-2 transport_id:3\n\
            ZY22        no permissions (missing udev rules? user is in the plugdev group); see [http://developer.android.com/tools/device.html] usb:1-3\n\n";
        let devices = parse_devices(text);
        let states: Vec<String> = devices.iter().map(|d| d.state.to_string()).collect();
        assert_eq!(
            states,
            ["device", "offline", "unauthorized", "no permissions"]
        );
        assert_eq!(devices[0].model.as_deref(), Some("SM_G973F"));
        assert_eq!(devices[1].serial, "emulator-5554");
    }

    #[test]
    fn selection_errors_say_what_to_do() {
        let devices = parse_devices(
            "List of devices attached\nA device model:One\nB unauthorized\nC offline\nD no permissions (udev)\n",
        );
        assert_eq!(select(&devices, Some("A")).unwrap().serial, "A");
        let error = |serial: Option<&str>| select(&devices, serial).unwrap_err().to_string();
        assert!(
            error(None).contains("4 devices are connected")
                && error(None).contains("  A  One  device")
        );
        assert!(error(Some("B")).contains("accept the \"Allow USB debugging?\""));
        assert!(error(Some("C")).contains("is offline"));
        assert!(error(Some("D")).contains("udev"));
        assert!(error(Some("Z")).contains("no device `Z`"));
        assert!(select(&[], None)
            .unwrap_err()
            .to_string()
            .contains("no Android device found"));
    }
}

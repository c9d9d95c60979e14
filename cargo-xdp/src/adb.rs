//! Finding adb and listing the devices it sees.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::ndk::SDK_VARS;

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
    /// device, offline, unauthorized, no permissions, ...
    pub state: String,
    pub model: Option<String>,
}

pub fn devices(adb: &Path) -> Result<Vec<Device>> {
    let output = Command::new(adb)
        .args(["devices", "-l"])
        .output()
        .with_context(|| format!("cannot run {}", adb.display()))?;
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
                "no permissions".to_string()
            } else {
                rest.first()?.to_string()
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

/// `getprop NAME` on one device.
pub fn getprop(adb: &Path, serial: &str, name: &str) -> Result<String> {
    let output = Command::new(adb)
        .args(["-s", serial, "shell", "getprop", name])
        .output()
        .with_context(|| format!("cannot run {}", adb.display()))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
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
        let states: Vec<&str> = devices.iter().map(|d| d.state.as_str()).collect();
        assert_eq!(
            states,
            ["device", "offline", "unauthorized", "no permissions"]
        );
        assert_eq!(devices[0].model.as_deref(), Some("SM_G973F"));
        assert_eq!(devices[1].serial, "emulator-5554");
    }
}

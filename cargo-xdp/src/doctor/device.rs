//! `doctor --deploy`: what stops a deploy, asked of the device itself
//! before anything is pushed (nothing is staged, `adb root` is not run):
//! which device, a way to root, the sha256 tool root checks files with,
//! SELinux, the interface, and the target its ABI builds.

use super::{row, Check};
use crate::{
    process::TimedOut,
    remote,
    session::{self, DeviceChoice},
};

/// The rows for the device `choice` names (`interface`: checked too).
pub(super) fn device_rows(choice: &DeviceChoice, interface: Option<&str>) -> Vec<Check> {
    let (device, adb) = match session::connect(choice) {
        Ok(found) => found,
        Err(error) => {
            // One line for the table: the devices listed after the reason.
            let said = format!("{error:#}");
            let (reason, listing) = said.split_once(":\n").unwrap_or((&said, ""));
            let reason = reason.split("; ").next().unwrap_or(reason);
            let devices: Vec<&str> = listing.lines().map(str::trim).collect();
            let detail = if devices.is_empty() {
                reason.to_string()
            } else {
                format!("{reason}: {}", devices.join(", "))
            };
            return vec![row(
                "device",
                "one device chosen (deploy)",
                Err(detail),
                "connect the device with USB debugging on and accept its prompt; with several, \
                 pick one with -s SERIAL (or ANDROID_SERIAL)",
            )];
        }
    };
    let serial = device.serial.clone();
    let model = device.model.clone().unwrap_or_else(|| "-".into());
    let mut rows = vec![row(
        &serial,
        "device (deploy)",
        Ok(format!("{serial} ({model})")),
        "",
    )];
    let command = remote::doctor_probe_command(adb.layout(), "doctor", interface);
    match session::run_checked(adb.as_ref(), &command, "the probe") {
        Ok(out) => rows.extend(probe_rows(
            &serial,
            &remote::parse_probe(&out.stdout, adb.layout()),
            interface,
        )),
        Err(error) => {
            let fix = if error.downcast_ref::<TimedOut>().is_some() {
                "su may be asking on the phone's screen: allow it there, then run doctor again"
            } else {
                "check the device with `adb -s SERIAL shell`"
            };
            rows.push(row(
                &serial,
                "the device answers (deploy)",
                Err(format!("{error:#}")),
                fix,
            ));
        }
    }
    rows
}

/// What the probe of device `serial` says a deploy will find.
fn probe_rows(serial: &str, probe: &remote::Probe, interface: Option<&str>) -> Vec<Check> {
    let mut rows = vec![root_row(serial, probe)];
    rows.push(row(
        serial,
        "sha256 tool (deploy)",
        probe
            .hasher
            .clone()
            .ok_or_else(|| format!("none of {}", remote::HASHERS.join(", "))),
        "install busybox (e.g. Magisk's busybox module), or use Android 8 or newer: root runs \
         nothing it cannot check",
    ));
    let mut selinux = row(
        serial,
        "SELinux (deploy)",
        Ok(probe.selinux.clone().unwrap_or_else(|| "unknown".into())),
        "",
    );
    selinux.required = false;
    rows.push(selinux);
    if let Some(interface) = interface {
        let found = match &probe.interface {
            Some((true, _)) => Ok(interface.to_string()),
            Some((false, names)) => Err(format!("no {interface} (it has: {names})")),
            None => Err("the device did not say".to_string()),
        };
        rows.push(row(
            serial,
            "interface (deploy)",
            found,
            "name one it has (`adb shell ip link`); wlan0 is Wi-Fi, rmnet* mobile data",
        ));
    }
    let said = if probe.layout.android {
        &probe.abi
    } else {
        &probe.machine
    };
    let mut built = row(
        serial,
        "a target for it (deploy)",
        match session::target_for_device(probe, serial) {
            Ok(target) => Ok(format!("{said} -> {}", target.name)),
            Err(_) => Err(format!("no target builds for `{said}`")),
        },
        "pass --target to deploy (e.g. linux-arm64 for a Linux board reached over adb)",
    );
    built.required = false;
    rows.push(built);
    rows
}

/// How a deploy would become root there, by the probe.
fn root_row(serial: &str, probe: &remote::Probe) -> Check {
    let root = match (probe.uid, probe.su) {
        (Some(0), _) => Ok("the shell is root".to_string()),
        (_, Some(remote::Root::SuZero)) => Ok("su 0 answers without a prompt".to_string()),
        (_, Some(remote::Root::Sudo)) => Ok("sudo -n answers without a prompt".to_string()),
        (_, Some(remote::Root::Doas)) => Ok("doas -n answers without a prompt".to_string()),
        (_, Some(_)) => Ok("su -c answers without a prompt".to_string()),
        (_, None) if !probe.layout.android => Err(format!(
            "its login user is uid {}, and neither `sudo -n` nor `doas -n` answers",
            probe.uid_text()
        )),
        _ if probe.debuggable => {
            Ok("adb root (a userdebug/eng build: deploy restarts adbd as root)".to_string())
        }
        _ => Err(format!(
            "its shell is uid {}, {}, and {}",
            probe.uid_text(),
            "ro.debuggable is not 1 (a user build)",
            if probe.su_denied {
                "its su refused the shell user"
            } else {
                "there is no su"
            }
        )),
    };
    row(serial, "a way to root (deploy)", root, probe.no_root_fix())
}

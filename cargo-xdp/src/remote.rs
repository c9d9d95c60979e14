//! The commands a deploy sends to `adb shell`, and reading their answers.
//! push-and-attach.sh sends the same ones (keep them in step).
//!
//! adb joins its arguments into one string for the device's `sh -c`, so
//! every command here is one string, quoted by us. Old adbd loses the exit
//! status, so each command ends with `echo __rc=$?` and we read that.

use anyhow::{bail, Result};

/// Where bundles go on the device (`/sdcard` is noexec).
pub const BASE: &str = "/data/local/tmp/cargo-xdp";

/// The directory a project's files live in on the device.
pub fn final_dir(name: &str) -> String {
    format!("{BASE}/{name}")
}

/// Where a push lands before on-device.sh checks it and moves it into place.
pub fn staging_dir(name: &str) -> String {
    format!("{BASE}/.{name}.partial")
}

/// One argument for a POSIX shell: `'...'` with `'` spelled `'\''`.
pub fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Linux interface names: 1 to 15 of `[A-Za-z0-9_.:-]` (IFNAMSIZ - 1).
pub fn check_interface(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if !valid {
        bail!(
            "`{name}` is not an interface name: Linux allows 1 to 15 of A-Z a-z 0-9 _ . : - \
             (e.g. wlan0, rmnet_data0)"
        );
    }
    Ok(())
}

/// How root is reached on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The shell is root already (or after `adb root`).
    Shell,
    /// AOSP's su: `su 0 CMD ARGS`.
    SuZero,
    /// Magisk/SuperSU: `su -c 'CMD'`.
    SuC,
}

/// What one probe learned about the device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    pub uid: Option<u32>,
    pub abi: String,
    /// `ro.debuggable=1`: adbd may restart as root (`adb root`).
    pub debuggable: bool,
    pub su: Option<Root>,
    /// None when no interface was asked about; else (exists, all names).
    pub interface: Option<(bool, String)>,
}

/// The probe: identity, ABI, the ways to root, the interface; and, when
/// root is reachable and an interface was asked for and exists, an empty
/// staging directory for the push (nothing is created otherwise).
pub fn probe_command(name: &str, interface: Option<&str>) -> String {
    let mut script = String::from(
        "uid=$(id -u); echo uid=$uid; echo abi=$(getprop ro.product.cpu.abi); \
         dbg=$(getprop ro.debuggable); echo debuggable=$dbg; su=none; \
         if [ \"$uid\" != 0 ] && command -v su >/dev/null 2>&1; then \
         if [ \"$(su 0 id -u 2>/dev/null)\" = 0 ]; then su=su0; \
         elif [ \"$(su -c 'id -u' 2>/dev/null)\" = 0 ]; then su=suc; fi; fi; echo su=$su; ",
    );
    if let Some(interface) = interface {
        let stage = quote(&staging_dir(name));
        script.push_str(&format!(
            "if [ -e /sys/class/net/{iface} ]; then echo iface=yes; \
             if [ \"$uid\" = 0 ] || [ $su != none ] || [ \"$dbg\" = 1 ]; then \
             rm -rf {stage} && mkdir -p {stage}; fi; \
             else echo iface=no $(ls /sys/class/net | tr '\\n' ' '); fi; ",
            iface = quote(interface),
        ));
    }
    script.push_str("echo __rc=0");
    script
}

pub fn parse_probe(output: &str) -> Probe {
    let mut probe = Probe::default();
    for line in output.lines() {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        match key {
            "uid" => probe.uid = value.trim().parse().ok(),
            "abi" => probe.abi = value.trim().to_string(),
            "debuggable" => probe.debuggable = value.trim() == "1",
            "su" => {
                probe.su = match value.trim() {
                    "su0" => Some(Root::SuZero),
                    "suc" => Some(Root::SuC),
                    _ => None,
                }
            }
            "iface" => {
                let (answer, names) = value.split_once(' ').unwrap_or((value, ""));
                probe.interface = Some((answer == "yes", names.trim().to_string()));
            }
            _ => {}
        }
    }
    probe
}

/// `sh SCRIPT ARGS` as root the given way, then the exit-status sentinel.
pub fn as_root(root: Root, script: &str, args: &[&str]) -> String {
    let mut command = format!("sh {}", quote(script));
    for arg in args {
        command.push(' ');
        command.push_str(&quote(arg));
    }
    let wrapped = match root {
        Root::Shell => command,
        Root::SuZero => format!("su 0 {command}"),
        Root::SuC => format!("su -c {}", quote(&command)),
    };
    format!("{wrapped}; echo __rc=$?")
}

/// `on-device.sh ARGS` of the deployed copy, as root, or a clear error
/// when the project was never deployed on this device.
pub fn deployed(name: &str, root: Root, args: &[&str]) -> String {
    let script = format!("{}/{}", final_dir(name), crate::bundle::DEVICE_SCRIPT);
    format!(
        "if [ -f {} ]; then {}; else echo {} >&2; echo __rc=3; fi",
        quote(&script),
        as_root(root, &script, args),
        quote(&format!(
            "error: {name} is not deployed on this device (deploy it with `cargo xdp deploy --adb IFACE`)"
        )),
    )
}

/// Splits a command's output into what it printed and the exit status the
/// sentinel reported (None: the sentinel never came, the command died).
pub fn split_sentinel(output: &str) -> (String, Option<i32>) {
    let mut code = None;
    let mut text = String::new();
    for line in output.split_inclusive('\n') {
        match line.trim_end().strip_prefix("__rc=") {
            Some(rc) => code = rc.trim().parse().ok(),
            None => text.push_str(line),
        }
    }
    (text, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_anything_for_sh() {
        assert_eq!(quote("wlan0"), "'wlan0'");
        assert_eq!(quote("a'b; rm -rf /"), r"'a'\''b; rm -rf /'");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote("it's $HOME `id` \"x\"")))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "it's $HOME `id` \"x\""
        );
    }

    #[test]
    fn interface_names_are_what_linux_allows() {
        for good in [
            "wlan0",
            "rmnet_data0",
            "eth0.100",
            "veth-a:1",
            "a23456789012345",
        ] {
            check_interface(good).unwrap();
        }
        for bad in [
            "",
            "a234567890123456",
            "wlan0;reboot",
            "w lan",
            "$(id)",
            "wlan/0",
        ] {
            let error = check_interface(bad).unwrap_err().to_string();
            assert!(error.contains("not an interface name"), "{error}");
        }
    }

    #[test]
    fn reads_a_probe() {
        let probe = parse_probe(
            "uid=2000\nabi=arm64-v8a\ndebuggable=0\nsu=suc\niface=no lo wlan0 \n__rc=0\n",
        );
        assert_eq!(probe.uid, Some(2000));
        assert_eq!(probe.abi, "arm64-v8a");
        assert_eq!(probe.su, Some(Root::SuC));
        assert_eq!(probe.interface, Some((false, "lo wlan0".into())));
    }

    #[test]
    fn root_wrappers_and_sentinels() {
        let script = "/data/local/tmp/cargo-xdp/f/on-device.sh";
        assert_eq!(
            as_root(Root::SuZero, script, &["detach", "wlan0"]),
            format!("su 0 sh '{script}' 'detach' 'wlan0'; echo __rc=$?")
        );
        assert_eq!(
            as_root(Root::SuC, script, &["status"]),
            format!(r"su -c 'sh '\''{script}'\'' '\''status'\'''; echo __rc=$?")
        );
        assert_eq!(
            split_sentinel("Attached\n__rc=3\n"),
            ("Attached\n".to_string(), Some(3))
        );
        assert_eq!(split_sentinel("killed\n").1, None);
    }
}

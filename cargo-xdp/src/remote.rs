//! The commands a deploy sends to `adb shell`, and reading their answers.
//! push-and-attach.sh sends the same ones (keep them in step).
//!
//! adb joins its arguments into one string for the device's `sh -c`, so
//! every command here is one string, quoted by us. Old adbd loses the exit
//! status, so each command ends with `echo __rc=$?` and we read that.
//!
//! Files go where the shell user (uid 2000) can write, `/data/local/tmp`;
//! root takes its own copies into `/data/local/cargo-xdp` (root's, 0700)
//! and runs only those, through `root-entry.sh`, whose text is the root
//! command itself.

use crate::{bundle, layout::Layout, templates};

/// The longest command adbd without shell protocol v2 (before Android 7,
/// API 24) takes.
pub const LEGACY_COMMAND_LIMIT: usize = 4096;

/// One argument for a POSIX shell: `'...'` with `'` spelled `'\''`.
pub fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
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
    /// A board's `sudo -n CMD` (NOPASSWD for the login user).
    Sudo,
    /// A board's `doas -n CMD` (nopass).
    Doas,
}

impl Root {
    /// `command` (already quoted for a shell) run as root this way, with an
    /// empty stdin for the ways that could prompt.
    pub fn wrap(self, command: &str) -> String {
        match self {
            Root::Shell => command.to_string(),
            Root::SuZero => format!("su 0 {command} </dev/null"),
            Root::SuC => format!("su -c {} </dev/null", quote(command)),
            Root::Sudo => format!("sudo -n {command} </dev/null"),
            Root::Doas => format!("doas -n {command} </dev/null"),
        }
    }
}

/// The sha256 tools root-entry.sh accepts, in the order the probe tries them.
pub const HASHERS: [&str; 3] = ["sha256sum", "toybox sha256sum", "busybox sha256sum"];

/// What one probe learned about the device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    pub uid: Option<u32>,
    /// `ro.product.cpu.abi` (Android's ABI name); empty off Android.
    pub abi: String,
    /// `uname -m` (aarch64, armv7l, x86_64 ...): what a device that is not
    /// Android says it runs.
    pub machine: String,
    /// `ro.build.version.sdk`: below 24, adbd has no shell protocol v2.
    pub sdk: Option<u32>,
    /// `uname -r`: the kernel that must verify the kern objects.
    pub kernel: Option<String>,
    /// `ro.debuggable=1`: adbd may restart as root (`adb root`).
    pub debuggable: bool,
    pub su: Option<Root>,
    /// There is an `su`, but it gave the shell user no root (refused, or
    /// not yet allowed in the superuser app).
    pub su_denied: bool,
    /// `getenforce` (Enforcing, Permissive), when the doctor asked.
    pub selinux: Option<String>,
    /// One of HASHERS, or None: the device cannot check files, root runs none.
    pub hasher: Option<String>,
    /// None when no interface was asked about; else (exists, all names).
    pub interface: Option<(bool, String)>,
    /// `setsid -w` works: root-entry runs as the leader of a process group
    /// of its own, so a later install or clean can stop all of it.
    pub setsid: bool,
    /// Where files go on this kind of device (the transport's, not probed).
    pub layout: Layout,
}

impl Probe {
    /// What gives this device root, when nothing the probe found did.
    pub fn no_root_fix(&self) -> &'static str {
        if !self.layout.android {
            "log in as root (--ssh root@HOST), or let the login user run `sudo -n` (NOPASSWD in \
             sudoers) or `doas -n` (nopass in doas.conf)"
        } else if self.su_denied {
            "its su refused the shell user: allow Shell (com.android.shell) in the superuser \
             app (Magisk: Superuser), then try again"
        } else if self.debuggable {
            "it is a userdebug/eng build but adbd did not restart as root: run `adb root` and \
             see what it says, or root it with su (Magisk)"
        } else {
            "use a userdebug/eng build (then cargo xdp runs `adb root` itself) or a rooted \
             phone with su (Magisk)"
        }
    }

    /// `id -u` as the probe said it, `?` when it did not.
    pub fn uid_text(&self) -> String {
        self.uid.map_or_else(|| "?".into(), |u| u.to_string())
    }

    /// The sha256 tool to name in commands that check nothing (run, clean).
    pub fn hasher_or_default(&self) -> &str {
        self.hasher.as_deref().unwrap_or(HASHERS[0])
    }

    /// How root-entry.sh is started on this device, reached the given way.
    pub fn entry(&self, root: Root) -> Entry {
        Entry {
            root,
            hasher: self.hasher_or_default().to_string(),
            own_group: self.setsid,
            layout: self.layout.clone(),
        }
    }

    /// adbd of Android 7 and later speaks shell protocol v2 (exit status,
    /// no pty, no length limit); an unknown SDK is taken as older.
    pub fn has_shell_v2(&self) -> bool {
        self.sdk.is_some_and(|sdk| sdk >= 24)
    }
}

/// The probe: identity, ABI, SDK, the ways to root, a sha256 tool, the
/// interface; and, when root is reachable, files can be checked and an
/// interface was asked for and exists, an empty staging directory for the
/// push (nothing is created otherwise). Every `su` gets an empty stdin: on
/// old adbd the command's stdin is never closed, and an su that prompts
/// there would wait forever.
pub fn probe_command(layout: &Layout, name: &str, interface: Option<&str>) -> String {
    // A phone is asked for its properties and su; a board for sudo or doas
    // (never su there: it would wait for a password, then log a failure).
    let identity = if layout.android {
        "uid=$(id -u); echo uid=$uid; echo abi=$(getprop ro.product.cpu.abi); \
         echo sdk=$(getprop ro.build.version.sdk); echo kernel=$(uname -r); echo machine=$(uname -m); \
         dbg=$(getprop ro.debuggable); echo debuggable=$dbg; su=none; \
         if [ \"$uid\" != 0 ] && command -v su >/dev/null 2>&1; then su=denied; \
         if [ \"$(su 0 id -u </dev/null 2>/dev/null)\" = 0 ]; then su=su0; \
         elif [ \"$(su -c 'id -u' </dev/null 2>/dev/null)\" = 0 ]; then su=suc; fi; fi; echo su=$su; "
    } else {
        "uid=$(id -u); echo uid=$uid; echo kernel=$(uname -r); echo machine=$(uname -m); dbg=0; \
         su=none; if [ \"$uid\" != 0 ]; then \
         if [ \"$(sudo -n id -u </dev/null 2>/dev/null)\" = 0 ]; then su=sudo; \
         elif [ \"$(doas -n id -u </dev/null 2>/dev/null)\" = 0 ]; then su=doas; fi; fi; echo su=$su; "
    };
    let mut script = String::from(identity);
    script.push_str(
        "hash=none; if command -v sha256sum >/dev/null 2>&1; then hash=sha256sum; \
         elif toybox sha256sum </dev/null >/dev/null 2>&1; then hash='toybox sha256sum'; \
         elif busybox sha256sum </dev/null >/dev/null 2>&1; then hash='busybox sha256sum'; fi; \
         echo \"hash=$hash\"; if setsid -w true </dev/null >/dev/null 2>&1; then echo setsid=1; fi; ",
    );
    if let Some(interface) = interface {
        let stage = quote(&layout.staging_dir(name));
        script.push_str(&format!(
            "if [ -e /sys/class/net/{iface} ]; then echo iface=yes; \
             if [ \"$hash\" != none ] && {{ [ \"$uid\" = 0 ] || [ $su != none ] || [ \"$dbg\" = 1 ]; }}; then \
             rm -rf {stage} && mkdir -p {stage}; fi; \
             else echo iface=no $(ls /sys/class/net); fi; ",
            iface = quote(interface),
        ));
    }
    script.push_str("echo __rc=0");
    script
}

/// The probe as `doctor --deploy` asks it: stages nothing, and says the
/// SELinux mode and whether `interface` exists.
pub fn doctor_probe_command(layout: &Layout, name: &str, interface: Option<&str>) -> String {
    let probe = probe_command(layout, name, None);
    let mut script = probe
        .strip_suffix("echo __rc=0")
        .unwrap_or(&probe)
        .to_string();
    script.push_str("echo selinux=$(getenforce 2>/dev/null); ");
    if let Some(interface) = interface {
        script.push_str(&format!(
            "if [ -e /sys/class/net/{iface} ]; then echo iface=yes; \
             else echo iface=no $(ls /sys/class/net); fi; ",
            iface = quote(interface)
        ));
    }
    script.push_str("echo __rc=0");
    script
}

/// The probe's answer from a device of `layout` (the transport's kind).
pub fn parse_probe(output: &str, layout: &Layout) -> Probe {
    let mut probe = Probe {
        layout: layout.clone(),
        ..Probe::default()
    };
    for line in output.lines() {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let value = value.trim();
        match key {
            "uid" => probe.uid = value.parse().ok(),
            "abi" => probe.abi = value.to_string(),
            "machine" => probe.machine = value.to_string(),
            "sdk" => probe.sdk = value.parse().ok(),
            "kernel" => probe.kernel = Some(value.to_string()).filter(|k| !k.is_empty()),
            "debuggable" => probe.debuggable = value == "1",
            "selinux" => probe.selinux = Some(value.to_string()).filter(|s| !s.is_empty()),
            "su" => {
                probe.su_denied = value == "denied";
                probe.su = match value {
                    "su0" => Some(Root::SuZero),
                    "suc" => Some(Root::SuC),
                    "sudo" => Some(Root::Sudo),
                    "doas" => Some(Root::Doas),
                    _ => None,
                }
            }
            "hash" => probe.hasher = HASHERS.iter().find(|h| **h == value).map(|h| h.to_string()),
            "setsid" => probe.setsid = value == "1",
            "iface" => {
                let (answer, names) = value.split_once(' ').unwrap_or((value, ""));
                probe.interface = Some((answer == "yes", names.trim().to_string()));
            }
            _ => {}
        }
    }
    probe
}

/// root-entry.sh as it is sent to a device of `layout`: without
/// indentation, comment and blank lines (push-and-attach.sh strips it the
/// same way).
pub fn root_entry_text(layout: &Layout) -> String {
    let script = templates::bundle_file(bundle::ROOT_ENTRY, "", "");
    layout
        .root_entry_lines(&String::from_utf8_lossy(&script))
        .lines()
        .map(str::trim_start)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How root-entry.sh is started on one device: the way to root, the sha256
/// tool it checks with, and whether it leads a process group of its own
/// (`setsid -w`), which lets a later install or clean stop all of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub root: Root,
    pub hasher: String,
    pub own_group: bool,
    pub layout: Layout,
}

impl Entry {
    /// `[setsid -w] sh -c ROOT_ENTRY root-entry HASHER NAME ARGS...` as
    /// root, the given way.
    pub fn as_root(&self, name: &str, args: &[&str]) -> String {
        let setsid = if self.own_group { "setsid -w " } else { "" };
        let text = root_entry_text(&self.layout);
        let mut command = format!("{setsid}sh -c {} root-entry", quote(&text));
        for arg in [self.hasher.as_str(), name].iter().chain(args) {
            command.push(' ');
            command.push_str(&quote(arg));
        }
        self.root.wrap(&command)
    }

    /// Root moves the staged files out of the shell user's reach, copies,
    /// checks and attaches them; then the shell user removes whatever is
    /// left of its staging directory, whatever root's answer was.
    pub fn install(&self, name: &str, checks: &Checks, attach: &[&str]) -> String {
        let stage = self.layout.staging_dir(name);
        self.on_staged("install", name, checks, attach, &stage)
    }

    /// Root's `action` on the files staged in `stage`, checked against
    /// `checks`; then the shell user removes what is left of `stage`.
    fn on_staged(
        &self,
        action: &str,
        name: &str,
        checks: &Checks,
        args: &[&str],
        stage: &str,
    ) -> String {
        let mut entry = vec![
            action,
            checks.manifest_sha256.as_str(),
            checks.script_sha256.as_str(),
        ];
        entry.extend(args);
        format!(
            "{}; rc=$?; rm -rf {}; echo __rc=$rc",
            self.as_root(name, &entry),
            quote(stage)
        )
    }

    /// A trial: root takes the staged files into a work dir of its own,
    /// checks them and runs `args` (`test-run [CASES OBJECT]`, `bench
    /// REPEAT`) there, attaching nothing, then removes it; the shell user
    /// removes what is left of its staging directory.
    pub fn trial(&self, name: &str, checks: &Checks, args: &[&str]) -> String {
        let stage = self.layout.trial_staging_dir(name);
        self.on_staged("try", name, checks, args, &stage)
    }

    /// `on-device.sh ARGS` of root's deployed copy, or a clear error when
    /// the project was never deployed on this device.
    pub fn deployed(&self, name: &str, args: &[&str]) -> String {
        let mut entry = vec!["run"];
        entry.extend(args);
        format!("{}; echo __rc=$?", self.as_root(name, &entry))
    }

    /// After a failed or interrupted deploy: the shell user's staging
    /// directory, then root's side: a live install is stopped, a half-done
    /// one healed, and the state printed (`state-json:`).
    pub fn cleanup(&self, name: &str) -> String {
        format!(
            "rm -rf {}; {}; echo __rc=$?",
            quote(&self.layout.staging_dir(name)),
            self.as_root(name, &["clean"])
        )
    }
}

/// The sha256s root checks its copies of MANIFEST and on-device.sh against
/// before it runs anything; the host reads them from the bundle it pushed.
pub struct Checks {
    pub manifest_sha256: String,
    pub script_sha256: String,
}

/// What the device said is attached: root-entry's `state-json:` line (the
/// deployed loader's `status --json`, or `none`), or the loader's own
/// `status-json:` after an install.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    /// The device gave no such answer (the call died, or root ran nothing).
    Unknown,
    /// root-entry found no deployed copy of the project.
    NotDeployed,
    /// The deployed loader's answer.
    Status(cargo_xdp_wire::Status),
}

/// What is on `interface`, by the device's own answer.
#[derive(Debug, Clone, PartialEq)]
pub enum OnInterface {
    Unknown,
    NotDeployed,
    Nothing,
    /// The kernel runs this program of ours there.
    Running {
        mode: String,
        program_id: u64,
    },
    /// A pin names a program the kernel does not run there (any more).
    Stale {
        program_id: u64,
    },
}

impl Reported {
    /// The last `PREFIX{json}` line of `stdout` (`none`: not deployed).
    pub fn from_line(stdout: &str, prefix: &str) -> Reported {
        match stdout.lines().rev().find_map(|l| l.strip_prefix(prefix)) {
            Some("none") => Reported::NotDeployed,
            Some(json) => serde_json::from_str(json)
                .map(Reported::Status)
                .unwrap_or(Reported::Unknown),
            None => Reported::Unknown,
        }
    }

    /// The loader's own `status --json` answer (its last line; `none`:
    /// not deployed).
    pub fn from_answer(stdout: &str) -> Reported {
        Reported::from_line(stdout, "")
    }

    /// The kernel variant the device says runs on `interface` (None: the
    /// base object, or not said).
    pub fn variant_on(&self, interface: &str) -> Option<String> {
        match self {
            Reported::Status(status) => status
                .attached
                .iter()
                .find(|a| a.interface == interface)
                .and_then(|a| a.variant.clone()),
            _ => None,
        }
    }

    pub fn on(&self, interface: &str) -> OnInterface {
        let status = match self {
            Reported::Unknown => return OnInterface::Unknown,
            Reported::NotDeployed => return OnInterface::NotDeployed,
            Reported::Status(status) => status,
        };
        let Some(entry) = status.attached.iter().find(|a| a.interface == interface) else {
            return OnInterface::Nothing;
        };
        let program_id = entry.program_id.into();
        if entry.is_running() {
            OnInterface::Running {
                mode: entry.mode.clone(),
                program_id,
            }
        } else {
            OnInterface::Stale { program_id }
        }
    }
}

impl OnInterface {
    /// One clause for an error message: what is on `interface` now, as
    /// the device says, or that it is unknown and how to find out.
    pub fn describe(&self, name: &str, interface: &str, serial: &str) -> String {
        match self {
            OnInterface::Unknown => format!(
                "whether anything is attached to {interface} is unknown (the device gave no \
                 answer about it); check with `cargo xdp status --adb -s {serial}`"
            ),
            OnInterface::NotDeployed => {
                format!("the device has no deployed copy of {name}, so nothing of it is attached")
            }
            OnInterface::Nothing => {
                format!("the device reports nothing of {name} attached to {interface}")
            }
            OnInterface::Running { mode, program_id } => format!(
                "the device reports {interface} runs {name} ({mode} mode, program id \
                 {program_id})"
            ),
            OnInterface::Stale { program_id } => format!(
                "the device reports a stale pin for {interface} (program id {program_id}, which \
                 the kernel no longer runs there): nothing of {name} is attached"
            ),
        }
    }
}

/// Splits a command's output into what it printed and the exit status the
/// sentinel reported (None: the sentinel never came, the command died).
/// Lines may end in `\r\n` (adbd without shell v2 runs commands in a pty).
pub fn split_sentinel(output: &str) -> (String, Option<i32>) {
    let mut code = None;
    let mut text = String::new();
    for line in output.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match line.strip_prefix("__rc=") {
            Some(rc) => code = rc.trim().parse().ok(),
            None => {
                text.push_str(line);
                text.push('\n');
            }
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
    fn reads_a_probe() {
        let probe = parse_probe(
            "uid=2000\r\nabi=arm64-v8a\r\nsdk=23\nkernel=4.9.112-perf\ndebuggable=0\nsu=suc\nhash=toybox sha256sum\niface=no lo wlan0 \n__rc=0\n",
            &Layout::android(),
        );
        assert_eq!(probe.uid, Some(2000));
        assert_eq!(probe.abi, "arm64-v8a");
        assert_eq!(probe.su, Some(Root::SuC));
        assert_eq!(probe.hasher.as_deref(), Some("toybox sha256sum"));
        assert!(!probe.has_shell_v2());
        assert_eq!(probe.kernel.as_deref(), Some("4.9.112-perf"));
        assert_eq!(probe.interface, Some((false, "lo wlan0".into())));
        let none = parse_probe("hash=none\nhash=md5sum\n", &Layout::android());
        assert_eq!(none.hasher, None, "only the tools root-entry.sh accepts");
    }

    fn entry(root: Root, hasher: &str, own_group: bool) -> Entry {
        Entry {
            root,
            hasher: hasher.into(),
            own_group,
            layout: Layout::android(),
        }
    }

    #[test]
    fn root_commands_run_the_entry_text_not_a_file() {
        let text = root_entry_text(&Layout::android());
        assert!(!text.lines().any(|l| l.trim_start().starts_with('#')));
        assert!(text.contains("b=/data/local/cargo-xdp\nst=/data/local/tmp/cargo-xdp\n"));
        let board = root_entry_text(&Layout::board("/home/pi"));
        assert!(
            board.contains("b=/opt/cargo-xdp\nst=/home/pi/.cargo-xdp\nsys=0\n")
                && board.contains("for d in / /opt; do\n"),
            "{board}"
        );
        assert!(!text.contains('\''), "a quote costs bytes in every nesting");
        let command = entry(Root::SuZero, "sha256sum", false).as_root("f", &["run", "status"]);
        assert!(command.starts_with("su 0 sh -c '"), "{command}");
        assert!(command.ends_with(" root-entry 'sha256sum' 'f' 'run' 'status' </dev/null"));
        let grouped = entry(Root::SuZero, "sha256sum", true).as_root("f", &["clean"]);
        assert!(grouped.starts_with("su 0 setsid -w sh -c '"), "{grouped}");
        let wrapped = entry(Root::SuC, "sha256sum", false).as_root("f", &["clean"]);
        assert!(wrapped.starts_with("su -c 'sh -c '\\''"), "{wrapped}");
        // The staging dir is removed by the shell user after root's part.
        let checks = Checks {
            manifest_sha256: "a".repeat(64),
            script_sha256: "b".repeat(64),
        };
        let install =
            entry(Root::SuZero, "sha256sum", false).install("f", &checks, &["wlan0", "auto"]);
        assert!(
            install
                .ends_with("; rc=$?; rm -rf '/data/local/tmp/cargo-xdp/.f.partial'; echo __rc=$rc"),
            "{install}"
        );
    }

    /// adbd before Android 7 refuses commands over 4,096 bytes: the longest
    /// command a deploy sends (su -c, the longest name and interface, the
    /// longest hasher) must fit with room for the user's loader arguments.
    #[test]
    fn the_longest_commands_fit_old_adbd() {
        let name = "a".repeat(48);
        let checks = Checks {
            manifest_sha256: "a".repeat(64),
            script_sha256: "b".repeat(64),
        };
        for root in [Root::Shell, Root::SuZero, Root::SuC] {
            let way = entry(root, "busybox sha256sum", true);
            let install = way.install(&name, &checks, &["a23456789012345", "native"]);
            eprintln!("{root:?}: {} bytes", install.len());
            assert!(
                install.len() + 512 < LEGACY_COMMAND_LIMIT,
                "{root:?}: {} bytes",
                install.len()
            );
            assert!(way.cleanup(&name).len() < LEGACY_COMMAND_LIMIT);
        }
        let probe = probe_command(&Layout::android(), &name, Some("a23456789012345"));
        assert!(probe.len() < LEGACY_COMMAND_LIMIT);
    }

    #[test]
    fn the_state_comes_from_the_device_or_is_unknown() {
        let on = |out: &str| Reported::from_line(out, "state-json: ").on("wlan0");
        assert_eq!(on("error: x\n"), OnInterface::Unknown);
        assert_eq!(
            on("state-json: \n"),
            OnInterface::Unknown,
            "a loader that died"
        );
        assert_eq!(on("state-json: none\n"), OnInterface::NotDeployed);
        assert_eq!(
            on(r#"state-json: {"name":"f","attached":[]}"#),
            OnInterface::Nothing
        );
        assert_eq!(
            on(
                r#"state-json: {"name":"f","attached":[{"interface":"wlan0","mode":"skb","program":"p","program_id":7,"running":true}]}"#
            ),
            OnInterface::Running {
                mode: "skb".into(),
                program_id: 7
            }
        );
        assert_eq!(
            on(
                r#"state-json: {"name":"f","attached":[{"interface":"wlan0","mode":"stale","program":"p","program_id":7,"running":false}]}"#
            ),
            OnInterface::Stale { program_id: 7 }
        );
        // An older loader without `running`: its mode says it.
        assert_eq!(
            on(
                r#"state-json: {"name":"f","attached":[{"interface":"wlan0","mode":"replaced","program":"p","program_id":7}]}"#
            ),
            OnInterface::Stale { program_id: 7 }
        );
        assert!(OnInterface::Unknown
            .describe("f", "wlan0", "PHONE")
            .contains("is unknown"));
    }

    #[test]
    fn sentinels_with_and_without_a_pty() {
        assert_eq!(
            split_sentinel("Attached\n__rc=3\n"),
            ("Attached\n".to_string(), Some(3))
        );
        assert_eq!(
            split_sentinel("Attached\r\n__rc=0\r\n"),
            ("Attached\n".to_string(), Some(0))
        );
        assert_eq!(split_sentinel("killed\n").1, None);
    }
}

//! Where a deploy's files live on a device, by its kind: an Android phone
//! (the shell user's `/data/local/tmp`, root's `/data/local/cargo-xdp`) or a
//! Linux board reached over ssh (the login user's home, root's
//! `/opt/cargo-xdp`, which survives a reboot on OpenWrt's overlay too).
//!
//! root-entry.sh carries the Android values in its first lines; a board's
//! are put in their place when the text is sent (`root_entry_lines`).

/// The directories of one device kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Root's own directory (0700): the deployed copies, work dirs, locks.
    pub root_base: String,
    /// Every directory above `root_base`, which must be owned and writable
    /// by root alone (or by `system_uid`) before root runs anything below.
    pub above: Vec<String>,
    /// A uid besides root's that may own those directories (Android's
    /// system user owns /data); 0 where there is none.
    pub system_uid: u32,
    /// Where the login user's pushes land (one directory per project).
    pub staging_base: String,
    /// An Android device (getprop, su, adb root); else a Linux board
    /// (uname, sudo or doas).
    pub android: bool,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout::android()
    }
}

impl Layout {
    /// An Android device: adb's shell user (uid 2000) owns `/data/local/tmp`.
    pub fn android() -> Layout {
        Layout {
            root_base: "/data/local/cargo-xdp".into(),
            above: ["/", "/data", "/data/local"].map(String::from).to_vec(),
            system_uid: 1000,
            staging_base: "/data/local/tmp/cargo-xdp".into(),
            android: true,
        }
    }

    /// A Linux board whose login user's home is `home` (root's own, /root,
    /// when the login is root).
    pub fn board(home: &str) -> Layout {
        Layout {
            root_base: "/opt/cargo-xdp".into(),
            above: ["/", "/opt"].map(String::from).to_vec(),
            system_uid: 0,
            staging_base: format!("{}/.cargo-xdp", home.trim_end_matches('/')),
            android: false,
        }
    }

    /// Where a deploy's push lands before root copies and checks it.
    pub fn staging_dir(&self, name: &str) -> String {
        format!("{}/.{name}.partial", self.staging_base)
    }

    /// Where a trial's push lands (packet tests or a bench on the device's
    /// kernel): apart from a deploy's, so neither disturbs the other.
    pub fn trial_staging_dir(&self, name: &str) -> String {
        format!("{}/.{name}.try", self.staging_base)
    }

    /// Root's deployed copy of `name`.
    pub fn deployed_dir(&self, name: &str) -> String {
        format!("{}/{name}", self.root_base)
    }

    /// root-entry.sh's layout lines (`b=`, `st=`, `sys=`, the first `for d in`) set to
    /// this layout's values; every other line as it is. Panics when the
    /// script lacks one of them (a test keeps them in step).
    pub fn root_entry_lines(&self, script: &str) -> String {
        let values = [
            ("b=", self.root_base.clone()),
            ("st=", self.staging_base.clone()),
            ("for d in ", format!("{}; do", self.above.join(" "))),
            ("sys=", self.system_uid.to_string()),
        ];
        let mut seen = [false; 4];
        let lines: Vec<String> = script
            .lines()
            .map(|line| {
                for (i, (key, value)) in values.iter().enumerate() {
                    if !seen[i] && line.starts_with(key) {
                        seen[i] = true;
                        return format!("{key}{value}");
                    }
                }
                line.to_string()
            })
            .collect();
        assert!(
            seen.iter().all(|s| *s),
            "root-entry.sh lost a layout line (b=, st=, sys=, for d in)"
        );
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_board_keeps_root_s_files_in_opt_and_stages_in_the_login_home() {
        let board = Layout::board("/home/pi/");
        assert_eq!(board.staging_dir("fw"), "/home/pi/.cargo-xdp/.fw.partial");
        assert_eq!(board.trial_staging_dir("fw"), "/home/pi/.cargo-xdp/.fw.try");
        assert_eq!(board.deployed_dir("fw"), "/opt/cargo-xdp/fw");
        let script = "set -u\nb=/x\nst=/y\nsys=1000\nfor d in / /z; do\necho $d\ndone\n";
        assert_eq!(
            board.root_entry_lines(script),
            "set -u\nb=/opt/cargo-xdp\nst=/home/pi/.cargo-xdp\nsys=0\nfor d in / /opt; do\necho $d\ndone"
        );
    }

    #[test]
    #[should_panic(expected = "lost a layout line")]
    fn a_script_without_its_layout_lines_is_a_bug() {
        Layout::android().root_entry_lines("b=/x\n");
    }
}

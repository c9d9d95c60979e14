//! Choosing a device on the command line: the flags every command that
//! works on a device flattens in, and what they become below (a
//! `DeviceChoice`; with the command's `--adb` off, None: this machine).
//! A new way to reach a device adds its flag and its conversion here.

use clap::Args;

use crate::{adb, session::DeviceChoice};

/// Choosing the device.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// A Linux board over ssh instead of a phone over adb: [USER@]HOST[:PORT]
    /// (your ssh config, agent and known hosts apply; root by login, `sudo -n`
    /// or `doas -n`).
    #[arg(
        long,
        value_name = "[USER@]HOST[:PORT]",
        group = "via",
        conflicts_with = "serial"
    )]
    pub ssh: Option<String>,
    /// Device serial (default: $ANDROID_SERIAL, else the only device).
    #[arg(short = 's', long = "serial", value_name = "SERIAL")]
    pub serial: Option<String>,
    /// Longest any one adb or ssh call may take before it is stopped (a
    /// wedged adb, a device that went away, an su prompt nobody answers).
    #[arg(long, visible_alias = "ssh-timeout", value_name = "SECS", default_value_t = adb::DEFAULT_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub adb_timeout: u64,
}

impl From<DeviceArgs> for DeviceChoice {
    fn from(args: DeviceArgs) -> Self {
        DeviceChoice {
            ssh: args.ssh,
            serial: args.serial,
            adb_timeout: args.adb_timeout,
        }
    }
}

impl DeviceArgs {
    /// The device a command works on: with `--adb` (`adb`) or `--ssh`, the
    /// one these flags choose; else None, this machine.
    pub fn chosen(self, adb: bool) -> Option<DeviceChoice> {
        (adb || self.ssh.is_some()).then(|| self.into())
    }
}

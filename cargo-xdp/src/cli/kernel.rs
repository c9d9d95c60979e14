//! The commands that run the programs through a kernel without attaching
//! them: `test`, `bench`, `check`.

use std::path::PathBuf;

use clap::Args;

use super::{CargoFlags, DeviceArgs};

#[derive(Args, Debug)]
#[command(
    after_help = "The loader's own options (a case's `args`, and what --pcap takes after \
`--`: the template's rules, --prog, --set, --tail) are listed by `cargo xdp loader -- --help`. \
FILTER selects cases whose name or case file contains it."
)]
pub struct TestArgs {
    /// Run only the tests whose name contains this.
    pub filter: Option<String>,
    /// Replay every frame of a capture (pcap or pcapng, Ethernet) instead,
    /// with the options after `--` written into the maps as `attach` would.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// For --pcap: what `attach` takes (e.g. `-- --drop-port udp/53`).
    #[arg(last = true)]
    pub attach_args: Vec<String>,
    /// Run the cases (or replay the capture) on the device's kernel: the
    /// bundle pushed to a place of its own, checked and run by root there,
    /// nothing attached, removed after; no deploy needed.
    #[arg(long, group = "via")]
    pub adb: bool,
    /// The target whose kernel runs the cases: this machine's (the
    /// default), or with --adb the device's.
    #[arg(long)]
    pub target: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub cargo: CargoFlags,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Bench only the cases whose name contains this.
    pub filter: Option<String>,
    /// Runs of each packet per measurement (the kernel times their mean).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Rounds, alternating program and baseline (min/median/max over them).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// On the device's kernel: the bundle pushed to a place of its own,
    /// checked and run by root there, nothing attached; no deploy needed.
    #[arg(long, group = "via")]
    pub adb: bool,
    /// With --adb or --ssh, the target to build for the device (default:
    /// its ABI's, or its `uname -m`'s).
    #[arg(long, requires = "via")]
    pub target: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub cargo: CargoFlags,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// On the device's kernel: the bundle pushed to a place of its own,
    /// checked and run by root there, nothing attached; no deploy needed.
    #[arg(long, group = "via")]
    pub adb: bool,
    /// The target to build for: this machine's (the default), or with
    /// --adb or --ssh the device's (default: its ABI's, or its `uname -m`'s).
    #[arg(long)]
    pub target: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub cargo: CargoFlags,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

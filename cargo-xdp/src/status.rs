//! `cargo xdp status` and `cargo xdp stats`: where the program is attached
//! and its counters, asked of the loader here (through sudo unless root)
//! or on a device over adb.

use std::path::PathBuf;

use anyhow::Result;

use crate::{adb::DeviceChoice, cargo_args::CargoArgs, deploy, run, shell::Shell};

#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// Ask the device over adb (default: this machine, through sudo unless root).
    pub adb: bool,
    pub cargo: CargoArgs,
    pub device: DeviceChoice,
    /// One JSON object, for scripts.
    pub json: bool,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct StatsOptions {
    /// Ask the device over adb (default: this machine, through sudo unless root).
    pub adb: bool,
    pub cargo: CargoArgs,
    pub device: DeviceChoice,
    /// Print again every --interval until Ctrl-C.
    pub watch: bool,
    /// Seconds between samples (up to three decimals).
    pub interval: String,
    /// Stop after this many samples.
    pub count: Option<u64>,
    /// One JSON object per sample.
    pub json: bool,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

pub fn status(args: &StatusOptions, shell: &Shell) -> Result<()> {
    let mut loader = vec!["status"];
    if args.json || !shell.human() {
        loader.push("--json");
    }
    ask_loader(
        args.adb,
        &args.device,
        &args.cargo,
        args.manifest_path.as_deref(),
        &loader,
        shell,
    )
}

pub fn stats(args: &StatsOptions, shell: &Shell) -> Result<()> {
    let count = args.count.map(|c| c.to_string());
    let mut loader = vec!["stats", "--interval", args.interval.as_str()];
    if args.watch {
        loader.push("--watch");
    }
    if let Some(count) = &count {
        loader.extend(["--count", count]);
    }
    if args.json || !shell.human() {
        loader.push("--json");
    }
    ask_loader(
        args.adb,
        &args.device,
        &args.cargo,
        args.manifest_path.as_deref(),
        &loader,
        shell,
    )
}

/// The loader's command `loader`, on the device (`adb`) or here.
fn ask_loader(
    adb: bool,
    device: &DeviceChoice,
    cargo: &CargoArgs,
    manifest_path: Option<&std::path::Path>,
    loader: &[&str],
    shell: &Shell,
) -> Result<()> {
    if adb {
        deploy::on_device(device, manifest_path, loader, shell)
    } else {
        run::on_this_machine(cargo, manifest_path, loader, shell)
    }
}

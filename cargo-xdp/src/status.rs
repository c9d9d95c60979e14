//! `cargo xdp status` and `cargo xdp stats`: where the program is attached
//! and its counters, asked of the loader here (through sudo unless root)
//! or on a device over adb.

use std::path::PathBuf;

use anyhow::Result;

use crate::{
    adb::DeviceChoice,
    builder,
    cargo_args::CargoArgs,
    local::{self, Privilege},
    project::Project,
    session,
    shell::Shell,
};

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
        on_device(device, manifest_path, loader, shell)
    } else {
        on_this_machine(cargo, manifest_path, loader, shell)
    }
}

/// `cargo xdp status --adb` / `stats --adb`: root's deployed loader.
///
/// With --message-format json the loader answers in JSON (its `--json`),
/// each object wrapped in a `loader-answer` message; else its text is shown as is.
pub fn on_device(
    device_args: &DeviceChoice,
    manifest_path: Option<&std::path::Path>,
    loader_args: &[&str],
    shell: &Shell,
) -> Result<()> {
    let project = Project::find(manifest_path)?;
    let loader_command = loader_args.first().copied().unwrap_or_default();
    session::run_on_device(device_args, &project, loader_args, |serial, line| {
        if shell.human() {
            println!("{}", crate::shell::harmless(line));
        } else if let Some(message) =
            crate::messages::loader_answer(Some(serial), loader_command, line)
        {
            shell.message(&message);
        }
    })
}

/// `cargo xdp status` / `stats` here: the loader of this machine's build,
/// with `loader_args`, as root.
fn on_this_machine(
    cargo: &CargoArgs,
    manifest_path: Option<&std::path::Path>,
    loader_args: &[&str],
    shell: &Shell,
) -> Result<()> {
    let what = format!("`cargo xdp {}`", loader_args.first().unwrap_or(&"status"));
    let privilege = Privilege::acquire(&what, shell)?;
    let project = Project::find_with(manifest_path, cargo)?;
    let built = builder::build_for_host(&project, cargo, shell)?;
    local::run_loader(&privilege, &built.loader, loader_args, shell)
}

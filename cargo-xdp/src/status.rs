//! `cargo xdp status`, `cargo xdp stats` and `cargo xdp loader`: where the
//! program is attached, its counters, or any command of the loader, asked
//! of the loader here (through sudo unless root) or of root's deployed copy
//! on a device over adb.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::{
    builder, cargo_args::CargoArgs, host::LoaderHost, loader_place::LoaderPlace,
    session::DeviceChoice, shell::Shell,
};

#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// Ask this device (None: this machine, through sudo unless root).
    pub device: Option<DeviceChoice>,
    pub cargo: CargoArgs,
    /// One JSON object, for scripts.
    pub json: bool,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct StatsOptions {
    /// Ask this device (None: this machine, through sudo unless root).
    pub device: Option<DeviceChoice>,
    pub cargo: CargoArgs,
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

#[derive(Debug, Clone)]
pub struct LoaderOptions {
    /// Root's deployed copy on this device (None: this machine's build).
    pub device: Option<DeviceChoice>,
    pub cargo: CargoArgs,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
    /// The loader's command and its options.
    pub args: Vec<String>,
}

/// Options that make the loader open a file or directory it is named: on a
/// device, root would open what the shell user may still change.
const NOT_ON_A_DEVICE: [&str; 4] = ["--object", "--bpffs", "--tracefs", "test-run"];

pub fn loader(args: &LoaderOptions, shell: &Shell) -> Result<()> {
    let words: Vec<&str> = args.args.iter().map(String::as_str).collect();
    if args.device.is_some() {
        if let Some(word) = words.iter().find(|w| {
            NOT_ON_A_DEVICE
                .iter()
                .any(|n| **w == *n || w.starts_with(&format!("{n}=")))
        }) {
            bail!(
                "`{word}` is not taken through `cargo xdp loader --adb`: root on the device would \
                 open a file the shell user can change. Deploy what you want root to run \
                 (`cargo xdp deploy --adb IFACE`), and test with `cargo xdp test --adb`"
            );
        }
    }
    ask_loader(
        args.device.as_ref(),
        &args.cargo,
        args.manifest_path.as_deref(),
        &words,
        "`cargo xdp loader`",
        shell,
    )
}

pub fn status(args: &StatusOptions, shell: &Shell) -> Result<()> {
    let mut loader = vec!["status"];
    if args.json || !shell.human() {
        loader.push("--json");
    }
    ask_loader(
        args.device.as_ref(),
        &args.cargo,
        args.manifest_path.as_deref(),
        &loader,
        "`cargo xdp status`",
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
        args.device.as_ref(),
        &args.cargo,
        args.manifest_path.as_deref(),
        &loader,
        "`cargo xdp stats`",
        shell,
    )
}

/// The loader's command `loader`, on `device` or here.
///
/// With --message-format json the loader answers in JSON (its `--json`),
/// each object wrapped in a `loader-answer` message; else its text is shown
/// as is (a device's made harmless first).
fn ask_loader(
    device: Option<&DeviceChoice>,
    cargo: &CargoArgs,
    manifest_path: Option<&Path>,
    loader: &[&str],
    what: &str,
    shell: &Shell,
) -> Result<()> {
    // Help and the object's maps need no root: no sudo prompt for them.
    let needs_root = !matches!(loader.first(), Some(&("--help" | "-h" | "help" | "maps")));
    let place = LoaderPlace {
        device,
        cargo,
        manifest_path,
        what,
        needs_root,
    };
    place.with_host(
        shell,
        |project| Ok(builder::build_for_host(project, cargo, shell)?.loader),
        |host, _| show_answers(host, loader, shell),
    )
}

/// What `host`'s loader answers to `args`, shown as the output format asks.
fn show_answers(host: &dyn LoaderHost, args: &[&str], shell: &Shell) -> Result<()> {
    let command = args.first().copied().unwrap_or_default();
    host.run(args, &mut |line| {
        if shell.human() {
            println!("{}", crate::shell::harmless(line));
        } else if let Some(message) = crate::messages::loader_answer(host.serial(), command, line) {
            shell.message(&message);
        }
    })
}

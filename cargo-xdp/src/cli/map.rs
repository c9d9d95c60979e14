//! `cargo xdp map ...`: the map subcommands' clap definitions.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CargoFlags, DeviceArgs};

#[derive(Subcommand, Debug)]
pub enum MapCommand {
    /// Every entry of a map by field, pinned or the attached program's
    /// (here, or on a device with --adb); per-CPU values per CPU and summed.
    Dump(MapDumpArgs),
}

#[derive(Args, Debug)]
#[command(
    after_help = "The types come from the BTF of this machine's build of the project's kern objects (`-g`, which cargo xdp build always passes): on a device, of the same sources. Maps whose key and value have no BTF type (legacy maps without BPF_ANNOTATE_KV_PAIR, maps declared with key_size/value_size) show in hex, said once."
)]
pub struct MapDumpArgs {
    /// The map's name in the kern source (`cargo xdp loader -- maps` lists them).
    pub map: String,
    /// Ask the device over adb, as root (after a deploy).
    #[arg(long, group = "via")]
    pub adb: bool,
    /// Keys and values in hex, as the loader's `map dump` prints them.
    #[arg(long)]
    pub hex: bool,
    /// One JSON object: the map, the object that typed it, every entry.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cargo: CargoFlags,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

//! Command-line interface. Works as `cargo xdp ...` (cargo passes `xdp` as
//! the first argument), as `cargo-xdp xdp ...` and as `cargo-xdp ...`.

use std::{ffi::OsString, path::PathBuf};

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    builder, cargo_args::CargoArgs, deploy, doctor, new, run, shell::Shell, upgrade, vmlinux,
};

#[derive(Parser, Debug)]
#[command(
    name = "cargo-xdp",
    bin_name = "cargo xdp",
    version,
    about = "Scaffold, build, bundle and run XDP (eBPF) packet filters for Linux and Android"
)]
pub struct Cli {
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Show the commands run (clang, cargo); passed on to cargo (-vv: very verbose).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// `json`: one JSON object per line on stdout, for scripts.
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    /// Coloring: auto, always, never (default: $CARGO_TERM_COLOR, else auto).
    #[arg(long, global = true, value_enum, value_name = "WHEN")]
    pub color: Option<ColorChoice>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new project: NAME_kern (C) and NAME_user (Rust loader).
    New(NewArgs),
    /// Compile the kern sources and the loader, and write the bundle.
    Build(BuildArgs),
    /// Build, attach on this machine, show counters until Ctrl-C, detach.
    Run(RunArgs),
    /// Run the packet tests (<kern dir>/tests/*.toml) through the kernel
    /// (BPF_PROG_TEST_RUN), like `cargo test`.
    Test(TestArgs),
    /// ns per packet of the program on the packet tests' packets, next to a
    /// bare XDP_PASS program, as a ratio (BPF_PROG_TEST_RUN, repeated).
    Bench(BenchArgs),
    /// Build, push to a device over adb, attach as root, verify.
    Deploy(DeployArgs),
    /// Show where the program is attached (here, or on a device with --adb).
    Status(StatusArgs),
    /// Show the program's counters (here, or on a device with --adb).
    Stats(StatsArgs),
    /// Check what each target needs (clang, NDK, Rust targets, adb, device).
    Doctor(DoctorArgs),
    /// Write vmlinux.h (for CO-RE programs) from a kernel's BTF.
    Vmlinux(VmlinuxArgs),
    /// Move the project's loader to this cargo-xdp's runtime (cargo-xdp-loader).
    Upgrade(UpgradeArgs),
    /// Print a shell completion script (for `cargo-xdp`), e.g.
    /// `cargo xdp completions bash > ~/.local/share/bash-completion/completions/cargo-xdp`.
    Completions(CompletionsArgs),
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct UpgradeArgs {
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VmlinuxArgs {
    /// From the device's kernel over adb (default: this machine's).
    #[arg(long, conflicts_with = "btf")]
    pub adb: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// From a BTF file (a copy of some kernel's /sys/kernel/btf/vmlinux).
    #[arg(long, value_name = "FILE")]
    pub btf: Option<PathBuf>,
    /// Where to write it (default: the project's kern include/vmlinux.h, else ./vmlinux.h).
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

/// Choosing the device.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Device serial (default: $ANDROID_SERIAL, else the only device).
    #[arg(short = 's', long = "serial", value_name = "SERIAL")]
    pub serial: Option<String>,
    /// Longest any one adb call may take before it is stopped (a wedged
    /// adb, a device that went away, an su prompt nobody answers).
    #[arg(long, value_name = "SECS", default_value_t = crate::adb::DEFAULT_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub adb_timeout: u64,
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Deploy over adb (the transport; required).
    #[arg(long, required = true)]
    pub adb: bool,
    /// Interface on the device to attach to (e.g. wlan0).
    pub interface: String,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Deploy to every connected device, in parallel.
    #[arg(long, conflicts_with = "serial")]
    pub all_devices: bool,
    /// Target to build (default: from the device's ro.product.cpu.abi).
    #[arg(long)]
    pub target: Option<String>,
    /// auto (native, else skb), skb or native.
    #[arg(long, default_value = "auto")]
    pub mode: String,
    /// Build with the dev profile (deploy builds release by default).
    #[arg(long, conflicts_with_all = ["release", "profile"])]
    pub debug: bool,
    #[command(flatten)]
    pub cargo: CargoArgs,
    /// Detach from the interface instead of deploying.
    #[arg(long)]
    pub detach: bool,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
    /// Android NDK to use.
    #[arg(long, value_name = "PATH")]
    pub ndk: Option<PathBuf>,
    /// Android API level to link against.
    #[arg(long, value_name = "LEVEL")]
    pub api: Option<u32>,
    /// Passed to the loader's `attach` (e.g. `-- --prog xdp_drop` or filter rules).
    #[arg(last = true)]
    pub attach_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Ask the device over adb (default: this machine, through sudo unless root).
    #[arg(long)]
    pub adb: bool,
    #[command(flatten)]
    pub cargo: CargoArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// One JSON object, for scripts.
    #[arg(long)]
    pub json: bool,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Ask the device over adb (default: this machine, through sudo unless root).
    #[arg(long)]
    pub adb: bool,
    #[command(flatten)]
    pub cargo: CargoArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print again every --interval until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between samples (up to three decimals).
    #[arg(long, default_value = "1")]
    pub interval: String,
    /// Stop after this many samples.
    #[arg(long)]
    pub count: Option<u64>,
    /// One JSON object per sample.
    #[arg(long)]
    pub json: bool,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// Project name: letters, digits, `_` and `-`, starting with a letter.
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// Template to start from (see --list).
    #[arg(long, short, default_value = "filter")]
    pub template: String,
    /// Directory to create (default: ./NAME).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// List the templates and exit.
    #[arg(long)]
    pub list: bool,
    /// Version control for the new project: git (unless already inside a
    /// git repository, as cargo does) or none.
    #[arg(long, value_enum, default_value_t = Vcs::Git)]
    pub vcs: Vcs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Vcs {
    Git,
    None,
}

#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    #[command(flatten)]
    pub cargo: CargoArgs,
    /// Target(s) to build, comma-separated: a name, a Rust triple or an
    /// Android ABI (default: the project's, else this machine's).
    #[arg(long, value_delimiter = ',', conflicts_with = "all_targets")]
    pub target: Vec<String>,
    /// Build every target in toolchains/.
    #[arg(long)]
    pub all_targets: bool,
    /// Android NDK to use (default: $ANDROID_NDK_HOME and friends, then the SDK's ndk/).
    #[arg(long, value_name = "PATH")]
    pub ndk: Option<PathBuf>,
    /// Android API level to link against (default: `api` in the metadata, else 21).
    #[arg(long, value_name = "LEVEL")]
    pub api: Option<u32>,
    /// Run `rustup target add` for Rust targets that are missing.
    #[arg(long)]
    pub install_targets: bool,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Interface to attach to.
    pub interface: String,
    /// auto (native, else skb), skb or native.
    #[arg(long, default_value = "auto")]
    pub mode: String,
    #[command(flatten)]
    pub cargo: CargoArgs,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
    /// Seconds between counter updates.
    #[arg(long, default_value = "1")]
    pub interval: f64,
    /// Passed to the loader's `attach` (e.g. `-- --prog xdp_drop` or filter rules).
    #[arg(last = true)]
    pub attach_args: Vec<String>,
}

#[derive(Args, Debug)]
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
    /// Run the cases on the device's kernel, through the deployed loader
    /// (deploy first: the bundle carries the cases).
    #[arg(long, conflicts_with = "pcap")]
    pub adb: bool,
    /// The target whose kernel runs the cases: this machine's (the
    /// default), or with --adb the device's.
    #[arg(long)]
    pub target: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub cargo: CargoArgs,
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
    /// On the device's kernel, through the deployed loader (deploy first).
    #[arg(long)]
    pub adb: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub cargo: CargoArgs,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Target(s) to check, comma-separated (default: all; the project's decide the exit code).
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Also require what `deploy` needs (adb, a connected device).
    #[arg(long)]
    pub deploy: bool,
    /// Same as --message-format json.
    #[arg(long)]
    pub json: bool,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
}

impl Cli {
    /// Parses argv, dropping the `xdp` that cargo inserts for `cargo xdp`.
    pub fn parse_from_cargo(args: impl IntoIterator<Item = OsString>) -> Cli {
        let mut args: Vec<OsString> = args.into_iter().collect();
        if args.get(1).is_some_and(|a| a == "xdp") {
            args.remove(1);
        }
        let mut cli = Cli::parse_from(args);
        if let Command::Doctor(DoctorArgs { json: true, .. }) = cli.command {
            cli.message_format = MessageFormat::Json;
        }
        cli
    }
}

pub fn dispatch(cli: Cli, shell: &Shell) -> Result<()> {
    match cli.command {
        Command::New(args) => new::new(&args, shell),
        Command::Build(args) => builder::build(&args, shell).map(|_| ()),
        Command::Run(args) => run::run(&args, shell),
        Command::Test(args) => crate::packet_test::test(&args, shell),
        Command::Bench(args) => crate::bench::bench(&args, shell),
        Command::Doctor(args) => doctor::doctor(&args, shell),
        Command::Vmlinux(args) => vmlinux::vmlinux(&args, shell),
        Command::Upgrade(args) => upgrade::upgrade(&args, shell),
        Command::Completions(args) => {
            // For the `cargo-xdp` executable: "cargo xdp" (our usage
            // name) is two words to a shell.
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut command, "cargo-xdp", &mut script);
            if args.shell == clap_complete::Shell::Bash {
                // clap_complete 4.6 names bash's cases for `cargo-xdp build`
                // `cargo__xdp__subcmd__build` in one place and
                // `cargo__subcmd__xdp__subcmd__build` in another (a `-` in
                // the executable's name): make the second match the first.
                let text =
                    String::from_utf8_lossy(&script).replace("cargo__subcmd__xdp", "cargo__xdp");
                script = text.into_bytes();
            }
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Command::Deploy(args) => deploy::deploy(&args, shell),
        Command::Status(args) => {
            let mut loader = vec!["status"];
            if args.json || !shell.human() {
                loader.push("--json");
            }
            if args.adb {
                deploy::on_device(&args.device, args.manifest_path.as_deref(), &loader, shell)
            } else {
                run::on_this_machine(&args.cargo, args.manifest_path.as_deref(), &loader, shell)
            }
        }
        Command::Stats(args) => {
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
            if args.adb {
                deploy::on_device(&args.device, args.manifest_path.as_deref(), &loader, shell)
            } else {
                run::on_this_machine(&args.cargo, args.manifest_path.as_deref(), &loader, shell)
            }
        }
    }
}

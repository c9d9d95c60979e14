//! Command-line interface. Works as `cargo xdp ...` (cargo passes `xdp` as
//! the first argument), as `cargo-xdp xdp ...` and as `cargo-xdp ...`.

use std::{ffi::OsString, path::PathBuf};

mod device;
mod kernel;
mod map;
mod options;

pub use device::DeviceArgs;
pub use kernel::{BenchArgs, CheckArgs, TestArgs};
pub use map::{MapCommand, MapDumpArgs};

use clap::{
    builder::PossibleValuesParser, builder::TypedValueParser, Args, Parser, Subcommand, ValueEnum,
};

use crate::{
    attach::AttachMode,
    bench, builder,
    cargo_args::CargoArgs,
    check, deploy, doctor, log, map_dump, new, packet_test, run,
    shell::{ColorChoice, MessageFormat},
    status, trace_view, upgrade, vmlinux,
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
    #[arg(long, global = true, default_value = "human", value_parser = message_format())]
    pub message_format: MessageFormat,
    /// Coloring: auto, always, never (default: $CARGO_TERM_COLOR, else auto).
    #[arg(long, global = true, value_name = "WHEN", value_parser = color_choice())]
    pub color: Option<ColorChoice>,
    #[command(subcommand)]
    pub command: Command,
}

/// `--message-format`: the shell's `MessageFormat`, spelt as on the command line.
fn message_format() -> impl TypedValueParser<Value = MessageFormat> {
    PossibleValuesParser::new(["human", "json"]).map(|format| match format.as_str() {
        "json" => MessageFormat::Json,
        _ => MessageFormat::Human,
    })
}

/// `--mode`: an `AttachMode`.
fn attach_mode(text: &str) -> Result<AttachMode, String> {
    AttachMode::parse(text).map_err(|e| e.to_string())
}

/// `--color`: the shell's `ColorChoice`.
fn color_choice() -> impl TypedValueParser<Value = ColorChoice> {
    PossibleValuesParser::new(["auto", "always", "never"]).map(|choice| match choice.as_str() {
        "always" => ColorChoice::Always,
        "never" => ColorChoice::Never,
        _ => ColorChoice::Auto,
    })
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
    /// Load every program through the verifier (here, or on a device's
    /// kernel with --adb/--ssh), nothing attached: the `cargo check` of BPF.
    Check(CheckArgs),
    /// Build, push to a device over adb, attach as root, verify.
    Deploy(DeployArgs),
    /// Show where the program is attached (here, or on a device with --adb).
    Status(StatusArgs),
    /// Show the program's counters (here, or on a device with --adb).
    Stats(StatsArgs),
    /// Follow the kernel's trace pipe (here, or on a device with --adb):
    /// what programs wrote with bpf_printk / xdp_log, until Ctrl-C.
    Log(LogArgs),
    /// A map's entries by field (pinned, or the attached program's), as
    /// the object's BTF types them.
    #[command(subcommand)]
    Map(MapCommand),
    /// Run one of the loader's commands as root: this machine's build, or
    /// with --adb root's deployed copy (e.g. `-- rules --delete --drop-port
    /// udp/1900`; the template's commands are in the project README and in
    /// `-- --help`).
    Loader(LoaderArgs),
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
    #[arg(long, conflicts_with = "btf", group = "via")]
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

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Deploy to an Android device over adb (or to a board with --ssh).
    #[arg(long, required_unless_present = "ssh", group = "via")]
    pub adb: bool,
    /// Interface on the device to attach to (e.g. wlan0).
    pub interface: String,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Deploy to every connected device, in parallel.
    #[arg(long, conflicts_with_all = ["serial", "ssh"])]
    pub all_devices: bool,
    /// Target to build (default: from the device's ro.product.cpu.abi).
    #[arg(long)]
    pub target: Option<String>,
    /// auto (native, else skb), skb or native.
    #[arg(long, default_value = "auto", value_parser = attach_mode)]
    pub mode: AttachMode,
    /// Build with the dev profile (deploy builds release by default).
    #[arg(long, conflicts_with_all = ["release", "profile"])]
    pub debug: bool,
    #[command(flatten)]
    pub cargo: CargoFlags,
    /// Detach from the interface instead of deploying, and take root's
    /// copy of the project off the device when nothing of it runs there.
    #[arg(long)]
    pub detach: bool,
    /// With --detach: leave root's copy of the project on the device.
    #[arg(long, requires = "detach")]
    pub keep_files: bool,
    /// Attach again at every boot, from root's checked copy: through
    /// Magisk/KernelSU's service.d on a phone, systemd, OpenWrt's procd or
    /// /etc/init.d on a board (found on the device, or named here).
    #[arg(long, value_name = "HOW", num_args = 0..=1, default_missing_value = "auto",
          value_parser = ["auto", "service.d", "systemd", "procd", "initd"], conflicts_with_all = ["detach", "all_devices"])]
    pub persist: Option<String>,
    /// Start every pinned map empty (counters, rules, state): else maps
    /// whose definition is unchanged are kept, and those whose capacity
    /// changed keep their entries.
    #[arg(long)]
    pub reset_maps: bool,

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
    #[arg(long, group = "via")]
    pub adb: bool,
    #[command(flatten)]
    pub cargo: CargoFlags,
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
pub struct LoaderArgs {
    /// Root's deployed copy on the device over adb (default: this
    /// machine's build, through sudo unless root).
    #[arg(long, group = "via")]
    pub adb: bool,
    #[command(flatten)]
    pub cargo: CargoFlags,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
    /// The loader's command and its options, after `--` (`-- --help` lists them).
    #[arg(last = true, required = true, value_name = "LOADER ARGS")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Ask the device over adb (default: this machine, through sudo unless root).
    #[arg(long, group = "via")]
    pub adb: bool,
    #[command(flatten)]
    pub cargo: CargoFlags,
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
#[command(
    after_help = "The trace pipe is the kernel's one buffer for every program's bpf_printk: \
reading it takes the lines away from any other reader. Lines show as TIME TASK MESSAGE, where \
TASK is whatever the CPU ran when the packet came (often <idle>-0 or ksoftirqd)."
)]
pub struct LogArgs {
    /// Follow the device's trace pipe over adb, as root (after a deploy).
    #[arg(long, group = "via")]
    pub adb: bool,
    /// Only this project's lines: those its `xdp_log` wrote (`NAME: ...`).
    #[arg(long, conflicts_with = "all")]
    pub ours: bool,
    /// Every event of the trace pipe, not only bpf_printk's.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub cargo: CargoFlags,
    #[command(flatten)]
    pub device: DeviceArgs,
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

impl From<Vcs> for new::Vcs {
    fn from(vcs: Vcs) -> Self {
        match vcs {
            Vcs::Git => new::Vcs::Git,
            Vcs::None => new::Vcs::None,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    #[command(flatten)]
    pub cargo: CargoFlags,
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
    #[arg(long, default_value = "auto", value_parser = attach_mode)]
    pub mode: AttachMode,
    #[command(flatten)]
    pub cargo: CargoFlags,
    /// Path to the project's Cargo.toml.
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
    /// Seconds between counter updates.
    #[arg(long, default_value = "1")]
    pub interval: f64,
    /// Start every pinned map empty (counters, rules, state): else maps
    /// whose definition is unchanged are kept, and those whose capacity
    /// changed keep their entries.
    #[arg(long)]
    pub reset_maps: bool,
    /// Show this project's `xdp_log` lines (the kernel's trace pipe) among
    /// the counters.
    #[arg(long)]
    pub log: bool,
    /// Passed to the loader's `attach` (e.g. `-- --prog xdp_drop` or filter rules).
    #[arg(last = true)]
    pub attach_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Target(s) to check, comma-separated (default: all; the project's decide the exit code).
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Also require what `deploy` needs, asking the device: adb, a way to
    /// root (uid 0, `adb root`, an su that answers), the sha256 tool,
    /// SELinux, the kernel, the interface.
    #[arg(long)]
    pub deploy: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// With --deploy: the interface the deploy would attach to (e.g. wlan0).
    #[arg(long, requires = "deploy", value_name = "IFACE")]
    pub interface: Option<String>,
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

/// The completion script for `cargo-xdp` in `shell`'s language.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    // For the `cargo-xdp` executable: "cargo xdp" (our usage name) is two
    // words to a shell.
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "cargo-xdp", &mut script);
    if shell == clap_complete::Shell::Bash {
        // clap_complete 4.6 names bash's cases for `cargo-xdp build`
        // `cargo__xdp__subcmd__build` in one place and
        // `cargo__subcmd__xdp__subcmd__build` in another (a `-` in the
        // executable's name): make the second match the first.
        let text = String::from_utf8_lossy(&script).replace("cargo__subcmd__xdp", "cargo__xdp");
        script = text.into_bytes();
    }
    script
}

/// cargo's own flags, taken by every command that builds the loader.
#[derive(Args, Debug, Clone, Default)]
pub struct CargoFlags {
    /// Build with the release profile (small, optimized loader).
    #[arg(long, short, conflicts_with = "profile")]
    pub release: bool,
    /// Build with the named cargo profile (dev, release, or one of the project's).
    #[arg(long, value_name = "PROFILE-NAME")]
    pub profile: Option<String>,
    /// Features of the loader crate to activate (space or comma separated).
    #[arg(long, short = 'F', value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all features of the loader crate.
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the loader crate's `default` feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// Run without accessing the network.
    #[arg(long)]
    pub offline: bool,
    /// Assert that Cargo.lock will remain unchanged.
    #[arg(long)]
    pub locked: bool,
    /// Both --locked and --offline.
    #[arg(long)]
    pub frozen: bool,
    /// Number of parallel jobs for cargo (default: the number of CPUs).
    #[arg(long, short = 'j', value_name = "N", allow_hyphen_values = true)]
    pub jobs: Option<String>,
    /// Directory for all generated artifacts (cargo's and target/xdp).
    #[arg(long, value_name = "DIRECTORY")]
    pub target_dir: Option<PathBuf>,
    /// Override a cargo configuration value (KEY=VALUE, or a TOML file).
    #[arg(long, value_name = "KEY=VALUE|PATH")]
    pub config: Vec<String>,
}

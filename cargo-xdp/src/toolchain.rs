//! Targets: one `toolchains/<name>.toml` each, embedded at build time, so
//! adding a target is adding a file.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::{embedded::TOOLCHAIN_FILES, isa::BpfCpu};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub description: String,
    /// Rust target triple of the loader.
    pub triple: String,
    /// libbpf's arch name for -D__TARGET_ARCH_<arch>.
    pub bpf_arch: BpfArch,
    /// Debian's name of the architecture whose kernel uapi headers (asm/)
    /// the kern compiles read: amd64, arm64, armhf, i386 (see uapi.rs).
    pub uapi_arch: String,
    /// ELF machine the loader must have: x86_64 or aarch64.
    pub elf_machine: ElfMachine,
    /// Built through an Android NDK (its clang for kern sources and as linker).
    #[serde(default)]
    pub ndk: bool,
    /// `ro.product.cpu.abi` of Android devices this target runs on.
    #[serde(default)]
    pub android_abi: Option<String>,
    /// Linker cargo uses for the loader (default: cargo's own choice, or the NDK's).
    #[serde(default)]
    pub linker: Option<String>,
    /// How to install `linker` where it is not rustc's own rust-lld (the
    /// fix an error names when it is not on PATH).
    #[serde(default)]
    pub linker_install: Option<String>,
    /// The loader must be a static executable (needs no shared libraries).
    #[serde(default)]
    pub static_loader: bool,
    /// ELF interpreter the loader must request (PIE on Android).
    #[serde(default)]
    pub interpreter: Option<String>,
    /// Page size the loader's LOAD segments must be aligned to (also passed
    /// to the linker as max-page-size).
    #[serde(default)]
    pub page_size: Option<u64>,
    /// The NDK's clang prefix (`<triple><api>-clang`, `--target=`), where it
    /// is not the Rust triple (armv7-linux-androideabi: armv7a-linux-androideabi).
    #[serde(default)]
    pub ndk_clang_triple: Option<String>,
    /// The NDK sysroot's directory (`usr/lib/<dir>`, `usr/include/<dir>`),
    /// where it is not the Rust triple (armv7: arm-linux-androideabi).
    #[serde(default)]
    pub ndk_sysroot_triple: Option<String>,
    /// The BPF instruction set kern objects get unless the project raises it.
    pub bpf_cpu: BpfCpu,
    /// Other names `--target` takes for it: android-armv7's loader is a
    /// Linux one, yet cargo-ndk users know it as armv7-linux-androideabi.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// libbpf's name of an architecture (`-D__TARGET_ARCH_<arch>`, what
/// `bpf_tracing.h` reads registers by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BpfArch {
    X86,
    Arm64,
    Arm,
}

impl std::fmt::Display for BpfArch {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            BpfArch::X86 => "x86",
            BpfArch::Arm64 => "arm64",
            BpfArch::Arm => "arm",
        })
    }
}

/// The ELF machine a loader must be built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElfMachine {
    #[serde(rename = "x86_64")]
    X86_64,
    Aarch64,
    /// 32-bit ARM (armeabi-v7a, armv7 boards).
    Arm,
    /// 32-bit x86.
    I386,
}

impl ElfMachine {
    /// The ELF class (and pointer width) of executables for this machine.
    pub fn bits(self) -> u8 {
        match self {
            ElfMachine::X86_64 | ElfMachine::Aarch64 => 64,
            ElfMachine::Arm | ElfMachine::I386 => 32,
        }
    }
}

impl Target {
    /// The linker this target names that must be found on PATH (not
    /// rust-lld, which ships with rustc), with how to install it.
    pub fn external_linker(&self) -> Option<(&str, &str)> {
        let linker = self.linker.as_deref().filter(|l| *l != "rust-lld")?;
        Some((
            linker,
            self.linker_install.as_deref().unwrap_or("install it"),
        ))
    }

    /// The NDK clang's name for this target.
    pub fn clang_triple(&self) -> &str {
        self.ndk_clang_triple.as_deref().unwrap_or(&self.triple)
    }

    /// The NDK sysroot's directory for this target.
    pub fn sysroot_triple(&self) -> &str {
        self.ndk_sysroot_triple.as_deref().unwrap_or(&self.triple)
    }

    /// The loader runs on this machine (no cross toolchain involved).
    pub fn is_host(&self) -> bool {
        self.triple == HOST_TRIPLE
    }
}

/// The Rust triple this cargo-xdp was built for, i.e. the host's.
pub const HOST_TRIPLE: &str = env!("CARGO_XDP_HOST_TRIPLE");

/// All targets, sorted by name.
pub fn all() -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for (file, bytes) in TOOLCHAIN_FILES {
        let Some(stem) = file.strip_suffix(".toml") else {
            continue;
        };
        let text = std::str::from_utf8(bytes).with_context(|| format!("toolchains/{file}"))?;
        let target: Target = toml_edit::de::from_str(text)
            .with_context(|| format!("toolchains/{file} is not valid"))?;
        if target.name != stem {
            bail!(
                "toolchains/{file} names itself `{}`; the file name must match",
                target.name
            );
        }
        targets.push(target);
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(targets)
}

/// The target of this machine, which `build`, `run` and `doctor` take when
/// neither --target nor the project's `targets` names one.
pub fn default_target() -> Result<&'static str> {
    default_for(std::env::consts::OS, std::env::consts::ARCH)
}

fn default_for(os: &str, arch: &str) -> Result<&'static str> {
    match (os, arch) {
        ("linux", "x86_64") => Ok("linux-x86_64"),
        ("linux", "aarch64") => Ok("linux-arm64"),
        _ => bail!(
            "this machine ({arch} {os}) is none of cargo-xdp's targets, so there is no default \
             one: pass --target (see `cargo xdp doctor`), or set `targets` in \
             [workspace.metadata.xdp]"
        ),
    }
}

/// A target by its name (`android-arm64`), its Rust triple
/// (`aarch64-linux-android`) or, for Android, its ABI (`arm64-v8a`), as
/// cargo-ndk users write it.
pub fn find(name: &str) -> Result<Target> {
    let targets = all()?;
    // A name or an ABI names one target; a Linux triple that an Android
    // target borrows for its loader names the Linux target.
    let by_name = |t: &&Target| {
        t.name == name
            || t.android_abi.as_deref() == Some(name)
            || t.aliases.iter().any(|a| a == name)
    };
    let by_triple = |t: &&Target| t.triple == name;
    let found = (targets.iter().find(by_name)).or_else(|| {
        targets
            .iter()
            .filter(by_triple)
            .min_by_key(|t| t.android_abi.is_some())
    });
    if let Some(target) = found {
        return Ok(target.clone());
    }
    let spellings = targets.iter().flat_map(|t| {
        [Some(&t.name), Some(&t.triple), t.android_abi.as_ref()]
            .into_iter()
            .flatten()
            .chain(&t.aliases)
            .map(move |spelling| (spelling.as_str(), t.name.as_str()))
    });
    if let Some(target) = crate::spelling::closest(name, spellings) {
        bail!("unknown target `{name}`; did you mean `{target}`?");
    }
    let known: Vec<_> = targets
        .iter()
        .map(|t| format!("{} ({})", t.name, t.description))
        .collect();
    bail!(
        "unknown target `{name}`; known targets: {} (each also answers to its Rust triple, \
         and Android ones to their ABI, e.g. arm64-v8a)",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target is data: armeabi-v7a, whose three NDK names differ, needs
    /// nothing but its file (what toolchains/ would hold for it).
    #[test]
    fn a_32_bit_android_target_is_one_file_of_data() {
        let target: Target = toml_edit::de::from_str(
            r#"
name = "android-armv7"
description = "Android, armeabi-v7a"
triple = "armv7-linux-androideabi"
ndk_clang_triple = "armv7a-linux-androideabi"
ndk_sysroot_triple = "arm-linux-androideabi"
bpf_arch = "arm"
uapi_arch = "armhf"
elf_machine = "arm"
ndk = true
android_abi = "armeabi-v7a"
interpreter = "/system/bin/linker"
page_size = 16384
bpf_cpu = "v2"
"#,
        )
        .unwrap();
        assert_eq!(target.clang_triple(), "armv7a-linux-androideabi");
        assert_eq!(target.sysroot_triple(), "arm-linux-androideabi");
        assert_eq!(
            (target.bpf_arch, target.elf_machine),
            (BpfArch::Arm, ElfMachine::Arm)
        );
        let arm64 = find("android-arm64").unwrap();
        assert_eq!(arm64.clang_triple(), arm64.triple);
    }

    #[test]
    fn every_toolchain_file_parses() {
        let targets = all().unwrap();
        assert!(targets.iter().any(|t| t.name == default_target().unwrap()));
    }

    #[test]
    fn the_default_is_this_machine_s_target() {
        assert_eq!(default_for("linux", "x86_64").unwrap(), "linux-x86_64");
        assert_eq!(default_for("linux", "aarch64").unwrap(), "linux-arm64");
        let error = default_for("linux", "riscv64").unwrap_err().to_string();
        assert!(
            error.contains("riscv64 linux") && error.contains("--target"),
            "{error}"
        );
        assert!(default_for("macos", "aarch64").is_err());
    }

    #[test]
    fn targets_answer_to_triples_and_abis() {
        for (spelling, name) in [
            ("aarch64-linux-android", "android-arm64"),
            ("arm64-v8a", "android-arm64"),
            ("x86_64", "android-x86_64"),
            ("x86_64-linux-android", "android-x86_64"),
            ("aarch64-unknown-linux-musl", "linux-arm64"),
            ("x86_64-unknown-linux-gnu", "linux-x86_64"),
            ("armeabi-v7a", "android-armv7"),
            // cargo-ndk's name, though its loader is a Linux one...
            ("armv7-linux-androideabi", "android-armv7"),
            // ...whose triple names the Linux target.
            ("armv7-unknown-linux-gnueabihf", "linux-armv7"),
        ] {
            assert_eq!(find(spelling).unwrap().name, name, "{spelling}");
        }
    }

    #[test]
    fn near_misses_get_a_did_you_mean() {
        let error = |name| find(name).unwrap_err().to_string();
        assert!(error("android-arm46").contains("did you mean `android-arm64`?"));
        assert!(error("arm64-v8").contains("did you mean `android-arm64`?"));
        assert!(error("linux-x86-64").contains("did you mean `linux-x86_64`?"));
        assert!(error("aarch64-linux-androideabi").contains("did you mean `android-arm64`?"));
    }

    #[test]
    fn the_targets_of_the_design_exist() {
        let names: Vec<String> = all().unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "android-arm64",
                "android-armv7",
                "android-x86_64",
                "linux-arm64",
                "linux-armv7",
                "linux-x86_64"
            ]
        );
        for name in ["android-armv7", "linux-armv7"] {
            let arm = find(name).unwrap();
            assert!(arm.static_loader && arm.elf_machine.bits() == 32, "{name}");
        }
        let phone = find("android-arm64").unwrap();
        assert!(phone.ndk && phone.page_size == Some(16384));
        assert!(find("linux-arm64").unwrap().static_loader);
    }

    #[test]
    fn unknown_target_lists_known_ones() {
        let error = find("android-mips").unwrap_err().to_string();
        assert!(error.contains("linux-x86_64"), "{error}");
    }
}

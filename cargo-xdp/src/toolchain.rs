//! Targets: one `toolchains/<name>.toml` each, embedded at build time, so
//! adding a target is adding a file.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::{embedded::TOOLCHAIN_FILES, isa::BpfCpu};

pub const DEFAULT_TARGET: &str = "linux-x86_64";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub description: String,
    /// Rust target triple of the loader.
    pub triple: String,
    /// libbpf's arch name for -D__TARGET_ARCH_<arch>.
    pub bpf_arch: String,
    /// ELF machine the loader must have: x86_64 or aarch64.
    pub elf_machine: String,
    /// Built through an Android NDK (its clang for kern sources and as linker).
    #[serde(default)]
    pub ndk: bool,
    /// `ro.product.cpu.abi` of Android devices this target runs on.
    #[serde(default)]
    pub android_abi: Option<String>,
    /// Linker cargo uses for the loader (default: cargo's own choice, or the NDK's).
    #[serde(default)]
    pub linker: Option<String>,
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
    /// The BPF instruction set kern objects get unless the project raises it.
    pub bpf_cpu: BpfCpu,
}

impl Target {
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

pub fn find(name: &str) -> Result<Target> {
    let targets = all()?;
    if let Some(target) = targets.iter().find(|t| t.name == name) {
        return Ok(target.clone());
    }
    let known: Vec<_> = targets
        .iter()
        .map(|t| format!("{} ({})", t.name, t.description))
        .collect();
    bail!(
        "unknown target `{name}`; known targets: {}",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_toolchain_file_parses() {
        let targets = all().unwrap();
        assert!(targets.iter().any(|t| t.name == DEFAULT_TARGET));
    }

    #[test]
    fn the_four_targets_of_the_design_exist() {
        let names: Vec<String> = all().unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "android-arm64",
                "android-x86_64",
                "linux-arm64",
                "linux-x86_64"
            ]
        );
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

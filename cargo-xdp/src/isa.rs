//! The BPF instruction set (`clang -mcpu`) kern objects are compiled for:
//! chosen, never inherited from clang, whose default moved to v3 in clang 20
//! (LLVM PR 107008). A kernel refuses instructions newer than it knows, and
//! most Android 9-11 phones run 4.9-4.19 kernels, so an NDK that moves to a
//! new clang would otherwise make objects those phones refuse.

use std::fmt;

use anyhow::{bail, Result};
use serde::Deserialize;

/// `-mcpu=v1` .. `v4`, each with the first kernel that verifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub enum BpfCpu {
    V1,
    V2,
    V3,
    V4,
}

impl BpfCpu {
    pub fn parse(text: &str) -> Result<BpfCpu> {
        Ok(match text {
            "v1" => BpfCpu::V1,
            "v2" => BpfCpu::V2,
            "v3" => BpfCpu::V3,
            "v4" => BpfCpu::V4,
            other => bail!(
                "`{other}` is not a BPF instruction set: use v1 (any kernel), v2 (4.14+: \
                 BPF_JLT/JLE/JSLT/JSLE), v3 (5.1+: JMP32 and ALU32) or v4 (6.6+)"
            ),
        })
    }

    /// The oldest kernel (major, minor) whose verifier takes it.
    pub fn min_kernel(self) -> (u32, u32) {
        match self {
            BpfCpu::V1 => (3, 18),
            BpfCpu::V2 => (4, 14),
            BpfCpu::V3 => (5, 1),
            BpfCpu::V4 => (6, 6),
        }
    }

    /// `-mcpu=vN` for clang.
    pub fn flag(self) -> String {
        format!("-mcpu={self}")
    }
}

impl fmt::Display for BpfCpu {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let n = *self as u8 + 1;
        write!(f, "v{n}")
    }
}

impl TryFrom<String> for BpfCpu {
    type Error = anyhow::Error;
    fn try_from(text: String) -> Result<BpfCpu> {
        BpfCpu::parse(&text)
    }
}

/// `uname -r` (`4.14.190-perf+`, `5.10.43-android12-9-...`) as (major, minor).
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let kernel = cargo_xdp_wire::variants::KernelVersion::parse(release.trim())?;
    Some((kernel.major.into(), kernel.minor.into()))
}

/// A warning when `release` is older than what `cpu` needs.
pub fn check_kernel(cpu: BpfCpu, release: &str) -> Option<String> {
    let have = kernel_version(release)?;
    let (major, minor) = cpu.min_kernel();
    (have < (major, minor)).then(|| {
        format!(
            "the device runs Linux {}, and the kern objects use BPF instruction set {cpu}, which \
             kernels before {major}.{minor} refuse; set bpf-cpu = \"{}\" in \
             [workspace.metadata.xdp] (or lower) for this device",
            release.trim(),
            lowest_for(have)
        )
    })
}

fn lowest_for(kernel: (u32, u32)) -> BpfCpu {
    [BpfCpu::V4, BpfCpu::V3, BpfCpu::V2, BpfCpu::V1]
        .into_iter()
        .find(|cpu| cpu.min_kernel() <= kernel)
        .unwrap_or(BpfCpu::V1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(BpfCpu::parse("v2").unwrap().flag(), "-mcpu=v2");
        assert!(
            BpfCpu::parse("probe").is_err(),
            "a build must not depend on the build machine"
        );
        assert!(BpfCpu::V3 > BpfCpu::V2);
    }

    #[test]
    fn reads_android_kernel_releases() {
        assert_eq!(kernel_version("4.14.190-perf+"), Some((4, 14)));
        assert_eq!(kernel_version("5.10.43-android12-9-00001-g"), Some((5, 10)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn warns_only_when_the_kernel_is_older() {
        assert_eq!(check_kernel(BpfCpu::V2, "4.14.190"), None);
        let warning = check_kernel(BpfCpu::V3, "4.19.113-perf").unwrap();
        assert!(
            warning.contains("before 5.1") && warning.contains("bpf-cpu = \"v2\""),
            "{warning}"
        );
        assert!(check_kernel(BpfCpu::V2, "4.9.0")
            .unwrap()
            .contains("\"v1\""));
    }
}

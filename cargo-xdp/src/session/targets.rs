//! Which target a probed device takes: a phone's by its ABI
//! (`ro.product.cpu.abi`), a board's by its machine (`uname -m`).

use anyhow::{bail, Result};

use crate::{
    remote::Probe,
    toolchain::{self, Target},
};

/// The target the probed device's ABI (a phone) or machine (a board) takes.
pub fn target_for_device(probe: &Probe, name: &str) -> Result<Target> {
    match probe.layout.android {
        true => target_for_abi(&probe.abi, name),
        false => target_for_machine(&probe.machine, name),
    }
}

/// A board's target, from what `uname -m` says it runs.
fn target_for_machine(machine: &str, name: &str) -> Result<Target> {
    let target = match machine {
        "aarch64" | "arm64" => "linux-arm64",
        // armv8l: 32-bit userspace on a 64-bit ARM kernel.
        "armv7l" | "armv8l" => "linux-armv7",
        "x86_64" => "linux-x86_64",
        _ => bail!(
            "{name} runs `{machine}` (uname -m), which no target builds for (linux-arm64: \
             aarch64; linux-armv7: armv7l, armv8l; linux-x86_64: x86_64); pass --target if one of \
             them runs there"
        ),
    };
    toolchain::find(target)
}

/// The target whose toolchain file names this `ro.product.cpu.abi`.
pub(super) fn target_for_abi(abi: &str, serial: &str) -> Result<Target> {
    let targets = toolchain::all()?;
    if let Some(target) = targets
        .iter()
        .find(|t| t.android_abi.as_deref() == Some(abi))
    {
        return Ok(target.clone());
    }
    let known: Vec<String> = targets
        .iter()
        .filter_map(|t| Some(format!("{} ({})", t.android_abi.as_deref()?, t.name)))
        .collect();
    if abi == "x86" {
        bail!(
            "{serial} reports ABI `x86` (32-bit x86 Android), for which no loader can be built: \
             aya's object parser has no 32-bit x86 support (aya-obj 0.3 to 0.6); cargo-xdp \
             deploys to x86_64, arm64-v8a and armeabi-v7a Android devices"
        );
    }
    bail!(
        "{serial} reports ABI `{abi}`, which no target builds for (known: {}); for a Linux board \
         reachable over adb, pass --target (e.g. --target linux-arm64)",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_board_s_machine_picks_its_linux_target() {
        for (machine, name) in [
            ("aarch64", "linux-arm64"),
            ("armv7l", "linux-armv7"),
            ("armv8l", "linux-armv7"),
            ("x86_64", "linux-x86_64"),
        ] {
            assert_eq!(target_for_machine(machine, "pi").unwrap().name, name);
        }
        let error = target_for_machine("armv6l", "pi").unwrap_err().to_string();
        assert!(
            error.contains("`armv6l`") && error.contains("--target"),
            "{error}"
        );
    }

    #[test]
    fn thirty_two_bit_x86_android_is_explained() {
        let error = target_for_abi("x86", "FAKE01").unwrap_err().to_string();
        assert!(
            error.contains("ABI `x86`") && error.contains("no 32-bit x86 support"),
            "{error}"
        );
    }
}

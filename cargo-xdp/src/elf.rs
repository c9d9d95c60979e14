//! Checks on what was built, before it goes into a bundle.

use std::path::Path;

use anyhow::{bail, Context, Result};
use object::{Architecture, Object, ObjectSection};

use crate::toolchain::Target;

/// A kern object must be BPF, little-endian, with an `xdp` program section
/// and a `license` (the kernel refuses GPL-only helpers without one).
pub fn check_kern_object(path: &Path) -> Result<()> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = object::File::parse(&*data)
        .with_context(|| format!("{} is not an ELF object", path.display()))?;
    if file.architecture() != Architecture::Bpf {
        bail!(
            "{} is not a BPF object (machine {:?})",
            path.display(),
            file.architecture()
        );
    }
    if !file.is_little_endian() {
        bail!(
            "{} is big-endian BPF; phones and x86/arm64 boards need little-endian",
            path.display()
        );
    }
    let names: Vec<&str> = file.sections().filter_map(|s| s.name().ok()).collect();
    if !names
        .iter()
        .any(|n| *n == "xdp" || n.starts_with("xdp/") || n.starts_with("xdp."))
    {
        bail!(
            "{} has no `xdp` section: mark the program with SEC(\"xdp\") (sections found: {})",
            path.display(),
            names.join(" ")
        );
    }
    if !names.contains(&"license") {
        bail!(
            "{} has no `license` section: add `char _license[] SEC(\"license\") = \"GPL\";`",
            path.display()
        );
    }
    Ok(())
}

/// The loader must run on the target: its ELF machine must match.
pub fn check_loader(path: &Path, target: &Target) -> Result<()> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = object::File::parse(&*data)
        .with_context(|| format!("{} is not an ELF file", path.display()))?;
    let expected = match target.elf_machine.as_str() {
        "x86_64" => Architecture::X86_64,
        "aarch64" => Architecture::Aarch64,
        other => bail!(
            "toolchains/{}.toml: unknown elf_machine `{other}`",
            target.name
        ),
    };
    if file.architecture() != expected {
        bail!(
            "the loader {} is built for {:?}, but target {} needs {:?}; check the linker cargo used for {}",
            path.display(),
            file.architecture(),
            target.name,
            expected,
            target.triple
        );
    }
    Ok(())
}

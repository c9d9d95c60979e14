//! The baseline `cargo xdp bench` compares every program with: a bare
//! `return XDP_PASS` object, compiled once per target beside the kern
//! objects and bundled, so a device's bench needs no clang.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The baseline: the least an XDP program can do.
const BARE_PASS: &str = "\
/* Written by cargo xdp bench: the baseline every program is compared with. */
__attribute__((section(\"xdp\"), used)) int bare_pass(void *ctx) { return 2; /* XDP_PASS */ }
char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";
";

/// `xdp-baseline.o` in `dir`, compiled by `clang` unless it is there
/// already (it never changes but with this text).
pub fn baseline_object(clang: &Path, dir: &Path) -> Result<PathBuf> {
    let source = dir.join("xdp-baseline.c");
    let object = dir.join("xdp-baseline.o");
    if object.is_file() && std::fs::read_to_string(&source).ok().as_deref() == Some(BARE_PASS) {
        return Ok(object);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&source, BARE_PASS)?;
    let partial = dir.join(format!(".tmp-baseline-{}.o", std::process::id()));
    let status = crate::process::Process::new(clang)
        .args(["-O2", "-target", "bpf", "-c"])
        .arg(&source)
        .arg("-o")
        .arg(&partial)
        .status()
        .with_context(|| format!("cannot run {}", clang.display()))?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "{} could not compile the bare XDP_PASS baseline",
            clang.display()
        );
    }
    std::fs::rename(&partial, &object)?;
    Ok(object)
}

//! Embeds `templates/`, `toolchains/`, `device-scripts/` and `kern-compat/` in the binary, so an installed
//! cargo-xdp needs no checkout: generates `$OUT_DIR/embedded.rs` with one
//! `(relative path, bytes)` entry per file, sorted for reproducible builds.
//!
//! All four are part of this crate (in the repository they are links to
//! the top-level directories of those names; `cargo package`
//! stores the files), so the packaged crate builds on its own.

use std::{
    env,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::exit,
};

fn main() {
    if let Err(message) = generate() {
        eprintln!("error: cargo-xdp's build script: {message}");
        exit(1);
    }
}

fn generate() -> Result<(), String> {
    // The host triple, so a build for it can skip cross-target checks.
    let target = env::var("TARGET").map_err(|_| "cargo did not set TARGET".to_string())?;
    println!("cargo:rustc-env=CARGO_XDP_HOST_TRIPLE={target}");
    let crate_dir = PathBuf::from(
        env::var_os("CARGO_MANIFEST_DIR").ok_or("cargo did not set CARGO_MANIFEST_DIR")?,
    );
    let mut out = String::new();
    for (constant, dir) in [
        ("TEMPLATE_FILES", "templates"),
        ("TOOLCHAIN_FILES", "toolchains"),
        ("DEVICE_SCRIPT_FILES", "device-scripts"),
        ("KERN_COMPAT_FILES", "kern-compat"),
    ] {
        let base = crate_dir.join(dir);
        if !base.is_dir() {
            return Err(format!(
                "{} is missing: it holds the files cargo-xdp embeds. In a checkout it is a \
                 link to ../{dir} (git clone with symlinks enabled); in a packaged crate it \
                 is a directory, so the package is incomplete: download it again",
                base.display()
            ));
        }
        println!("cargo:rerun-if-changed={}", base.display());
        let mut files = Vec::new();
        collect(&base, &mut files)?;
        files.sort();
        writeln!(out, "pub static {constant}: &[(&str, &[u8])] = &[").unwrap();
        for file in files {
            let relative = file
                .strip_prefix(&base)
                .ok()
                .and_then(Path::to_str)
                .ok_or_else(|| format!("{} is not a UTF-8 path", file.display()))?
                .replace('\\', "/");
            println!("cargo:rerun-if-changed={}", file.display());
            writeln!(
                out,
                "    ({relative:?}, include_bytes!({:?})),",
                file.display().to_string()
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("cargo did not set OUT_DIR")?);
    let generated = out_dir.join("embedded.rs");
    fs::write(&generated, out).map_err(|e| format!("cannot write {}: {e}", generated.display()))
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            collect(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

//! Embeds `templates/` and `toolchains/` in the binary, so an installed
//! cargo-xdp needs no checkout: generates `$OUT_DIR/embedded.rs` with one
//! `(relative path, bytes)` entry per file, sorted for reproducible builds.

use std::{env, fmt::Write as _, fs, path::Path};

fn main() {
    // The host triple, so a build for it can skip cross-target checks.
    println!(
        "cargo:rustc-env=CARGO_XDP_HOST_TRIPLE={}",
        env::var("TARGET").unwrap()
    );
    let crate_dir = env::var("CARGO_MANIFEST_DIR").unwrap();
    let root = Path::new(&crate_dir).parent().unwrap();
    let mut out = String::new();
    for (constant, dir) in [
        ("TEMPLATE_FILES", "templates"),
        ("TOOLCHAIN_FILES", "toolchains"),
    ] {
        let base = root.join(dir);
        println!("cargo:rerun-if-changed={}", base.display());
        let mut files = Vec::new();
        collect(&base, &mut files);
        files.sort();
        writeln!(out, "pub static {constant}: &[(&str, &[u8])] = &[").unwrap();
        for file in files {
            let relative = file
                .strip_prefix(&base)
                .unwrap()
                .to_str()
                .unwrap()
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
    fs::write(
        Path::new(&env::var("OUT_DIR").unwrap()).join("embedded.rs"),
        out,
    )
    .unwrap();
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

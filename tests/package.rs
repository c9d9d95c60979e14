//! `cargo install cargo-xdp` from the packaged crates: the three crates
//! (the tool, the runtime and the wire types both read) package with
//! cargo's verify step (each builds from its .crate alone), the
//! packaged cargo-xdp installs, and the installed one makes and builds a
//! project that depends on the runtime by a plain version requirement,
//! which resolves to the packaged runtime as it would to crates.io's.

mod common;

use std::{fs, path::Path, process::Command};

use common::*;

#[test]
fn packaged_crates_install_and_build_a_new_project() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target_dir = shared_target_dir();
    let package_dir = target_dir.join("package");
    let cargo = || {
        let mut command = Command::new(env!("CARGO"));
        command
            .env("CARGO_TARGET_DIR", &target_dir)
            .env_remove("CARGO_XDP_LOADER_PATH")
            .env_remove("RUSTFLAGS");
        command
    };
    forget_earlier_packages(env!("CARGO_PKG_VERSION"), &target_dir);
    // --allow-dirty: the tests also run on uncommitted work.
    let out = output(cargo().current_dir(&repo).args([
        "package",
        "--allow-dirty",
        "-p",
        "cargo-xdp-wire",
        "-p",
        "cargo-xdp-loader",
        "-p",
        "cargo-xdp",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let log = text(&out);
    assert!(!log.contains("warning"), "cargo package warned:\n{log}");
    // What a registry would hand out: the .crate files, unpacked elsewhere.
    let version = env!("CARGO_PKG_VERSION");
    let scratch = tempfile::tempdir().unwrap();
    for name in ["cargo-xdp", "cargo-xdp-loader", "cargo-xdp-wire"] {
        ok(Command::new("tar")
            .arg("xzf")
            .arg(package_dir.join(format!("{name}-{version}.crate")))
            .arg("-C")
            .arg(scratch.path()));
    }
    let tool = scratch.path().join(format!("cargo-xdp-{version}"));
    let runtime = scratch.path().join(format!("cargo-xdp-loader-{version}"));
    let wire = scratch.path().join(format!("cargo-xdp-wire-{version}"));
    // crates.io's cargo-xdp-wire and cargo-xdp-loader are the packaged ones.
    let patches = format!(
        "[patch.crates-io]\ncargo-xdp-loader = {{ path = {:?} }}\ncargo-xdp-wire = {{ path = {:?} }}\n",
        runtime.display().to_string(),
        wire.display().to_string()
    );
    for (dir, files) in [
        (
            &tool,
            &[
                "LICENSE-MIT",
                "LICENSE-APACHE",
                "README.md",
                "templates/common/Cargo.toml.in",
                "toolchains/android-arm64.toml",
                "tests/cli.rs",
            ][..],
        ),
        (
            &runtime,
            &["LICENSE-MIT", "LICENSE-APACHE", "README.md"][..],
        ),
        (&wire, &["LICENSE-MIT", "LICENSE-APACHE", "README.md"][..]),
    ] {
        for file in files {
            assert!(dir.join(file).is_file(), "{} lacks {file}", dir.display());
        }
    }
    let manifest = fs::read_to_string(tool.join("Cargo.toml")).unwrap();
    for key in ["repository", "readme", "keywords", "categories", "license"] {
        assert!(
            manifest.contains(&format!("\n{key} = ")),
            "packaged Cargo.toml has no {key}"
        );
    }

    // Installed from the package: debug, so the verify build's crates serve.
    let install_root = scratch.path().join("installed");
    fs::create_dir_all(scratch.path().join(".cargo")).unwrap();
    fs::write(scratch.path().join(".cargo/config.toml"), &patches).unwrap();
    ok(cargo()
        .current_dir(scratch.path())
        .args(["install", "--debug", "--locked", "--path"])
        .arg(&tool)
        .arg("--root")
        .arg(&install_root));
    let installed = install_root.join("bin/cargo-xdp");

    let work = scratch.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let xdp = || {
        let mut command = Command::new(&installed);
        command
            .current_dir(&work)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env_remove("CARGO_XDP_LOADER_PATH");
        command
    };
    ok(xdp().args(["xdp", "new", "fromcrate"]));
    let project = work.join("fromcrate");
    let loader_manifest = fs::read_to_string(project.join("fromcrate_user/Cargo.toml")).unwrap();
    assert!(
        loader_manifest.contains(&format!("\ncargo-xdp-loader = \"{version}\"\n")),
        "an installed cargo-xdp writes a plain version requirement:\n{loader_manifest}"
    );
    let built = output(xdp().current_dir(&project).args(["xdp", "build"]));
    assert!(built.status.success(), "{}", text(&built));
    assert!(target_dir
        .join("xdp/linux-x86_64/debug/fromcrate-linux-x86_64.tar.gz")
        .is_file());
}

/// cargo's verify step takes our crates from a registry of its own: it
/// keeps their unpacked copies under `$CARGO_HOME/registry/src/` and their
/// builds in the target dir, and takes a registry crate of the same name
/// and version as unchanged (registry sources never change, it assumes).
/// An earlier run of this test left both, from older sources: they go
/// first, so the verify builds today's. (A fresh machine has neither.)
fn forget_earlier_packages(version: &str, target_dir: &Path) {
    let output = Command::new("find")
        .arg(target_dir)
        .args([
            "-path",
            "*/.fingerprint/cargo-xdp-wire-*",
            "-prune",
            "-print",
        ])
        .output()
        .expect("find runs");
    for dir in String::from_utf8_lossy(&output.stdout).lines() {
        let _ = fs::remove_dir_all(dir);
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cargo"));
    for kind in ["src", "cache"] {
        let Ok(registries) = fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for registry in registries.flatten() {
            for name in ["cargo-xdp", "cargo-xdp-loader", "cargo-xdp-wire"] {
                let unpacked = registry.path().join(format!("{name}-{version}"));
                let _ = fs::remove_dir_all(&unpacked);
                let _ = fs::remove_file(unpacked.with_extension("crate"));
            }
        }
    }
}

//! Building the loader crate with cargo, and taking the binary's path from
//! cargo's own JSON messages rather than guessing target/ layouts.

use std::{
    io::BufReader,
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};
use cargo_metadata::Message;

use crate::{project::Project, shell::Shell, toolchain::Target};

pub fn cargo() -> PathBuf {
    // Set by cargo when it runs us as `cargo xdp`.
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| "cargo".into())
}

/// Builds the loader for `target`; returns the executable's path.
pub fn build_loader(
    project: &Project,
    target: &Target,
    release: bool,
    shell: &Shell,
) -> Result<PathBuf> {
    let loader = &project.meta.loader;
    let mut command = Command::new(cargo());
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(project.root.join("Cargo.toml"))
        .args([
            "--package",
            loader,
            "--bin",
            loader,
            "--target",
            &target.triple,
        ])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped());
    if release {
        command.arg("--release");
    }
    if shell.quiet() {
        command.arg("--quiet");
    }
    shell.verbose_status("Running", format!("{command:?}"));
    let mut child = command.spawn().context("cannot run cargo")?;
    let mut executable = None;
    let stdout = child.stdout.take().expect("stdout is piped");
    for message in Message::parse_stream(BufReader::new(stdout)) {
        if let Message::CompilerArtifact(artifact) = message.context("reading cargo's output")? {
            if artifact.target.name == *loader {
                if let Some(path) = artifact.executable {
                    executable = Some(path.into_std_path_buf());
                }
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "could not build the loader `{loader}` for {} (cargo exited with {status}); see cargo's errors above",
            target.triple
        );
    }
    executable.with_context(|| format!("cargo built `{loader}` but reported no executable for it"))
}

/// A clear error when the Rust target is not installed (only rustup can say).
pub fn check_rust_target(target: &Target) -> Result<()> {
    let Ok(output) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return Ok(()); // no rustup: let cargo report it
    };
    let installed = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && !installed.lines().any(|l| l.trim() == target.triple) {
        bail!(
            "the Rust target {} is not installed; install it with `rustup target add {}`",
            target.triple,
            target.triple
        );
    }
    Ok(())
}

//! Building the loader crate with cargo, and taking the binary's path from
//! cargo's own JSON messages rather than guessing target/ layouts.

use std::{
    ffi::OsString,
    io::BufReader,
    path::{Path, PathBuf},
    process::Stdio,
    time::SystemTime,
};

use anyhow::{bail, Context, Result};
use cargo_metadata::Message;

use crate::process::Process;
use crate::{
    cargo_args::{CargoArgs, Profile},
    loader_stamp::{BuildFacts, LoaderStamp},
    project::Project,
    shell::Shell,
    toolchain::Target,
};

pub fn cargo() -> PathBuf {
    // Set by cargo when it runs us as `cargo xdp`.
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| "cargo".into())
}

/// Whether the loader was built before for `target` and `profile` (where
/// cargo puts it: target/<triple>/<profile dir>/<loader>), fresh or not.
pub fn loader_exists(project: &Project, target: &Target, profile: &Profile) -> bool {
    project
        .target_dir
        .join(&target.triple)
        .join(profile.dir_name())
        .join(&project.meta.loader)
        .is_file()
}

/// How a loader build ended.
pub struct LoaderBuild {
    /// The executable, when cargo succeeded.
    pub executable: Option<PathBuf>,
    /// Symbols the linker could not find (an API level too low on Android).
    pub undefined_symbols: Vec<String>,
    pub status: std::process::ExitStatus,
}

/// Builds the loader for `target` with `env` added to cargo's environment.
/// Compiler messages come as JSON so we can both show them and read the
/// linker's complaints.
pub fn build_loader(
    project: &Project,
    target: &Target,
    profile: &Profile,
    cargo_args: &CargoArgs,
    env: &[(String, OsString)],
    shell: &Shell,
) -> Result<LoaderBuild> {
    let loader = &project.meta.loader;
    let mut command = cargo_build(project, target, profile, cargo_args, env, shell);
    let stamp = LoaderStamp::new(
        project
            .xdp_dir(&target.name)
            .join("loader")
            .join(format!("{loader}-{}.stamp", profile.dir_name())),
        &command,
    );
    if let Some(executable) = stamp.fresh_executable() {
        shell.verbose_status(
            "Fresh",
            format!("{loader} (no cargo build: nothing it reads changed since the last one)"),
        );
        return Ok(LoaderBuild {
            executable: Some(executable),
            undefined_symbols: Vec::new(),
            status: std::os::unix::process::ExitStatusExt::from_raw(0),
        });
    }
    stamp.remove();
    let started = SystemTime::now();
    let mut child = command.echo(shell).spawn().context("cannot run cargo")?;
    let read = read_cargo(&mut child, loader, shell);
    let status = child.wait()?;
    let CargoSaid {
        executable,
        undefined_symbols,
        warned,
    } = read?;
    if status.success() && executable.is_none() {
        bail!("cargo built `{loader}` but reported no executable for it");
    }
    if let (true, Some(executable)) = (status.success(), &executable) {
        // cargo shows its warnings again on every build: it has to run.
        let unstamped = if warned {
            Some("cargo printed warnings".to_string())
        } else {
            let cwd = std::env::current_dir().unwrap_or_default();
            let facts = BuildFacts {
                executable,
                triple: &target.triple,
                profile_dir: profile.dir_name(),
                // The cargo that just ran, as the key has it.
                cargo: Path::new(command.get_program()),
                cwd: &cwd,
            };
            stamp
                .write(project, &facts, started)
                .unwrap_or_else(|error| Some(format!("{error:#}")))
        };
        if let Some(why) = unstamped {
            shell.verbose_status(
                "Unstamped",
                format!("{loader}: cargo will judge it on the next build too ({why})"),
            );
        }
    }
    Ok(LoaderBuild {
        executable: executable.filter(|_| status.success()),
        undefined_symbols,
        status,
    })
}

/// `cargo build` of the loader for `target`, with cargo's flags passed on,
/// JSON messages on stdout (rendered diagnostics in colour where ours are).
fn cargo_build(
    project: &Project,
    target: &Target,
    profile: &Profile,
    cargo_args: &CargoArgs,
    env: &[(String, OsString)],
    shell: &Shell,
) -> Process {
    let loader = &project.meta.loader;
    let mut command = Process::new(cargo());
    let format = if shell.color() {
        "json-diagnostic-rendered-ansi"
    } else {
        "json"
    };
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
        .args(["--message-format", format])
        .args(["--profile", profile.name()])
        .args(cargo_args.build())
        .args(["--color", if shell.color() { "always" } else { "never" }])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if shell.quiet() {
        command.arg("--quiet");
    }
    for _ in 0..shell.verbosity() {
        command.arg("--verbose");
    }
    command
}

/// What a cargo build said that matters here.
struct CargoSaid {
    executable: Option<PathBuf>,
    undefined_symbols: Vec<String>,
    /// Warnings or compiler messages: the build cannot be stamped.
    warned: bool,
}

/// cargo's JSON messages (the loader's executable, compiler messages shown
/// as they come) and its stderr forwarded, both read to their end.
fn read_cargo(child: &mut std::process::Child, loader: &str, shell: &Shell) -> Result<CargoSaid> {
    let mut said = CargoSaid {
        executable: None,
        undefined_symbols: Vec::new(),
        warned: false,
    };
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    std::thread::scope(|scope| -> Result<()> {
        let forwarder = scope.spawn(|| forward_cargo_status(stderr, shell));
        for message in Message::parse_stream(BufReader::new(stdout)) {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    // Unread, cargo would block on its output and never end.
                    let _ = child.kill();
                    return Err(anyhow::Error::new(error).context("reading cargo's output"));
                }
            };
            match message {
                Message::CompilerArtifact(artifact) if artifact.target.name == *loader => {
                    if let Some(path) = artifact.executable {
                        said.executable = Some(path.into_std_path_buf());
                    }
                }
                Message::CompilerMessage(message) => {
                    said.warned = true;
                    if let Some(rendered) = &message.message.rendered {
                        shell.passthrough(rendered);
                        said.undefined_symbols
                            .extend(undefined_symbols_in(rendered));
                    }
                }
                _ => {}
            }
        }
        if forwarder.join().unwrap_or(true) {
            said.warned = true;
        }
        Ok(())
    })?;
    Ok(said)
}

/// cargo's own lines (Compiling, warnings), all but its `Finished`: the
/// build prints one for the whole target, bundle included. Whether cargo
/// warned (of the manifest, a config: it would on every build).
fn forward_cargo_status(stderr: impl std::io::Read, shell: &Shell) -> bool {
    use std::io::BufRead;
    let mut warned = false;
    for line in BufReader::new(stderr).split(b'\n').map_while(|l| l.ok()) {
        let text = String::from_utf8_lossy(&line);
        let plain = strip_ansi(&text);
        if plain.trim_start().starts_with("Finished ") {
            continue;
        }
        warned |= plain.starts_with("warning");
        shell.passthrough(&format!("{text}\n"));
    }
    warned
}

/// `ld.lld: error: undefined symbol: getifaddrs` -> getifaddrs.
fn undefined_symbols_in(rendered: &str) -> Vec<String> {
    let mut symbols: Vec<String> = rendered
        .lines()
        .filter_map(|line| line.split_once("undefined symbol: "))
        .map(|(_, rest)| strip_ansi(rest).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    symbols.dedup();
    symbols
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // ESC [ ... letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A stripped copy, in `out_dir`, of a device loader that kept its symbol
/// table (the generated profile's `strip = true` usually spares this).
pub fn stripped(
    loader: &Path,
    strip: Option<&Path>,
    out_dir: &Path,
    shell: &Shell,
) -> Result<PathBuf> {
    let Some(strip) = strip else {
        shell.warn(format!(
            "no llvm-strip found: the release loader {} keeps its symbols (install llvm, or set \
             `strip = true` in [profile.release])",
            loader.display()
        ));
        return Ok(loader.to_path_buf());
    };
    std::fs::create_dir_all(out_dir)?;
    let name = loader.file_name().context("loader has no file name")?;
    let out = out_dir.join(name);
    let partial = tempfile::Builder::new()
        .prefix(".tmp")
        .tempfile_in(out_dir)
        .with_context(|| format!("cannot write in {}", out_dir.display()))?;
    let status = Process::new(strip)
        .arg("--strip-all")
        .arg(loader)
        .arg("-o")
        .arg(partial.path())
        .status()
        .with_context(|| format!("cannot run {}", strip.display()))?;
    if !status.success() {
        bail!(
            "{} --strip-all {} failed",
            strip.display(),
            loader.display()
        );
    }
    crate::workdir::persist(partial, &out, 0o755)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_undefined_symbols_from_linker_errors() {
        let rendered = "error: linking with `cc` failed: exit status: 1\n  = note: \
            ld.lld: error: undefined symbol: getifaddrs\n>>> referenced by x.rs\n\
            \x1b[1mld.lld: error: undefined symbol: freeifaddrs\x1b[0m\n";
        assert_eq!(
            undefined_symbols_in(rendered),
            ["getifaddrs", "freeifaddrs"]
        );
        assert!(undefined_symbols_in("warning: unused").is_empty());
    }
}

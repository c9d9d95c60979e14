//! Whether the loader's `cargo build` would do nothing, told without running
//! it. A no-op cargo build (its start-up, the lock file, the fingerprints of
//! every dependency) costs more than all the rest of a no-op `cargo xdp
//! build`, so after a build cargo ends cleanly we write a stamp of what
//! cargo's own freshness rests on for this binary, and skip cargo while all
//! of it is unchanged:
//!
//! - the command: cargo's path, its arguments, the working directory and the
//!   whole environment (RUSTFLAGS, CARGO_*, what build scripts read);
//! - the toolchain: that cargo, the rustc beside it, the target's std;
//! - the loader's sources and those of every path dependency, from cargo's
//!   dep-info beside the binary (build scripts' rerun-if-changed included),
//!   with their manifests and package directories;
//! - the workspace's manifests, Cargo.lock, cargo's config files (a new one
//!   counts), absolute rerun-if-changed paths of any build script;
//! - the binary and its dep-info.
//!
//! Registry and git sources are never edited in place (cargo assumes so
//! too). Where we could not be as sure as cargo, no stamp is written and
//! cargo runs every time: a build that printed warnings (cargo shows them on
//! every build), a path package with a build script of its own, `--config`,
//! a rustc chosen by config, a workspace only `cargo metadata` could read,
//! dep-info with relative paths, an input changed while cargo ran.

use std::{
    ffi::OsString,
    fmt::Write as _,
    io::Write as _,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::process::Process;

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};

use crate::{project::Project, workspace};

const FORMAT: &str = "cargo-xdp loader stamp 1";

/// Variables of an interactive session that differ from one login, shell
/// or script to the next and that no build reads: left out of the key so a
/// new terminal does not cost a cargo run. (`_` is the shell's last
/// command, SHLVL how deep in shells it runs.)
const SESSION_VARIABLES: &[&str] = &[
    "_",
    "OLDPWD",
    "SHLVL",
    "SSH_AUTH_SOCK",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "TERM_SESSION_ID",
    "TMUX_PANE",
    "WINDOWID",
];

/// A file or directory as it was seen: modification time and size, or
/// missing (a config file that appears changes cargo's answer too), or for
/// the dep-info, which every cargo build rewrites, its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Missing,
    Present { mtime_ns: i128, size: u64 },
    Contents { sha256: String },
}

impl Seen {
    fn of(path: &Path) -> Seen {
        match std::fs::metadata(path) {
            Ok(meta) => Seen::Present {
                mtime_ns: meta.modified().map(nanos_since_epoch).unwrap_or(0),
                size: meta.len(),
            },
            Err(_) => Seen::Missing,
        }
    }

    fn contents_of(path: &Path) -> Seen {
        match std::fs::read(path) {
            Ok(bytes) => Seen::Contents {
                sha256: crate::hashing::sha256_hex(&bytes),
            },
            Err(_) => Seen::Missing,
        }
    }

    /// This path now, seen the way `self` was.
    fn again(&self, path: &Path) -> Seen {
        match self {
            Seen::Contents { .. } => Seen::contents_of(path),
            _ => Seen::of(path),
        }
    }

    fn render(&self) -> String {
        match self {
            Seen::Missing => "-".into(),
            Seen::Present { mtime_ns, size } => format!("{mtime_ns}:{size}"),
            Seen::Contents { sha256 } => format!("sha256={sha256}"),
        }
    }

    fn parse(text: &str) -> Option<Seen> {
        if text == "-" {
            return Some(Seen::Missing);
        }
        if let Some(sha256) = text.strip_prefix("sha256=") {
            return Some(Seen::Contents {
                sha256: sha256.into(),
            });
        }
        let (mtime, size) = text.split_once(':')?;
        Some(Seen::Present {
            mtime_ns: mtime.parse().ok()?,
            size: size.parse().ok()?,
        })
    }
}

fn nanos_since_epoch(time: SystemTime) -> i128 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

/// The loader's stamp for one target and profile, and the key of the cargo
/// command it is about.
pub struct LoaderStamp {
    path: PathBuf,
    key: String,
}

impl LoaderStamp {
    /// The stamp at `path` for `command` as it would run now.
    pub fn new(path: PathBuf, process: &Process) -> LoaderStamp {
        LoaderStamp {
            path,
            key: command_key(process.as_command(), std::env::vars_os()),
        }
    }

    /// The loader, when the stamp says cargo would rebuild nothing: same
    /// command, and every watched path as it was.
    pub fn fresh_executable(&self) -> Option<PathBuf> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let mut lines = text.lines();
        if lines.next()? != FORMAT || lines.next()?.strip_prefix("key ")? != self.key {
            return None;
        }
        let executable = PathBuf::from(lines.next()?.strip_prefix("executable ")?);
        for line in lines {
            let (seen, path) = line.split_once(' ')?;
            let seen = Seen::parse(seen)?;
            if seen != seen.again(Path::new(path)) {
                return None;
            }
        }
        Some(executable)
    }

    /// Forgets the stamp, before cargo runs: a build stopped halfway must
    /// not leave one behind.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// Writes the stamp after cargo built `executable` from a run that began
    /// at `started`; `Ok(Some(why))` when cargo has to judge next time.
    pub fn write(
        &self,
        project: &Project,
        build: &BuildFacts,
        started: SystemTime,
    ) -> Result<Option<String>> {
        let watched = match watched_paths(project, build) {
            Ok(watched) => watched,
            Err(why) => return Ok(Some(why)),
        };
        // Anything written since just before cargo started may have been
        // read by rustc before the change: cargo is to judge it next time.
        // (The slack covers file systems that keep coarse times.)
        let recent = nanos_since_epoch(started - Duration::from_secs(2));
        let dep_info = dep_info_path(build.executable);
        let mut text = format!(
            "{FORMAT}\nkey {}\nexecutable {}\n",
            self.key,
            build.executable.display()
        );
        for path in watched {
            let seen = if path == dep_info {
                Seen::contents_of(&path)
            } else {
                Seen::of(&path)
            };
            if let Seen::Present { mtime_ns, .. } = seen {
                if mtime_ns >= recent && path != build.executable {
                    return Ok(Some(format!("{} changed while cargo ran", path.display())));
                }
            }
            if path.to_str().is_none_or(|p| p.contains('\n')) {
                return Ok(Some(format!(
                    "{} is not a plain UTF-8 path",
                    path.display()
                )));
            }
            let _ = writeln!(text, "{} {}", seen.render(), path.display());
        }
        let dir = self.path.parent().context("stamp path has no directory")?;
        std::fs::create_dir_all(dir)?;
        let mut partial = tempfile::Builder::new()
            .prefix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        partial.write_all(text.as_bytes())?;
        crate::workdir::persist(partial, &self.path, 0o644)?;
        Ok(None)
    }
}

/// What the build that just ended is: where cargo put the loader, for which
/// Rust target and profile directory, through which cargo.
pub struct BuildFacts<'a> {
    pub executable: &'a Path,
    pub triple: &'a str,
    pub profile_dir: &'a str,
    pub cargo: &'a Path,
    pub cwd: &'a Path,
}

/// The key of a command: program, arguments, working directory and the
/// environment it gets (`inherited` with the command's own changes), less
/// the session variables. cargo-xdp's version too: a new one may build
/// differently.
fn command_key(
    command: &std::process::Command,
    inherited: impl Iterator<Item = (OsString, OsString)>,
) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut env: std::collections::BTreeMap<OsString, OsString> = inherited.collect();
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => env.insert(name.to_owned(), value.to_owned()),
            None => env.remove(name),
        };
    }
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(command.get_program().as_bytes());
    for arg in command.get_args() {
        field(arg.as_bytes());
    }
    let cwd = command
        .get_current_dir()
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    field(cwd.as_os_str().as_bytes());
    for (name, value) in &env {
        if SESSION_VARIABLES
            .iter()
            .any(|v| name.as_bytes() == v.as_bytes())
        {
            continue;
        }
        field(name.as_bytes());
        field(value.as_bytes());
    }
    crate::packets::hex(&hash.finalize())
}

/// `target/<triple>/debug/x` -> `target/<triple>/debug/x.d`.
fn dep_info_path(executable: &Path) -> PathBuf {
    let mut path = executable.as_os_str().to_owned();
    path.push(".d");
    PathBuf::from(path)
}

/// Every path whose change would make cargo do something, or why we cannot
/// name them all.
fn watched_paths(project: &Project, build: &BuildFacts) -> Result<Vec<PathBuf>, String> {
    let Some(manifests) = &project.manifests else {
        return Err("the workspace was read by `cargo metadata`".into());
    };
    let mut watched: Vec<PathBuf> = manifests.clone();
    watched.push(project.root.join("Cargo.lock"));
    watched.extend(toolchain_paths(build)?);
    watched.extend(config_paths(build)?);
    watched.extend(source_paths(build)?);
    watched.extend(build_script_paths(project, build));
    watched.sort();
    watched.dedup();
    Ok(watched)
}

/// The toolchain's files: cargo as run, the rustc beside it and the std of
/// the target, and rustc wrappers given by path.
fn toolchain_paths(build: &BuildFacts) -> Result<Vec<PathBuf>, String> {
    let mut watched = Vec::new();
    // The toolchain: cargo as run, the rustc beside it (rustup's proxy picks
    // that one too, by RUSTUP_TOOLCHAIN, which the key holds) and the std
    // of the target.
    if !build.cargo.is_absolute() {
        return Err("cargo is run by name, not by path ($CARGO is not set)".into());
    }
    let bin = build.cargo.parent().unwrap_or(Path::new("/"));
    watched.push(build.cargo.to_path_buf());
    watched.push(bin.join("rustc"));
    watched.push(bin.join("../lib/rustlib").join(build.triple).join("lib"));
    for variable in ["RUSTC", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER"] {
        if let Some(value) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(value);
            if !path.is_absolute() {
                return Err(format!("{variable} names a program, not a path"));
            }
            watched.push(path);
        }
    }
    Ok(watched)
}

/// cargo's config files, present or not.
fn config_paths(build: &BuildFacts) -> Result<Vec<PathBuf>, String> {
    let mut watched = Vec::new();
    // cargo's config files, present or not.
    let context = workspace::Context::of_this_process(build.cwd, None, false);
    let Some(configs) = workspace::config_files(&context) else {
        return Err(
            "cargo's config files use what only cargo reads (include, both spellings)".into(),
        );
    };
    for (_, config) in &configs {
        let build_table = config.get("build");
        for key in ["rustc", "rustc-wrapper", "rustc-workspace-wrapper"] {
            if build_table.and_then(|t| t.get(key)).is_some() {
                return Err(format!("cargo's config sets build.{key}"));
            }
        }
    }
    for dir in workspace::config_dirs(&context) {
        watched.push(dir.join("config.toml"));
        watched.push(dir.join("config"));
    }
    Ok(watched)
}

/// The path packages' sources (cargo's dep-info), each package's manifest
/// and directory, the executable and the dep-info itself.
fn source_paths(build: &BuildFacts) -> Result<Vec<PathBuf>, String> {
    let mut watched = Vec::new();
    // The sources of path packages, as cargo's dep-info lists them, and
    // each such package's manifest and directory (a build.rs appearing).
    let dep_info_file = dep_info_path(build.executable);
    let dep_info = std::fs::read_to_string(&dep_info_file)
        .map_err(|e| format!("cannot read {}: {e}", dep_info_file.display()))?;
    let sources = crate::kern::parse_depfile(&dep_info);
    let mut package_roots: Vec<PathBuf> = Vec::new();
    for source in &sources {
        if !source.is_absolute() {
            return Err("cargo's dep-info has relative paths (build.dep-info-basedir)".into());
        }
        let Some(root) = source
            .ancestors()
            .skip(1)
            .find(|d| d.join("Cargo.toml").is_file())
        else {
            return Err(format!("{} is in no package", source.display()));
        };
        if !package_roots.iter().any(|r| r == root) {
            package_roots.push(root.to_path_buf());
        }
    }
    for root in &package_roots {
        if has_build_script(root) {
            return Err(format!("{} has a build script", root.display()));
        }
        watched.push(root.to_path_buf());
        watched.push(root.join("Cargo.toml"));
    }
    watched.extend(sources);
    watched.push(build.executable.to_path_buf());
    watched.push(dep_info_file);
    Ok(watched)
}

/// What registry packages' build scripts asked to be rerun on (files of
/// this machine, such as a system library).
fn build_script_paths(project: &Project, build: &BuildFacts) -> Vec<PathBuf> {
    let mut watched = Vec::new();
    // Build scripts of registry packages may watch files of this machine
    // (a system library): cargo reruns them when those change.
    let target_dir = &project.target_dir;
    for build_dir in [
        target_dir
            .join(build.triple)
            .join(build.profile_dir)
            .join("build"),
        target_dir.join(build.profile_dir).join("build"),
    ] {
        let Ok(entries) = std::fs::read_dir(&build_dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Ok(output) = std::fs::read_to_string(entry.path().join("output")) {
                watched.extend(absolute_rerun_paths(&output));
            }
        }
    }
    watched
}

/// Whether the package in `root` has a build script: `build.rs`, or a
/// `build` key in its manifest that is not `false`.
fn has_build_script(root: &Path) -> bool {
    if root.join("build.rs").exists() {
        return true;
    }
    let Ok(manifest) = std::fs::read_to_string(root.join("Cargo.toml")) else {
        return true;
    };
    let Ok(manifest) = manifest.parse::<toml_edit::DocumentMut>() else {
        return true;
    };
    manifest
        .get("package")
        .and_then(|p| p.get("build"))
        .is_some_and(|b| b.as_bool() != Some(false))
}

/// The absolute `rerun-if-changed` paths of a build script's output, which
/// cargo checks besides the package's own files (relative ones are inside
/// the package: registry ones never change, path ones are in the dep-info).
fn absolute_rerun_paths(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|line| {
            line.strip_prefix("cargo::rerun-if-changed=")
                .or_else(|| line.strip_prefix("cargo:rerun-if-changed="))
        })
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn reads_the_sources_of_cargo_dep_info() {
        // A rule of its own per source, without prerequisites, follows.
        let dep_info = "/t/debug/x_user: /p/x_user/src/main.rs /p/my\\ dir/lib.rs \
                        /p/x_user/src/rules.rs\n\n/p/x_user/src/main.rs:\n";
        assert_eq!(
            crate::kern::parse_depfile(dep_info),
            [
                "/p/x_user/src/main.rs",
                "/p/my dir/lib.rs",
                "/p/x_user/src/rules.rs",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn takes_only_absolute_rerun_paths() {
        let output = "cargo:rustc-cfg=x\ncargo:rerun-if-changed=build.rs\n\
                      cargo:rerun-if-changed=/usr/lib/libz.so\ncargo::rerun-if-changed=/etc/x\n\
                      cargo:rerun-if-env-changed=CC\n";
        assert_eq!(
            absolute_rerun_paths(output),
            [PathBuf::from("/usr/lib/libz.so"), PathBuf::from("/etc/x")]
        );
    }

    #[test]
    fn a_key_changes_with_the_command_and_its_environment_only() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
            pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
        };
        let mut command = Command::new("/bin/cargo");
        command.args(["build", "--release"]).current_dir("/p");
        let base = command_key(&command, env(&[("RUSTFLAGS", "-Copt-level=1")]).into_iter());
        assert_eq!(
            base,
            command_key(&command, env(&[("RUSTFLAGS", "-Copt-level=1")]).into_iter())
        );
        // A session variable does not count; anything else does.
        let with_session = env(&[
            ("RUSTFLAGS", "-Copt-level=1"),
            ("OLDPWD", "/elsewhere"),
            ("_", "/usr/bin/make"),
        ]);
        assert_eq!(base, command_key(&command, with_session.into_iter()));
        let other_flags = env(&[("RUSTFLAGS", "-Copt-level=2")]);
        assert_ne!(base, command_key(&command, other_flags.clone().into_iter()));
        let more = env(&[("RUSTFLAGS", "-Copt-level=1"), ("CC", "clang")]);
        assert_ne!(base, command_key(&command, more.into_iter()));
        // The command's own variables win over inherited ones.
        command.env("RUSTFLAGS", "-Copt-level=2");
        let overridden = command_key(&command, env(&[("RUSTFLAGS", "-Copt-level=1")]).into_iter());
        assert_ne!(base, overridden);
        assert_eq!(overridden, command_key(&command, other_flags.into_iter()));
        let mut more_args = Command::new("/bin/cargo");
        more_args
            .args(["build", "--release", "-v"])
            .current_dir("/p");
        assert_ne!(
            base,
            command_key(
                &more_args,
                env(&[("RUSTFLAGS", "-Copt-level=1")]).into_iter()
            )
        );
    }

    #[test]
    fn a_stamp_is_fresh_while_what_it_watched_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("main.rs");
        std::fs::write(&source, "fn main() {}").unwrap();
        let stamp = LoaderStamp {
            path: dir.path().join("loader.stamp"),
            key: "k".into(),
        };
        let text = format!(
            "{FORMAT}\nkey k\nexecutable /t/x\n{} {}\n- {}\n",
            Seen::of(&source).render(),
            source.display(),
            dir.path().join("absent").display()
        );
        std::fs::write(&stamp.path, text).unwrap();
        assert_eq!(stamp.fresh_executable(), Some(PathBuf::from("/t/x")));
        let other_key = LoaderStamp {
            path: stamp.path.clone(),
            key: "other".into(),
        };
        assert_eq!(other_key.fresh_executable(), None);
        // A missing file that appears is a change.
        std::fs::write(dir.path().join("absent"), "").unwrap();
        assert_eq!(stamp.fresh_executable(), None);
        std::fs::remove_file(dir.path().join("absent")).unwrap();
        assert!(stamp.fresh_executable().is_some());
        std::fs::write(&source, "fn main() { }").unwrap();
        assert_eq!(stamp.fresh_executable(), None);
        stamp.remove();
        assert!(!stamp.path.exists());
    }

    #[test]
    fn a_build_script_keeps_cargo_judging() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "[package]\nname = \"x\"\n").unwrap();
        assert!(!has_build_script(dir.path()));
        std::fs::write(&manifest, "[package]\nname = \"x\"\nbuild = false\n").unwrap();
        assert!(!has_build_script(dir.path()));
        std::fs::write(&manifest, "[package]\nname = \"x\"\nbuild = \"gen.rs\"\n").unwrap();
        assert!(has_build_script(dir.path()));
        std::fs::write(&manifest, "[package]\nname = \"x\"\n").unwrap();
        std::fs::write(dir.path().join("build.rs"), "fn main() {}").unwrap();
        assert!(has_build_script(dir.path()));
    }
}

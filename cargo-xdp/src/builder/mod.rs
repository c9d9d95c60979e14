//! `cargo xdp build`: for each target, kern objects (clang), the loader
//! (cargo), then the bundle. See ARCHITECTURE.md for the whole flow.

mod target;

use target::{build_target, kern_objects};

use std::{path::PathBuf, time::Instant};

use anyhow::Result;

use crate::{
    cargo_args::{CargoArgs, Profile},
    headers::{self, Libbpf},
    messages::Message,
    ndk::{self, Ndk},
    project::Project,
    shell::Shell,
    toolchain::{self, Target},
    tools::{self, Tools},
    workdir,
};

#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub cargo: CargoArgs,
    /// Target(s) to build, comma-separated: a name, a Rust triple or an
    /// Android ABI (default: the project's, else this machine's).
    pub target: Vec<String>,
    /// Build every target in toolchains/.
    pub all_targets: bool,
    /// Android NDK to use (default: $ANDROID_NDK_HOME and friends, then the SDK's ndk/).
    pub ndk: Option<PathBuf>,
    /// Android API level to link against (default: `api` in the metadata, else 21).
    pub api: Option<u32>,
    /// Run `rustup target add` for Rust targets that are missing.
    pub install_targets: bool,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

/// What one target's build produced.
pub struct Built {
    pub target: String,
    pub kern_objects: Vec<PathBuf>,
    /// The bare XDP_PASS object `cargo xdp bench` compares with.
    pub baseline: PathBuf,
    pub loader: PathBuf,
    pub bundle: PathBuf,
}

/// Builds every chosen target; with --message-format json, ends with one
/// `build-finished` message either way (`success: false` on an error).
pub fn build(args: &BuildRequest, shell: &Shell) -> Result<Vec<Built>> {
    finish(build_targets(args, None, build_each, shell), shell)
}

/// The same for a project already found (by `test`, `run`, `deploy` ...):
/// no second `cargo metadata`.
pub fn build_found(project: &Project, args: &BuildRequest, shell: &Shell) -> Result<Vec<Built>> {
    finish(build_targets(args, Some(project), build_each, shell), shell)
}

fn finish(result: Result<Vec<Built>>, shell: &Shell) -> Result<Vec<Built>> {
    let targets = match &result {
        Ok(built) => built.iter().map(|b| b.target.clone()).collect(),
        Err(_) => Vec::new(),
    };
    shell.message(&Message::BuildFinished {
        success: result.is_ok(),
        targets,
    });
    result
}

/// What is common to every build (the project, the lock, each target's
/// tools, libbpf's headers), then `each` on the targets.
fn build_targets<R>(
    args: &BuildRequest,
    found: Option<&Project>,
    each: impl FnOnce(&Plan, Vec<(Target, Tools)>, Instant, &Shell) -> Result<R>,
    shell: &Shell,
) -> Result<R> {
    let started = Instant::now();
    // Ask rustc for its sysroot while cargo metadata runs: both take tens
    // of milliseconds, a no-op build not much more.
    let here = match found {
        Some(project) => project.root.clone(),
        None => args
            .manifest_path
            .as_deref()
            .and_then(|p| p.parent())
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| ".".into()),
    };
    let sysroot = std::thread::spawn(move || tools::rust_sysroot(&here));
    let owned;
    let project = match found {
        Some(project) => project,
        None => {
            owned = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
            &owned
        }
    };
    let profile = args.cargo.profile_or(Profile::dev());
    // One build at a time writes target/xdp (and sweeps what killed ones left).
    let _lock = workdir::BuildLock::acquire(&project.target_dir, shell)?;
    let targets = selected_targets(args, project)?;
    let ndk = if targets.iter().any(|t| t.ndk) {
        Some(locate_ndk(args, shell)?)
    } else {
        None
    };
    // Only cross targets need it: a failure is theirs to report.
    let rust_sysroot = sysroot.join().expect("sysroot thread panicked");
    let options = tools::Options {
        api: args.api,
        install_targets: args.install_targets,
        rust_sysroot: &rust_sysroot,
        ndk: ndk.as_ref(),
        profile: &profile,
    };
    // Everything every target needs, before the first one is built.
    let plans = resolve_tools(project, targets, &options, shell)?;
    // libbpf's headers, fetched once (the cache makes this a stat later).
    let libbpf = headers::libbpf(project, shell)?;
    shell.verbose_status("Using", format!("libbpf {} headers", libbpf.describe()));
    let rustc_version = tools::rustc_version(&rust_sysroot, &project.target_dir.join("xdp"));
    let plan = Plan {
        project,
        libbpf: &libbpf,
        profile: &profile,
        cargo_args: &args.cargo,
        several_targets: plans.len() > 1,
        rustc_version: &rustc_version,
    };
    each(&plan, plans, started, shell)
}

/// The tools of each target (its clang and the NDK's, the Rust target
/// checked), named with -v.
fn resolve_tools(
    project: &Project,
    targets: Vec<Target>,
    options: &tools::Options,
    shell: &Shell,
) -> Result<Vec<(Target, Tools)>> {
    let mut plans = Vec::new();
    for target in targets {
        let tools = tools::resolve(project, &target, options, shell)?;
        shell.verbose_status(
            "Using",
            format!(
                "{} for {} kern sources ({})",
                tools.clang.path.display(),
                target.name,
                tools.clang.version
            ),
        );
        plans.push((target, tools));
    }
    Ok(plans)
}

/// Each target built in turn, a `Finished` line for each (timed from
/// `started` for the first: what came before is its cost too).
fn build_each(
    plan: &Plan,
    plans: Vec<(Target, Tools)>,
    mut started: Instant,
    shell: &Shell,
) -> Result<Vec<Built>> {
    let mut built = Vec::new();
    for (target, tools) in plans {
        let described = match &tools.android {
            Some((ndk, api)) => format!(
                "{} (NDK {}, API {api})",
                target.name,
                ndk.revision.release()
            ),
            None => target.name.clone(),
        };
        let target = build_target(plan, target, &tools, shell)?;
        // One line per target, like cargo's own (which is not shown).
        let bundle = target
            .bundle
            .strip_prefix(&plan.project.root)
            .unwrap_or(&target.bundle);
        shell.status(
            "Finished",
            format!(
                "`{}` bundle for {described} in {:.2}s: {}",
                plan.profile.dir_name(),
                started.elapsed().as_secs_f64(),
                bundle.display()
            ),
        );
        started = Instant::now();
        built.push(target);
    }
    Ok(built)
}

/// --all-targets, else --target, else the project's `targets`, else the default.
fn selected_targets(args: &BuildRequest, project: &Project) -> Result<Vec<Target>> {
    if args.all_targets {
        return toolchain::all();
    }
    let names = if !args.target.is_empty() {
        args.target.clone()
    } else if !project.meta.targets.is_empty() {
        project.meta.targets.clone()
    } else {
        vec![toolchain::default_target()?.to_string()]
    };
    let mut targets: Vec<Target> = Vec::new();
    for name in names {
        let target = toolchain::find(name.trim())?;
        if !targets.iter().any(|t| t.name == target.name) {
            targets.push(target);
        }
    }
    Ok(targets)
}

fn locate_ndk(args: &BuildRequest, shell: &Shell) -> Result<Ndk> {
    let (ndk, warnings) = ndk::locate_from_env(args.ndk.as_deref())?;
    for warning in warnings {
        shell.warn(warning);
    }
    shell.status(
        "Using",
        format!(
            "NDK {} at {} (from {})",
            ndk.revision,
            ndk.root.display(),
            ndk.origin
        ),
    );
    shell.message(&Message::Ndk {
        path: &ndk.root,
        origin: &ndk.origin,
        revision: format!(
            "{}.{}.{}",
            ndk.revision.major, ndk.revision.minor, ndk.revision.build
        ),
        release: ndk.revision.release(),
    });
    Ok(ndk)
}

/// What every target of one build shares.
struct Plan<'a> {
    project: &'a Project,
    libbpf: &'a Libbpf,
    profile: &'a Profile,
    cargo_args: &'a CargoArgs,
    /// More than one target: status lines say which one they are about.
    several_targets: bool,
    /// For the MANIFEST.
    rustc_version: &'a str,
}

/// Builds `project` for `target` with `cargo`'s flags (a no-op when
/// fresh); its bundle.
pub fn bundle_for(
    project: &Project,
    cargo: &CargoArgs,
    target: &crate::toolchain::Target,
    shell: &Shell,
) -> Result<PathBuf> {
    Ok(build_one(project, cargo, &target.name, shell)?.bundle)
}

/// Builds `project` for this machine (a no-op when fresh).
pub fn build_for_host(project: &Project, cargo: &CargoArgs, shell: &Shell) -> Result<Built> {
    build_one(project, cargo, crate::toolchain::default_target()?, shell)
}

/// Only the kern objects of `project` for this machine (a no-op when
/// fresh): no loader, no bundle. For what only reads the objects, such as
/// the map types of a map on a device.
pub fn kern_for_host(project: &Project, cargo: &CargoArgs, shell: &Shell) -> Result<Vec<PathBuf>> {
    let build = one_target(project, cargo, crate::toolchain::default_target()?);
    let objects = build_targets(&build, Some(project), kern_each, shell)?;
    Ok(objects.into_iter().flatten().collect())
}

fn build_one(project: &Project, cargo: &CargoArgs, target: &str, shell: &Shell) -> Result<Built> {
    let build = one_target(project, cargo, target);
    Ok(build_found(project, &build, shell)?
        .pop()
        .expect("one target built"))
}

fn one_target(project: &Project, cargo: &CargoArgs, target: &str) -> BuildRequest {
    BuildRequest {
        cargo: cargo.clone(),
        target: vec![target.to_string()],
        manifest_path: Some(project.root.join("Cargo.toml")),
        all_targets: false,
        ndk: None,
        api: None,
        install_targets: false,
    }
}

/// Each target's kern objects, as `build_each` makes them.
fn kern_each(
    plan: &Plan,
    plans: Vec<(Target, Tools)>,
    _started: Instant,
    shell: &Shell,
) -> Result<Vec<Vec<PathBuf>>> {
    plans
        .into_iter()
        .map(|(target, tools)| kern_objects(plan, &target, &tools, shell))
        .collect()
}

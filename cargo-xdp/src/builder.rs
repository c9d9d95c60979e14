//! `cargo xdp build`: for each target, kern objects (clang), the loader
//! (cargo), then the bundle. See ARCHITECTURE.md for the whole flow.

use std::{path::PathBuf, time::Instant};

use anyhow::{bail, Context, Result};

use crate::{
    bundle,
    cargo_args::{CargoArgs, Profile},
    elf,
    headers::{self, Libbpf},
    kern,
    messages::Message,
    ndk::{self, Ndk},
    project::Project,
    shell::Shell,
    toolchain::{self, Target},
    tools::{self, Tools},
    uapi, user, workdir,
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
    finish(build_targets(args, None, shell), shell)
}

/// The same for a project already found (by `test`, `run`, `deploy` ...):
/// no second `cargo metadata`.
pub fn build_found(project: &Project, args: &BuildRequest, shell: &Shell) -> Result<Vec<Built>> {
    finish(build_targets(args, Some(project), shell), shell)
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

fn build_targets(
    args: &BuildRequest,
    found: Option<&Project>,
    shell: &Shell,
) -> Result<Vec<Built>> {
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
    build_each(&plan, plans, started, shell)
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

fn build_target(plan: &Plan, target: Target, tools: &Tools, shell: &Shell) -> Result<Built> {
    let Plan {
        project,
        libbpf,
        profile,
        cargo_args,
        several_targets,
        rustc_version: _,
    } = *plan;
    let xdp_dir = project.xdp_dir(&target.name);
    let clang = &tools.clang;
    let kernel = uapi::for_target(project, &target, shell)?;
    shell.verbose_status(
        "Using",
        format!(
            "kernel uapi headers {} for {} kern sources",
            kernel.description, target.name
        ),
    );
    let env = kern::KernEnv {
        clang,
        libbpf,
        compat: headers::compat_dir(project, &target, &kernel)?,
        kernel: &kernel,
        cpu: project.meta.bpf_cpu.unwrap_or(target.bpf_cpu),
        // `Compiling x_kern.c for android-arm64` when it could be another's.
        label: several_targets.then(|| target.name.clone()),
        jobs: cargo_args.job_count(),
    };
    // The loader does not embed the kern objects: clang (and what else the
    // bundle holds beside the loader) and the loader's cargo build run side
    // by side, so a touched .c costs its compile, not that plus cargo's
    // no-op; a kern error is reported once cargo is done (clang's
    // diagnostics show as they come). Before the loader's first build,
    // which takes minutes, kern goes first: a kern error stops the build.
    let (side, loader) = if user::loader_exists(project, &target, profile) {
        let (side, loader) = std::thread::scope(|scope| {
            let kern = scope.spawn(|| kern_side(project, &target, &env, &xdp_dir, shell));
            let loader = build_loader(project, &target, tools, profile, cargo_args, shell);
            (kern.join().expect("kern build thread panicked"), loader)
        });
        (side?, loader?)
    } else {
        let side = kern_side(project, &target, &env, &xdp_dir, shell)?;
        let loader = build_loader(project, &target, tools, profile, cargo_args, shell)?;
        (side, loader)
    };
    let facts = elf::check_loader(&loader, &target)?;
    let loader = if !profile.is_dev() && facts.has_symtab {
        user::stripped(
            &loader,
            tools.strip.as_deref(),
            &xdp_dir.join("loader"),
            shell,
        )?
    } else {
        loader
    };
    write_bundle(plan, target, tools, &env, side, loader, shell)
}

/// The bundle of one target's build: its MANIFEST facts, the JSON messages.
fn write_bundle(
    plan: &Plan,
    target: Target,
    tools: &Tools,
    env: &kern::KernEnv,
    side: KernSide,
    loader: PathBuf,
    shell: &Shell,
) -> Result<Built> {
    let Plan {
        project,
        libbpf,
        profile,
        ..
    } = *plan;
    let KernSide {
        kern_objects,
        baseline,
        extra_files,
    } = side;
    let xdp_dir = project.xdp_dir(&target.name);
    // Read after cargo ran: the first build of a project writes Cargo.lock.
    let cargo_lock_sha256 = std::fs::read(project.root.join("Cargo.lock"))
        .ok()
        .map(|lock| crate::hashing::sha256_hex(&lock));
    shell.message(&Message::Loader {
        target: &target.name,
        path: &loader,
    });
    let api = tools.android.as_ref().map(|(_, api)| *api);
    let ndk_revision = tools
        .android
        .as_ref()
        .map(|(ndk, _)| ndk.revision.to_string());
    let written = bundle::write(
        &xdp_dir,
        &bundle::Contents {
            name: &project.meta.name,
            target: &target.name,
            triple: &target.triple,
            profile: profile.dir_name(),
            clang_version: &tools.clang.version,
            rustc_version: plan.rustc_version,
            cargo_lock_sha256: cargo_lock_sha256.as_deref(),
            libbpf: &libbpf.describe(),
            kernel_headers: &env.kernel.description,
            bpf_cpu: env.cpu,
            ndk: ndk_revision.as_deref(),
            api,
            kern_objects: &kern_objects,
            extra_files: &extra_files,
            loader: &loader,
        },
    )?;
    shell.message(&Message::Bundle {
        target: &target.name,
        profile: profile.dir_name(),
        path: &written.bundle,
        sha256: &written.sha256,
        fresh: !written.changed,
    });
    Ok(Built {
        target: target.name,
        kern_objects,
        baseline,
        loader,
        bundle: written.bundle,
    })
}

/// What a target's bundle holds besides the loader.
struct KernSide {
    kern_objects: Vec<PathBuf>,
    /// bench's bare XDP_PASS object (also in `extra_files`).
    baseline: PathBuf,
    /// The sections sidecars, the attach table, the baseline and the
    /// packet tests (for `cargo xdp test --adb`).
    extra_files: Vec<PathBuf>,
}

/// The kern objects, then the rest of the bundle but the loader.
fn kern_side(
    project: &Project,
    target: &Target,
    env: &kern::KernEnv,
    xdp_dir: &std::path::Path,
    shell: &Shell,
) -> Result<KernSide> {
    let kern_objects = kern::build_all(project, target, env, shell)?;
    for object in &kern_objects {
        shell.message(&Message::KernObject {
            target: &target.name,
            source: &object.source,
            object: &object.object,
            fresh: object.fresh,
        });
    }
    let mut extra_files: Vec<PathBuf> = kern_objects
        .iter()
        .flat_map(|k| k.sidecars.iter().cloned())
        .collect();
    extra_files.push(write_attach_table(project, xdp_dir)?);
    let kern_objects: Vec<PathBuf> = kern_objects.into_iter().map(|k| k.object).collect();
    // The baseline of `cargo xdp bench`, here and on a device (1 KB).
    let baseline = crate::baseline::baseline_object(&env.clang.path, &xdp_dir.join("kern"))?;
    extra_files.push(baseline.clone());
    match crate::cases::bundle_cases(project, &kern_objects) {
        Ok(files) => {
            for (file, text) in files {
                let path = xdp_dir.join("kern").join(file);
                // Rewritten only when changed.
                if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                extra_files.push(path);
            }
        }
        Err(error) => shell.warn(format!(
            "the packet tests are not in the bundle (`cargo xdp test` says why): {error:#}"
        )),
    }
    Ok(KernSide {
        kern_objects,
        baseline,
        extra_files,
    })
}

/// `<name>.attach` for the bundle (which object and program the loader
/// attaches where), rewritten only when it changed.
fn write_attach_table(project: &Project, xdp_dir: &std::path::Path) -> Result<PathBuf> {
    let path = xdp_dir.join(format!("{}.attach", project.meta.name));
    let table = project.attach_table();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(table.as_str()) {
        std::fs::write(&path, table)?;
    }
    Ok(path)
}

/// The loader, or an error that says why it did not link (with the API
/// level that would have the missing symbols on Android).
fn build_loader(
    project: &Project,
    target: &Target,
    tools: &Tools,
    profile: &Profile,
    cargo_args: &CargoArgs,
    shell: &Shell,
) -> Result<PathBuf> {
    let build = user::build_loader(
        project,
        target,
        profile,
        cargo_args,
        &tools.cargo_env,
        shell,
    )?;
    if let Some(executable) = build.executable {
        return Ok(executable);
    }
    let loader = &project.meta.loader;
    if let (Some((ndk, api)), false) = (&tools.android, build.undefined_symbols.is_empty()) {
        let symbols = build.undefined_symbols.join(", ");
        let needed = build
            .undefined_symbols
            .iter()
            .filter_map(|s| ndk.first_api_defining(target.sysroot_triple(), s))
            .max();
        match needed {
            Some(level) => bail!(
                "the loader `{loader}` does not link for {} at API level {api}: Android's libc \
                 has {symbols} only from API level {level} on; build with `--api {level}` (or \
                 set `api = {level}` in [workspace.metadata.xdp]) if your devices run Android \
                 with API {level} or newer, else avoid calling {symbols}",
                target.name
            ),
            None => bail!(
                "the loader `{loader}` does not link for {} at API level {api}: undefined \
                 {symbols}, which no API level of NDK {} has; if they are newer than this NDK, \
                 try a higher --api or a newer NDK, else remove the calls",
                target.name,
                ndk.revision.release()
            ),
        }
    }
    bail!(
        "could not build the loader `{loader}` for {} (cargo exited with {}); see cargo's errors above",
        target.triple,
        build.status
    )
}

/// Builds `project` for this machine (a no-op when fresh).
pub fn build_for_host(project: &Project, cargo: &CargoArgs, shell: &Shell) -> Result<Built> {
    let build = BuildRequest {
        cargo: cargo.clone(),
        target: vec![crate::toolchain::default_target()?.to_string()],
        manifest_path: Some(project.root.join("Cargo.toml")),
        all_targets: false,
        ndk: None,
        api: None,
        install_targets: false,
    };
    Ok(build_found(project, &build, shell)?
        .pop()
        .expect("one target built"))
}

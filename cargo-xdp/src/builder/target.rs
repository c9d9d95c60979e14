//! One target's build: its kern objects and the loader side by side, the
//! loader checked (and stripped), the bundle written.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::{
    bundle,
    cargo_args::{CargoArgs, Profile},
    elf,
    headers::{self},
    kern,
    messages::Message,
    project::Project,
    shell::Shell,
    toolchain::Target,
    tools::Tools,
    uapi, user,
};

use super::{Built, Plan};

pub(super) fn build_target(
    plan: &Plan,
    target: Target,
    tools: &Tools,
    shell: &Shell,
) -> Result<Built> {
    let kernel = uapi::for_target(plan.project, &target, shell)?;
    let env = kern_env(plan, &target, tools, &kernel, shell)?;
    let Plan {
        project,
        profile,
        cargo_args,
        ..
    } = *plan;
    let xdp_dir = project.xdp_dir(&target.name);
    // The loader does not embed the kern objects: clang (and what else the
    // bundle holds beside the loader) and the loader's cargo build run side
    // by side, so a touched .c costs its compile, not that plus cargo's
    // no-op; a kern error is reported once cargo is done (clang's
    // diagnostics show as they come). Before the loader's first build,
    // which takes minutes, kern goes first: a kern error stops the build.
    // The loader is checked (and stripped) on its own side too.
    let checked_loader = || {
        let loader = build_loader(project, &target, tools, profile, cargo_args, shell)?;
        check_and_strip(&loader, &target, tools, profile, &xdp_dir, shell)
    };
    let (side, loader) = if user::loader_exists(project, &target, profile) {
        let (side, loader) = std::thread::scope(|scope| {
            let kern = scope.spawn(|| kern_side(project, &target, &env, &xdp_dir, shell));
            let loader = checked_loader();
            (kern.join().expect("kern build thread panicked"), loader)
        });
        (side?, loader?)
    } else {
        let side = kern_side(project, &target, &env, &xdp_dir, shell)?;
        (side, checked_loader()?)
    };
    write_bundle(plan, target, tools, &env, side, loader, shell)
}

/// Only the kern objects of `target` (and what the bundle would hold beside
/// them), no loader and no bundle.
pub(super) fn kern_objects(
    plan: &Plan,
    target: &Target,
    tools: &Tools,
    shell: &Shell,
) -> Result<Vec<PathBuf>> {
    let kernel = uapi::for_target(plan.project, target, shell)?;
    let env = kern_env(plan, target, tools, &kernel, shell)?;
    let xdp_dir = plan.project.xdp_dir(&target.name);
    Ok(kern_side(plan.project, target, &env, &xdp_dir, shell)?.kern_objects)
}

/// How `target`'s kern sources are compiled, against `kernel`'s headers.
fn kern_env<'a>(
    plan: &Plan<'a>,
    target: &Target,
    tools: &'a Tools,
    kernel: &'a uapi::KernelHeaders,
    shell: &Shell,
) -> Result<kern::KernEnv<'a>> {
    shell.verbose_status(
        "Using",
        format!(
            "kernel uapi headers {} for {} kern sources",
            kernel.description, target.name
        ),
    );
    Ok(kern::KernEnv {
        clang: &tools.clang,
        libbpf: plan.libbpf,
        compat: headers::compat_dir(plan.project, target, kernel)?,
        kernel,
        cpu: plan.project.meta.bpf_cpu.unwrap_or(target.bpf_cpu),
        // `Compiling x_kern.c for android-arm64` when it could be another's.
        label: plan.several_targets.then(|| target.name.clone()),
        jobs: plan.cargo_args.job_count(),
        variant: None,
    })
}

/// The loader as built, its ELF checked for the target; stripped into
/// `xdp_dir/loader` when the profile is not dev and it has a symbol table.
fn check_and_strip(
    loader: &std::path::Path,
    target: &Target,
    tools: &Tools,
    profile: &Profile,
    xdp_dir: &std::path::Path,
    shell: &Shell,
) -> Result<PathBuf> {
    let facts = elf::check_loader(loader, target)?;
    if !profile.is_dev() && facts.has_symtab {
        user::stripped(
            loader,
            tools.strip.as_deref(),
            &xdp_dir.join("loader"),
            shell,
        )
    } else {
        Ok(loader.to_path_buf())
    }
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

/// The kern objects and, while clang runs, the attach table and packet
/// tests (which need only the objects' names); then the baseline.
fn kern_side(
    project: &Project,
    target: &Target,
    env: &kern::KernEnv,
    xdp_dir: &std::path::Path,
    shell: &Shell,
) -> Result<KernSide> {
    let kern_dir = xdp_dir.join("kern");
    let names: Vec<PathBuf> = project
        .meta
        .kern
        .iter()
        .map(|source| kern::object_path(&kern_dir, source))
        .collect::<Result<_>>()?;
    let (kern_objects, extras) = std::thread::scope(|scope| {
        let extras = scope.spawn(|| bundle_extras(project, xdp_dir, &names, shell));
        let kern_objects = kern::build_all(project, target, env, shell);
        (kern_objects, extras.join().expect("bundle thread panicked"))
    });
    let (kern_objects, mut extras) = (kern_objects?, extras?);
    // After the kern build: a failed one leaves no object behind, this one
    // included (compiled once per target, a stat after that).
    let baseline = crate::baseline::baseline_object(&env.clang.path, &xdp_dir.join("kern"))?;
    extras.push(baseline.clone());
    for object in &kern_objects {
        shell.message(&Message::KernObject {
            target: &target.name,
            source: &object.source,
            object: &object.object,
            fresh: object.fresh,
        });
    }
    if is_default_target(project, target) {
        if let Some(path) = crate::compile_db::write(project, &kern_objects)? {
            shell.verbose_status("Wrote", path.display().to_string());
        }
    }
    let mut extra_files: Vec<PathBuf> = kern_objects
        .iter()
        .flat_map(|k| k.sidecars.iter().cloned())
        .collect();
    extra_files.extend(extras);
    Ok(KernSide {
        kern_objects: kern_objects.into_iter().map(|k| k.object).collect(),
        baseline,
        extra_files,
    })
}

/// The target a build without --target builds first: the one whose
/// commands compile_commands.json holds.
fn is_default_target(project: &Project, target: &Target) -> bool {
    let default = match project.meta.targets.first() {
        Some(name) => crate::toolchain::find(name.trim()).map(|t| t.name).ok(),
        None => crate::toolchain::default_target().map(str::to_string).ok(),
    };
    default.as_deref() == Some(target.name.as_str())
}

/// The attach table and the packet tests of the objects `names` (for
/// `test --adb`): the files.
fn bundle_extras(
    project: &Project,
    xdp_dir: &std::path::Path,
    names: &[PathBuf],
    shell: &Shell,
) -> Result<Vec<PathBuf>> {
    let mut files = vec![write_attach_table(project, xdp_dir)?];
    match crate::cases::bundle_cases(project, names) {
        Ok(cases) => {
            for (file, text) in cases {
                let path = xdp_dir.join("kern").join(file);
                // Rewritten only when changed.
                if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                files.push(path);
            }
        }
        Err(error) => shell.warn(format!(
            "the packet tests are not in the bundle (`cargo xdp test` says why): {error:#}"
        )),
    }
    Ok(files)
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

//! `cargo xdp build`: for each target, kern objects (clang), the loader
//! (cargo), then the bundle. See ARCHITECTURE.md for the whole flow.

use std::{path::PathBuf, time::Instant};

use anyhow::{bail, Result};

use crate::{
    bundle, clang,
    cli::BuildArgs,
    elf, kern,
    project::Project,
    shell::Shell,
    toolchain::{self, Target},
    user,
};

/// What one target's build produced.
pub struct Built {
    pub target: Target,
    pub kern_objects: Vec<PathBuf>,
    pub loader: PathBuf,
}

pub fn build(args: &BuildArgs, shell: &Shell) -> Result<Vec<Built>> {
    let started = Instant::now();
    let project = Project::find(args.manifest_path.as_deref())?;
    let names = if !args.target.is_empty() {
        args.target.clone()
    } else if !project.meta.targets.is_empty() {
        project.meta.targets.clone()
    } else {
        vec![toolchain::DEFAULT_TARGET.to_string()]
    };
    let targets = names
        .iter()
        .map(|n| toolchain::find(n))
        .collect::<Result<Vec<_>>>()?;
    if let Some(android) = targets.iter().find(|t| t.ndk) {
        bail!(
            "target {} needs the Android NDK, which this version of cargo-xdp cannot drive yet; \
             build for linux-x86_64 meanwhile",
            android.name
        );
    }
    let profile = if args.release { "release" } else { "debug" };
    let mut built = Vec::new();
    for target in targets {
        built.push(build_target(&project, target, args.release, shell)?);
    }
    let names: Vec<_> = built.iter().map(|b| b.target.name.as_str()).collect();
    shell.status(
        "Finished",
        format!(
            "`{profile}` bundle for {} in {:.2}s",
            names.join(", "),
            started.elapsed().as_secs_f64()
        ),
    );
    shell.message(serde_json::json!({"reason": "build-finished", "success": true}));
    Ok(built)
}

fn build_target(project: &Project, target: Target, release: bool, shell: &Shell) -> Result<Built> {
    let xdp_dir = project.xdp_dir(&target.name);
    let clang = clang::inspect(&clang::locate()?, &xdp_dir.join("clang.json"))?;
    if clang.strip.is_none() {
        shell.warn("llvm-strip not found: kern objects keep their DWARF debug info (install llvm)");
    }
    let kern_objects = kern::build_all(project, &target, &clang, shell)?;
    for object in &kern_objects {
        shell.message(serde_json::json!({
            "reason": "kern-object", "target": target.name, "source": object.source,
            "object": object.object, "fresh": object.fresh,
        }));
    }
    user::check_rust_target(&target)?;
    let loader = user::build_loader(project, &target, release, shell)?;
    elf::check_loader(&loader, &target)?;
    shell.message(serde_json::json!({"reason": "loader", "target": target.name, "path": loader}));
    let kern_objects: Vec<PathBuf> = kern_objects.into_iter().map(|k| k.object).collect();
    let written = bundle::write(
        &xdp_dir,
        &bundle::Contents {
            name: &project.meta.name,
            target: &target.name,
            triple: &target.triple,
            profile: if release { "release" } else { "debug" },
            clang_version: &clang.version,
            kern_objects: &kern_objects,
            loader: &loader,
        },
    )?;
    let shown = written
        .bundle
        .strip_prefix(&project.root)
        .unwrap_or(&written.bundle);
    if written.changed {
        shell.status("Bundled", shown.display());
    }
    shell.message(serde_json::json!({
        "reason": "bundle", "target": target.name, "path": written.bundle, "sha256": written.sha256,
        "fresh": !written.changed,
    }));
    Ok(Built {
        target,
        kern_objects,
        loader,
    })
}

//! `cargo xdp check`: every program of every kern object (and of each
//! kernel variant) loaded through the verifier, here or on a device's
//! kernel, nothing attached: the `cargo check` of BPF. The loader's
//! `check` does the loading (cargo-xdp-loader's check.rs); this reports.

use std::{ffi::OsStr, path::PathBuf};

use anyhow::{bail, Context, Result};
use cargo_xdp_wire::check::ProgramCheck;

use crate::{
    builder,
    cargo_args::CargoArgs,
    local::Privilege,
    messages::Message,
    project::Project,
    session::{self, DeviceChoice},
    shell::Shell,
};

#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The target to build for: this machine's (the default), or with a
    /// device the device's.
    pub target: Option<String>,
    /// Check on this device's kernel, in a trial; None: this machine.
    pub device: Option<DeviceChoice>,
    pub cargo: CargoArgs,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

pub fn check(args: &CheckOptions, shell: &Shell) -> Result<()> {
    let project = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
    let (checks, kernel) = match &args.device {
        Some(device) => on_device(device, args, &project, shell)?,
        None => here(&project, args, shell)?,
    };
    report(&checks, &kernel, &project, shell)
}

/// This machine's kernel: the loader run as root on each kern object.
fn here(
    project: &Project,
    args: &CheckOptions,
    shell: &Shell,
) -> Result<(Vec<ProgramCheck>, String)> {
    if let Some(target) = &args.target {
        let here = crate::toolchain::default_target()?;
        if crate::toolchain::find(target)?.name != here {
            bail!(
                "a check loads the programs into a kernel, here this machine's ({here}); for \
                 {target} check on a device with `cargo xdp check --adb`"
            );
        }
    }
    let privilege = Privilege::acquire("`cargo xdp check`", shell)?;
    let built = builder::build_for_host(project, &args.cargo, shell)?;
    let mut checks = Vec::new();
    for object in &built.kern_objects {
        let mut loader_args = vec![
            OsStr::new("check"),
            OsStr::new("--object"),
            object.as_os_str(),
        ];
        if object.with_extension("variants").is_file() {
            loader_args.push(OsStr::new("--variants"));
        }
        let out = privilege
            .command(&built.loader, &loader_args)
            .echo(shell)
            .output()
            .context("cannot run the loader")?;
        if !out.status.success() {
            bail!(
                "the loader's check failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        checks.extend(read_answers(&String::from_utf8_lossy(&out.stdout))?);
    }
    let kernel = crate::local::running_kernel().map_or("this machine's kernel".into(), |k| {
        format!("this machine's kernel ({k})")
    });
    Ok((checks, kernel))
}

/// A device's kernel: the bundle built for it, checked by root in a trial.
fn on_device(
    choice: &DeviceChoice,
    args: &CheckOptions,
    project: &Project,
    shell: &Shell,
) -> Result<(Vec<ProgramCheck>, String)> {
    let (_, adb) = session::connect(choice)?;
    let trial = session::prepare_trial(&adb, project, args.target.as_deref())?;
    let bundle = builder::bundle_for(project, &args.cargo, &trial.target, shell)?;
    let mut checks = Vec::new();
    session::run_trial(&trial, project, &bundle, &[], &["check"], &mut |line| {
        match serde_json::from_str::<ProgramCheck>(line) {
            Ok(check) => checks.push(check),
            Err(_) => shell.device_text(&format!("{line}\n")),
        }
    })?;
    if checks.is_empty() {
        bail!(
            "{} answered no program: its loader may predate `check` (cargo xdp upgrade)",
            trial.adb.serial()
        );
    }
    Ok((checks, format!("{}'s kernel", trial.adb.serial())))
}

fn read_answers(stdout: &str) -> Result<Vec<ProgramCheck>> {
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .with_context(|| format!("the loader's check answered `{line}`"))
        })
        .collect()
}

/// A line per program, like cargo's status lines; an error when the kernel
/// refused one (its verifier log in a file).
fn report(checks: &[ProgramCheck], kernel: &str, project: &Project, shell: &Shell) -> Result<()> {
    let logs = crate::verifier_log::dir(&project.target_dir);
    let mut refused = 0;
    for check in checks {
        let what = match &check.variant {
            Some(kernel) => format!("{} in {} (kernel {kernel}+)", check.program, check.object),
            None => format!("{} in {}", check.program, check.object),
        };
        if let Some(error) = &check.error {
            refused += 1;
            let error = crate::verifier_log::condense(error, &logs);
            shell.error_line(format!("{what}: refused by {kernel}: {error}"));
        } else if let Some(why) = &check.skipped {
            shell.status("Skipped", format!("{what}: {why}"));
        } else {
            let insns = check.insns.map_or("?".into(), |n| n.to_string());
            let verified = check.verified.map_or(String::new(), |n| {
                format!(", {n} processed by the verifier")
            });
            shell.status("Checked", format!("{what}: {insns} instructions{verified}"));
        }
        shell.message(&Message::Check {
            check,
            ok: check.error.is_none(),
        });
    }
    if refused > 0 {
        bail!("{refused} of {} programs refused by {kernel}", checks.len());
    }
    let accepted = checks.iter().filter(|c| c.skipped.is_none()).count();
    shell.status(
        "Finished",
        format!("{accepted} programs accepted by {kernel}, nothing attached"),
    );
    Ok(())
}

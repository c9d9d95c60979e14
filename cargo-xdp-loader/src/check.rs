//! `check [--object O] [--variants]`: every XDP program of the object (and
//! with `--variants`, of each kernel variant this kernel runs) loaded
//! through this kernel's verifier, one [`ProgramCheck`] line each. Nothing
//! is attached; the maps are created in a private bpffs directory (as
//! `test-run`'s) and removed with it.

use std::path::Path;

use anyhow::Result;
use aya::programs::{Program, Xdp};
use cargo_xdp_wire::{check::ProgramCheck, variants::KernelVersion};

use crate::{
    setup,
    testrun::Scratch,
    variant,
    xdp::{self, Project},
};

/// Checks `object` (and its variants with `variants`), printing a line per
/// program.
pub fn command(project: &Project, object: &Path, variants: bool) -> Result<()> {
    xdp::require_root()?;
    xdp::raise_memlock();
    let mut objects = vec![(object.to_path_buf(), None)];
    if variants {
        let listed = variant::listed(object).into_iter();
        objects.extend(listed.map(|v| (object.with_file_name(&v.file), Some(v.kernel))));
    }
    let running = variant::running_kernel();
    for (object, kernel) in &objects {
        let base = ProgramCheck {
            object: file_name(object),
            variant: kernel.map(|k| k.to_string()),
            program: "*".into(),
            ..ProgramCheck::default()
        };
        let checks = match (kernel, running) {
            (Some(kernel), running) if running.is_none_or(|r| r < *kernel) => {
                vec![ProgramCheck {
                    skipped: Some(too_new(*kernel, running)),
                    ..base
                }]
            }
            _ => check_object(project, object, &base).unwrap_or_else(|error| {
                vec![ProgramCheck {
                    error: Some(format!("{error:#}")),
                    ..base
                }]
            }),
        };
        for check in checks {
            println!("{check}");
        }
    }
    Ok(())
}

fn too_new(kernel: KernelVersion, running: Option<KernelVersion>) -> String {
    format!(
        "the variant for kernel {kernel}+ does not run on kernel {}",
        running.map_or("unknown".into(), |r| r.to_string())
    )
}

/// Each program of `object` loaded on its own (maps in a scratch bpffs).
fn check_object(
    project: &Project,
    object: &Path,
    base: &ProgramCheck,
) -> Result<Vec<ProgramCheck>> {
    let scratch = Scratch::new(project)?;
    let mut ebpf = setup::load(object, &scratch.project.maps_dir(), &[])?;
    let mut names: Vec<String> = ebpf.programs().map(|(name, _)| name.to_string()).collect();
    crate::short_sort::sort_short(&mut names);
    let mut checks = Vec::new();
    for name in names {
        let mut check = ProgramCheck {
            program: name.clone(),
            ..base.clone()
        };
        match ebpf.program_mut(&name).expect("listed above") {
            Program::Xdp(program) => match load(program, &name) {
                Ok((insns, verified)) => (check.insns, check.verified) = (insns, verified),
                Err(error) => check.error = Some(format!("{error:#}")),
            },
            _ => check.skipped = Some("not an XDP program: the loader does not load it".into()),
        }
        checks.push(check);
    }
    drop(scratch);
    Ok(checks)
}

/// Loads one program: (instructions as loaded, instructions the verifier
/// processed) from the kernel's program info.
fn load(program: &mut Xdp, name: &str) -> Result<(Option<u32>, Option<u32>)> {
    program.load().map_err(|error| xdp::refused(name, error))?;
    let info = program.info()?;
    Ok((
        info.size_translated().map(|bytes| bytes / 8),
        info.verified_instruction_count(),
    ))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

//! What aya 0.14 refuses in an object clang made, rewritten at build
//! time: program sections it cannot parse (`SEC("xdp_pass")`, `SEC("xdp1")`,
//! `SEC("prog")`: older loaders took any name) become `xdp` (other program
//! types `classifier`), AOSP's `.maps.NAME` annotations go, and a PROG_ARRAY
//! filled in C is emptied, its slots left to the loader. The source is
//! compiled again to LLVM IR, rewritten there (ir.rs), and the IR compiled
//! to the object, so clang itself merges the programs into one section with
//! its relocations and BTF line and function info (renaming sections in the
//! ELF would leave BTF.ext naming the old ones, and two sections called
//! `xdp`). Each rewrite is said in one line.

use std::{fs, path::Path};

use anyhow::{Context, Result};

use super::{compile_flags, run_clang, KernEnv};
use crate::{elf, ir, project::Project, shell::Shell, toolchain::Target};

/// What rewrite_for_aya changed that the loader must know.
#[derive(Default)]
pub(super) struct Rewritten {
    /// Renamed program sections, by their old names.
    pub renamed: Vec<elf::ProgramSection>,
    /// PROG_ARRAY slots filled in C.
    pub tails: Vec<ir::DeclaredTail>,
}

/// What in an object aya 0.14 would refuse.
struct Needs {
    /// Sections to rename, and to what.
    legacy: Vec<(elf::ProgramSection, &'static str)>,
    /// Of those, the programs that are not XDP: (section, kind).
    not_xdp: Vec<(String, &'static str)>,
    /// AOSP's `.maps.NAME` sections.
    annotations: Vec<String>,
    /// A map filled in C (relocations in `.maps`).
    filled_in_c: bool,
}

impl Needs {
    fn of(file: &::object::File) -> Needs {
        // Legacy XDP sections become `xdp`; programs of other types whose
        // section aya cannot parse become `classifier`, only so the object
        // parses (the loader never offers them for attach).
        let mut not_xdp = Vec::new();
        let legacy = elf::program_sections(file)
            .into_iter()
            .filter_map(|s| match elf::classify(&s.name) {
                elf::SectionKind::Legacy { to } => Some((s, to)),
                elf::SectionKind::NotXdp { kind } => {
                    not_xdp.push((s.name.clone(), kind));
                    Some((s, elf::NOT_XDP_SECTION))
                }
                _ => None,
            })
            .collect();
        // AOSP's DEFINE_BPF_MAP puts a `.maps.NAME` section beside each
        // legacy map, carrying its key and value types in BTF; aya (0.14
        // and 0.16 alike) takes every `.maps*` section for a BTF map and
        // refuses the object. The map itself is the SEC("maps") definition:
        // the annotations go, the maps keep their sizes.
        let annotations = ::object::Object::sections(file)
            .filter_map(|s| ::object::ObjectSection::name(&s).ok())
            .filter(|name| name.starts_with(".maps."))
            .map(str::to_string)
            .collect();
        // Relocations in `.maps` point at what a map is filled with in C:
        // the programs of a PROG_ARRAY, libbpf's declarative way.
        let filled_in_c = ::object::Object::section_by_name(file, ".maps")
            .is_some_and(|maps| ::object::ObjectSection::relocations(&maps).next().is_some());
        Needs {
            legacy,
            not_xdp,
            annotations,
            filled_in_c,
        }
    }

    fn nothing(&self) -> bool {
        self.legacy.is_empty() && self.annotations.is_empty() && !self.filled_in_c
    }
}

/// The object at `object`, built from `source`, rewritten where aya would
/// refuse it (see the module's documentation).
pub(super) fn rewrite_for_aya(
    project: &Project,
    target: &Target,
    env: &KernEnv,
    source: &Path,
    object: &Path,
    shell: &Shell,
) -> Result<Rewritten> {
    let data = fs::read(object)?;
    let file = ::object::File::parse(&*data)
        .with_context(|| format!("{} is not an ELF object", object.display()))?;
    let needs = Needs::of(&file);
    if needs.nothing() {
        return Ok(Rewritten::default());
    }
    let mut tails = Vec::new();
    through_ir(project, target, env, source, object, shell, |text| {
        let renamed = ir::park_in_ir(&ir::rename_in_ir(&text, &needs.legacy), &needs.annotations);
        let (rewritten, found) = ir::move_prog_array_values(&renamed);
        tails = found;
        rewritten
    })?;
    report(shell, source, &needs, &tails);
    Ok(Rewritten {
        renamed: needs.legacy.into_iter().map(|(s, _)| s).collect(),
        tails,
    })
}

/// `source` compiled to LLVM IR, `edit`ed, and compiled to `object`.
fn through_ir(
    project: &Project,
    target: &Target,
    env: &KernEnv,
    source: &Path,
    object: &Path,
    shell: &Shell,
    edit: impl FnOnce(String) -> String,
) -> Result<()> {
    let ir = tempfile::Builder::new()
        .prefix(".tmp")
        .suffix(".ll")
        .tempfile_in(object.parent().unwrap_or(Path::new(".")))?;
    let mut args = compile_flags(project, target, env, source);
    args.extend(["-S".into(), "-emit-llvm".into()]);
    args.extend([
        source.display().to_string(),
        "-o".into(),
        ir.path().display().to_string(),
    ]);
    run_clang(env.clang, &args, &project.root, source, shell)?;
    let text = fs::read_to_string(ir.path())?;
    fs::write(ir.path(), edit(text))?;
    let args: Vec<String> = ["-O2", "-g", "-fno-addrsig", "-target", "bpf"]
        .map(String::from)
        .into_iter()
        .chain([
            env.cpu.flag(),
            "-c".into(),
            ir.path().display().to_string(),
            "-o".into(),
            object.display().to_string(),
        ])
        .collect();
    run_clang(env.clang, &args, &project.root, source, shell)
}

/// One line per rewrite.
fn report(shell: &Shell, source: &Path, needs: &Needs, tails: &[ir::DeclaredTail]) {
    if !needs.annotations.is_empty() {
        shell.status(
            "Moved",
            format!(
                "the BTF annotations of AOSP's DEFINE_BPF_MAP in {} ({}) to section `{}` (aya \
                 0.14 reads a `.maps.NAME` section as maps and fails); each map keeps the type \
                 and sizes of its SEC(\"maps\") definition, and `map dump` reads its key and \
                 value types there",
                source.display(),
                needs
                    .annotations
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                ir::PARKED_ANNOTATIONS
            ),
        );
    }
    let mut maps: Vec<&str> = tails.iter().map(|t| t.map.as_str()).collect();
    maps.dedup();
    for map in maps {
        let slots: Vec<String> = tails
            .iter()
            .filter(|t| t.map == map)
            .map(|t| format!("{}: {}", t.index, t.program))
            .collect();
        shell.status(
            "Moved",
            format!(
                "the slots of PROG_ARRAY `{map}` filled in {} ({}) to the loader, which fills \
                 them at attach as libbpf does at load (aya 0.14 cannot read them from the object)",
                source.display(),
                slots.join(", ")
            ),
        );
    }
    for (section, to) in &needs.legacy {
        if let Some((_, kind)) = needs.not_xdp.iter().find(|(name, _)| *name == section.name) {
            shell.status(
                "Leaving",
                format!(
                    "{} in {} (section `{}`) out of attach: a {kind} program, not XDP",
                    section.functions.join(", "),
                    source.display(),
                    section.name
                ),
            );
            continue;
        }
        shell.status(
            "Renamed",
            format!(
                "section `{}` to `{to}` in {} (aya loads XDP programs only from `{to}`); attach \
                 with --prog {} (or --prog {})",
                section.name,
                source.display(),
                section.functions.join(" / --prog "),
                section.name
            ),
        );
    }
}

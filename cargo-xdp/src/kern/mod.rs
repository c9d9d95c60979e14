//! Compiling kern sources with `clang -target bpf`, in parallel, skipping
//! those whose depfile says nothing changed.
//!
//! Per source, in `target/xdp/<target>/kern/`: `<stem>.o` (the object),
//! `<stem>.d` (clang's depfile) and `<stem>.cmd` (the command line that made
//! the object: a changed flag or clang rebuilds it).

mod fresh;
mod rewrite;

use fresh::is_fresh;
pub use fresh::parse_depfile;
use rewrite::{rewrite_for_aya, Rewritten};

use std::{
    fs,
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::{bail, Context, Result};

use cargo_xdp_wire::variants::{self, KernelVersion, Variant};

use crate::process::Process;
use crate::{
    clang::Clang, elf, headers::Libbpf, isa::BpfCpu, project::Project, shell::Shell,
    toolchain::Target, uapi::KernelHeaders,
};

/// What every kern compile of one target gets besides the project's flags.
#[derive(Clone)]
pub struct KernEnv<'a> {
    pub clang: &'a Clang,
    pub libbpf: &'a Libbpf,
    /// The target's compatibility headers (headers::compat_dir).
    pub compat: PathBuf,
    /// The kernel's uapi headers, read ahead of the C library's.
    pub kernel: &'a KernelHeaders,
    pub cpu: BpfCpu,
    /// The target's name, for the status lines of a build of several.
    pub label: Option<String>,
    /// At most this many clangs at once (`-j`, else the CPUs: more only
    /// share them).
    pub jobs: usize,
    /// The kernel variant this compile is for (`CARGO_XDP_KERNEL` defined),
    /// None for the base object.
    pub variant: Option<KernelVersion>,
}

pub struct KernObject {
    pub source: PathBuf,
    pub object: PathBuf,
    /// Files bundled beside the object for the loader: `<stem>.sections`
    /// when legacy sections were renamed (SECTION FUNCTION lines, for
    /// --prog), `<stem>.tails` when a PROG_ARRAY is filled in C (MAP INDEX
    /// PROGRAM lines, filled at attach); the kernel variants that differ
    /// from the object, their own sidecars and `<stem>.variants` listing
    /// them.
    pub sidecars: Vec<PathBuf>,
    /// The variants listed in `<stem>.variants`, oldest kernel first.
    pub variants: Vec<Variant>,
    /// The clang command that builds it, run in the project root (the
    /// program first; for compile_commands.json).
    pub command: Vec<String>,
    /// True when the object (and every variant) was up to date and clang
    /// did not run.
    pub fresh: bool,
}

/// Every kern source, and each again per kernel variant, `env.jobs` clangs
/// at a time; one KernObject per source, in the order of
/// `[workspace.metadata.xdp] kern`.
pub fn build_all(
    project: &Project,
    target: &Target,
    env: &KernEnv,
    shell: &Shell,
) -> Result<Vec<KernObject>> {
    let out_dir = project.xdp_dir(&target.name).join("kern");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let kernels: Vec<Option<KernelVersion>> = std::iter::once(None)
        .chain(project.meta.variants().into_iter().map(Some))
        .collect();
    let units: Vec<(&PathBuf, Option<KernelVersion>)> = project
        .meta
        .kern
        .iter()
        .flat_map(|source| kernels.iter().map(move |&kernel| (source, kernel)))
        .collect();
    let bar = shell.progress(units.len() as u64, "Kern");
    let workers = env.jobs.clamp(1, units.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<KernObject>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (out_dir, bar, next, units) = (&out_dir, &bar, &next, &units);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(source, variant)) = units.get(index) else {
                            return done;
                        };
                        let env = KernEnv {
                            variant,
                            ..env.clone()
                        };
                        done.push((
                            index,
                            build_one(project, target, &env, source, out_dir, shell),
                        ));
                        bar.inc(1);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("kern build thread panicked"))
            .collect()
    });
    drop(bar);
    // In the order of [workspace.metadata.xdp] kern, whoever built them;
    // each source's base object first, then its variants.
    results.sort_by_key(|(index, _)| *index);
    let mut built = results.into_iter().map(|(_, result)| result);
    let mut objects = Vec::new();
    while let Some(base) = built.next() {
        let variants: Vec<Result<KernObject>> = built.by_ref().take(kernels.len() - 1).collect();
        objects.push(with_variants(base?, &kernels[1..], variants)?);
    }
    Ok(objects)
}

/// `base` with those of its `variants` that differ from it (or from the
/// variant before) listed in `<stem>.variants`, bundled beside it.
fn with_variants(
    mut base: KernObject,
    kernels: &[Option<KernelVersion>],
    variants: Vec<Result<KernObject>>,
) -> Result<KernObject> {
    let list_path = base.object.with_extension("variants");
    let mut previous =
        fs::read(&base.object).with_context(|| format!("cannot read {}", base.object.display()))?;
    for (kernel, variant) in kernels.iter().zip(variants) {
        let variant = variant?;
        base.fresh &= variant.fresh;
        let bytes = fs::read(&variant.object)
            .with_context(|| format!("cannot read {}", variant.object.display()))?;
        if bytes == previous {
            continue; // the source does not look at CARGO_XDP_KERNEL here
        }
        previous = bytes;
        base.variants.push(Variant {
            kernel: kernel.expect("variants have a kernel"),
            file: file_name(&variant.object),
        });
        base.sidecars.push(variant.object);
        base.sidecars.extend(variant.sidecars);
    }
    if base.variants.is_empty() {
        let _ = fs::remove_file(&list_path);
    } else {
        write_if_changed(&list_path, variants::render(&base.variants))?;
        base.sidecars.push(list_path);
    }
    Ok(base)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Writes `text` to `path` unless it holds it already (its mtime kept, so
/// the bundle stays fresh).
fn write_if_changed(path: &Path, text: String) -> Result<()> {
    if fs::read(path).ok().as_deref() != Some(text.as_bytes()) {
        fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Where the object of `source` goes in `out_dir` (`<stem>.o`).
pub fn object_path(out_dir: &Path, source: &Path) -> Result<PathBuf> {
    let stem = source
        .file_stem()
        .with_context(|| format!("kern source `{}` has no file name", source.display()))?;
    let mut name = stem.to_os_string();
    name.push(".o"); // `a.b.c` -> `a.b.o`, as with_extension would not
    Ok(out_dir.join(name))
}

/// The object of `source` for kernel variant `variant` (`<stem>.k5.2.o`),
/// the base object for None.
fn variant_object_path(
    out_dir: &Path,
    source: &Path,
    variant: Option<KernelVersion>,
) -> Result<PathBuf> {
    let base = object_path(out_dir, source)?;
    Ok(match variant {
        Some(kernel) => out_dir.join(kernel.object_name(&file_name(&base.with_extension("")))),
        None => base,
    })
}

/// ` for android-arm64` in a build of several targets, ` for kernel 5.2+`
/// for a variant: what tells this compile from the others of the source.
fn compile_label(env: &KernEnv) -> String {
    let target = env.label.as_ref().map(|name| format!(" for {name}"));
    let variant = env.variant.map(|kernel| format!(" for kernel {kernel}+"));
    target.unwrap_or_default() + &variant.unwrap_or_default()
}

fn build_one(
    project: &Project,
    target: &Target,
    env: &KernEnv,
    source: &Path,
    out_dir: &Path,
    shell: &Shell,
) -> Result<KernObject> {
    let clang = env.clang;
    let object = variant_object_path(out_dir, source, env.variant)?;
    let depfile = object.with_extension("d");
    let stamp = object.with_extension("cmd");
    // The recipe names the final object; clang writes a temporary one of
    // this build's own (`.tmp*`, swept if the build is killed), which becomes
    // the object only once stripped and checked.
    let final_args = clang_args(project, target, env, source, &depfile, &object);
    let recipe = format!(
        "{}\n{}\n{}\n",
        clang.path.display(),
        clang.version,
        final_args.join("\n")
    );
    let command: Vec<String> = std::iter::once(clang.path.to_string_lossy().into_owned())
        .chain(final_args)
        .collect();

    let sidecars = [
        object.with_extension("sections"),
        object.with_extension("tails"),
    ];
    if is_fresh(&object, &stamp, &recipe, &depfile, &project.root) {
        return Ok(KernObject {
            source: source.to_path_buf(),
            sidecars: sidecars.into_iter().filter(|s| s.is_file()).collect(),
            object,
            variants: Vec::new(),
            command,
            fresh: true,
        });
    }
    shell.status(
        "Compiling",
        format!(
            "{}{} (clang -target bpf)",
            source.display(),
            compile_label(env)
        ),
    );
    let _ = fs::remove_file(&stamp);
    let partial = tempfile::Builder::new()
        .prefix(".tmp")
        .suffix(".o")
        .tempfile_in(out_dir)
        .with_context(|| format!("cannot write in {}", out_dir.display()))?;
    let args = clang_args(project, target, env, source, &depfile, partial.path());
    let started = SystemTime::now();
    run_clang(clang, &args, &project.root, source, shell)?;
    let Rewritten { renamed, tails } =
        rewrite_for_aya(project, target, env, source, partial.path(), shell)?;
    let written = write_sidecars(&sidecars, &renamed, &tails)?;
    strip_check_and_keep(clang, partial, &object, source, shell)?;
    // Last: only a finished, stripped, checked object has a stamp, dated
    // when clang started (an edit made while it ran is newer).
    fs::File::create(&stamp)
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, recipe.as_bytes())?;
            file.set_modified(started)
        })
        .with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(KernObject {
        source: source.to_path_buf(),
        sidecars: written,
        object,
        variants: Vec::new(),
        command,
        fresh: false,
    })
}

/// The object clang wrote to `partial`: -g's DWARF stripped (.BTF and
/// .BTF.ext, needed to load, stay), checked, and made `object` unless the
/// same bytes are there already (then the object keeps its mtime, so the
/// bundle stays fresh).
fn strip_check_and_keep(
    clang: &Clang,
    partial: tempfile::NamedTempFile,
    object: &Path,
    source: &Path,
    shell: &Shell,
) -> Result<()> {
    let built = fs::read(partial.path())
        .with_context(|| format!("cannot read {}", partial.path().display()))?;
    let stripped = match elf::strip_debug(&built) {
        Ok(stripped) => stripped,
        // Sections the builder does not know (flags of the project's own):
        // llvm-strip, else DWARF stays.
        Err(error) => strip_with_llvm(clang, partial.path(), &built, shell).with_context(|| {
            format!(
                "cannot strip the kern object built from {} ({error:#})",
                source.display()
            )
        })?,
    };
    elf::check_kern_bytes(partial.path(), &stripped)
        .with_context(|| format!("kern object built from {}", source.display()))?;
    if fs::read(object).ok().as_deref() != Some(&stripped[..]) {
        fs::write(partial.path(), &stripped)
            .with_context(|| format!("cannot write {}", partial.path().display()))?;
        partial
            .persist(object)
            .with_context(|| format!("cannot write {}", object.display()))?;
    }
    Ok(())
}

/// The loader's sidecars of one object: `.sections` (SECTION FUNCTION per
/// line: --prog takes either name) and `.tails` (MAP INDEX PROGRAM per line:
/// slots filled at attach); removed when there is nothing to say. The ones
/// written.
fn write_sidecars(
    sidecars: &[PathBuf; 2],
    renamed: &[elf::ProgramSection],
    tails: &[crate::ir::DeclaredTail],
) -> Result<Vec<PathBuf>> {
    let sections: String = renamed
        .iter()
        .flat_map(|s| s.functions.iter().map(move |f| format!("{} {f}\n", s.name)))
        .collect();
    let tails: String = tails
        .iter()
        .map(|t| format!("{} {} {}\n", t.map, t.index, t.program))
        .collect();
    let mut written = Vec::new();
    for (sidecar, lines) in sidecars.iter().zip([sections, tails]) {
        if lines.is_empty() {
            let _ = fs::remove_file(sidecar);
        } else {
            fs::write(sidecar, lines)
                .with_context(|| format!("cannot write {}", sidecar.display()))?;
            written.push(sidecar.clone());
        }
    }
    Ok(written)
}

/// `llvm-strip -g` of `path` (what `built` holds), when the in-process
/// strip cannot read the object; without llvm-strip the object keeps its
/// DWARF (it loads the same, only larger).
fn strip_with_llvm(clang: &Clang, path: &Path, built: &[u8], shell: &Shell) -> Result<Vec<u8>> {
    let Some(strip) = &clang.strip else {
        shell.warn(format!(
            "{} keeps its DWARF debug info: install llvm for llvm-strip",
            path.display()
        ));
        return Ok(built.to_vec());
    };
    let status = Process::new(strip).arg("-g").arg(path).status()?;
    if !status.success() {
        bail!("{} -g {} failed", strip.display(), path.display());
    }
    Ok(fs::read(path)?)
}

/// Runs clang, passing its diagnostics on (and as JSON messages).
pub(super) fn run_clang(
    clang: &Clang,
    args: &[String],
    root: &Path,
    source: &Path,
    shell: &Shell,
) -> Result<()> {
    let output = Process::new(&clang.path)
        .args(args)
        .current_dir(root)
        .echo(shell)
        .output()
        .with_context(|| format!("cannot run {}", clang.path.display()))?;
    // clang's own diagnostics name the file (relative to the project root).
    let diagnostics = String::from_utf8_lossy(&output.stderr);
    if !shell.quiet() || !output.status.success() {
        shell.passthrough(&diagnostics);
    }
    if !diagnostics.is_empty() {
        shell.message(&crate::messages::Message::KernDiagnostic {
            source,
            rendered: &diagnostics,
        });
    }
    if !output.status.success() {
        bail!(
            "could not compile kern source `{}` (clang exited with {}); fix the errors above",
            source.display(),
            output.status
        );
    }
    Ok(())
}

/// The clang command line for one source (paths relative to the project
/// root). Include order: the project's own dirs and cflags, then the
/// target's compatibility headers, libbpf's `<bpf/...>` and the kernel's
/// uapi headers (uapi.rs), then the C
/// library's (probed, or the NDK sysroot's), then the old `"bpf_helpers.h"`
/// spelling.
pub fn clang_args(
    project: &Project,
    target: &Target,
    env: &KernEnv,
    source: &Path,
    depfile: &Path,
    output: &Path,
) -> Vec<String> {
    let mut args = compile_flags(project, target, env, source);
    args.extend(["-MD".into(), "-MF".into(), depfile.display().to_string()]);
    args.extend([
        "-c".into(),
        source.display().to_string(),
        "-o".into(),
        output.display().to_string(),
    ]);
    args
}

/// Everything but what to do with which files: optimisation, target, the
/// instruction set, defines and include dirs.
pub(super) fn compile_flags(
    project: &Project,
    target: &Target,
    env: &KernEnv,
    source: &Path,
) -> Vec<String> {
    let kern_dir = source.parent().unwrap_or(Path::new("."));
    // -fno-addrsig: the linker's address-significance table means nothing
    // to a BPF loader, and the in-process strip does not know its type.
    let mut args: Vec<String> = ["-O2", "-g", "-fno-addrsig", "-Wall", "-target", "bpf"]
        .map(String::from)
        .to_vec();
    args.push(env.cpu.flag());
    args.push(format!("-D__TARGET_ARCH_{}", target.bpf_arch));
    if let Some(kernel) = env.variant {
        args.push(format!("-DCARGO_XDP_KERNEL={:#08x}", kernel.code()));
    }
    for dir in [kern_dir.join("include"), kern_dir.to_path_buf()] {
        args.push(format!("-I{}", dir.display()));
    }
    args.extend(project.meta.cflags.iter().cloned());
    args.extend(["-isystem".into(), env.compat.display().to_string()]);
    let libbpf = env.libbpf.clang_args();
    args.extend(libbpf[..2].iter().cloned());
    args.extend(env.kernel.clang_args());
    if env.clang.isolated {
        args.push("-nostdlibinc".into());
    }
    for dir in &env.clang.system_includes {
        args.push("-idirafter".into());
        args.push(dir.display().to_string());
    }
    args.extend(libbpf[2..].iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_named_by_its_source_s_stem() {
        let out = Path::new("/t/kern");
        assert_eq!(
            object_path(out, Path::new("f_kern/f_kern.c")).unwrap(),
            Path::new("/t/kern/f_kern.o")
        );
        assert_eq!(
            object_path(out, Path::new("a/xdp.v2.c")).unwrap(),
            Path::new("/t/kern/xdp.v2.o")
        );
    }

    #[test]
    fn parses_depfiles_with_continuations_and_spaces() {
        let text = "target/xdp/k.o.partial: demo_kern/demo_kern.c \\\n  demo_kern/include/xdp_helpers.h /usr/include/linux/bpf.h \\\n  /tmp/with\\ space.h\n";
        let deps = parse_depfile(text);
        assert_eq!(
            deps,
            [
                "demo_kern/demo_kern.c",
                "demo_kern/include/xdp_helpers.h",
                "/usr/include/linux/bpf.h",
                "/tmp/with space.h"
            ]
            .map(PathBuf::from)
        );
        assert!(parse_depfile("garbage").is_empty());
    }

    #[test]
    fn freshness_follows_the_depfile_and_the_recipe() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("a.c"), "int x;").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(root.join("a.o"), "obj").unwrap();
        fs::write(root.join("a.d"), "a.o: a.c\n").unwrap();
        fs::write(root.join("a.cmd"), "recipe").unwrap();
        let fresh = |recipe| {
            is_fresh(
                &root.join("a.o"),
                &root.join("a.cmd"),
                recipe,
                &root.join("a.d"),
                root,
            )
        };
        assert!(fresh("recipe"));
        assert!(!fresh("other flags"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(root.join("a.c"), "int y;").unwrap();
        assert!(!fresh("recipe"));
    }
}

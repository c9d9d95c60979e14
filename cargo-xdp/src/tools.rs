//! Everything one target's build needs, resolved before anything is built:
//! the clang for its kern sources, the NDK and API level for Android, the
//! Rust target, and the environment cargo gets to link the loader. A
//! missing piece for the last target fails before the first is compiled.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::process::Process;
use crate::{
    clang::{self, Clang},
    ndk::Ndk,
    project::Project,
    shell::Shell,
    toolchain::Target,
};

/// API level when neither --api nor `api` in the metadata says (cargo-ndk's).
pub const DEFAULT_API: u32 = 21;

pub struct Tools {
    pub clang: Clang,
    /// The NDK and API level, for Android targets.
    pub android: Option<(Ndk, u32)>,
    /// Extra environment for `cargo build` of the loader.
    pub cargo_env: Vec<(String, OsString)>,
    /// llvm-strip for the loader of a release build.
    pub strip: Option<PathBuf>,
}

/// What the command line adds to the project's settings.
pub struct Options<'a> {
    pub api: Option<u32>,
    pub install_targets: bool,
    /// rustc's sysroot, where installed Rust targets live.
    pub rust_sysroot: &'a Result<PathBuf>,
    /// The NDK, located once for all Android targets of this build.
    pub ndk: Option<&'a Ndk>,
    /// The cargo profile the loader is built with.
    pub profile: &'a crate::cargo_args::Profile,
}

pub fn resolve(
    project: &Project,
    target: &Target,
    options: &Options,
    shell: &Shell,
) -> Result<Tools> {
    check_rust_target(project, target, options, shell)?;
    check_linker(target)?;
    let xdp_dir = project.xdp_dir(&target.name);
    let mut link_args = page_size_args(target);
    if target.static_loader {
        // musl links statically by default; glibc (linux-armv7) only when asked.
        link_args.push("-Ctarget-feature=+crt-static".into());
    }
    // 32-bit ARM unwinds by .ARM.exidx, not .eh_frame, and static glibc's
    // crtbeginT.o needs its .eh_frame: nothing to leave out there.
    if !options.profile.is_dev()
        && project.profile_aborts_on_panic(options.profile.name())
        && target.elf_machine != crate::toolchain::ElfMachine::Arm
    {
        link_args.extend(no_unwind_tables(target, &xdp_dir)?);
    }
    if !options.profile.is_dev() {
        link_args.extend(identical_code_folding(target));
        let path_dependencies =
            crate::workspace::path_dependencies(&project.loader_manifest, &project.root);
        link_args.extend(short_source_paths(&project.root, &path_dependencies));
    }
    // A target's own linker links its loader, NDK or not (android-armv7 links
    // a static Linux loader: aya does not build against 32-bit bionic).
    let own_linker = |link_args: &[String]| {
        let mut cargo_env = Vec::new();
        if let Some(linker) = &target.linker {
            cargo_env.push((cargo_target_var(&target.triple, "LINKER"), linker.into()));
        }
        cargo_env.extend(rustflags_env(&target.triple, link_args));
        cargo_env
    };
    if !target.ndk {
        let path = clang::locate_cached(&project.target_dir.join("xdp"))?;
        let clang = clang::inspect(&path, &clang_cache(&xdp_dir, &path), clang::Includes::Probe)?;
        return Ok(Tools {
            strip: clang.strip.clone(),
            clang,
            android: None,
            cargo_env: own_linker(&link_args),
        });
    }
    let ndk = options
        .ndk
        .expect("the builder locates the NDK for ndk targets");
    let api = options.api.or(project.meta.api).unwrap_or(DEFAULT_API);
    ndk.check_api(target.sysroot_triple(), api)?;
    let sysroot_includes = vec![
        ndk.sysroot().join("usr/include"),
        ndk.sysroot()
            .join("usr/include")
            .join(target.sysroot_triple()),
    ];
    let clang = clang::inspect(
        &ndk.clang(),
        &clang_cache(&xdp_dir, &ndk.clang()),
        clang::Includes::Sysroot(sysroot_includes),
    )?;
    let cargo_env = match target.linker {
        Some(_) => own_linker(&link_args),
        None => ndk_env(ndk, target, api, link_args),
    };
    Ok(Tools {
        clang,
        cargo_env,
        strip: Some(ndk.bin("llvm-strip")).filter(|p| p.is_file()),
        android: Some((ndk.clone(), api)),
    })
}

/// The target's own linker is on PATH (before cargo says "linker not found"
/// halfway through a build).
fn check_linker(target: &Target) -> Result<()> {
    if let Some((linker, install)) = target.external_linker() {
        if which::which(linker).is_err() {
            bail!(
                "{} links its loader with `{linker}`, which is not on PATH: `{install}` \
                 (Debian/Ubuntu), then build again",
                target.name
            );
        }
    }
    Ok(())
}

/// The probe cache of one clang binary: one file each, so projects that
/// share a target dir with different clangs ($CLANG, another NDK) do not
/// keep replacing each other's.
fn clang_cache(xdp_dir: &Path, clang: &Path) -> PathBuf {
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(clang, &mut hasher);
    xdp_dir.join(format!(
        "clang-{:016x}.json",
        std::hash::Hasher::finish(&hasher)
    ))
}

/// What cargo needs to link with the NDK: its per-API clang as linker, its
/// clang and llvm-ar for crates that build C, and the 16 KB page size.
fn ndk_env(
    ndk: &Ndk,
    target: &Target,
    api: u32,
    mut link_args: Vec<String>,
) -> Vec<(String, OsString)> {
    let triple = &target.triple;
    let cc_suffix = triple.replace('-', "_");
    let clang_target = format!("--target={}{api}", target.clang_triple());
    let mut env: Vec<(String, OsString)> = vec![
        (
            cargo_target_var(triple, "LINKER"),
            ndk.target_clang(target.clang_triple(), api).into(),
        ),
        (format!("CC_{cc_suffix}"), ndk.clang().into()),
        (format!("CXX_{cc_suffix}"), ndk.bin("clang++").into()),
        (format!("AR_{cc_suffix}"), ndk.bin("llvm-ar").into()),
    ];
    // The cc crate takes the target (and so the API level) from CFLAGS.
    for flags in ["CFLAGS", "CXXFLAGS"] {
        let name = format!("{flags}_{cc_suffix}");
        let value = append_flags(
            std::env::var_os(&name),
            std::slice::from_ref(&clang_target),
            " ",
        );
        env.push((name, value));
    }
    link_args.extend(relocation_packing(api));
    env.extend(rustflags_env(triple, &link_args));
    env
}

/// Linker arguments the target's ELF checks rely on.
fn page_size_args(target: &Target) -> Vec<String> {
    target
        .page_size
        .map(|page| vec![format!("-Clink-arg=-Wl,-z,max-page-size={page}")])
        .unwrap_or_default()
}

/// The linker script that drops `.eh_frame`, the unwind tables, and the
/// language-specific data only they point to (`.gcc_except_table`: the
/// landing pads of precompiled std, read by the personality routine while
/// unwinding, 4.5 KiB of an Android loader).
const NO_UNWIND_TABLES: &str = "\
/* cargo-xdp: the loader's profile aborts on panic, so nothing unwinds; its
   unwind tables (a sixth of an Android loader) and the exception tables
   only they lead to are left out. */
SECTIONS { /DISCARD/ : { *(.eh_frame) *(.gcc_except_table*) } } INSERT AFTER .text;
";

/// Linker arguments that leave the unwind tables out of a loader whose
/// profile aborts on panic: ~120 KiB of a 720 KiB Android loader. With LTO
/// std's code keeps its tables whatever -C force-unwind-tables says, and
/// nothing reads them but a backtrace (RUST_BACKTRACE=1 then shows no
/// frames; the panic message and location still print).
fn no_unwind_tables(target: &Target, xdp_dir: &Path) -> Result<Vec<String>> {
    let script = xdp_dir.join("no-unwind-tables.ld");
    if std::fs::read_to_string(&script).ok().as_deref() != Some(NO_UNWIND_TABLES) {
        std::fs::create_dir_all(xdp_dir)
            .with_context(|| format!("cannot create {}", xdp_dir.display()))?;
        let mut file = tempfile::NamedTempFile::new_in(xdp_dir)
            .with_context(|| format!("cannot write in {}", xdp_dir.display()))?;
        std::io::Write::write_all(&mut file, NO_UNWIND_TABLES.as_bytes())?;
        crate::workdir::persist(file, &script, 0o644)?;
    }
    // rust-lld is run as the linker itself; the others through a C driver.
    let flag = if target.linker.as_deref() == Some("rust-lld") {
        format!("-Clink-arg=--script={}", script.display())
    } else {
        format!("-Clink-arg=-Wl,--script={}", script.display())
    };
    Ok(vec![flag])
}

/// lld folds functions whose code is the same (generic code instantiated
/// for types of one layout): ~5 KiB of a 640 KiB Android loader. Only lld
/// links the NDK's targets and rust-lld's; GNU ld has no such flag.
fn identical_code_folding(target: &Target) -> Vec<String> {
    match target.linker.as_deref() {
        None if target.ndk => vec!["-Clink-arg=-Wl,--icf=all".into()],
        Some("rust-lld") => vec!["-Clink-arg=--icf=all".into()],
        _ => Vec::new(),
    }
}

/// Panic locations name their source files; in a release loader the
/// crates' sources as `aya-0.14.0/src/...` rather than under this
/// machine's $CARGO_HOME, a path dependency outside the project (the
/// runtime from a checkout, a crate of the user's) as `<its dir>/src/...`,
/// and the project's from its root: the binary no longer carries the build
/// machine's paths (and is ~3 KiB smaller), nor does its size depend on them.
fn short_source_paths(project_root: &Path, path_dependencies: &[PathBuf]) -> Vec<String> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let registries = cargo_home
        .and_then(|home| std::fs::read_dir(home.join("registry/src")).ok())
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()));
    let outside = path_dependencies
        .iter()
        .filter(|dir| !dir.starts_with(project_root))
        .filter_map(|dir| Some((dir.clone(), format!("{}/", dir.file_name()?.to_str()?))));
    // rustc applies the last prefix that matches: the project's root last.
    registries
        .map(|dir| (dir, String::new()))
        .chain(outside)
        .chain(std::iter::once((project_root.to_path_buf(), String::new())))
        .filter(|(dir, to)| !format!("{}{to}", dir.display()).contains([' ', '=']))
        .map(|(dir, to)| format!("--remap-path-prefix={}/={to}", dir.display()))
        .collect()
}

/// Packed relocations where bionic can read them: Android's own format from
/// API 23, RELR from 28 (with Android's tags before 30). A PIE loader has
/// ~30 KB of relative relocations otherwise. Newer clang drivers do this
/// themselves (llvm-project #189758); the NDK r26 one does not.
fn relocation_packing(api: u32) -> Vec<String> {
    let flags: &[&str] = match api {
        ..=22 => &[],
        23..=27 => &["--pack-dyn-relocs=android"],
        28..=29 => &["--pack-dyn-relocs=android+relr", "--use-android-relr-tags"],
        _ => &["--pack-dyn-relocs=android+relr"],
    };
    flags
        .iter()
        .map(|f| format!("-Clink-arg=-Wl,{f}"))
        .collect()
}

/// Adds `flags` to the rustflags cargo will use for `triple`. Cargo takes
/// the first of CARGO_ENCODED_RUSTFLAGS, RUSTFLAGS, target rustflags: add
/// to the one in force rather than one that is ignored.
fn rustflags_env(triple: &str, flags: &[String]) -> Option<(String, OsString)> {
    if flags.is_empty() {
        return None;
    }
    for (name, separator) in [("CARGO_ENCODED_RUSTFLAGS", "\x1f"), ("RUSTFLAGS", " ")] {
        if let Some(value) = std::env::var_os(name) {
            return Some((
                name.to_string(),
                append_flags(Some(value), flags, separator),
            ));
        }
    }
    let name = cargo_target_var(triple, "RUSTFLAGS");
    let value = append_flags(std::env::var_os(&name), flags, " ");
    Some((name, value))
}

fn append_flags(existing: Option<OsString>, flags: &[String], separator: &str) -> OsString {
    let mut value = existing.filter(|v| !v.is_empty()).unwrap_or_default();
    for flag in flags {
        if !value.is_empty() {
            value.push(separator);
        }
        value.push(flag);
    }
    value
}

/// CARGO_TARGET_AARCH64_LINUX_ANDROID_<KEY>.
fn cargo_target_var(triple: &str, key: &str) -> String {
    format!(
        "CARGO_TARGET_{}_{key}",
        triple.replace(['-', '.'], "_").to_uppercase()
    )
}

/// The Rust standard library for `target` must be installed: checked in
/// rustc's sysroot (the toolchain rustup picks for the project), installed
/// with rustup when asked to.
fn check_rust_target(
    project: &Project,
    target: &Target,
    options: &Options,
    shell: &Shell,
) -> Result<()> {
    if target.is_host() {
        return Ok(());
    }
    let sysroot = match options.rust_sysroot {
        Ok(sysroot) => sysroot,
        Err(error) => bail!(
            "cannot check for the Rust target {}: {error:#}",
            target.triple
        ),
    };
    if has_rust_target(sysroot, &target.triple) {
        return Ok(());
    }
    if !options.install_targets {
        bail!(
            "the Rust target {triple} (needed for {name}) is not installed; run \
             `rustup target add {triple}`, or pass --install-targets to let cargo xdp run it",
            triple = target.triple,
            name = target.name
        );
    }
    shell.status("Installing", format!("Rust target {}", target.triple));
    let status = Process::new("rustup")
        .args(["target", "add", &target.triple])
        .current_dir(&project.root)
        .status()
        .context("cannot run rustup (is Rust installed with rustup?)")?;
    if !status.success() || !has_rust_target(&rust_sysroot(&project.root)?, &target.triple) {
        bail!(
            "`rustup target add {}` failed; see its output above",
            target.triple
        );
    }
    Ok(())
}

/// `rustc --version` of the rustc that builds the loader ($RUSTC, else the
/// sysroot's), for the MANIFEST: cached in `xdp_dir` per rustc binary (path,
/// size, mtime), so a no-op build starts no process for it.
pub fn rustc_version(sysroot: &Result<PathBuf>, xdp_dir: &Path) -> String {
    let rustc = match (std::env::var_os("RUSTC"), sysroot) {
        (Some(rustc), _) => which::which(rustc).ok(),
        (None, Ok(sysroot)) => Some(sysroot.join("bin/rustc")),
        (None, Err(_)) => which::which("rustc").ok(),
    };
    let Some(rustc) = rustc else {
        return "unknown".into();
    };
    let identity = std::fs::metadata(&rustc).ok().map(|m| {
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        format!("{}|{}|{:?}", rustc.display(), m.len(), mtime)
    });
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&identity, &mut hasher);
    let cache = xdp_dir.join(format!(
        "rustc-{:016x}.txt",
        std::hash::Hasher::finish(&hasher)
    ));
    if let Ok(version) = std::fs::read_to_string(&cache) {
        return version;
    }
    let version = Process::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    if version != "unknown" && std::fs::create_dir_all(xdp_dir).is_ok() {
        let _ = std::fs::write(&cache, &version);
    }
    version
}

/// The sysroot of the rustc that builds in `dir` (rustup picks the
/// toolchain per directory).
pub fn rust_sysroot(dir: &Path) -> Result<PathBuf> {
    // Run as `cargo xdp`, $CARGO is the chosen toolchain's own cargo and
    // the rustc it will use sits beside it: the sysroot is one level up,
    // found without starting a process (a no-op build is ~40 ms).
    if std::env::var_os("RUSTC").is_none() {
        if let Some(cargo) = std::env::var_os("CARGO") {
            if let Some(root) = Path::new(&cargo).parent().and_then(Path::parent) {
                if root.join("bin/rustc").is_file() && root.join("lib/rustlib").is_dir() {
                    return Ok(root.to_path_buf());
                }
            }
        }
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Process::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .with_context(|| format!("cannot run {}", rustc.to_string_lossy()))?;
    if !output.status.success() {
        bail!(
            "`{} --print sysroot` failed: {}",
            rustc.to_string_lossy(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// The standard library for `triple` is in `sysroot`.
pub fn has_rust_target(sysroot: &Path, triple: &str) -> bool {
    sysroot
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_missing_cross_linker_is_named_with_its_package() {
        let mut board = crate::toolchain::find("linux-armv7").unwrap();
        board.linker = Some("cargo-xdp-no-such-linker".into());
        let error = check_linker(&board).unwrap_err().to_string();
        assert!(
            error.contains("`cargo-xdp-no-such-linker`, which is not on PATH")
                && error.contains("apt-get install gcc-arm-linux-gnueabihf"),
            "{error}"
        );
        board.linker = Some("rust-lld".into());
        check_linker(&board).unwrap();
    }

    use super::*;

    #[test]
    fn code_is_folded_only_where_lld_links() {
        let target = |name| crate::toolchain::find(name).unwrap();
        assert_eq!(
            identical_code_folding(&target("android-arm64")),
            ["-Clink-arg=-Wl,--icf=all"]
        );
        let mut musl = target("linux-arm64");
        musl.linker = Some("rust-lld".into());
        assert_eq!(identical_code_folding(&musl), ["-Clink-arg=--icf=all"]);
        assert!(
            identical_code_folding(&target("linux-armv7")).is_empty(),
            "GNU ld"
        );
        assert!(
            identical_code_folding(&target("android-armv7")).is_empty(),
            "GNU ld"
        );
    }

    #[test]
    fn source_paths_are_cut_at_the_project_root() {
        let dependencies = [
            PathBuf::from("/src/cargo-xdp/cargo-xdp-loader"),
            PathBuf::from("/home/me/filter/common"),
            PathBuf::from("/home/me/my crates/util"),
        ];
        let flags = short_source_paths(Path::new("/home/me/filter"), &dependencies);
        assert_eq!(
            flags.last().unwrap(),
            "--remap-path-prefix=/home/me/filter/="
        );
        assert!(flags.contains(
            &"--remap-path-prefix=/src/cargo-xdp/cargo-xdp-loader/=cargo-xdp-loader/".into()
        ));
        // Inside the project: the root's prefix cuts it already.
        assert!(!flags.iter().any(|f| f.contains("filter/common")));
        assert!(
            short_source_paths(Path::new("/home/me/my filter"), &dependencies)
                .iter()
                .all(|f| !f.contains("my filter") && !f.contains("my crates")),
            "a space would split RUSTFLAGS"
        );
    }

    #[test]
    fn cargo_variable_names() {
        assert_eq!(
            cargo_target_var("aarch64-linux-android", "LINKER"),
            "CARGO_TARGET_AARCH64_LINUX_ANDROID_LINKER"
        );
        let flags = append_flags(Some("-O2".into()), &["--target=x".into()], " ");
        assert_eq!(flags, "-O2 --target=x");
        assert_eq!(
            append_flags(None, &["a".into(), "b".into()], "\x1f"),
            "a\x1fb"
        );
    }

    #[test]
    fn relocations_are_packed_as_far_as_the_api_level_allows() {
        assert!(relocation_packing(21).is_empty());
        assert_eq!(
            relocation_packing(24),
            ["-Clink-arg=-Wl,--pack-dyn-relocs=android"]
        );
        assert_eq!(relocation_packing(28).len(), 2);
        assert_eq!(
            relocation_packing(34),
            ["-Clink-arg=-Wl,--pack-dyn-relocs=android+relr"]
        );
    }

    #[test]
    fn unwind_tables_script_is_written_once_and_passed_the_linker_s_way() {
        let dir = tempfile::tempdir().unwrap();
        let xdp_dir = dir.path().join("xdp/linux-arm64");
        let mut board = crate::toolchain::find("linux-arm64").unwrap();
        let flags = no_unwind_tables(&board, &xdp_dir).unwrap();
        let script = xdp_dir.join("no-unwind-tables.ld");
        assert_eq!(flags, [format!("-Clink-arg=--script={}", script.display())]);
        assert_eq!(std::fs::read_to_string(&script).unwrap(), NO_UNWIND_TABLES);
        board.linker = None;
        let flags = no_unwind_tables(&board, &xdp_dir).unwrap();
        assert_eq!(
            flags,
            [format!("-Clink-arg=-Wl,--script={}", script.display())]
        );
    }
}

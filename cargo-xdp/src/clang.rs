//! Finding a clang with the BPF backend, and what it needs to compile
//! `-target bpf`: the system include directories of the host compiler.
//!
//! `#include <linux/bpf.h>` pulls `asm/types.h`, which lives in an
//! arch-specific directory (Debian: /usr/include/<multiarch>/asm). A
//! `-target bpf` compile does not search it, so we ask the host compiler
//! (`clang -v -E -x c -`) for its search list and pass each directory with
//! `-idirafter`, as libbpf-bootstrap does. The result is cached per clang
//! binary so an unchanged build runs no clang at all.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::UNIX_EPOCH,
};

use crate::process::Process;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// What we learned about one clang binary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Clang {
    pub path: PathBuf,
    /// First line of `clang --version`.
    pub version: String,
    /// System include directories, in search order.
    pub system_includes: Vec<PathBuf>,
    /// The include list is complete: compile with -nostdlibinc so nothing of
    /// the host leaks in (the NDK's sysroot headers, not /usr/include).
    #[serde(default)]
    pub isolated: bool,
    /// llvm-strip beside clang or on PATH, if any.
    pub strip: Option<PathBuf>,
    /// Identity of the binary the facts above came from.
    fingerprint: String,
}

/// `$CLANG`, else the newest of `clang` and every `clang-NN` on PATH (a
/// newer clang builds more programs: C23 `bool`, newer BTF), `clang` on a
/// tie. The version of `clang` comes from where it leads (Debian's
/// `/usr/bin/clang -> ../lib/llvm-14/bin/clang`), else `clang -dumpversion`.
pub fn locate() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CLANG").filter(|v| !v.is_empty()) {
        return which::which(&path).with_context(|| {
            format!(
                "$CLANG is set to `{}` but that is not an executable",
                path.to_string_lossy()
            )
        });
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    match newest(&dirs) {
        Some(path) => Ok(path),
        None => bail!(
            "no clang found (tried $CLANG, clang, clang-NN on PATH); kern sources need a clang \
             with the BPF backend: install it (Debian/Ubuntu: `apt-get install clang llvm`) or \
             set CLANG=/path/to/clang"
        ),
    }
}

/// `locate`, remembered in `cache_dir` while what it depends on stays the
/// same: $CLANG, $PATH, each PATH directory's mtime (an install or a
/// removal changes it) and where each plain `clang` leads (alternatives).
/// Reading every PATH directory is ~1 ms of a touched kern source's build.
pub fn locate_cached(cache_dir: &Path) -> Result<PathBuf> {
    let mut key = format!(
        "{:?}|{:?}",
        std::env::var_os("CLANG"),
        std::env::var_os("PATH")
    );
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let modified = std::fs::metadata(&dir).and_then(|m| m.modified()).ok();
        let plain = std::fs::canonicalize(dir.join("clang")).ok();
        key.push_str(&format!("|{modified:?}|{plain:?}"));
    }
    let cache = cache_dir.join(format!(
        "clang-path-{}.txt",
        &crate::hashing::sha256_hex(key.as_bytes())[..16]
    ));
    if let Ok(path) = std::fs::read_to_string(&cache) {
        let path = PathBuf::from(path);
        if is_executable(&path) {
            return Ok(path);
        }
    }
    let path = locate()?;
    if std::fs::create_dir_all(cache_dir).is_ok() {
        let _ = std::fs::write(&cache, path.as_os_str().as_encoded_bytes());
    }
    Ok(path)
}

/// The newest clang in `dirs` (earlier directories win among equals, as on
/// PATH; plain `clang` wins a tie with its own `clang-NN`).
fn newest(dirs: &[PathBuf]) -> Option<PathBuf> {
    let mut found: Vec<(u32, bool, usize, PathBuf)> = Vec::new();
    for (order, dir) in dirs.iter().enumerate() {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let path = entry.path();
            let version = match name.as_str() {
                "clang" if is_executable(&path) => major_of_plain(&path),
                _ => match name.strip_prefix("clang-").and_then(|v| v.parse().ok()) {
                    Some(version) if is_executable(&path) => Some(version),
                    _ => continue,
                },
            };
            found.push((
                version.unwrap_or(0),
                name == "clang",
                usize::MAX - order,
                path,
            ));
        }
    }
    found.into_iter().max().map(|(.., path)| path)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The major version of a plain `clang`: from the path it resolves to
/// (`llvm-NN/` or `clang-NN`), else from `clang -dumpversion`.
fn major_of_plain(path: &Path) -> Option<u32> {
    let real = std::fs::canonicalize(path).ok()?;
    let from_path = real.components().rev().find_map(|c| {
        let c = c.as_os_str().to_str()?;
        c.strip_prefix("llvm-")
            .or_else(|| c.strip_prefix("clang-"))?
            .parse()
            .ok()
    });
    from_path.or_else(|| {
        let out = Process::new(path).arg("-dumpversion").output().ok()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split('.')
            .next()?
            .parse()
            .ok()
    })
}

/// Where the system include directories come from.
pub enum Includes {
    /// Ask the compiler (`clang -v -E`): a host clang.
    Probe,
    /// Exactly these (an NDK's sysroot).
    Sysroot(Vec<PathBuf>),
}

/// Facts about the clang at `path`, from `cache` when the binary is unchanged.
pub fn inspect(path: &Path, cache: &Path, includes: Includes) -> Result<Clang> {
    let mut fingerprint = fingerprint(path)?;
    if let Includes::Sysroot(dirs) = &includes {
        fingerprint.push_str(&format!("|sysroot:{dirs:?}"));
    }
    if let Ok(text) = std::fs::read_to_string(cache) {
        if let Ok(cached) = serde_json::from_str::<Clang>(&text) {
            if cached.path == path && cached.fingerprint == fingerprint {
                return Ok(cached);
            }
        }
    }
    let version = identify(path)?;
    let (system_includes, isolated) = match includes {
        Includes::Sysroot(dirs) => (dirs, true),
        Includes::Probe => (probe_includes(path)?, false),
    };
    let clang = Clang {
        path: path.to_path_buf(),
        version,
        system_includes,
        isolated,
        strip: find_strip(path),
        fingerprint,
    };
    if let Some(dir) = cache.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(cache, serde_json::to_string_pretty(&clang)?)?;
    Ok(clang)
}

/// Checks that the clang at `path` has the BPF backend; returns the first
/// line of its `--version`.
pub fn identify(path: &Path) -> Result<String> {
    let targets = output(Process::new(path).arg("-print-targets"))?;
    if !has_bpf_target(&targets) {
        bail!(
            "{} has no BPF backend (`-print-targets` does not list bpf); install a clang built \
             with it (Debian's does) or point $CLANG at one",
            path.display()
        );
    }
    Ok(output(Process::new(path).arg("--version"))?
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string())
}

fn probe_includes(path: &Path) -> Result<Vec<PathBuf>> {
    let probe = Process::new(path)
        .args(["-v", "-E", "-x", "c", "-"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", path.display()))?;
    let system_includes = parse_search_list(&String::from_utf8_lossy(&probe.stderr));
    if system_includes.is_empty() {
        bail!(
            "{} -v -E printed no include search list; cannot find the system headers for \
             `asm/types.h` (set extra -I paths in [workspace.metadata.xdp] cflags)",
            path.display()
        );
    }
    Ok(system_includes)
}

fn fingerprint(path: &Path) -> Result<String> {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let meta =
        std::fs::metadata(&resolved).with_context(|| format!("cannot stat {}", path.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    Ok(format!(
        "{}:{}:{}",
        resolved.display(),
        meta.len(),
        mtime.as_nanos()
    ))
}

fn output(command: &mut Process) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn has_bpf_target(print_targets: &str) -> bool {
    print_targets
        .lines()
        .any(|line| line.trim_start().starts_with("bpf "))
}

/// The `#include <...>` list of `clang -v -E` output (stderr), without
/// framework directories.
pub fn parse_search_list(verbose: &str) -> Vec<PathBuf> {
    verbose
        .lines()
        .skip_while(|line| !line.starts_with("#include <...> search starts here:"))
        .skip(1)
        .take_while(|line| !line.starts_with("End of search list."))
        .map(str::trim)
        .filter(|line| !line.ends_with("(framework directory)"))
        .map(PathBuf::from)
        .collect()
}

/// llvm-strip with the same version suffix as clang, beside it or on PATH.
pub fn find_strip(clang: &Path) -> Option<PathBuf> {
    let name = clang.file_name()?.to_string_lossy().into_owned();
    let suffix = name.strip_prefix("clang").unwrap_or("");
    let candidates = [format!("llvm-strip{suffix}"), "llvm-strip".to_string()];
    let dir = std::fs::canonicalize(clang).ok()?.parent()?.to_path_buf();
    candidates.iter().find_map(|c| {
        let beside = dir.join(c);
        if beside.is_file() {
            Some(beside)
        } else {
            which::which(c).ok()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_located_clang_is_remembered_and_checked_before_it_is_used() {
        let Ok(found) = locate() else {
            return; // no clang on this machine: nothing to remember
        };
        let cache = tempfile::tempdir().unwrap();
        assert_eq!(locate_cached(cache.path()).unwrap(), found);
        let files: Vec<PathBuf> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(
            std::fs::read_to_string(&files[0]).unwrap(),
            found.to_str().unwrap()
        );
        // A remembered clang that is gone is looked for again.
        std::fs::write(&files[0], "/nonexistent/clang-99").unwrap();
        assert_eq!(locate_cached(cache.path()).unwrap(), found);
    }

    #[test]
    fn the_newest_clang_on_path_wins() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let exe = |path: &Path| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        let bin = tmp.path().join("bin");
        exe(&tmp.path().join("lib/llvm-14/bin/clang"));
        std::fs::create_dir_all(&bin).unwrap();
        symlink("../lib/llvm-14/bin/clang", bin.join("clang")).unwrap();
        exe(&bin.join("clang-14"));
        assert_eq!(
            newest(std::slice::from_ref(&bin)),
            Some(bin.join("clang")),
            "a tie"
        );
        exe(&bin.join("clang-19"));
        std::fs::write(bin.join("clang-22"), "not executable").unwrap();
        exe(&bin.join("clang-format-20"));
        assert_eq!(
            newest(std::slice::from_ref(&bin)),
            Some(bin.join("clang-19"))
        );
        let local = tmp.path().join("local");
        exe(&local.join("clang-19"));
        assert_eq!(
            newest(&[local.clone(), bin.clone()]),
            Some(local.join("clang-19")),
            "PATH order among equals"
        );
        assert_eq!(newest(&[tmp.path().join("none")]), None);
    }

    const DEBIAN_CLANG_14: &str = r#"Debian clang version 14.0.6
Target: x86_64-pc-linux-gnu
 "/usr/lib/llvm-14/bin/clang" -cc1 -triple x86_64-pc-linux-gnu -E ...
clang -cc1 version 14.0.6 based upon LLVM 14.0.6 default target x86_64-pc-linux-gnu
ignoring nonexistent directory "/usr/lib/llvm-14/bin/../../../include/x86_64-linux-gnu"
#include "..." search starts here:
#include <...> search starts here:
 /usr/lib/llvm-14/lib/clang/14.0.6/include
 /usr/local/include
 /usr/include/x86_64-linux-gnu
 /usr/include
End of search list.
"#;

    #[test]
    fn parses_the_search_list_in_order() {
        let dirs = parse_search_list(DEBIAN_CLANG_14);
        let expected: Vec<PathBuf> = [
            "/usr/lib/llvm-14/lib/clang/14.0.6/include",
            "/usr/local/include",
            "/usr/include/x86_64-linux-gnu",
            "/usr/include",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(dirs, expected);
    }

    #[test]
    fn the_multiarch_asm_dir_comes_from_the_probe_not_from_a_guess() {
        // An aarch64 host lists its own multiarch dir; we must pass it, not x86's.
        let arm = DEBIAN_CLANG_14.replace("x86_64-linux-gnu", "aarch64-linux-gnu");
        let dirs = parse_search_list(&arm);
        assert!(dirs.contains(&PathBuf::from("/usr/include/aarch64-linux-gnu")));
        assert!(!dirs.iter().any(|d| d.to_string_lossy().contains("x86_64")));
    }

    #[test]
    fn skips_framework_dirs_and_tolerates_garbage() {
        let mac = "#include <...> search starts here:\n /a\n /Library/Frameworks (framework directory)\nEnd of search list.\n";
        assert_eq!(parse_search_list(mac), vec![PathBuf::from("/a")]);
        assert!(parse_search_list("clang: error: no input").is_empty());
    }

    #[test]
    fn recognises_the_bpf_backend() {
        let listing = "  Registered Targets:\n    aarch64    - AArch64 (little endian)\n    bpf        - BPF (host endian)\n";
        assert!(has_bpf_target(listing));
        assert!(!has_bpf_target(
            "  Registered Targets:\n    x86-64     - 64-bit X86: EM64T and AMD64\n"
        ));
    }
}

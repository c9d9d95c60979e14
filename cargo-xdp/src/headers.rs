//! Headers kern code includes that neither the target's sysroot nor the
//! project carries:
//!
//! - libbpf's BPF-side headers (`<bpf/bpf_helpers.h>`, `bpf_endian.h`,
//!   `bpf_core_read.h`, `bpf_tracing.h`, and `bpf_helper_defs.h` through
//!   them), from the `libbpf-sys` crate at a pinned version: cargo fetches
//!   and checksums the crate into its registry (it is never built), and the
//!   headers are copied once to `target/xdp/libbpf/<crate version>/`. A
//!   project may pin another version (`libbpf = "1.6.0"`) or name its own
//!   directory (`libbpf-include = "DIR"`, holding `bpf/bpf_helpers.h`).
//! - A few compatibility headers (`kern-compat/`), so kern code
//!   written the usual way builds against either C library and either
//!   libbpf era: with `kernel-headers = "libc"`, bionic names the uapi
//!   `struct udphdr` `struct __kernel_udphdr` (the `struct udphdr` with
//!   Linux and BSD names is `<netinet/udp.h>`'s); glibc's headers under `-target bpf` look for
//!   `gnu/stubs-32.h`, which only a 32-bit libc6-dev has; libbpf 1.0 took
//!   `struct bpf_map_def` out of `bpf_helpers.h`, and 2017-2019 code says
//!   `#include "bpf_helpers.h"`. They are written to
//!   `target/xdp/<target>/compat/`, only when they changed (their mtimes
//!   feed the kern objects' freshness).

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::{
    embedded::KERN_COMPAT_FILES, project::Project, shell::Shell, toolchain::Target,
    uapi::KernelHeaders,
};

/// libbpf-sys 1.7.0+v1.7.0 carries libbpf v1.7.0.
pub const DEFAULT_LIBBPF: &str = "1.7.0";

/// The BPF-side headers of libbpf's `src/` that kern code includes.
const BPF_HEADERS: [&str; 7] = [
    "libbpf_version.h",
    "bpf_helpers.h",
    "bpf_helper_defs.h",
    "bpf_endian.h",
    "bpf_core_read.h",
    "bpf_tracing.h",
    "usdt.bpf.h",
];

/// Where libbpf's headers came from.
#[derive(Debug, Clone, PartialEq)]
pub enum LibbpfOrigin {
    /// The libbpf-sys crate of this version (e.g. `1.7.0+v1.7.0`).
    Crate(String),
    /// The project's `libbpf-include` directory.
    Project(PathBuf),
}

/// libbpf's headers for the kern compiles: `dir` holds `bpf/*.h`.
#[derive(Debug, Clone)]
pub struct Libbpf {
    /// libbpf's own version, from its `libbpf_version.h` (e.g. `1.7`).
    pub version: String,
    pub dir: PathBuf,
    pub origin: LibbpfOrigin,
}

impl Libbpf {
    /// For MANIFEST, `-v` and doctor: `1.7 (libbpf-sys 1.7.0+v1.7.0)`.
    pub fn describe(&self) -> String {
        match &self.origin {
            LibbpfOrigin::Crate(version) => format!("{} (libbpf-sys {version})", self.version),
            LibbpfOrigin::Project(dir) => format!("{} (from {})", self.version, dir.display()),
        }
    }

    /// The clang flags, two pairs: `-isystem` for `<bpf/...>`, to go before
    /// the system's (a host libbpf-dev does not win over the pinned version),
    /// and `-idirafter` for the old `"bpf_helpers.h"` spelling, to go last (a
    /// project's own copy wins).
    pub fn clang_args(&self) -> [String; 4] {
        [
            "-isystem".into(),
            self.dir.display().to_string(),
            "-idirafter".into(),
            self.dir.join("bpf").display().to_string(),
        ]
    }
}

/// libbpf's headers as the project asks: its own directory, else the
/// libbpf-sys crate at the pinned version (fetched once).
pub fn libbpf(project: &Project, shell: &Shell) -> Result<Libbpf> {
    if let Some(dir) = &project.meta.libbpf_include {
        let dir = project.root.join(dir);
        if !dir.join("bpf/bpf_helpers.h").is_file() {
            bail!(
                "libbpf-include = \"{}\" in [workspace.metadata.xdp] has no bpf/bpf_helpers.h; \
                 name the directory that holds bpf/ (libbpf's src/ installed as include/bpf/), \
                 or remove the key to use libbpf {DEFAULT_LIBBPF} from the libbpf-sys crate",
                dir.display()
            );
        }
        return Ok(Libbpf {
            version: read_version(&dir.join("bpf")).unwrap_or_else(|| "?".into()),
            origin: LibbpfOrigin::Project(dir.clone()),
            dir,
        });
    }
    let wanted = project.meta.libbpf.as_deref().unwrap_or(DEFAULT_LIBBPF);
    check_version(wanted)?;
    let base = project.target_dir.join("xdp/libbpf");
    let cached = base.join(wanted);
    let marker = cached.join("libbpf-sys.version");
    if let Ok(crate_version) = fs::read_to_string(&marker) {
        return Ok(Libbpf {
            version: read_version(&cached.join("bpf")).unwrap_or_else(|| "?".into()),
            origin: LibbpfOrigin::Crate(crate_version.trim().to_string()),
            dir: cached,
        });
    }
    shell.status(
        "Fetching",
        format!("libbpf-sys {wanted} (libbpf's BPF headers)"),
    );
    let (crate_version, source) = fetch_crate(&base, wanted)?;
    // Copied through a temp dir and a rename: never half there.
    fs::create_dir_all(&base)?;
    let staged = tempfile::Builder::new().prefix(".tmp").tempdir_in(&base)?;
    fs::create_dir(staged.path().join("bpf"))?;
    for header in BPF_HEADERS {
        let from = source.join(header);
        if from.is_file() {
            fs::copy(&from, staged.path().join("bpf").join(header))
                .with_context(|| format!("cannot copy {}", from.display()))?;
        } else if header == "bpf_helpers.h" {
            bail!(
                "libbpf-sys {crate_version} has no {} : not the libbpf-sys crate cargo-xdp knows",
                from.display()
            );
        }
    }
    fs::write(staged.path().join("libbpf-sys.version"), &crate_version)?;
    let _ = fs::remove_dir_all(&cached);
    fs::rename(staged.keep(), &cached)
        .with_context(|| format!("cannot write {}", cached.display()))?;
    Ok(Libbpf {
        version: read_version(&cached.join("bpf")).unwrap_or_else(|| "?".into()),
        origin: LibbpfOrigin::Crate(crate_version),
        dir: cached,
    })
}

/// `1.7.0`-style versions only: the value ends up in a Cargo.toml.
fn check_version(version: &str) -> Result<()> {
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        bail!(
            "libbpf = \"{version}\" in [workspace.metadata.xdp] is not a libbpf-sys version: \
             write three numbers, e.g. libbpf = \"{DEFAULT_LIBBPF}\" (libbpf-sys \
             {DEFAULT_LIBBPF}+v{DEFAULT_LIBBPF} carries libbpf v{DEFAULT_LIBBPF})"
        );
    }
    Ok(())
}

/// Has cargo fetch libbpf-sys `=version` into its registry (checked against
/// the index's checksum) through a throwaway manifest, and finds it there.
fn fetch_crate(base: &Path, version: &str) -> Result<(String, PathBuf)> {
    let dir = base.join("fetch");
    fs::create_dir_all(&dir)?;
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            "# Written by cargo-xdp to fetch libbpf's headers; never built.\n\
             [package]\nname = \"cargo-xdp-libbpf-headers\"\nversion = \"0.0.0\"\n\
             edition = \"2021\"\npublish = false\n\n[lib]\npath = \"lib.rs\"\n\n\
             [dependencies]\nlibbpf-sys = {{ version = \"={version}\", default-features = false }}\n\n\
             [workspace]\n"
        ),
    )?;
    fs::write(dir.join("lib.rs"), "")?;
    let mut command = cargo_metadata::MetadataCommand::new();
    command.manifest_path(dir.join("Cargo.toml"));
    let metadata = crate::process::cargo_metadata(&command).with_context(|| {
        format!(
            "cargo could not fetch libbpf-sys {version}, which carries libbpf's BPF headers \
                 (bpf/bpf_helpers.h ...): check the network or cargo's registry settings, pin a \
                 version that exists (libbpf = \"{DEFAULT_LIBBPF}\"), or name a directory of \
                 your own with libbpf-include in [workspace.metadata.xdp]"
        )
    })?;
    let package = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "libbpf-sys")
        .context("cargo's metadata has no libbpf-sys package")?;
    let root = package
        .manifest_path
        .parent()
        .context("libbpf-sys has no directory")?
        .as_std_path()
        .to_path_buf();
    Ok((package.version.to_string(), root.join("libbpf/src")))
}

/// `MAJOR.MINOR` from libbpf's `libbpf_version.h` beside the headers, when
/// it is there (the crate has it; a project's directory may not).
fn read_version(bpf_dir: &Path) -> Option<String> {
    let text = fs::read_to_string(bpf_dir.join("libbpf_version.h"))
        .or_else(|_| fs::read_to_string(bpf_dir.join("../libbpf_version.h")))
        .ok()?;
    let number = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("#define {key} ")))
            .map(|v| v.trim().to_string())
    };
    Some(format!(
        "{}.{}",
        number("LIBBPF_MAJOR_VERSION")?,
        number("LIBBPF_MINOR_VERSION")?
    ))
}

/// The compatibility headers for `target`'s C library, written (when they
/// changed) to `target/xdp/<target>/compat/`; that directory. Bionic's
/// `<linux/udp.h>` needs one only when the kern compile reads bionic's
/// copies of the kernel headers (`kernel-headers = "libc"`); a header no
/// longer wanted is removed.
pub fn compat_dir(project: &Project, target: &Target, kernel: &KernelHeaders) -> Result<PathBuf> {
    let dir = project.xdp_dir(&target.name).join("compat");
    let mut prefixes = vec!["all/"];
    match (target.ndk, kernel.is_libcs()) {
        (true, true) => prefixes.push("bionic/"),
        (true, false) => {}
        (false, _) => prefixes.push("glibc/"),
    }
    let mut wanted = Vec::new();
    for (path, bytes) in KERN_COMPAT_FILES {
        let Some(relative) = prefixes.iter().find_map(|p| path.strip_prefix(p)) else {
            continue;
        };
        let file = dir.join(relative);
        wanted.push(file.clone());
        if fs::read(&file).ok().as_deref() == Some(*bytes) {
            continue;
        }
        fs::create_dir_all(file.parent().expect("a file in a directory"))?;
        fs::write(&file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
    }
    for (path, _) in KERN_COMPAT_FILES {
        let Some((_, relative)) = path.split_once('/') else {
            continue;
        };
        let file = dir.join(relative);
        if !wanted.contains(&file) && file.is_file() {
            fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_three_numbers() {
        check_version("1.7.0").unwrap();
        for bad in ["1.7", "1.7.0\"\n[x]", "v1.7.0", "", "1..0"] {
            let error = check_version(bad).unwrap_err().to_string();
            assert!(error.contains("not a libbpf-sys version"), "{error}");
        }
    }

    #[test]
    fn reads_libbpfs_version_header() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("libbpf_version.h"),
            "#ifndef X\n#define LIBBPF_MAJOR_VERSION 1\n#define LIBBPF_MINOR_VERSION 7\n#endif\n",
        )
        .unwrap();
        assert_eq!(read_version(dir.path()).as_deref(), Some("1.7"));
    }

    #[test]
    fn every_libc_has_its_compat_headers() {
        for libc in ["bionic", "glibc"] {
            assert!(
                KERN_COMPAT_FILES
                    .iter()
                    .any(|(p, _)| p.starts_with(&format!("{libc}/"))),
                "{libc}"
            );
        }
    }
}

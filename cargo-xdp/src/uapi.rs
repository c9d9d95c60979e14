//! The kernel's own uapi headers (`<linux/*.h>`, `<asm/*.h>`) for the kern
//! compiles, ahead of the C library's.
//!
//! Why: an NDK sysroot's `linux/` headers are bionic's *rewritten* copies
//! (`struct tcphdr` in BSD layout without `ece`/`cwr`, `__kernel_udphdr`,
//! `__linux_unused`, `<linux/stddef.h>` pulling `<linux/compiler_types.h>`),
//! and a host's are the host's architecture's, whatever the target. Under
//! `-target bpf` nothing tells the targets apart, so the same source should
//! read the same headers: the kernel's, for the target's architecture.
//!
//! Where from: Debian's `linux-libc-dev-<arch>-cross` packages, one pinned
//! version (`make headers_install` of that kernel, per architecture; the
//! packages are `Architecture: all`, so any host can unpack them). Each is
//! fetched once with curl, checked against its pinned sha256 and unpacked to
//! `target/xdp/kernel-headers/<version>/<arch>/include/`. Mirror:
//! `$CARGO_XDP_DEBIAN_MIRROR` (default deb.debian.org), then
//! snapshot.debian.org by the file's sha1, which keeps every file Debian
//! ever shipped.
//!
//! A project may choose otherwise with `kernel-headers` in
//! `[workspace.metadata.xdp]`: `"libc"` reads the C library's copies (what
//! Soong does for AOSP's programs: bionic's on Android), a directory path
//! reads the project's own tree (it must hold `linux/types.h` and
//! `asm/types.h`).

use std::{
    fs,
    io::{BufReader, Read},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::process::Process;
use crate::{project::Project, shell::Shell, toolchain::Target};

/// The pinned Debian version of the cross kernel headers: Linux 6.12.38
/// (trixie's cross-toolchain-base).
pub const DEBIAN_VERSION: &str = "6.12.38-1cross1";

/// One architecture's package at [`DEBIAN_VERSION`].
struct Pin {
    /// Debian's name of the architecture (`uapi_arch` in a toolchain file).
    arch: &'static str,
    /// The GNU triple the package installs under (`usr/<gnu>/include/`).
    gnu: &'static str,
    sha256: &'static str,
    /// snapshot.debian.org finds a file by its sha1.
    sha1: &'static str,
}

const PINS: [Pin; 4] = [
    Pin {
        arch: "amd64",
        gnu: "x86_64-linux-gnu",
        sha256: "da463ddd3ee96b37c33f16da99c47b03b4e514888d3d853e73253ee73bd0d7d8",
        sha1: "a0fb3fadfb03ff7c527361719e49512925465303",
    },
    Pin {
        arch: "arm64",
        gnu: "aarch64-linux-gnu",
        sha256: "fd77c13fedf057038732ef1c4fc06edd753d08092fd5f92c4629551f1f69870f",
        sha1: "2a242bc2c5fffb2f11348703cdd918b0acef8623",
    },
    Pin {
        arch: "armhf",
        gnu: "arm-linux-gnueabihf",
        sha256: "bf6fa2d938e493a84c34086219b3e3e391aba885d4fb349022eda9fdafa36272",
        sha1: "42675270308252467348a7493d595dc46aa0f500",
    },
    Pin {
        arch: "i386",
        gnu: "i686-linux-gnu",
        sha256: "6375cf48f33a25df794c26fe5a4ab0edddf9284d57867a82ed5ad846c2e7a1c5",
        sha1: "7878e8cc8b84d7745c0f75f3bfba4cbec0b90a59",
    },
];

/// What `kernel-headers` in the metadata asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// The pinned Debian tree (no key).
    Pinned,
    /// The C library's copies (`"libc"`).
    Libc,
    /// The project's own tree (any other value: a path from the root).
    Dir(PathBuf),
}

impl Choice {
    pub fn from_metadata(value: Option<&str>) -> Choice {
        match value {
            None => Choice::Pinned,
            Some("libc") => Choice::Libc,
            Some(dir) => Choice::Dir(PathBuf::from(dir)),
        }
    }
}

/// The kernel headers one target's kern compiles read.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelHeaders {
    /// The directory holding `linux/` and `asm/`, searched before the C
    /// library's; None: the C library's own copies only.
    pub dir: Option<PathBuf>,
    /// For `-v`, the MANIFEST and doctor.
    pub description: String,
}

impl KernelHeaders {
    /// The clang flags: `-isystem DIR`, ahead of the C library's headers.
    pub fn clang_args(&self) -> Vec<String> {
        match &self.dir {
            Some(dir) => vec!["-isystem".into(), dir.display().to_string()],
            None => Vec::new(),
        }
    }

    /// The C library's copies stand in for the kernel's.
    pub fn is_libcs(&self) -> bool {
        self.dir.is_none()
    }
}

/// The kernel headers `target`'s kern compiles read, as the project asks
/// (fetched once for the pinned tree).
pub fn for_target(project: &Project, target: &Target, shell: &Shell) -> Result<KernelHeaders> {
    match Choice::from_metadata(project.meta.kernel_headers.as_deref()) {
        Choice::Libc => Ok(KernelHeaders {
            dir: None,
            description: format!(
                "the C library's copies ({}; kernel-headers = \"libc\")",
                if target.ndk {
                    "bionic's rewritten ones"
                } else {
                    "the host's"
                }
            ),
        }),
        Choice::Dir(dir) => {
            let dir = project.root.join(dir);
            for header in ["linux/types.h", "asm/types.h"] {
                if !dir.join(header).is_file() {
                    bail!(
                        "kernel-headers = \"{}\" in [workspace.metadata.xdp] has no {header}; \
                         name a directory holding a kernel's uapi headers for {} (`make \
                         headers_install` output: linux/, asm/, asm-generic/), write \"libc\" \
                         for the C library's copies, or remove the key for Linux {} from \
                         Debian",
                        dir.display(),
                        target.uapi_arch,
                        linux_version()
                    );
                }
            }
            Ok(KernelHeaders {
                description: format!("from {}", dir.display()),
                dir: Some(dir),
            })
        }
        Choice::Pinned => {
            let base = project.target_dir.join("xdp/kernel-headers");
            let dir = ensure_pinned(&base, &target.uapi_arch, &Curl, shell)?;
            Ok(KernelHeaders {
                dir: Some(dir),
                description: describe_pinned(&target.uapi_arch),
            })
        }
    }
}

/// `Linux 6.12.38 (Debian linux-libc-dev-arm64-cross 6.12.38-1cross1)`.
pub fn describe_pinned(arch: &str) -> String {
    format!(
        "Linux {} (Debian linux-libc-dev-{arch}-cross {DEBIAN_VERSION})",
        linux_version()
    )
}

fn linux_version() -> &'static str {
    DEBIAN_VERSION.split('-').next().unwrap_or(DEBIAN_VERSION)
}

/// Fetches a URL into a file: the one side effect of this module, a seam so
/// tests can serve packages of their own.
pub trait Fetch {
    fn fetch(&self, url: &str, to: &Path) -> Result<()>;
}

/// curl, which every host that builds for a phone has (macOS and Windows
/// ship it); `file://` works too.
pub struct Curl;

impl Fetch for Curl {
    fn fetch(&self, url: &str, to: &Path) -> Result<()> {
        let output = Process::new("curl")
            .args(["-fsSL", "--retry", "2", "--max-time", "300", "-o"])
            .arg(to)
            .arg(url)
            .output()
            .context("cannot run curl, which fetches the kernel headers: install curl")?;
        if !output.status.success() {
            bail!(
                "curl {url}: {}",
                crate::shell::harmless(String::from_utf8_lossy(&output.stderr).trim())
            );
        }
        Ok(())
    }
}

/// The include directory of the pinned headers for `arch` under `base`,
/// fetched, checked and unpacked the first time.
pub fn ensure_pinned(base: &Path, arch: &str, fetch: &dyn Fetch, shell: &Shell) -> Result<PathBuf> {
    let Some(pin) = PINS.iter().find(|p| p.arch == arch) else {
        bail!("no kernel headers are pinned for the architecture `{arch}` (a toolchain file's uapi_arch): use one of amd64, arm64, armhf, i386");
    };
    let cached = base.join(DEBIAN_VERSION).join(arch);
    let include = cached.join("include");
    if fs::read_to_string(cached.join("sha256")).ok().as_deref() == Some(pin.sha256) {
        return Ok(include);
    }
    let package = format!("linux-libc-dev-{arch}-cross_{DEBIAN_VERSION}_all.deb");
    shell.status(
        "Fetching",
        format!("{} (kernel uapi headers)", describe_pinned(arch)),
    );
    fs::create_dir_all(base).with_context(|| format!("cannot create {}", base.display()))?;
    // Fetched and unpacked in a temp dir, then renamed: never half there.
    let staged = tempfile::Builder::new().prefix(".tmp").tempdir_in(base)?;
    let deb = staged.path().join(&package);
    let mirror = std::env::var("CARGO_XDP_DEBIAN_MIRROR")
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "https://deb.debian.org/debian".into());
    let urls = [
        format!(
            "{}/pool/main/c/cross-toolchain-base/{package}",
            mirror.trim_end_matches('/')
        ),
        format!("https://snapshot.debian.org/file/{}", pin.sha1),
    ];
    let mut failures = Vec::new();
    for url in &urls {
        let attempt = fetch
            .fetch(url, &deb)
            .and_then(|()| check_sha256(&deb, pin.sha256));
        match attempt {
            Ok(()) => {
                failures.clear();
                break;
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    if !failures.is_empty() {
        bail!(
            "cannot fetch the kernel's uapi headers ({package}): {}. The kern compile reads \
             them ahead of the C library's; check the network (or set \
             CARGO_XDP_DEBIAN_MIRROR to a Debian mirror), or set kernel-headers in \
             [workspace.metadata.xdp]: \"libc\" for the C library's copies, or a directory of \
             your own",
            failures.join("; ")
        );
    }
    let out = staged.path().join("include");
    unpack_include(&deb, pin.gnu, &out).with_context(|| format!("cannot unpack {package}"))?;
    for header in ["linux/types.h", "asm/types.h"] {
        if !out.join(header).is_file() {
            bail!("{package} has no {header}: not the package cargo-xdp pins");
        }
    }
    fs::remove_file(&deb)?;
    fs::write(staged.path().join("sha256"), pin.sha256)?;
    if let Some(parent) = cached.parent() {
        fs::create_dir_all(parent)?;
    }
    let _ = fs::remove_dir_all(&cached);
    fs::rename(staged.keep(), &cached)
        .with_context(|| format!("cannot write {}", cached.display()))?;
    Ok(include)
}

fn check_sha256(file: &Path, want: &str) -> Result<()> {
    let bytes = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let got = format!("{:x}", Sha256::digest(&bytes));
    if got != want {
        bail!("sha256 {got} is not the pinned {want}");
    }
    Ok(())
}

/// Unpacks `usr/<gnu>/include/` of a .deb (an ar archive holding
/// `data.tar.xz`) into `out`: regular files and directories only.
fn unpack_include(deb: &Path, gnu: &str, out: &Path) -> Result<()> {
    let file = fs::File::open(deb)?;
    let mut archive = ar::Archive::new(file);
    let mut data = None;
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry?;
        if entry.header().identifier() == b"data.tar.xz" {
            let mut tar = Vec::new();
            lzma_rs::xz_decompress(&mut BufReader::new(&mut entry), &mut tar)
                .map_err(|e| anyhow::anyhow!("data.tar.xz: {e}"))?;
            data = Some(tar);
            break;
        }
    }
    let data = data.context("no data.tar.xz in the package")?;
    let prefix = format!("usr/{gnu}/include/");
    let mut tar = tar::Archive::new(&data[..]);
    fs::create_dir_all(out)?;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some(relative) = path.trim_start_matches("./").strip_prefix(&prefix) else {
            continue;
        };
        if relative.is_empty() || relative.split('/').any(|c| c == ".." || c == ".") {
            continue;
        }
        let dest = out.join(relative);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&dest)?,
            tar::EntryType::Regular => {
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent)?;
                }
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes)?;
                fs::write(&dest, bytes)?;
            }
            // Links or devices: the pinned packages have none.
            other => bail!("{path} is a {other:?}, not a file"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A .deb of our own: `usr/<gnu>/include/{linux,asm}/types.h`.
    fn deb_with(gnu: &str) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, text) in [
            (
                format!("./usr/{gnu}/include/linux/types.h"),
                "/* linux */\n",
            ),
            (format!("./usr/{gnu}/include/asm/types.h"), "/* asm */\n"),
            ("./usr/share/doc/x/copyright".to_string(), "x\n"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, path, text.as_bytes()).unwrap();
        }
        let tar = tar.into_inner().unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &tar[..], &mut xz).unwrap();
        let mut deb = ar::Builder::new(Vec::new());
        for (name, bytes) in [("debian-binary", b"2.0\n".to_vec()), ("data.tar.xz", xz)] {
            let header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
            deb.append(&header, &bytes[..]).unwrap();
        }
        deb.into_inner().unwrap()
    }

    /// Serves fixed bytes for every URL, and remembers the URLs asked.
    struct Serve(Vec<u8>, RefCell<Vec<String>>);

    impl Fetch for Serve {
        fn fetch(&self, url: &str, to: &Path) -> Result<()> {
            self.1.borrow_mut().push(url.into());
            fs::write(to, &self.0)?;
            Ok(())
        }
    }

    fn quiet() -> Shell {
        Shell::new(true, 0, crate::shell::MessageFormat::Human)
    }

    #[test]
    fn unpacks_only_the_include_tree_of_a_deb() {
        let dir = tempfile::tempdir().unwrap();
        let deb = dir.path().join("x.deb");
        fs::write(&deb, deb_with("aarch64-linux-gnu")).unwrap();
        let out = dir.path().join("include");
        unpack_include(&deb, "aarch64-linux-gnu", &out).unwrap();
        assert_eq!(
            fs::read_to_string(out.join("asm/types.h")).unwrap(),
            "/* asm */\n"
        );
        assert!(out.join("linux/types.h").is_file());
        assert!(!out.join("share").exists() && !dir.path().join("usr").exists());
    }

    #[test]
    fn a_package_whose_sha256_differs_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let serve = Serve(deb_with("aarch64-linux-gnu"), RefCell::new(Vec::new()));
        let error = ensure_pinned(dir.path(), "arm64", &serve, &quiet())
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not the pinned"), "{error}");
        assert!(error.contains("kernel-headers"), "{error}");
        // Both places were tried: the mirror, then snapshot by sha1.
        let asked = serve.1.borrow();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(asked[0].ends_with("linux-libc-dev-arm64-cross_6.12.38-1cross1_all.deb"));
        assert!(asked[1].starts_with("https://snapshot.debian.org/file/"));
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn an_architecture_without_a_pin_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let serve = Serve(Vec::new(), RefCell::new(Vec::new()));
        let error = ensure_pinned(dir.path(), "sparc", &serve, &quiet())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`sparc`") && error.contains("arm64"),
            "{error}"
        );
    }

    #[test]
    fn the_metadata_value_picks_the_tree() {
        assert_eq!(Choice::from_metadata(None), Choice::Pinned);
        assert_eq!(Choice::from_metadata(Some("libc")), Choice::Libc);
        assert_eq!(
            Choice::from_metadata(Some("headers/uapi")),
            Choice::Dir("headers/uapi".into())
        );
    }

    #[test]
    fn every_pin_is_a_full_hash() {
        for pin in PINS {
            assert_eq!(pin.sha256.len(), 64, "{}", pin.arch);
            assert_eq!(pin.sha1.len(), 40, "{}", pin.arch);
        }
    }
}

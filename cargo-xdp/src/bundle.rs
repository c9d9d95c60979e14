//! The bundle: `target/xdp/<target>/<profile>/<name>-<target>.tar.gz`
//! (`debug/`, `release/` ...: profiles never overwrite each other), holding
//! `<name>/` with the kern object(s), the loader, `push-and-attach.sh` and a
//! `MANIFEST` (what was built with what, and the sha256 of every file).
//!
//! Byte-reproducible: entries sorted, mtime 0, uid/gid 0, fixed modes, a
//! gzip header without timestamp or name. Written to a temporary file and
//! renamed, so a bundle is never seen half written.
//!
//! Beside it, `<bundle>.stamp` (JSON) remembers the MANIFEST and the size
//! and mtime of every input: when none changed, an unchanged build neither
//! re-reads nor re-hashes anything (a debug loader is 25 MB).

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use flate2::{write::GzEncoder, Compression, GzBuilder};
use serde::{Deserialize, Serialize};

use crate::{hashing::sha256_hex, templates};

/// The host side: push and attach with only adb.
pub const SCRIPT: &str = "push-and-attach.sh";
/// The device side, shared by the script and `cargo xdp deploy`; root runs
/// only its own checked copy.
pub const DEVICE_SCRIPT: &str = "on-device.sh";
/// Root's way in: sent as the text of the root command, never run from a
/// file on the device (see the script).
pub const ROOT_ENTRY: &str = "root-entry.sh";
/// Scripts every bundle carries, and their modes.
/// Persistence across reboots (`deploy --persist`), sourced by on-device.sh.
pub const BOOT_SCRIPT: &str = "boot.sh";
const SCRIPTS: [(&str, u32); 4] = [
    (SCRIPT, 0o755),
    (DEVICE_SCRIPT, 0o755),
    (ROOT_ENTRY, 0o644),
    (BOOT_SCRIPT, 0o644),
];

/// What goes into one bundle.
pub struct Contents<'a> {
    pub name: &'a str,
    pub target: &'a str,
    pub triple: &'a str,
    pub profile: &'a str,
    pub clang_version: &'a str,
    /// `rustc --version` of the loader's compiler.
    pub rustc_version: &'a str,
    /// The sha256 of the project's Cargo.lock (the loader's exact crates).
    pub cargo_lock_sha256: Option<&'a str>,
    /// libbpf's headers, as headers::Libbpf::describe says.
    pub libbpf: &'a str,
    /// The kernel uapi headers, as uapi::KernelHeaders::description says.
    pub kernel_headers: &'a str,
    pub bpf_cpu: crate::isa::BpfCpu,
    /// NDK revision and API level, for Android targets.
    pub ndk: Option<&'a str>,
    pub api: Option<u32>,
    pub kern_objects: &'a [PathBuf],
    /// Bundled as they are beside the objects (`<stem>.sections`, `.tails`).
    pub extra_files: &'a [PathBuf],
    pub loader: &'a Path,
}

pub struct File {
    name: String,
    mode: u32,
    bytes: Vec<u8>,
}

/// Each profile's bundle in a directory of its own (`debug/`, `release/`,
/// as cargo keeps `target/debug` and `target/release`): never one over the
/// other.
pub fn path(xdp_dir: &Path, name: &str, target: &str, profile_dir: &str) -> PathBuf {
    xdp_dir
        .join(profile_dir)
        .join(format!("{name}-{target}.tar.gz"))
}

pub struct Written {
    pub bundle: PathBuf,
    pub sha256: String,
    /// False when an identical bundle was already there (its MANIFEST,
    /// which hashes every file, matched) and nothing was written.
    pub changed: bool,
}

/// What the last write saw (the `.stamp` sidecar).
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Stamp {
    /// Everything in `Contents` but the files' bytes.
    key: String,
    /// (path, size, identity: see `stat`) of each input file, then of the bundle.
    files: Vec<(PathBuf, u64, u128)>,
    manifest: String,
    sha256: String,
}

/// Writes the bundle unless an identical one is already there.
pub fn write(xdp_dir: &Path, contents: &Contents) -> Result<Written> {
    let destination = path(xdp_dir, contents.name, contents.target, contents.profile);
    if let Some(dir) = destination.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let sidecar = destination.with_extension("gz.stamp");
    let old: Stamp = fs::read(&sidecar)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let key = stamp_key(contents);
    let mut inputs: Vec<&Path> = contents
        .kern_objects
        .iter()
        .chain(contents.extra_files)
        .map(PathBuf::as_path)
        .collect();
    inputs.push(contents.loader);
    let stat_all = |bundle: &Path| -> Vec<(PathBuf, u64, u128)> {
        inputs
            .iter()
            .copied()
            .chain([bundle])
            .filter_map(stat)
            .collect()
    };
    // Nothing touched since the last write: done without reading a byte.
    if old.key == key && old.files == stat_all(&destination) {
        return Ok(Written {
            bundle: destination,
            sha256: old.sha256,
            changed: false,
        });
    }
    let files = collect(contents)?;
    let manifest = String::from_utf8_lossy(
        &files
            .iter()
            .find(|f| f.name == "MANIFEST")
            .expect("collect adds it")
            .bytes,
    )
    .into_owned();
    // Inputs rebuilt to the same bytes: the bundle stands, refresh the stamp.
    let bundle_untouched =
        stat(&destination).is_some() && old.files.last() == stat(&destination).as_ref();
    let (sha256, changed) =
        if bundle_untouched && old.manifest == manifest && !old.sha256.is_empty() {
            (old.sha256, false)
        } else {
            let _ = fs::remove_file(&sidecar);
            write_tarball(xdp_dir, &destination, contents.name, &files)?;
            (sha256_hex(&fs::read(&destination)?), true)
        };
    let files = stat_all(&destination);
    write_stamp(
        &sidecar,
        &Stamp {
            key,
            files,
            manifest,
            sha256: sha256.clone(),
        },
    )?;
    Ok(Written {
        bundle: destination,
        sha256,
        changed,
    })
}

/// The tarball of `files` under `<name>/`, through a temp file and a rename.
fn write_tarball(xdp_dir: &Path, destination: &Path, name: &str, files: &[File]) -> Result<()> {
    let mut staged = tempfile::NamedTempFile::new_in(xdp_dir)
        .with_context(|| format!("cannot write in {}", xdp_dir.display()))?;
    {
        let gz: GzEncoder<&mut fs::File> = GzBuilder::new()
            .mtime(0)
            .write(staged.as_file_mut(), Compression::default());
        let mut archive = tar::Builder::new(gz);
        archive.mode(tar::HeaderMode::Deterministic);
        archive.append(
            &header(&format!("{name}/"), 0o755, 0, tar::EntryType::Directory),
            &[][..],
        )?;
        for file in files {
            let path = format!("{name}/{}", file.name);
            let header = header(
                &path,
                file.mode,
                file.bytes.len() as u64,
                tar::EntryType::Regular,
            );
            archive.append(&header, &file.bytes[..])?;
        }
        archive.into_inner()?.finish()?.flush()?;
    }
    crate::workdir::persist(staged, destination, 0o644)?;
    Ok(())
}

fn stamp_key(contents: &Contents) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{:?}|{}|{}|{}|{:?}|{:?}|{}|{}",
        contents.name,
        contents.target,
        contents.triple,
        contents.profile,
        contents.clang_version,
        contents.rustc_version,
        contents.cargo_lock_sha256,
        contents.libbpf,
        contents.kernel_headers,
        contents.bpf_cpu,
        contents.ndk,
        contents.api,
        env!("CARGO_PKG_VERSION"),
        SCRIPTS
            .map(|(script, _)| sha256_hex(&templates::bundle_file(
                script,
                contents.name,
                &loader_name(contents)
            )))
            .join(","),
    )
}

/// A file's identity for the stamp: its size and, for the small ones (kern
/// objects, cases, tables), a hash of its bytes, so one rebuilt to the same
/// bytes leaves the bundle fresh; for the loader (tens of MB in debug) its
/// mtime, as reading it is what the stamp saves.
fn stat(path: &Path) -> Option<(PathBuf, u64, u128)> {
    const HASHED_UP_TO: u64 = 256 << 10;
    let meta = fs::metadata(path).ok()?;
    let identity = if meta.len() <= HASHED_UP_TO {
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&fs::read(path).ok()?, &mut hasher);
        std::hash::Hasher::finish(&hasher) as u128
    } else {
        meta.modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos()
    };
    Some((path.to_path_buf(), meta.len(), identity))
}

fn write_stamp(sidecar: &Path, stamp: &Stamp) -> Result<()> {
    fs::write(sidecar, serde_json::to_vec(stamp)?)
        .with_context(|| format!("cannot write {}", sidecar.display()))
}

fn header(path: &str, mode: u32, size: u64, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(path)
        .expect("bundle paths are short and relative");
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    header
}

/// The bundle's files, sorted by name, MANIFEST included.
fn collect(contents: &Contents) -> Result<Vec<File>> {
    let mut files = Vec::new();
    for object in contents.kern_objects.iter().chain(contents.extra_files) {
        files.push(File {
            name: file_name(object)?,
            mode: 0o644,
            bytes: fs::read(object).with_context(|| format!("cannot read {}", object.display()))?,
        });
    }
    files.push(File {
        name: file_name(contents.loader)?,
        mode: 0o755,
        bytes: fs::read(contents.loader)
            .with_context(|| format!("cannot read {}", contents.loader.display()))?,
    });
    for (script, mode) in SCRIPTS {
        files.push(File {
            name: script.into(),
            mode,
            bytes: templates::bundle_file(script, contents.name, &loader_name(contents)),
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let manifest = manifest(contents, &files);
    files.push(File {
        name: "MANIFEST".into(),
        mode: 0o644,
        bytes: manifest.into_bytes(),
    });
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn file_name(path: &Path) -> Result<String> {
    Ok(path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy()
        .into_owned())
}

/// `key: value` lines, then per file `sha256: HEX  FILE` (the hash and name
/// as `sha256sum` prints them) and `size: BYTES  FILE` (root copies no more
/// than that from the shell user's staging directory).
/// The loader's file name in the bundle.
fn loader_name(contents: &Contents) -> String {
    file_name(contents.loader).unwrap_or_default()
}

pub fn manifest(contents: &Contents, files: &[File]) -> String {
    let loader = file_name(contents.loader).unwrap_or_default();
    let kern: Vec<String> = contents
        .kern_objects
        .iter()
        .filter_map(|p| file_name(p).ok())
        .collect();
    let mut text = format!(
        "# cargo-xdp bundle. On the device, as root: ./{loader} attach IFACE\n\
         name: {}\ntarget: {}\ntriple: {}\nprofile: {}\ncargo-xdp: {}\nclang: {}\nlibbpf: {}\nkernel-headers: {}\nbpf-cpu: {}\nloader: {loader}\nkern: {}\n",
        contents.name,
        contents.target,
        contents.triple,
        contents.profile,
        env!("CARGO_PKG_VERSION"),
        contents.clang_version,
        contents.libbpf,
        contents.kernel_headers,
        contents.bpf_cpu,
        kern.join(" "),
    );
    text.push_str(&format!("rustc: {}\n", contents.rustc_version));
    if let Some(lock) = contents.cargo_lock_sha256 {
        text.push_str(&format!("cargo-lock-sha256: {lock}\n"));
    }
    if let (Some(ndk), Some(api)) = (contents.ndk, contents.api) {
        text.push_str(&format!("ndk: {ndk}\napi: {api}\n"));
    }
    for file in files {
        text.push_str(&format!(
            "sha256: {}  {}\nsize: {}  {}\n",
            sha256_hex(&file.bytes),
            file.name,
            file.bytes.len(),
            file.name
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents<'a>(objects: &'a [PathBuf], loader: &'a Path) -> Contents<'a> {
        Contents {
            name: "demo",
            target: "linux-x86_64",
            triple: "x86_64-unknown-linux-gnu",
            profile: "debug",
            clang_version: "clang version 14",
            rustc_version: "rustc 1.95.0",
            cargo_lock_sha256: Some("ab12"),
            libbpf: "1.7 (libbpf-sys 1.7.0+v1.7.0)",
            kernel_headers: "Linux 6.12.38 (Debian linux-libc-dev-amd64-cross 6.12.38-1cross1)",
            bpf_cpu: crate::isa::BpfCpu::V2,
            ndk: None,
            api: None,
            kern_objects: objects,
            extra_files: &[],
            loader,
        }
    }

    /// A temp dir holding a fake kern object and loader.
    fn inputs() -> (tempfile::TempDir, [PathBuf; 1], PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let object = dir.path().join("demo_kern.o");
        let loader = dir.path().join("demo_user");
        fs::write(&object, b"kern").unwrap();
        fs::write(&loader, b"loader").unwrap();
        (dir, [object], loader)
    }

    #[test]
    fn manifest_lists_every_file_with_its_sha256() {
        let (_dir, objects, loader) = inputs();
        let files = collect(&contents(&objects, &loader)).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "MANIFEST",
                BOOT_SCRIPT,
                "demo_kern.o",
                "demo_user",
                DEVICE_SCRIPT,
                SCRIPT,
                ROOT_ENTRY
            ]
        );
        let manifest = String::from_utf8(files[0].bytes.clone()).unwrap();
        assert!(manifest.contains("target: linux-x86_64\n"));
        assert!(manifest.contains(&format!("sha256: {}  demo_kern.o\n", sha256_hex(b"kern"))));
        assert!(manifest.contains(&format!("sha256: {}  demo_user\n", sha256_hex(b"loader"))));
        assert!(manifest.contains("size: 6  demo_user\n"));
        assert!(manifest.contains(&format!("  {SCRIPT}\n")));
        // Known vector, so the device's sha256sum agrees with ours.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn same_inputs_give_identical_tarballs() {
        let (dir, objects, loader) = inputs();
        let first = write(dir.path(), &contents(&objects, &loader)).unwrap();
        assert!(first.changed);
        let first_bytes = fs::read(&first.bundle).unwrap();
        // Unchanged inputs: nothing rewritten.
        assert!(
            !write(dir.path(), &contents(&objects, &loader))
                .unwrap()
                .changed
        );
        // Rebuilt to the same bytes (new mtime): still nothing rewritten.
        fs::write(&loader, b"loader").unwrap();
        let again = write(dir.path(), &contents(&objects, &loader)).unwrap();
        assert!(!again.changed && again.sha256 == first.sha256);
        // Other bytes: rewritten.
        fs::write(&loader, b"loader 2").unwrap();
        assert!(
            write(dir.path(), &contents(&objects, &loader))
                .unwrap()
                .changed
        );
        fs::write(&loader, b"loader").unwrap();
        // Forced rewrite a second later: the same bytes.
        fs::remove_file(&first.bundle).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = write(dir.path(), &contents(&objects, &loader)).unwrap();
        assert!(second.changed);
        assert_eq!(first_bytes, fs::read(&second.bundle).unwrap());
        assert_eq!(first.sha256, second.sha256);
        // Only inputs, the profile's dir with the bundle and its stamp are
        // left: no temporary files.
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 3, "{left:?}");
        let bundled: Vec<_> = fs::read_dir(dir.path().join("debug"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(bundled.len(), 2, "{bundled:?}");
    }
}

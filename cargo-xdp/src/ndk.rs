//! Finding an Android NDK the way cargo-ndk does, and the paths inside it.
//!
//! Order: `--ndk`, then ANDROID_NDK_HOME, ANDROID_NDK_ROOT, ANDROID_NDK_PATH,
//! NDK_HOME, then `ndk/<highest version>` of the SDK named by ANDROID_HOME,
//! ANDROID_SDK_ROOT or ANDROID_SDK_HOME, then `~/Android/Sdk/ndk/<highest>`.
//! A place that is named explicitly (flag or variable) but holds no usable
//! NDK is an error, not a reason to look elsewhere: silently building with
//! another NDK than the one asked for is the surprise we avoid.

use std::{
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};

/// NDK_HOME-like variables, in the order they are consulted.
pub const NDK_VARS: [&str; 4] = [
    "ANDROID_NDK_HOME",
    "ANDROID_NDK_ROOT",
    "ANDROID_NDK_PATH",
    "NDK_HOME",
];
/// SDK variables whose `ndk/<version>` directories are searched.
pub const SDK_VARS: [&str; 3] = ["ANDROID_HOME", "ANDROID_SDK_ROOT", "ANDROID_SDK_HOME"];
/// r23 is the first NDK with libunwind, which Rust's std links since 1.68.
pub const MIN_MAJOR: u32 = 23;
/// The NDK we suggest installing.
const SUGGESTED: &str = "26.1.10909125";
/// Prebuilt toolchain directory for this host.
const HOST_TAG: &str = "linux-x86_64";

/// `Pkg.Revision` of source.properties: 26.1.10909125 is r26b.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision {
    pub major: u32,
    pub minor: u32,
    pub build: u64,
}

impl Revision {
    pub fn parse(text: &str) -> Option<Revision> {
        // "26.1.10909125", also "26.1.10909125-beta1".
        let core = text.trim().split(['-', ' ']).next()?;
        let mut parts = core.split('.');
        Some(Revision {
            major: parts.next()?.parse().ok()?,
            minor: parts.next().unwrap_or("0").parse().ok()?,
            build: parts.next().unwrap_or("0").parse().ok()?,
        })
    }

    /// The release name users know: r26b.
    pub fn release(&self) -> String {
        match self.minor {
            0 => format!("r{}", self.major),
            m if m < 26 => format!("r{}{}", self.major, (b'a' + m as u8) as char),
            m => format!("r{}.{m}", self.major),
        }
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}.{}.{})",
            self.release(),
            self.major,
            self.minor,
            self.build
        )
    }
}

#[derive(Debug, Clone)]
pub struct Ndk {
    pub root: PathBuf,
    pub revision: Revision,
    /// Where the path came from: `--ndk`, `$ANDROID_NDK_HOME`, ...
    pub origin: String,
}

/// What discovery may look at; tests pass their own.
pub struct Lookup<'a> {
    pub flag: Option<&'a Path>,
    pub var: &'a dyn Fn(&str) -> Option<OsString>,
    pub home: Option<PathBuf>,
}

impl Lookup<'_> {
    fn get(&self, name: &str) -> Option<PathBuf> {
        (self.var)(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }
}

/// The NDK for this build, and warnings worth showing (conflicting variables).
pub fn locate(lookup: &Lookup) -> Result<(Ndk, Vec<String>)> {
    let mut warnings = Vec::new();
    if let Some(path) = lookup.flag {
        return Ok((Ndk::open(path, "--ndk")?, warnings));
    }
    let set: Vec<(&str, PathBuf)> = NDK_VARS
        .iter()
        .filter_map(|var| Some((*var, lookup.get(var)?)))
        .collect();
    if let Some((first, path)) = set.first() {
        for (other, other_path) in &set[1..] {
            if !same_dir(path, other_path) {
                warnings.push(format!(
                    "{first}={} and {other}={} name different NDKs; using {first} (the first of {})",
                    path.display(),
                    other_path.display(),
                    NDK_VARS.join(", ")
                ));
            }
        }
        return Ok((Ndk::open(path, &format!("${first}"))?, warnings));
    }
    for var in SDK_VARS {
        if let Some(sdk) = lookup.get(var) {
            if let Some(ndk) = newest_in(&sdk.join("ndk"))? {
                let origin = format!("${var}/ndk/{}", file_name(&ndk));
                return Ok((Ndk::open(&ndk, &origin)?, warnings));
            }
        }
    }
    if let Some(home) = &lookup.home {
        if let Some(ndk) = newest_in(&home.join("Android/Sdk/ndk"))? {
            let origin = format!("~/Android/Sdk/ndk/{}", file_name(&ndk));
            return Ok((Ndk::open(&ndk, &origin)?, warnings));
        }
    }
    bail!(
        "no Android NDK found (looked at --ndk, ${}, ${}/ndk/*, ~/Android/Sdk/ndk/*); \
         Android targets need NDK r{MIN_MAJOR} or newer: install one (Android Studio's SDK \
         Manager, or `sdkmanager \"ndk;{SUGGESTED}\"`) and set ANDROID_NDK_HOME to it or pass --ndk PATH",
        NDK_VARS.join(", $"),
        SDK_VARS.join("/ndk/*, $")
    )
}

/// `locate` with this process's environment and home directory.
pub fn locate_from_env(flag: Option<&Path>) -> Result<(Ndk, Vec<String>)> {
    locate(&Lookup {
        flag,
        var: &|name| std::env::var_os(name),
        home: std::env::var_os("HOME").map(PathBuf::from),
    })
}

impl Ndk {
    /// The NDK at `root`, checked: source.properties, version, host toolchain.
    pub fn open(root: &Path, origin: &str) -> Result<Ndk> {
        if !root.is_dir() {
            bail!(
                "the Android NDK path `{}` (from {origin}) is not a directory; point {origin} at \
                 an installed NDK (the directory holding source.properties)",
                root.display()
            );
        }
        let properties = root.join("source.properties");
        let revision = std::fs::read_to_string(&properties)
            .ok()
            .and_then(|text| parse_pkg_revision(&text));
        let Some(revision) = revision else {
            bail!(
                "`{}` (from {origin}) is not an Android NDK: it has no source.properties with a \
                 Pkg.Revision; point {origin} at the NDK's root directory, the one holding \
                 source.properties (e.g. ~/Android/Sdk/ndk/{SUGGESTED})",
                root.display()
            );
        };
        if revision.major < MIN_MAJOR {
            bail!(
                "the Android NDK at `{}` (from {origin}) is {revision}, too old: cargo-xdp needs \
                 r{MIN_MAJOR} or newer (Rust's std links libunwind, which r23 brought); install a \
                 newer one (`sdkmanager \"ndk;{SUGGESTED}\"`) and point {origin} at it",
                root.display()
            );
        }
        let ndk = Ndk {
            root: root.to_path_buf(),
            revision,
            origin: origin.to_string(),
        };
        if !ndk.clang().is_file() {
            bail!(
                "the Android NDK at `{}` (from {origin}) has no {}: is it an NDK for another \
                 host system? Install the Linux x86_64 NDK",
                root.display(),
                ndk.clang().display()
            );
        }
        Ok(ndk)
    }

    pub fn prebuilt(&self) -> PathBuf {
        self.root.join("toolchains/llvm/prebuilt").join(HOST_TAG)
    }

    pub fn bin(&self, tool: &str) -> PathBuf {
        self.prebuilt().join("bin").join(tool)
    }

    pub fn clang(&self) -> PathBuf {
        self.bin("clang")
    }

    /// The per-API driver the NDK ships, e.g. aarch64-linux-android21-clang.
    pub fn target_clang(&self, triple: &str, api: u32) -> PathBuf {
        self.bin(&format!("{triple}{api}-clang"))
    }

    pub fn sysroot(&self) -> PathBuf {
        self.prebuilt().join("sysroot")
    }

    /// API levels this NDK has libraries for, for `triple`, ascending.
    pub fn api_levels(&self, triple: &str) -> Vec<u32> {
        let dir = self.sysroot().join("usr/lib").join(triple);
        let mut levels: Vec<u32> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("libc.so").is_file())
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        levels.sort_unstable();
        levels
    }

    /// An error naming the levels this NDK has when `api` is not one.
    pub fn check_api(&self, triple: &str, api: u32) -> Result<()> {
        let levels = self.api_levels(triple);
        if levels.contains(&api) {
            return Ok(());
        }
        match (levels.first(), levels.last()) {
            (Some(low), Some(high)) => bail!(
                "API level {api} is not in NDK {} for {triple} (it has {low} to {high}); pick one \
                 of those with --api or `api` in [workspace.metadata.xdp]",
                self.revision.release()
            ),
            _ => bail!(
                "NDK {} at {} has no libraries for {triple} (no {}); reinstall the NDK",
                self.revision.release(),
                self.root.display(),
                self.sysroot().join("usr/lib").join(triple).display()
            ),
        }
    }

    /// The lowest API level whose libc/libm/libdl/liblog stubs define
    /// `symbol`, to turn "undefined symbol" into "use --api N".
    pub fn first_api_defining(&self, triple: &str, symbol: &str) -> Option<u32> {
        let dir = self.sysroot().join("usr/lib").join(triple);
        self.api_levels(triple).into_iter().find(|api| {
            ["libc.so", "libm.so", "libdl.so", "liblog.so"]
                .iter()
                .any(|lib| {
                    crate::elf::defines_dynamic_symbol(&dir.join(api.to_string()).join(lib), symbol)
                })
        })
    }
}

/// `Pkg.Revision = 26.1.10909125`, tolerating missing spaces.
pub fn parse_pkg_revision(text: &str) -> Option<Revision> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "Pkg.Revision")
            .then(|| Revision::parse(value))
            .flatten()
    })
}

/// The subdirectory of `dir` with the highest version name (26.1.10909125).
fn newest_in(dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut versions: Vec<(Revision, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((Revision::parse(e.file_name().to_str()?)?, e.path())))
        .collect();
    versions.sort();
    Ok(versions.pop().map(|(_, path)| path))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canonical(a) == canonical(b)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A directory that passes for an NDK of `revision` (no tools in it).
    fn fake_ndk(dir: &Path, revision: &str) -> PathBuf {
        let bin = dir.join("toolchains/llvm/prebuilt/linux-x86_64/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("clang"), "").unwrap();
        std::fs::write(
            dir.join("source.properties"),
            format!("Pkg.Desc = Android NDK\nPkg.Revision={revision}\n"),
        )
        .unwrap();
        dir.to_path_buf()
    }

    fn find(
        flag: Option<&Path>,
        vars: &[(&str, &Path)],
        home: Option<&Path>,
    ) -> Result<(Ndk, Vec<String>)> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_os_str().to_owned()))
            .collect();
        locate(&Lookup {
            flag,
            var: &|name| vars.get(name).cloned(),
            home: home.map(Path::to_path_buf),
        })
    }

    #[test]
    fn parses_revisions_and_names_releases() {
        let text = "Pkg.Desc = Android NDK\nPkg.Revision = 26.1.10909125\n";
        let rev = parse_pkg_revision(text).unwrap();
        assert_eq!((rev.major, rev.minor, rev.build), (26, 1, 10909125));
        assert_eq!(rev.to_string(), "r26b (26.1.10909125)");
        assert_eq!(
            parse_pkg_revision("Pkg.Revision=23.0.7599858-beta1")
                .unwrap()
                .release(),
            "r23"
        );
        assert!(parse_pkg_revision("Pkg.Desc = x").is_none());
    }

    #[test]
    fn lookup_order_flag_then_vars_then_sdk_then_home() {
        let tmp = tempfile::tempdir().unwrap();
        let a = fake_ndk(&tmp.path().join("a"), "26.1.10909125");
        let b = fake_ndk(&tmp.path().join("b"), "25.2.9519653");
        let sdk = tmp.path().join("sdk");
        fake_ndk(&sdk.join("ndk/25.2.9519653"), "25.2.9519653");
        fake_ndk(&sdk.join("ndk/26.1.10909125"), "26.1.10909125");
        let home = tmp.path().join("home");
        fake_ndk(&home.join("Android/Sdk/ndk/24.0.8215888"), "24.0.8215888");

        let (ndk, _) = find(Some(&b), &[("ANDROID_NDK_HOME", &a)], Some(&home)).unwrap();
        assert_eq!(
            (ndk.root.as_path(), ndk.origin.as_str()),
            (b.as_path(), "--ndk")
        );
        let (ndk, _) = find(None, &[("NDK_HOME", &b), ("ANDROID_HOME", &sdk)], None).unwrap();
        assert_eq!(ndk.origin, "$NDK_HOME");
        let (ndk, _) = find(None, &[("ANDROID_SDK_ROOT", &sdk)], Some(&home)).unwrap();
        assert_eq!(ndk.origin, "$ANDROID_SDK_ROOT/ndk/26.1.10909125");
        assert_eq!(ndk.revision.major, 26, "the highest version wins");
        let (ndk, _) = find(None, &[], Some(&home)).unwrap();
        assert_eq!(ndk.origin, "~/Android/Sdk/ndk/24.0.8215888");
        let error = find(None, &[], None).unwrap_err().to_string();
        assert!(
            error.contains("no Android NDK found") && error.contains("--ndk"),
            "{error}"
        );
    }

    #[test]
    fn conflicting_variables_warn_and_the_first_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let a = fake_ndk(&tmp.path().join("a"), "26.1.10909125");
        let b = fake_ndk(&tmp.path().join("b"), "25.2.9519653");
        let (ndk, warnings) = find(
            None,
            &[("ANDROID_NDK_ROOT", &b), ("ANDROID_NDK_HOME", &a)],
            None,
        )
        .unwrap();
        assert_eq!(ndk.origin, "$ANDROID_NDK_HOME");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("ANDROID_NDK_ROOT="), "{}", warnings[0]);
        let (_, warnings) = find(
            None,
            &[("ANDROID_NDK_ROOT", &a), ("ANDROID_NDK_HOME", &a)],
            None,
        )
        .unwrap();
        assert!(warnings.is_empty(), "same path twice is no conflict");
    }

    #[test]
    fn bad_ndks_are_errors_naming_path_and_origin() {
        let tmp = tempfile::tempdir().unwrap();
        let old = fake_ndk(&tmp.path().join("old"), "22.1.7171670");
        let error = find(None, &[("ANDROID_NDK_HOME", &old)], None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("r22b") && error.contains("$ANDROID_NDK_HOME"),
            "{error}"
        );
        assert!(
            error.contains(&old.display().to_string()) && error.contains("r23"),
            "{error}"
        );

        let not_ndk = tmp.path().join("empty");
        std::fs::create_dir(&not_ndk).unwrap();
        let error = find(Some(&not_ndk), &[], None).unwrap_err().to_string();
        assert!(
            error.contains("is not an Android NDK") && error.contains("--ndk"),
            "{error}"
        );

        let missing = tmp.path().join("missing");
        let error = find(None, &[("NDK_HOME", &missing)], None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("not a directory") && error.contains("$NDK_HOME"),
            "{error}"
        );

        // A named NDK that is bad is not silently replaced by another one.
        let good = fake_ndk(&tmp.path().join("good"), "26.1.10909125");
        let sdk = tmp.path().join("sdk");
        std::fs::create_dir_all(sdk.join("ndk")).unwrap();
        std::os::unix::fs::symlink(&good, sdk.join("ndk/26.1.10909125")).unwrap();
        assert!(find(
            None,
            &[("ANDROID_NDK_HOME", &not_ndk), ("ANDROID_HOME", &sdk)],
            None
        )
        .is_err());
    }
}

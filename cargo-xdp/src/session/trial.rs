//! A trial on a device: packet tests or a bench through its kernel without
//! attaching anything and without touching a deployed copy (none is needed).
//! The bundle's files (and a capture's frames, added to its MANIFEST) go to
//! the shell user's `.NAME.try`; root takes them into a work dir of its own
//! (`.NAME.t.*`), checks each against MANIFEST, runs the cases there with
//! its checked loader, and removes it.

use std::{path::Path, sync::Arc};

use anyhow::{bail, Context, Result};

use super::{install::unpack, reach_root, target_for_device};
use crate::{
    bundle, hashing,
    project::Project,
    remote::{self, Probe, Root},
    toolchain::{self, Target},
    transport::Transport,
    workdir,
};

/// A device ready for a trial: root reached, the target it runs known.
pub struct Trial {
    pub adb: Arc<dyn Transport>,
    pub probe: Probe,
    pub root: Root,
    pub target: Target,
}

/// A file a trial brings beside the bundle's (a capture's frames).
pub struct Extra {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The probe and the way to root (nothing staged yet), and the target:
/// `target` when named, else the device's ABI's.
pub fn prepare_trial(
    adb: &Arc<dyn Transport>,
    project: &Project,
    target: Option<&str>,
) -> Result<Trial> {
    let (probe, root) = reach_root(adb.as_ref(), &project.meta.name, None)?;
    if probe.hasher.is_none() {
        bail!(
            "{} has no sha256 tool (none of {}), and cargo-xdp runs nothing as root that it \
             cannot check first; nothing was pushed. Install busybox on the device, or use one \
             with Android 8 or newer",
            adb.serial(),
            remote::HASHERS.join(", ")
        );
    }
    let target = match target {
        Some(name) => toolchain::find(name)?,
        None => target_for_device(&probe, adb.serial())?,
    };
    Ok(Trial {
        adb: Arc::clone(adb),
        probe,
        root,
        target,
    })
}

/// Pushes `bundle`'s files and `extra` and runs `args` (`test-run [CASES
/// OBJECT]` or `bench REPEAT`) in root's checked copy of them; each line
/// it prints goes to `line`. Nothing of it stays on the device.
pub fn run_trial(
    trial: &Trial,
    project: &Project,
    bundle: &Path,
    extra: &[Extra],
    args: &[&str],
    line: &mut dyn FnMut(&str),
) -> Result<()> {
    let name = &project.meta.name;
    let adb = trial.adb.as_ref();
    let unpacked = workdir::scratch_dir(&project.target_dir)?;
    let mut files = unpack(bundle, unpacked.path(), name)?;
    let dir = unpacked.path().join(name);
    add_extras(&dir, extra, &mut files)?;
    let sha256_of = |file: &str| -> Result<String> {
        let bytes = std::fs::read(dir.join(file))
            .with_context(|| format!("the bundle {} has no {file}", bundle.display()))?;
        Ok(hashing::sha256_hex(&bytes))
    };
    let checks = remote::Checks {
        manifest_sha256: sha256_of("MANIFEST")?,
        script_sha256: sha256_of(bundle::DEVICE_SCRIPT)?,
    };
    let staging = adb.layout().trial_staging_dir(name);
    let stage = remote::quote(&staging);
    super::run_checked(
        adb,
        &format!("rm -rf {stage} && mkdir -p {stage}; echo __rc=$?"),
        "the staging",
    )?;
    if let Err(error) = adb.push(&files, &staging) {
        let _ = adb.shell_cleanup(&format!("rm -rf {stage}; echo __rc=$?"));
        return Err(error);
    }
    let command = trial.probe.entry(trial.root).trial(name, &checks, args);
    let what = format!(
        "the loader's `{}`",
        args.first().copied().unwrap_or_default()
    );
    let out = adb.shell(&command, &what).map_err(|error| {
        anyhow::anyhow!(
            "{error:#}; root's part may have run on: the next cargo xdp call on {} removes \
             what it left in {}/.{name}.t.*",
            adb.serial(),
            adb.layout().root_base
        )
    })?;
    eprint!("{}", crate::shell::harmless(&out.stderr));
    for each in out.stdout.lines() {
        line(each);
    }
    match out.code {
        Some(0) => Ok(()),
        Some(code) => bail!(
            "the trial on {} exited with {code} (see above); nothing was attached",
            adb.serial()
        ),
        None => bail!(
            "lost the connection to {} (no exit status came back)",
            adb.serial()
        ),
    }
}

/// Writes each extra file beside the bundle's and names it in MANIFEST (its
/// sha256 and size, as the bundle names its own).
fn add_extras(dir: &Path, extra: &[Extra], files: &mut Vec<std::path::PathBuf>) -> Result<()> {
    if extra.is_empty() {
        return Ok(());
    }
    let manifest = dir.join("MANIFEST");
    let mut text = std::fs::read_to_string(&manifest).context("the bundle has no MANIFEST")?;
    for file in extra {
        let path = dir.join(&file.name);
        std::fs::write(&path, &file.bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        text.push_str(&format!(
            "sha256: {}  {}\nsize: {}  {}\n",
            hashing::sha256_hex(&file.bytes),
            file.name,
            file.bytes.len(),
            file.name
        ));
        files.push(path);
    }
    std::fs::write(&manifest, text).context("cannot write the trial's MANIFEST")
}

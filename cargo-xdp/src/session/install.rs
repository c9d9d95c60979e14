//! One install on the device: the bundle unpacked here, its files pushed,
//! and one root shell that copies, checks and attaches them; what the
//! device answered, read.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;

use super::{DeployPlan, Deployed, Session};
use crate::{bundle, remote};

/// The attach call (root's part) was stopped, by its time limit or Ctrl-C,
/// before the device answered.
#[derive(Debug)]
pub(super) struct RootsPartStopped(anyhow::Error);

impl std::fmt::Display for RootsPartStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for RootsPartStopped {}

/// An attach failure whose message already says what the device reports.
#[derive(Debug)]
pub(super) struct StateKnown(String);

impl std::fmt::Display for StateKnown {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StateKnown {}

pub(super) fn push_and_attach_files(
    session: &Session,
    name: &str,
    files: &[PathBuf],
    plan: &DeployPlan,
    logs: &Path,
) -> Result<Deployed> {
    let sha256_of = |file: &str| -> Result<String> {
        let path = files
            .iter()
            .find(|f| f.file_name().is_some_and(|n| n == file))
            .with_context(|| format!("the bundle has no {file}"))?;
        Ok(crate::hashing::sha256_hex(&std::fs::read(path)?))
    };
    let checks = remote::Checks {
        manifest_sha256: sha256_of("MANIFEST")?,
        script_sha256: sha256_of(bundle::DEVICE_SCRIPT)?,
    };
    let mut attach = vec![plan.interface.as_str(), plan.mode.as_str()];
    attach.extend(plan.attach_args.iter().map(String::as_str));
    let command = session.entry().install(name, &checks, &attach);
    if !session.probe.has_shell_v2() && command.len() > remote::LEGACY_COMMAND_LIMIT {
        bail!(
            "the attach command for {} is {} bytes, and adbd before Android 7 refuses commands \
             over {}: pass fewer loader arguments after `--` and add the rest on the device \
             with the loader's `rules` command; nothing was attached",
            session.adb.serial(),
            command.len(),
            remote::LEGACY_COMMAND_LIMIT
        );
    }
    session
        .adb
        .push(files, &session.adb.layout().staging_dir(name))?;
    let out = session
        .adb
        .shell(&command, "the attach")
        .map_err(RootsPartStopped)?;
    read_answer(session, name, plan, &out, logs)
}

/// What root's install shell answered: the program attached (its mode and
/// id, and what the loader said), or an error saying what the device reports.
fn read_answer(
    session: &Session,
    name: &str,
    plan: &DeployPlan,
    out: &crate::transport::Output,
    logs: &Path,
) -> Result<Deployed> {
    let stderr = crate::verifier_log::condense(&out.stderr, logs);
    // (Without shell v2, stderr comes in stdout: a verifier log too.)
    let said = |skip: &str| -> String {
        let lines: String = out
            .stdout
            .lines()
            .filter(|l| !l.starts_with(skip))
            .map(|l| format!("{l}\n"))
            .collect();
        crate::verifier_log::condense(&lines, logs)
    };
    let Some(code) = out.code else {
        // No exit status: the device's answer about its state never came.
        bail!(
            "attaching {name} to {} on {} gave no exit status (the connection was lost?):\n{}{}",
            plan.interface,
            session.adb.serial(),
            said("state-json: "),
            stderr.trim_end()
        );
    };
    if code != 0 {
        let now = remote::Reported::from_line(&out.stdout, "state-json: ").on(&plan.interface);
        let message = format!(
            "attaching {name} to {} on {} failed; {}:\n{}{}",
            plan.interface,
            session.adb.serial(),
            now.describe(name, &plan.interface, session.adb.serial()),
            said("state-json: "),
            stderr.trim_end()
        );
        return Err(if now == remote::OnInterface::Unknown {
            anyhow::anyhow!(message)
        } else {
            StateKnown(message).into()
        });
    }
    let status = remote::Reported::from_line(&out.stdout, "status-json: ");
    let (mode, program_id) = match status.on(&plan.interface) {
        remote::OnInterface::Running { mode, program_id } => (mode, program_id),
        remote::OnInterface::Unknown => bail!(
            "the device reported no status after attaching {name} to {}",
            plan.interface
        ),
        other => bail!(
            "the loader said it attached, but on {}: {}",
            session.adb.serial(),
            other.describe(name, &plan.interface, session.adb.serial())
        ),
    };
    Ok(Deployed {
        mode,
        program_id,
        variant: status.variant_on(&plan.interface),
        // What the loader said, and root-entry's notes (an earlier install
        // it stopped).
        output: format!("{}{stderr}", said("status-json: "))
            .trim_end()
            .to_string(),
    })
}

/// The bundle's files, unpacked into `dir`, sorted.
pub(super) fn unpack(bundle: &Path, dir: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let file =
        std::fs::File::open(bundle).with_context(|| format!("cannot read {}", bundle.display()))?;
    tar::Archive::new(GzDecoder::new(file))
        .unpack(dir)
        .with_context(|| format!("cannot unpack {}", bundle.display()))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(name))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

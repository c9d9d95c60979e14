//! `cargo xdp deploy --adb IFACE --all-devices`: every connected device in
//! parallel, one build for the targets they need, a row per device; one
//! failing device does not stop the others.

use std::{path::Path, sync::Arc, thread, time::Duration};

use anyhow::{bail, Result};

use super::{build, message, plan, DeployOptions};
use crate::{
    adb::{self, Adb, Device, Transport},
    project::Project,
    session::{prepare, push_and_attach, Deployed, Session},
    shell::Shell,
    toolchain::Target,
};

/// Every connected device at once; a table of how each went.
pub fn deploy_all(
    args: &DeployOptions,
    project: &Project,
    adb_path: &Path,
    devices: &[Device],
    shell: &Shell,
) -> Result<()> {
    if devices.is_empty() {
        adb::select(devices, None)?;
    }
    let name = &project.meta.name;
    // Probe and prepare every device in parallel.
    let prepared: Vec<(Device, Result<Session>)> = in_parallel(devices.to_vec(), |device| {
        let session = adb::check_ready(&device).and_then(|()| {
            let adb: Arc<dyn Transport> = Arc::new(Adb::new(
                adb_path.to_path_buf(),
                device.serial.clone(),
                Duration::from_secs(args.device.adb_timeout),
            ));
            prepare(&adb, &device, project, &plan(args), shell)
        });
        (device, session)
    });
    // One build for all the targets the devices need.
    let targets = targets_needed(&prepared);
    let bundles = if targets.is_empty() {
        Vec::new()
    } else {
        match build(project, args, &targets, shell) {
            Ok(bundles) => bundles,
            Err(error) => {
                // Every prepared device has a staging directory to remove.
                in_parallel(prepared, |(_, session)| {
                    if let Ok(session) = session {
                        session.clean_up(name, &args.interface, shell);
                    }
                });
                return Err(error);
            }
        }
    };
    let results: Vec<(Device, Result<(Session, Deployed)>)> =
        in_parallel(prepared, |(device, session)| {
            let result = session.and_then(|session| {
                let (_, bundle) = bundles
                    .iter()
                    .find(|(target, _)| *target == session.target.name)
                    .expect("every prepared target was built");
                let deployed = push_and_attach(&session, project, bundle, &plan(args), shell)?;
                Ok((session, deployed))
            });
            (device, result)
        });
    report(args, &results, shell)
}

/// The targets the prepared devices need, each once, in device order.
fn targets_needed(prepared: &[(Device, Result<Session>)]) -> Vec<Target> {
    let mut targets: Vec<Target> = Vec::new();
    for (_, session) in prepared {
        if let Ok(session) = session {
            if !targets.iter().any(|t| t.name == session.target.name) {
                targets.push(session.target.clone());
            }
        }
    }
    targets
}

/// A row per device (and its JSON message); an error naming the devices
/// that failed.
fn report(
    args: &DeployOptions,
    results: &[(Device, Result<(Session, Deployed)>)],
    shell: &Shell,
) -> Result<()> {
    let mut table = format!(
        "{:<20} {:<16} {:<15} {}\n",
        "device", "model", "target", "result"
    );
    let mut failed = Vec::new();
    for (device, result) in results {
        let model = device.model.as_deref().unwrap_or("-");
        let (target, outcome) = match result {
            Ok((session, deployed)) => (
                session.target.name.as_str(),
                format!(
                    "attached to {} in {} mode (program id {})",
                    args.interface, deployed.mode, deployed.program_id
                ),
            ),
            Err(error) => {
                failed.push(device.serial.as_str());
                let first = format!("{error:#}");
                (
                    "-",
                    format!("FAILED: {}", first.lines().next().unwrap_or_default()),
                )
            }
        };
        table.push_str(&format!(
            "{:<20} {model:<16} {target:<15} {outcome}\n",
            device.serial
        ));
        let result = result
            .as_ref()
            .map(|(session, deployed)| (session, deployed));
        shell.message(&message(&device.serial, &args.interface, result));
    }
    if shell.human() && !shell.quiet() {
        print!("{}", crate::shell::harmless(&table));
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} devices failed: {} (each one's error is in its deploy-failed message or \
             the table)",
            failed.len(),
            results.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// `work` on every item, each in its own thread; results in item order.
fn in_parallel<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || work(item)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("device thread panicked"))
            .collect()
    })
}

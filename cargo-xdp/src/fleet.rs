//! `cargo xdp deploy --adb IFACE --all-devices`: every connected device in
//! parallel, one build for the targets they need, a row per device; one
//! failing device does not stop the others.

use std::{path::Path, thread};

use anyhow::{bail, Result};

use crate::{
    adb::{self, Adb, Device},
    cli::DeployArgs,
    deploy::{build, message, prepare, push_and_attach, Deployed, Session},
    project::Project,
    shell::Shell,
    toolchain::Target,
};

/// Every connected device at once; a table of how each went.
pub fn deploy_all(
    args: &DeployArgs,
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
    let prepared: Vec<(Device, Result<Session>)> = thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .map(|device| {
                scope.spawn(move || {
                    let session = adb::check_ready(device).and_then(|()| {
                        let adb = Adb {
                            path: adb_path.to_path_buf(),
                            serial: device.serial.clone(),
                        };
                        prepare(&adb, device, project, args, shell)
                    });
                    (device.clone(), session)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("device thread panicked"))
            .collect()
    });
    // One build for all the targets the devices need.
    let mut targets: Vec<Target> = Vec::new();
    for (_, session) in &prepared {
        if let Ok(session) = session {
            if !targets.iter().any(|t| t.name == session.target.name) {
                targets.push(session.target.clone());
            }
        }
    }
    let bundles = if targets.is_empty() {
        Vec::new()
    } else {
        build(project, args, &targets, shell)?
    };
    let results: Vec<(Device, Result<(Session, Deployed)>)> = thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .into_iter()
            .map(|(device, session)| {
                let bundles = &bundles;
                scope.spawn(move || {
                    let result = session.and_then(|session| {
                        let bundle = &bundles
                            .iter()
                            .find(|(t, _)| *t == session.target.name)
                            .expect("built")
                            .1;
                        let deployed = push_and_attach(&session, name, bundle, args)?;
                        Ok((session, deployed))
                    });
                    (device, result)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("device thread panicked"))
            .collect()
    });
    let mut table = format!(
        "{:<20} {:<16} {:<15} {}\n",
        "device", "model", "target", "result"
    );
    let mut failed = 0;
    for (device, result) in &results {
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
                failed += 1;
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
        shell.message(message(&device.serial, &args.interface, result));
    }
    if shell.human() && !shell.quiet() {
        print!("{table}");
    }
    if failed > 0 {
        bail!(
            "{failed} of {} devices failed (see the table above)",
            results.len()
        );
    }
    Ok(())
}

//! `cargo xdp deploy --adb IFACE --all-devices`: every connected device in
//! parallel, one build for the targets they need, a row per device; one
//! failing device does not stop the others.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    thread,
    time::Duration,
};

use anyhow::{bail, Result};

use super::{build, message, plan, DeployOptions};
use crate::{
    adb::{self, Adb, Device},
    project::Project,
    session::{prepare, push_and_attach, Deployed, Session},
    shell::Shell,
    toolchain::Target,
    transport::Transport,
};

/// Every connected device at once; a table of how each went.
pub fn deploy_all(
    args: &DeployOptions,
    project: &Project,
    adb_path: &Path,
    devices: &[Device],
    shell: &Shell,
) -> Result<()> {
    let limit = Duration::from_secs(args.device.adb_timeout);
    let connect = |device: &Device| -> Arc<dyn Transport> {
        Arc::new(Adb::new(
            adb_path.to_path_buf(),
            device.serial.clone(),
            limit,
        ))
    };
    let build_for = |targets: &[Target]| build(project, args, targets, shell);
    deploy_to(args, project, devices, &connect, &build_for, shell)
}

/// The way to one device.
type Connect<'a> = dyn Fn(&Device) -> Arc<dyn Transport> + Sync + 'a;
/// One build for these targets: (target name, bundle) of each.
type BuildFor<'a> = dyn Fn(&[Target]) -> Result<Vec<(String, PathBuf)>> + 'a;

/// deploy_all through `connect` and `build_for` (doubles in the tests).
fn deploy_to(
    args: &DeployOptions,
    project: &Project,
    devices: &[Device],
    connect: &Connect,
    build_for: &BuildFor,
    shell: &Shell,
) -> Result<()> {
    if devices.is_empty() {
        adb::select(devices, None)?;
    }
    let name = &project.meta.name;
    let plan = plan(args);
    // Probe and prepare every device in parallel.
    let prepared: Vec<(Device, Result<Session>)> = in_parallel(devices.to_vec(), |device| {
        let session = adb::check_ready(&device)
            .and_then(|()| prepare(&connect(&device), &device, project, &plan, shell));
        (device, session)
    });
    // One build for all the targets the devices need.
    let targets = targets_needed(&prepared);
    let bundles = if targets.is_empty() {
        Vec::new()
    } else {
        match build_for(&targets) {
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
                let deployed = push_and_attach(&session, project, bundle, &plan, shell)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fake::*;

    fn options() -> DeployOptions {
        DeployOptions {
            interface: "wlan0".into(),
            device: crate::session::DeviceChoice {
                ssh: None,
                serial: None,
                adb_timeout: 60,
            },
            all_devices: true,
            target: None,
            mode: crate::attach::AttachMode::Auto,
            debug: false,
            cargo: Default::default(),
            detach: false,
            keep_files: false,
            persist: None,
            manifest_path: None,
            ndk: None,
            api: None,
            attach_args: vec![],
        }
    }

    fn phone(serial: &str) -> Device {
        Device {
            serial: serial.into(),
            state: crate::adb::DeviceState::Device,
            model: Some("Pixel".into()),
        }
    }

    /// Two phones: one rooted, one not. The first is deployed, the second
    /// fails alone, and the error names it; one build serves the first.
    #[test]
    fn one_failing_device_does_not_stop_the_other() {
        let rooted = FakeDevice::named("PHONE1", false, |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the attach" => answered(
                &format!("status-json: {}\n", attached_status("wlan0", "native", 7)),
                0,
            ),
            other => panic!("PHONE1 asked {other}"),
        });
        let locked = FakeDevice::named("PHONE2", false, |what| match what {
            "the probe" => answered(
                "uid=2000\nabi=arm64-v8a\nsdk=33\ndebuggable=0\nsu=none\nhash=toybox sha256sum\n",
                0,
            ),
            other => panic!("PHONE2 asked {other}"),
        });
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path());
        let bundle = bundle(dir.path());
        let built = std::sync::Mutex::new(Vec::new());
        let connect = |device: &Device| -> Arc<dyn Transport> {
            if device.serial == "PHONE1" {
                rooted.clone()
            } else {
                locked.clone()
            }
        };
        let build_for = |targets: &[Target]| {
            built
                .lock()
                .unwrap()
                .extend(targets.iter().map(|t| t.name.clone()));
            Ok(vec![("android-arm64".to_string(), bundle.clone())])
        };
        let error = deploy_to(
            &options(),
            &project,
            &[phone("PHONE1"), phone("PHONE2")],
            &connect,
            &build_for,
            &quiet(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("1 of 2 devices failed: PHONE2"), "{error}");
        assert_eq!(*built.lock().unwrap(), ["android-arm64"]);
        assert_eq!(rooted.asked(), ["the probe", "adb push", "the attach"]);
        assert_eq!(locked.asked(), ["the probe"]);
    }
}

//! `cargo xdp deploy --adb IFACE` and `--detach` (`--all-devices`: fleet.rs).
//! The device's side of each step is session.rs.
//!
//! After the device is chosen (`adb devices -l`), a deploy is three adb
//! calls: a probe (who am I, ABI, su, a sha256 tool, the interface; creates
//! the staging directory only when root is reachable), one push of the
//! bundle's files, and one shell in which root copies them into its own
//! directory, checks them there, attaches, and reports the status; the
//! shell user then removes what it pushed. `adb root` adds two calls when
//! the shell is not root. Every call has a time limit; a failure or Ctrl-C
//! at any step removes what the deploy left on the device and on the host.

mod fleet;

use std::{path::PathBuf, time::Duration};

use anyhow::Result;

use crate::{
    adb::{self, Transport},
    attach::AttachMode,
    builder::{self, BuildRequest},
    cargo_args::{CargoArgs, Profile},
    messages::Message,
    project::Project,
    session::DeviceChoice,
    session::{self, DeployPlan, Deployed, Session},
    shell::Shell,
    toolchain::Target,
};

#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Interface on the device to attach to (e.g. wlan0).
    pub interface: String,
    pub device: DeviceChoice,
    /// Deploy to every connected device, in parallel.
    pub all_devices: bool,
    /// Target to build (default: from the device's ro.product.cpu.abi).
    pub target: Option<String>,
    /// auto (native, else skb), skb or native.
    pub mode: AttachMode,
    /// Build with the dev profile (deploy builds release by default).
    pub debug: bool,
    pub cargo: CargoArgs,
    /// Detach from the interface instead of deploying.
    pub detach: bool,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
    /// Android NDK to use.
    pub ndk: Option<PathBuf>,
    /// Android API level to link against.
    pub api: Option<u32>,
    /// Passed to the loader's `attach` (e.g. `-- --prog xdp_drop` or filter rules).
    pub attach_args: Vec<String>,
}

pub fn deploy(args: &DeployOptions, shell: &Shell) -> Result<()> {
    crate::names::check_interface(&args.interface)?;
    let project = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
    // Ctrl-C from here on stops the call in flight; we clean up, then exit.
    crate::process::stop_calls_on_interrupt();
    if args.all_devices {
        let limit = Duration::from_secs(args.device.adb_timeout);
        let adb_path = adb::locate()?;
        let devices = adb::devices(&adb_path, limit)?;
        return fleet::deploy_all(args, &project, &adb_path, &devices, shell);
    }
    let (device, adb) = session::connect(&args.device)?;
    let name = &project.meta.name;
    if args.detach {
        return detach(adb.as_ref(), name, &args.interface, shell);
    }
    let plan = plan(args);
    let session = session::prepare(&adb, &device, &project, &plan, shell)?;
    // The probe made a staging directory: a failed build must not leave it.
    let built = build(&project, args, std::slice::from_ref(&session.target), shell);
    let bundle = match built {
        Ok(mut bundles) => bundles.pop().expect("one target built").1,
        Err(error) => {
            session.clean_up(name, &args.interface, shell);
            return Err(interrupted_or(error));
        }
    };
    let deployed = session::push_and_attach(&session, &project, &bundle, &plan, shell)
        .map_err(interrupted_or)?;
    if !shell.quiet() {
        shell.device_text(&deployed.output);
    }
    report(shell, &session, &args.interface, &deployed);
    Ok(())
}

/// `--detach`: root's deployed loader takes `name` off `interface`.
fn detach(adb: &dyn Transport, name: &str, interface: &str, shell: &Shell) -> Result<()> {
    let (probe, root) = session::reach_root(adb, name, None)?;
    let detach = probe.entry(root).deployed(name, &["detach", interface]);
    // The loader's warnings (not its "Detached" line: ours follows).
    let out = session::run_checked(adb, &detach, "the detach")?;
    if !shell.quiet() {
        shell.device_text(&out.stderr);
    }
    shell.status(
        "Detached",
        format!("{name} from {interface} on {}", adb.serial()),
    );
    Ok(())
}

/// After Ctrl-C, that is what happened, whatever the step it broke said.
fn interrupted_or(error: anyhow::Error) -> anyhow::Error {
    if crate::process::interrupted() {
        anyhow::anyhow!(
            "interrupted (Ctrl-C); what this deploy had staged on the device and here was \
             removed:\n{error:#}"
        )
    } else {
        error
    }
}

/// What the options ask of each device.
pub fn plan(args: &DeployOptions) -> DeployPlan {
    DeployPlan {
        interface: args.interface.clone(),
        mode: args.mode,
        target: args.target.clone(),
        profile: profile(args),
        attach_args: args.attach_args.clone(),
    }
}

/// What a deploy builds: release (what a device should run: stripped,
/// a fraction of the debug loader's 25 MB), unless --debug or --profile.
pub fn profile(args: &DeployOptions) -> Profile {
    if args.debug {
        Profile::dev()
    } else {
        args.cargo.profile_or(Profile::release())
    }
}

/// Builds `targets` (a no-op when fresh); the bundle of each.
pub fn build(
    project: &Project,
    args: &DeployOptions,
    targets: &[Target],
    shell: &Shell,
) -> Result<Vec<(String, PathBuf)>> {
    let build = BuildRequest {
        cargo: CargoArgs {
            release: false,
            profile: Some(profile(args).name().to_string()),
            ..args.cargo.clone()
        },
        target: targets.iter().map(|t| t.name.clone()).collect(),
        all_targets: false,
        manifest_path: Some(project.root.join("Cargo.toml")),
        ndk: args.ndk.clone(),
        api: args.api,
        install_targets: false,
    };
    Ok(builder::build_found(project, &build, shell)?
        .into_iter()
        .map(|b| (b.target, b.bundle))
        .collect())
}

fn report(shell: &Shell, session: &Session, interface: &str, deployed: &Deployed) {
    shell.status(
        "Deployed",
        format!(
            "`{}` {} on {} ({}): attached to {interface} in {} mode, program id {}",
            session.profile.dir_name(),
            session.target.name,
            session.adb.serial(),
            session.model,
            deployed.mode,
            deployed.program_id
        ),
    );
    shell.message(&message(
        session.adb.serial(),
        interface,
        Ok((session, deployed)),
    ));
}

/// The JSON message for one device's deploy, as it went.
pub fn message<'a>(
    serial: &'a str,
    interface: &'a str,
    result: Result<(&'a Session, &'a Deployed), &anyhow::Error>,
) -> Message<'a> {
    match result {
        Ok((session, deployed)) => Message::Deployed {
            serial,
            target: &session.target.name,
            profile: session.profile.dir_name(),
            interface,
            mode: &deployed.mode,
            program_id: deployed.program_id,
        },
        Err(error) => Message::DeployFailed {
            serial,
            error: format!("{error:#}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fake::*;

    #[test]
    fn detach_runs_roots_loader_and_names_the_device_when_it_fails() {
        let fake = FakeDevice::new(false, |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the detach" => answered("Detached demo from wlan0\n", 0),
            other => panic!("asked {other}"),
        });
        detach(fake.as_ref(), "demo", "wlan0", &quiet()).unwrap();
        assert_eq!(fake.asked(), ["the probe", "the detach"]);

        let failing = FakeDevice::new(false, |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the detach" => answered("demo: not attached to wlan0\n", 1),
            other => panic!("asked {other}"),
        });
        let error = detach(failing.as_ref(), "demo", "wlan0", &quiet())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("the detach on FAKE01 failed (exit 1)"),
            "{error}"
        );

        let unrooted = FakeDevice::new(false, |what| match what {
            "the probe" => answered("uid=2000\nabi=arm64-v8a\nsdk=33\nsu=none\n", 0),
            other => panic!("asked {other}"),
        });
        assert!(detach(unrooted.as_ref(), "demo", "wlan0", &quiet()).is_err());
        assert_eq!(unrooted.asked(), ["the probe"], "nothing run without root");
    }
}

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

use anyhow::{bail, Result};

use crate::{
    adb,
    attach::AttachMode,
    builder::{self, BuildRequest},
    cargo_args::{CargoArgs, Profile},
    messages::Message,
    project::Project,
    remote,
    session::DeviceChoice,
    session::{self, DeployPlan, Deployed, Session},
    shell::Shell,
    toolchain::Target,
    transport::Transport,
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
    /// With --detach: leave root's copy of the project on the device.
    pub keep_files: bool,
    /// Attach again at boot, through this mechanism (`auto`: the device's).
    pub persist: Option<String>,
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
    cargo_xdp_wire::interface::check_interface(&args.interface)?;
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
        return detach(adb.as_ref(), name, &args.interface, args.keep_files, shell);
    }
    let plan = plan(args);
    let session = session::prepare(&adb, &device, &project, &plan, shell)?;
    let boot_hook = match args
        .persist
        .as_deref()
        .map(|how| persist_kind(how, &session))
    {
        Some(Err(error)) => {
            session.clean_up(name, &args.interface, shell);
            return Err(error);
        }
        Some(Ok(kind)) => Some(kind),
        None => None,
    };
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
    if let Some(how) = boot_hook {
        persist(&session, name, how, &plan, shell)?;
    }
    Ok(())
}

/// The boot mechanism `--persist=HOW` asks the device for: `auto` becomes
/// the device kind's own search; one of the other kind's is refused.
fn persist_kind<'a>(how: &'a str, session: &Session) -> Result<&'a str> {
    let android = session.probe.layout.android;
    Ok(match how {
        "auto" if android => "auto-android",
        "auto" => "auto-board",
        "service.d" if !android => bail!(
            "--persist=service.d is Magisk's and KernelSU's way, on phones; {} is a board: use \
             systemd, procd or initd (or --persist alone to find it); nothing was deployed",
            session.adb.serial()
        ),
        "systemd" | "procd" | "initd" if android => bail!(
            "--persist={how} is for Linux boards; on a phone cargo-xdp persists through Magisk's \
             or KernelSU's service.d (--persist alone); nothing was deployed"
        ),
        other => other,
    })
}

/// `--persist`: root's deployed copy writes its boot script and the hook
/// that runs it at boot (see device-scripts/boot.sh).
fn persist(
    session: &Session,
    name: &str,
    how: &str,
    plan: &DeployPlan,
    shell: &Shell,
) -> Result<()> {
    let entry = session.entry();
    let mut args = vec!["persist", entry.hasher.as_str(), how];
    args.extend([plan.interface.as_str(), plan.mode.as_str()]);
    args.extend(plan.attach_args.iter().map(String::as_str));
    let out = session::run_checked(
        session.adb.as_ref(),
        &entry.deployed(name, &args),
        "the persist",
    )
    .map_err(|e| {
        anyhow::anyhow!("{e:#}\n{name} is attached now, but will not be after a reboot")
    })?;
    let said = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("persisted: "));
    let (kind, hook) = said.and_then(|s| s.split_once(' ')).unwrap_or(("?", "?"));
    shell.status(
        "Persisted",
        format!(
            "{name} attaches to {} at every boot of {} ({kind}: {})",
            plan.interface,
            session.adb.serial(),
            crate::shell::harmless(hook)
        ),
    );
    Ok(())
}

/// `--detach`: root's deployed loader takes `name` off `interface`; then,
/// unless `keep_files` or the project still runs elsewhere on the device,
/// root's copy goes too. Not attached there, or not deployed at all: said,
/// and not an error.
fn detach(
    adb: &dyn Transport,
    name: &str,
    interface: &str,
    keep_files: bool,
    shell: &Shell,
) -> Result<()> {
    let (probe, root) = session::reach_root(adb, name, None)?;
    let entry = probe.entry(root);
    let serial = adb.serial();
    let asked = adb.shell(&entry.deployed(name, &["status", "--json"]), "the status")?;
    if asked.code != Some(0) && asked.stderr.contains("is not deployed on this device") {
        shell.status(
            "Detached",
            format!("nothing: {name} is not deployed on {serial} (no copy of it is there)"),
        );
        return Ok(());
    }
    let status = remote::Reported::from_answer(&asked.stdout);
    if status.on(interface) == remote::OnInterface::Nothing {
        shell.status(
            "Detached",
            format!("nothing: {name} is not attached to {interface} on {serial}"),
        );
    } else {
        // The loader's warnings (not its "Detached" line: ours follows).
        let out = session::run_checked(
            adb,
            &entry.deployed(name, &["detach", interface]),
            "the detach",
        )?;
        if !shell.quiet() {
            shell.device_text(&out.stderr);
        }
        shell.status("Detached", format!("{name} from {interface} on {serial}"));
        let hook = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("unpersisted: "));
        if let Some((kind, _)) = hook.and_then(|h| h.split_once(' ')) {
            let kind = crate::shell::harmless(kind);
            shell.status(
                "Unpersisted",
                format!("{name}: its boot hook ({kind}) is gone"),
            );
        }
    }
    let elsewhere: Vec<String> = match &status {
        remote::Reported::Status(status) => status
            .attached
            .iter()
            .filter(|a| a.interface != interface && a.is_running())
            .map(|a| a.interface.clone())
            .collect(),
        _ => Vec::new(),
    };
    if keep_files {
        return Ok(());
    }
    if !elsewhere.is_empty() {
        shell.status(
            "Kept",
            format!(
                "root's copy of {name} on {serial}: it still runs on {}",
                elsewhere.join(", ")
            ),
        );
        return Ok(());
    }
    session::run_checked(adb, &entry.deployed(name, &["remove"]), "the removal")?;
    shell.status(
        "Removed",
        format!(
            "{name}'s files from {serial} ({})",
            adb.layout().deployed_dir(name)
        ),
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
            "`{}` {} on {} ({}): attached to {interface} in {} mode, program id {}{}",
            session.profile.dir_name(),
            session.target.name,
            session.adb.serial(),
            session.model,
            deployed.mode,
            deployed.program_id,
            deployed
                .variant
                .as_ref()
                .map(|kernel| format!(", the variant for kernel {kernel}+"))
                .unwrap_or_default()
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
            variant: deployed.variant.as_deref(),
        },
        Err(error) => Message::DeployFailed {
            serial,
            error: format!("{error:#}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::session::fake::*;

    /// A device where `demo` runs on the interfaces `on` (and the detach
    /// answers `detach`).
    fn device_with(on: &'static [&'static str], detach: (&'static str, i32)) -> Arc<FakeDevice> {
        FakeDevice::new(false, move |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the status" => {
                let status = cargo_xdp_wire::Status {
                    name: "demo".into(),
                    attached: on
                        .iter()
                        .map(|interface| cargo_xdp_wire::Attachment {
                            interface: interface.to_string(),
                            mode: "native".into(),
                            program: "xdp_prog".into(),
                            program_id: 7,
                            running: Some(true),
                            variant: None,
                        })
                        .collect(),
                };
                answered(&format!("{status}\n"), 0)
            }
            "the detach" => answered(detach.0, detach.1),
            "the removal" => answered("", 0),
            other => panic!("asked {other}"),
        })
    }

    #[test]
    fn detach_takes_the_program_and_roots_copy_off_the_device() {
        let fake = device_with(&["wlan0"], ("Detached demo from wlan0\n", 0));
        detach(fake.as_ref(), "demo", "wlan0", false, &quiet()).unwrap();
        assert_eq!(
            fake.asked(),
            ["the probe", "the status", "the detach", "the removal"]
        );
        // --keep-files: the copy stays.
        let kept = device_with(&["wlan0"], ("Detached demo from wlan0\n", 0));
        detach(kept.as_ref(), "demo", "wlan0", true, &quiet()).unwrap();
        assert_eq!(kept.asked(), ["the probe", "the status", "the detach"]);
        // Still attached elsewhere: the copy stays too.
        let elsewhere = device_with(&["wlan0", "eth0"], ("", 0));
        detach(elsewhere.as_ref(), "demo", "wlan0", false, &quiet()).unwrap();
        assert_eq!(elsewhere.asked(), ["the probe", "the status", "the detach"]);
    }

    #[test]
    fn detaching_what_is_not_attached_is_said_and_succeeds() {
        let fake = device_with(&[], ("", 1));
        detach(fake.as_ref(), "demo", "wlan0", false, &quiet()).unwrap();
        assert_eq!(fake.asked(), ["the probe", "the status", "the removal"]);
        let never = FakeDevice::new(false, |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the status" => Ok(crate::transport::Output {
                stdout: String::new(),
                stderr: "error: demo is not deployed on this device: deploy it first\n".into(),
                code: Some(1),
            }),
            other => panic!("asked {other}"),
        });
        detach(never.as_ref(), "demo", "wlan0", false, &quiet()).unwrap();
        assert_eq!(never.asked(), ["the probe", "the status"]);
    }

    #[test]
    fn detach_names_the_device_when_it_fails() {
        let failing = device_with(&["wlan0"], ("demo: cannot detach\n", 1));
        let error = detach(failing.as_ref(), "demo", "wlan0", false, &quiet())
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
        assert!(detach(unrooted.as_ref(), "demo", "wlan0", false, &quiet()).is_err());
        assert_eq!(unrooted.asked(), ["the probe"], "nothing run without root");
    }
}

//! One Android device over adb, made ready for a deploy and used by it:
//! the probe (who am I, ABI, su, a sha256 tool, the interface), the way to
//! root, the target that builds for it, one push of a bundle's files and
//! one shell in which root copies, checks and attaches them (cleaning up on
//! any failure, and saying what the device reports then), and root's
//! deployed loader run for status, stats, test-run and bench. It reads
//! bundles; it never builds one.

mod install;
mod targets;
mod trial;

#[cfg(test)]
pub(crate) mod fake;

use install::{push_and_attach_files, unpack, RootsPartStopped, StateKnown};
pub use targets::target_for_device;
pub use trial::{prepare_trial, run_trial, Extra, Trial};

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::{bail, Result};

use crate::{
    adb::{self, Adb, Device},
    attach::AttachMode,
    cargo_args::Profile,
    host::LoaderHost,
    isa,
    project::Project,
    remote::{self, Probe, Root},
    shell::Shell,
    ssh,
    toolchain::{self, Target},
    transport::Transport,
    workdir,
};

/// What a deploy asks of one device.
#[derive(Debug, Clone)]
pub struct DeployPlan {
    /// The interface to attach to (checked already).
    pub interface: String,
    pub mode: AttachMode,
    /// The target named on the command line; else the device's ABI decides.
    pub target: Option<String>,
    /// What the loader is built with.
    pub profile: Profile,
    /// Passed to the loader's `attach`.
    pub attach_args: Vec<String>,
}

/// A device checked and ready for files: how to be root there, what to build.
pub struct Session {
    pub adb: Arc<dyn Transport>,
    pub model: String,
    pub root: Root,
    pub probe: Probe,
    pub target: Target,
    /// What the loader is built with (release unless --debug / --profile).
    pub profile: Profile,
}

impl Session {
    /// How root-entry.sh is started on this device.
    pub fn entry(&self) -> remote::Entry {
        self.probe.entry(self.root)
    }

    /// Removes the staging directory; root's side stops an install of this
    /// project that still runs, heals a half-done one and reports what is
    /// attached now. Returns that report, a clause for the caller's error
    /// ("... unknown" when even the cleanup failed; a warning says why).
    pub fn clean_up(&self, name: &str, interface: &str, shell: &Shell) -> String {
        self.clean_up_and_ask(name, interface, shell).1
    }

    /// `clean_up`, and what it found on `interface`, by the device's answer.
    fn clean_up_and_ask(
        &self,
        name: &str,
        interface: &str,
        shell: &Shell,
    ) -> (remote::OnInterface, String) {
        let command = self.entry().cleanup(name);
        let out = match self.adb.shell_cleanup(&command) {
            Ok(out) => out,
            Err(error) => {
                shell.warn(format!(
                    "could not clean up after {name} on {}: {error:#}",
                    self.adb.serial()
                ));
                let unknown = remote::OnInterface::Unknown;
                let said = unknown.describe(name, interface, self.adb.serial());
                return (unknown, said);
            }
        };
        if out.code != Some(0) {
            shell.warn(format!(
                "could not clean up after {name} on {}: {}",
                self.adb.serial(),
                out.stderr.trim()
            ));
        }
        let stopped = out
            .stderr
            .lines()
            .find(|l| l.contains("stopped an earlier install"))
            .map(|l| format!("{}; ", l.trim_start_matches("note: ")));
        let on = remote::Reported::from_line(&out.stdout, "state-json: ").on(interface);
        let now = on.describe(name, interface, self.adb.serial());
        (on, format!("{}{now}", stopped.unwrap_or_default()))
    }
}

/// What a deploy left on one device.
pub struct Deployed {
    pub mode: String,
    pub program_id: u64,
    /// The kernel variant of the object the device says it runs (`5.2`),
    /// None for the base object.
    pub variant: Option<String>,
    pub output: String,
}

pub fn requested_serial(args: &DeviceChoice) -> Option<String> {
    args.serial.clone().or_else(|| {
        std::env::var("ANDROID_SERIAL")
            .ok()
            .filter(|s| !s.is_empty())
    })
}

/// Probe, root, interface, sha256 tool, target: everything before a byte
/// is pushed. When it fails after the probe made the staging directory,
/// that directory goes again.
pub fn prepare(
    adb: &Arc<dyn Transport>,
    device: &Device,
    project: &Project,
    plan: &DeployPlan,
    shell: &Shell,
) -> Result<Session> {
    let name = &project.meta.name;
    let (probe, root) = reach_root(adb.as_ref(), name, Some(&plan.interface))?;
    let target = match target_for_probe(&probe, adb.as_ref(), plan) {
        Ok(target) => target,
        Err(error) => {
            if probe.interface.as_ref().is_some_and(|(exists, _)| *exists) && probe.hasher.is_some()
            {
                remove_staging(adb.as_ref(), name);
            }
            return Err(error);
        }
    };
    // The kern objects' instruction set against the device's kernel.
    let cpu = project.meta.bpf_cpu.unwrap_or(target.bpf_cpu);
    if let Some(warning) = probe
        .kernel
        .as_deref()
        .and_then(|kernel| isa::check_kernel(cpu, kernel))
    {
        shell.warn(format!("{}: {warning}", adb.serial()));
    }
    shell.verbose_status(
        "Device",
        format!(
            "{} ({} {}, SDK {}), {}, root via {root:?}",
            adb.serial(),
            probe.abi,
            probe.machine,
            probe
                .sdk
                .map(|s| s.to_string())
                .unwrap_or_else(|| "?".into()),
            target.name
        ),
    );
    Ok(Session {
        adb: Arc::clone(adb),
        // adb's model; a board says its machine (uname -m).
        model: (device.model.clone())
            .or_else(|| (!probe.layout.android).then(|| probe.machine.clone()))
            .unwrap_or_else(|| "-".into()),
        root,
        probe,
        target,
        profile: plan.profile.clone(),
    })
}

/// What the probe says decides: the interface is there, files can be
/// checked, and a target builds for this device.
fn target_for_probe(probe: &Probe, adb: &dyn Transport, plan: &DeployPlan) -> Result<Target> {
    if let Some((false, names)) = &probe.interface {
        bail!(
            "{} has no interface {}; it has: {names} (see `ip link` there)",
            adb.serial(),
            plan.interface
        );
    }
    if probe.hasher.is_none() {
        bail!(
            "{} has no sha256 tool (none of {}; Android has one from 8.0 on), and cargo-xdp runs \
             nothing as root that it cannot check first; nothing was pushed. Install busybox on \
             the device (for example Magisk's busybox module), or use a device with Android 8 or \
             newer",
            adb.serial(),
            remote::HASHERS.join(", ")
        );
    }
    match &plan.target {
        Some(name) => toolchain::find(name),
        None => target_for_device(probe, adb.serial()),
    }
}

/// The shell user's staging directory, as the shell user: best effort, for
/// when the deploy stops before root was involved.
fn remove_staging(adb: &dyn Transport, name: &str) {
    let _ = adb.shell_cleanup(&format!(
        "rm -rf {}; echo __rc=$?",
        remote::quote(&adb.layout().staging_dir(name))
    ));
}

/// The probe, and how to be root: the shell itself, `adb root` on
/// userdebug/eng builds, else su. None of them: stop, nothing pushed.
pub fn reach_root(
    adb: &dyn Transport,
    name: &str,
    interface: Option<&str>,
) -> Result<(Probe, Root)> {
    let probe = match run_checked(
        adb,
        &remote::probe_command(adb.layout(), name, interface),
        "the probe",
    ) {
        Ok(out) => remote::parse_probe(&out.stdout, adb.layout()),
        Err(error) => {
            // Stopped half way, it may have made the staging directory.
            if interface.is_some() {
                remove_staging(adb, name);
            }
            // The usual reason a probe waits: su asking on the phone's screen.
            if error.downcast_ref::<crate::process::TimedOut>().is_some() {
                bail!(
                    "{error:#} (if the phone shows a superuser request, allow it there and try \
                     again)"
                );
            }
            return Err(error);
        }
    };
    if probe.uid == Some(0) {
        return Ok((probe, Root::Shell));
    }
    if probe.debuggable && adb.root().is_ok() {
        return Ok((probe, Root::Shell));
    }
    if let Some(su) = probe.su {
        return Ok((probe, su));
    }
    if !probe.layout.android {
        bail!(
            "XDP needs root on {}, and its login user (uid {}) has no way to it that works \
             without a prompt: no root login, no `sudo -n`, no `doas -n`. Fix: {}; nothing was \
             pushed",
            adb.serial(),
            probe.uid_text(),
            probe.no_root_fix()
        );
    }
    bail!(
        "XDP needs root on the device, and {} offers no way to it: its shell is uid {}, `adb root` \
         works only on userdebug/eng builds ({}), and there is no working su. Fix: {}; nothing \
         was pushed",
        adb.serial(),
        probe.uid_text(),
        if probe.debuggable { "adbd refused here" } else { "this is a user build" },
        probe.no_root_fix()
    )
}

/// Runs a sentinel-terminated command (`what`: the step, for errors); its
/// output, or an error with it.
pub fn run_checked(
    adb: &dyn Transport,
    command: &str,
    what: &str,
) -> Result<crate::transport::Output> {
    let out = adb.shell(command, what)?;
    match out.code {
        Some(0) => Ok(out),
        Some(code) => bail!(
            "{what} on {} failed (exit {code}):\n{}{}",
            adb.serial(),
            out.stdout,
            out.stderr.trim_end()
        ),
        None => bail!(
            "{what} on {} gave no exit status (the connection was lost?): {}{}",
            adb.serial(),
            out.stdout,
            out.stderr.trim()
        ),
    }
}

/// One push of the bundle's files to the staging directory, one shell in
/// which root copies, checks and attaches them. A failure at either step
/// removes what was staged (on the device and here) and says what is
/// attached now.
pub fn push_and_attach(
    session: &Session,
    project: &Project,
    bundle: &Path,
    plan: &DeployPlan,
    shell: &Shell,
) -> Result<Deployed> {
    let name = &project.meta.name;
    // Unpacked where a killed deploy's leftovers are swept by the next build.
    let unpacked = workdir::scratch_dir(&project.target_dir)?;
    let result = unpack(bundle, unpacked.path(), name).and_then(|files| {
        let logs = crate::verifier_log::dir(&project.target_dir);
        push_and_attach_files(session, name, &files, plan, &logs)
    });
    let Err(error) = result else {
        return result;
    };
    let (on, now) = session.clean_up_and_ask(name, &plan.interface, shell);
    if error.downcast_ref::<StateKnown>().is_some() {
        return Err(error);
    }
    // Without the device's own answer, root's part may have run on (adbd
    // hangs up only its direct child, and root's processes outlive that):
    // say so, and what the cleanup found.
    let stopped = error.downcast_ref::<RootsPartStopped>().is_some();
    let detail = if stopped && matches!(on, remote::OnInterface::Running { .. }) {
        format!(
            "the attach's answer never came back, but asked again, {now}: the attach went \
             through and only its answer was lost. Check it is this build with `cargo xdp status \
             --adb -s {}`",
            session.adb.serial()
        )
    } else if stopped {
        format!(
            "root's part on the device may have run on after the call was stopped; the cleanup \
             stops such an install and heals a half-done one, and after it {now}"
        )
    } else {
        format!("after cleaning up, {now}")
    };
    Err(anyhow::anyhow!("{error:#}\n{detail}"))
}

/// Root's deployed copy of `project` on the device `transport` reaches,
/// as the place its loader runs.
pub struct DeployedLoader<'a> {
    pub transport: Arc<dyn Transport>,
    pub project: &'a Project,
}

impl LoaderHost for DeployedLoader<'_> {
    fn serial(&self) -> Option<&str> {
        Some(self.transport.serial())
    }

    /// Root's deployed copy runs `args`: on-device.sh runs status and stats
    /// itself (as deploys from before `loader` existed do), any other loader
    /// command through its `loader` action.
    fn run(&self, args: &[&str], line: &mut dyn FnMut(&str)) -> Result<()> {
        let adb = self.transport.as_ref();
        let name = &self.project.meta.name;
        let mut script_args = Vec::with_capacity(args.len() + 1);
        if !matches!(args.first(), Some(&"status" | &"stats")) {
            script_args.push("loader");
        }
        script_args.extend(args);
        let (probe, root) = reach_root(adb, name, None)?;
        let command = probe.entry(root).deployed(name, &script_args);
        // Only a watch and `log` run as long as they are let: they stream,
        // with no limit (the loader's writes fail once the host is gone,
        // which ends it). Everything else is one time-limited call, its
        // lines handed on when it ends.
        let code = if args.contains(&"--watch") || args.first() == Some(&"log") {
            adb.shell_streaming(&command, line)?
        } else {
            let what = format!(
                "the loader's `{}`",
                args.first().copied().unwrap_or_default()
            );
            let out = adb.shell(&command, &what)?;
            eprint!("{}", crate::shell::harmless(&out.stderr));
            out.stdout.lines().for_each(line);
            out.code
        };
        let serial = adb.serial();
        match code {
            Some(0) => Ok(()),
            Some(code) => bail!("the loader on {serial} exited with {code} (see above)"),
            None => bail!("lost the connection to {serial} (no exit status came back)"),
        }
    }
}

/// Which device, and how to reach it: the one choice every command that
/// works on a device takes (a command's `Option<DeviceChoice>`: None is
/// this machine).
#[derive(Debug, Clone)]
pub struct DeviceChoice {
    /// A Linux board over ssh (`[user@]host[:port]`); None: an Android
    /// device over adb.
    pub ssh: Option<String>,
    /// Device serial (default: $ANDROID_SERIAL, else the only device).
    pub serial: Option<String>,
    /// Longest any one adb call may take before it is stopped (a wedged
    /// adb, a device that went away, an su prompt nobody answers).
    pub adb_timeout: u64,
}

/// The device `choice` names, and the way to it: a board over ssh, else
/// adb's (`-s SERIAL`, else $ANDROID_SERIAL, else the only device), every
/// call time-limited by --adb-timeout / --ssh-timeout. The one place a
/// transport is chosen.
pub fn connect(choice: &DeviceChoice) -> Result<(Device, Arc<dyn Transport>)> {
    connect_reading(choice, adb::DEFAULT_MAX_OUTPUT)
}

/// `connect`, with answers of up to `max_output` bytes (a kernel's BTF).
pub fn connect_reading(
    choice: &DeviceChoice,
    max_output: usize,
) -> Result<(Device, Arc<dyn Transport>)> {
    let limit = Duration::from_secs(choice.adb_timeout);
    if let Some(destination) = &choice.ssh {
        let destination = ssh::Destination::parse(destination)?;
        let board = ssh::Ssh::connect(destination, limit, max_output)?;
        let device = Device {
            serial: board.serial().to_string(),
            state: adb::DeviceState::Device,
            model: None,
        };
        return Ok((device, Arc::new(board)));
    }
    let adb_path = adb::locate()?;
    let device = adb::select(
        &adb::devices(&adb_path, limit)?,
        requested_serial(choice).as_deref(),
    )?;
    let mut adb = Adb::new(adb_path, device.serial.clone(), limit);
    adb.max_output = max_output;
    Ok((device, Arc::new(adb)))
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    /// prepare on the fake device.
    fn prepared(fake: Arc<FakeDevice>) -> Result<Session> {
        let adb: Arc<dyn Transport> = fake;
        let dir = tempfile::tempdir().unwrap();
        prepare(&adb, &device(), &project(dir.path()), &plan(), &quiet())
    }

    /// A prepared session's push_and_attach of a bundle of two files.
    fn install(fake: Arc<FakeDevice>) -> Result<Deployed> {
        let session = session(fake);
        let dir = tempfile::tempdir().unwrap();
        push_and_attach(
            &session,
            &project(dir.path()),
            &bundle(dir.path()),
            &plan(),
            &quiet(),
        )
    }

    fn session(fake: Arc<FakeDevice>) -> Session {
        let adb: Arc<dyn Transport> = fake;
        let shell = quiet();
        let dir = tempfile::tempdir().unwrap();
        prepare(&adb, &device(), &project(dir.path()), &plan(), &shell).unwrap()
    }

    #[test]
    fn a_device_without_a_way_to_root_stops_before_anything_is_pushed() {
        let fake = FakeDevice::new(false, |what| match what {
            "the probe" => answered(
                "uid=2000\nabi=arm64-v8a\nsdk=33\ndebuggable=0\nsu=none\nhash=toybox sha256sum\n",
                0,
            ),
            other => panic!("asked {other}"),
        });
        let error = prepared(fake.clone()).err().unwrap().to_string();
        assert!(
            error.contains("offers no way to it") && error.contains("nothing was pushed"),
            "{error}"
        );
        assert_eq!(fake.asked(), ["the probe"]);
    }

    #[test]
    fn a_rooted_device_with_the_interface_is_ready_for_its_abi() {
        let fake = FakeDevice::new(false, |what| match what {
            "the probe" => answered(ROOTED, 0),
            other => panic!("asked {other}"),
        });
        let session = session(fake.clone());
        assert_eq!(session.target.name, "android-arm64");
        assert_eq!(session.root, Root::Shell);
        assert_eq!(fake.asked(), ["the probe"]);
    }

    #[test]
    fn a_32_bit_arm_phone_gets_the_armv7_target() {
        let fake = FakeDevice::new(false, |what| match what {
            "the probe" => answered(&ROOTED.replace("abi=arm64-v8a", "abi=armeabi-v7a"), 0),
            other => panic!("asked {other}"),
        });
        assert_eq!(session(fake).target.name, "android-armv7");
    }

    #[test]
    fn a_missing_interface_is_named_and_nothing_was_staged() {
        let fake = FakeDevice::new(false, |what| match what {
            "the probe" => answered(&ROOTED.replace("iface=yes", "iface=no"), 0),
            other => panic!("asked {other}"),
        });
        let error = prepared(fake.clone()).err().unwrap().to_string();
        assert!(
            error.contains("FAKE01 has no interface wlan0; it has: lo wlan0"),
            "{error}"
        );
        assert_eq!(fake.asked(), ["the probe"]);
    }

    #[test]
    fn an_abi_no_target_builds_for_removes_the_staging_directory() {
        let fake = FakeDevice::new(false, |what| match what {
            "the probe" => answered(&ROOTED.replace("abi=arm64-v8a", "abi=mips"), 0),
            "the cleanup" => answered("", 0),
            other => panic!("asked {other}"),
        });
        let error = prepared(fake.clone()).err().unwrap().to_string();
        assert!(error.contains("reports ABI `mips`"), "{error}");
        assert_eq!(fake.asked(), ["the probe", "the cleanup"]);
    }

    #[test]
    fn a_failed_push_cleans_up_and_says_what_the_device_reports() {
        let fake = FakeDevice::new(true, |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the cleanup" => answered("state-json: none\n", 0),
            other => panic!("asked {other}"),
        });
        let text = format!("{:#}", install(fake.clone()).err().unwrap());
        assert!(text.contains("no space left on device"), "{text}");
        assert!(
            text.contains("after cleaning up, the device has no deployed copy of demo"),
            "{text}"
        );
        assert_eq!(fake.asked(), ["the probe", "adb push", "the cleanup"]);
    }

    #[test]
    fn an_attach_that_times_out_says_roots_part_may_have_run_on() {
        let fake = FakeDevice::new(false, |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the attach" => Err(crate::process::TimedOut {
                what: "the attach on FAKE01".into(),
                limit: Duration::from_secs(60),
                via: crate::process::Via::Adb,
            }
            .into()),
            "the cleanup" => answered("", 0),
            other => panic!("asked {other}"),
        });
        let text = format!("{:#}", install(fake.clone()).err().unwrap());
        assert!(text.contains("did not finish within 60 s"), "{text}");
        assert!(
            text.contains("root's part on the device may have run on"),
            "{text}"
        );
        assert!(
            text.contains("is unknown"),
            "the cleanup gave no state: {text}"
        );
        assert_eq!(
            fake.asked(),
            ["the probe", "adb push", "the attach", "the cleanup"]
        );
    }

    #[test]
    fn a_successful_attach_reports_mode_and_program() {
        let fake = FakeDevice::new(false, |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the attach" => answered(
                &format!(
                    "Attached demo to wlan0 in skb mode\nstatus-json: {}\n",
                    attached_status("wlan0", "skb", 42)
                ),
                0,
            ),
            other => panic!("asked {other}"),
        });
        match install(fake.clone()) {
            Ok(deployed) => {
                assert_eq!((deployed.mode.as_str(), deployed.program_id), ("skb", 42));
                assert_eq!(deployed.output, "Attached demo to wlan0 in skb mode");
            }
            Err(error) => panic!("{error:#}"),
        }
        assert_eq!(fake.asked(), ["the probe", "adb push", "the attach"]);
    }

    #[test]
    fn the_deployed_loader_hands_on_its_lines_and_its_failures() {
        let fake = FakeDevice::new(false, |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the loader's `status`" => answered("demo: attached to wlan0\n", 0),
            "the loader's `stats`" => answered("", 3),
            other => panic!("asked {other}"),
        });
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path());
        let host: &dyn LoaderHost = &DeployedLoader {
            transport: fake,
            project: &project,
        };
        assert_eq!(host.serial(), Some("FAKE01"));
        let mut lines = Vec::new();
        host.run(&["status"], &mut |line| lines.push(line.to_string()))
            .unwrap();
        assert_eq!(lines, ["demo: attached to wlan0"]);
        let error = host.run(&["stats"], &mut |_| {}).unwrap_err().to_string();
        assert!(
            error.contains("the loader on FAKE01 exited with 3"),
            "{error}"
        );
    }
}

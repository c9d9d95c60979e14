//! `cargo xdp deploy --adb IFACE`, `--detach`, `status --adb`, `stats --adb`.
//!
//! After the device is chosen (`adb devices -l`), a deploy is three adb
//! calls: a probe (who am I, ABI, su, the interface; creates the staging
//! directory only when root is reachable), one push of the bundle's files,
//! and one shell running on-device.sh as root (check, move into place,
//! attach, status). `adb root` adds two calls when the shell is not root.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;

use crate::{
    adb::{self, Adb, Device},
    builder,
    cli::{BuildArgs, DeployArgs, DeviceArgs},
    project::Project,
    remote::{self, Probe, Root},
    shell::Shell,
    toolchain::{self, Target},
};

/// A device checked and ready for files: how to be root there, what to build.
pub struct Session {
    pub adb: Adb,
    pub model: String,
    pub root: Root,
    pub target: Target,
}

/// What a deploy left on one device.
pub struct Deployed {
    pub mode: String,
    pub program_id: u64,
    pub output: String,
}

pub fn deploy(args: &DeployArgs, shell: &Shell) -> Result<()> {
    remote::check_interface(&args.interface)?;
    if !["auto", "skb", "native"].contains(&args.mode.as_str()) {
        bail!(
            "--mode {} is not a mode: use auto (native, else skb), skb or native",
            args.mode
        );
    }
    let project = Project::find(args.manifest_path.as_deref())?;
    let adb_path = adb::locate()?;
    let devices = adb::devices(&adb_path)?;
    if args.all_devices {
        return crate::fleet::deploy_all(args, &project, &adb_path, &devices, shell);
    }
    let device = adb::select(&devices, requested_serial(&args.device).as_deref())?;
    let adb = Adb {
        path: adb_path,
        serial: device.serial.clone(),
    };
    if args.detach {
        let name = &project.meta.name;
        let root = reach_root(&adb, name, None)?.1;
        let detach = remote::deployed(name, root, &["detach", &args.interface]);
        // The loader's warnings (not its "Detached" line: ours follows).
        let out = run_checked(&adb, &detach)?;
        if !shell.quiet() {
            shell.passthrough(&out.stderr);
        }
        shell.status(
            "Detached",
            format!(
                "{} from {} on {}",
                project.meta.name, args.interface, adb.serial
            ),
        );
        return Ok(());
    }
    let session = prepare(&adb, &device, &project, args, shell)?;
    let bundle = build(&project, args, std::slice::from_ref(&session.target), shell)?
        .pop()
        .expect("one target built")
        .1;
    let deployed = push_and_attach(&session, &project.meta.name, &bundle, args)?;
    if !shell.quiet() {
        shell.passthrough(&deployed.output);
    }
    report(shell, &session, &args.interface, &deployed);
    Ok(())
}

fn requested_serial(args: &DeviceArgs) -> Option<String> {
    args.serial.clone().or_else(|| {
        std::env::var("ANDROID_SERIAL")
            .ok()
            .filter(|s| !s.is_empty())
    })
}

/// Probe, root, interface, target: everything before a byte is pushed.
pub fn prepare(
    adb: &Adb,
    device: &Device,
    project: &Project,
    args: &DeployArgs,
    shell: &Shell,
) -> Result<Session> {
    let (probe, root) = reach_root(adb, &project.meta.name, Some(&args.interface))?;
    if let Some((false, names)) = &probe.interface {
        bail!(
            "{} has no interface {}; it has: {names} (see `adb shell ip link`)",
            adb.serial,
            args.interface
        );
    }
    let target = match &args.target {
        Some(name) => toolchain::find(name)?,
        None => target_for_abi(&probe.abi, &adb.serial)?,
    };
    shell.verbose_status(
        "Device",
        format!(
            "{} ({}), {}, root via {root:?}",
            adb.serial, probe.abi, target.name
        ),
    );
    Ok(Session {
        adb: adb.clone(),
        model: device.model.clone().unwrap_or_else(|| "-".into()),
        root,
        target,
    })
}

/// The probe, and how to be root: the shell itself, `adb root` on
/// userdebug/eng builds, else su. None of them: stop, nothing pushed.
fn reach_root(adb: &Adb, name: &str, interface: Option<&str>) -> Result<(Probe, Root)> {
    let probe =
        remote::parse_probe(&run_checked(adb, &remote::probe_command(name, interface))?.stdout);
    if probe.uid == Some(0) {
        return Ok((probe, Root::Shell));
    }
    if probe.debuggable && adb.root().is_ok() {
        return Ok((probe, Root::Shell));
    }
    if let Some(su) = probe.su {
        return Ok((probe, su));
    }
    bail!(
        "XDP needs root on the device, and {} offers no way to it: its shell is uid {}, `adb root` \
         works only on userdebug/eng builds ({}), and there is no working su. Use a \
         userdebug/eng build (then cargo xdp runs `adb root` itself) or a rooted phone with su \
         (Magisk); nothing was pushed",
        adb.serial,
        probe.uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into()),
        if probe.debuggable { "adbd refused here" } else { "this is a user build" },
    )
}

/// Runs a sentinel-terminated command; its output, or an error with it.
fn run_checked(adb: &Adb, command: &str) -> Result<adb::Output> {
    let out = adb.shell(command)?;
    match out.code {
        Some(0) => Ok(out),
        Some(code) => bail!(
            "on {} the command failed (exit {code}):\n{}{}",
            adb.serial,
            out.stdout,
            out.stderr.trim_end()
        ),
        None => bail!(
            "lost the connection to {} (no exit status came back): {}",
            adb.serial,
            out.stderr.trim()
        ),
    }
}

/// The target whose toolchain file names this `ro.product.cpu.abi`.
fn target_for_abi(abi: &str, serial: &str) -> Result<Target> {
    let targets = toolchain::all()?;
    if let Some(target) = targets
        .iter()
        .find(|t| t.android_abi.as_deref() == Some(abi))
    {
        return Ok(target.clone());
    }
    let known: Vec<String> = targets
        .iter()
        .filter_map(|t| Some(format!("{} ({})", t.android_abi.as_deref()?, t.name)))
        .collect();
    bail!(
        "{serial} reports ABI `{abi}`, which no target builds for (known: {}); for a Linux board \
         reachable over adb, pass --target (e.g. --target linux-arm64)",
        known.join(", ")
    )
}

/// Builds `targets` (a no-op when fresh); the bundle of each.
pub fn build(
    project: &Project,
    args: &DeployArgs,
    targets: &[Target],
    shell: &Shell,
) -> Result<Vec<(String, PathBuf)>> {
    let build = BuildArgs {
        release: args.release,
        target: targets.iter().map(|t| t.name.clone()).collect(),
        all_targets: false,
        manifest_path: Some(project.root.join("Cargo.toml")),
        ndk: args.ndk.clone(),
        api: args.api,
        install_targets: false,
    };
    Ok(builder::build(&build, shell)?
        .into_iter()
        .map(|b| (b.target, b.bundle))
        .collect())
}

/// One push of the bundle's files to the staging directory, one shell that
/// checks them, moves them into place, attaches and reports the status.
pub fn push_and_attach(
    session: &Session,
    name: &str,
    bundle: &Path,
    args: &DeployArgs,
) -> Result<Deployed> {
    let unpacked = tempfile::tempdir()?;
    let files = unpack(bundle, unpacked.path(), name)?;
    let stage = remote::staging_dir(name);
    if let Err(error) = session.adb.push(&files, &stage) {
        // Nothing half-pushed stays behind.
        let _ = session
            .adb
            .shell(&format!("rm -rf {}; echo __rc=$?", remote::quote(&stage)));
        return Err(error);
    }
    let script = format!("{stage}/{}", crate::bundle::DEVICE_SCRIPT);
    let mut attach_args = vec!["attach", args.interface.as_str(), args.mode.as_str()];
    attach_args.extend(args.attach_args.iter().map(String::as_str));
    let out = session
        .adb
        .shell(&remote::as_root(session.root, &script, &attach_args))?;
    if out.code != Some(0) {
        bail!(
            "attaching {name} to {} on {} failed; nothing is attached:\n{}{}",
            args.interface,
            session.adb.serial,
            out.stdout,
            out.stderr.trim_end()
        );
    }
    let (status, output): (Vec<&str>, Vec<&str>) = out
        .stdout
        .lines()
        .partition(|l| l.starts_with("status-json: "));
    let status: serde_json::Value = status
        .first()
        .and_then(|l| serde_json::from_str(l.trim_start_matches("status-json: ")).ok())
        .context("the device reported no status after attaching")?;
    let attached = status["attached"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|a| a["interface"] == args.interface.as_str())
        })
        .with_context(|| {
            format!(
                "the loader said it attached, but its status on {} lists nothing on {}",
                session.adb.serial, args.interface
            )
        })?;
    Ok(Deployed {
        mode: attached["mode"].as_str().unwrap_or("?").to_string(),
        program_id: attached["program_id"].as_u64().unwrap_or(0),
        output: output.join("\n"),
    })
}

/// The bundle's files, unpacked into `dir`, sorted.
fn unpack(bundle: &Path, dir: &Path, name: &str) -> Result<Vec<PathBuf>> {
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

fn report(shell: &Shell, session: &Session, interface: &str, deployed: &Deployed) {
    shell.status(
        "Deployed",
        format!(
            "{} on {} ({}): attached to {interface} in {} mode, program id {}",
            session.target.name,
            session.adb.serial,
            session.model,
            deployed.mode,
            deployed.program_id
        ),
    );
    shell.message(message(
        &session.adb.serial,
        interface,
        Ok((session, deployed)),
    ));
}

/// The JSON message for one device's deploy, as it went.
pub fn message(
    serial: &str,
    interface: &str,
    result: Result<(&Session, &Deployed), &anyhow::Error>,
) -> serde_json::Value {
    match result {
        Ok((session, deployed)) => serde_json::json!({
            "reason": "deployed", "serial": serial, "target": session.target.name,
            "interface": interface, "mode": deployed.mode, "program_id": deployed.program_id,
        }),
        Err(error) => serde_json::json!({
            "reason": "deploy-failed", "serial": serial, "error": format!("{error:#}"),
        }),
    }
}

/// `cargo xdp status --adb` / `stats --adb`: the loader on the device.
pub fn on_device(
    device_args: &DeviceArgs,
    manifest_path: Option<&Path>,
    loader_args: &[&str],
) -> Result<()> {
    let project = Project::find(manifest_path)?;
    let adb_path = adb::locate()?;
    let device = adb::select(
        &adb::devices(&adb_path)?,
        requested_serial(device_args).as_deref(),
    )?;
    let adb = Adb {
        path: adb_path,
        serial: device.serial,
    };
    let root = reach_root(&adb, &project.meta.name, None)?.1;
    let command = remote::deployed(&project.meta.name, root, loader_args);
    let code = adb.shell_streaming(&command, |line| println!("{line}"))?;
    match code {
        Some(0) => Ok(()),
        Some(code) => bail!(
            "the loader on {} exited with {code} (see above)",
            adb.serial
        ),
        None => bail!(
            "lost the connection to {} (no exit status came back)",
            adb.serial
        ),
    }
}

//! This machine: `cargo xdp run IFACE` (build, attach, live counters until
//! Ctrl-C or SIGTERM, then detach, whatever ended the run) and `cargo xdp
//! status` / `stats` without --adb. The build runs as the user; only the
//! loader runs with privilege, through sudo when the user is not root (as
//! aya-template's `runner = "sudo -E"` does).

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::builder::BuildRequest;
use crate::{
    builder::{self, Built},
    cargo_args::CargoArgs,
    messages,
    project::Project,
    shell::Shell,
    toolchain,
};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Interface to attach to.
    pub interface: String,
    /// auto (native, else skb), skb or native.
    pub mode: String,
    pub cargo: CargoArgs,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
    /// Seconds between counter updates.
    pub interval: f64,
    /// Passed to the loader's `attach` (e.g. `-- --prog xdp_drop` or filter rules).
    pub attach_args: Vec<String>,
}

/// How the loader gets root: it already has it, or through sudo (or what
/// $CARGO_XDP_SUDO names, e.g. doas).
pub(crate) enum Privilege {
    Root,
    Sudo(PathBuf),
}

impl Privilege {
    /// Root, or a sudo that agreed (its password asked now, before the
    /// build, not half way through a run).
    pub(crate) fn acquire(what: &str, shell: &Shell) -> Result<Privilege> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return Ok(Privilege::Root);
        }
        let (sudo, origin) = match std::env::var_os("CARGO_XDP_SUDO") {
            Some(sudo) => (PathBuf::from(sudo), "$CARGO_XDP_SUDO"),
            None => (PathBuf::from("sudo"), "PATH"),
        };
        let Ok(sudo) = which::which(&sudo) else {
            bail!(
                "{what} needs root to attach on this machine, and there is no `{}` (looked up \
                 in {origin}): install sudo, name another tool with CARGO_XDP_SUDO (e.g. doas), \
                 or run as root; the build itself needs no root",
                sudo.display()
            );
        };
        // `true` rather than sudo's own -v: doas has no -v. It asks for
        // the password once, and sudo (or doas `persist`) remembers it.
        shell.verbose_status("Running", format!("{} true", sudo.display()));
        let validated = Command::new(&sudo)
            .arg("true")
            .status()
            .with_context(|| format!("cannot run {}", sudo.display()))?;
        if !validated.success() {
            bail!(
                "{what} needs root to attach on this machine, and `{} true` refused ({validated}; \
                 its reason is above): ask for sudo rights, or run as root",
                sudo.display()
            );
        }
        Ok(Privilege::Sudo(sudo))
    }

    /// `loader args...`, as root.
    pub(crate) fn command(&self, loader: &Path, args: &[&OsStr]) -> Command {
        let mut command = match self {
            Privilege::Root => Command::new(loader),
            Privilege::Sudo(sudo) => {
                let mut command = Command::new(sudo);
                command.arg("--").arg(loader);
                command
            }
        };
        command.args(args);
        command
    }
}

/// Builds `project` for this machine (a no-op when fresh).
pub(crate) fn build_here(project: &Project, cargo: &CargoArgs, shell: &Shell) -> Result<Built> {
    let build = BuildRequest {
        cargo: cargo.clone(),
        target: vec![toolchain::default_target()?.to_string()],
        manifest_path: Some(project.root.join("Cargo.toml")),
        all_targets: false,
        ndk: None,
        api: None,
        install_targets: false,
    };
    Ok(builder::build_found(project, &build, shell)?
        .pop()
        .expect("one target built"))
}

pub fn run(args: &RunOptions, shell: &Shell) -> Result<()> {
    let privilege = Privilege::acquire("`cargo xdp run`", shell)?;
    let project = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
    let built = build_here(&project, &args.cargo, shell)?;
    let loader = built.loader.as_path();
    let object = built
        .kern_objects
        .first()
        .context("the project has no kern object")?;

    let mut attach_args: Vec<&OsStr> = ["attach", &args.interface, "--mode", &args.mode]
        .map(OsStr::new)
        .to_vec();
    attach_args.extend([OsStr::new("--object"), object.as_os_str()]);
    attach_args.extend(args.attach_args.iter().map(OsStr::new));
    let mut attach = privilege.command(loader, &attach_args);
    shell.verbose_status("Running", format!("{attach:?}"));
    if !attach.status().context("cannot run the loader")?.success() {
        bail!(
            "attaching to {} failed (the loader said why above)",
            args.interface
        );
    }

    // From here on, always detach: Ctrl-C and SIGTERM only set this flag.
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot handle Ctrl-C")?;
    shell.status(
        "Watching",
        format!("{} (Ctrl-C detaches and exits)", args.interface),
    );
    let watched = watch(&privilege, loader, args.interval, &stop, shell);
    let detached = detach(&privilege, loader, &args.interface);
    watched.and(detached)
}

/// `cargo xdp status` / `stats` here: the loader of this machine's build,
/// with `loader_args`, as root.
pub fn on_this_machine(
    cargo: &CargoArgs,
    manifest_path: Option<&Path>,
    loader_args: &[&str],
    shell: &Shell,
) -> Result<()> {
    let what = format!("`cargo xdp {}`", loader_args.first().unwrap_or(&"status"));
    let privilege = Privilege::acquire(&what, shell)?;
    let project = Project::find_with(manifest_path, cargo)?;
    let built = build_here(&project, cargo, shell)?;
    let args: Vec<&OsStr> = loader_args.iter().map(OsStr::new).collect();
    let mut command = privilege.command(&built.loader, &args);
    let status = if shell.human() {
        command.status().context("cannot run the loader")?
    } else {
        // Its JSON objects (one per line, as they come), wrapped as ours.
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("cannot run the loader")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        wrap_answers(stdout, loader_args[0], shell);
        child.wait()?
    };
    if !status.success() {
        bail!(
            "the loader's `{}` exited with {status} (it said why above)",
            loader_args[0]
        );
    }
    Ok(())
}

/// Runs `stats --watch` until it ends or we are told to stop.
fn watch(
    privilege: &Privilege,
    loader: &Path,
    interval: f64,
    stop: &AtomicBool,
    shell: &Shell,
) -> Result<()> {
    let interval = format!("{interval:.3}");
    let mut args = ["stats", "--watch", "--interval", &interval]
        .map(OsStr::new)
        .to_vec();
    let mut command = if shell.human() {
        privilege.command(loader, &args)
    } else {
        args.push(OsStr::new("--json"));
        let mut command = privilege.command(loader, &args);
        command.stdout(std::process::Stdio::piped());
        command
    };
    let mut stats = command.spawn().context("cannot run the loader's stats")?;
    let stdout = stats.stdout.take();
    thread::scope(|scope| {
        // JSON: each sample wrapped as ours, as it comes.
        if let Some(stdout) = stdout {
            scope.spawn(|| wrap_answers(stdout, "stats", shell));
        }
        loop {
            if let Some(status) = stats.try_wait()? {
                // Ctrl-C reaches the whole process group, so the loader may end first.
                if !status.success() && !stop.load(Ordering::SeqCst) {
                    bail!("the loader's `stats` exited with {status}");
                }
                return Ok(());
            }
            if stop.load(Ordering::SeqCst) {
                // SIGTERM, not SIGKILL: sudo passes it on to the root loader,
                // which a user cannot signal itself.
                // SAFETY: kill with a pid of our own child.
                unsafe { libc::kill(stats.id() as libc::pid_t, libc::SIGTERM) };
                let _ = wait_a_little(&mut stats);
                return Ok(());
            }
            thread::sleep(Duration::from_millis(100));
        }
    })
}

/// The loader's JSON lines on stdout, each as a `loader-answer` message.
fn wrap_answers(stdout: impl std::io::Read, command: &str, shell: &Shell) {
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(|l| l.ok()) {
        if let Some(message) = messages::loader_answer(None, command, &line) {
            shell.message(&message);
        }
    }
}

/// Waits up to two seconds for a child told to stop, then kills it.
fn wait_a_little(child: &mut std::process::Child) -> Result<ExitStatus> {
    for _ in 0..20 {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    Ok(child.wait()?)
}

fn detach(privilege: &Privilege, loader: &Path, interface: &str) -> Result<()> {
    let status = privilege
        .command(loader, &["detach", interface].map(OsStr::new))
        .status()
        .context("cannot run the loader")?;
    if !status.success() {
        bail!("detaching from {interface} failed; detach by hand with `ip link set dev {interface} xdp off`");
    }
    Ok(())
}

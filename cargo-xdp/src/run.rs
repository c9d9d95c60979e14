//! `cargo xdp run IFACE` on this machine: build, attach, live counters
//! until Ctrl-C or SIGTERM, then detach, whatever ended the run. The build
//! runs as the user; only the loader runs with privilege (local.rs), through
//! sudo when the user is not root (as aya-template's `runner = "sudo -E"`
//! does).

use std::{
    ffi::OsStr,
    io::IsTerminal,
    path::{Path, PathBuf},
    process::ExitStatus,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::{
    attach::AttachMode,
    builder,
    cargo_args::CargoArgs,
    local::{wrap_answers, Privilege},
    project::Project,
    shell::Shell,
    trace_view::{Lines, TraceView},
};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Interface to attach to.
    pub interface: String,
    /// auto (native, else skb), skb or native.
    pub mode: AttachMode,
    pub cargo: CargoArgs,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
    /// Seconds between counter updates.
    pub interval: f64,
    /// This project's `xdp_log` lines among the counters.
    pub log: bool,
    /// Passed to the loader's `attach` (e.g. `-- --prog xdp_drop` or filter rules).
    pub attach_args: Vec<String>,
}

pub fn run(args: &RunOptions, shell: &Shell) -> Result<()> {
    let privilege = Privilege::acquire("`cargo xdp run`", shell)?;
    let project = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
    let built = builder::build_for_host(&project, &args.cargo, shell)?;
    let loader = built.loader.as_path();
    let object = built
        .kern_objects
        .first()
        .context("the project has no kern object")?;

    let mut attach_args: Vec<&OsStr> = ["attach", &args.interface, "--mode", args.mode.as_str()]
        .map(OsStr::new)
        .to_vec();
    attach_args.extend([OsStr::new("--object"), object.as_os_str()]);
    attach_args.extend(args.attach_args.iter().map(OsStr::new));
    // Its words shown as they are, but a verifier log goes to a file.
    let attached = privilege
        .command(loader, &attach_args)
        .echo(shell)
        .output()
        .context("cannot run the loader")?;
    print!("{}", String::from_utf8_lossy(&attached.stdout));
    let logs = crate::verifier_log::dir(&project.target_dir);
    eprint!(
        "{}",
        crate::verifier_log::condense(&String::from_utf8_lossy(&attached.stderr), &logs)
    );
    if !attached.status.success() {
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
    let name = project.meta.name.as_str();
    let watched = thread::scope(|scope| {
        let log = args
            .log
            .then(|| follow_log(scope, &privilege, loader, name, shell))
            .transpose()?;
        let watched = watch(&privilege, loader, args.interval, &stop, shell);
        if let Some(mut log) = log {
            stop_child(&mut log);
        }
        watched
    });
    let detached = detach(&privilege, loader, &args.interface);
    watched.and(detached)
}

/// The loader's `log --ours`, its lines shown as `cargo xdp log` shows
/// them by a thread of `scope`, until the child is stopped.
fn follow_log<'s>(
    scope: &'s thread::Scope<'s, '_>,
    privilege: &Privilege,
    loader: &Path,
    name: &'s str,
    shell: &'s Shell,
) -> Result<std::process::Child> {
    let args: Vec<&OsStr> = Lines::Ours.loader_args().iter().map(OsStr::new).collect();
    let mut child = privilege
        .command(loader, &args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run the loader's log")?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let view = TraceView {
        name,
        serial: None,
        color: shell.color() && std::io::stdout().is_terminal(),
    };
    scope.spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if shell.human() {
                if let Some(text) = view.human(&line) {
                    println!("{text}");
                }
            } else if let Some(message) = view.message(&line) {
                shell.message(&message);
            }
        }
    });
    Ok(child)
}

/// SIGTERM to a child loader (sudo passes it on), then its end.
fn stop_child(child: &mut std::process::Child) {
    // SAFETY: kill with a pid of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = wait_a_little(child);
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
                stop_child(&mut stats);
                return Ok(());
            }
            thread::sleep(Duration::from_millis(100));
        }
    })
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

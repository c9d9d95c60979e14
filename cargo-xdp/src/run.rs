//! `cargo xdp run IFACE`: build for this machine, attach, print live
//! counters until Ctrl-C (or SIGTERM), then detach, whatever ended the run.

use std::{
    os::unix::fs::MetadataExt,
    path::Path,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::{builder, cli::BuildArgs, cli::RunArgs, shell::Shell, toolchain};

pub fn run(args: &RunArgs, shell: &Shell) -> Result<()> {
    // /proc/self belongs to our effective uid.
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
        != 0
    {
        bail!(
            "`cargo xdp run` attaches on this machine and needs root: run `sudo -E cargo xdp run {}` \
             (or build with `cargo xdp build` and attach the bundle's loader as root)",
            args.interface
        );
    }
    let build = BuildArgs {
        cargo: args.cargo.clone(),
        target: vec![toolchain::default_target()?.to_string()],
        manifest_path: args.manifest_path.clone(),
        all_targets: false,
        ndk: None,
        api: None,
        install_targets: false,
    };
    let built = builder::build(&build, shell)?
        .pop()
        .expect("one target built");
    let loader = built.loader.as_path();
    let object = built
        .kern_objects
        .first()
        .context("the project has no kern object")?;

    let mut attach = Command::new(loader);
    attach
        .args(["attach", &args.interface, "--mode", &args.mode])
        .arg("--object")
        .arg(object)
        .args(&args.attach_args);
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
    let watched = watch(loader, args.interval, &stop);
    let detached = detach(loader, &args.interface);
    watched.and(detached)
}

/// Runs `stats --watch` until it ends or we are told to stop.
fn watch(loader: &Path, interval: f64, stop: &AtomicBool) -> Result<()> {
    let mut stats = Command::new(loader)
        .args(["stats", "--watch", "--interval", &format!("{interval:.3}")])
        .spawn()
        .context("cannot run the loader's stats")?;
    loop {
        if let Some(status) = stats.try_wait()? {
            // Ctrl-C reaches the whole process group, so the loader may end first.
            if !status.success() && !stop.load(Ordering::SeqCst) {
                bail!("the loader's `stats` exited with {status}");
            }
            return Ok(());
        }
        if stop.load(Ordering::SeqCst) {
            let _ = stats.kill();
            let _ = stats.wait();
            return Ok(());
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn detach(loader: &Path, interface: &str) -> Result<()> {
    let status = Command::new(loader)
        .args(["detach", interface])
        .status()
        .context("cannot run the loader")?;
    if !status.success() {
        bail!("detaching from {interface} failed; detach by hand with `ip link set dev {interface} xdp off`");
    }
    Ok(())
}

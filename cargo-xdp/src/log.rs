//! `cargo xdp log`: the lines programs wrote with `bpf_printk` (the
//! templates' `xdp_log`), followed from the kernel's trace pipe where the
//! program runs: here (the loader's `log`, as root) or on a device (root's
//! deployed copy's `log`, streamed over adb or ssh) until Ctrl-C.
//!
//! The loader does the reading and the filtering (`--ours`: only lines
//! that start with this project's name, which `xdp_log` writes; the trace
//! does not say which program printed); here each line is shown as
//! `TIME TASK MESSAGE`, a device's text made harmless first, or as a `log`
//! JSON message.

use std::{io::IsTerminal, path::PathBuf};

use anyhow::Result;

use crate::{
    builder,
    cargo_args::CargoArgs,
    loader_place::LoaderPlace,
    session::DeviceChoice,
    shell::Shell,
    trace_view::{Lines, TraceView},
};

#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Follow this device's trace pipe (None: this machine's).
    pub device: Option<DeviceChoice>,
    pub cargo: CargoArgs,
    pub lines: Lines,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

pub fn log(args: &LogOptions, shell: &Shell) -> Result<()> {
    let place = LoaderPlace {
        device: args.device.as_ref(),
        cargo: &args.cargo,
        manifest_path: args.manifest_path.as_deref(),
        what: "`cargo xdp log`",
        needs_root: true,
    };
    let build_here = |project: &_| Ok(builder::build_for_host(project, &args.cargo, shell)?.loader);
    place.with_host(shell, build_here, |host, project| {
        let shown = TraceView {
            name: &project.meta.name,
            serial: host.serial(),
            color: shell.color() && std::io::stdout().is_terminal(),
        };
        // A closed pipe (`cargo xdp log | head`) ends us at the next line,
        // quietly (SIGPIPE, as cargo); the loader's next write, at most a
        // keepalive later, ends it the same way.
        host.run(args.lines.loader_args(), &mut |line| {
            if shell.human() {
                if let Some(text) = shown.human(line) {
                    println!("{text}");
                }
            } else if let Some(message) = shown.message(line) {
                shell.message(&message);
            }
        })
    })
}

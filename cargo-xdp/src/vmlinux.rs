//! `cargo xdp vmlinux`: `vmlinux.h` for CO-RE programs, from a kernel's BTF
//! (`/sys/kernel/btf/vmlinux`): this machine's, a device's over adb, or a
//! file. bpftool writes the C (`bpftool btf dump file F format c`), as every
//! CO-RE project does it; the BTF is read, checked and then handed to it.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use base64::Engine;

use crate::process::Process;
use crate::session::DeviceChoice;
use crate::{project::Project, session, shell::Shell};

#[derive(Debug, Clone)]
pub struct VmlinuxOptions {
    /// From this device's kernel (None: this machine's).
    pub device: Option<DeviceChoice>,
    /// From a BTF file (a copy of some kernel's /sys/kernel/btf/vmlinux).
    pub btf: Option<PathBuf>,
    /// Where to write it (default: the project's kern include/vmlinux.h, else ./vmlinux.h).
    pub output: Option<PathBuf>,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";
/// BTF files start with magic 0xeB9F (little-endian on every target here).
const BTF_MAGIC: [u8; 2] = [0x9f, 0xeb];

pub fn vmlinux(args: &VmlinuxOptions, shell: &Shell) -> Result<()> {
    let bpftool = which::which("bpftool")
        .or_else(|_| which::which("/usr/sbin/bpftool"))
        .context(
            "bpftool not found: it writes vmlinux.h from the BTF; install it (Debian/Ubuntu: \
             `apt-get install bpftool`) and run this again",
        )?;
    let (btf, origin) = if let Some(file) = &args.btf {
        let bytes = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        (bytes, file.display().to_string())
    } else if let Some(device) = &args.device {
        from_device(device)?
    } else {
        let bytes = fs::read(KERNEL_BTF).with_context(|| {
            format!(
                "cannot read {KERNEL_BTF}: this machine's kernel has no BTF (built without \
                 CONFIG_DEBUG_INFO_BTF); pass a device's with --adb, or a file with --btf"
            )
        })?;
        (bytes, format!("this machine's {KERNEL_BTF}"))
    };
    if !btf.starts_with(&BTF_MAGIC) {
        bail!("{origin} is not BTF (it does not start with BTF's magic 0xeB9F)");
    }
    let output = match &args.output {
        Some(path) => path.clone(),
        None => default_output(args.manifest_path.as_deref()),
    };
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The BTF and the header go through temp files beside the output: a
    // failure leaves neither behind, and the header appears whole.
    let input = tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?;
    fs::write(input.path(), &btf)?;
    let header = tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?;
    let out = Process::new(&bpftool)
        .args(["btf", "dump", "file"])
        .arg(input.path())
        .args(["format", "c"])
        .stdout(header.reopen()?)
        .echo(shell)
        .output()
        .with_context(|| format!("cannot run {}", bpftool.display()))?;
    if !out.status.success() {
        bail!(
            "bpftool could not turn the BTF of {origin} into C: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    crate::workdir::persist(header, &output, 0o644)?;
    shell.status(
        "Wrote",
        format!(
            "{} from {origin} ({} KiB of BTF)",
            output.display(),
            btf.len() / 1024
        ),
    );
    Ok(())
}

/// In a project: `include/vmlinux.h` beside its first kern source, where
/// `#include "vmlinux.h"` finds it; elsewhere `./vmlinux.h`.
fn default_output(manifest_path: Option<&Path>) -> PathBuf {
    match Project::find(manifest_path) {
        Ok(project) => {
            let kern_dir = project
                .meta
                .kern
                .first()
                .and_then(|k| k.parent())
                .map(|d| project.root.join(d))
                .unwrap_or_else(|| project.root.clone());
            kern_dir.join("include/vmlinux.h")
        }
        Err(_) => PathBuf::from("vmlinux.h"),
    }
}

/// The device's BTF, base64 over `adb shell` (a pty on old adbd is not
/// 8-bit clean); as the shell user if it may read it, else as root.
/// The largest kernel BTF `vmlinux --adb` reads (real ones: 5-10 MiB).
const MAX_BTF: usize = 64 << 20;

fn from_device(choice: &DeviceChoice) -> Result<(Vec<u8>, String)> {
    // base64 of MAX_BTF bytes (4/3 of it, plus a newline per 76 characters).
    let (_, adb) = session::connect_reading(choice, MAX_BTF / 3 * 4 + MAX_BTF / 57 + 4096)?;
    let adb = adb.as_ref();
    let read = format!(
        "f={KERNEL_BTF}; if [ ! -e $f ]; then echo \"no-btf $(uname -r)\"; echo __rc=3; \
         elif [ -r $f ]; then base64 $f; echo __rc=$?; else echo __rc=13; fi"
    );
    let too_big = |error: anyhow::Error| match error.downcast_ref::<crate::process::TooMuch>() {
        Some(_) => anyhow::anyhow!(
            "{}'s {KERNEL_BTF} is larger than {} MiB (real kernels' BTF is 5-10 MiB), so reading \
             it was stopped; pass a BTF file you trust with --btf FILE instead",
            adb.serial(),
            MAX_BTF >> 20
        ),
        None => error,
    };
    let mut out = adb
        .shell(&read, "reading the kernel's BTF")
        .map_err(too_big)?;
    if out.code == Some(13) {
        let (_, root) = session::reach_root(adb, "vmlinux", None)?;
        let as_root = format!(
            "{}; echo __rc=$?",
            root.wrap(&format!("base64 {KERNEL_BTF}"))
        );
        out = adb
            .shell(&as_root, "reading the kernel's BTF as root")
            .map_err(too_big)?;
    }
    match out.code {
        Some(0) => {}
        Some(3) => {
            let kernel = out
                .stdout
                .trim()
                .trim_start_matches("no-btf")
                .trim()
                .to_string();
            bail!(
                "{} has no {KERNEL_BTF}: its kernel ({kernel}) was built without BTF \
                 (CONFIG_DEBUG_INFO_BTF), so CO-RE programs (vmlinux.h, BPF_CORE_READ) cannot be \
                 relocated when they load there. Write the program against the uapi headers \
                 (<linux/if_ether.h>, <linux/ip.h> ...) instead, or use a kernel with BTF \
                 (Android's GKI kernels, 5.10 and later, have it)",
                adb.serial()
            )
        }
        _ => bail!(
            "cannot read {KERNEL_BTF} on {}: {}{}",
            adb.serial(),
            out.stdout.trim(),
            out.stderr.trim()
        ),
    }
    let text: String = out.stdout.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .with_context(|| format!("the BTF read from {} came back garbled", adb.serial()))?;
    Ok((bytes, format!("{}'s {KERNEL_BTF}", adb.serial())))
}

//! `cargo xdp doctor`: what each target needs, what is there, and the fix
//! for what is not. Exits non-zero when a chosen target cannot be built
//! (or, with --deploy, deployed).

mod device;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};

use crate::{
    adb, clang, headers, isa,
    messages::{Message, Missing},
    ndk::{self, Ndk},
    project::Project,
    shell::Shell,
    toolchain::{self, Target},
    tools, uapi,
};

#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Target(s) to check, comma-separated (default: all; the project's decide the exit code).
    pub target: Vec<String>,
    /// Also require what `deploy` needs (adb, a connected device, a way to
    /// root on it ...).
    pub deploy: bool,
    /// With --deploy: the device to ask.
    pub device: crate::session::DeviceChoice,
    /// With --deploy: the interface the deploy would attach to.
    pub interface: Option<String>,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Check {
    pub target: String,
    pub need: String,
    pub ok: bool,
    /// Needed by a chosen target (a failure makes the exit code non-zero).
    pub required: bool,
    pub detail: String,
    pub fix: Option<String>,
}

pub fn doctor(args: &DoctorOptions, shell: &Shell) -> Result<()> {
    let project = Project::find(args.manifest_path.as_deref()).ok();
    let chosen: Vec<String> = if !args.target.is_empty() {
        let names: Result<Vec<_>> = args
            .target
            .iter()
            .map(|t| toolchain::find(t).map(|t| t.name))
            .collect();
        names?
    } else if let Some(p) = project.as_ref().filter(|p| !p.meta.targets.is_empty()) {
        p.meta.targets.clone()
    } else {
        vec![toolchain::default_target()?.to_string()]
    };
    let shown: Vec<Target> = if args.target.is_empty() {
        toolchain::all()?
    } else {
        toolchain::all()?
            .into_iter()
            .filter(|t| chosen.contains(&t.name))
            .collect()
    };
    let mut probe = Probe::new(project.as_ref());
    let mut checks = Vec::new();
    for target in &shown {
        let required = chosen.contains(&target.name);
        for mut check in probe.target_checks(target, args.deploy) {
            check.required &= required;
            checks.push(check);
        }
    }
    checks.extend(shared_checks(project.as_ref()));
    if args.deploy {
        checks.extend(device::device_rows(&args.device, args.interface.as_deref()));
    }
    for check in &checks {
        shell.message(&Message::DoctorCheck {
            target: &check.target,
            need: &check.need,
            ok: check.ok,
            required: check.required,
            detail: &check.detail,
            fix: check.fix.as_deref(),
        });
    }
    let failed: Vec<&Check> = checks.iter().filter(|c| c.required && !c.ok).collect();
    shell.message(&Message::DoctorFinished {
        ok: failed.is_empty(),
        targets: &chosen,
        missing: failed
            .iter()
            .map(|c| Missing {
                target: &c.target,
                need: &c.need,
                fix: c.fix.as_deref(),
            })
            .collect(),
    });
    if shell.human() && !shell.quiet() {
        // Device rows carry the device's own words (model, SELinux, interfaces).
        print!("{}", crate::shell::harmless(&table(&checks)));
    }
    if !failed.is_empty() {
        // Self-contained: with --json there is no table to point at.
        let needs: Vec<String> = failed
            .iter()
            .map(|c| match &c.fix {
                Some(fix) => format!("{} for {} ({fix})", c.need, c.target),
                None => format!("{} for {}", c.need, c.target),
            })
            .collect();
        bail!("missing: {}", needs.join("; "));
    }
    Ok(())
}

/// What every target shares: libbpf's headers (fetched the way a build
/// does, in a project), and bpftool for `cargo xdp vmlinux` (optional).
fn shared_checks(project: Option<&Project>) -> Vec<Check> {
    let libbpf = match project {
        Some(project) => {
            let quiet = Shell::new(true, 0, crate::shell::MessageFormat::Human);
            headers::libbpf(project, &quiet)
                .map(|l| format!("libbpf {}", l.describe()))
                .map_err(|e| format!("{e:#}"))
        }
        None => Ok(format!(
            "libbpf-sys {} (libbpf's BPF headers), fetched by the first build",
            headers::DEFAULT_LIBBPF
        )),
    };
    let mut bpftool = row(
        "any",
        "bpftool (vmlinux)",
        which::which("bpftool")
            .or_else(|_| which::which("/usr/sbin/bpftool"))
            .map(|p| p.display().to_string())
            .map_err(|_| "not found".to_string()),
        "only `cargo xdp vmlinux` needs it: apt-get install bpftool",
    );
    bpftool.required = false;
    vec![
        row(
            "any",
            "libbpf headers",
            libbpf,
            "check the network or cargo's registry, or set libbpf-include in [workspace.metadata.xdp]",
        ),
        bpftool,
    ]
}

/// A required row; `result` is the detail when Ok, the problem when Err.
fn row(target: &str, need: &str, result: Result<String, String>, fix: &str) -> Check {
    let ok = result.is_ok();
    Check {
        target: target.to_string(),
        need: need.to_string(),
        ok,
        required: true,
        detail: result.unwrap_or_else(|e| e),
        fix: (!ok).then(|| fix.to_string()),
    }
}

/// Looks each tool up once, however many targets need it.
struct Probe<'a> {
    project: Option<&'a Project>,
    host_clang: Option<Result<(String, String), String>>,
    ndk: Option<Result<Ndk, String>>,
    adb: Option<Result<(String, Vec<adb::Device>), String>>,
    sysroot: Option<Result<PathBuf, String>>,
    /// Per serial: (ro.product.cpu.abi, uname -r).
    abis: BTreeMap<String, (String, String)>,
}

impl<'a> Probe<'a> {
    /// The kernel uapi headers the kern compile reads (fetched the way a
    /// build does, in a project).
    fn kernel_headers_check(&self, target: &Target) -> Check {
        let detail = match self.project {
            Some(project) => {
                let quiet = Shell::new(true, 0, crate::shell::MessageFormat::Human);
                uapi::for_target(project, target, &quiet)
                    .map(|k| k.description)
                    .map_err(|e| format!("{e:#}"))
            }
            None => Ok(format!(
                "{}, fetched by the first build",
                uapi::describe_pinned(&target.uapi_arch)
            )),
        };
        row(
            &target.name,
            "kernel uapi headers",
            detail,
            "check the network (or CARGO_XDP_DEBIAN_MIRROR), or set kernel-headers in [workspace.metadata.xdp]",
        )
    }

    fn new(project: Option<&'a Project>) -> Self {
        Probe {
            project,
            host_clang: None,
            ndk: None,
            adb: None,
            sysroot: None,
            abis: BTreeMap::new(),
        }
    }

    fn target_checks(&mut self, target: &Target, deploy: bool) -> Vec<Check> {
        let mut checks = Vec::new();
        if target.ndk {
            let ndk = self.ndk().clone();
            checks.push(row(
                &target.name,
                &format!("Android NDK r{}+", ndk::MIN_MAJOR),
                ndk.as_ref()
                    .map(|n| format!("{} at {} (from {})", n.revision, n.root.display(), n.origin))
                    .map_err(Clone::clone),
                "install an NDK (Android Studio's SDK Manager, or `sdkmanager \"ndk;26.1.10909125\"`) and set ANDROID_NDK_HOME",
            ));
            if let Ok(ndk) = &ndk {
                checks.push(row(
                    &target.name,
                    "clang with BPF backend",
                    clang::identify(&ndk.clang())
                        .map(|v| format!("{} ({v})", ndk.clang().display()))
                        .map_err(|e| format!("{e:#}")),
                    "reinstall the NDK: its clang has the BPF backend",
                ));
            }
        } else {
            let clang = self.host_clang().clone();
            checks.push(row(
                &target.name,
                "clang with BPF backend",
                clang
                    .as_ref()
                    .map(|(path, version)| format!("{path} ({version})"))
                    .map_err(Clone::clone),
                "apt-get install clang (or set CLANG=/path/to/clang)",
            ));
            let strip = clang
                .as_ref()
                .ok()
                .and_then(|(path, _)| clang::find_strip(Path::new(path)));
            let mut strip_row = row(
                &target.name,
                "llvm-strip (recommended)",
                strip
                    .map(|p| p.display().to_string())
                    .ok_or_else(|| "not found".to_string()),
                "apt-get install llvm",
            );
            strip_row.required = false;
            checks.push(strip_row);
        }
        checks.push(self.kernel_headers_check(target));
        checks.push(self.rust_target_check(target));
        if target.linker.as_deref() == Some("rust-lld") {
            checks.push(row(
                &target.name,
                "rust-lld",
                self.rust_lld(),
                "reinstall the Rust toolchain with rustup (rust-lld ships with rustc)",
            ));
        }
        if let Some((linker, install)) = target.external_linker() {
            let found = which::which(linker).map_err(|_| "not found".to_string());
            let found = found.map(|p| p.display().to_string());
            checks.push(row(&target.name, linker, found, install));
        }
        if target.android_abi.is_some() {
            for mut check in self.device_checks(target) {
                // Warnings (the kernel row) stay optional.
                check.required &= deploy;
                checks.push(check);
            }
        }
        checks
    }

    fn rust_target_check(&mut self, target: &Target) -> Check {
        let result = if target.is_host() {
            Ok("the host's own".to_string())
        } else {
            match self.sysroot() {
                Ok(sysroot) if tools::has_rust_target(sysroot, &target.triple) => {
                    Ok("installed".to_string())
                }
                Ok(_) => Err("not installed".to_string()),
                Err(e) => Err(e.clone()),
            }
        };
        row(
            &target.name,
            &format!("Rust target {}", target.triple),
            result,
            &format!(
                "rustup target add {} (or build with --install-targets)",
                target.triple
            ),
        )
    }

    fn device_checks(&mut self, target: &Target) -> Vec<Check> {
        let abi = target.android_abi.clone().unwrap_or_default();
        let adb = self.adb().clone();
        let mut checks = vec![row(
            &target.name,
            "adb (deploy)",
            adb.as_ref()
                .map(|(path, _)| path.clone())
                .map_err(Clone::clone),
            "apt-get install adb, or set ADB=/path/to/adb",
        )];
        let Ok((adb_path, devices)) = adb else {
            return checks;
        };
        let ready: Vec<&adb::Device> = devices
            .iter()
            .filter(|d| d.state == adb::DeviceState::Device)
            .collect();
        let mut matching = Vec::new();
        let mut kernels = Vec::new();
        for device in &ready {
            let (device_abi, kernel) = self
                .abis
                .entry(device.serial.clone())
                .or_insert_with(|| abi_and_kernel(&adb_path, &device.serial))
                .clone();
            if device_abi == abi {
                matching.push(device.serial.clone());
                kernels.push((device.serial.clone(), kernel));
            }
        }
        let others: Vec<String> = devices
            .iter()
            .filter(|d| d.state != adb::DeviceState::Device)
            .map(|d| format!("{} is {}", d.serial, d.state))
            .collect();
        let result = if !matching.is_empty() {
            Ok(matching.join(", "))
        } else if devices.is_empty() {
            Err("no device connected".to_string())
        } else {
            Err(format!(
                "none of {} device(s) is {abi}{}",
                devices.len(),
                if others.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", others.join(", "))
                }
            ))
        };
        checks.push(row(
            &target.name,
            &format!("device, {abi} (deploy)"),
            result,
            "connect a device with USB debugging on and accept its prompt (`adb devices` lists it as `device`)",
        ));
        // The kern objects' instruction set against each device's kernel:
        // a warning (the device decides), never a failure.
        let cpu = self
            .project
            .and_then(|p| p.meta.bpf_cpu)
            .unwrap_or(target.bpf_cpu);
        for (serial, kernel) in kernels {
            let mut check = row(
                &target.name,
                &format!("kernel for BPF {cpu} (deploy)"),
                match isa::check_kernel(cpu, &kernel) {
                    None => Ok(format!("{serial}: Linux {kernel}")),
                    Some(warning) => Err(format!("{serial}: {warning}")),
                },
                "lower bpf-cpu in [workspace.metadata.xdp] for this device",
            );
            check.required = false;
            checks.push(check);
        }
        checks
    }

    /// The sysroot of the rustc that builds the project, asked once.
    fn sysroot(&mut self) -> &Result<PathBuf, String> {
        let dir = self
            .project
            .map(|p| p.root.clone())
            .unwrap_or_else(|| ".".into());
        self.sysroot
            .get_or_insert_with(|| tools::rust_sysroot(&dir).map_err(|e| format!("{e:#}")))
    }

    /// rust-lld, which rustc ships in its sysroot's host bin directory.
    fn rust_lld(&mut self) -> Result<String, String> {
        let sysroot = self.sysroot().clone()?;
        let lld = sysroot
            .join("lib/rustlib")
            .join(toolchain::HOST_TRIPLE)
            .join("bin/rust-lld");
        if lld.is_file() {
            Ok(lld.display().to_string())
        } else {
            Err(format!("not in {}", sysroot.display()))
        }
    }

    fn host_clang(&mut self) -> &Result<(String, String), String> {
        self.host_clang.get_or_insert_with(|| {
            let path = clang::locate().map_err(|e| format!("{e:#}"))?;
            let version = clang::identify(&path).map_err(|e| format!("{e:#}"))?;
            Ok((path.display().to_string(), version))
        })
    }

    fn ndk(&mut self) -> &Result<Ndk, String> {
        self.ndk.get_or_insert_with(|| {
            ndk::locate_from_env(None)
                .map(|(ndk, _)| ndk)
                .map_err(|e| format!("{e:#}"))
        })
    }

    fn adb(&mut self) -> &Result<(String, Vec<adb::Device>), String> {
        self.adb.get_or_insert_with(|| {
            let path = adb::locate().map_err(|e| format!("{e:#}"))?;
            let devices = adb::devices(&path, adb::DEFAULT_LIMIT).map_err(|e| format!("{e:#}"))?;
            Ok((path.display().to_string(), devices))
        })
    }
}

/// The human table: one line per check, the fix under each failure.
pub fn table(checks: &[Check]) -> String {
    let width = |f: &dyn Fn(&Check) -> usize| checks.iter().map(f).max().unwrap_or(0);
    let target_width = width(&|c| c.target.len()).max(6);
    let need_width = width(&|c| c.need.len()).max(4);
    let mut out = format!(
        "{:target_width$}  {:need_width$}  {:7}  {}\n",
        "target", "need", "status", "detail"
    );
    let mut last_target = "";
    for check in checks {
        let target = if check.target == last_target {
            ""
        } else {
            &check.target
        };
        last_target = &check.target;
        let status = match (check.ok, check.required) {
            (true, _) => "OK",
            (false, true) => "MISSING",
            (false, false) => "missing",
        };
        // Our errors read "problem; fix": the fix has its own line.
        let detail = check.detail.split("; ").next().unwrap_or_default();
        out.push_str(&format!(
            "{target:target_width$}  {:need_width$}  {status:7}  {detail}\n",
            check.need
        ));
        if let Some(fix) = &check.fix {
            out.push_str(&format!(
                "{:target_width$}  {:need_width$}  {:7}  fix: {fix}\n",
                "", "", ""
            ));
        }
    }
    out
}

/// `ro.product.cpu.abi` and `uname -r` of a device (empty when it does not
/// answer).
fn abi_and_kernel(adb_path: &str, serial: &str) -> (String, String) {
    let device = adb::Adb::new(adb_path.into(), serial.to_string(), adb::DEFAULT_LIMIT);
    let out = device
        .shell(
            "getprop ro.product.cpu.abi; uname -r; echo __rc=$?",
            "getprop",
        )
        .map(|out| out.stdout)
        .unwrap_or_default();
    let mut lines = out.lines().map(|l| l.trim().to_string());
    (
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
    )
}

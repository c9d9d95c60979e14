//! The double behind `transport::Transport` for unit tests: a device that answers
//! each step as a test scripts it, and what those tests share (a project,
//! a plan, a bundle).

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use anyhow::{bail, Result};

use super::DeployPlan;
use crate::{
    adb::{self, Device},
    attach::AttachMode,
    cargo_args::Profile,
    project::Project,
    shell::Shell,
    transport::{self, Transport},
};

pub(crate) type Answer = Box<dyn Fn(&str) -> Result<transport::Output> + Send + Sync>;

/// The double behind `Transport`: a device that answers each step (by
/// the `what` a call names) as the test scripts it, and remembers the
/// steps it was asked, in order.
pub(crate) struct FakeDevice {
    serial: String,
    answer: Answer,
    push_fails: bool,
    asked: Mutex<Vec<String>>,
    layout: crate::layout::Layout,
}

impl FakeDevice {
    pub(crate) fn new(
        push_fails: bool,
        answer: impl Fn(&str) -> Result<transport::Output> + Send + Sync + 'static,
    ) -> Arc<FakeDevice> {
        FakeDevice::named("FAKE01", push_fails, answer)
    }

    /// The same with its own serial.
    pub(crate) fn named(
        serial: &str,
        push_fails: bool,
        answer: impl Fn(&str) -> Result<transport::Output> + Send + Sync + 'static,
    ) -> Arc<FakeDevice> {
        Arc::new(FakeDevice {
            serial: serial.to_string(),
            answer: Box::new(answer),
            push_fails,
            asked: Mutex::new(Vec::new()),
            layout: crate::layout::Layout::android(),
        })
    }

    pub(crate) fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    fn ask(&self, what: &str) -> Result<transport::Output> {
        self.asked.lock().unwrap().push(what.to_string());
        (self.answer)(what)
    }
}

impl Transport for FakeDevice {
    fn serial(&self) -> &str {
        &self.serial
    }

    fn shell(&self, _script: &str, what: &str) -> Result<transport::Output> {
        self.ask(what)
    }

    fn shell_cleanup(&self, _script: &str) -> Result<transport::Output> {
        self.ask("the cleanup")
    }

    fn shell_streaming(&self, _script: &str, line: &mut dyn FnMut(&str)) -> Result<Option<i32>> {
        let out = self.ask("streaming")?;
        out.stdout.lines().for_each(line);
        Ok(out.code)
    }

    fn push(&self, _files: &[PathBuf], _dir: &str) -> Result<()> {
        self.asked.lock().unwrap().push("adb push".into());
        if self.push_fails {
            bail!(
                "adb push on {} failed: no space left on device",
                self.serial
            );
        }
        Ok(())
    }

    fn root(&self) -> Result<()> {
        self.asked.lock().unwrap().push("adb root".into());
        bail!("adbd cannot run as root in production builds")
    }

    fn layout(&self) -> &crate::layout::Layout {
        &self.layout
    }
}

pub(crate) fn answered(stdout: &str, code: i32) -> Result<transport::Output> {
    Ok(transport::Output {
        stdout: stdout.to_string(),
        stderr: String::new(),
        code: Some(code),
    })
}

/// A phone whose shell is root, with a sha256 tool and wlan0.
pub(crate) const ROOTED: &str = "uid=0\nabi=arm64-v8a\nsdk=33\nkernel=5.10.0\ndebuggable=0\nsu=none\nhash=toybox sha256sum\nsetsid=1\niface=yes lo wlan0\n";

pub(crate) fn project(dir: &Path) -> Project {
    let meta = toml_edit::de::from_str(
        "name = \"demo\"\nkern = [\"demo_kern/demo_kern.c\"]\nloader = \"demo_user\"\n",
    )
    .unwrap();
    Project {
        root: dir.to_path_buf(),
        target_dir: dir.join("target"),
        meta,
        loader_manifest: dir.join("demo_user/Cargo.toml"),
        manifests: None,
    }
}

pub(crate) fn plan() -> DeployPlan {
    DeployPlan {
        interface: "wlan0".into(),
        mode: AttachMode::Auto,
        target: None,
        profile: Profile::release(),
        attach_args: vec![],
    }
}

pub(crate) fn quiet() -> Shell {
    Shell::new(true, 0, crate::shell::MessageFormat::Human)
}

pub(crate) fn device() -> Device {
    Device {
        serial: "FAKE01".into(),
        state: adb::DeviceState::Device,
        model: Some("Pixel".into()),
    }
}

/// A bundle with the two files root checks by sha256.
pub(crate) fn bundle(dir: &Path) -> PathBuf {
    let path = dir.join("demo-android-arm64.tar.gz");
    let file = std::fs::File::create(&path).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    for (name, text) in [
        ("demo/MANIFEST", "name: demo\n"),
        ("demo/on-device.sh", "#!/bin/sh\n"),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, text.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// What the deployed loader's `status --json` says when `demo` runs on
/// `interface` in `mode` as program `program_id`.
pub(crate) fn attached_status(interface: &str, mode: &str, program_id: u32) -> String {
    cargo_xdp_wire::Status {
        name: "demo".into(),
        attached: vec![cargo_xdp_wire::Attachment {
            interface: interface.into(),
            mode: mode.into(),
            program: "xdp_prog".into(),
            program_id,
            running: Some(true),
            variant: None,
        }],
    }
    .to_string()
}

/// The loader's `test-run` answer to case `case`: action `action` in `ns`.
pub(crate) fn case_ran(case: &str, action: u32, ns: u64) -> String {
    cargo_xdp_wire::CaseAnswer::Ran(cargo_xdp_wire::CaseRun {
        case: case.into(),
        action,
        actions: vec![action],
        ns,
        cpu_ps: ns * 1000,
        ..Default::default()
    })
    .to_string()
}

/// A rooted phone (`ROOTED`) ready for a trial of android-arm64 bundles.
pub(crate) fn trial(fake: Arc<FakeDevice>) -> super::Trial {
    super::Trial {
        adb: fake,
        probe: crate::remote::parse_probe(ROOTED, &crate::layout::Layout::android()),
        root: crate::remote::Root::Shell,
        target: crate::toolchain::find("android-arm64").unwrap(),
    }
}

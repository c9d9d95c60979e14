//! `cargo xdp test [FILTER]`: the project's packet tests, through the
//! kernel's BPF_PROG_TEST_RUN on this machine, like `cargo test`.
//!
//! Cases live beside the kern sources, in `<kern dir>/tests/*.toml`:
//!
//! ```toml
//! [[case]]
//! name = "drops_dns"
//! args = ["--drop-port", "udp/53"]          # what `attach` takes
//! packet = { ipv4 = { src = "10.0.0.1", dst = "10.0.0.2" }, udp = { dst = 53 } }
//! expect = { action = "drop", counters = { drop = 1 } }
//! ```
//!
//! The loader does the running (`test-run`, see cargo-xdp-loader's
//! testrun), so the project's own options write the maps exactly as on an
//! attach; cases.rs reads the cases, builds the packets and judges the
//! answers; this module runs them here, on a device or from a capture, and
//! reports like `cargo test`.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use cargo_xdp_wire::CaseAnswer;

use crate::{
    builder,
    cases::{
        case_files, cases_text, check_deployed, default_tests_dir, deployed_cases, judge,
        project_cases, Action, Case,
    },
    local::{test_run, Privilege},
    messages::Message,
    packets,
    project::Project,
    shell::Shell,
};
use crate::{cargo_args::CargoArgs, session::DeviceChoice};

#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Run only the tests whose name contains this.
    pub filter: Option<String>,
    /// Replay every frame of a capture (pcap or pcapng, Ethernet) instead,
    /// with the options after `--` written into the maps as `attach` would.
    pub pcap: Option<PathBuf>,
    /// For --pcap: what `attach` takes (e.g. `-- --drop-port udp/53`).
    pub attach_args: Vec<String>,
    /// The target whose kernel runs the cases: this machine's (the
    /// default), or with --adb the device's.
    pub target: Option<String>,
    /// Run the cases on this device's kernel, through the deployed loader
    /// (deploy first: the bundle carries the cases); None: this machine.
    pub device: Option<DeviceChoice>,
    pub cargo: CargoArgs,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

pub fn test(args: &TestOptions, shell: &Shell) -> Result<()> {
    if let (Some(target), None) = (&args.target, &args.device) {
        let target = crate::toolchain::find(target)?;
        let here = crate::toolchain::default_target()?;
        if target.name != here {
            bail!(
                "packet tests run on a kernel, here this machine's ({here}); for {} run them on \
                 a device with `cargo xdp test --adb` (after `cargo xdp deploy --adb IFACE`)",
                target.name
            );
        }
    }
    let project = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
    if let Some(pcap) = &args.pcap {
        return replay(args, &project, pcap, shell);
    }
    if !args.attach_args.is_empty() {
        bail!("options after `--` go with --pcap; a case file's cases carry their own `args`");
    }
    if case_files(&project)?.is_empty() {
        bail!(
            "no packet tests: write cases in {} (see the generated README, \"Packet tests\")",
            default_tests_dir(&project).display()
        );
    }
    if let Some(device) = &args.device {
        return on_device(device, args, &project, shell);
    }
    let privilege = Privilege::acquire("`cargo xdp test`", shell)?;
    let built = builder::build_for_host(&project, &args.cargo, shell)?;
    let mut cases = project_cases(&project, &built.kern_objects)?;
    let total = cases.len();
    cases.retain(|c| {
        args.filter
            .as_deref()
            .is_none_or(|f| c.spec.name.contains(f))
    });
    let filtered_out = total - cases.len();

    let scratch = crate::workdir::scratch_dir(&project.target_dir)?;
    let mut answers: BTreeMap<String, CaseAnswer> = BTreeMap::new();
    let mut objects: Vec<&PathBuf> = cases.iter().map(|c| &c.object).collect();
    objects.dedup();
    for (n, object) in objects.into_iter().enumerate() {
        let text: String = cases
            .iter()
            .filter(|c| &c.object == object)
            .map(cases_text)
            .collect();
        let file = scratch.path().join(format!("cases-{n}.txt"));
        for answer in test_run(&privilege, &built.loader, object, &file, &text, shell)? {
            answers.insert(answer.case().to_string(), answer);
        }
    }

    report(&cases, &answers, filtered_out, shell)
}

/// Prints each case's verdict like `cargo test` (and as JSON messages);
/// an error when one failed.
fn report(
    cases: &[Case],
    answers: &BTreeMap<String, CaseAnswer>,
    filtered_out: usize,
    shell: &Shell,
) -> Result<()> {
    if shell.human() {
        let plural = if cases.len() == 1 { "" } else { "s" };
        println!("\nrunning {} test{plural}", cases.len());
    }
    let mut failed = Vec::new();
    for case in cases {
        let problems = match answers.get(&case.spec.name) {
            Some(answer) => judge(case, answer),
            None => vec!["the loader gave no answer for it".into()],
        };
        let ok = problems.is_empty();
        if shell.human() {
            println!(
                "test {} ... {}",
                case.spec.name,
                if ok { "ok" } else { "FAILED" }
            );
        }
        shell.message(&Message::TestCase {
            name: &case.spec.name,
            file: &case.file,
            ok,
            problems: &problems,
        });
        if !ok {
            failed.push((case, problems));
        }
    }
    let passed = cases.len() - failed.len();
    if shell.human() {
        if !failed.is_empty() {
            println!("\nfailures:\n");
            for (case, problems) in &failed {
                println!("---- {} ({}) ----", case.spec.name, case.file.display());
                for problem in problems {
                    println!("{}", crate::shell::harmless(problem));
                }
                println!();
            }
            println!("failures:");
            for (case, _) in &failed {
                println!("    {}", case.spec.name);
            }
        }
        println!(
            "\ntest result: {}. {passed} passed; {} failed; {filtered_out} filtered out\n",
            if failed.is_empty() { "ok" } else { "FAILED" },
            failed.len()
        );
    }
    shell.message(&Message::TestResult {
        passed,
        failed: failed.len(),
        filtered_out,
    });
    if !failed.is_empty() {
        bail!("{} of {} packet tests failed", failed.len(), cases.len());
    }
    Ok(())
}

/// `test --adb`: the cases on the device's kernel, by root's deployed
/// loader, which must carry these very cases (checked by sha256).
fn on_device(
    choice: &DeviceChoice,
    args: &TestOptions,
    project: &Project,
    shell: &Shell,
) -> Result<()> {
    let (_, device) = crate::session::connect(choice)?;
    test_on(device.as_ref(), args.filter.as_deref(), project, shell)
}

/// The deployed cases run by root's loader on the device `device` reaches,
/// judged here once the device showed they are these cases.
fn test_on(
    device: &dyn crate::adb::Transport,
    filter: Option<&str>,
    project: &Project,
    shell: &Shell,
) -> Result<()> {
    let (mut cases, expected) = deployed_cases(project)?;
    let mut answers: BTreeMap<String, CaseAnswer> = BTreeMap::new();
    let mut on_device: BTreeMap<String, String> = BTreeMap::new();
    let mut serial = String::new();
    crate::session::run_deployed(device, project, &["test-run"], &mut |device, line| {
        serial = device.to_string();
        if let Some((sum, file)) = line
            .strip_prefix("cases-sha256: ")
            .and_then(|rest| rest.split_once(' '))
        {
            on_device.insert(file.to_string(), sum.to_string());
        } else if let Ok(answer) = serde_json::from_str::<CaseAnswer>(line) {
            shell.verbose_status("Answered", line);
            answers.insert(answer.case().to_string(), answer);
        } else {
            shell.device_text(&format!("{line}\n"));
        }
    })?;
    check_deployed(&expected, &on_device, &serial)?;
    shell.status("Tested", format!("on {serial}'s kernel"));
    let total = cases.len();
    cases.retain(|c| filter.is_none_or(|f| c.spec.name.contains(f)));
    report(&cases, &answers, total - cases.len(), shell)
}

/// What of a capture replays and how: cut short, snapped, records left out.
fn say_what_replays(capture: &crate::capture::Capture, pcap: &Path, shell: &Shell) {
    if capture.cut_short {
        shell.warn(format!(
            "{} ends inside a record (was the capture stopped while writing?): replaying the {} \
             whole frames before it",
            pcap.display(),
            capture.frames.len()
        ));
    }
    if capture.snapped > 0 {
        shell.warn(format!(
            "{} of the frames were captured shorter than they were (tcpdump -s): the program \
             sees only what was captured",
            capture.snapped
        ));
    }
    if capture.skipped > 0 {
        shell.status(
            "Skipping",
            format!(
                "{} packets of {} that are not IP (ARP and the like in a Linux cooked capture)",
                capture.skipped,
                pcap.display()
            ),
        );
    }
}

/// `--pcap FILE`: every frame through the program, in order, in one set of
/// maps (state carries from frame to frame, as on the wire); the count per
/// action, and with -v each frame's.
fn replay(args: &TestOptions, project: &Project, pcap: &Path, shell: &Shell) -> Result<()> {
    let capture = crate::capture::read(pcap)?;
    if capture.frames.is_empty() {
        bail!("{} holds no frames to replay", pcap.display());
    }
    say_what_replays(&capture, pcap, shell);
    let privilege = Privilege::acquire("`cargo xdp test --pcap`", shell)?;
    let built = builder::build_for_host(project, &args.cargo, shell)?;
    let mut text = String::from("case pcap\n");
    if capture.link == packets::Link::Rawip {
        text.push_str("link rawip\n");
    }
    for arg in &args.attach_args {
        let _ = writeln!(text, "arg {arg}");
    }
    for frame in &capture.frames {
        let _ = writeln!(text, "packet {}", packets::hex(frame));
    }
    text.push_str("end\n");
    let scratch = crate::workdir::scratch_dir(&project.target_dir)?;
    let answers = test_run(
        &privilege,
        &built.loader,
        &built.kern_objects[0],
        &scratch.path().join("pcap.txt"),
        &text,
        shell,
    )?;
    let answer = match answers.first().context("the loader gave no answer")? {
        CaseAnswer::Failed { error, .. } => bail!("could not replay {}: {error}", pcap.display()),
        CaseAnswer::Ran(run) => run,
    };
    let verdicts: Vec<String> = answer
        .actions
        .iter()
        .map(|&action| Action::of(action.into()))
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for verdict in &verdicts {
        *counts.entry(verdict.as_str()).or_default() += 1;
    }
    if shell.human() {
        if shell.verbosity() > 0 {
            for (n, verdict) in verdicts.iter().enumerate() {
                println!("packet {}: {verdict}", n + 1);
            }
        }
        let summary: Vec<String> = counts.iter().map(|(a, n)| format!("{a} {n}")).collect();
        println!(
            "replayed {} packets of {}: {}",
            verdicts.len(),
            pcap.display(),
            summary.join(", ")
        );
    }
    shell.message(&Message::Replayed {
        file: pcap,
        packets: verdicts.len(),
        actions: &counts,
        verdicts: &verdicts,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fake::*;

    fn ran(case: &str, action: u32) -> String {
        case_ran(case, action, 0)
    }

    /// A project with one case file of two cases, and the sum of the
    /// `.cases` file a deployed bundle of it carries.
    fn project_with_cases(dir: &Path) -> (Project, String) {
        let tests = dir.join("demo_kern/tests");
        std::fs::create_dir_all(&tests).unwrap();
        std::fs::write(
            tests.join("demo.toml"),
            "[[case]]\nname = \"drops_dns\"\npacket = { ipv4 = { src = \"10.0.0.1\", dst = \"10.0.0.2\" }, udp = { dst = 53 } }\nexpect = { action = \"drop\" }\n\n\
             [[case]]\nname = \"passes_https\"\npacket = { ipv4 = { src = \"10.0.0.1\", dst = \"10.0.0.2\" }, tcp = { dst = 443 } }\nexpect = { action = \"pass\" }\n",
        )
        .unwrap();
        let project = project(dir);
        let (_, sums) = deployed_cases(&project).unwrap();
        (project, sums[0].1.clone())
    }

    fn device_answering(lines: String) -> std::sync::Arc<FakeDevice> {
        FakeDevice::new(false, move |what| match what {
            "the probe" => answered(ROOTED, 0),
            "the loader's `test-run`" => answered(&lines, 0),
            other => panic!("asked {other}"),
        })
    }

    #[test]
    fn the_device_runs_the_deployed_cases_and_they_are_judged_here() {
        let dir = tempfile::tempdir().unwrap();
        let (project, sum) = project_with_cases(dir.path());
        let good = format!(
            "cases-sha256: {sum} demo_kern.cases\n{}\n{}\n",
            ran("drops_dns", 1),
            ran("passes_https", 2)
        );
        test_on(device_answering(good).as_ref(), None, &project, &quiet()).unwrap();
        // A wrong verdict fails the run.
        let wrong = format!(
            "cases-sha256: {sum} demo_kern.cases\n{}\n{}\n",
            ran("drops_dns", 2),
            ran("passes_https", 2)
        );
        let error = test_on(device_answering(wrong).as_ref(), None, &project, &quiet())
            .unwrap_err()
            .to_string();
        assert!(error.contains("1 of 2 packet tests failed"), "{error}");
    }

    #[test]
    fn cases_that_are_not_the_deployed_ones_are_never_judged() {
        let dir = tempfile::tempdir().unwrap();
        let (project, _) = project_with_cases(dir.path());
        let stale = format!(
            "cases-sha256: 0000 demo_kern.cases\n{}\n",
            ran("drops_dns", 1)
        );
        let error = test_on(device_answering(stale).as_ref(), None, &project, &quiet())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("the packet tests deployed on FAKE01 are not these")
                && error.contains("deploy again"),
            "{error}"
        );
    }
}

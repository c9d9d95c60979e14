//! `test --adb` (and `--pcap` with it): the cases on a device's kernel, as
//! a trial (session::run_trial): the bundle built for the device pushed to a
//! place of its own, checked and run by root there, nothing attached, no
//! deployed copy needed or touched.

use std::collections::BTreeMap;

use anyhow::Result;
use cargo_xdp_wire::CaseAnswer;

use super::{report, TestOptions};
use crate::{
    builder,
    cases::{bundled_cases, check_ran, none_selected, selected, with_variant_copies},
    project::Project,
    session::{self, DeviceChoice, Extra, Trial},
    shell::Shell,
};

/// The device `choice` names, ready for a trial, and the bundle built for it.
pub(super) fn trial_for(
    choice: &DeviceChoice,
    args: &TestOptions,
    project: &Project,
    shell: &Shell,
) -> Result<(Trial, std::path::PathBuf)> {
    let (_, adb) = session::connect(choice)?;
    let trial = session::prepare_trial(&adb, project, args.target.as_deref())?;
    let bundle = builder::bundle_for(project, &args.cargo, &trial.target, shell)?;
    Ok((trial, bundle))
}

/// `test --adb`: every case through the device's kernel.
pub(super) fn on_device(
    choice: &DeviceChoice,
    args: &TestOptions,
    project: &Project,
    shell: &Shell,
) -> Result<()> {
    let (trial, bundle) = trial_for(choice, args, project, shell)?;
    test_on(&trial, &bundle, args.filter.as_deref(), project, shell)
}

/// The bundle's cases run by root on the trial's device, judged here once
/// the device showed they are these cases.
fn test_on(
    trial: &Trial,
    bundle: &std::path::Path,
    filter: Option<&str>,
    project: &Project,
    shell: &Shell,
) -> Result<()> {
    let (cases, expected) = bundled_cases(project)?;
    let kern_dir = project.xdp_dir(&trial.target.name).join("kern");
    let (mut cases, _) = with_variant_copies(cases, &kern_dir);
    let mut answers: BTreeMap<String, CaseAnswer> = BTreeMap::new();
    let mut ran: BTreeMap<String, String> = BTreeMap::new();
    session::run_trial(trial, project, bundle, &[], &["test-run"], &mut |line| {
        if let Some((sum, file)) = line
            .strip_prefix("cases-sha256: ")
            .and_then(|rest| rest.split_once(' '))
        {
            ran.insert(file.to_string(), sum.to_string());
        } else if let Ok(answer) = serde_json::from_str::<CaseAnswer>(line) {
            shell.verbose_status("Answered", line);
            answers.insert(answer.case().to_string(), answer);
        } else {
            shell.device_text(&format!("{line}\n"));
        }
    })?;
    let serial = trial.adb.serial();
    check_ran(&expected, &ran, serial)?;
    shell.status("Tested", format!("on {serial}'s kernel, nothing attached"));
    let total = cases.len();
    cases.retain(|c| selected(c, filter));
    if cases.is_empty() {
        if let Some(said) = none_selected(filter, total) {
            shell.warn(said);
        }
    }
    report(
        &cases,
        &answers,
        total - cases.len(),
        project,
        &kern_dir,
        shell,
    )
}

/// A capture's frames (`text`, in the loader's cases format) through the
/// device's kernel against the project's first kern object; the answers.
pub(super) fn replay_on(
    choice: &DeviceChoice,
    args: &TestOptions,
    project: &Project,
    text: String,
    shell: &Shell,
) -> Result<Vec<CaseAnswer>> {
    let (trial, bundle) = trial_for(choice, args, project, shell)?;
    let stem = project.meta.kern.first().and_then(|k| k.file_stem());
    let object = format!("{}.o", stem.unwrap_or_default().to_string_lossy());
    let extra = [Extra {
        name: "capture.frames".into(),
        bytes: text.into_bytes(),
    }];
    let mut answers = Vec::new();
    let args = ["test-run", "capture.frames", object.as_str()];
    session::run_trial(&trial, project, &bundle, &extra, &args, &mut |line| {
        match serde_json::from_str::<CaseAnswer>(line) {
            Ok(answer) => answers.push(answer),
            Err(_) => shell.device_text(&format!("{line}\n")),
        }
    })?;
    shell.status(
        "Replayed",
        format!("on {}'s kernel, nothing attached", trial.adb.serial()),
    );
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

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
        let (_, sums) = bundled_cases(&project).unwrap();
        (project, sums[0].1.clone())
    }

    fn device_answering(lines: String) -> std::sync::Arc<FakeDevice> {
        FakeDevice::new(false, move |what| match what {
            "the staging" => answered("", 0),
            "the loader's `test-run`" => answered(&lines, 0),
            other => panic!("asked {other}"),
        })
    }

    /// `test_on` on a fake device answering `lines`; what it asked.
    fn tested(project: &Project, lines: String) -> (Result<()>, Vec<String>) {
        let fake = device_answering(lines);
        let dir = tempfile::tempdir().unwrap();
        let result = test_on(
            &trial(fake.clone()),
            &bundle(dir.path()),
            None,
            project,
            &quiet(),
        );
        (result, fake.asked())
    }

    #[test]
    fn the_device_runs_the_bundled_cases_in_a_trial_and_they_are_judged_here() {
        let dir = tempfile::tempdir().unwrap();
        let (project, sum) = project_with_cases(dir.path());
        let good = format!(
            "cases-sha256: {sum} demo_kern.cases\n{}\n{}\n",
            ran("drops_dns", 1),
            ran("passes_https", 2)
        );
        let (result, asked) = tested(&project, good);
        result.unwrap();
        assert_eq!(
            asked,
            ["the staging", "adb push", "the loader's `test-run`"],
            "staged, pushed, run by root: nothing deployed needed"
        );
        // A wrong verdict fails the run.
        let wrong = format!(
            "cases-sha256: {sum} demo_kern.cases\n{}\n{}\n",
            ran("drops_dns", 2),
            ran("passes_https", 2)
        );
        let error = tested(&project, wrong).0.unwrap_err().to_string();
        assert!(error.contains("1 of 2 packet tests failed"), "{error}");
    }

    #[test]
    fn cases_other_than_these_are_never_judged() {
        let dir = tempfile::tempdir().unwrap();
        let (project, _) = project_with_cases(dir.path());
        let stale = format!(
            "cases-sha256: 0000 demo_kern.cases\n{}\n",
            ran("drops_dns", 1)
        );
        let error = tested(&project, stale).0.unwrap_err().to_string();
        assert!(
            error.contains("the packet tests that ran on FAKE01 are not these")
                && error.contains("nothing was judged"),
            "{error}"
        );
    }
}

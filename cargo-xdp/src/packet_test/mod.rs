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

mod device;
mod replay;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use cargo_xdp_wire::CaseAnswer;

use crate::{
    builder,
    cases::{
        case_files, cases_text, default_tests_dir, judge, none_selected, project_cases, selected,
        with_variant_copies, Case,
    },
    local::{test_run, Privilege},
    messages::Message,
    project::Project,
    shell::Shell,
    typed_maps::MapTypes,
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
    /// Run the cases on this device's kernel, in a trial of their own
    /// (nothing attached, no deploy needed); None: this machine.
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
                 a device with `cargo xdp test --adb`",
                target.name
            );
        }
    }
    let project = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
    if let Some(pcap) = &args.pcap {
        return replay::replay(args, &project, pcap, shell);
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
        return device::on_device(device, args, &project, shell);
    }
    let privilege = Privilege::acquire("`cargo xdp test`", shell)?;
    let built = builder::build_for_host(&project, &args.cargo, shell)?;
    let cases = project_cases(&project, &built.kern_objects)?;
    // Reported: every case and its copy per kernel variant, as selected.
    let kern_dir = project
        .xdp_dir(crate::toolchain::default_target()?)
        .join("kern");
    let (mut reported, _) = with_variant_copies(cases.clone(), &kern_dir);
    let total = reported.len();
    reported.retain(|c| selected(c, args.filter.as_deref()));
    let filtered_out = total - reported.len();
    if reported.is_empty() {
        if let Some(said) = none_selected(args.filter.as_deref(), total) {
            shell.warn(said);
        }
    }
    // Run: the cases reported themselves or through a variant's copy (the
    // loader runs the copies with --variants).
    let run: Vec<Case> = cases
        .into_iter()
        .filter(|c| reported.iter().any(|r| r.base_name() == c.spec.name))
        .collect();

    let scratch = crate::workdir::scratch_dir(&project.target_dir)?;
    let mut answers: BTreeMap<String, CaseAnswer> = BTreeMap::new();
    let mut objects: Vec<&PathBuf> = run.iter().map(|c| &c.object).collect();
    objects.dedup();
    for (n, object) in objects.into_iter().enumerate() {
        let ours: Vec<Case> = run
            .iter()
            .filter(|c| &c.object == object)
            .cloned()
            .collect();
        let text: String = ours.iter().map(cases_text).collect();
        let file = scratch.path().join(format!("cases-{n}.txt"));
        let (_, variants) = with_variant_copies(ours, &kern_dir);
        let loader = &built.loader;
        let answered = test_run(&privilege, loader, object, (&file, &text), variants, shell)?;
        for answer in answered {
            answers.insert(answer.case().to_string(), answer);
        }
    }
    report(
        &reported,
        &answers,
        filtered_out,
        &project,
        &kern_dir,
        shell,
    )
}

/// Cases that could not run: each refusal told once, at the first case it
/// stopped, its verifier log put in a file under `logs`.
struct Refusals {
    logs: PathBuf,
    /// Summary (the text before the log) -> the first case it stopped.
    seen: BTreeMap<String, String>,
}

impl Refusals {
    fn problem(&mut self, case: &Case, error: &str) -> Vec<String> {
        let summary = crate::verifier_log::summary_of(error).to_string();
        if let Some(first) = self.seen.get(&summary) {
            return vec![format!(
                "could not run: the same refusal as `{first}` (above)"
            )];
        }
        self.seen.insert(summary, case.spec.name.clone());
        let error = crate::verifier_log::condense(error, &self.logs);
        vec![format!("could not run: {error}")]
    }
}

/// `cargo test`'s failures section: each one's problems, then the names.
fn print_failures(failed: &[(&Case, Vec<String>)]) {
    if failed.is_empty() {
        return;
    }
    println!("\nfailures:\n");
    for (case, problems) in failed {
        println!("---- {} ({}) ----", case.spec.name, case.file.display());
        for problem in problems {
            println!("{}", crate::shell::harmless(problem));
        }
        println!();
    }
    println!("failures:");
    for (case, _) in failed {
        println!("    {}", case.spec.name);
    }
}

/// The map types of the objects in `kern_dir`, each read once.
struct ObjectTypes<'a> {
    kern_dir: &'a Path,
    read: BTreeMap<PathBuf, Option<MapTypes>>,
}

impl ObjectTypes<'_> {
    fn of(&mut self, case: &Case) -> Option<&MapTypes> {
        let object = self.kern_dir.join(case.object.file_name()?);
        self.read
            .entry(object.clone())
            .or_insert_with(|| MapTypes::of_object(&object).ok().flatten())
            .as_ref()
    }
}

/// Prints each case's verdict like `cargo test` (and as JSON messages);
/// an error when one failed.
/// `kern_dir` holds the objects the cases ran, whose BTF shows map keys
/// and values by field in the failures.
fn report(
    cases: &[Case],
    answers: &BTreeMap<String, CaseAnswer>,
    filtered_out: usize,
    project: &Project,
    kern_dir: &Path,
    shell: &Shell,
) -> Result<()> {
    if shell.human() {
        let plural = if cases.len() == 1 { "" } else { "s" };
        println!("\nrunning {} test{plural}", cases.len());
    }
    let mut refusals = Refusals {
        logs: crate::verifier_log::dir(&project.target_dir),
        seen: BTreeMap::new(),
    };
    let mut failed = Vec::new();
    let mut ignored = 0;
    let mut map_types = ObjectTypes {
        kern_dir,
        read: BTreeMap::new(),
    };
    for case in cases {
        if let Some(CaseAnswer::Skipped { skipped, .. }) = answers.get(&case.spec.name) {
            ignored += 1;
            if shell.human() {
                println!("test {} ... ignored, {skipped}", case.spec.name);
            }
            continue;
        }
        let problems = match answers.get(&case.spec.name) {
            Some(CaseAnswer::Failed { error, .. }) => refusals.problem(case, error),
            Some(answer) => judge(case, answer, map_types.of(case)),
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
    let passed = cases.len() - failed.len() - ignored;
    if shell.human() {
        print_failures(&failed);
        let ignored = match ignored {
            0 => String::new(),
            n => format!("{n} ignored; "),
        };
        println!(
            "\ntest result: {}. {passed} passed; {} failed; {ignored}{filtered_out} filtered out\n",
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

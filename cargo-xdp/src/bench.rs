//! `cargo xdp bench [FILTER]`: ns per packet of the project's program on
//! each packet test's packet, through BPF_PROG_TEST_RUN with a large
//! repeat, next to a bare `return XDP_PASS` program run on the same packet
//! in the same rounds, as a ratio. Rounds alternate the two, so a busy
//! machine slows both alike; the table has min, median and max.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};
use cargo_xdp_wire::CaseAnswer;

use crate::{
    builder,
    cases::{self, Case},
    local::{self, Privilege},
    messages::Message,
    project::Project,
    shell::Shell,
};
use crate::{cargo_args::CargoArgs, session::DeviceChoice};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Bench only the cases whose name contains this.
    pub filter: Option<String>,
    /// Runs of each packet per measurement (the kernel times their mean).
    pub repeat: u32,
    /// Rounds, alternating program and baseline (min/median/max over them).
    pub rounds: u32,
    /// On this device's kernel, in a trial of its own (nothing attached,
    /// no deploy needed); None: this machine's.
    pub device: Option<DeviceChoice>,
    /// The target to build for the device (default: its ABI's).
    pub target: Option<String>,
    pub cargo: CargoArgs,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

/// Per case, in order: its name, the program's ns per round, the baseline's.
type Times = Vec<(String, Vec<f64>, Vec<f64>)>;

pub fn bench(args: &BenchOptions, shell: &Shell) -> Result<()> {
    let project = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
    let times = if let Some(device) = &args.device {
        on_device(device, args, &project, shell)?
    } else {
        here(args, &project, shell)?
    };
    if times.is_empty() {
        bail!("no packet tests to bench with: `cargo xdp bench` times the packets of the cases in <kern dir>/tests/*.toml");
    }
    if shell.human() {
        println!(
            "{:<32} {:>20} {:>20} {:>20}",
            "packet (case)", "ns/packet min/med/max", "bare XDP_PASS", "ratio min/med/max"
        );
    }
    for (name, program, baseline) in &times {
        if program.is_empty() || program.len() != baseline.len() {
            bail!("no time came back for `{name}`");
        }
        // Round by round: both ran back to back, on the same machine state.
        let ratios: Vec<f64> = program
            .iter()
            .zip(baseline)
            .map(|(p, b)| p / b.max(0.001))
            .collect();
        let (p, b, r) = (spread(program), spread(baseline), spread(&ratios));
        if shell.human() {
            println!(
                "{:<32} {:>20} {:>20} {:>20}",
                crate::shell::harmless(name),
                format!("{:.2}/{:.2}/{:.2}", p[0], p[1], p[2]),
                format!("{:.2}/{:.2}/{:.2}", b[0], b[1], b[2]),
                format!("{:.2}/{:.2}/{:.2}x", r[0], r[1], r[2]),
            );
        }
        shell.message(&Message::Bench {
            name,
            ns: p,
            bare_ns: b,
            ratio: r[1],
            ratios: r,
        });
    }
    Ok(())
}

/// ns per run in one answer of the loader's test-run: the loader's CPU
/// time of the runs less the call's own cost (swapping the XDP dispatcher),
/// in picoseconds; from a loader before it, the kernel's mean, which it
/// rounds down to whole nanoseconds (5.8 reads 5).
fn answer_ns(answer: &CaseAnswer) -> Option<f64> {
    match answer {
        CaseAnswer::Ran(run) if run.cpu_ps > 0 => Some(run.cpu_ps as f64 / 1000.0),
        CaseAnswer::Ran(run) => Some(run.ns as f64),
        CaseAnswer::Failed { .. } | CaseAnswer::Skipped { .. } => None,
    }
}

/// Benches build release unless another profile is asked for, as `cargo
/// bench` does: the bundle they use is that profile's.
fn release_unless_asked(args: &BenchOptions) -> crate::cargo_args::CargoArgs {
    args.cargo
        .with_profile_or(crate::cargo_args::Profile::release())
}

fn wanted(args: &BenchOptions, case: &Case) -> bool {
    cases::selected(case, args.filter.as_deref())
}

/// On this machine's kernel: each case once per round on the program, then
/// on the baseline.
fn here(args: &BenchOptions, project: &Project, shell: &Shell) -> Result<Times> {
    let privilege = Privilege::acquire("`cargo xdp bench`", shell)?;
    let built = builder::build_for_host(project, &release_unless_asked(args), shell)?;
    let cases = cases::project_cases(project, &built.kern_objects)?;
    // Each kernel variant this kernel loads is a program of its own here.
    let kern_dir = built.baseline.parent().unwrap_or(Path::new("."));
    let (mut cases, _) = cases::with_variant_copies(cases, kern_dir);
    let running = local::running_kernel();
    cases.retain(|c| wanted(args, c) && c.variant.is_none_or(|k| running.is_some_and(|r| k <= r)));
    let scratch = crate::workdir::scratch_dir(&project.target_dir)?;
    let mut times: Times = cases
        .iter()
        .map(|c| (c.spec.name.clone(), Vec::new(), Vec::new()))
        .collect();
    for round in 0..args.rounds {
        status_round(shell, round, args, cases.len());
        for (case, (_, program, baseline)) in cases.iter().zip(times.iter_mut()) {
            let run = |object: &Path, with_args| {
                once(
                    &privilege,
                    &built.loader,
                    object,
                    case,
                    args.repeat,
                    scratch.path(),
                    shell,
                    with_args,
                )
            };
            program.push(run(&case.object, true)?);
            baseline.push(run(&built.baseline, false)?);
        }
    }
    Ok(times)
}

/// `bench --adb`: the cases on the device's kernel, as a trial: the bundle
/// built for it (release unless asked otherwise) pushed to a place of its
/// own, checked and run by root there, nothing attached, removed after.
fn on_device(
    choice: &DeviceChoice,
    args: &BenchOptions,
    project: &Project,
    shell: &Shell,
) -> Result<Times> {
    let (_, adb) = crate::session::connect(choice)?;
    let trial = crate::session::prepare_trial(&adb, project, args.target.as_deref())?;
    let bundle =
        crate::builder::bundle_for(project, &release_unless_asked(args), &trial.target, shell)?;
    bench_on(&trial, &bundle, args, project, shell)
}

/// The bundle's cases benched by root on the trial's device, every round
/// in one call, checked to be these cases.
fn bench_on(
    trial: &crate::session::Trial,
    bundle: &Path,
    args: &BenchOptions,
    project: &Project,
    shell: &Shell,
) -> Result<Times> {
    let (cases, expected) = cases::bundled_cases(project)?;
    let kern_dir = project.xdp_dir(&trial.target.name).join("kern");
    let (mut cases, _) = cases::with_variant_copies(cases, &kern_dir);
    cases.retain(|c| wanted(args, c));
    let mut times: Times = cases
        .iter()
        .map(|c| (c.spec.name.clone(), Vec::new(), Vec::new()))
        .collect();
    let (repeat, rounds) = (args.repeat.to_string(), args.rounds.to_string());
    shell.status(
        "Benching",
        format!(
            "{rounds} rounds of {} packets x {repeat} runs each, on {}'s kernel",
            cases.len(),
            trial.adb.serial()
        ),
    );
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut baseline = false;
    let bench = ["bench", repeat.as_str(), rounds.as_str()];
    crate::session::run_trial(trial, project, bundle, &[], &bench, &mut |line| {
        if let Some((sum, file)) = line
            .strip_prefix("cases-sha256: ")
            .and_then(|rest| rest.split_once(' '))
        {
            sums.insert(file.to_string(), sum.to_string());
        } else if line.starts_with("bench-program: ") {
            baseline = false;
        } else if line.starts_with("bench-baseline: ") {
            baseline = true;
        } else if let Ok(answer) = serde_json::from_str::<CaseAnswer>(line) {
            if let CaseAnswer::Skipped { case, skipped: why } = &answer {
                skipped.push((case.clone(), why.clone()));
            }
            let (name, Some(ns)) = (answer.case(), answer_ns(&answer)) else {
                return;
            };
            for (n, program, bare) in times.iter_mut() {
                // The baseline runs once per packet: its time pairs with
                // the case and with each kernel variant's copy of it.
                if baseline && (n == name || n.starts_with(&format!("{name} [kernel "))) {
                    bare.push(ns);
                } else if !baseline && n == name {
                    program.push(ns);
                }
            }
        }
    })?;
    cases::check_ran(&expected, &sums, trial.adb.serial())?;
    times.retain(|(name, _, _)| !skipped.iter().any(|(s, _)| s == name));
    if let Some((name, why)) = skipped.first() {
        shell.status(
            "Skipped",
            format!("{} case(s) such as `{name}`: {why}", skipped.len()),
        );
    }
    Ok(times)
}

fn status_round(shell: &Shell, round: u32, args: &BenchOptions, cases: usize) {
    shell.status(
        "Benching",
        format!(
            "round {} of {}: {cases} packets x {} runs each{}",
            round + 1,
            args.rounds,
            args.repeat,
            if args.device.is_some() {
                ", on the device"
            } else {
                ""
            }
        ),
    );
}

/// The mean ns per run of `object` on the case's packet.
#[allow(clippy::too_many_arguments)]
fn once(
    privilege: &Privilege,
    loader: &Path,
    object: &Path,
    case: &Case,
    repeat: u32,
    scratch: &Path,
    shell: &Shell,
    with_args: bool,
) -> Result<f64> {
    let text = cases::cases_text_with(case, repeat, with_args, true);
    let answers = local::test_run(
        privilege,
        loader,
        object,
        (&scratch.join("bench.txt"), &text),
        false,
        shell,
    )?;
    let answer = answers.first().context("the loader gave no answer")?;
    match (answer, answer_ns(answer)) {
        (CaseAnswer::Failed { error, .. }, _) => {
            bail!("cannot bench `{}`: {error}", case.spec.name)
        }
        (_, ns) => Ok(ns.unwrap_or_default()),
    }
}

/// [min, median, max] (the upper median of an even count).
pub fn spread(values: &[f64]) -> [f64; 3] {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    [
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fake::*;

    #[test]
    fn the_cpu_time_is_read_to_the_picosecond_and_the_kernel_mean_is_the_fallback() {
        let ran = |ns, cpu_ps| {
            CaseAnswer::Ran(cargo_xdp_wire::CaseRun {
                ns,
                cpu_ps,
                ..Default::default()
            })
        };
        assert_eq!(answer_ns(&ran(5, 5_837)), Some(5.837));
        assert_eq!(answer_ns(&ran(5, 0)), Some(5.0), "an older loader");
    }

    #[test]
    fn spread_is_min_median_max() {
        assert_eq!(spread(&[5.0, 1.0, 9.0, 3.0, 7.0]), [1.0, 5.0, 9.0]);
        assert_eq!(spread(&[4.0]), [4.0, 4.0, 4.0]);
    }

    #[test]
    fn a_device_bench_pairs_the_program_with_the_baseline_round_by_round() {
        let dir = tempfile::tempdir().unwrap();
        let tests = dir.path().join("demo_kern/tests");
        std::fs::create_dir_all(&tests).unwrap();
        std::fs::write(
            tests.join("demo.toml"),
            "[[case]]\nname = \"dns\"\npacket = { ipv4 = { src = \"10.0.0.1\", dst = \"10.0.0.2\" }, udp = { dst = 53 } }\nexpect = { action = \"drop\" }\n",
        )
        .unwrap();
        let project = project(dir.path());
        let (_, sums) = cases::bundled_cases(&project).unwrap();
        let round = format!(
            "bench-program: demo_kern.o\n{}\nbench-baseline: xdp-baseline.o\n{}\n",
            case_ran("dns", 1, 9),
            case_ran("dns", 2, 6)
        );
        let lines = format!(
            "cases-sha256: {} demo_kern.cases\nbench-round: 1\n{round}bench-round: 2\n{round}",
            sums[0].1
        );
        let device = FakeDevice::new(false, move |what| match what {
            "the staging" => answered("", 0),
            "the loader's `bench`" => answered(&lines, 0),
            other => panic!("asked {other}"),
        });
        let options = BenchOptions {
            filter: None,
            repeat: 1000,
            rounds: 2,
            target: None,
            device: Some(crate::session::DeviceChoice {
                ssh: None,
                serial: None,
                adb_timeout: 60,
            }),
            cargo: Default::default(),
            manifest_path: None,
        };
        let times = bench_on(
            &trial(device.clone()),
            &bundle(dir.path()),
            &options,
            &project,
            &quiet(),
        )
        .unwrap();
        assert_eq!(
            times,
            vec![("dns".to_string(), vec![9.0, 9.0], vec![6.0, 6.0])]
        );
        assert_eq!(
            device.asked(),
            ["the staging", "adb push", "the loader's `bench`"],
            "every round in one trial"
        );
    }
}

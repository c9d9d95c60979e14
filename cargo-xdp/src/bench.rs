//! `cargo xdp bench [FILTER]`: ns per packet of the project's program on
//! each packet test's packet, through BPF_PROG_TEST_RUN with a large
//! repeat, next to a bare `return XDP_PASS` program run on the same packet
//! in the same rounds, as a ratio. Rounds alternate the two, so a busy
//! machine slows both alike; the table has min, median and max.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};

use crate::{
    cli::BenchArgs,
    messages::Message,
    packet_test::{self, Case},
    project::Project,
    run::{self, Privilege},
    shell::Shell,
};

/// The baseline: the least an XDP program can do.
const BARE_PASS: &str = "\
/* Written by cargo xdp bench: the baseline every program is compared with. */
__attribute__((section(\"xdp\"), used)) int bare_pass(void *ctx) { return 2; /* XDP_PASS */ }
char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";
";

pub fn bench(args: &BenchArgs, shell: &Shell) -> Result<()> {
    let project = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
    let privilege = Privilege::acquire("`cargo xdp bench`", shell)?;
    let built = run::build_here(&args.cargo, args.manifest_path.as_deref(), shell)?;
    let mut cases = packet_test::project_cases(&project, &built.kern_objects)?;
    cases.retain(|c| {
        args.filter
            .as_deref()
            .is_none_or(|f| c.spec.name.contains(f))
    });
    if cases.is_empty() {
        bail!("no packet tests to bench with: `cargo xdp bench` times the packets of the cases in <kern dir>/tests/*.toml");
    }
    let scratch = crate::workdir::scratch_dir(&project.target_dir)?;
    let bare = compile_bare(scratch.path())?;

    let mut times: BTreeMap<&str, (Vec<u64>, Vec<u64>)> = BTreeMap::new();
    for round in 0..args.rounds {
        shell.status(
            "Benching",
            format!(
                "round {} of {}: {} packets x {} runs each",
                round + 1,
                args.rounds,
                cases.len(),
                args.repeat
            ),
        );
        for case in &cases {
            let program = once(
                &privilege,
                &built.loader,
                &case.object,
                case,
                args.repeat,
                scratch.path(),
                shell,
                true,
            )?;
            let baseline = once(
                &privilege,
                &built.loader,
                &bare,
                case,
                args.repeat,
                scratch.path(),
                shell,
                false,
            )?;
            let entry = times.entry(&case.spec.name).or_default();
            entry.0.push(program);
            entry.1.push(baseline);
        }
    }
    if shell.human() {
        println!(
            "{:<40} {:>22} {:>22} {:>7}",
            "packet (case)", "ns/packet min/med/max", "bare XDP_PASS", "ratio"
        );
    }
    for case in &cases {
        let (program, baseline) = &times[case.spec.name.as_str()];
        let (p, b) = (spread(program), spread(baseline));
        let ratio = p.1 as f64 / b.1.max(1) as f64;
        if shell.human() {
            println!(
                "{:<40} {:>22} {:>22} {:>6.2}x",
                case.spec.name,
                format!("{}/{}/{}", p.0, p.1, p.2),
                format!("{}/{}/{}", b.0, b.1, b.2),
                ratio
            );
        }
        shell.message(&Message::Bench {
            name: &case.spec.name,
            ns: [p.0, p.1, p.2],
            bare_ns: [b.0, b.1, b.2],
            ratio,
        });
    }
    Ok(())
}

/// The kernel's mean ns per run of `object` on the case's packet.
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
) -> Result<u64> {
    let text = packet_test::cases_text_with(case, repeat, with_args);
    let answers = packet_test::test_run(
        privilege,
        loader,
        object,
        &scratch.join("bench.txt"),
        &text,
        shell,
    )?;
    let answer = answers.first().context("the loader gave no answer")?;
    if let Some(error) = answer["error"].as_str() {
        bail!("cannot bench `{}`: {error}", case.spec.name);
    }
    answer["ns"]
        .as_u64()
        .context("the loader's answer has no time")
}

fn compile_bare(dir: &Path) -> Result<std::path::PathBuf> {
    let source = dir.join("bare_pass.c");
    let object = dir.join("bare_pass.o");
    std::fs::write(&source, BARE_PASS)?;
    let clang = crate::clang::locate()?;
    let status = std::process::Command::new(&clang)
        .args(["-O2", "-target", "bpf", "-c"])
        .arg(&source)
        .arg("-o")
        .arg(&object)
        .status()
        .with_context(|| format!("cannot run {}", clang.display()))?;
    if !status.success() {
        bail!(
            "{} could not compile the bare XDP_PASS baseline",
            clang.display()
        );
    }
    Ok(object)
}

/// (min, median, max).
fn spread(values: &[u64]) -> (u64, u64, u64) {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    (
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_min_median_max() {
        assert_eq!(spread(&[5, 1, 9, 3, 7]), (1, 5, 9));
        assert_eq!(spread(&[4]), (4, 4, 4));
    }
}

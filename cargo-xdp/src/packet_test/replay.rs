//! `test --pcap FILE`: a capture's frames through the program, in order, in
//! one set of maps, here or (with --adb) on a device's kernel.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::{bail, Context, Result};
use cargo_xdp_wire::CaseAnswer;

use super::TestOptions;
use crate::{
    builder,
    cases::Action,
    local::{test_run, Privilege},
    messages::Message,
    packets,
    project::Project,
    shell::Shell,
};

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
pub(super) fn replay(
    args: &TestOptions,
    project: &Project,
    pcap: &Path,
    shell: &Shell,
) -> Result<()> {
    let capture = crate::capture::read(pcap)?;
    if capture.frames.is_empty() {
        bail!("{} holds no frames to replay", pcap.display());
    }
    say_what_replays(&capture, pcap, shell);
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
    let answers = match &args.device {
        Some(choice) => super::device::replay_on(choice, args, project, text, shell)?,
        None => {
            let privilege = Privilege::acquire("`cargo xdp test --pcap`", shell)?;
            let built = builder::build_for_host(project, &args.cargo, shell)?;
            let scratch = crate::workdir::scratch_dir(&project.target_dir)?;
            test_run(
                &privilege,
                &built.loader,
                &built.kern_objects[0],
                &scratch.path().join("pcap.txt"),
                &text,
                shell,
            )?
        }
    };
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
            for (n, (verdict, frame)) in verdicts.iter().zip(&capture.frames).enumerate() {
                let what = packets::describe(frame, capture.link);
                println!("packet {}: {what}: {verdict}", n + 1);
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

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
                (&scratch.path().join("pcap.txt"), &text),
                false,
                shell,
            )?
        }
    };
    let answer = match answers.first().context("the loader gave no answer")? {
        CaseAnswer::Failed { error, .. } => bail!("could not replay {}: {error}", pcap.display()),
        CaseAnswer::Skipped { skipped, .. } => {
            bail!("could not replay {}: {skipped}", pcap.display())
        }
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
                let what = describe(frame, capture.link);
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

/// One line for a frame: `udp 192.0.2.1:40000 -> 192.0.2.2:5353`, `icmp
/// 10.0.0.1 -> 10.0.0.2`, or what the frame is when it is not IP.
fn describe(bytes: &[u8], link: packets::Link) -> String {
    let fields: std::collections::BTreeMap<String, String> =
        packets::fields_for(bytes, link).into_iter().collect();
    let get = |name: &str| fields.get(name).cloned();
    let (Some(src), Some(dst)) = (
        get("ipv4.src").or_else(|| get("ipv6.src")),
        get("ipv4.dst").or_else(|| get("ipv6.dst")),
    ) else {
        return format!("{} bytes, not IP", bytes.len());
    };
    for transport in ["udp", "tcp"] {
        if let (Some(sport), Some(dport)) = (
            get(&format!("{transport}.src")),
            get(&format!("{transport}.dst")),
        ) {
            return format!("{transport} {src}:{sport} -> {dst}:{dport}");
        }
    }
    let protocol = get("ipv4.protocol").map_or("ipv6".to_string(), |p| format!("ip proto {p}"));
    let protocol = match protocol.as_str() {
        "ip proto 1" => "icmp".to_string(),
        _ if fields.contains_key("icmpv6.type") => "icmpv6".to_string(),
        _ => protocol,
    };
    format!("{protocol} {src} -> {dst}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_described_in_one_line() {
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend([
            0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ]);
        frame.extend([0x9c, 0x40, 0x14, 0xe9, 0, 12, 0, 0, 1, 2, 3, 4]);
        assert_eq!(
            describe(&frame, packets::Link::Ethernet),
            "udp 192.0.2.1:40000 -> 192.0.2.2:5353"
        );
        assert_eq!(
            describe(&[0; 20], packets::Link::Ethernet),
            "20 bytes, not IP"
        );
    }
}

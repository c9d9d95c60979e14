//! This project's part of the loader: `traffic`, the kern side's per
//! protocol and port counters (the `traffic` map), once or `--watch`ed
//! with packets and bits a second.

use std::{collections::BTreeMap, thread, time::Instant};

use anyhow::{Context, Result};
use aya::maps::{MapData, PerCpuHashMap};
use cargo_xdp_loader::{args, xdp::Counter, Args, Extension, Project};

/// The stats template's additions to the loader.
pub struct Stats;

/// What main.rs hands the runtime.
pub static LOADER: Stats = Stats;

/// The kern side's `struct flow`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flow {
    proto: u8,
    pad: u8,
    port: u16,
}

// SAFETY: four bytes, no padding, every bit pattern valid.
unsafe impl aya::Pod for Flow {}

impl Extension for Stats {
    fn command_usage(&self) -> &str {
        "\n  {{loader}} traffic [--watch] [--interval SECS] [--count N] [--top N] [--json]"
    }

    fn help(&self) -> &str {
        "  `traffic` shows packets and bytes per IP protocol and destination port
  (most packets first, --top N of them, default 20); --watch prints them
  again every --interval with packets and bits a second.
"
    }

    fn command(&self, project: &Project, name: &str, args: Args) -> Option<Result<()>> {
        (name == "traffic").then(|| traffic_command(project, args))
    }
}

type Totals = BTreeMap<Flow, Counter>;

/// Every flow's counters, summed over CPUs.
fn read(project: &Project) -> Result<Totals> {
    let map: PerCpuHashMap<MapData, Flow, Counter> =
        PerCpuHashMap::try_from(project.pinned_map("traffic")?)?;
    let mut totals = Totals::new();
    for entry in map.iter() {
        let (flow, per_cpu) = entry.context("cannot read the traffic map")?;
        let total = totals.entry(flow).or_default();
        for c in per_cpu.iter() {
            total.packets += c.packets;
            total.bytes += c.bytes;
        }
    }
    Ok(totals)
}

fn traffic_command(project: &Project, mut args: Args) -> Result<()> {
    cargo_xdp_loader::xdp::require_root()?;
    let watch = args.flag("--watch");
    let json = args.flag("--json");
    let interval = match args.value("--interval")? {
        Some(text) => args::seconds(&text)
            .filter(|d| !d.is_zero())
            .context("--interval takes seconds, e.g. 1 or 0.5")?,
        None => std::time::Duration::from_secs(1),
    };
    let count: Option<u64> = args
        .value("--count")?
        .map(|c| c.parse().context("--count takes a number"))
        .transpose()?;
    let top: usize = args
        .value("--top")?
        .map(|c| c.parse().context("--top takes a number"))
        .transpose()?
        .unwrap_or(20);
    args.finish()?;
    let mut previous: Option<(Totals, Instant)> = None;
    let mut printed = 0;
    loop {
        let now = (read(project)?, Instant::now());
        print(&now.0, previous.as_ref(), top, json);
        printed += 1;
        if !watch || count.is_some_and(|c| printed >= c) {
            return Ok(());
        }
        previous = Some(now);
        thread::sleep(interval);
    }
}

fn print(totals: &Totals, previous: Option<&(Totals, Instant)>, top: usize, json: bool) {
    let mut rows: Vec<(&Flow, &Counter)> = totals.iter().collect();
    rows.sort_by(|a, b| b.1.packets.cmp(&a.1.packets).then(a.0.cmp(b.0)));
    rows.truncate(top);
    let rates = |flow: &Flow, c: &Counter| {
        previous.map(|(before, at)| {
            let was = before.get(flow).copied().unwrap_or_default();
            let millis = (at.elapsed().as_millis() as u64).max(1);
            let pps = c.packets.saturating_sub(was.packets) * 1000 / millis;
            let bps = c.bytes.saturating_sub(was.bytes) * 8 * 1000 / millis;
            (pps, bps)
        })
    };
    if json {
        let items: Vec<String> = rows
            .iter()
            .map(|(flow, c)| {
                let rate = rates(flow, c)
                    .map(|(pps, bps)| format!(r#","pps":{pps},"bps":{bps}"#))
                    .unwrap_or_default();
                format!(
                    r#"{{"protocol":"{}","port":{},"packets":{},"bytes":{}{rate}}}"#,
                    protocol_name(flow.proto),
                    flow.port,
                    c.packets,
                    c.bytes
                )
            })
            .collect();
        println!("[{}]", items.join(","));
        return;
    }
    println!(
        "{:<10} {:>6} {:>14} {:>16} {:>10} {:>12}",
        "PROTOCOL", "PORT", "PACKETS", "BYTES", "PKT/S", "BIT/S"
    );
    for (flow, c) in rows {
        let (pps, bps) = match rates(flow, c) {
            Some((pps, bps)) => (pps.to_string(), bps.to_string()),
            None => ("-".into(), "-".into()),
        };
        let port = if flow.port == 0 { "-".to_string() } else { flow.port.to_string() };
        println!(
            "{:<10} {port:>6} {:>14} {:>16} {pps:>10} {bps:>12}",
            protocol_name(flow.proto),
            c.packets,
            c.bytes
        );
    }
}

fn protocol_name(proto: u8) -> String {
    match proto {
        0 => "non-ip".into(),
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        other => format!("proto {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_have_names() {
        assert_eq!(protocol_name(17), "udp");
        assert_eq!(protocol_name(132), "proto 132");
    }
}

//! icmp-guard's part of the loader: the networks allowed to ping (the kern
//! side's LPM tries `allow_v4` and `allow_v6`) and the per-type ICMP
//! counters (`icmp_types`).
//!
//!     icmp-guard-user attach wlan0 --allow 192.168.1.0/24
//!     icmp-guard-user allow 10.8.0.0/16          # one more, while attached
//!     icmp-guard-user allow --delete 10.8.0.0/16
//!     icmp-guard-user icmp                        # seen and dropped per type

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Context, Result};
use aya::maps::{
    lpm_trie::{Key, LpmTrie},
    MapData, PerCpuArray,
};

use cargo_xdp_loader::{Args, AttachOptions, Extension, Project};

pub struct Guard;

/// What main.rs hands the runtime.
pub static LOADER: Guard = Guard;

impl Extension for Guard {
    fn attach_usage(&self) -> &str {
        " [--allow CIDR]..."
    }

    fn command_usage(&self) -> &str {
        "\n  icmp-guard-user allow [--delete | --clear] [CIDR]...\n  icmp-guard-user icmp [--json]"
    }

    fn help(&self) -> &str {
        "  --allow CIDR    answer pings from this network, e.g. 192.168.1.0/24 or fd00::/8
                  (repeatable); pings from anywhere else are dropped
  `allow` lists the allowed networks; with CIDRs it adds them (--delete
  removes them), --clear removes all. `icmp` shows, per ICMP and ICMPv6
  type, the packets seen and dropped. Redirects are dropped as well; attach
  with --set drop_redirects=0 to let them through.
"
    }

    fn attach_options(&self, args: &mut Args) -> Result<Box<dyn AttachOptions>> {
        let allowed = args
            .values("--allow")?
            .iter()
            .map(|text| parse_network(text))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Allowed(allowed)))
    }

    fn command(&self, project: &Project, name: &str, args: Args) -> Option<Result<()>> {
        match name {
            "allow" => Some(allow_command(project, args)),
            "icmp" => Some(icmp_command(project, args)),
            _ => None,
        }
    }
}

/// A network: its address with the host bits cleared, and the prefix length.
type Network = (IpAddr, u8);

/// The networks given to `attach --allow`.
struct Allowed(Vec<Network>);

impl AttachOptions for Allowed {
    fn apply(&self, project: &Project) -> Result<()> {
        write_networks(project, &self.0, true)
    }

    fn describe(&self) -> String {
        if self.0.is_empty() {
            " (pings answered from nowhere: add networks with `allow`)".into()
        } else {
            let names: Vec<String> = self.0.iter().map(|(a, l)| format!("{a}/{l}")).collect();
            format!(" (pings answered from {})", names.join(", "))
        }
    }
}

/// `allow`: list, add, `--delete` or `--clear` allowed networks.
fn allow_command(project: &Project, mut args: Args) -> Result<()> {
    cargo_xdp_loader::xdp::require_root()?;
    let clear = args.flag("--clear");
    let delete = args.flag("--delete");
    let mut given = Vec::new();
    while let Some(text) = args.positional() {
        given.push(parse_network(&text)?);
    }
    args.finish()?;
    if delete && given.is_empty() {
        bail!("--delete needs the networks to remove, e.g. `allow --delete 10.8.0.0/16`");
    }
    if clear {
        write_networks(project, &read_networks(project)?, false)?;
    }
    write_networks(project, &given, !delete)?;
    let now = read_networks(project)?;
    if now.is_empty() {
        println!("no network allowed: every echo request is dropped");
    }
    for (address, length) in now {
        println!("allow {address}/{length}");
    }
    Ok(())
}

/// Adds (`allow`) or removes networks, each in its family's trie. Additions
/// must fit the trie's max_entries: checked first, so it is all or nothing.
fn write_networks(project: &Project, networks: &[Network], allow: bool) -> Result<()> {
    let mut v4: LpmTrie<MapData, [u8; 4], u32> =
        LpmTrie::try_from(project.pinned_map("allow_v4")?)?;
    let mut v6: LpmTrie<MapData, [u8; 16], u32> =
        LpmTrie::try_from(project.pinned_map("allow_v6")?)?;
    if allow {
        let now = read_networks(project)?;
        let mut fresh: Vec<&Network> = networks.iter().filter(|n| !now.contains(n)).collect();
        fresh.sort_unstable();
        fresh.dedup();
        for (map, ipv4) in [("allow_v4", true), ("allow_v6", false)] {
            let have = now.iter().filter(|(a, _)| a.is_ipv4() == ipv4).count();
            let adding = fresh.iter().filter(|(a, _)| a.is_ipv4() == ipv4).count();
            let max = aya::maps::MapInfo::from_pin(project.maps_dir().join(map))
                .with_context(|| format!("cannot read the map {map}"))?
                .max_entries() as usize;
            if adding > 0 && have + adding > max {
                bail!(
                    "{map} holds at most {max} networks and has {have}: the {adding} new ones do \
                     not fit; nothing was written. Remove some (`allow --delete`), or raise \
                     max_entries of {map} in icmp-guard-kern.c"
                );
            }
        }
    }
    for &(address, length) in networks {
        let length = u32::from(length);
        let result = match address {
            IpAddr::V4(a) if allow => v4.insert(&Key::new(length, a.octets()), 1, 0),
            IpAddr::V6(a) if allow => v6.insert(&Key::new(length, a.octets()), 1, 0),
            // Removing what is not there is not an error.
            IpAddr::V4(a) => v4.remove(&Key::new(length, a.octets())).or(Ok(())),
            IpAddr::V6(a) => v6.remove(&Key::new(length, a.octets())).or(Ok(())),
        };
        result.with_context(|| format!("cannot update the allowed network {address}/{length}"))?;
    }
    Ok(())
}

/// The allowed networks, IPv4 first, each family in address order.
fn read_networks(project: &Project) -> Result<Vec<Network>> {
    let mut networks = Vec::new();
    let v4: LpmTrie<MapData, [u8; 4], u32> = LpmTrie::try_from(project.pinned_map("allow_v4")?)?;
    for key in v4.keys() {
        let key = key?;
        networks.push((Ipv4Addr::from(key.data()).into(), key.prefix_len() as u8));
    }
    let v6: LpmTrie<MapData, [u8; 16], u32> = LpmTrie::try_from(project.pinned_map("allow_v6")?)?;
    for key in v6.keys() {
        let key = key?;
        networks.push((Ipv6Addr::from(key.data()).into(), key.prefix_len() as u8));
    }
    networks.sort_unstable();
    Ok(networks)
}

/// The kern side's `struct icmp_count`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IcmpCount {
    seen: u64,
    dropped: u64,
}

// SAFETY: two u64s, no padding, every bit pattern valid.
unsafe impl aya::Pod for IcmpCount {}

/// `icmp`: per type seen (summed over CPUs), a table or `--json`.
fn icmp_command(project: &Project, mut args: Args) -> Result<()> {
    cargo_xdp_loader::xdp::require_root()?;
    let json = args.flag("--json");
    args.finish()?;
    let counts: PerCpuArray<MapData, IcmpCount> =
        PerCpuArray::try_from(project.pinned_map("icmp_types")?)?;
    let mut rows = Vec::new();
    for slot in 0..512u32 {
        let mut total = IcmpCount::default();
        for per_cpu in counts.get(&slot, 0)?.iter() {
            total.seen += per_cpu.seen;
            total.dropped += per_cpu.dropped;
        }
        if total.seen > 0 {
            rows.push((slot, total));
        }
    }
    if json {
        let fields: Vec<String> = rows
            .iter()
            .map(|(slot, c)| {
                format!(
                    r#"{{"type":"{}","seen":{},"dropped":{}}}"#,
                    type_name(*slot),
                    c.seen,
                    c.dropped
                )
            })
            .collect();
        println!("[{}]", fields.join(","));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no ICMP seen yet");
        return Ok(());
    }
    println!("{:<28} {:>12} {:>12}", "TYPE", "SEEN", "DROPPED");
    for (slot, c) in rows {
        println!("{:<28} {:>12} {:>12}", type_name(slot), c.seen, c.dropped);
    }
    Ok(())
}

/// "icmp echo-request", "icmpv6 neighbor-solicit", "icmp 42" for a slot of
/// `icmp_types` (0-255 ICMP, 256-511 ICMPv6).
fn type_name(slot: u32) -> String {
    let (family, kind) = if slot < 256 {
        ("icmp", slot)
    } else {
        ("icmpv6", slot - 256)
    };
    let name = match (family, kind) {
        ("icmp", 0) => "echo-reply",
        ("icmp", 3) => "unreachable",
        ("icmp", 5) => "redirect",
        ("icmp", 8) => "echo-request",
        ("icmp", 11) => "time-exceeded",
        ("icmpv6", 1) => "unreachable",
        ("icmpv6", 2) => "packet-too-big",
        ("icmpv6", 3) => "time-exceeded",
        ("icmpv6", 128) => "echo-request",
        ("icmpv6", 129) => "echo-reply",
        ("icmpv6", 133) => "router-solicit",
        ("icmpv6", 134) => "router-advert",
        ("icmpv6", 135) => "neighbor-solicit",
        ("icmpv6", 136) => "neighbor-advert",
        ("icmpv6", 137) => "redirect",
        _ => return format!("{family} {kind}"),
    };
    format!("{family} {name}")
}

/// `192.168.1.7/24` → (192.168.1.0, 24); a bare address is a /32 or /128.
fn parse_network(text: &str) -> Result<Network> {
    let (address, length) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let address: IpAddr = address
        .parse()
        .with_context(|| format!("`{text}` is not a network (e.g. 192.168.1.0/24, fd00::/8)"))?;
    let bits = if address.is_ipv4() { 32 } else { 128 };
    let length: u8 = match length {
        None => bits,
        Some(l) => l
            .parse()
            .ok()
            .filter(|&l| l <= bits)
            .with_context(|| format!("`{text}`: the prefix length must be 0-{bits}"))?,
    };
    let address = match address {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    };
    Ok((address, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_keep_only_their_network_bits() {
        assert_eq!(
            parse_network("192.168.1.7/24").unwrap(),
            ("192.168.1.0".parse().unwrap(), 24)
        );
        assert_eq!(
            parse_network("10.0.0.1").unwrap(),
            ("10.0.0.1".parse().unwrap(), 32)
        );
        assert_eq!(
            parse_network("fd00:1:2::9/16").unwrap(),
            ("fd00::".parse().unwrap(), 16)
        );
        assert_eq!(parse_network("0.0.0.0/0").unwrap().1, 0);
    }

    #[test]
    fn bad_networks_say_what_a_good_one_looks_like() {
        let error = |text| parse_network(text).unwrap_err().to_string();
        assert!(error("wlan0").contains("is not a network (e.g. 192.168.1.0/24"));
        assert!(error("10.0.0.0/33").contains("prefix length must be 0-32"));
        assert!(error("fd00::/129").contains("0-128"));
        assert!(error("10.0.0.0/x").contains("0-32"));
    }

    #[test]
    fn slots_are_named_by_family_and_type() {
        assert_eq!(type_name(8), "icmp echo-request");
        assert_eq!(type_name(256 + 128), "icmpv6 echo-request");
        assert_eq!(type_name(256 + 137), "icmpv6 redirect");
        assert_eq!(type_name(42), "icmp 42");
    }

    #[test]
    fn attach_reads_every_allow() {
        let mut args =
            Args::new(["--allow", "10.0.0.0/8", "--allow=fd00::/8", "wlan0"].map(String::from));
        let options = Guard.attach_options(&mut args).unwrap();
        assert_eq!(
            options.describe(),
            " (pings answered from 10.0.0.0/8, fd00::/8)"
        );
        assert_eq!(args.positional().as_deref(), Some("wlan0"));
        assert!(Guard
            .attach_options(&mut Args::new(["--allow", "x"].map(String::from)))
            .is_err());
    }
}

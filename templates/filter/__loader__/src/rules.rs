//! This project's part of the loader: drop rules, kept in the kern side's
//! maps `drop_proto` (IP protocol), `drop_port` (protocol/destination port)
//! and `drop_src_v4` / `drop_src_v6` (source prefixes). `Filter` tells the
//! runtime (cargo-xdp-loader) about the `attach` options and the `rules`
//! command; everything else a loader does is the runtime's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Context, Result};
use aya::maps::{
    lpm_trie::{Key, LpmTrie},
    Array, MapData,
};

use cargo_xdp_loader::{Args, AttachOptions, Extension, Project};

/// The filter's additions to the loader.
pub struct Filter;

/// What main.rs hands the runtime.
pub static LOADER: Filter = Filter;

impl Extension for Filter {
    fn attach_usage(&self) -> &str {
        "\n         [--drop-proto PROTO]... [--drop-port PROTO/PORT]... [--drop-src CIDR]..."
    }

    fn command_usage(&self) -> &str {
        "\n  {{loader}} rules [--clear] [--delete] [--drop-proto ...] [--drop-port ...] [--drop-src ...]"
    }

    fn help(&self) -> &str {
        "  --drop-proto P  drop an IP protocol: icmp, icmpv6, tcp, udp or a number (repeatable)
  --drop-port P/N drop TCP or UDP to a destination port, e.g. udp/9999 (repeatable)
  --drop-src CIDR drop from a source prefix, e.g. 10.0.0.0/8 or fd00::/8 (repeatable)
  An attach's rules replace those in force. `rules` lists them; with rule
  options it adds them (--delete removes them instead), --clear removes all.
  Rules stay until the last detach.
"
    }

    fn attach_options(&self, args: &mut Args) -> Result<Box<dyn AttachOptions>> {
        Ok(Box::new(Rules::parse(args)?))
    }

    fn command(&self, project: &Project, name: &str, args: Args) -> Option<Result<()>> {
        (name == "rules").then(|| command(self, project, args))
    }

    /// The kernel 5.2+ variant reads its rules from global data: each
    /// program's copy, laid out from the maps.
    fn global_data_sections(&self) -> &[&str] {
        &[RULES_SECTION]
    }

    fn fill_global_data(&self, project: &Project, _section: &str, data: &mut [u8]) -> Result<()> {
        Rules::read(project)?.lay_out(data)
    }
}

#[derive(Default)]
pub struct Rules {
    protocols: Vec<u8>,
    ports: Vec<(u8, u16)>,
    sources: Vec<(IpAddr, u8)>,
}

impl Rules {
    pub fn parse(args: &mut Args) -> Result<Rules> {
        let mut rules = Rules::default();
        for text in args.values("--drop-proto")? {
            rules.protocols.push(parse_protocol(&text)?);
        }
        for text in args.values("--drop-port")? {
            rules.ports.push(parse_port(&text)?);
        }
        for text in args.values("--drop-src")? {
            rules.sources.push(parse_prefix(&text)?);
        }
        Ok(rules)
    }

    fn is_empty(&self) -> bool {
        self.protocols.is_empty() && self.ports.is_empty() && self.sources.is_empty()
    }


    /// Adds (`drop` = true) or removes these rules. Added rules must all
    /// fit their maps, checked before anything is written: all or nothing.
    fn write(&self, project: &Project, drop: bool) -> Result<()> {
        if drop {
            self.check_capacity(project)?;
        }
        let flag = u32::from(drop);
        if !self.protocols.is_empty() {
            let mut map: Array<MapData, u32> = Array::try_from(project.pinned_map("drop_proto")?)?;
            for &protocol in &self.protocols {
                map.set(u32::from(protocol), flag, 0)?;
            }
        }
        if !self.ports.is_empty() {
            let mut map: Array<MapData, u64> = Array::try_from(project.pinned_map("drop_port")?)?;
            for &(protocol, port) in &self.ports {
                let (word, bit) = port_bit(protocol, port);
                let bits = map.get(&word, 0)?;
                let bits = if drop { bits | bit } else { bits & !bit };
                map.set(word, bits, 0)?;
            }
        }
        for &(address, prefix) in &self.sources {
            match address {
                IpAddr::V4(v4) => write_prefix(project, "drop_src_v4", prefix, v4.octets(), drop)?,
                IpAddr::V6(v6) => write_prefix(project, "drop_src_v6", prefix, v6.octets(), drop)?,
            }
        }
        Rules::read(project)?.write_kinds(project)
    }

    /// `rule_kinds`: which maps hold rules, so the program skips the others.
    fn write_kinds(&self, project: &Project) -> Result<()> {
        let mut map: Array<MapData, u32> = Array::try_from(project.pinned_map("rule_kinds")?)?;
        map.set(0, self.kinds(), 0)?;
        Ok(())
    }

    /// The RULES_* bits of the kinds of rule there are.
    fn kinds(&self) -> u32 {
        let mut kinds = 0;
        for (present, bit) in [
            (!self.protocols.is_empty(), RULES_PROTO),
            (!self.ports.is_empty(), RULES_PORT),
            (self.sources.iter().any(|(a, _)| a.is_ipv4()), RULES_SRC_V4),
            (self.sources.iter().any(|(a, _)| a.is_ipv6()), RULES_SRC_V6),
        ] {
            if present {
                kinds |= bit;
            }
        }
        kinds
    }

    /// These rules as the kern side's `struct rule_copy` (global data of
    /// the 5.2+ variant): kinds, protocol bits, port bits (as `drop_port`).
    fn lay_out(&self, data: &mut [u8]) -> Result<()> {
        let words = 1 + PROTO_WORDS + 2 * PORT_WORDS as usize;
        if data.len() != words * 8 {
            bail!(
                "{RULES_SECTION} is {} bytes, not the {} of struct rule_copy that rules.rs \
                 writes: keep the two in step",
                data.len(),
                words * 8
            );
        }
        let mut copy = vec![0u64; words];
        for &protocol in &self.protocols {
            copy[1 + usize::from(protocol / 64)] |= 1 << (protocol % 64);
        }
        for &(protocol, port) in &self.ports {
            let (word, bit) = port_bit(protocol, port);
            copy[1 + PROTO_WORDS + word as usize] |= bit;
        }
        for (chunk, word) in data.chunks_mut(8).zip(copy) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        // Word 0: kinds (a __u32), then 4 unused bytes.
        data[..4].copy_from_slice(&self.kinds().to_ne_bytes());
        Ok(())
    }


    fn names(&self) -> Vec<String> {
        let protocols = self.protocols.iter().map(|&p| protocol_name(p));
        let ports = self
            .ports
            .iter()
            .map(|&(p, port)| format!("{}/{port}", protocol_name(p)));
        let sources = self
            .sources
            .iter()
            .map(|(a, len)| format!("from {a}/{len}"));
        protocols.chain(ports).chain(sources).collect()
    }

    /// Each prefix map holds at most its `max_entries` (1,024 per address
    /// family): what is there plus what is new must fit, or nothing is
    /// written. (Ports are bits of a bitmap: every port fits.)
    fn check_capacity(&self, project: &Project) -> Result<()> {
        let now = Rules::read(project)?;
        let v4 = |r: &Rules| -> Vec<(IpAddr, u8)> {
            r.sources.iter().filter(|(a, _)| a.is_ipv4()).copied().collect()
        };
        let v6 = |r: &Rules| -> Vec<(IpAddr, u8)> {
            r.sources.iter().filter(|(a, _)| a.is_ipv6()).copied().collect()
        };
        let fits = |map: &str, have: usize, adding: usize| -> Result<()> {
            if adding == 0 {
                return Ok(());
            }
            let info = aya::maps::MapInfo::from_pin(project.maps_dir().join(map))
                .with_context(|| format!("cannot read the map {map}"))?;
            let max = info.max_entries() as usize;
            if have + adding > max {
                bail!(
                    "{map} holds at most {max} rules and has {have}: the {adding} new ones do not \
                     fit ({} too many); nothing was written. Remove rules first (`rules --delete`, \
                     `rules --clear`), or raise max_entries of {map} in the kern source",
                    have + adding - max
                );
            }
            Ok(())
        };
        let new = |have: &[(IpAddr, u8)], given: Vec<(IpAddr, u8)>| {
            let mut fresh: Vec<(IpAddr, u8)> = given.into_iter().filter(|s| !have.contains(s)).collect();
            // The runtime's sort: std's would add its own code per type.
            cargo_xdp_loader::sort_short(&mut fresh);
            fresh.dedup();
            fresh.len()
        };
        fits("drop_src_v4", v4(&now).len(), new(&v4(&now), v4(self)))?;
        fits("drop_src_v6", v6(&now).len(), new(&v6(&now), v6(self)))?;
        Ok(())
    }

    /// The rules currently in the maps.
    fn read(project: &Project) -> Result<Rules> {
        let mut rules = Rules::default();
        let protocols: Array<MapData, u32> = Array::try_from(project.pinned_map("drop_proto")?)?;
        for protocol in 0..=255u8 {
            if protocols.get(&u32::from(protocol), 0)? != 0 {
                rules.protocols.push(protocol);
            }
        }
        let ports: Array<MapData, u64> = Array::try_from(project.pinned_map("drop_port")?)?;
        for (word, bits) in ports.iter().enumerate() {
            let bits = bits?;
            for bit in (0..64).filter(|b| (bits >> b) & 1 == 1) {
                let protocol = if word < PORT_WORDS as usize { 6 } else { 17 };
                let port = (word % PORT_WORDS as usize) as u32 * 64 + bit;
                rules.ports.push((protocol, port as u16));
            }
        }
        let v4: LpmTrie<MapData, [u8; 4], u32> =
            LpmTrie::try_from(project.pinned_map("drop_src_v4")?)?;
        for key in v4.keys() {
            let key = key?;
            rules
                .sources
                .push((Ipv4Addr::from(key.data()).into(), key.prefix_len() as u8));
        }
        let v6: LpmTrie<MapData, [u8; 16], u32> =
            LpmTrie::try_from(project.pinned_map("drop_src_v6")?)?;
        for key in v6.keys() {
            let key = key?;
            rules
                .sources
                .push((Ipv6Addr::from(key.data()).into(), key.prefix_len() as u8));
        }
        // Ports are in order already (TCP's words first, each low bit first).
        cargo_xdp_loader::sort_short(&mut rules.sources);
        Ok(rules)
    }
}

impl AttachOptions for Rules {
    /// The rules given to `attach` are the whole rule set: those of an
    /// earlier attach are removed, these written, before the first packet.
    fn apply(&self, project: &Project) -> Result<()> {
        Rules::read(project)?.write(project, false)?;
        self.write(project, true)
    }

    /// " (drop icmp, udp/9999)" for the attach message; empty without rules.
    fn describe(&self) -> String {
        let all = self.names();
        if all.is_empty() {
            String::new()
        } else {
            format!(" (drop {})", all.join(", "))
        }
    }
}

/// `rules`: list, add (`--drop-*`), remove (`--delete --drop-*`) or `--clear`.
fn command(filter: &Filter, project: &Project, mut args: Args) -> Result<()> {
    cargo_xdp_loader::xdp::require_root()?;
    let clear = args.flag("--clear");
    let delete = args.flag("--delete");
    let given = Rules::parse(&mut args)?;
    args.finish()?;
    if clear {
        Rules::read(project)?.write(project, false)?;
    }
    if !given.is_empty() {
        given.write(project, !delete)?;
    } else if delete {
        bail!("--delete needs the rules to remove, e.g. --delete --drop-port udp/9999");
    }
    // The 5.2+ variant's copies of the rules, in every attached program.
    cargo_xdp_loader::global_data::refresh_attached(filter, project)?;
    let now = Rules::read(project)?;
    if now.is_empty() {
        println!("no rules: every packet passes");
    }
    for rule in now.names() {
        println!("drop {rule}");
    }
    Ok(())
}

/// Adds or removes one source prefix in the LPM trie `map`.
fn write_prefix<A: aya::Pod>(
    project: &Project,
    map: &str,
    prefix: u8,
    address: A,
    drop: bool,
) -> Result<()> {
    let mut trie: LpmTrie<MapData, A, u32> = LpmTrie::try_from(project.pinned_map(map)?)?;
    let key = Key::new(u32::from(prefix), address);
    if drop {
        trie.insert(&key, 1, 0)?;
    } else {
        let _ = trie.remove(&key);
    }
    Ok(())
}

/// The kern side's RULES_* bits of `rule_kinds`.
const RULES_PROTO: u32 = 1;
const RULES_PORT: u32 = 2;
const RULES_SRC_V4: u32 = 4;
const RULES_SRC_V6: u32 = 8;

/// Words of `drop_port` per protocol (TCP's, then UDP's): 65,536 bits.
const PORT_WORDS: u32 = 1024;

/// The 5.2+ variant's global data: `struct rule_copy rules`.
const RULES_SECTION: &str = ".bss.rules";

/// Words of protocol bits in `struct rule_copy` (256 protocols).
const PROTO_WORDS: usize = 4;

/// `drop_port`'s word and bit for a TCP (6) or UDP (17) port.
fn port_bit(protocol: u8, port: u16) -> (u32, u64) {
    let base = if protocol == 6 { 0 } else { PORT_WORDS };
    (base + u32::from(port) / 64, 1 << (port % 64))
}

fn parse_protocol(text: &str) -> Result<u8> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "icmpv6" | "ipv6-icmp" => 58,
        number => number.parse().with_context(|| {
            format!("unknown protocol `{text}`: use icmp, icmpv6, tcp, udp or a number 0-255")
        })?,
    })
}

fn protocol_name(protocol: u8) -> String {
    match protocol {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        other => format!("proto {other}"),
    }
}

fn parse_port(text: &str) -> Result<(u8, u16)> {
    let fix = "use PROTO/PORT with PROTO tcp or udp, e.g. udp/9999";
    let (protocol, port) = text
        .split_once('/')
        .with_context(|| format!("`{text}`: {fix}"))?;
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        _ => bail!("`{text}`: {fix}"),
    };
    let port: u16 = port
        .parse()
        .with_context(|| format!("`{text}`: port must be 1-65535"))?;
    if port == 0 {
        bail!("`{text}`: port must be 1-65535");
    }
    Ok((protocol, port))
}

fn parse_prefix(text: &str) -> Result<(IpAddr, u8)> {
    let (address, length) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().with_context(|| {
        format!("`{text}` is not an address or prefix (e.g. 10.0.0.0/8, fd00::/8)")
    })?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let length: u8 = match length {
        Some(l) => l
            .parse()
            .ok()
            .filter(|&l| l <= max)
            .with_context(|| format!("`{text}`: prefix length must be 0-{max}"))?,
        None => max,
    };
    // Keep only the network bits, so listing shows what is matched.
    let address = match address {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(length))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(length))),
    };
    Ok((address, length))
}

fn mask32(length: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0)
}

fn mask128(length: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_bits_tcp_first_then_udp() {
        assert_eq!(port_bit(6, 0), (0, 1));
        assert_eq!(port_bit(6, 65), (1, 2));
        assert_eq!(port_bit(17, 9999), (PORT_WORDS + 156, 1 << 15));
        assert_eq!(port_bit(17, 65535), (2 * PORT_WORDS - 1, 1 << 63));
    }

    #[test]
    fn rules_are_read_from_the_command_line() {
        let mut args = Args::new(
            ["--drop-proto", "icmp", "--drop-port", "udp/53", "--drop-src", "10.1.2.3/8"].map(String::from),
        );
        let rules = Rules::parse(&mut args).unwrap();
        assert_eq!(rules.names(), ["icmp", "udp/53", "from 10.0.0.0/8"]);
        assert!(parse_port("udp/0").is_err() && parse_port("sctp/1").is_err());
        assert!(parse_prefix("10.0.0.0/33").is_err());
    }

    #[test]
    fn the_global_copy_has_each_rule_where_the_kern_side_reads_it() {
        let mut args = Args::new(
            ["--drop-proto", "icmp", "--drop-port", "udp/9999", "--drop-src", "fd00::/8"].map(String::from),
        );
        let rules = Rules::parse(&mut args).unwrap();
        let mut data = vec![0xff; (1 + PROTO_WORDS + 2 * PORT_WORDS as usize) * 8];
        rules.lay_out(&mut data).unwrap();
        let word = |i: usize| u64::from_ne_bytes(data[i * 8..i * 8 + 8].try_into().unwrap());
        let kinds = u32::from_ne_bytes(data[..4].try_into().unwrap());
        assert_eq!(kinds, RULES_PROTO | RULES_PORT | RULES_SRC_V6);
        assert_eq!(data[4..8], [0; 4]);
        assert_eq!(word(1), 1 << 1);
        assert_eq!(word(1 + PROTO_WORDS + PORT_WORDS as usize + 156), 1 << 15);
        assert!(rules.lay_out(&mut [0; 8]).is_err());
    }
}

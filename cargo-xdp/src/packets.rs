//! Packets of `cargo xdp test` cases: written by layers (Ethernet, up to two
//! VLAN tags, IPv4 or IPv6, UDP, TCP, ICMP or ICMPv6, payload) with lengths
//! and checksums filled in by etherparse, or given as hex; and read back by
//! field, so a failed case says which field differs.

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Context, Result};
use etherparse::{IpNumber, PacketBuilder};
use serde::Deserialize;

/// A packet as a case file writes it.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PacketSpec {
    /// The whole frame, in hex (then no layer may be given).
    pub hex: Option<String>,
    pub eth: Option<Ethernet>,
    /// 802.1Q tags, outer first (at most two: 802.1ad + 802.1Q).
    #[serde(default)]
    pub vlan: Vec<u16>,
    pub ipv4: Option<Ipv4>,
    pub ipv6: Option<Ipv6>,
    pub udp: Option<Ports>,
    pub tcp: Option<Ports>,
    pub icmp: Option<Icmp>,
    pub icmpv6: Option<Icmp>,
    /// The payload as text.
    pub payload: Option<String>,
    /// The payload in hex.
    pub payload_hex: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Ethernet {
    pub src: Option<String>,
    pub dst: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    #[serde(default = "default_ttl")]
    pub ttl: u8,
    /// Written over the computed header checksum / total length.
    pub checksum: Option<u16>,
    pub length: Option<u16>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Ipv6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    #[serde(default = "default_ttl")]
    pub hop_limit: u8,
}

fn default_ttl() -> u8 {
    64
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    #[serde(default = "default_port")]
    pub src: u16,
    pub dst: u16,
    /// Written over the computed checksum (and, for UDP, length).
    pub checksum: Option<u16>,
    pub length: Option<u16>,
}

fn default_port() -> u16 {
    40000
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Icmp {
    /// `echo-request`, `echo-reply`, or a type number.
    #[serde(rename = "type")]
    pub kind: IcmpType,
    #[serde(default)]
    pub code: u8,
    #[serde(default)]
    pub id: u16,
    #[serde(default)]
    pub seq: u16,
    /// Written over the computed checksum.
    pub checksum: Option<u16>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum IcmpType {
    Named(String),
    Number(u8),
}

const DEFAULT_SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DEFAULT_DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

impl PacketSpec {
    /// The IP layer as etherparse writes it.
    fn ip_headers(&self) -> Result<etherparse::IpHeaders> {
        Ok(match (&self.ipv4, &self.ipv6) {
            (Some(_), Some(_)) => bail!("a packet has `ipv4` or `ipv6`, not both"),
            (None, None) => bail!(
                "the packet has no `ipv4` or `ipv6` layer: give one, or the whole frame as `hex`"
            ),
            (Some(v4), None) => etherparse::IpHeaders::Ipv4(
                etherparse::Ipv4Header::new(
                    0,
                    v4.ttl,
                    IpNumber(0),
                    v4.src.octets(),
                    v4.dst.octets(),
                )
                .context("ipv4")?,
                Default::default(),
            ),
            (None, Some(v6)) => etherparse::IpHeaders::Ipv6(
                etherparse::Ipv6Header {
                    hop_limit: v6.hop_limit,
                    source: v6.src.octets(),
                    destination: v6.dst.octets(),
                    ..Default::default()
                },
                Default::default(),
            ),
        })
    }

    /// The frame's bytes.
    pub fn build(&self) -> Result<Vec<u8>> {
        let layered = self.eth.is_some()
            || !self.vlan.is_empty()
            || self.ipv4.is_some()
            || self.ipv6.is_some();
        if let Some(hex) = &self.hex {
            if layered || self.payload.is_some() || self.payload_hex.is_some() {
                bail!("`hex` is the whole frame: give it alone, or the layers without it");
            }
            return unhex(hex).context("`hex` is not hex (two digits a byte)");
        }
        let eth = self.eth.clone().unwrap_or_default();
        let src = mac(eth.src.as_deref(), DEFAULT_SRC_MAC).context("eth.src")?;
        let dst = mac(eth.dst.as_deref(), DEFAULT_DST_MAC).context("eth.dst")?;
        let payload = match (&self.payload, &self.payload_hex) {
            (Some(_), Some(_)) => bail!("give `payload` or `payload_hex`, not both"),
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(hex)) => unhex(hex).context("`payload_hex` is not hex")?,
            (None, None) => Vec::new(),
        };
        let vlan = |id: u16| {
            etherparse::VlanId::try_new(id)
                .map_err(|_| anyhow::anyhow!("vlan {id} is not a VLAN id (0-4095)"))
        };
        let start = PacketBuilder::ethernet2(src, dst);
        let ip = self.ip_headers()?;
        let step = match self.vlan.as_slice() {
            [] => start.ip(ip),
            [one] => start.single_vlan(vlan(*one)?).ip(ip),
            [outer, inner] => start.double_vlan(vlan(*outer)?, vlan(*inner)?).ip(ip),
            more => bail!("vlan has {} tags: at most two (outer, inner)", more.len()),
        };
        let is_v6 = self.ipv6.is_some();
        let transports = [
            self.udp.is_some(),
            self.tcp.is_some(),
            self.icmp.is_some(),
            self.icmpv6.is_some(),
        ];
        if transports.iter().filter(|&&t| t).count() > 1 {
            bail!("give one of `udp`, `tcp`, `icmp`, `icmpv6`");
        }
        let mut out = Vec::new();
        let written = if let Some(udp) = &self.udp {
            step.udp(udp.src, udp.dst).write(&mut out, &payload)
        } else if let Some(tcp) = &self.tcp {
            step.tcp(tcp.src, tcp.dst, 1, 64240)
                .write(&mut out, &payload)
        } else if let Some(icmp) = &self.icmp {
            if is_v6 {
                bail!("`icmp` is ICMP for IPv4: use `icmpv6` with `ipv6`");
            }
            match icmp.type_number(8, 0)? {
                8 => step.icmpv4_echo_request(icmp.id, icmp.seq),
                0 => step.icmpv4_echo_reply(icmp.id, icmp.seq),
                other => step.icmpv4_raw(other, icmp.code, [0; 4]),
            }
            .write(&mut out, &payload)
        } else if let Some(icmp) = &self.icmpv6 {
            if !is_v6 {
                bail!("`icmpv6` goes with `ipv6`: use `icmp` with `ipv4`");
            }
            match icmp.type_number(128, 129)? {
                128 => step.icmpv6_echo_request(icmp.id, icmp.seq),
                129 => step.icmpv6_echo_reply(icmp.id, icmp.seq),
                other => step.icmpv6_raw(other, icmp.code, [0; 4]),
            }
            .write(&mut out, &payload)
        } else {
            // Just IP: a payload of protocol 253 (RFC 3692, for experiments).
            step.write(&mut out, IpNumber(253), &payload)
        };
        written.map_err(|e| anyhow::anyhow!("cannot write the packet: {e}"))?;
        override_fields(&mut out, self)?;
        Ok(out)
    }
}

impl Icmp {
    /// The type number; `echo-request` and `echo-reply` are `request` and
    /// `reply` (8 and 0 for ICMP, 128 and 129 for ICMPv6).
    fn type_number(&self, request: u8, reply: u8) -> Result<u8> {
        Ok(match &self.kind {
            IcmpType::Number(n) => *n,
            IcmpType::Named(name) => match name.as_str() {
                "echo-request" => request,
                "echo-reply" => reply,
                other => {
                    bail!("icmp type `{other}`: use echo-request, echo-reply or the type's number")
                }
            },
        })
    }
}

fn mac(text: Option<&str>, default: [u8; 6]) -> Result<[u8; 6]> {
    let Some(text) = text else {
        return Ok(default);
    };
    let bytes: Vec<u8> = text
        .split(':')
        .map(|part| u8::from_str_radix(part, 16))
        .collect::<Result<_, _>>()
        .ok()
        .filter(|b: &Vec<u8>| b.len() == 6)
        .with_context(|| format!("`{text}` is not a MAC address (like 02:00:00:00:00:01)"))?;
    Ok(bytes.try_into().expect("six bytes"))
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Where a frame's layers start.
struct Layout {
    vlans: Vec<u16>,
    ether_type: u16,
    /// (offset, 4 or 6)
    ip: Option<(usize, u8)>,
    /// (offset, IP protocol)
    l4: Option<(usize, u8)>,
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

fn layout(bytes: &[u8]) -> Option<Layout> {
    let mut ether_type = be16(bytes, 12)?;
    let mut at = 14;
    let mut vlans = Vec::new();
    while (ether_type == 0x8100 || ether_type == 0x88a8) && vlans.len() < 2 {
        vlans.push(be16(bytes, at)? & 0x0fff);
        ether_type = be16(bytes, at + 2)?;
        at += 4;
    }
    let (ip, l4) = match ether_type {
        0x0800 if bytes.len() >= at + 20 => {
            let ihl = usize::from(bytes[at] & 0x0f) * 4;
            (Some((at, 4)), Some((at + ihl, bytes[at + 9])))
        }
        0x86dd if bytes.len() >= at + 40 => (Some((at, 6)), Some((at + 40, bytes[at + 6]))),
        _ => (None, None),
    };
    Some(Layout {
        vlans,
        ether_type,
        ip,
        l4,
    })
}

/// What a packet starts with, as the interface it arrives on has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    /// An Ethernet header (and up to two VLAN tags).
    #[default]
    Ethernet,
    /// The IP header: cellular data (`rmnet_data*`), tun, IP-in-IP tunnels.
    Rawip,
}

/// A frame built by layers, as a packet of `link`: without its Ethernet
/// header for a raw-IP link (a raw-IP packet has no VLAN tags either).
pub fn for_link(spec: &PacketSpec, link: Link) -> Result<Vec<u8>> {
    let frame = spec.build()?;
    if link == Link::Ethernet || spec.hex.is_some() {
        return Ok(frame);
    }
    if spec.eth.is_some() || !spec.vlan.is_empty() {
        bail!(
            "a raw-IP packet (link = \"rawip\") has no Ethernet header: leave out `eth` and `vlan`"
        );
    }
    Ok(frame[14..].to_vec())
}

/// `fields` of a packet of `link` (a raw-IP packet has no `eth.` fields).
pub fn fields_for(bytes: &[u8], link: Link) -> Vec<(String, String)> {
    if link == Link::Ethernet {
        return fields(bytes);
    }
    let ether_type: [u8; 2] = match bytes.first().map(|b| b >> 4) {
        Some(6) => [0x86, 0xdd],
        _ => [0x08, 0x00],
    };
    let mut frame = vec![0; 12];
    frame.extend(ether_type);
    frame.extend(bytes);
    fields(&frame)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("eth."))
        .collect()
}

/// The frame's fields by name (`eth.src`, `ipv4.ttl`, `udp.dst`,
/// `icmp.checksum` ...), as `expect.fields` names them and a failed case
/// shows them; what follows the headers is `payload`, in hex.
pub fn fields(bytes: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(layout) = layout(bytes) else {
        out.push(("frame".into(), hex(bytes)));
        return out;
    };
    let mac = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    add(&mut out, "eth.dst", mac(&bytes[0..6]));
    add(&mut out, "eth.src", mac(&bytes[6..12]));
    for (i, id) in layout.vlans.iter().enumerate() {
        add(&mut out, &format!("vlan{i}.id"), id.to_string());
    }
    add(&mut out, "eth.type", format!("0x{:04x}", layout.ether_type));
    let mut payload_at = match layout.ip {
        Some((at, version)) => {
            ip_fields(&mut out, bytes, at, version);
            None
        }
        None => Some(14 + 4 * layout.vlans.len()),
    };
    if let Some((at, proto)) = layout.l4 {
        payload_at = Some(l4_fields(&mut out, bytes, at, proto));
    }
    if let Some(at) = payload_at {
        add(
            &mut out,
            "payload",
            hex(bytes.get(at..).unwrap_or_default()),
        );
    }
    out
}

fn add(out: &mut Vec<(String, String)>, name: &str, value: String) {
    out.push((name.to_string(), value));
}

/// A 16-bit field at `at`, as a number; `-` past the end.
fn word(bytes: &[u8], at: usize) -> String {
    be16(bytes, at).map_or("-".into(), |v| v.to_string())
}

/// A checksum at `at`, in hex; `-` past the end.
fn checksum(bytes: &[u8], at: usize) -> String {
    be16(bytes, at).map_or("-".into(), |v| format!("0x{v:04x}"))
}

/// The IP header's fields (`version` 4 or 6, at `at`).
fn ip_fields(out: &mut Vec<(String, String)>, bytes: &[u8], at: usize, version: u8) {
    if version == 4 {
        add(out, "ipv4.length", word(bytes, at + 2));
        add(out, "ipv4.ttl", bytes[at + 8].to_string());
        add(out, "ipv4.protocol", bytes[at + 9].to_string());
        add(out, "ipv4.checksum", checksum(bytes, at + 10));
        let v4 = |from: usize| {
            Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[from..from + 4]).expect("4")).to_string()
        };
        add(out, "ipv4.src", v4(at + 12));
        add(out, "ipv4.dst", v4(at + 16));
    } else {
        add(out, "ipv6.next_header", bytes[at + 6].to_string());
        add(out, "ipv6.hop_limit", bytes[at + 7].to_string());
        let v6 = |from: usize| {
            Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[from..from + 16]).expect("16")).to_string()
        };
        add(out, "ipv6.src", v6(at + 8));
        add(out, "ipv6.dst", v6(at + 24));
    }
}

/// The transport header's fields (IP protocol `proto`, at `at`); where its
/// payload starts.
fn l4_fields(out: &mut Vec<(String, String)>, bytes: &[u8], at: usize, proto: u8) -> usize {
    match proto {
        17 => {
            add(out, "udp.src", word(bytes, at));
            add(out, "udp.dst", word(bytes, at + 2));
            add(out, "udp.length", word(bytes, at + 4));
            add(out, "udp.checksum", checksum(bytes, at + 6));
            at + 8
        }
        6 => {
            add(out, "tcp.src", word(bytes, at));
            add(out, "tcp.dst", word(bytes, at + 2));
            add(out, "tcp.checksum", checksum(bytes, at + 16));
            at + bytes.get(at + 12).map_or(20, |b| usize::from(b >> 4) * 4)
        }
        1 | 58 => {
            let layer = if proto == 1 { "icmp" } else { "icmpv6" };
            let byte = |at: usize| bytes.get(at).map_or("-".into(), |b| b.to_string());
            add(out, &format!("{layer}.type"), byte(at));
            add(out, &format!("{layer}.code"), byte(at + 1));
            add(out, &format!("{layer}.checksum"), checksum(bytes, at + 2));
            at + 4
        }
        _ => at,
    }
}

/// Writes given checksums and lengths over the computed ones (for cases
/// about broken packets).
fn override_fields(bytes: &mut [u8], spec: &PacketSpec) -> Result<()> {
    let layout = layout(bytes).context("the frame is too short to override its fields")?;
    let mut put = |at: usize, value: u16| {
        bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
    };
    if let (Some(v4), Some((at, 4))) = (&spec.ipv4, layout.ip) {
        if let Some(length) = v4.length {
            put(at + 2, length);
        }
        if let Some(sum) = v4.checksum {
            put(at + 10, sum);
        }
    }
    if let Some((at, proto)) = layout.l4 {
        let given = match proto {
            17 => spec.udp.as_ref().map(|u| (u.checksum, u.length, 6, 4)),
            6 => spec.tcp.as_ref().map(|t| (t.checksum, None, 16, 0)),
            1 => spec.icmp.as_ref().map(|i| (i.checksum, None, 2, 0)),
            58 => spec.icmpv6.as_ref().map(|i| (i.checksum, None, 2, 0)),
            _ => None,
        };
        if let Some((checksum, length, checksum_at, length_at)) = given {
            if let Some(sum) = checksum {
                put(at + checksum_at, sum);
            }
            if let Some(length) = length {
                put(at + length_at, length);
            }
        }
    }
    Ok(())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml: &str) -> PacketSpec {
        toml_edit::de::from_str(toml).unwrap()
    }

    #[test]
    fn layers_become_a_frame_with_lengths_and_checksums() {
        let frame = spec(
            "vlan = [100]\nipv4 = { src = \"10.0.0.1\", dst = \"10.0.0.2\" }\nudp = { dst = 53 }\npayload = \"hi\"",
        )
        .build()
        .unwrap();
        // 14 Ethernet + 4 VLAN + 20 IPv4 + 8 UDP + 2 payload
        assert_eq!(frame.len(), 48);
        assert_eq!(&frame[12..14], &[0x81, 0x00]);
        let fields: std::collections::BTreeMap<String, String> =
            fields(&frame).into_iter().collect();
        assert_eq!(fields["vlan0.id"], "100");
        assert_eq!(fields["ipv4.ttl"], "64");
        assert_eq!(fields["ipv4.src"], "10.0.0.1");
        assert_eq!(fields["udp.dst"], "53");
        assert_eq!(fields["udp.length"], "10");
        assert_eq!(fields["payload"], "6869");
        assert_eq!(fields["eth.src"], "02:00:00:00:00:01");
    }

    #[test]
    fn icmp_echo_for_both_families_and_raw_frames() {
        let v6 = spec(
            "ipv6 = { src = \"fd00::1\", dst = \"fd00::2\" }\nicmpv6 = { type = \"echo-request\", id = 7 }",
        )
        .build()
        .unwrap();
        assert_eq!(v6[14 + 40], 128);
        let raw = spec("hex = \"ffffffffffff 020000000001 0806\"")
            .build()
            .unwrap();
        assert_eq!(raw.len(), 14);
    }

    #[test]
    fn raw_ip_packets_start_at_the_ip_header() {
        let udp = spec("ipv4 = { src = \"192.0.2.1\", dst = \"192.0.2.2\" }\nudp = { dst = 53 }");
        let raw = for_link(&udp, Link::Rawip).unwrap();
        assert_eq!(raw, udp.build().unwrap()[14..]);
        assert_eq!(raw[0] >> 4, 4);
        let names: Vec<String> = fields_for(&raw, Link::Rawip)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(
            names.contains(&"udp.dst".to_string()) && !names.iter().any(|n| n.starts_with("eth.")),
            "{names:?}"
        );
        let v6 =
            spec("ipv6 = { src = \"2001:db8::1\", dst = \"2001:db8::2\" }\nudp = { dst = 53 }");
        let fields = fields_for(&for_link(&v6, Link::Rawip).unwrap(), Link::Rawip);
        assert!(
            fields.iter().any(|(n, v)| n == "udp.dst" && v == "53"),
            "{fields:?}"
        );
        let tagged = spec(
            "vlan = [5]\nipv4 = { src = \"192.0.2.1\", dst = \"192.0.2.2\" }\nudp = { dst = 53 }",
        );
        let error = for_link(&tagged, Link::Rawip).unwrap_err().to_string();
        assert!(error.contains("leave out `eth` and `vlan`"), "{error}");
    }

    #[test]
    fn given_checksums_and_lengths_win() {
        let frame = spec(
            "ipv4 = { src = \"10.0.0.1\", dst = \"10.0.0.2\", checksum = 0x1234 }\nudp = { dst = 53, checksum = 0, length = 99 }",
        )
        .build()
        .unwrap();
        let fields: std::collections::BTreeMap<String, String> =
            fields(&frame).into_iter().collect();
        assert_eq!(fields["ipv4.checksum"], "0x1234");
        assert_eq!(fields["udp.checksum"], "0x0000");
        assert_eq!(fields["udp.length"], "99");
    }

    #[test]
    fn wrong_layers_say_what_to_write() {
        let error = |toml: &str| format!("{:#}", spec(toml).build().unwrap_err());
        assert!(error("udp = { dst = 1 }").contains("no `ipv4` or `ipv6`"));
        assert!(
            error("hex = \"00\"\nipv4 = { src = \"1.1.1.1\", dst = \"1.1.1.2\" }")
                .contains("give it alone")
        );
        assert!(
            error("ipv4 = { src = \"1.1.1.1\", dst = \"1.1.1.2\" }\nicmpv6 = { type = 128 }")
                .contains("`icmpv6` goes with `ipv6`")
        );
        assert!(
            error("vlan = [1, 2, 3]\nipv4 = { src = \"1.1.1.1\", dst = \"1.1.1.2\" }")
                .contains("at most two")
        );
        assert!(
            error("eth = { src = \"nope\" }\nipv4 = { src = \"1.1.1.1\", dst = \"1.1.1.2\" }")
                .contains("not a MAC address")
        );
    }
}

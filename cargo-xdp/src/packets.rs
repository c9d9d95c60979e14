//! Packets of `cargo xdp test` cases: written by layers (Ethernet, up to two
//! VLAN tags, IPv4 or IPv6, UDP, TCP, ICMP or ICMPv6, payload) with lengths
//! and checksums filled in by etherparse, or given as hex; and read back by
//! field, so a failed case says which field differs.

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Context, Result};
use etherparse::{IpNumber, PacketBuilder, SlicedPacket};
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
        let ip = match (&self.ipv4, &self.ipv6) {
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
        };
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

/// The packet's fields by name (`ipv4.ttl`, `udp.destination_port` ...),
/// for telling which differ; the bytes past what etherparse reads as one
/// `payload` field.
pub fn fields(bytes: &[u8]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let Ok(packet) = SlicedPacket::from_ethernet(bytes) else {
        fields.push(("bytes".into(), hex(bytes)));
        return fields;
    };
    let mut add = |layer: &str, debug: String| {
        // `Header { a: 1, b: [2, 3] }` -> a = 1, b = [2, 3]
        let inner = debug
            .split_once('{')
            .and_then(|(_, rest)| rest.rsplit_once('}'))
            .map(|(inner, _)| inner.to_string())
            .unwrap_or(debug);
        for part in split_top_level(&inner) {
            if let Some((key, value)) = part.split_once(':') {
                fields.push((format!("{layer}.{}", key.trim()), value.trim().to_string()));
            }
        }
    };
    if let Some(link) = &packet.link {
        if let Some(eth) = link.to_header() {
            add("eth", format!("{eth:?}"));
        }
    }
    for (i, vlan) in packet.link_exts.iter().enumerate() {
        add(&format!("vlan{i}"), format!("{:?}", vlan));
    }
    match &packet.net {
        Some(etherparse::NetSlice::Ipv4(ip)) => {
            add("ipv4", format!("{:?}", ip.header().to_header()))
        }
        Some(etherparse::NetSlice::Ipv6(ip)) => {
            add("ipv6", format!("{:?}", ip.header().to_header()))
        }
        _ => {}
    }
    match &packet.transport {
        Some(etherparse::TransportSlice::Udp(udp)) => add("udp", format!("{:?}", udp.to_header())),
        Some(etherparse::TransportSlice::Tcp(tcp)) => add("tcp", format!("{:?}", tcp.to_header())),
        Some(etherparse::TransportSlice::Icmpv4(icmp)) => {
            add("icmp", format!("{:?}", icmp.header()))
        }
        Some(etherparse::TransportSlice::Icmpv6(icmp)) => {
            add("icmpv6", format!("{:?}", icmp.header()))
        }
        _ => {}
    }
    fields
}

/// `a: 1, b: X { c: 2 }` -> [`a: 1`, `b: X { c: 2 }`]: commas outside brackets.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
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
        let parsed = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = parsed.transport else {
            panic!("no udp")
        };
        assert_eq!(udp.destination_port(), 53);
        let fields = fields(&frame);
        assert!(
            fields
                .iter()
                .any(|(k, v)| k == "ipv4.time_to_live" && v == "64"),
            "{fields:?}"
        );
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

//! Captures for `cargo xdp test --pcap`: the frames of a pcap or pcapng
//! file (`tcpdump -w`), as XDP would see them: Ethernet frames, or packets
//! that start at the IP header (raw-IP captures: link-types RAW, IPV4,
//! IPV6, as `tcpdump -i rmnet_data0` or `-i tun0` writes them; and Linux
//! cooked captures (SLL, SLL2: `tcpdump -i any`), whose IP packets are
//! taken as raw IP and the rest left out, said).

use std::path::Path;

use anyhow::{bail, Context, Result};
use pcap_file::{
    pcap::PcapReader,
    pcapng::{Block, PcapNgReader},
    DataLink,
};

use crate::packets::Link;

/// What a capture holds.
#[derive(Debug, Default)]
pub struct Capture {
    pub frames: Vec<Vec<u8>>,
    /// Frames captured shorter than they were (tcpdump -s): the program
    /// sees only the captured part.
    pub snapped: usize,
    /// The file ends inside a record (a capture that was killed while
    /// writing): the whole frames before it are replayed.
    pub cut_short: bool,
    /// What the frames start with (one link for the whole capture).
    pub link: Link,
    /// Packets of a cooked capture that are not IP (ARP ...): left out.
    pub skipped: usize,
}

/// How a link-type's records become packets XDP would see.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Records {
    Ethernet,
    RawIp,
    /// Linux cooked: the header's length and where its protocol is.
    Cooked {
        header: usize,
        protocol_at: usize,
    },
}

impl Records {
    fn of(link: DataLink) -> Option<Records> {
        Some(match link {
            DataLink::ETHERNET => Records::Ethernet,
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Records::RawIp,
            DataLink::LINUX_SLL => Records::Cooked {
                header: 16,
                protocol_at: 14,
            },
            DataLink::LINUX_SLL2 => Records::Cooked {
                header: 20,
                protocol_at: 0,
            },
            _ => return None,
        })
    }

    fn link(self) -> Link {
        match self {
            Records::Ethernet => Link::Ethernet,
            Records::RawIp | Records::Cooked { .. } => Link::Rawip,
        }
    }

    /// The packet of one record; None for a cooked record that is not IP.
    fn packet(self, data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Records::Ethernet | Records::RawIp => Some(data.to_vec()),
            Records::Cooked {
                header,
                protocol_at,
            } => {
                let protocol = data.get(protocol_at..protocol_at + 2)?;
                if protocol != [0x08, 0x00] && protocol != [0x86, 0xdd] {
                    return None;
                }
                Some(data.get(header..)?.to_vec())
            }
        }
    }
}

impl Capture {
    fn push(&mut self, records: Records, data: &[u8], original: u32) {
        match records.packet(data) {
            Some(packet) => {
                if (data.len() as u32) < original {
                    self.snapped += 1;
                }
                self.frames.push(packet);
            }
            None => self.skipped += 1,
        }
    }
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

pub fn read(path: &Path) -> Result<Capture> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let shown = path.display();
    if bytes.starts_with(&PCAPNG_MAGIC) {
        read_pcapng(&bytes).with_context(|| format!("{shown} (pcapng)"))
    } else {
        read_pcap(&bytes).with_context(|| format!("{shown} (pcap)"))
    }
}

fn refuse_link_type(link: DataLink, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} has link-type {} ({link:?}), which cargo-xdp cannot turn into what XDP sees: \
         Ethernet (1), raw IP (101, 228, 229) and Linux cooked (113, 276) captures replay; \
         capture on the interface itself, e.g. `tcpdump -i wlan0 -w capture.pcap`",
        u32::from(link)
    )
}

fn read_pcap(bytes: &[u8]) -> Result<Capture> {
    let mut reader = PcapReader::new(bytes).map_err(|e| {
        anyhow::anyhow!("not a pcap or pcapng capture ({e}): write one with `tcpdump -w`")
    })?;
    let link = reader.header().datalink;
    let records = Records::of(link).ok_or_else(|| refuse_link_type(link, "the capture"))?;
    let mut capture = Capture {
        link: records.link(),
        ..Capture::default()
    };
    while let Some(packet) = reader.next_packet() {
        match packet {
            Ok(packet) => capture.push(records, &packet.data, packet.orig_len),
            Err(_) => {
                capture.cut_short = true;
                break;
            }
        }
    }
    Ok(capture)
}

fn read_pcapng(bytes: &[u8]) -> Result<Capture> {
    let mut reader =
        PcapNgReader::new(bytes).map_err(|e| anyhow::anyhow!("not a pcapng capture ({e})"))?;
    let mut links: Vec<Records> = Vec::new();
    let mut capture = Capture::default();
    while let Some(block) = reader.next_block() {
        let block = match block {
            Ok(block) => block,
            Err(_) => {
                capture.cut_short = true;
                break;
            }
        };
        let (interface, data, original) = match block {
            // A new section numbers its interfaces afresh.
            Block::SectionHeader(_) => {
                links.clear();
                continue;
            }
            Block::InterfaceDescription(interface) => {
                let what = format!("interface {} of the capture", links.len());
                let records = Records::of(interface.linktype)
                    .ok_or_else(|| refuse_link_type(interface.linktype, &what))?;
                // One program variant runs the whole replay.
                if let Some(first) = links.first() {
                    if first.link() != records.link() {
                        bail!(
                            "{what} is {:?} where the first is {:?}: a replay runs one program \
                             variant, so capture Ethernet and raw-IP interfaces apart",
                            records.link(),
                            first.link()
                        );
                    }
                }
                capture.link = records.link();
                links.push(records);
                continue;
            }
            Block::EnhancedPacket(packet) => {
                (packet.interface_id, packet.data, packet.original_len)
            }
            Block::SimplePacket(packet) => (0, packet.data, packet.original_len),
            _ => continue,
        };
        let Some(&records) = links.get(interface as usize) else {
            bail!(
                "packet {} names interface {interface}, which the capture never describes",
                capture.frames.len() + 1
            );
        };
        capture.push(records, &data, original);
    }
    Ok(capture)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A classic pcap (microseconds, little-endian) of `frames` with link-type `link`.
    pub fn pcap(link: u32, frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(0xa1b2c3d4u32.to_le_bytes());
        out.extend(2u16.to_le_bytes());
        out.extend(4u16.to_le_bytes());
        out.extend(0i32.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(65535u32.to_le_bytes());
        out.extend(link.to_le_bytes());
        for frame in frames {
            out.extend(1u32.to_le_bytes());
            out.extend(0u32.to_le_bytes());
            out.extend((frame.len() as u32).to_le_bytes());
            out.extend((frame.len() as u32).to_le_bytes());
            out.extend_from_slice(frame);
        }
        out
    }

    /// A pcapng with one interface block per link-type, then one enhanced
    /// packet block per (interface, frame).
    pub fn pcapng(links: &[u16], frames: &[(u32, &[u8])]) -> Vec<u8> {
        fn block(kind: u32, body: &[u8]) -> Vec<u8> {
            let padded = body.len().div_ceil(4) * 4;
            let total = (12 + padded) as u32;
            let mut out = Vec::new();
            out.extend(kind.to_le_bytes());
            out.extend(total.to_le_bytes());
            out.extend_from_slice(body);
            out.resize(8 + padded, 0);
            out.extend(total.to_le_bytes());
            out
        }
        let mut section = Vec::new();
        section.extend(0x1a2b3c4du32.to_le_bytes());
        section.extend(1u16.to_le_bytes());
        section.extend(0u16.to_le_bytes());
        section.extend((-1i64).to_le_bytes());
        let mut out = block(0x0a0d0d0a, &section);
        for link in links {
            let mut body = Vec::new();
            body.extend(link.to_le_bytes());
            body.extend(0u16.to_le_bytes());
            body.extend(0u32.to_le_bytes());
            out.extend(block(1, &body));
        }
        for (interface, frame) in frames {
            let mut body = Vec::new();
            body.extend(interface.to_le_bytes());
            body.extend(0u32.to_le_bytes());
            body.extend(0u32.to_le_bytes());
            body.extend((frame.len() as u32).to_le_bytes());
            body.extend((frame.len() as u32).to_le_bytes());
            body.extend_from_slice(frame);
            out.extend(block(6, &body));
        }
        out
    }

    fn read_bytes(bytes: &[u8]) -> Result<Capture> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        std::fs::write(&path, bytes).unwrap();
        read(&path)
    }

    const FRAME: &[u8] = &[0xff; 60];

    #[test]
    fn pcap_and_pcapng_frames_are_read() {
        let capture = read_bytes(&pcap(1, &[FRAME, FRAME])).unwrap();
        assert_eq!((capture.frames.len(), capture.cut_short), (2, false));
        let capture = read_bytes(&pcapng(&[1, 1], &[(0, FRAME), (1, FRAME), (0, FRAME)])).unwrap();
        assert_eq!(capture.frames.len(), 3);
    }

    #[test]
    fn other_link_types_are_refused_by_name() {
        // 105: 802.11 frames, which XDP never sees.
        let error = format!("{:#}", read_bytes(&pcap(105, &[FRAME])).unwrap_err());
        assert!(
            error.contains("link-type 105") && error.contains("tcpdump -i wlan0"),
            "{error}"
        );
        let error = format!(
            "{:#}",
            read_bytes(&pcapng(&[1, 105], &[(0, FRAME)])).unwrap_err()
        );
        assert!(
            error.contains("interface 1 of the capture has link-type 105"),
            "{error}"
        );
        // Ethernet and raw IP in one replay: refused, named.
        let error = format!(
            "{:#}",
            read_bytes(&pcapng(&[1, 101], &[(0, FRAME)])).unwrap_err()
        );
        assert!(
            error.contains("interface 1 of the capture is Rawip"),
            "{error}"
        );
    }

    /// An IPv4 header's first bytes: what a raw-IP record starts with.
    const IPV4: &[u8] = &[
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ];

    #[test]
    fn raw_ip_and_cooked_captures_become_raw_ip_packets() {
        for link in [101, 228] {
            let capture = read_bytes(&pcap(link, &[IPV4])).unwrap();
            assert_eq!(
                (capture.link, capture.frames),
                (Link::Rawip, vec![IPV4.to_vec()])
            );
        }
        // SLL: 16 bytes, the protocol last; an ARP record is left out.
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend(IPV4);
        let mut arp = sll[..14].to_vec();
        arp.extend([0x08, 0x06, 0, 1]);
        let capture = read_bytes(&pcap(113, &[&sll, &arp])).unwrap();
        assert_eq!(capture.frames, vec![IPV4.to_vec()]);
        assert_eq!((capture.link, capture.skipped), (Link::Rawip, 1));
        // SLL2: 20 bytes, the protocol first.
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        sll2.extend(IPV4);
        let capture = read_bytes(&pcapng(&[276], &[(0, &sll2)])).unwrap();
        assert_eq!(capture.frames, vec![IPV4.to_vec()]);
    }

    #[test]
    fn a_capture_cut_short_keeps_its_whole_frames() {
        let mut bytes = pcap(1, &[FRAME, FRAME]);
        bytes.truncate(bytes.len() - 10);
        let capture = read_bytes(&bytes).unwrap();
        assert_eq!((capture.frames.len(), capture.cut_short), (1, true));
        let error = format!("{:#}", read_bytes(b"hello, not a capture").unwrap_err());
        assert!(error.contains("not a pcap or pcapng capture"), "{error}");
    }
}

//! Captures for `cargo xdp test --pcap`: the frames of a pcap or pcapng
//! file (`tcpdump -w`), which must be Ethernet (what XDP sees).

use std::path::Path;

use anyhow::{bail, Context, Result};
use pcap_file::{
    pcap::PcapReader,
    pcapng::{Block, PcapNgReader},
    DataLink,
};

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
        "{what} has link-type {} ({link:?}): only Ethernet frames (link-type 1) go through XDP; \
         capture on the interface itself, e.g. `tcpdump -i wlan0 -w capture.pcap`, not on `any`",
        u32::from(link)
    )
}

fn read_pcap(bytes: &[u8]) -> Result<Capture> {
    let mut reader = PcapReader::new(bytes).map_err(|e| {
        anyhow::anyhow!("not a pcap or pcapng capture ({e}): write one with `tcpdump -w`")
    })?;
    let link = reader.header().datalink;
    if link != DataLink::ETHERNET {
        return Err(refuse_link_type(link, "the capture"));
    }
    let mut capture = Capture::default();
    while let Some(packet) = reader.next_packet() {
        match packet {
            Ok(packet) => {
                if (packet.data.len() as u32) < packet.orig_len {
                    capture.snapped += 1;
                }
                capture.frames.push(packet.data.into_owned());
            }
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
    let mut links: Vec<DataLink> = Vec::new();
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
                if interface.linktype != DataLink::ETHERNET {
                    return Err(refuse_link_type(
                        interface.linktype,
                        &format!("interface {} of the capture", links.len()),
                    ));
                }
                links.push(interface.linktype);
                continue;
            }
            Block::EnhancedPacket(packet) => {
                (packet.interface_id, packet.data, packet.original_len)
            }
            Block::SimplePacket(packet) => (0, packet.data, packet.original_len),
            _ => continue,
        };
        if links.get(interface as usize).is_none() {
            bail!(
                "packet {} names interface {interface}, which the capture never describes",
                capture.frames.len() + 1
            );
        }
        if (data.len() as u32) < original {
            capture.snapped += 1;
        }
        capture.frames.push(data.into_owned());
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
        let error = format!("{:#}", read_bytes(&pcap(113, &[FRAME])).unwrap_err());
        assert!(
            error.contains("link-type 113") && error.contains("tcpdump -i wlan0"),
            "{error}"
        );
        // Several link-types in one pcapng: the non-Ethernet interface is named.
        let error = format!(
            "{:#}",
            read_bytes(&pcapng(&[1, 276], &[(0, FRAME)])).unwrap_err()
        );
        assert!(
            error.contains("interface 1 of the capture has link-type 276"),
            "{error}"
        );
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

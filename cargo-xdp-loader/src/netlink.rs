//! XDP attach, detach and query over rtnetlink (`ip link set dev X xdp ...`).
//!
//! Why netlink and not a pinned bpf_link: a netlink attach is held by the
//! interface, so it outlives the loader on every kernel that has XDP (4.8+),
//! while bpf_link needs 5.9+ and pinning one is refused on some systems
//! (seen: EPERM from BPF_OBJ_PIN on a sandboxed 6.18 kernel). The kernel
//! reports mode and program id here too, so `status` shows the truth.

use std::{io, mem::size_of, os::fd::RawFd};

use anyhow::Result;

const IFLA_IFNAME: u16 = 3;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const NLA_F_NESTED: u16 = 1 << 15;
const NLA_TYPE_MASK: u16 = !(1 << 15 | 1 << 14);
const NETLINK_EXT_ACK: libc::c_int = 11;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLM_F_CAPPED: u16 = 0x100;
const NLMSGERR_ATTR_MSG: u16 = 1;

pub const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1;
pub const XDP_FLAGS_SKB_MODE: u32 = 2;
pub const XDP_FLAGS_DRV_MODE: u32 = 4;

/// What the kernel says is attached to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    pub program_id: u32,
    /// XDP_ATTACHED_*: 1 native (driver), 2 skb (generic), 3 hardware, 4 several.
    pub how: u8,
}

impl Attached {
    pub fn mode_name(self) -> &'static str {
        match self.how {
            1 => "native",
            2 => "skb",
            3 => "hw",
            _ => "multi",
        }
    }

    pub fn mode_flags(self) -> u32 {
        match self.how {
            2 => XDP_FLAGS_SKB_MODE,
            1 => XDP_FLAGS_DRV_MODE,
            _ => 0,
        }
    }
}

/// A netlink error with the kernel's own explanation when it gave one.
#[derive(Debug)]
pub struct NetlinkError {
    pub errno: i32,
    pub message: Option<String>,
}

impl std::fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", io::Error::from_raw_os_error(self.errno))?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for NetlinkError {}

/// Attaches `program_fd` (or detaches, with -1) on `ifindex` with XDP_FLAGS_* `flags`.
pub fn set_xdp(ifindex: u32, program_fd: RawFd, flags: u32) -> Result<(), NetlinkError> {
    let mut xdp = Vec::new();
    push_attr(&mut xdp, IFLA_XDP_FD, &program_fd.to_ne_bytes());
    push_attr(&mut xdp, IFLA_XDP_FLAGS, &flags.to_ne_bytes());
    let mut body = ifinfomsg(ifindex);
    push_attr(&mut body, IFLA_XDP | NLA_F_NESTED, &xdp);
    let socket = Socket::open()?;
    socket.send(libc::RTM_SETLINK, libc::NLM_F_ACK as u16, &body)?;
    socket.receive(|_, _| ())
}

/// The XDP program on `ifindex`, if any.
pub fn query_xdp(ifindex: u32) -> Result<Option<Attached>> {
    Ok(query_link(ifindex)?.xdp)
}

/// What one RTM_GETLINK tells of an interface.
pub struct LinkState {
    /// Its XDP program, if any.
    pub xdp: Option<Attached>,
    /// ARPHRD_*; None when the kernel did not describe the interface.
    pub link_type: Option<u16>,
}

/// The XDP program and the link type of `ifindex`, in one request.
pub fn query_link(ifindex: u32) -> Result<LinkState> {
    let socket = Socket::open()?;
    socket.send(libc::RTM_GETLINK, 0, &ifinfomsg(ifindex))?;
    let mut state = LinkState {
        xdp: None,
        link_type: None,
    };
    socket.receive(|kind, payload| {
        if let Some(link) = parse_link(kind, payload) {
            state.xdp = link.xdp;
            state.link_type = Some(link.link_type);
        }
    })?;
    Ok(state)
}

/// Every interface of this network namespace that runs an XDP program, as
/// one dump of the links (RTM_GETLINK with NLM_F_DUMP): (name, index, what).
pub fn all_xdp() -> Result<Vec<(String, u32, Attached)>> {
    let socket = Socket::open()?;
    socket.send(libc::RTM_GETLINK, libc::NLM_F_DUMP as u16, &ifinfomsg(0))?;
    let mut found = Vec::new();
    socket.receive(|kind, payload| {
        if let Some(Link {
            index,
            name,
            xdp: Some(attached),
            ..
        }) = parse_link(kind, payload)
        {
            found.push((name, index, attached));
        }
    })?;
    crate::short_sort::sort_short_by(&mut found, |a, b| a.0 < b.0);
    Ok(found)
}

/// One RTM_NEWLINK: the interface, its link type and its XDP program, if any.
#[derive(Debug, PartialEq)]
struct Link {
    index: u32,
    name: String,
    /// ARPHRD_* (ifinfomsg's ifi_type): 1 Ethernet, 519 raw IP, ...
    link_type: u16,
    xdp: Option<Attached>,
}

fn parse_link(kind: u16, payload: &[u8]) -> Option<Link> {
    if kind != libc::RTM_NEWLINK || payload.len() < IFINFOMSG_LEN {
        return None;
    }
    let mut link = Link {
        index: i32::from_ne_bytes(payload[4..8].try_into().unwrap()) as u32,
        name: String::new(),
        link_type: u16::from_ne_bytes(payload[2..4].try_into().unwrap()),
        xdp: None,
    };
    for (attr, value) in attributes(&payload[IFINFOMSG_LEN..]) {
        match attr {
            IFLA_IFNAME => {
                link.name = String::from_utf8_lossy(value.split(|&b| b == 0).next().unwrap_or(&[]))
                    .into_owned()
            }
            IFLA_XDP => {
                let mut attached = Attached {
                    program_id: 0,
                    how: 0,
                };
                for (inner, value) in attributes(value) {
                    match inner {
                        IFLA_XDP_ATTACHED if !value.is_empty() => attached.how = value[0],
                        IFLA_XDP_PROG_ID if value.len() >= 4 => {
                            attached.program_id = u32::from_ne_bytes(value[..4].try_into().unwrap())
                        }
                        _ => {}
                    }
                }
                if attached.how != 0 {
                    link.xdp = Some(attached);
                }
            }
            _ => {}
        }
    }
    Some(link)
}

const NLMSGHDR_LEN: usize = size_of::<libc::nlmsghdr>();
const IFINFOMSG_LEN: usize = 16;

fn ifinfomsg(ifindex: u32) -> Vec<u8> {
    let mut message = vec![0u8; IFINFOMSG_LEN];
    message[0] = libc::AF_UNSPEC as u8;
    message[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    message
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn push_attr(buffer: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    buffer.extend_from_slice(&(len as u16).to_ne_bytes());
    buffer.extend_from_slice(&kind.to_ne_bytes());
    buffer.extend_from_slice(value);
    buffer.resize(align4(buffer.len()), 0);
}

/// (type without flag bits, value) for each attribute in `data`.
fn attributes(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > data.len() {
            return None;
        }
        let value = &data[4..len];
        data = &data[align4(len).min(data.len())..];
        Some((kind, value))
    })
}

struct Socket(RawFd);

impl Socket {
    fn open() -> Result<Socket, NetlinkError> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(last_error());
        }
        let on: libc::c_int = 1;
        // Ask for the kernel's error text ("extack"); older kernels ignore it.
        // SAFETY: valid option pointer and length.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_NETLINK,
                NETLINK_EXT_ACK,
                &on as *const _ as *const libc::c_void,
                size_of::<libc::c_int>() as u32,
            )
        };
        Ok(Socket(fd))
    }

    fn send(&self, kind: u16, flags: u16, body: &[u8]) -> Result<(), NetlinkError> {
        let mut message = Vec::with_capacity(NLMSGHDR_LEN + body.len());
        message.extend_from_slice(&((NLMSGHDR_LEN + body.len()) as u32).to_ne_bytes());
        message.extend_from_slice(&kind.to_ne_bytes());
        message.extend_from_slice(&(libc::NLM_F_REQUEST as u16 | flags).to_ne_bytes());
        message.extend_from_slice(&1u32.to_ne_bytes()); // sequence
        message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        message.extend_from_slice(body);
        // SAFETY: sending our own buffer.
        let sent = unsafe {
            libc::send(
                self.0,
                message.as_ptr() as *const libc::c_void,
                message.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(last_error());
        }
        Ok(())
    }

    /// Reads replies until an ACK/error or the end of a reply, handing each
    /// other message's (type, payload) to `each`.
    fn receive(&self, mut each: impl FnMut(u16, &[u8])) -> Result<(), NetlinkError> {
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: receiving into our own buffer.
            let got = unsafe {
                libc::recv(
                    self.0,
                    buffer.as_mut_ptr() as *mut libc::c_void,
                    buffer.len(),
                    0,
                )
            };
            if got < 0 {
                return Err(last_error());
            }
            let mut data = &buffer[..got as usize];
            while data.len() >= NLMSGHDR_LEN {
                let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes([data[4], data[5]]);
                let flags = u16::from_ne_bytes([data[6], data[7]]);
                if len < NLMSGHDR_LEN || len > data.len() {
                    break;
                }
                let payload = &data[NLMSGHDR_LEN..len];
                match kind as libc::c_int {
                    libc::NLMSG_ERROR => return error_reply(flags, payload),
                    libc::NLMSG_DONE => return Ok(()),
                    _ => each(kind, payload),
                }
                if flags & libc::NLM_F_MULTI as u16 == 0 {
                    return Ok(());
                }
                data = &data[align4(len).min(data.len())..];
            }
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// An NLMSG_ERROR payload: errno 0 is the ACK.
fn error_reply(flags: u16, payload: &[u8]) -> Result<(), NetlinkError> {
    if payload.len() < 4 {
        return Err(NetlinkError {
            errno: libc::EPROTO,
            message: None,
        });
    }
    let errno = -i32::from_ne_bytes(payload[0..4].try_into().unwrap());
    if errno == 0 {
        return Ok(());
    }
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 && payload.len() >= 4 + NLMSGHDR_LEN {
        // The request's header follows the errno, whole unless capped.
        let echoed = if flags & NLM_F_CAPPED != 0 {
            NLMSGHDR_LEN
        } else {
            u32::from_ne_bytes(payload[4..8].try_into().unwrap()) as usize
        };
        let tlvs = payload.get(4 + align4(echoed)..).unwrap_or(&[]);
        for (kind, value) in attributes(tlvs) {
            if kind == NLMSGERR_ATTR_MSG {
                let text = value.split(|&b| b == 0).next().unwrap_or(&[]);
                message = Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    Err(NetlinkError { errno, message })
}

fn last_error() -> NetlinkError {
    NetlinkError {
        errno: io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_link_with_its_xdp_program() {
        let mut payload = ifinfomsg(7);
        payload[2..4].copy_from_slice(&519u16.to_ne_bytes()); // ARPHRD_RAWIP
        push_attr(&mut payload, IFLA_IFNAME, b"wlan0\0");
        let mut xdp = Vec::new();
        push_attr(&mut xdp, IFLA_XDP_ATTACHED, &[2]);
        push_attr(&mut xdp, IFLA_XDP_PROG_ID, &42u32.to_ne_bytes());
        push_attr(&mut payload, IFLA_XDP | NLA_F_NESTED, &xdp);
        let link = parse_link(libc::RTM_NEWLINK, &payload).unwrap();
        assert_eq!(
            link,
            Link {
                index: 7,
                name: "wlan0".into(),
                link_type: 519,
                xdp: Some(Attached {
                    program_id: 42,
                    how: 2
                }),
            }
        );
        assert_eq!(link.xdp.unwrap().mode_name(), "skb");
        // No program: attached 0 is none.
        let mut bare = ifinfomsg(3);
        let mut none = Vec::new();
        push_attr(&mut none, IFLA_XDP_ATTACHED, &[0]);
        push_attr(&mut bare, IFLA_XDP | NLA_F_NESTED, &none);
        assert_eq!(parse_link(libc::RTM_NEWLINK, &bare).unwrap().xdp, None);
        assert!(parse_link(libc::RTM_DELLINK, &bare).is_none());
        assert!(
            parse_link(libc::RTM_NEWLINK, &[0; 4]).is_none(),
            "too short"
        );
    }
}

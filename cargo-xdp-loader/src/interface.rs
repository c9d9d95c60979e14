//! Network interfaces by name and index: names checked before they become
//! part of a pin path or reach the kernel.

use std::ffi::CString;

use anyhow::{anyhow, bail, Result};

/// Interface names as cargo-xdp takes them (cargo-xdp-wire's rule, the
/// one the host checked): before a name becomes part of a pin path or
/// reaches the kernel.
pub fn check_interface(interface: &str) -> Result<()> {
    // As a message: anyhow's vtable for one more error type is ~1 KiB.
    cargo_xdp_wire::interface::check_interface(interface).map_err(|e| anyhow!("{e}"))
}

/// The interface's index; refuses names no kernel accepts before asking.
pub fn interface_index(interface: &str) -> Result<u32> {
    check_interface(interface)?;
    let name = CString::new(interface)?;
    // SAFETY: name is a valid C string for the duration of the call.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => bail!("no such interface `{interface}` (see `ip link`)"),
        index => Ok(index),
    }
}

/// The name of interface `index`, if it (still) exists.
pub fn interface_name(index: u32) -> Option<String> {
    let mut buffer = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes, as if_indextoname needs.
    let name = unsafe { libc::if_indextoname(index, buffer.as_mut_ptr()) };
    if name.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into the buffer.
    let name = unsafe { std::ffi::CStr::from_ptr(buffer.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

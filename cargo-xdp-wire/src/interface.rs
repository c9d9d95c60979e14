//! Interface names, taken the same way on both sides: cargo-xdp checks one
//! before it reaches a device's shell or a path, the loader again before it
//! becomes part of a pin path or reaches the kernel.

use std::fmt;

/// `name` is an interface name as cargo-xdp takes them: 1 to 15 bytes
/// (IFNAMSIZ less its NUL) of A-Z a-z 0-9 `_` `.` `-`, and not `.` or `..`.
/// Linux refuses `/`, `:` and whitespace too (an `eth0:1` is an address
/// label, not a device); the rest it allows (shell characters) no one
/// names a device with.
pub fn check_interface(name: &str) -> Result<(), NotAnInterface> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(NotAnInterface(name.to_string()))
    }
}

/// A name check_interface refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnInterface(pub String);

impl fmt::Display for NotAnInterface {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "`{}` is not an interface name: Linux allows 1 to 15 of A-Z a-z 0-9 _ . - \
             (e.g. wlan0, rmnet_data0, eth0.100)",
            self.0
        )
    }
}

impl std::error::Error for NotAnInterface {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_what_linux_allows_and_never_other_paths() {
        for good in [
            "wlan0",
            "rmnet_data0",
            "eth0.100",
            "veth-a.1",
            "a23456789012345",
        ] {
            check_interface(good).unwrap();
        }
        for bad in [
            "",
            "eth0:1",
            "a234567890123456",
            "wlan0;reboot",
            "w lan",
            "$(id)",
            "wlan/0",
            "../maps/x",
            ".",
            "..",
        ] {
            let error = check_interface(bad).unwrap_err().to_string();
            assert!(error.contains("is not an interface name"), "{error}");
        }
    }
}

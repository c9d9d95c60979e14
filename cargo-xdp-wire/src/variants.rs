//! Per-kernel variants of a kern object, as the build writes them and the
//! loader reads them.
//!
//! A project that lists `kernel-variants = ["5.2"]` gets each kern source
//! compiled once more per version, with `CARGO_XDP_KERNEL` defined to that
//! version's `KERNEL_VERSION(major, minor, 0)`: `<stem>.k5.2.o` beside
//! `<stem>.o`. Where a variant's object differs from the base's, the build
//! lists it in `<stem>.variants`, one `MAJOR.MINOR FILE` line each, and the
//! loader loads the newest one the running kernel is at least (Android's
//! bpfloader picks programs by kernel version the same way); the base
//! object otherwise.

use std::fmt;

/// A kernel's `major.minor` (the patch level never decides a variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    pub major: u16,
    pub minor: u16,
}

impl KernelVersion {
    /// `5.2`, or the start of a release string (`6.1.57-android14-11-g...`,
    /// `4.14.180+`); None for anything else.
    pub fn parse(text: &str) -> Option<KernelVersion> {
        let mut parts = text.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor_text = parts.next()?;
        let digits = minor_text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(minor_text.len());
        // `5.2` or `5.2.0` or `5.2-rc1`, never `5.` or `5.x`.
        if digits == 0 || (digits < minor_text.len() && parts.next().is_some()) {
            return None;
        }
        let minor = minor_text[..digits].parse().ok()?;
        Some(KernelVersion { major, minor })
    }

    /// `KERNEL_VERSION(major, minor, 0)` of `<linux/version.h>`, what the
    /// variant's compile defines `CARGO_XDP_KERNEL` to.
    pub fn code(self) -> u32 {
        (u32::from(self.major) << 16) | (u32::from(self.minor.min(255)) << 8)
    }

    /// The variant object's name for kern stem `stem`: `<stem>.k5.2.o`.
    pub fn object_name(self, stem: &str) -> String {
        format!("{stem}.k{self}.o")
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Read from a setting (`kernel-variants = ["5.2"]`): a string, named in
/// the error when it is not `MAJOR.MINOR`.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for KernelVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        KernelVersion::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a kernel version: write MAJOR.MINOR, e.g. \"5.2\""
            ))
        })
    }
}

/// One line of `<stem>.variants`: the object for kernels from `kernel` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub kernel: KernelVersion,
    pub file: String,
}

/// The variants file's name for kern stem `stem`.
pub fn list_name(stem: &str) -> String {
    format!("{stem}.variants")
}

/// The variants file's text.
pub fn render(variants: &[Variant]) -> String {
    variants
        .iter()
        .map(|v| format!("{} {}\n", v.kernel, v.file))
        .collect()
}

/// Reads a variants file; lines that are not `MAJOR.MINOR FILE` with a
/// plain file name (no path: the file lies beside the list) are skipped.
pub fn parse(text: &str) -> Vec<Variant> {
    text.lines()
        .filter_map(|line| {
            let (kernel, file) = line.trim_end_matches('\r').split_once(' ')?;
            let plain = !file.is_empty() && !file.contains('/') && !file.starts_with('.');
            plain.then_some(Variant {
                kernel: KernelVersion::parse(kernel)?,
                file: file.to_string(),
            })
        })
        .collect()
}

/// The variant for a kernel at `running`: the newest whose version it is
/// at least; None for the base object (no variant fits, or the running
/// kernel is unknown).
pub fn choose(variants: &[Variant], running: Option<KernelVersion>) -> Option<&Variant> {
    let running = running?;
    variants
        .iter()
        .filter(|v| v.kernel <= running)
        .max_by_key(|v| v.kernel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u16, minor: u16) -> KernelVersion {
        KernelVersion { major, minor }
    }

    #[test]
    fn versions_come_from_settings_and_release_strings() {
        assert_eq!(KernelVersion::parse("5.2"), Some(v(5, 2)));
        assert_eq!(KernelVersion::parse("5.10.0"), Some(v(5, 10)));
        assert_eq!(
            KernelVersion::parse("6.1.57-android14-11-gabcdef"),
            Some(v(6, 1))
        );
        assert_eq!(KernelVersion::parse("4.14.180+"), Some(v(4, 14)));
        assert_eq!(KernelVersion::parse("6.18-rc1"), Some(v(6, 18)));
        for bad in ["5", "5.", "5.x", "x.2", "", "5.2a.1", "-1.2"] {
            assert_eq!(KernelVersion::parse(bad), None, "{bad}");
        }
        assert_eq!(v(5, 2).code(), 0x050200);
        assert_eq!(v(4, 14).code(), 0x040e00);
        assert_eq!(v(5, 2).object_name("f_kern"), "f_kern.k5.2.o");
        assert!(v(5, 10) > v(5, 2) && v(6, 1) > v(5, 15));
    }

    #[test]
    fn the_newest_variant_the_kernel_allows_is_chosen() {
        let list = parse(&render(&[
            Variant {
                kernel: v(5, 2),
                file: "f.k5.2.o".into(),
            },
            Variant {
                kernel: v(5, 10),
                file: "f.k5.10.o".into(),
            },
        ]));
        assert_eq!(list.len(), 2);
        let chosen = |running| choose(&list, running).map(|c| c.file.as_str());
        assert_eq!(chosen(Some(v(4, 14))), None);
        assert_eq!(chosen(Some(v(5, 4))), Some("f.k5.2.o"));
        assert_eq!(chosen(Some(v(6, 18))), Some("f.k5.10.o"));
        assert_eq!(chosen(None), None);
        // Only plain names beside the list.
        assert!(parse("5.2 ../x.o\n5.2 /x.o\n5.2 .x.o\nbad\n5.2 \n").is_empty());
    }
}

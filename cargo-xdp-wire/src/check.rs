//! What the loader's `check` answers: a line per program of a kern object,
//! loaded through the verifier (BPF_PROG_LOAD only: nothing attached).

use std::fmt;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use super::Text;

/// One program's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct ProgramCheck {
    /// The object's file name (`f_kern.o`, `f_kern.k5.2.o`).
    pub object: String,
    /// The kernel variant the object is (`"5.2"`), None for the base.
    #[cfg_attr(feature = "serde", serde(default))]
    pub variant: Option<String>,
    /// The program (function) name; `*` for a whole object not loaded.
    pub program: String,
    /// Instructions as the kernel holds them after the load (its
    /// translated length), when accepted.
    #[cfg_attr(feature = "serde", serde(default))]
    pub insns: Option<u32>,
    /// Instructions the verifier processed (kernels 5.16+ say).
    #[cfg_attr(feature = "serde", serde(default))]
    pub verified: Option<u32>,
    /// Why the kernel refused it (the verifier's summary, then its log).
    #[cfg_attr(feature = "serde", serde(default))]
    pub error: Option<String>,
    /// Why it was not loaded (a variant for a newer kernel, a program
    /// type the loader does not load).
    #[cfg_attr(feature = "serde", serde(default))]
    pub skipped: Option<String>,
}

impl fmt::Display for ProgramCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |value: &Option<String>| match value {
            Some(text) => Text(text).to_string(),
            None => "null".into(),
        };
        let number = |value: Option<u32>| value.map_or("null".into(), |n| n.to_string());
        write!(
            f,
            r#"{{"object":{},"variant":{},"program":{},"insns":{},"verified":{},"error":{},"skipped":{}}}"#,
            Text(&self.object),
            text(&self.variant),
            Text(&self.program),
            number(self.insns),
            number(self.verified),
            text(&self.error),
            text(&self.skipped),
        )
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    #[test]
    fn serde_reads_back_what_display_writes() {
        for check in [
            ProgramCheck {
                object: "f_kern.k5.2.o".into(),
                variant: Some("5.2".into()),
                program: "xdp_filter".into(),
                insns: Some(283),
                verified: Some(1204),
                ..ProgramCheck::default()
            },
            ProgramCheck {
                object: "f_kern.o".into(),
                program: "xdp_bad".into(),
                error: Some("invalid access \"x\"\n".into()),
                ..ProgramCheck::default()
            },
        ] {
            let written = check.to_string();
            let read: ProgramCheck = serde_json::from_str(&written).expect(&written);
            assert_eq!(read, check);
        }
    }
}

//! How the loader attaches: the XDP mode, as `--mode` spells it.

use anyhow::{bail, Result};

/// `--mode`: auto (native, else skb), skb (generic) or native (driver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    Auto,
    Skb,
    Native,
}

impl AttachMode {
    pub fn parse(text: &str) -> Result<AttachMode> {
        Ok(match text {
            "auto" => AttachMode::Auto,
            "skb" => AttachMode::Skb,
            "native" => AttachMode::Native,
            other => {
                bail!("--mode {other} is not a mode: use auto (native, else skb), skb or native")
            }
        })
    }

    /// As the loader takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachMode::Auto => "auto",
            AttachMode::Skb => "skb",
            AttachMode::Native => "native",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_and_others_are_named() {
        for mode in ["auto", "skb", "native"] {
            assert_eq!(AttachMode::parse(mode).unwrap().as_str(), mode);
        }
        let error = AttachMode::parse("turbo").unwrap_err().to_string();
        assert!(error.contains("--mode turbo is not a mode"), "{error}");
    }
}

//! This project's part of the loader: the minimal template has no rules,
//! only three programs to choose from. Everything else a loader does is the
//! runtime's (cargo-xdp-loader).

use anyhow::Result;
use cargo_xdp_loader::{extension, Args, Extension, Project};

/// The minimal template's additions to the loader.
pub struct Minimal;

/// What main.rs hands the runtime.
pub static LOADER: Minimal = Minimal;

impl Extension for Minimal {
    /// Attaching without --prog lets traffic through: the safe choice.
    fn default_program(&self) -> Option<&str> {
        Some("xdp_pass")
    }

    fn help(&self) -> &str {
        "Programs: xdp_pass, xdp_drop, xdp_abort.\n"
    }

    fn command(&self, _project: &Project, name: &str, _args: Args) -> Option<Result<()>> {
        match name {
            "rules" => extension::refuse(
                "the minimal template has no rules; choose a program with `attach IFACE --prog xdp_drop`",
            ),
            _ => None,
        }
    }
}

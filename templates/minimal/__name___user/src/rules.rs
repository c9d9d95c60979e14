//! The minimal template has no rules: it picks one of three programs.

use anyhow::{bail, Result};

use crate::{args::Args, xdp::Project};

/// Attaching without --prog lets traffic through: the safe choice.
pub const DEFAULT_PROGRAM: Option<&str> = Some("xdp_pass");
pub const ATTACH_USAGE: &str = "";
pub const COMMAND_USAGE: &str = "";
pub const HELP: &str = "Programs: xdp_pass, xdp_drop, xdp_abort.\n";

pub struct Rules;

impl Rules {
    pub fn parse(_args: &mut Args) -> Result<Rules> {
        Ok(Rules)
    }

    pub fn apply(&self, _project: &Project) -> Result<()> {
        Ok(())
    }

    pub fn describe(&self) -> String {
        String::new()
    }
}

pub fn command(_project: &Project, _args: Args) -> Result<()> {
    bail!("the minimal template has no rules; choose a program with `attach IFACE --prog xdp_drop`")
}

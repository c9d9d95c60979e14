//! Where a project's loader runs, as root: this machine's build (through
//! sudo unless root; `local::ThisMachine`) or root's deployed copy on a
//! device (`session::Deployed`). A command that asks the loader something
//! (`status`, `stats`) holds a `dyn LoaderHost` and never asks which.

use anyhow::Result;

pub trait LoaderHost {
    /// Who answers: a device's serial, or None for this machine.
    fn serial(&self) -> Option<&str>;

    /// The loader's command `args`, as root; each line it prints on
    /// standard output handed to `line` (as it comes when it streams; its
    /// standard error is shown as is). An error when it fails, saying how.
    fn run(&self, args: &[&str], line: &mut dyn FnMut(&str)) -> Result<()>;
}

//! A command's choice of device turned into the place its loader runs:
//! root's deployed copy on a device, or this machine's build (which the
//! command builds: this layer never does; run through sudo unless root). The commands that ask a loader something
//! (`status`, `stats`, `loader`, `log`) start here.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::{
    cargo_args::CargoArgs,
    host::LoaderHost,
    local::{Privilege, ThisMachine},
    project::Project,
    session::{self, DeviceChoice},
    shell::Shell,
};

/// Where a command asks the project's loader: root's deployed copy on
/// `device`, or this machine's build (through sudo unless root).
pub struct LoaderPlace<'a> {
    pub device: Option<&'a DeviceChoice>,
    pub cargo: &'a CargoArgs,
    pub manifest_path: Option<&'a Path>,
    /// The command, for sudo's prompt.
    pub what: &'a str,
    /// Whether its command needs root here (a sudo prompt unless root).
    pub needs_root: bool,
}

impl LoaderPlace<'_> {
    /// `ask` with that loader, and the project it belongs to; here the
    /// loader is the one `build_here` builds (after sudo was asked).
    pub fn with_host(
        &self,
        shell: &Shell,
        build_here: impl FnOnce(&Project) -> Result<PathBuf>,
        ask: impl FnOnce(&dyn LoaderHost, &Project) -> Result<()>,
    ) -> Result<()> {
        if let Some(device) = self.device {
            let project = Project::find(self.manifest_path)?;
            let (_, transport) = session::connect(device)?;
            let host = session::DeployedLoader {
                transport,
                project: &project,
            };
            return ask(&host, &project);
        }
        let privilege = if self.needs_root {
            Privilege::acquire(self.what, shell)?
        } else {
            Privilege::Root
        };
        let project = Project::find_with(self.manifest_path, self.cargo)?;
        let host = ThisMachine {
            privilege,
            loader: build_here(&project)?,
        };
        ask(&host, &project)
    }
}

//! Finds the project (with `cargo metadata`) and reads its
//! `[workspace.metadata.xdp]` table.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cargo_metadata::MetadataCommand;
use serde::Deserialize;

/// `[workspace.metadata.xdp]` as `cargo xdp new` writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XdpMetadata {
    pub name: String,
    #[serde(default)]
    pub kern: Vec<PathBuf>,
    pub loader: String,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub cflags: Vec<String>,
    /// Android API level the loader links against (default 21).
    #[serde(default)]
    pub api: Option<u32>,
}

pub struct Project {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub meta: XdpMetadata,
}

impl Project {
    /// The project around `manifest_path`, or around the current directory.
    pub fn find(manifest_path: Option<&Path>) -> Result<Project> {
        let mut command = MetadataCommand::new();
        command.no_deps();
        if let Some(path) = manifest_path {
            command.manifest_path(path);
        }
        let metadata = command.exec().context(
            "cannot read the project with `cargo metadata`: run this inside a project made by \
             `cargo xdp new`, or pass --manifest-path",
        )?;
        let root = metadata.workspace_root.into_std_path_buf();
        let manifest = root.join("Cargo.toml");
        let Some(table) = metadata.workspace_metadata.get("xdp") else {
            bail!(
                "{} has no [workspace.metadata.xdp] table, so it is not a cargo-xdp project; \
                 create one with `cargo xdp new NAME`",
                manifest.display()
            );
        };
        let meta: XdpMetadata = serde_json::from_value(table.clone()).with_context(|| {
            format!(
                "[workspace.metadata.xdp] in {} is not valid",
                manifest.display()
            )
        })?;
        crate::names::validate(&meta.name)
            .with_context(|| format!("[workspace.metadata.xdp] name in {}", manifest.display()))?;
        if !metadata
            .packages
            .iter()
            .any(|p| p.name.as_str() == meta.loader)
        {
            bail!(
                "[workspace.metadata.xdp] loader = \"{}\" is not a package of the workspace in {}; \
                 add it to [workspace] members or fix the name",
                meta.loader,
                manifest.display()
            );
        }
        let mut project = Project {
            root,
            target_dir: metadata.target_directory.into_std_path_buf(),
            meta,
        };
        if project.meta.kern.is_empty() {
            project.meta.kern = vec![PathBuf::from(format!(
                "{0}_kern/{0}_kern.c",
                project.meta.name
            ))];
        }
        for source in &project.meta.kern {
            if !project.root.join(source).is_file() {
                bail!(
                    "kern source {} (listed in [workspace.metadata.xdp] kern) does not exist",
                    project.root.join(source).display()
                );
            }
        }
        Ok(project)
    }

    /// `target/xdp/<target>/`: kern objects, stamps and the bundle.
    pub fn xdp_dir(&self, target: &str) -> PathBuf {
        self.target_dir.join("xdp").join(target)
    }
}

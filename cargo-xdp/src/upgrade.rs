//! `cargo xdp upgrade`: moves a project's loader to this cargo-xdp's
//! runtime (`cargo-xdp-loader`), the one change that brings a runtime fix
//! to a project made before it. The dependency becomes what `cargo xdp new`
//! writes today (the released version, or this checkout's runtime by path);
//! the rest of the manifest stays as it is. Then `cargo update` refreshes
//! the lock file.

use std::{fs, path::Path};

use anyhow::{bail, Context, Result};
use toml_edit::{DocumentMut, Item};

use crate::process::Process;
use crate::{
    project::Project,
    shell::Shell,
    templates::{self, LOADER_VERSION},
};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct UpgradeOptions {
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

const RUNTIME: &str = "cargo-xdp-loader";

pub fn upgrade(args: &UpgradeOptions, shell: &Shell) -> Result<()> {
    let project = Project::find(args.manifest_path.as_deref())?;
    let manifest = project.loader_manifest.clone();
    let text = fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let (updated, old) = set_runtime(&text, &templates::loader_dependency())
        .with_context(|| format!("in {}", manifest.display()))?;
    if updated == text {
        shell.status(
            "Fresh",
            format!(
                "{} already uses {RUNTIME} {LOADER_VERSION}",
                project.meta.loader
            ),
        );
        return Ok(());
    }
    fs::write(&manifest, updated)
        .with_context(|| format!("cannot write {}", manifest.display()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Process::new(cargo)
        .args(["update", "-p", RUNTIME, "--manifest-path"])
        .arg(project.root.join("Cargo.toml"))
        .status()
        .context("cannot run cargo update")?;
    if !status.success() {
        bail!(
            "`cargo update -p {RUNTIME}` failed (see above); {} now asks for {RUNTIME} \
             {LOADER_VERSION}",
            manifest.display()
        );
    }
    shell.status(
        "Upgraded",
        format!(
            "{} from {RUNTIME} {} to {LOADER_VERSION} ({})",
            project.meta.loader,
            old.as_deref().unwrap_or("?"),
            relative(&manifest, &project.root).display()
        ),
    );
    Ok(())
}

fn relative<'a>(path: &'a Path, root: &Path) -> &'a Path {
    path.strip_prefix(root).unwrap_or(path)
}

/// The manifest with the `cargo-xdp-loader` dependency replaced by `spec`
/// (TOML: `"0.1.0"` or `{ version = .., path = .. }`), and the version it
/// asked for before.
fn set_runtime(manifest: &str, spec: &str) -> Result<(String, Option<String>)> {
    let mut doc: DocumentMut = manifest.parse().context("not a valid Cargo.toml")?;
    let new: toml_edit::Value = spec
        .parse()
        .with_context(|| format!("cargo-xdp's own dependency spec `{spec}` is not TOML"))?;
    // (toml_edit's get_mut makes a missing key an empty item.)
    let dependency = doc
        .get_mut("dependencies")
        .and_then(|d| d.as_table_like_mut())
        .and_then(|d| d.get_mut(RUNTIME))
        .filter(|item| !item.is_none())
        .with_context(|| {
            format!(
                "the loader does not depend on {RUNTIME} (a project made before the runtime \
                 crate existed: make a new project with `cargo xdp new` and move your C and \
                 rules into it)"
            )
        })?;
    let old = match &*dependency {
        Item::Value(toml_edit::Value::String(s)) => Some(s.value().clone()),
        Item::Value(toml_edit::Value::InlineTable(table)) => table
            .get("version")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        Item::Table(table) => table
            .get("version")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        _ => bail!("the {RUNTIME} dependency is neither a version nor a table"),
    };
    // Keep the comments around the line; replace what it says.
    let decor = dependency.as_value().map(|v| v.decor().clone());
    let mut new = new;
    if let Some(decor) = decor {
        *new.decor_mut() = decor;
    }
    *dependency = Item::Value(new);
    Ok((doc.to_string(), old))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_the_version_and_keeps_the_rest() {
        let (text, old) = set_runtime(
            "[dependencies]\n# the runtime\ncargo-xdp-loader = \"0.0.9\"\naya = \"=0.14.0\"\n",
            "\"0.1.0\"",
        )
        .unwrap();
        assert_eq!(old.as_deref(), Some("0.0.9"));
        assert_eq!(
            text,
            "[dependencies]\n# the runtime\ncargo-xdp-loader = \"0.1.0\"\naya = \"=0.14.0\"\n"
        );
        let (text, old) = set_runtime(
            "[dependencies]\ncargo-xdp-loader = { version = \"0.0.9\", path = \"../old\" }\n",
            "{ version = \"0.1.0\", path = \"/new\" }",
        )
        .unwrap();
        assert_eq!(old.as_deref(), Some("0.0.9"));
        assert_eq!(
            text,
            "[dependencies]\ncargo-xdp-loader = { version = \"0.1.0\", path = \"/new\" }\n"
        );
        let error = set_runtime("[dependencies]\naya = \"=0.14.0\"\n", "\"0.1.0\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("does not depend on cargo-xdp-loader"),
            "{error}"
        );
    }
}

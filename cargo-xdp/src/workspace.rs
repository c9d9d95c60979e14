//! Where the project is, read from the manifests and cargo's configuration
//! files the way cargo reads them, without starting `cargo metadata` (a
//! process costs about half of a no-op `cargo build`, and every build asks).
//!
//! This covers the layouts `cargo xdp new` writes and what users commonly
//! do to them (a subdirectory as the working directory, `--manifest-path`,
//! `CARGO_TARGET_DIR`, `build.target-dir` in a `.cargo/config.toml`). For
//! anything else — glob members, `package.workspace`, `--config`, a config
//! `include`, a manifest this cannot read — [`Layout::read`] answers `None`
//! and the caller asks `cargo metadata`, whose answer is authoritative.
//! `project.rs`'s tests compare the two on every layout this handles.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use toml_edit::{DocumentMut, Item};

/// What cargo would say about the workspace around a directory.
#[derive(Debug)]
pub struct Layout {
    /// The workspace root (the directory of the manifest with `[workspace]`).
    pub root: PathBuf,
    /// The root manifest's `[workspace.metadata.xdp]`, as a table of its own.
    pub xdp: DocumentMut,
    /// The Cargo.toml of every member package, by package name.
    pub members: Vec<(String, PathBuf)>,
    /// The target directory cargo builds into.
    pub target_dir: PathBuf,
}

/// What decides the answer besides the files: the working directory, the
/// environment and cargo's flags.
pub struct Context<'a> {
    pub cwd: &'a Path,
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
    /// `--target-dir`, already absolute.
    pub target_dir: Option<PathBuf>,
    /// Any `--config`: its values could say anything.
    pub has_config_args: bool,
}

impl<'a> Context<'a> {
    /// This process's environment, working in `cwd`.
    pub fn of_this_process(
        cwd: &'a Path,
        target_dir: Option<PathBuf>,
        has_config_args: bool,
    ) -> Self {
        fn process_env(name: &str) -> Option<OsString> {
            std::env::var_os(name)
        }
        Context {
            cwd,
            env: &process_env,
            target_dir,
            has_config_args,
        }
    }
}

impl Layout {
    /// The layout around `manifest_path` (else the working directory), or
    /// `None` when only cargo can be sure.
    pub fn read(manifest_path: Option<&Path>, context: &Context) -> Option<Layout> {
        if context.has_config_args {
            return None;
        }
        let start = match manifest_path {
            Some(path) => context.cwd.join(path),
            None => find_upwards(context.cwd, "Cargo.toml")?,
        };
        let start_doc = read_toml(&start)?;
        // A member's workspace is the first parent with [workspace], which
        // must list it (or cargo would refuse, in its own words).
        let (root_manifest, root_doc, member_dir) = if start_doc.get("workspace").is_some() {
            (start, start_doc, None)
        } else {
            if start_doc
                .get("package")
                .and_then(|p| p.get("workspace"))
                .is_some()
            {
                return None;
            }
            let member_dir = start.parent()?.to_path_buf();
            let (root_manifest, root_doc) = member_dir
                .ancestors()
                .skip(1)
                .map(|dir| dir.join("Cargo.toml"))
                .filter(|manifest| manifest.is_file())
                .find_map(|manifest| {
                    let doc = read_toml(&manifest)?;
                    doc.get("workspace").is_some().then_some((manifest, doc))
                })?;
            (root_manifest, root_doc, Some(member_dir))
        };
        let root = root_manifest.parent()?.to_path_buf();
        let member_paths = member_paths(&root_doc)?;
        if let Some(member_dir) = member_dir {
            if !member_paths.iter().any(|m| root.join(m) == member_dir) {
                return None;
            }
        }
        let xdp = xdp_table(&root_doc)?;
        let mut members = Vec::new();
        if let Some(name) = package_name(&root_doc) {
            members.push((name, root_manifest.clone()));
        }
        for member in member_paths {
            let manifest = root.join(member).join("Cargo.toml");
            let name = package_name(&read_toml(&manifest)?)?;
            members.push((name, manifest));
        }
        let target_dir = target_dir(&root, context)?;
        Some(Layout {
            root,
            xdp,
            members,
            target_dir,
        })
    }
}

fn find_upwards(dir: &Path, file: &str) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(file))
        .find(|path| path.is_file())
}

fn read_toml(path: &Path) -> Option<DocumentMut> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

/// The directories of a package's path dependencies and theirs (`path =
/// ".."` under `[dependencies]` or a `[target.*.dependencies]`, or under
/// the workspace's `[workspace.dependencies]` for `workspace = true`), as
/// cargo names them to rustc: joined to the manifest's directory, `.` and
/// `..` folded without following links. Build and dev dependencies are
/// left out: their sources are not in the package's binary.
pub fn path_dependencies(manifest: &Path, workspace_root: &Path) -> Vec<PathBuf> {
    let mut dirs = direct_path_dependencies(manifest, Some(workspace_root));
    let mut next = 0;
    while next < dirs.len() {
        for dir in direct_path_dependencies(&dirs[next].join("Cargo.toml"), None) {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        next += 1;
    }
    dirs
}

/// The path dependencies `manifest` names itself (those it inherits with
/// `workspace = true` only where the workspace's root is given).
fn direct_path_dependencies(manifest: &Path, workspace_root: Option<&Path>) -> Vec<PathBuf> {
    let (Some(doc), Some(dir)) = (read_toml(manifest), manifest.parent()) else {
        return Vec::new();
    };
    let workspace =
        workspace_root.and_then(|root| Some((root, read_toml(&root.join("Cargo.toml"))?)));
    let inherited = |name: &str| {
        let (root, doc) = workspace.as_ref()?;
        let dependency = doc.get("workspace")?.get("dependencies")?.get(name)?;
        Some(root.join(dependency.get("path")?.as_str()?))
    };
    let targets = doc.get("target").and_then(Item::as_table_like);
    let tables = doc
        .get("dependencies")
        .into_iter()
        .chain(
            targets
                .into_iter()
                .flat_map(|t| t.iter())
                .filter_map(|(_, t)| t.get("dependencies")),
        )
        .filter_map(Item::as_table_like);
    let mut dirs = Vec::new();
    for table in tables {
        for (name, dependency) in table.iter() {
            let dir = match dependency.get("path").and_then(Item::as_str) {
                Some(path) => Some(dir.join(path)),
                None if dependency.get("workspace").and_then(Item::as_bool) == Some(true) => {
                    inherited(name)
                }
                None => None,
            };
            if let Some(dir) = dir.map(|d| lexically_normal(&d)) {
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
    dirs
}

/// `path` with `.` left out and each `..` taking the component before it.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

fn package_name(doc: &DocumentMut) -> Option<String> {
    Some(doc.get("package")?.get("name")?.as_str()?.to_string())
}

/// `[workspace] members` when every one is a plain path (no globs) and
/// none is excluded; `None` otherwise.
fn member_paths(doc: &DocumentMut) -> Option<Vec<String>> {
    let workspace = doc.get("workspace")?;
    if workspace
        .get("exclude")
        .and_then(Item::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return None;
    }
    let Some(members) = workspace.get("members") else {
        return Some(Vec::new());
    };
    let mut paths = Vec::new();
    for member in members.as_array()? {
        let path = member.as_str()?;
        if path.contains(['*', '?', '[']) {
            return None;
        }
        paths.push(path.trim_end_matches('/').to_string());
    }
    Some(paths)
}

/// `[workspace.metadata.xdp]` (a table or an inline table) as a document.
fn xdp_table(doc: &DocumentMut) -> Option<DocumentMut> {
    let item = doc.get("workspace")?.get("metadata")?.get("xdp")?;
    let table = match item {
        Item::Table(table) => table.clone(),
        Item::Value(toml_edit::Value::InlineTable(table)) => table.clone().into_table(),
        _ => return None,
    };
    let mut xdp = DocumentMut::new();
    *xdp.as_table_mut() = table;
    Some(xdp)
}

/// cargo's order: --target-dir, $CARGO_TARGET_DIR, $CARGO_BUILD_TARGET_DIR
/// (relative to the working directory), `build.target-dir` of the config
/// file nearest the working directory, then $CARGO_HOME's (relative to the
/// directory holding `.cargo/`), else `<root>/target`.
fn target_dir(root: &Path, context: &Context) -> Option<PathBuf> {
    if let Some(dir) = &context.target_dir {
        return Some(dir.clone());
    }
    for variable in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        if let Some(dir) = (context.env)(variable) {
            if dir.is_empty() {
                return None;
            }
            return Some(context.cwd.join(dir));
        }
    }
    for (dir, config) in config_files(context)? {
        if let Some(value) = config.get("build").and_then(|b| b.get("target-dir")) {
            let value = value.as_str()?;
            if value.is_empty() {
                return None;
            }
            return Some(dir.parent()?.join(value));
        }
    }
    Some(root.join("target"))
}

/// cargo's configuration files, the one that wins first: `.cargo/config.toml`
/// (or `.cargo/config`) in the working directory and each parent, then
/// $CARGO_HOME's; each with the `.cargo` directory it is in. `None` when
/// cargo's own reading could differ (both spellings in one directory, an
/// `include`, a file that does not parse).
pub fn config_files(context: &Context) -> Option<Vec<(PathBuf, DocumentMut)>> {
    let mut files = Vec::new();
    for dir in config_dirs(context) {
        let with_extension = dir.join("config.toml");
        let without = dir.join("config");
        let file = match (with_extension.is_file(), without.is_file()) {
            (true, true) => return None, // cargo warns and picks one
            (true, false) => with_extension,
            (false, true) => without,
            (false, false) => continue,
        };
        let config = read_toml(&file)?;
        if config.get("include").is_some() {
            return None;
        }
        files.push((dir, config));
    }
    Some(files)
}

/// The `.cargo` directories cargo looks in, the one that wins first: the
/// working directory's and each parent's, then $CARGO_HOME.
pub fn config_dirs(context: &Context) -> Vec<PathBuf> {
    let cargo_home = (context.env)("CARGO_HOME")
        .map(|home| context.cwd.join(home))
        .or_else(|| (context.env)("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let mut config_dirs: Vec<PathBuf> = context
        .cwd
        .ancestors()
        .map(|dir| dir.join(".cargo"))
        .collect();
    if let Some(home) = cargo_home {
        if !config_dirs.contains(&home) {
            config_dirs.push(home);
        }
    }
    config_dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_dependencies_as_cargo_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        std::fs::create_dir_all(root.join("p_user")).unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"p_user\"]\n\
             [workspace.dependencies]\nshared = { path = \"../shared\" }\nserde = \"1\"\n",
        )
        .unwrap();
        let manifest = root.join("p_user/Cargo.toml");
        std::fs::write(
            &manifest,
            "[package]\nname = \"p_user\"\n\
             [dependencies]\n\
             cargo-xdp-loader = { version = \"0.1.0\", path = \"/src/cargo-xdp/cargo-xdp-loader\" }\n\
             near = { path = \"./../near\" }\nanyhow = \"1\"\nshared = { workspace = true }\n\
             serde = { workspace = true }\n\
             [target.'cfg(target_os = \"android\")'.dependencies]\nphone = { path = \"phone\" }\n\
             [build-dependencies]\nbuilder = { path = \"../builder\" }\n\
             [dev-dependencies]\ntesting = { path = \"../testing\" }\n",
        )
        .unwrap();
        assert_eq!(
            path_dependencies(&manifest, &root),
            [
                PathBuf::from("/src/cargo-xdp/cargo-xdp-loader"),
                root.join("near"),
                dir.path().join("shared"),
                root.join("p_user/phone"),
            ]
        );
        assert!(path_dependencies(&root.join("missing/Cargo.toml"), &root).is_empty());
        // And theirs: the runtime's own path dependency.
        std::fs::create_dir_all(root.join("near")).unwrap();
        std::fs::write(
            root.join("near/Cargo.toml"),
            "[package]\nname = \"near\"\n[dependencies]\nwire = { path = \"../wire\" }\n\
             shared = { path = \"../../shared\" }\n",
        )
        .unwrap();
        assert_eq!(
            path_dependencies(&manifest, &root)[4..],
            [root.join("wire")]
        );
    }
}

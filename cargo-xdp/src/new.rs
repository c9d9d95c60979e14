//! `cargo xdp new`: writes a project from a template, all or nothing.

use std::{fs, path::Path};

use anyhow::{bail, Context, Result};

use crate::{messages::Message, names, shell::Shell, templates};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct NewOptions {
    /// Project name: letters, digits, `_` and `-`, starting with a letter.
    pub name: Option<String>,
    /// Template to start from (see --list).
    pub template: String,
    /// Directory to create (default: ./NAME).
    pub path: Option<PathBuf>,
    /// List the templates and exit.
    pub list: bool,
    /// Version control for the new project: git (unless already inside a
    /// git repository, as cargo does) or none.
    pub vcs: Vcs,
}

/// Version control for a new project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vcs {
    Git,
    None,
}

pub fn new(args: &NewOptions, shell: &Shell) -> Result<()> {
    if args.list {
        for template in templates::list() {
            if shell.human() {
                println!("{:<10} {}", template.name, template.description);
            }
            shell.message(&Message::Template {
                name: template.name,
                description: &template.description,
            });
        }
        return Ok(());
    }
    let name = args
        .name
        .as_deref()
        .expect("clap requires NAME without --list");
    names::validate(name)?;
    let files = templates::render(&args.template, name)?;
    let dest = args.path.clone().unwrap_or_else(|| name.into());
    if dest.exists() || dest.is_symlink() {
        bail!(
            "destination `{}` already exists; choose another name or --path, or remove it first",
            dest.display()
        );
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot create `{}`: the directory `{}` does not exist; create it first or choose another --path",
            dest.display(),
            parent.display()
        );
    }
    // Write into a hidden sibling, then rename: the project appears whole or not at all.
    let staging = tempfile::Builder::new()
        .prefix(".cargo-xdp-new-")
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot write in `{}`; choose a writable --path",
                parent.display()
            )
        })?;
    for (relative, contents) in &files {
        let path = staging.path().join(relative);
        fs::create_dir_all(path.parent().expect("files are inside the staging dir"))?;
        fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.vcs == Vcs::Git && !inside_git_repository(parent) {
        init_git(staging.path(), shell);
    }
    fs::rename(staging.path(), &dest)
        .with_context(|| format!("cannot create `{}`", dest.display()))?;
    // The directory now lives at `dest`; the TempDir guard must not delete it.
    let _ = staging.keep();
    shell.status(
        "Created",
        format!(
            "`{}` XDP project `{name}` at {}",
            args.template,
            dest.display()
        ),
    );
    shell.message(&Message::ProjectCreated {
        name,
        template: &args.template,
        path: &dest,
    });
    Ok(())
}

/// `dir` or a directory above it holds `.git` (a directory, or a file for
/// worktrees and submodules): the new project joins that repository.
fn inside_git_repository(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    dir.ancestors().any(|d| d.join(".git").exists())
}

/// `git init` in the (still hidden) project. Without git the project is
/// made all the same, with a warning: it needs no repository to build.
fn init_git(dir: &Path, shell: &Shell) {
    let outcome = crate::process::Process::new("git")
        .args(["init", "--quiet"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .output();
    match outcome {
        Ok(out) if out.status.success() => {}
        Ok(out) => shell.warn(format!(
            "`git init` failed ({}), so the project is not a git repository: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(_) => shell.warn(
            "git is not installed, so the project is not a git repository (pass --vcs none to \
             say that is what you want)",
        ),
    }
}

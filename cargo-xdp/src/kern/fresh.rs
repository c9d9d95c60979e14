//! Whether a kern object is up to date: made by the same recipe, and no
//! file its depfile names changed since that compile started.

use std::{
    fs,
    path::{Path, PathBuf},
    time::SystemTime,
};

/// Up to date: the object exists, was made by the same recipe, and no file
/// its depfile names changed since that compile started (the stamp's date:
/// an object rebuilt to the same bytes keeps its own older one).
pub(super) fn is_fresh(
    object: &Path,
    stamp: &Path,
    recipe: &str,
    depfile: &Path,
    root: &Path,
) -> bool {
    if !object.is_file() {
        return false;
    }
    let Ok(built) = fs::metadata(stamp).and_then(|m| m.modified()) else {
        return false;
    };
    if fs::read_to_string(stamp).ok().as_deref() != Some(recipe) {
        return false;
    }
    let Ok(deps) = fs::read_to_string(depfile) else {
        return false;
    };
    let deps = parse_depfile(&deps);
    !deps.is_empty()
        && deps.iter().all(|dep| {
            let modified: Option<SystemTime> =
                fs::metadata(root.join(dep)).and_then(|m| m.modified()).ok();
            modified.is_some_and(|m| m <= built)
        })
}

/// The prerequisites of the first rule of a make-style depfile (`out: a.c
/// b.h \` ...): clang's, and cargo's dep-info beside a binary (which adds
/// an empty rule per source after it).
pub fn parse_depfile(text: &str) -> Vec<PathBuf> {
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    let first_rule = joined.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let Some((_, deps)) = first_rule.split_once(": ") else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    paths
}

//! `compile_commands.json`: the clang command of every kern source, as
//! clangd (and other editors' C tooling) reads it to find `<bpf/...>`,
//! `<linux/...>` and the project's own headers where the build finds them.
//! Written after each build of the project's default target, at the path
//! `compile-commands` in the metadata names (default: the project root's
//! `compile_commands.json`; `false`: none), and only when it changed, so an
//! editor watching it does not re-index for nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::{kern::KernObject, project::Project};

/// One entry of the JSON Compilation Database (clang's format).
#[derive(Serialize, Debug, PartialEq)]
struct Entry<'a> {
    directory: &'a Path,
    file: &'a Path,
    arguments: &'a [String],
    output: &'a Path,
}

/// The database for `objects` (one entry each), as text.
fn render(root: &Path, objects: &[KernObject]) -> String {
    let entries: Vec<Entry> = objects
        .iter()
        .map(|object| Entry {
            directory: root,
            file: &object.source,
            arguments: &object.command,
            output: &object.object,
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&entries).expect("entries serialize");
    text.push('\n');
    text
}

/// Writes the project's database for `objects` unless the metadata says
/// not to; the path, when one was written or was already the same.
pub fn write(project: &Project, objects: &[KernObject]) -> Result<Option<PathBuf>> {
    let Some(path) = project.meta.compile_commands_path(&project.root) else {
        return Ok(None);
    };
    let text = render(&project.root, objects);
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(Some(path));
    }
    let dir = path.parent().unwrap_or(&project.root);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    crate::workdir::persist(file, &path, 0o644)?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(source: &str) -> KernObject {
        KernObject {
            source: source.into(),
            object: format!("/p/target/xdp/linux-x86_64/kern/{source}.o").into(),
            sidecars: Vec::new(),
            command: vec!["/usr/bin/clang-19".into(), "-target".into(), "bpf".into()],
            variants: Vec::new(),
            fresh: true,
        }
    }

    #[test]
    fn one_entry_per_source_with_its_exact_command() {
        let text = render(Path::new("/p"), &[object("a_kern/a.c"), object("b.c")]);
        let entries: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(entries.as_array().unwrap().len(), 2);
        assert_eq!(entries[0]["directory"], "/p");
        assert_eq!(entries[0]["file"], "a_kern/a.c");
        assert_eq!(
            entries[1]["arguments"],
            serde_json::json!(["/usr/bin/clang-19", "-target", "bpf"])
        );
        assert!(text.ends_with("]\n"));
    }
}

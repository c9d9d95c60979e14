//! The project templates, embedded from `templates/` at build time.
//!
//! `templates/common/` is written for every project, then the chosen
//! template's directory on top of it. In paths `__name__` becomes the
//! project name, `__loader__` and `__kern__` the loader crate and kern
//! directory (names::loader_crate, names::kern_stem); in contents
//! `{{name}}`, `{{loader}}`, `{{kern}}`, `{{c_name}}` (C identifier) and
//! `{{template}}` are replaced, and `{{metadata}}` by the `metadata` lines
//! of the template's template.toml. Nothing else is touched, so Rust's own
//! `{{` escapes in the templates stay as they are.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::names;

use crate::embedded::{DEVICE_SCRIPT_FILES, TEMPLATE_FILES};

/// Directories of `templates/` that are not project templates.
const NOT_TEMPLATES: &[&str] = &["common"];
const DESCRIPTION_FILE: &str = "template.toml";

pub struct Template {
    pub name: &'static str,
    pub description: String,
}

/// Every template, sorted by name.
pub fn list() -> Vec<Template> {
    TEMPLATE_FILES
        .iter()
        .filter_map(|(path, bytes)| {
            let (dir, file) = path.split_once('/')?;
            (file == DESCRIPTION_FILE && !NOT_TEMPLATES.contains(&dir)).then(|| Template {
                name: dir,
                description: description(bytes),
            })
        })
        .collect()
}

fn description(bytes: &[u8]) -> String {
    setting(bytes, "description")
}

/// A string of a template's `template.toml` ("" when absent).
fn setting(bytes: &[u8], key: &str) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.parse::<toml_edit::DocumentMut>()
        .ok()
        .and_then(|doc| doc.get(key)?.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The `metadata` of `template`'s template.toml: lines for the new
/// project's `[workspace.metadata.xdp]` (`{{metadata}}` in Cargo.toml.in).
fn metadata_lines(template: &str) -> String {
    let file = format!("{template}/{DESCRIPTION_FILE}");
    TEMPLATE_FILES
        .iter()
        .find(|(path, _)| *path == file)
        .map(|(_, bytes)| setting(bytes, "metadata"))
        .unwrap_or_default()
}

/// The files of a new project made from `template`, as (relative path, contents).
pub fn render(template: &str, name: &str) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    if !list().iter().any(|t| t.name == template) {
        let known: Vec<_> = list().iter().map(|t| t.name).collect();
        if let Some(meant) = crate::spelling::closest(template, known.iter().map(|t| (*t, *t))) {
            bail!("there is no template `{template}`; did you mean `{meant}`?");
        }
        bail!(
            "there is no template `{template}`; choose one of: {} (see `cargo xdp new --list`)",
            known.join(", ")
        );
    }
    let mut files: Vec<(String, &[u8])> = Vec::new();
    for layer in ["common", template] {
        for (path, bytes) in TEMPLATE_FILES {
            let Some(relative) = path.strip_prefix(layer).and_then(|p| p.strip_prefix('/')) else {
                continue;
            };
            if relative == DESCRIPTION_FILE {
                continue;
            }
            files.retain(|(existing, _)| existing != relative);
            files.push((relative.to_string(), bytes));
        }
    }
    files.sort();
    let c_name = names::c_identifier(name);
    let loader = names::loader_crate(name);
    let kern = names::kern_stem(name);
    let loader_dependency = loader_dependency();
    let metadata = metadata_lines(template);
    let vars = [
        ("{{name}}", name),
        ("{{loader}}", loader.as_str()),
        ("{{kern}}", kern.as_str()),
        ("{{c_name}}", c_name.as_str()),
        ("{{template}}", template),
        ("{{loader_dependency}}", loader_dependency.as_str()),
        ("{{metadata}}", metadata.as_str()),
    ];
    Ok(files
        .into_iter()
        .map(|(path, bytes)| {
            let path = project_path(&path)
                .replace("__loader__", &loader)
                .replace("__kern__", &kern)
                .replace("__name__", name);
            let path = PathBuf::from(path);
            (path, fill(bytes, &vars))
        })
        .collect())
}

/// A template file's name in the project. Templates hold no `Cargo.toml`
/// (cargo would take the directory for a package of its own and leave it
/// out of cargo-xdp's) and no `.gitignore` (git would obey it): they are
/// `Cargo.toml.in` and `gitignore`.
fn project_path(template_path: &str) -> String {
    let (dir, file) = match template_path.rsplit_once('/') {
        Some((dir, file)) => (Some(dir), file),
        None => (None, template_path),
    };
    let file = match file {
        "Cargo.toml.in" => "Cargo.toml",
        "gitignore" => ".gitignore",
        other => other,
    };
    match dir {
        Some(dir) => format!("{dir}/{file}"),
        None => file.to_string(),
    }
}

/// A file of `device-scripts/` with `{{name}}` and `{{loader}}` (the
/// loader executable's file name) filled in.
pub fn bundle_file(file: &str, name: &str, loader: &str) -> Vec<u8> {
    let bytes = DEVICE_SCRIPT_FILES
        .iter()
        .find(|(p, _)| *p == file)
        .map(|(_, bytes)| *bytes)
        .unwrap_or_else(|| panic!("device-scripts/{file} is embedded at build time"));
    fill(bytes, &[("{{name}}", name), ("{{loader}}", loader)])
}

/// The version of the loader runtime a new project depends on: this
/// cargo-xdp's own (they are released together).
pub const LOADER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a new project depends on the loader runtime: the released crate
/// (`"0.1.0"`, a normal version requirement), or by path where that crate's
/// source is at hand: `$CARGO_XDP_LOADER_PATH`, or the checkout this
/// cargo-xdp was built from (its tests, `cargo install --path`), so such
/// projects build before a release and offline.
pub fn loader_dependency() -> String {
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cargo-xdp-loader");
    let path = std::env::var_os("CARGO_XDP_LOADER_PATH")
        .map(PathBuf::from)
        .or_else(|| checkout.join("Cargo.toml").is_file().then_some(checkout));
    match path.and_then(|p| p.canonicalize().ok()) {
        Some(dir) => format!(
            "{{ version = \"{LOADER_VERSION}\", path = {:?} }}",
            dir.display().to_string()
        ),
        None => format!("\"{LOADER_VERSION}\""),
    }
}

fn fill(bytes: &[u8], vars: &[(&str, &str)]) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let mut text = text.to_string();
            for (key, value) in vars {
                text = text.replace(key, value);
            }
            text.into_bytes()
        }
        Err(_) => bytes.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'a>(files: &'a [(PathBuf, Vec<u8>)], path: &str) -> &'a str {
        let (_, bytes) = files
            .iter()
            .find(|(p, _)| p == &PathBuf::from(path))
            .unwrap_or_else(|| panic!("{path} not rendered"));
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn lists_minimal_and_filter_with_descriptions() {
        let all = list();
        for name in ["filter", "minimal"] {
            let t = all.iter().find(|t| t.name == name).expect(name);
            assert!(!t.description.is_empty());
        }
        assert!(!all.iter().any(|t| t.name == "common" || t.name == "bundle"));
    }

    #[test]
    fn renders_the_kern_user_pair() {
        let files = render("filter", "my-filter").unwrap();
        let kern = file(&files, "my-filter-kern/my-filter-kern.c");
        assert!(kern.contains("SEC(\"xdp\")"));
        assert!(!kern.contains("{{"));
        file(&files, "my-filter-kern/include/xdp_stats.h");
        let manifest = file(&files, "my-filter-user/Cargo.toml");
        assert!(manifest.contains("name = \"my-filter-user\""));
        assert!(manifest.contains("aya = \"=0.14.0\""));
        // The runtime by version (and here, in a checkout, by path too).
        assert!(manifest.contains("cargo-xdp-loader = { version = \"0.1.0\", path = "));
        let main = file(&files, "my-filter-user/src/main.rs");
        assert!(main.contains("cargo_xdp_loader::run(\"my-filter\", &rules::LOADER);"));
        let rules = file(&files, "my-filter-user/src/rules.rs");
        assert!(rules.contains("impl Extension for Filter"));
        assert!(rules.contains("my-filter-user rules"));
        file(&files, ".gitignore");
        let root = file(&files, "Cargo.toml");
        assert!(root.contains("[workspace.metadata.xdp]"));
    }

    #[test]
    fn template_files_override_common_ones() {
        let minimal = render("minimal", "m").unwrap();
        assert!(file(&minimal, "m_user/src/rules.rs").contains("no rules"));
        assert!(file(&minimal, "m_kern/m_kern.c").contains("xdp_abort"));
    }

    #[test]
    fn a_misspelt_template_gets_a_did_you_mean() {
        let error = render("filtre", "x").unwrap_err().to_string();
        assert!(error.contains("did you mean `filter`?"), "{error}");
    }

    #[test]
    fn unknown_template_names_the_choices() {
        let error = render("nope", "x").unwrap_err().to_string();
        assert!(
            error.contains("filter") && error.contains("minimal"),
            "{error}"
        );
    }
}

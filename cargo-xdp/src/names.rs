//! Project names. One name becomes a directory, two crate-name prefixes
//! (`NAME_kern`, `NAME_user`), a bpffs directory and C identifiers, so it
//! must be valid for all of them.

use anyhow::{bail, Result};

/// Rust keywords and names cargo reserves: `cargo new` refuses them too.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "test",
    "core",
    "std",
    "alloc",
    "proc_macro",
];

/// C keywords: the name (with `-` as `_`) prefixes C identifiers.
const C_KEYWORDS: &[&str] = &[
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while",
];

/// Longest name accepted: keeps bpffs paths and identifiers readable.
const MAX_LEN: usize = 48;

/// Checks `name`; the error says what is wrong and what would work.
pub fn validate(name: &str) -> Result<()> {
    let suggestion = suggest(name);
    let hint = match &suggestion {
        Some(s) if s != name => format!(" Try `{s}`."),
        _ => String::new(),
    };
    if name.is_empty() {
        bail!("the project name is empty: give one, e.g. `cargo xdp new myfilter`");
    }
    if name.len() > MAX_LEN {
        bail!(
            "the project name `{name}` is {} characters long; use at most {MAX_LEN}.",
            name.len()
        );
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        bail!("the project name `{name}` must start with a letter (it becomes a crate name and C identifiers).{hint}");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        bail!("the project name `{name}` contains `{bad}`: use only letters, digits, `_` and `-`.{hint}");
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) || C_KEYWORDS.contains(&c_identifier(&lower).as_str()) {
        bail!("`{name}` is a Rust or C keyword or a reserved crate name; choose another name, e.g. `{name}_xdp`.");
    }
    Ok(())
}

/// The loader crate (and its executable): `myfilter_user`, or for a name
/// written with hyphens `my-filter-user`: one style per name, as cargo
/// users write package names.
pub fn loader_crate(name: &str) -> String {
    joined(name, "user")
}

/// The kern directory and its first source's stem: `myfilter_kern`,
/// `my-filter-kern`.
pub fn kern_stem(name: &str) -> String {
    joined(name, "kern")
}

fn joined(name: &str, part: &str) -> String {
    let separator = if name.contains('-') { '-' } else { '_' };
    format!("{name}{separator}{part}")
}

/// The name as a C identifier: `-` becomes `_`.
pub fn c_identifier(name: &str) -> String {
    name.replace('-', "_")
}

/// A valid name close to `name`, if one can be made.
fn suggest(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
        .to_string();
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_keep_the_style_of_the_project_name() {
        assert_eq!(loader_crate("myfilter"), "myfilter_user");
        assert_eq!(loader_crate("my_filter"), "my_filter_user");
        assert_eq!(loader_crate("my-filter"), "my-filter-user");
        assert_eq!(kern_stem("my-filter"), "my-filter-kern");
        assert_eq!(kern_stem("wifi"), "wifi_kern");
    }

    #[test]
    fn accepts_ordinary_names() {
        for name in ["myfilter", "my-filter", "my_filter2", "A", "wifi-guard-v2"] {
            validate(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("1filter", "start with a letter"),
            ("-x", "start with a letter"),
            ("my filter", "contains ` `"),
            ("my.filter", "contains `.`"),
            ("über", "start with a letter"),
            ("a/b", "contains `/`"),
            ("test", "keyword"),
            ("std", "keyword"),
            ("int", "keyword"),
            ("struct", "keyword"),
            ("volatile", "keyword"),
        ];
        for (name, reason) in cases {
            let error = validate(name).expect_err(name).to_string();
            assert!(error.contains(reason), "{name}: {error}");
        }
        assert!(validate(&"a".repeat(MAX_LEN + 1)).is_err());
    }

    #[test]
    fn suggests_a_fix() {
        let error = validate("my filter").unwrap_err().to_string();
        assert!(error.contains("Try `my_filter`"), "{error}");
    }

    #[test]
    fn dashes_become_underscores_for_c() {
        assert_eq!(c_identifier("my-filter-2"), "my_filter_2");
    }
}

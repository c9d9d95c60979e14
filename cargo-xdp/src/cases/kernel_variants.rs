//! A project's cases on its kernel variants: each case again per variant
//! of its object, named as the loader's `test-run --variants` names it.

use std::path::Path;

use cargo_xdp_wire::variants;

use super::Case;

impl Case {
    /// The name of the case this one runs as: its own, or for a kernel
    /// variant's copy the base case's.
    pub(crate) fn base_name(&self) -> &str {
        match self.variant {
            Some(kernel) => {
                let suffix = cargo_xdp_wire::variant_case_name("", kernel);
                self.spec
                    .name
                    .strip_suffix(&suffix)
                    .unwrap_or(&self.spec.name)
            }
            None => &self.spec.name,
        }
    }
}

/// The cases as a run reports them: each, then again per kernel variant
/// of its object (`<stem>.variants` in `kern_dir`), named as the loader's
/// `test-run --variants` names them; whether any object has variants.
pub(crate) fn with_variant_copies(cases: Vec<Case>, kern_dir: &Path) -> (Vec<Case>, bool) {
    let listed = |object: &Path| {
        let list = object
            .file_stem()
            .map(|stem| kern_dir.join(variants::list_name(&stem.to_string_lossy())));
        list.and_then(|path| std::fs::read_to_string(path).ok())
            .map(|text| variants::parse(&text))
            .unwrap_or_default()
    };
    let mut copies = Vec::new();
    for case in &cases {
        for variant in listed(&case.object) {
            let mut copy = case.clone();
            copy.spec.name = cargo_xdp_wire::variant_case_name(&case.spec.name, variant.kernel);
            copy.object = kern_dir.join(&variant.file);
            copy.variant = Some(variant.kernel);
            copies.push((variant.kernel, copy));
        }
    }
    // In the loader's order: every base case, then each variant's.
    copies.sort_by_key(|(kernel, _)| *kernel);
    let any = !copies.is_empty();
    let mut all = cases;
    all.extend(copies.into_iter().map(|(_, copy)| copy));
    (all, any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_case_is_copied_per_listed_variant_of_its_object() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        let packet = "packet = { ipv4 = { src = \"10.0.0.1\", dst = \"10.0.0.2\" } }";
        let cases: String = ["a", "b"]
            .map(|n| {
                format!("[[case]]\nname = \"{n}\"\n{packet}\nexpect = {{ action = \"pass\" }}\n")
            })
            .concat();
        std::fs::write(&file, cases).unwrap();
        let object = dir.path().join("f_kern.o");
        let read = || super::super::read_cases(dir.path(), &file, &object).unwrap();

        let (plain, any) = with_variant_copies(read(), dir.path());
        assert!(!any);
        assert_eq!(plain.len(), 2);

        std::fs::write(
            dir.path().join("f_kern.variants"),
            "5.2 f_kern.k5.2.o\n5.10 f_kern.k5.10.o\n",
        )
        .unwrap();
        let (all, any) = with_variant_copies(read(), dir.path());
        assert!(any);
        let names: Vec<&str> = all.iter().map(|c| c.spec.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a",
                "b",
                "a [kernel 5.2+]",
                "b [kernel 5.2+]",
                "a [kernel 5.10+]",
                "b [kernel 5.10+]"
            ]
        );
        assert_eq!(all[3].object, dir.path().join("f_kern.k5.2.o"));
        assert_eq!(all[3].base_name(), "b");
        assert_eq!(all[1].base_name(), "b");
    }
}

//! The tool's layers, checked: the modules of cargo-xdp/src read as text
//! (their `crate::` paths and `use crate::{...}` lists, test modules left
//! out), and the build fails on an import cycle, on an arrow that points up
//! a layer, on one subcommand importing another, on clap outside the
//! command-line layer, on starting a process anywhere but process.rs, and
//! on a product file over 500 lines or a function over 80.
//! ARCHITECTURE.md says the same in words ("Layers, and what each must not
//! do").

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Top to bottom. A module may import modules of its own layer or below;
/// in the commands layer, none of another command.
const LAYERS: &[(&str, &[&str])] = &[
    ("entry", &["main"]),
    ("command line", &["cli"]),
    (
        "commands",
        &[
            "new",
            "run",
            "status",
            "packet_test",
            "bench",
            "check",
            "log",
            "map_dump",
            "doctor",
            "vmlinux",
            "upgrade",
            "deploy",
        ],
    ),
    (
        "devices",
        &[
            "host",
            "loader_place",
            "session",
            "local",
            "adb",
            "ssh",
            "remote",
            "layout",
            "transport",
        ],
    ),
    (
        "build",
        &[
            "builder",
            "kern",
            "ir",
            "user",
            "loader_stamp",
            "bundle",
            "compile_db",
            "baseline",
            "headers",
            "uapi",
            "clang",
            "ndk",
            "tools",
            "elf",
        ],
    ),
    (
        "packet tests",
        &["cases", "packets", "capture", "typed_maps"],
    ),
    (
        "project",
        &[
            "project",
            "workspace",
            "names",
            "attach",
            "templates",
            "cargo_args",
        ],
    ),
    ("targets", &["toolchain", "isa"]),
    (
        "utilities",
        &[
            "shell",
            "messages",
            "workdir",
            "hashing",
            "spelling",
            "embedded",
            "process",
            "verifier_log",
            "trace_view",
        ],
    ),
];

/// The layer whose modules may import clap.
const CLAP_LAYER: &str = "command line";

/// The one module that starts processes (std::process::Command, or a
/// crate's own runner such as cargo_metadata's `exec`).
const RUNNER: &str = "process";

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Each module (a file, or a folder with its mod.rs and children) and its
/// text without the unit tests.
fn modules() -> BTreeMap<String, String> {
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for (path, product) in product_files() {
        let top = path
            .strip_prefix(src())
            .unwrap()
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        found.entry(top).or_default().push_str(&product);
    }
    found
}

/// The modules `text` names: `crate::x`, `use crate::{x, y::z}`, and in
/// main.rs (which declares them) `x::`.
fn arrows(name: &str, text: &str, all: &BTreeSet<String>) -> BTreeSet<String> {
    let mut to = BTreeSet::new();
    let words = |at: &str| -> String {
        at.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in list.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        to.insert(words(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            to.insert(words(item.trim()));
        } else {
            to.insert(words(rest));
        }
    }
    if name == "main" {
        for module in all {
            if text.contains(&format!("{module}::")) {
                to.insert(module.clone());
            }
        }
    }
    to.retain(|m| all.contains(m) && m != name);
    to
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, names)| names.contains(&module))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let all: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, text)| (name.clone(), arrows(name, text, &all)))
        .collect()
}

/// The strongly connected components with more than one module.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut (usize, BTreeMap<String, (usize, usize)>, Vec<String>),
        out: &mut Vec<Vec<String>>,
    ) {
        let index = state.0;
        state.0 += 1;
        state.1.insert(node.to_string(), (index, index));
        state.2.push(node.to_string());
        for next in &graph[node] {
            match state.1.get(next).copied() {
                None => {
                    visit(next, graph, state, out);
                    let low = state.1[next].1.min(state.1[node].1);
                    state.1.get_mut(node).unwrap().1 = low;
                }
                Some((next_index, _)) if state.2.contains(next) => {
                    let low = next_index.min(state.1[node].1);
                    state.1.get_mut(node).unwrap().1 = low;
                }
                Some(_) => {}
            }
        }
        if state.1[node].0 == state.1[node].1 {
            let mut component = Vec::new();
            loop {
                let top = state.2.pop().unwrap();
                let done = top == node;
                component.push(top);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                out.push(component);
            }
        }
    }
    let mut state = (0, BTreeMap::new(), Vec::new());
    let mut out = Vec::new();
    for node in graph.keys() {
        if !state.1.contains_key(node) {
            visit(node, graph, &mut state, &mut out);
        }
    }
    out
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<String> = graph()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer (add them to LAYERS in tests/layers.rs and to ARCHITECTURE.md): {unplaced:?}"
    );
}

#[test]
fn no_import_cycles() {
    let found = cycles(&graph());
    assert!(found.is_empty(), "import cycles: {found:?}");
}

#[test]
fn arrows_point_down_and_commands_stand_alone() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        let Some(from_layer) = layer_of(from) else {
            continue;
        };
        for to in targets {
            let Some(to_layer) = layer_of(to) else {
                continue;
            };
            if to_layer < from_layer {
                wrong.push(format!(
                    "{from} ({}) imports {to} ({}), a layer above",
                    LAYERS[from_layer].0, LAYERS[to_layer].0
                ));
            } else if to_layer == from_layer && LAYERS[from_layer].0 == "commands" {
                wrong.push(format!(
                    "command {from} imports command {to}: move what they share down a layer"
                ));
            }
        }
    }
    let arrows: usize = graph.values().map(BTreeSet::len).sum();
    eprintln!(
        "{} modules in {} layers, {arrows} arrows",
        graph.len(),
        LAYERS.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn clap_only_in_the_command_line_layer() {
    let (_, allowed) = LAYERS.iter().find(|(l, _)| *l == CLAP_LAYER).unwrap();
    let offenders: Vec<String> = modules()
        .into_iter()
        .filter(|(name, text)| !allowed.contains(&name.as_str()) && text.contains("clap::"))
        .map(|(name, _)| name)
        .collect();
    assert!(offenders.is_empty(), "clap outside cli.rs: {offenders:?}");
}

/// Whether `text` starts a process itself: `Command::new(` (not a
/// `MetadataCommand`, which only describes one) or a crate's `.exec()`.
fn starts_processes(text: &str) -> bool {
    let made = text.match_indices("Command::new(").any(|(at, _)| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    made || text.contains(".exec()")
}

#[test]
fn only_the_runner_starts_processes() {
    let starting: Vec<String> = modules()
        .into_iter()
        .filter(|(name, text)| name != RUNNER && starts_processes(text))
        .map(|(name, _)| name)
        .collect();
    assert!(
        starting.is_empty(),
        "these modules start processes themselves instead of through process.rs: {starting:?}"
    );
}

/// Every product file of src/ (its unit tests left out), by path.
fn product_files() -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).unwrap();
                let product = text.split("\n#[cfg(test)]\nmod tests").next().unwrap();
                found.push((path, product.to_string()));
            }
        }
    }
    found
}

/// Functions longer than `most` lines: (name, lines), by the indentation
/// of their closing brace.
fn long_functions(text: &str, most: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut long = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let line = lines[at];
        let indent = line.len() - line.trim_start().len();
        let rest = line.trim_start();
        let rest = rest
            .strip_prefix("pub(crate) ")
            .or_else(|| rest.strip_prefix("pub(super) "))
            .or_else(|| rest.strip_prefix("pub "))
            .unwrap_or(rest);
        if let Some(signature) = rest.strip_prefix("fn ") {
            let name: String = signature
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let close = format!("{}}}", " ".repeat(indent));
            let end = (at + 1..lines.len())
                .find(|&i| lines[i] == close)
                .unwrap_or(lines.len());
            if end - at > most {
                long.push((name, end - at));
            }
            at = end;
        }
        at += 1;
    }
    long
}

#[test]
fn files_and_functions_read_in_one_go() {
    let mut over = Vec::new();
    for (path, text) in product_files() {
        let shown = path.strip_prefix(src()).unwrap().display().to_string();
        let lines = text.lines().count();
        if lines > 500 {
            over.push(format!("{shown}: {lines} lines (at most 500)"));
        }
        for (name, lines) in long_functions(&text, 80) {
            over.push(format!("{shown}: fn {name} is {lines} lines (at most 80)"));
        }
    }
    assert!(over.is_empty(), "{}", over.join("\n"));
}

#[test]
fn the_checks_catch_what_they_are_for() {
    let all: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    let seen = arrows(
        "a",
        "use crate::{b::{X, Y}, c};\nfn f() { crate::b::g(); }",
        &all,
    );
    assert_eq!(seen, ["b", "c"].map(String::from).into());
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.insert("a".into(), ["b".to_string()].into());
    graph.insert("b".into(), ["c".to_string()].into());
    graph.insert("c".into(), ["a".to_string()].into());
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    graph.insert("c".into(), BTreeSet::new());
    assert!(cycles(&graph).is_empty());
    assert!(starts_processes("let c = Command::new(\"adb\");"));
    assert!(starts_processes("let c = std::process::Command::new(x);"));
    assert!(!starts_processes("let c = MetadataCommand::new();"));
    assert!(!starts_processes("let p = Process::new(x);"));
    let long = format!(
        "fn big() {{\n{}}}\nfn small() {{\n}}\n",
        "    x();\n".repeat(90)
    );
    assert_eq!(long_functions(&long, 80), vec![("big".to_string(), 91)]);
}

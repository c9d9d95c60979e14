//! Packet tests as files write them and a loader runs them: the cases of
//! `<kern dir>/tests/*.toml`, read and checked (errors name file, case and
//! field), their packets built; the loader's cases format (see
//! cargo-xdp-loader's testrun) a bundle carries as `STEM.cases`; and the
//! judging of the loader's answers. `cargo xdp test` and `bench` run them
//! (packet_test.rs, bench.rs); a build bundles them.
//!
//! ```toml
//! [[case]]
//! name = "drops_dns"
//! args = ["--drop-port", "udp/53"]          # what `attach` takes
//! packet = { ipv4 = { src = "10.0.0.1", dst = "10.0.0.2" }, udp = { dst = 53 } }
//! expect = { action = "drop", counters = { drop = 1 } }
//! ```

mod judge;
mod kernel_variants;

pub(crate) use judge::judge;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use cargo_xdp_wire::variants;
pub(crate) use kernel_variants::with_variant_copies;
use serde::Deserialize;

use crate::{
    packets::{self, PacketSpec},
    project::Project,
};

/// One case as a file writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseSpec {
    pub(crate) name: String,
    /// What `attach` takes: the project's options, `--prog`, `--set`, `--tail`.
    #[serde(default)]
    args: Vec<String>,
    /// Entries written into (pinned) maps after `args`, raw: hex keys and
    /// values of the map's sizes.
    #[serde(default)]
    maps: BTreeMap<String, Vec<RawEntry>>,
    packet: PacketSpec,
    /// What the packet starts with: `"ethernet"` (default) or `"rawip"`
    /// (an interface without Ethernet: the program's `_rawip` variant runs).
    #[serde(default)]
    link: packets::Link,
    /// Runs of the packet, back to back in the same maps (a burst: what a
    /// rate limiter sees); `expect.action` is the last run's.
    #[serde(default = "one")]
    repeat: u32,
    expect: Expect,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    action: Option<Action>,
    /// The whole packet the program leaves (for programs that rewrite).
    packet: Option<PacketSpec>,
    /// Only these fields of the packet it leaves (`"ipv4.ttl" = 63`,
    /// `"eth.dst" = "02:00:00:00:00:01"`): the names a failure shows.
    fields: Option<BTreeMap<String, FieldValue>>,
    /// Packets counted per action in `xdp_stats`.
    counters: Option<BTreeMap<Action, u64>>,
    /// Entries that must be in these (pinned) maps afterwards.
    maps: Option<BTreeMap<String, Vec<MapEntry>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntry {
    key: String,
    value: String,
}

/// A field's expected value: a number or text, as `packets::fields` shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum FieldValue {
    Number(i64),
    Text(String),
}

impl FieldValue {
    fn text(&self) -> String {
        match self {
            FieldValue::Number(n) => n.to_string(),
            FieldValue::Text(t) => t.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MapEntry {
    key: String,
    /// The value (the first CPU's, for per-CPU maps); any when left out.
    value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    Aborted,
    Drop,
    Pass,
    Tx,
    Redirect,
}

impl Action {
    const ALL: [Action; 5] = [
        Action::Aborted,
        Action::Drop,
        Action::Pass,
        Action::Tx,
        Action::Redirect,
    ];

    fn name(self) -> &'static str {
        ["aborted", "drop", "pass", "tx", "redirect"][self as usize]
    }

    pub(crate) fn of(code: u64) -> String {
        Action::ALL
            .get(code as usize)
            .map_or_else(|| format!("action {code}"), |a| a.name().to_string())
    }
}

/// A case ready to run: its packet built, its file known.
#[derive(Clone)]
pub(crate) struct Case {
    pub(crate) spec: CaseSpec,
    pub(crate) file: PathBuf,
    packet: Vec<u8>,
    /// `expect.packet`, built.
    expected_packet: Option<Vec<u8>>,
    /// The kern object it tests.
    pub(crate) object: PathBuf,
    /// The kernel variant `object` is (with_variant_copies), None for the
    /// base object.
    pub(crate) variant: Option<variants::KernelVersion>,
}

/// (`STEM.cases`, its sha256) of each cases file a bundle carries.
pub(crate) type CaseSums = Vec<(String, String)>;

/// The cases as a deployed bundle has them (objects named by stem), and
/// the sha256 of each `STEM.cases` file.
pub(crate) fn bundled_cases(project: &Project) -> Result<(Vec<Case>, CaseSums)> {
    let objects: Vec<PathBuf> = project
        .meta
        .kern
        .iter()
        .map(|k| {
            let stem = k.file_stem().map(|s| s.to_string_lossy().into_owned());
            PathBuf::from(format!("{}.o", stem.unwrap_or_default()))
        })
        .collect();
    let cases = project_cases(project, &objects)?;
    let sums = bundle_cases(project, &objects)?
        .into_iter()
        .map(|(file, text)| (file, crate::hashing::sha256_hex(text.as_bytes())))
        .collect();
    Ok((cases, sums))
}

/// The device's `cases-sha256:` lines must be these sums: never judge
/// answers to cases other than the ones here.
pub(crate) fn check_ran(
    expected: &[(String, String)],
    on_device: &BTreeMap<String, String>,
    serial: &str,
) -> Result<()> {
    for (file, sum) in expected {
        if on_device.get(file) != Some(sum) {
            bail!(
                "the packet tests that ran on {serial} are not these ({file} {}): nothing was \
                 judged; run the command again (the bundle is built from the cases here)",
                if on_device.contains_key(file) {
                    "differs"
                } else {
                    "is missing"
                }
            );
        }
    }
    Ok(())
}

/// Every case of the project, each with the object it tests (`objects`
/// in the order of the project's kern sources); names unique.
pub(crate) fn project_cases(project: &Project, objects: &[PathBuf]) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for file in case_files(project)? {
        let object = object_for(project, objects, &file);
        cases.extend(read_cases(&project.root, &file, &object)?);
    }
    check_unique(&cases)?;
    Ok(cases)
}

/// The packet tests as the bundle carries them, for `test --adb`: per kern
/// object (`objects`, in the order of the kern sources) that has cases,
/// `STEM.cases` and its text. Nothing when the project has no cases.
pub(crate) fn bundle_cases(
    project: &Project,
    objects: &[PathBuf],
) -> Result<Vec<(String, String)>> {
    let cases = project_cases(project, objects)?;
    let mut files = Vec::new();
    for object in objects {
        let text: String = cases
            .iter()
            .filter(|c| &c.object == object)
            .map(cases_text)
            .collect();
        if text.is_empty() {
            continue;
        }
        let stem = object
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((format!("{stem}.cases"), text));
    }
    Ok(files)
}

/// `<dir of the first kern source>/tests`, where a first case file goes.
pub(crate) fn default_tests_dir(project: &Project) -> PathBuf {
    let first = project.root.join(&project.meta.kern[0]);
    first.parent().unwrap_or(&project.root).join("tests")
}

/// Every `tests/*.toml` beside a kern source, sorted.
pub(crate) fn case_files(project: &Project) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = project
        .meta
        .kern
        .iter()
        .filter_map(|k| project.root.join(k).parent().map(|d| d.join("tests")))
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut files = Vec::new();
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The object a case file tests: that of the first kern source in the
/// directory above its `tests/`, else the project's first.
pub(crate) fn object_for(project: &Project, objects: &[PathBuf], file: &Path) -> PathBuf {
    let kern_dir = file.parent().and_then(Path::parent);
    project
        .meta
        .kern
        .iter()
        .zip(objects)
        .find(|(source, _)| project.root.join(source).parent() == kern_dir)
        .map_or_else(|| objects[0].clone(), |(_, object)| object.clone())
}

/// The cases of one file; an error names the file, the case and the field.
pub(crate) fn read_cases(root: &Path, file: &Path, object: &Path) -> Result<Vec<Case>> {
    let shown = file.strip_prefix(root).unwrap_or(file).to_path_buf();
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {}", shown.display()))?;
    let document: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not TOML", shown.display()))?;
    let Some(tables) = document.get("case").and_then(|c| c.as_array_of_tables()) else {
        bail!(
            "{} has no [[case]] tables: each case is a [[case]] with name, packet and expect",
            shown.display()
        );
    };
    let file_args = file_defaults(&document).with_context(|| shown.display().to_string())?;
    let mut cases = Vec::new();
    for (index, table) in tables.iter().enumerate() {
        let label = match table.get("name").and_then(|n| n.as_str()) {
            Some(name) => format!("case `{name}`"),
            None => format!("case {} (no name)", index + 1),
        };
        let in_case = || format!("{}, {label}", shown.display());
        let mut spec: CaseSpec = toml_edit::de::from_str(&table.to_string())
            .map_err(|e| anyhow::anyhow!("{}", e.message().trim()))
            .with_context(in_case)?;
        if let (None, Some(args)) = (table.get("args"), &file_args) {
            spec.args = args.clone();
        }
        let expect = &spec.expect;
        if expect.action.is_none()
            && expect.packet.is_none()
            && expect.fields.is_none()
            && expect.counters.is_none()
            && expect.maps.is_none()
        {
            bail!(
                "{}: `expect` says nothing: give action, packet, fields, counters or maps",
                in_case()
            );
        }
        for (map, entries) in &spec.maps {
            for entry in entries {
                for (what, hex) in [("key", &entry.key), ("value", &entry.value)] {
                    if packets::unhex(hex).is_none() {
                        bail!("{}, maps.{map}: the {what} `{hex}` is not hex", in_case());
                    }
                }
            }
        }
        let packet = packets::for_link(&spec.packet, spec.link)
            .with_context(|| format!("{}, packet", in_case()))?;
        let expected_packet = expect
            .packet
            .as_ref()
            .map(|expected| packets::for_link(expected, spec.link))
            .transpose()
            .with_context(|| format!("{}, expect.packet", in_case()))?;
        cases.push(Case {
            spec,
            file: shown.clone(),
            packet,
            expected_packet,
            object: object.to_path_buf(),
            variant: None,
        });
    }
    Ok(cases)
}

/// What a file says above its cases: `args` for every case that gives
/// none; any other key is an error naming it (a typo must not be ignored).
fn file_defaults(document: &toml_edit::DocumentMut) -> Result<Option<Vec<String>>> {
    const KEYS: [&str; 2] = ["case", "args"];
    for (key, _) in document.iter() {
        if !KEYS.contains(&key) {
            let hint = crate::spelling::closest(key, KEYS.iter().map(|k| (*k, *k)))
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            bail!(
                "unknown top-level key `{key}`{hint}: a packet-test file holds [[case]] tables \
                 and, for every case that gives none of its own, `args = [...]`"
            );
        }
    }
    let Some(item) = document.get("args") else {
        return Ok(None);
    };
    let args = item
        .as_array()
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
        .context(
            "top-level `args` must be a list of strings, e.g. args = [\"--drop-port\", \"udp/53\"]",
        )?;
    Ok(Some(args))
}

/// `cargo xdp test FILTER` / `bench FILTER`: a case whose name or file
/// (`tests/dns.toml`, `dns`) contains the filter; no filter, every case.
pub(crate) fn selected(case: &Case, filter: Option<&str>) -> bool {
    filter.is_none_or(|f| case.spec.name.contains(f) || case.file.to_string_lossy().contains(f))
}

/// Said when a filter selects nothing, rather than a silent zero.
pub(crate) fn none_selected(filter: Option<&str>, total: usize) -> Option<String> {
    filter.map(|f| {
        format!(
            "0 of {total} packet tests selected: no case name or case file contains `{f}` \
             (`cargo xdp test` lists them all)"
        )
    })
}

pub(crate) fn check_unique(cases: &[Case]) -> Result<()> {
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for case in cases {
        if let Some(first) = seen.insert(&case.spec.name, &case.file) {
            bail!(
                "two packet tests are named `{}` ({} and {}): names must be unique",
                case.spec.name,
                first.display(),
                case.file.display()
            );
        }
    }
    Ok(())
}

/// The case in the loader's cases format (see cargo-xdp-loader's testrun).
pub(crate) fn cases_text(case: &Case) -> String {
    cases_text_with(case, case.spec.repeat, true, false)
}

/// The same, run `repeat` times; without its args (and maps) for a
/// program that takes none (bench's baseline); `timed` for a bench (the
/// loader also takes CPU time, with two extra runs).
pub(crate) fn cases_text_with(case: &Case, repeat: u32, with_args: bool, timed: bool) -> String {
    let mut text = format!("case {}\n", case.spec.name);
    if timed {
        text.push_str("timed\n");
    }
    if !with_args {
        text.push_str("bare\n");
    }
    if case.spec.link == packets::Link::Rawip {
        text.push_str("link rawip\n");
    }
    if with_args {
        for arg in &case.spec.args {
            let _ = writeln!(text, "arg {arg}");
        }
        for (map, entries) in &case.spec.maps {
            for entry in entries {
                let clean =
                    |hex: &str| packets::hex(&packets::unhex(hex).expect("checked when read"));
                let _ = writeln!(
                    text,
                    "entry {map} {} {}",
                    clean(&entry.key),
                    clean(&entry.value)
                );
            }
        }
        for map in case.spec.expect.maps.iter().flat_map(|m| m.keys()) {
            let _ = writeln!(text, "map {map}");
        }
    }
    if repeat > 1 {
        let _ = writeln!(text, "repeat {repeat}");
    }
    let _ = writeln!(text, "packet {}\nend", packets::hex(&case.packet));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use cargo_xdp_wire::{CaseAnswer, CaseRun, Counter, Counters, Hex};

    fn case(toml: &str) -> Result<Vec<Case>> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, toml).unwrap();
        read_cases(dir.path(), &file, Path::new("x.o"))
    }

    const PACKET: &str =
        "packet = { ipv4 = { src = \"10.0.0.1\", dst = \"10.0.0.2\" }, udp = { dst = 53 } }";

    #[test]
    fn malformed_cases_name_file_case_and_field() {
        let error = |toml: String| format!("{:#}", case(&toml).err().unwrap());
        let bad_field = error(format!(
            "[[case]]\nname = \"a\"\n{PACKET}\nexpect = {{ actoin = \"drop\" }}\n"
        ));
        assert!(
            bad_field.contains("t.toml, case `a`") && bad_field.contains("actoin"),
            "{bad_field}"
        );
        let bad_action = error(format!(
            "[[case]]\nname = \"b\"\n{PACKET}\nexpect = {{ action = \"eat\" }}\n"
        ));
        assert!(
            bad_action.contains("case `b`") && bad_action.contains("eat"),
            "{bad_action}"
        );
        let empty = error(format!("[[case]]\nname = \"c\"\n{PACKET}\nexpect = {{}}\n"));
        assert!(empty.contains("`expect` says nothing"), "{empty}");
        let packet = error("[[case]]\nname = \"d\"\npacket = { udp = { dst = 1 } }\nexpect = { action = \"pass\" }\n".into());
        assert!(
            packet.contains("case `d`, packet") && packet.contains("no `ipv4`"),
            "{packet}"
        );
        assert!(error("name = 1\n".into()).contains("no [[case]] tables"));
        let raw = error(format!(
            "[[case]]\nname = \"e\"\n{PACKET}\nmaps = {{ m = [{{ key = \"zz\", value = \"00\" }}] }}\nexpect = {{ action = \"pass\" }}\n"
        ));
        assert!(
            raw.contains("case `e`, maps.m: the key `zz` is not hex"),
            "{raw}"
        );
    }

    #[test]
    fn file_level_args_serve_every_case_without_its_own() {
        let cases = case(&format!(
            "args = [\"--drop-port\", \"udp/53\"]\n\
             [[case]]\nname = \"a\"\n{PACKET}\nexpect = {{ action = \"drop\" }}\n\
             [[case]]\nname = \"b\"\nargs = []\n{PACKET}\nexpect = {{ action = \"pass\" }}\n"
        ))
        .unwrap();
        assert_eq!(cases[0].spec.args, ["--drop-port", "udp/53"]);
        assert!(cases[1].spec.args.is_empty(), "a case's own args win");
        let typo = case(&format!(
            "arg = [\"x\"]\n[[case]]\nname = \"a\"\n{PACKET}\nexpect = {{ action = \"drop\" }}\n"
        ))
        .err()
        .expect("refused");
        let said = format!("{typo:#}");
        assert!(
            said.contains("unknown top-level key `arg` (did you mean `args`?)"),
            "{said}"
        );
    }

    #[test]
    fn a_missing_map_key_lists_the_keys_there() {
        let cases = case(&format!(
            "[[case]]\nname = \"m\"\n{PACKET}\nexpect = {{ maps = {{ seen = [{{ key = \"0035\" }}] }} }}\n"
        ))
        .unwrap();
        let answer = CaseAnswer::Ran(CaseRun {
            case: "m".into(),
            maps: vec![(
                "seen".to_string(),
                vec![cargo_xdp_wire::MapEntry {
                    key: Hex(vec![0x35, 0]),
                    values: vec![Hex(vec![1])],
                }],
            )],
            ..Default::default()
        });
        let problems = judge(&cases[0], &answer, None);
        assert!(
            problems[0].starts_with("maps.seen: no entry with key 0035 (it has 3500; keys are"),
            "{problems:?}"
        );
    }

    #[test]
    fn map_keys_and_values_in_failures_are_also_shown_by_field() {
        let types = crate::typed_maps::compiled(
            "typedef unsigned short __be16;\n\
             struct port_key { __be16 port; };\n\
             struct {\n int (*type)[1];\n struct port_key *key;\n unsigned int *value;\n\
             } seen __attribute__((section(\".maps\"), used));\n",
        );
        let cases = case(&format!(
            "[[case]]\nname = \"m\"\n{PACKET}\nexpect = {{ maps = {{ seen = [\
             {{ key = \"0035\" }}, {{ key = \"01bb\", value = \"02000000\" }}] }} }}\n"
        ))
        .unwrap();
        let entry = |key: [u8; 2], value: u32| cargo_xdp_wire::MapEntry {
            key: Hex(key.to_vec()),
            values: vec![Hex(value.to_le_bytes().to_vec())],
        };
        let answer = CaseAnswer::Ran(CaseRun {
            case: "m".into(),
            maps: vec![(
                "seen".to_string(),
                vec![entry([0x35, 0], 1), entry([0x01, 0xbb], 3)],
            )],
            ..Default::default()
        });
        // The program wrote port 53 in host order: the __be16 field says so.
        let problems = judge(&cases[0], &answer, Some(&types));
        assert!(
            problems[0].starts_with(
                "maps.seen: no entry with key 0035 = { port: 53 } (it has \
                 3500 = { port: 13568 }, 01bb = { port: 443 }; keys are"
            ),
            "{problems:?}"
        );
        assert_eq!(
            problems[1],
            "maps.seen[01bb = { port: 443 }]: expected 02000000 = 2, got 03000000 = 3"
        );
    }

    #[test]
    fn answers_are_judged_field_by_field() {
        let cases = case(&format!(
            "[[case]]\nname = \"a\"\n{PACKET}\nexpect = {{ action = \"drop\", counters = {{ drop = 1 }} }}\n"
        ))
        .unwrap();
        let answer = |action, drops| {
            let mut counters = [Counter::default(); 5];
            counters[1].packets = drops;
            CaseAnswer::Ran(CaseRun {
                case: "a".into(),
                action,
                counters: Some(Counters::from_actions(counters)),
                ..Default::default()
            })
        };
        assert!(judge(&cases[0], &answer(1, 1), None).is_empty());
        let fields = case(&format!(
            "[[case]]\nname = \"f\"\n{PACKET}\nexpect = {{ fields = {{ \"ipv4.ttl\" = 63, \"udp.dst\" = 53, \"nope\" = 1 }} }}\n"
        ))
        .unwrap();
        let unchanged = fields[0].packet.clone();
        let fields_answer = CaseAnswer::Ran(CaseRun {
            case: "f".into(),
            action: 2,
            packet: Hex(unchanged),
            ..Default::default()
        });
        let problems = judge(&fields[0], &fields_answer, None);
        assert_eq!(problems[0], "packet ipv4.ttl: expected 63, got 64");
        assert!(
            problems[1].starts_with("packet nope: no such field in it (it has eth.dst, "),
            "{problems:?}"
        );
        assert_eq!(problems.len(), 2);
        assert_eq!(
            judge(&cases[0], &answer(2, 0), None),
            [
                "action: expected drop, got pass",
                "counters.drop: expected 1 packets, got 0"
            ]
        );
        let text = cases_text(&cases[0]);
        assert!(
            text.starts_with("case a\npacket ") && text.ends_with("\nend\n"),
            "{text}"
        );
    }
}

//! `cargo xdp test [FILTER]`: the project's packet tests, through the
//! kernel's BPF_PROG_TEST_RUN on this machine, like `cargo test`.
//!
//! Cases live beside the kern sources, in `<kern dir>/tests/*.toml`:
//!
//! ```toml
//! [[case]]
//! name = "drops_dns"
//! args = ["--drop-port", "udp/53"]          # what `attach` takes
//! packet = { ipv4 = { src = "10.0.0.1", dst = "10.0.0.2" }, udp = { dst = 53 } }
//! expect = { action = "drop", counters = { drop = 1 } }
//! ```
//!
//! The loader does the running (`test-run`, see cargo-xdp-loader's
//! testrun), so the project's own options write the maps exactly as on an
//! attach; this module reads the cases, builds the packets, and judges the
//! answers.

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::{adb::DeviceChoice, cargo_args::CargoArgs};
use crate::{
    messages::Message,
    packets::{self, PacketSpec},
    project::Project,
    run::{self, Privilege},
    shell::Shell,
};

#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Run only the tests whose name contains this.
    pub filter: Option<String>,
    /// Replay every frame of a capture (pcap or pcapng, Ethernet) instead,
    /// with the options after `--` written into the maps as `attach` would.
    pub pcap: Option<PathBuf>,
    /// For --pcap: what `attach` takes (e.g. `-- --drop-port udp/53`).
    pub attach_args: Vec<String>,
    /// Run the cases on the device's kernel, through the deployed loader
    /// (deploy first: the bundle carries the cases).
    pub adb: bool,
    /// The target whose kernel runs the cases: this machine's (the
    /// default), or with --adb the device's.
    pub target: Option<String>,
    pub device: DeviceChoice,
    pub cargo: CargoArgs,
    /// Path to the project's Cargo.toml.
    pub manifest_path: Option<PathBuf>,
}

/// One case as a file writes it.
#[derive(Debug, Deserialize)]
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    key: String,
    value: String,
}

/// A field's expected value: a number or text, as `packets::fields` shows it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FieldValue {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapEntry {
    key: String,
    /// The value (the first CPU's, for per-CPU maps); any when left out.
    value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Action {
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

    fn of(code: u64) -> String {
        Action::ALL
            .get(code as usize)
            .map_or_else(|| format!("action {code}"), |a| a.name().to_string())
    }
}

/// A case ready to run: its packet built, its file known.
pub(crate) struct Case {
    pub(crate) spec: CaseSpec,
    file: PathBuf,
    packet: Vec<u8>,
    /// `expect.packet`, built.
    expected_packet: Option<Vec<u8>>,
    /// The kern object it tests.
    pub(crate) object: PathBuf,
}

pub fn test(args: &TestOptions, shell: &Shell) -> Result<()> {
    if let (Some(target), false) = (&args.target, args.adb) {
        let target = crate::toolchain::find(target)?;
        let here = crate::toolchain::default_target()?;
        if target.name != here {
            bail!(
                "packet tests run on a kernel, here this machine's ({here}); for {} run them on \
                 a device with `cargo xdp test --adb` (after `cargo xdp deploy --adb IFACE`)",
                target.name
            );
        }
    }
    let project = Project::find_with(args.manifest_path.as_deref(), &args.cargo)?;
    if let Some(pcap) = &args.pcap {
        return replay(args, &project, pcap, shell);
    }
    if !args.attach_args.is_empty() {
        bail!("options after `--` go with --pcap; a case file's cases carry their own `args`");
    }
    if case_files(&project)?.is_empty() {
        bail!(
            "no packet tests: write cases in {} (see the generated README, \"Packet tests\")",
            default_tests_dir(&project).display()
        );
    }
    if args.adb {
        return on_device(args, &project, shell);
    }
    let privilege = Privilege::acquire("`cargo xdp test`", shell)?;
    let built = run::build_here(&project, &args.cargo, shell)?;
    let mut cases = project_cases(&project, &built.kern_objects)?;
    let total = cases.len();
    cases.retain(|c| {
        args.filter
            .as_deref()
            .is_none_or(|f| c.spec.name.contains(f))
    });
    let filtered_out = total - cases.len();

    let scratch = crate::workdir::scratch_dir(&project.target_dir)?;
    let mut answers: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut objects: Vec<&PathBuf> = cases.iter().map(|c| &c.object).collect();
    objects.dedup();
    for (n, object) in objects.into_iter().enumerate() {
        let text: String = cases
            .iter()
            .filter(|c| &c.object == object)
            .map(cases_text)
            .collect();
        let file = scratch.path().join(format!("cases-{n}.txt"));
        for answer in test_run(&privilege, &built.loader, object, &file, &text, shell)? {
            if let Some(name) = answer["case"].as_str() {
                answers.insert(name.to_string(), answer.clone());
            }
        }
    }

    report(&cases, &answers, filtered_out, shell)
}

/// Prints each case's verdict like `cargo test` (and as JSON messages);
/// an error when one failed.
fn report(
    cases: &[Case],
    answers: &BTreeMap<String, serde_json::Value>,
    filtered_out: usize,
    shell: &Shell,
) -> Result<()> {
    if shell.human() {
        let plural = if cases.len() == 1 { "" } else { "s" };
        println!("\nrunning {} test{plural}", cases.len());
    }
    let mut failed = Vec::new();
    for case in cases {
        let problems = match answers.get(&case.spec.name) {
            Some(answer) => judge(case, answer),
            None => vec!["the loader gave no answer for it".into()],
        };
        let ok = problems.is_empty();
        if shell.human() {
            println!(
                "test {} ... {}",
                case.spec.name,
                if ok { "ok" } else { "FAILED" }
            );
        }
        shell.message(&Message::TestCase {
            name: &case.spec.name,
            file: &case.file,
            ok,
            problems: &problems,
        });
        if !ok {
            failed.push((case, problems));
        }
    }
    let passed = cases.len() - failed.len();
    if shell.human() {
        if !failed.is_empty() {
            println!("\nfailures:\n");
            for (case, problems) in &failed {
                println!("---- {} ({}) ----", case.spec.name, case.file.display());
                for problem in problems {
                    println!("{}", crate::shell::harmless(problem));
                }
                println!();
            }
            println!("failures:");
            for (case, _) in &failed {
                println!("    {}", case.spec.name);
            }
        }
        println!(
            "\ntest result: {}. {passed} passed; {} failed; {filtered_out} filtered out\n",
            if failed.is_empty() { "ok" } else { "FAILED" },
            failed.len()
        );
    }
    shell.message(&Message::TestResult {
        passed,
        failed: failed.len(),
        filtered_out,
    });
    if !failed.is_empty() {
        bail!("{} of {} packet tests failed", failed.len(), cases.len());
    }
    Ok(())
}

/// `test --adb`: the cases on the device's kernel, by root's deployed
/// loader, which must carry these very cases (checked by sha256).
fn on_device(args: &TestOptions, project: &Project, shell: &Shell) -> Result<()> {
    let (mut cases, expected) = deployed_cases(project)?;
    let mut answers: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut on_device: BTreeMap<String, String> = BTreeMap::new();
    let mut serial = String::new();
    crate::deploy::run_on_device(&args.device, project, &["test-run"], |device, line| {
        serial = device.to_string();
        if let Some((sum, file)) = line
            .strip_prefix("cases-sha256: ")
            .and_then(|rest| rest.split_once(' '))
        {
            on_device.insert(file.to_string(), sum.to_string());
        } else if let Ok(answer) = serde_json::from_str::<serde_json::Value>(line) {
            shell.verbose_status("Answered", line);
            if let Some(name) = answer["case"].as_str() {
                answers.insert(name.to_string(), answer.clone());
            }
        } else {
            shell.device_text(&format!("{line}\n"));
        }
    })?;
    check_deployed(&expected, &on_device, &serial)?;
    shell.status("Tested", format!("on {serial}'s kernel"));
    let total = cases.len();
    cases.retain(|c| {
        args.filter
            .as_deref()
            .is_none_or(|f| c.spec.name.contains(f))
    });
    report(&cases, &answers, total - cases.len(), shell)
}

/// (`STEM.cases`, its sha256) of each cases file a bundle carries.
pub(crate) type CaseSums = Vec<(String, String)>;

/// The cases as a deployed bundle has them (objects named by stem), and
/// the sha256 of each `STEM.cases` file.
pub(crate) fn deployed_cases(project: &Project) -> Result<(Vec<Case>, CaseSums)> {
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
        .map(|(file, text)| (file, crate::bundle::sha256_hex(text.as_bytes())))
        .collect();
    Ok((cases, sums))
}

/// The device's `cases-sha256:` lines must be these sums: never judge
/// answers to cases other than the ones here.
pub(crate) fn check_deployed(
    expected: &[(String, String)],
    on_device: &BTreeMap<String, String>,
    serial: &str,
) -> Result<()> {
    for (file, sum) in expected {
        if on_device.get(file) != Some(sum) {
            bail!(
                "the packet tests deployed on {serial} are not these ({file} {}): deploy again \
                 (`cargo xdp deploy --adb IFACE`), then test",
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

/// Writes `text` (cases) to `file` and has the loader run them; its answers.
pub(crate) fn test_run(
    privilege: &Privilege,
    loader: &Path,
    object: &Path,
    file: &Path,
    text: &str,
    shell: &Shell,
) -> Result<Vec<serde_json::Value>> {
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    let loader_args = [
        OsStr::new("test-run"),
        file.as_os_str(),
        OsStr::new("--object"),
        object.as_os_str(),
    ];
    let mut command = privilege.command(loader, &loader_args);
    shell.verbose_status("Running", format!("{command:?}"));
    let out = command.output().context("cannot run the loader")?;
    if !out.status.success() {
        bail!(
            "the loader's test-run failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .with_context(|| format!("the loader's test-run answered `{line}`"))
        })
        .collect()
}

/// `--pcap FILE`: every frame through the program, in order, in one set of
/// maps (state carries from frame to frame, as on the wire); the count per
/// action, and with -v each frame's.
fn replay(args: &TestOptions, project: &Project, pcap: &Path, shell: &Shell) -> Result<()> {
    let capture = crate::capture::read(pcap)?;
    if capture.frames.is_empty() {
        bail!("{} holds no frames to replay", pcap.display());
    }
    if capture.cut_short {
        shell.warn(format!(
            "{} ends inside a record (was the capture stopped while writing?): replaying the {} \
             whole frames before it",
            pcap.display(),
            capture.frames.len()
        ));
    }
    if capture.snapped > 0 {
        shell.warn(format!(
            "{} of the frames were captured shorter than they were (tcpdump -s): the program \
             sees only what was captured",
            capture.snapped
        ));
    }
    let privilege = Privilege::acquire("`cargo xdp test --pcap`", shell)?;
    let built = run::build_here(project, &args.cargo, shell)?;
    if capture.skipped > 0 {
        shell.status(
            "Skipping",
            format!(
                "{} packets of {} that are not IP (ARP and the like in a Linux cooked capture)",
                capture.skipped,
                pcap.display()
            ),
        );
    }
    let mut text = String::from("case pcap\n");
    if capture.link == packets::Link::Rawip {
        text.push_str("link rawip\n");
    }
    for arg in &args.attach_args {
        let _ = writeln!(text, "arg {arg}");
    }
    for frame in &capture.frames {
        let _ = writeln!(text, "packet {}", packets::hex(frame));
    }
    text.push_str("end\n");
    let scratch = crate::workdir::scratch_dir(&project.target_dir)?;
    let answers = test_run(
        &privilege,
        &built.loader,
        &built.kern_objects[0],
        &scratch.path().join("pcap.txt"),
        &text,
        shell,
    )?;
    let answer = answers.first().context("the loader gave no answer")?;
    if let Some(error) = answer["error"].as_str() {
        bail!("could not replay {}: {error}", pcap.display());
    }
    let verdicts: Vec<String> = answer["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| Action::of(v.as_u64().unwrap_or(u64::MAX)))
                .collect()
        })
        .unwrap_or_default();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for verdict in &verdicts {
        *counts.entry(verdict.as_str()).or_default() += 1;
    }
    if shell.human() {
        if shell.verbosity() > 0 {
            for (n, verdict) in verdicts.iter().enumerate() {
                println!("packet {}: {verdict}", n + 1);
            }
        }
        let summary: Vec<String> = counts.iter().map(|(a, n)| format!("{a} {n}")).collect();
        println!(
            "replayed {} packets of {}: {}",
            verdicts.len(),
            pcap.display(),
            summary.join(", ")
        );
    }
    shell.message(&Message::Replayed {
        file: pcap,
        packets: verdicts.len(),
        actions: &counts,
        verdicts: &verdicts,
    });
    Ok(())
}

/// `<dir of the first kern source>/tests`, where a first case file goes.
fn default_tests_dir(project: &Project) -> PathBuf {
    let first = project.root.join(&project.meta.kern[0]);
    first.parent().unwrap_or(&project.root).join("tests")
}

/// Every `tests/*.toml` beside a kern source, sorted.
fn case_files(project: &Project) -> Result<Vec<PathBuf>> {
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
fn object_for(project: &Project, objects: &[PathBuf], file: &Path) -> PathBuf {
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
fn read_cases(root: &Path, file: &Path, object: &Path) -> Result<Vec<Case>> {
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
    let mut cases = Vec::new();
    for (index, table) in tables.iter().enumerate() {
        let label = match table.get("name").and_then(|n| n.as_str()) {
            Some(name) => format!("case `{name}`"),
            None => format!("case {} (no name)", index + 1),
        };
        let in_case = || format!("{}, {label}", shown.display());
        let spec: CaseSpec = toml_edit::de::from_str(&table.to_string())
            .map_err(|e| anyhow::anyhow!("{}", e.message().trim()))
            .with_context(in_case)?;
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
        });
    }
    Ok(cases)
}

fn check_unique(cases: &[Case]) -> Result<()> {
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
fn cases_text(case: &Case) -> String {
    cases_text_with(case, case.spec.repeat, true)
}

/// The same, run `repeat` times; without its args (and maps) for a
/// program that takes none (bench's baseline).
pub(crate) fn cases_text_with(case: &Case, repeat: u32, with_args: bool) -> String {
    let mut text = format!("case {}\n", case.spec.name);
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

/// What is wrong with the answer, as lines of "expected ..., got ...".
fn judge(case: &Case, answer: &serde_json::Value) -> Vec<String> {
    if let Some(error) = answer["error"].as_str() {
        return vec![format!("could not run: {error}")];
    }
    let expect = &case.spec.expect;
    let mut problems = Vec::new();
    let action = answer["action"].as_u64().unwrap_or(u64::MAX);
    if let Some(wanted) = expect.action {
        if action != wanted as u64 {
            problems.push(format!(
                "action: expected {}, got {}",
                wanted.name(),
                Action::of(action)
            ));
        }
    }
    if let Some(wanted) = &case.expected_packet {
        let got = answer["packet"]
            .as_str()
            .and_then(packets::unhex)
            .unwrap_or_default();
        if *wanted != got {
            problems.extend(packet_diff(wanted, &got, case.spec.link));
        }
    }
    if let Some(wanted) = &expect.fields {
        let got = answer["packet"]
            .as_str()
            .and_then(packets::unhex)
            .unwrap_or_default();
        let fields: BTreeMap<String, String> = packets::fields_for(&got, case.spec.link)
            .into_iter()
            .collect();
        for (name, value) in wanted {
            let value = value.text();
            match fields.get(name) {
                Some(now) if now.eq_ignore_ascii_case(&value) => {}
                Some(now) => problems.push(format!("packet {name}: expected {value}, got {now}")),
                None => problems.push(format!(
                    "packet {name}: no such field in it (it has {})",
                    fields.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            }
        }
    }
    if let Some(counters) = &expect.counters {
        for (wanted_action, count) in counters {
            let got = answer["counters"][wanted_action.name()]["packets"].as_u64();
            match got {
                Some(got) if got == *count => {}
                Some(got) => problems.push(format!(
                    "counters.{}: expected {count} packets, got {got}",
                    wanted_action.name()
                )),
                None => problems
                    .push("counters: the object has no xdp_stats map to count in".to_string()),
            }
        }
    }
    for (map, entries) in expect.maps.iter().flatten() {
        let got = answer["maps"][map].as_array().cloned().unwrap_or_default();
        for entry in entries {
            let key = entry.key.to_ascii_lowercase();
            let found = got.iter().find(|e| e["key"].as_str() == Some(key.as_str()));
            match (found, &entry.value) {
                (None, _) => problems.push(format!("maps.{map}: no entry with key {key}")),
                (Some(found), Some(value)) => {
                    let value = value.to_ascii_lowercase();
                    let first = found["values"][0].as_str().unwrap_or_default();
                    if first != value {
                        problems.push(format!("maps.{map}[{key}]: expected {value}, got {first}"));
                    }
                }
                (Some(_), None) => {}
            }
        }
    }
    problems
}

/// The packet fields that differ, `field: expected X, got Y`.
fn packet_diff(wanted: &[u8], got: &[u8], link: packets::Link) -> Vec<String> {
    let wanted_fields = packets::fields_for(wanted, link);
    let got_fields: BTreeMap<String, String> = packets::fields_for(got, link).into_iter().collect();
    let mut lines: Vec<String> = wanted_fields
        .iter()
        .filter(|(k, v)| got_fields.get(k) != Some(v))
        .map(|(k, v)| {
            format!(
                "packet {k}: expected {v}, got {}",
                got_fields.get(k).map_or("(none)", String::as_str)
            )
        })
        .collect();
    if lines.is_empty() {
        lines.push(format!(
            "packet: expected {} ({} bytes), got {} ({} bytes)",
            packets::hex(wanted),
            wanted.len(),
            packets::hex(got),
            got.len()
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn answers_are_judged_field_by_field() {
        let cases = case(&format!(
            "[[case]]\nname = \"a\"\n{PACKET}\nexpect = {{ action = \"drop\", counters = {{ drop = 1 }} }}\n"
        ))
        .unwrap();
        let ok =
            serde_json::json!({"case": "a", "action": 1, "counters": {"drop": {"packets": 1}}});
        assert!(judge(&cases[0], &ok).is_empty());
        let fields = case(&format!(
            "[[case]]\nname = \"f\"\n{PACKET}\nexpect = {{ fields = {{ \"ipv4.ttl\" = 63, \"udp.dst\" = 53, \"nope\" = 1 }} }}\n"
        ))
        .unwrap();
        let unchanged = packets::hex(&fields[0].packet);
        let answer = serde_json::json!({"case": "f", "action": 2, "packet": unchanged});
        let problems = judge(&fields[0], &answer);
        assert_eq!(problems[0], "packet ipv4.ttl: expected 63, got 64");
        assert!(
            problems[1].starts_with("packet nope: no such field in it (it has eth.dst, "),
            "{problems:?}"
        );
        assert_eq!(problems.len(), 2);
        let wrong =
            serde_json::json!({"case": "a", "action": 2, "counters": {"drop": {"packets": 0}}});
        assert_eq!(
            judge(&cases[0], &wrong),
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

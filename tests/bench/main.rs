//! cargo-xdp's benchmarks: every row of the speed and size table, each a
//! ratio of two commands run side by side on this machine (alternating,
//! several runs, min/median/max of the per-pair ratios), never a timed test.
//!
//!     cargo bench -p cargo-xdp --bench xdp [-- --quick] [-- --runs N]
//!
//! Rows: the filter template per packet against a bare XDP_PASS (root:
//! BPF_PROG_TEST_RUN, through `cargo xdp bench`); a no-op `cargo xdp build`
//! against the no-op `cargo build` it runs (same arguments and
//! environment, both through cargo); `cargo xdp build` after touching the
//! .c against its clang command run by hand; a cold kern compile of 8
//! sources against the same clang commands one after another; the stripped
//! release loader of every target. `--quick` (CI) runs each once or twice
//! on two targets, to show the benchmark works, not to measure.
//!
//! Generated projects build in the tests' shared target dir (aya compiles
//! once); $ANDROID_NDK_HOME is used when set, else the stand-in NDK.

#[path = "../common/mod.rs"]
mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

struct Options {
    quick: bool,
    runs: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--runs takes a number"))
        .unwrap_or(if quick { 2 } else { 15 });
    // Sections by name (`-- no-op kern`), else all; cargo passes `--bench`.
    let sections: Vec<&str> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--runs"))
        .map(|(_, a)| a.as_str())
        .collect();
    for section in &sections {
        assert!(
            SECTIONS.contains(section),
            "no section {section}: choose from {SECTIONS:?}"
        );
    }
    let wanted = |section: &str| sections.is_empty() || sections.contains(&section);
    let options = Options { quick, runs };
    let bench = Bench::new();
    println!(
        "cargo-xdp benchmarks: {} CPUs, kernel {}, {} runs per row{}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        common::ok(Command::new("uname").arg("-r")).trim(),
        options.runs,
        if quick {
            " (--quick: checks the benchmark works, measures nothing)"
        } else {
            ""
        }
    );
    if wanted("per-packet") {
        per_packet(&bench, &options);
    }
    let mut table = Table::new();
    if wanted("no-op") {
        no_op_builds(&bench, &options, &mut table);
    }
    if wanted("kern") {
        kern_step(&bench, &options, &mut table);
    }
    if wanted("eight") {
        eight_sources(&bench, &options, &mut table);
    }
    table.print("Builds: cargo xdp (A) against what it does (B)");
    if wanted("sizes") {
        loader_sizes(&bench, &options);
    }
}

/// The benchmark's sections, as named on its command line.
const SECTIONS: &[&str] = &["per-packet", "no-op", "kern", "eight", "sizes"];

/// The cargo-xdp binary on PATH (so `cargo xdp` finds it), the shared
/// target dir, the NDK, and a scratch dir for the projects.
struct Bench {
    scratch: tempfile::TempDir,
    ndk: PathBuf,
    path: std::ffi::OsString,
}

impl Bench {
    fn new() -> Bench {
        let binary = Path::new(env!("CARGO_BIN_EXE_cargo-xdp"));
        let path = std::env::join_paths(
            std::iter::once(binary.parent().unwrap().to_path_buf()).chain(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            )),
        )
        .unwrap();
        let ndk = std::env::var_os("ANDROID_NDK_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(common::standin_ndk);
        Bench {
            scratch: tempfile::tempdir().unwrap(),
            ndk,
            path,
        }
    }

    /// `cargo xdp ARGS` in `dir`, as a user runs it: through cargo.
    fn cargo_xdp(&self, dir: &Path) -> Command {
        let mut command = self.command("cargo", dir);
        command.env_remove("CARGO");
        command
    }

    /// `PROGRAM xdp` in `dir` with cargo-xdp's environment.
    fn command(&self, program: &str, dir: &Path) -> Command {
        let mut command = Command::new(program);
        // The tests' environment (shared target dir, no stray NDK), then ours.
        let base = common::cargo_xdp();
        for (key, value) in base.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
            .arg("xdp")
            .current_dir(dir)
            .env("PATH", &self.path)
            .env("ANDROID_NDK_HOME", &self.ndk);
        command
    }

    /// A new project from the filter template.
    fn new_project(&self, name: &str) -> PathBuf {
        common::ok(
            self.cargo_xdp(self.scratch.path())
                .args(["new", name, "-q", "--vcs", "none"]),
        );
        self.scratch.path().join(name)
    }

    fn xdp_dir(&self, target: &str) -> PathBuf {
        common::shared_target_dir().join("xdp").join(target)
    }
}

/// The filter template per packet against a bare XDP_PASS and against
/// `reference_kern.c` (the tightest program with its semantics and maps,
/// built in a second project in place of its kern source, after passing
/// the template's packet tests). Each round benches the template's project
/// then the reference's (`cargo xdp bench --rounds 1`, each also timing a
/// bare XDP_PASS), so the template/reference ratio pairs neighbours.
fn per_packet(bench: &Bench, options: &Options) {
    println!(
        "\nFilter template per packet (BPF_PROG_TEST_RUN, CPU time): goals <= 1.05x of the reference on every row; on port rows <= 1.40x of bare (maps, 4.14+) and <= 1.25x (the 5.2+ variant, global data)"
    );
    if !common::is_root() {
        println!("  skipped: needs root (bpf()); run the benchmark as root");
        return;
    }
    let template = bench.new_project("benchfilter");
    let reference = bench.new_project("benchref");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/reference_kern.c"),
        reference.join("benchref_kern/benchref_kern.c"),
    )
    .unwrap();
    // The reference keeps the template's semantics: its packet tests pass.
    common::ok(bench.cargo_xdp(&reference).args(["test", "-q"]));
    let cases = per_packet_cases();
    for project in [&template, &reference] {
        let tests = project.join(format!(
            "{}_kern/tests",
            project.file_name().unwrap().to_str().unwrap()
        ));
        for entry in std::fs::read_dir(&tests).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        std::fs::write(tests.join("bench.toml"), &cases).unwrap();
        // The expectations hold before their packets are timed.
        common::ok(bench.cargo_xdp(project).args(["test", "-q"]));
    }
    let (rounds, repeat) = if options.quick {
        (1, "10000")
    } else {
        (options.runs, "10000000")
    };
    let mut rows: Vec<PacketRow> = Vec::new();
    for _ in 0..rounds {
        for (project, is_template) in [(&template, true), (&reference, false)] {
            let out = common::ok(bench.cargo_xdp(project).args([
                "bench",
                "-q",
                "--message-format",
                "json",
                "--rounds",
                "1",
                "--repeat",
                repeat,
            ]));
            for line in out.lines() {
                let message: serde_json::Value = serde_json::from_str(line).unwrap();
                if message["reason"] != "bench" {
                    continue;
                }
                let name = message["name"].as_str().unwrap();
                // The template's 5.2+ variant (kernel-variants) has rows of
                // its own: its column of the base row.
                let (name, variant) = match name.strip_suffix(" [kernel 5.2+]") {
                    Some(base) => (base.to_string(), true),
                    None => (name.to_string(), false),
                };
                let (ns, bare) = (message["ns"][1].as_f64(), message["bare_ns"][1].as_f64());
                let at = match rows.iter().position(|r| r.name == name) {
                    Some(at) => at,
                    None => {
                        rows.push(PacketRow::new(name));
                        rows.len() - 1
                    }
                };
                let row = &mut rows[at];
                let (times, bares) = match (is_template, variant) {
                    (true, false) => (&mut row.template, &mut row.template_bare),
                    (true, true) => (&mut row.variant, &mut row.variant_bare),
                    (false, _) => (&mut row.reference, &mut row.reference_bare),
                };
                times.push(ns.unwrap());
                bares.push(bare.unwrap());
            }
        }
    }
    println!("  {rounds} rounds of {repeat} runs per packet, template and reference alternating");
    println!("  template: the map-based object (4.14+); 5.2+: its kernel variant (global data)");
    println!(
        "  ns over bare: each program's own cost, medians of template/5.2+/reference; unlike the \
         ratios, not diluted by a machine's fixed cost per run"
    );
    println!(
        "  {:<36} {:>8} {:>19} {:>19} {:>19} {:>19} {:>20}",
        "packet",
        "bare ns",
        "template/bare",
        "5.2+/bare",
        "reference/bare",
        "template/reference",
        "ns over bare"
    );
    for row in &rows {
        println!(
            "  {:<36} {:>8.2} {:>19} {:>19} {:>19} {:>19} {:>20}",
            row.name,
            spread(&row.template_bare)[1],
            ratio_spread(&row.template, &row.template_bare),
            ratio_spread(&row.variant, &row.variant_bare),
            ratio_spread(&row.reference, &row.reference_bare),
            ratio_spread(&row.template, &row.reference),
            format!(
                "{}/{}/{}",
                over_bare(&row.template, &row.template_bare),
                over_bare(&row.variant, &row.variant_bare),
                over_bare(&row.reference, &row.reference_bare)
            ),
        );
    }
}

/// The median of a - b, round by round, in ns.
fn over_bare(a: &[f64], b: &[f64]) -> String {
    let over: Vec<f64> = a.iter().zip(b).map(|(a, b)| a - b).collect();
    if over.is_empty() {
        return "-".into();
    }
    format!("{:.2}", spread(&over)[1])
}

/// One packet's times, a value per round.
struct PacketRow {
    name: String,
    template: Vec<f64>,
    template_bare: Vec<f64>,
    /// The template's 5.2+ kernel variant.
    variant: Vec<f64>,
    variant_bare: Vec<f64>,
    reference: Vec<f64>,
    reference_bare: Vec<f64>,
}

impl PacketRow {
    fn new(name: String) -> PacketRow {
        PacketRow {
            name,
            template: Vec::new(),
            template_bare: Vec::new(),
            variant: Vec::new(),
            variant_bare: Vec::new(),
            reference: Vec::new(),
            reference_bare: Vec::new(),
        }
    }
}

/// min/median/max of a/b, round by round.
fn ratio_spread(a: &[f64], b: &[f64]) -> String {
    let ratios: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b.max(1e-3)).collect();
    if ratios.is_empty() {
        return "-".into();
    }
    let [low, median, high] = spread(&ratios);
    format!("{low:.2}/{median:.2}/{high:.2}x")
}

/// The per-packet rows as packet tests (checked before they are timed).
fn per_packet_cases() -> String {
    let rules = |flag: &str, values: Vec<String>| -> Vec<String> {
        values
            .into_iter()
            .flat_map(|v| [flag.to_string(), v])
            .collect()
    };
    let ports = |proto: &str, n: usize| -> Vec<String> {
        rules(
            "--drop-port",
            (1000..1000 + n).map(|p| format!("{proto}/{p}")).collect(),
        )
    };
    let v4 = "ipv4 = { src = \"192.0.2.1\", dst = \"192.0.2.2\" }";
    let v6 = "ipv6 = { src = \"2001:db8::1\", dst = \"2001:db8::2\" }";
    let case = |name: &str, args: Vec<String>, packet: String, action: &str| {
        let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        format!(
            "[[case]]\nname = \"{name}\"\nargs = [{}]\npacket = {{ {packet} }}\nexpect = {{ action = \"{action}\" }}\n\n",
            args.join(", ")
        )
    };
    let udp = |port: u16| format!("{v4}, udp = {{ dst = {port} }}");
    let mut cases = case("UDP, no rules", vec![], udp(443), "pass");
    for n in [10, 1000] {
        cases += &case(
            &format!("UDP, {n} port rules"),
            ports("udp", n),
            udp(443),
            "pass",
        );
    }
    for n in [1, 10, 1000] {
        let mut args = ports("udp", n - 1);
        args.extend(["--drop-port".to_string(), "udp/53".to_string()]);
        cases += &case(
            &format!("dropped by a port rule, {n} rules"),
            args,
            udp(53),
            "drop",
        );
    }
    cases += &case(
        "TCP, 10 port rules",
        ports("tcp", 10),
        format!("{v4}, tcp = {{ dst = 443 }}"),
        "pass",
    );
    cases += &case(
        "IPv6 UDP, 10 port rules",
        ports("udp", 10),
        format!("{v6}, udp = {{ dst = 443 }}"),
        "pass",
    );
    let prefixes = rules(
        "--drop-src",
        (0..100).map(|i| format!("10.{i}.0.0/16")).collect(),
    );
    cases += &case(
        "dropped by source prefix, 100 prefixes",
        prefixes,
        "ipv4 = { src = \"10.99.1.2\", dst = \"192.0.2.2\" }, udp = { dst = 443 }".to_string(),
        "drop",
    );
    cases
}

/// Rows of A-against-B timings.
struct Table(Vec<Row>);

struct Row {
    measure: String,
    a: Vec<Duration>,
    b: Vec<Duration>,
    goal: &'static str,
}

impl Table {
    fn new() -> Table {
        Table(Vec::new())
    }

    /// Times `a` and `b` alternately, `runs` times each (after one of each
    /// not counted); `prepare` runs before each, untimed.
    fn compare(
        &mut self,
        measure: String,
        goal: &'static str,
        runs: usize,
        mut prepare: impl FnMut(),
        mut a: impl FnMut(),
        mut b: impl FnMut(),
    ) {
        let mut time = |f: &mut dyn FnMut()| {
            prepare();
            let started = Instant::now();
            f();
            started.elapsed()
        };
        time(&mut a);
        time(&mut b);
        let (mut a_times, mut b_times) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            a_times.push(time(&mut a));
            b_times.push(time(&mut b));
        }
        self.0.push(Row {
            measure,
            a: a_times,
            b: b_times,
            goal,
        });
    }

    fn print(&self, title: &str) {
        if self.0.is_empty() {
            return;
        }
        println!("\n{title}");
        println!(
            "{:<60} {:>11} {:>11} {:>20} {:>8}",
            "measure", "A median", "B median", "A/B min/med/max", "goal"
        );
        for row in &self.0 {
            let ratios: Vec<f64> = row
                .a
                .iter()
                .zip(&row.b)
                .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64().max(1e-9))
                .collect();
            let ms = |times: &[Duration]| {
                let values: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
                spread(&values)[1]
            };
            let [low, median, high] = spread(&ratios);
            println!(
                "{:<60} {:>8.1} ms {:>8.1} ms {:>20} {:>8}",
                row.measure,
                ms(&row.a),
                ms(&row.b),
                format!("{low:.2}/{median:.2}/{high:.2}x"),
                row.goal
            );
        }
    }
}

/// [min, median, max].
fn spread(values: &[f64]) -> [f64; 3] {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    [
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    ]
}

/// A no-op `cargo xdp build` against the no-op `cargo build` it runs: what
/// cargo-xdp handed cargo (arguments, environment) is recorded through a
/// $CARGO that logs and then runs the real one; B replays it through the
/// `cargo` on PATH, as A is run.
fn no_op_builds(bench: &Bench, options: &Options, table: &mut Table) {
    let project = bench.new_project("benchproj");
    let recorder = bench.scratch.path().join("record-cargo");
    let log = bench.scratch.path().join("recorded");
    let real_cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    std::fs::write(
        &recorder,
        format!(
            "#!/bin/sh\nif [ \"$1\" = build ]; then\n  env -0 >'{log}.env'\n  \
             printf '%s\\0' \"$@\" >'{log}.args'\nfi\nexec '{real_cargo}' \"$@\"\n",
            log = log.display()
        ),
    )
    .unwrap();
    common::ok(Command::new("chmod").arg("755").arg(&recorder));
    let mut builds: Vec<(&str, &[&str])> = vec![
        ("linux-x86_64", &[]),
        ("linux-x86_64", &["--release"]),
        ("android-arm64", &[]),
        ("android-arm64", &["--release"]),
    ];
    if options.quick {
        builds = vec![("linux-x86_64", &[]), ("android-arm64", &["--release"])];
    }
    for (target, flags) in builds {
        let build = |command: &mut Command| {
            command
                .args(["build", "-q", "--target", target])
                .args(flags);
        };
        // Built once, then recorded: B is exactly what A runs.
        let mut first = bench.cargo_xdp(&project);
        build(&mut first);
        common::ok(&mut first);
        // Run directly: cargo would set $CARGO for its subcommand itself.
        let mut recorded = bench.command(env!("CARGO_BIN_EXE_cargo-xdp"), &project);
        build(&mut recorded);
        common::ok(recorded.env("CARGO", &recorder));
        let split = |bytes: Vec<u8>| -> Vec<String> {
            String::from_utf8(bytes)
                .unwrap()
                .split('\0')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let args = split(std::fs::read(log.with_extension("args")).unwrap());
        let env: Vec<(String, String)> = split(std::fs::read(log.with_extension("env")).unwrap())
            .into_iter()
            .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.into(), v.into())))
            .collect();
        let profile = if flags.is_empty() { "debug" } else { "release" };
        let replay = || {
            common::ok(
                Command::new("cargo")
                    .args(&args)
                    .env_clear()
                    .envs(env.iter().cloned())
                    .env("PATH", &bench.path)
                    .current_dir(&project),
            );
        };
        table.compare(
            format!("no-op build, {target} {profile}"),
            "<= 1.3x",
            options.runs,
            || {},
            || {
                let mut command = bench.cargo_xdp(&project);
                build(&mut command);
                common::ok(&mut command);
            },
            replay,
        );
        if target == "linux-x86_64" && flags.is_empty() {
            // cargo-xdp's own part: run directly, with the $CARGO cargo
            // would give it.
            table.compare(
                "  the same, cargo-xdp run without cargo in front".into(),
                "",
                options.runs,
                || {},
                || {
                    let mut command = bench.command(env!("CARGO_BIN_EXE_cargo-xdp"), &project);
                    if let Some(cargo) = std::env::var_os("CARGO") {
                        command.env("CARGO", cargo);
                    }
                    build(&mut command);
                    common::ok(&mut command);
                },
                replay,
            );
        }
    }
    // And cargo's own start-up before it runs any subcommand (A - B
    // here), which no subcommand can shorten.
    table.compare(
        "  of which cargo's start-up: `cargo xdp --version` / direct".into(),
        "",
        options.runs,
        || {},
        || {
            common::ok(bench.cargo_xdp(&project).arg("--version"));
        },
        || {
            common::ok(
                bench
                    .command(env!("CARGO_BIN_EXE_cargo-xdp"), &project)
                    .arg("--version"),
            );
        },
    );
}

/// The clang command a build ran for one source, from its `.cmd` stamp
/// (clang, its version, then one argument a line), writing to `out_dir`.
fn clang_command(stamp: &Path, out_dir: &Path, root: &Path) -> Command {
    let text = std::fs::read_to_string(stamp).unwrap();
    let mut lines = text.lines();
    let clang = lines.next().unwrap().to_string();
    lines.next(); // clang's version
    let stem = stamp.file_stem().unwrap().to_string_lossy().into_owned();
    let mut args: Vec<String> = lines.map(String::from).collect();
    for (flag, file) in [("-o", format!("{stem}.o")), ("-MF", format!("{stem}.d"))] {
        let at = args.iter().position(|a| a == flag).unwrap() + 1;
        args[at] = out_dir.join(file).display().to_string();
    }
    let mut command = Command::new(clang);
    command.args(args).current_dir(root);
    command
}

/// `cargo xdp build` after touching the kern source, against the clang
/// command it runs, by hand.
fn kern_step(bench: &Bench, options: &Options, table: &mut Table) {
    // Made by the no-op section; made and built here when this one runs alone.
    let project = bench.scratch.path().join("benchproj");
    if !project.exists() {
        bench.new_project("benchproj");
        common::ok(
            bench
                .cargo_xdp(&project)
                .args(["build", "-q", "--target", "linux-x86_64"]),
        );
    }
    let source = project.join("benchproj_kern/benchproj_kern.c");
    let stamp = bench
        .xdp_dir("linux-x86_64")
        .join("kern/benchproj_kern.cmd");
    let by_hand = bench.scratch.path().join("by-hand");
    std::fs::create_dir_all(&by_hand).unwrap();
    table.compare(
        "touched .c, linux-x86_64 debug / its clang by hand".into(),
        "<= 1.1x",
        options.runs,
        || common::touch(&source),
        || {
            common::ok(
                bench
                    .cargo_xdp(&project)
                    .args(["build", "-q", "--target", "linux-x86_64"]),
            );
        },
        || {
            common::ok(&mut clang_command(&stamp, &by_hand, &project));
        },
    );
    // The same without cargo's own start-up before it runs a subcommand
    // (which no subcommand can shorten): cargo-xdp's part alone.
    table.compare(
        "  the same, cargo-xdp run without cargo in front".into(),
        "<= 1.05x",
        options.runs,
        || common::touch(&source),
        || {
            let mut direct = bench.command(env!("CARGO_BIN_EXE_cargo-xdp"), &project);
            // What cargo hands its subcommands: its own path.
            if let Some(cargo) = std::env::var_os("CARGO") {
                direct.env("CARGO", cargo);
            }
            common::ok(direct.args(["build", "-q", "--target", "linux-x86_64"]));
        },
        || {
            common::ok(&mut clang_command(&stamp, &by_hand, &project));
        },
    );
}

/// A cold compile of 8 kern sources (their objects and stamps removed; the
/// loader is built) against the same 8 clang commands one after another.
fn eight_sources(bench: &Bench, options: &Options, table: &mut Table) {
    let project = bench.new_project("bencheight");
    let kern = project.join("bencheight_kern");
    let template = std::fs::read_to_string(kern.join("bencheight_kern.c")).unwrap();
    let mut sources = Vec::new();
    for n in 1..=8 {
        std::fs::write(kern.join(format!("part{n}.c")), &template).unwrap();
        sources.push(format!("bencheight_kern/part{n}.c"));
    }
    let manifest = project.join("Cargo.toml");
    let mut doc: toml_edit::DocumentMut =
        std::fs::read_to_string(&manifest).unwrap().parse().unwrap();
    doc["workspace"]["metadata"]["xdp"]["kern"] = toml_edit::value(
        sources
            .iter()
            .map(String::as_str)
            .collect::<toml_edit::Array>(),
    );
    std::fs::write(&manifest, doc.to_string()).unwrap();
    // The packet tests name the template's object: not this project's.
    std::fs::remove_dir_all(kern.join("tests")).unwrap();
    let build = || {
        common::ok(
            bench
                .cargo_xdp(&project)
                .args(["build", "-q", "--target", "linux-x86_64"]),
        );
    };
    build();
    let objects = bench.xdp_dir("linux-x86_64").join("kern");
    let by_hand = bench.scratch.path().join("by-hand-8");
    std::fs::create_dir_all(&by_hand).unwrap();
    let stamps: Vec<PathBuf> = (1..=8)
        .map(|n| objects.join(format!("part{n}.cmd")))
        .collect();
    let commands: Vec<std::cell::RefCell<Command>> = stamps
        .iter()
        .map(|stamp| std::cell::RefCell::new(clang_command(stamp, &by_hand, &project)))
        .collect();
    table.compare(
        "8 kern sources cold / their clang commands in turn".into(),
        "<= 0.6x",
        options.runs,
        || {
            for n in 1..=8 {
                for ext in ["o", "cmd", "d"] {
                    let _ = std::fs::remove_file(objects.join(format!("part{n}.{ext}")));
                }
            }
        },
        build,
        || {
            for command in &commands {
                common::ok(&mut command.borrow_mut());
            }
        },
    );
}

/// The stripped release loader of each target, as bundled, beside a loader
/// that only opens an object and attaches it with aya (same toolchain,
/// profile and link flags): what the runtime's features cost over aya.
fn loader_sizes(bench: &Bench, options: &Options) {
    // Made by the no-op section; made here when this one runs alone.
    let project = bench.scratch.path().join("benchproj");
    if !project.exists() {
        bench.new_project("benchproj");
    }
    let bare = bare_aya_project(bench);
    let mut builds: Vec<(&str, Option<u32>)> = vec![
        ("android-arm64", None),
        ("android-x86_64", None),
        ("linux-arm64", None),
        ("linux-x86_64", None),
    ];
    if options.quick {
        builds.retain(|(t, _)| *t == "android-arm64" || *t == "linux-x86_64");
    } else {
        // Last: another API level means other rustflags, every crate again.
        builds.push(("android-arm64", Some(28)));
    }
    println!(
        "\nStripped release loader (filter template), as bundled, beside a bare aya loader built \
         the same way; goal <= 560 KiB at the default API level"
    );
    println!(
        "{:<34} {:>10} {:>9} {:>13} {:>9} {:>7}",
        "target", "bytes", "KiB", "bare aya KiB", "+KiB", "ratio"
    );
    for (target, api) in builds {
        let loader = built_loader_size(bench, &project, "benchproj", target, api);
        let floor = built_loader_size(bench, &bare, "bareaya", target, api);
        let label = match api {
            Some(api) => format!("{target} (API {api})"),
            None if target.starts_with("android") => format!("{target} (API 21, default)"),
            None => target.to_string(),
        };
        let kib = |bytes: u64| bytes as f64 / 1024.0;
        println!(
            "{label:<34} {loader:>10} {:>9.1} {:>13.1} {:>9.1} {:>7.3}",
            kib(loader),
            kib(floor),
            kib(loader) - kib(floor),
            loader as f64 / floor as f64
        );
    }
}

/// A project whose loader only opens its object and attaches one program
/// with aya: the floor every aya loader pays.
fn bare_aya_project(bench: &Bench) -> PathBuf {
    let project = bench.scratch.path().join("bareaya");
    if project.exists() {
        return project;
    }
    common::ok(bench.cargo_xdp(bench.scratch.path()).args([
        "new",
        "bareaya",
        "-q",
        "--vcs",
        "none",
        "--template",
        "minimal",
    ]));
    let loader = project.join("bareaya_user");
    std::fs::write(
        loader.join("src/main.rs"),
        "use aya::programs::{Xdp, XdpMode};\n\n\
         fn main() -> anyhow::Result<()> {\n\
         \x20   let args: Vec<String> = std::env::args().collect();\n\
         \x20   let mut ebpf = aya::Ebpf::load_file(&args[1])?;\n\
         \x20   let program: &mut Xdp = ebpf.program_mut(&args[2]).unwrap().try_into()?;\n\
         \x20   program.load()?;\n\
         \x20   program.attach(&args[3], XdpMode::default())?;\n\
         \x20   Ok(())\n\
         }\n",
    )
    .unwrap();
    std::fs::remove_file(loader.join("src/rules.rs")).unwrap();
    let manifest = loader.join("Cargo.toml");
    let without_runtime: String = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("cargo-xdp-loader"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&manifest, without_runtime).unwrap();
    project
}

/// `cargo xdp build --release` of `project` for `target`: its bundled
/// loader's size.
fn built_loader_size(
    bench: &Bench,
    project: &Path,
    name: &str,
    target: &str,
    api: Option<u32>,
) -> u64 {
    let mut command = bench.cargo_xdp(project);
    command.args(["build", "-q", "--release", "--target", target]);
    if let Some(api) = api {
        command.args(["--api", &api.to_string()]);
    }
    common::ok(&mut command);
    let bundle = bench
        .xdp_dir(target)
        .join(format!("release/{name}-{target}.tar.gz"));
    bundled_size(&bundle, &format!("{name}/{name}_user"))
}

fn bundled_size(bundle: &Path, member: &str) -> u64 {
    let file = std::fs::File::open(bundle).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entry = archive
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap())
        .find(|entry| entry.path().unwrap().to_string_lossy() == member);
    match entry {
        Some(entry) => entry.header().size().unwrap(),
        None => panic!("{member} is not in {}", bundle.display()),
    }
}

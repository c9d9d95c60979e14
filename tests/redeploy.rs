//! Day two on the host, where the same loader and runtime run as on a
//! phone: a redeploy after the kern source changed. Pinned maps are
//! compared with the object's: kept when the same, carried over when only
//! their capacity changed, started empty (and said) when their shape
//! changed, never silently stale; `--reset-maps` empties them all.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use common::*;

const NAME: &str = "remaps";

/// Builds the project and unpacks its bundle into a directory of its own
/// (`n`th build); the loader in it (its object beside it).
fn build(root: &Path, scratch: &Path, n: usize) -> PathBuf {
    ok(cargo_xdp().current_dir(root).arg("build"));
    let unpacked = scratch.join(format!("build-{n}"));
    fs::create_dir(&unpacked).unwrap();
    let bundle =
        shared_target_dir().join(format!("xdp/linux-x86_64/debug/{NAME}-linux-x86_64.tar.gz"));
    ok(Command::new("tar")
        .arg("xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(&unpacked));
    unpacked.join(NAME).join(format!("{NAME}_user"))
}

/// The kern source with `from` replaced by `to`.
fn edit(root: &Path, from: &str, to: &str) {
    let source = root.join(format!("{NAME}_kern/{NAME}_kern.c"));
    let text = fs::read_to_string(&source).unwrap();
    assert!(text.contains(from), "{from}");
    fs::write(&source, text.replace(from, to)).unwrap();
}

fn pin(map: &str) -> String {
    format!("/sys/fs/bpf/{NAME}/maps/{map}")
}

/// `bpftool map update` of the pinned `map`, key and value as hex bytes.
fn put(map: &str, key: &str, value: &str) {
    let mut command = Command::new("bpftool");
    command.args(["map", "update", "pinned", &pin(map), "key", "hex"]);
    command.args(key.split(' ')).arg("value").arg("hex");
    ok(command.args(value.split(' ')));
}

/// What the kernel says of the pinned `map` (`bpftool map show`).
fn shown(map: &str) -> String {
    ok(Command::new("bpftool").args(["map", "show", "pinned", &pin(map)]))
}

/// The pinned `map`'s entries as the loader dumps them: (key, values).
fn dump(loader: &Path, map: &str) -> Vec<(String, Vec<String>)> {
    let json = ok(Command::new(loader).args(["map", "dump", map, "--json"]));
    let entries: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    entries
        .iter()
        .map(|e| {
            let values = e["values"].as_array().unwrap();
            (
                e["key"].as_str().unwrap().to_string(),
                values
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// A little-endian u64 summed over every CPU's value.
fn summed(values: &[String]) -> u64 {
    values
        .iter()
        .map(|v| {
            let bytes: Vec<u8> = (0..v.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&v[i..i + 2], 16).unwrap())
                .collect();
            u64::from_le_bytes(bytes[..8].try_into().unwrap())
        })
        .sum()
}

fn attach(net: &NetPair, loader: &Path, extra: &[&str]) -> std::process::Output {
    output(
        net.in_receiver(loader)
            .args(["attach", &net.receiver_if])
            .args(extra),
    )
}

#[test]
fn changed_maps_reach_the_kernel_on_a_redeploy() {
    if !root_or_skip("changed_maps_reach_the_kernel_on_a_redeploy") {
        return;
    }
    let (dir, root) = new_project(NAME, "minimal");
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kern/redeploy_maps.c"),
        root.join(format!("{NAME}_kern/{NAME}_kern.c")),
    )
    .unwrap();
    let loader = build(&root, dir.path(), 1);
    // `cargo run` of the loader in the project finds the object the build
    // wrote under target/xdp/.
    let ran = output(
        Command::new(env!("CARGO"))
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .args(["run", "-q", "--bin", &format!("{NAME}_user"), "--", "maps"]),
    );
    assert!(
        ran.status.success() && text(&ran).contains("blocked_ports"),
        "{}",
        text(&ran)
    );
    let net = NetPair::new(NAME);
    let first = attach(&net, &loader, &[]);
    assert!(first.status.success(), "{}", text(&first));
    // Rules: mDNS and SSDP dropped, and a prefix nobody sends from.
    put("blocked_ports", "e9 14 00 00", "00 00 00 00 00 00 00 00");
    put("blocked_ports", "6c 07 00 00", "00 00 00 00 00 00 00 00");
    put("blocked_prefixes", "18 00 00 00 c6 33 64 00", "01 00 00 00");
    // Any loader command from the host, on this machine's build.
    let dumped =
        ok(cargo_xdp()
            .current_dir(&root)
            .args(["loader", "--", "map", "dump", "blocked_ports"]));
    assert!(dumped.contains("e9140000"), "{dumped}");
    net.send_udp(5353, 3);
    net.send_udp(7777, 2);
    let seen = |loader: &Path| summed(&dump(loader, "udp_seen")[0].1);
    assert_eq!(seen(&loader), 5);

    // The same object again: every map kept, nothing said about them.
    let again = attach(&net, &loader, &[]);
    assert!(
        again.status.success() && !text(&again).contains("map `"),
        "{}",
        text(&again)
    );
    assert_eq!(seen(&loader), 5, "the counters go on");

    // More room for ports: a new map, the two rules and their counts in it.
    edit(&root, "#define BLOCKED_MAX 4", "#define BLOCKED_MAX 8");
    let loader = build(&root, dir.path(), 2);
    let grown = attach(&net, &loader, &[]);
    let said = text(&grown);
    assert!(
        grown.status.success()
            && said.contains(
                "map `blocked_ports` changed (max_entries 4 -> 8): a new map, 2 entries carried over"
            ),
        "{said}"
    );
    assert!(shown("blocked_ports").contains("max_entries 8"));
    let ports = dump(&loader, "blocked_ports");
    assert_eq!(ports.len(), 2, "{ports:?}");
    assert!(ports.contains(&("e9140000".into(), vec!["0300000000000000".into()])));
    assert_eq!(seen(&loader), 5, "the per-CPU counters were kept");
    assert_eq!(
        dump(&loader, "blocked_prefixes").len(),
        1,
        "the LPM trie was kept"
    );
    net.send_udp(5353, 1);
    assert_eq!(seen(&loader), 6, "the new program counts in the kept map");
    assert!(dump(&loader, "blocked_ports")
        .contains(&("e9140000".into(), vec!["0400000000000000".into()])));

    // Too little room: refused before anything changed; the old program
    // and its maps stay.
    let running = net.xdp_programs();
    edit(&root, "#define BLOCKED_MAX 8", "#define BLOCKED_MAX 1");
    let too_small = build(&root, dir.path(), 3);
    let refused = attach(&net, &too_small, &[]);
    let said = text(&refused);
    assert!(
        !refused.status.success()
            && said.contains("map `blocked_ports` holds 2 entries and its new max_entries is 1")
            && said.contains("--reset-maps"),
        "{said}"
    );
    assert_eq!(net.xdp_programs(), running, "the old program runs on");
    assert!(shown("blocked_ports").contains("max_entries 8"));
    assert_eq!(dump(&loader, "blocked_ports").len(), 2);

    // A narrower key: a new empty map, and the output says what was dropped.
    edit(&root, "#define BLOCKED_MAX 1", "#define BLOCKED_MAX 8");
    edit(&root, "#define PORT_KEY __u32", "#define PORT_KEY __u16");
    let loader = build(&root, dir.path(), 4);
    let narrowed = attach(&net, &loader, &[]);
    let said = text(&narrowed);
    assert!(
        narrowed.status.success()
            && said.contains(
                "map `blocked_ports` changed (key 4 -> 2 bytes): a new empty map, 2 entries dropped"
            ),
        "{said}"
    );
    assert!(dump(&loader, "blocked_ports").is_empty());
    assert_eq!(seen(&loader), 6);

    // The LPM trie and the per-CPU array grow: carried over too.
    edit(
        &root,
        "__uint(max_entries, 16);",
        "__uint(max_entries, 32);",
    );
    edit(&root, "__uint(max_entries, 1);", "__uint(max_entries, 2);");
    let loader = build(&root, dir.path(), 5);
    let said = text(&attach(&net, &loader, &[]));
    assert!(
        said.contains("map `blocked_prefixes` changed (max_entries 16 -> 32): a new map, 1 entry carried over")
            && said.contains("map `udp_seen` changed (max_entries 1 -> 2): a new map, 1 entry carried over"),
        "{said}"
    );
    assert_eq!(dump(&loader, "blocked_prefixes").len(), 1);
    assert_eq!(seen(&loader), 6, "every CPU's count carried over");

    // --reset-maps: every pinned map starts empty.
    let reset = attach(&net, &loader, &["--reset-maps"]);
    let said = text(&reset);
    assert!(
        reset.status.success()
            && said
                .contains("map `blocked_prefixes` started empty (--reset-maps): 1 entry dropped")
            && said.contains("map `udp_seen` started empty (--reset-maps)"),
        "{said}"
    );
    assert!(dump(&loader, "blocked_prefixes").is_empty());
    assert_eq!(seen(&loader), 0);
    // Without root, commands that read the pins say they need it, rather
    // than a status of question marks.
    for command in ["status", "stats"] {
        let out = output(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&loader)
                .arg(command),
        );
        let said = text(&out);
        assert!(
            !out.status.success() && said.contains(&format!("`{command}` needs root")),
            "{said}"
        );
    }
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
}

/// A program the verifier refuses: `cargo xdp test` says why in a few
/// lines (error, instruction, source line, hint) once, names the file with
/// the whole log, and every other case points back to it.
#[test]
fn a_refused_program_is_told_once_in_a_few_lines() {
    if !root_or_skip("a_refused_program_is_told_once_in_a_few_lines") {
        return;
    }
    let (_dir, root) = new_project("refusedonce", "minimal");
    let source = root.join("refusedonce_kern/refusedonce_kern.c");
    let edited = fs::read_to_string(&source).unwrap().replace(
        "\treturn count_action(ctx, XDP_PASS);\n}",
        "\tunsigned char *data = (unsigned char *)(long)ctx->data;\n\n\treturn data[40] == 7 ? XDP_DROP : count_action(ctx, XDP_PASS);\n}",
    );
    fs::write(&source, edited).unwrap();
    // Two more cases of the refused program.
    let mut more = String::new();
    for name in ["passes_udp", "passes_tcp"] {
        more.push_str(&format!(
            "[[case]]\nname = \"{name}\"\nargs = [\"--prog\", \"xdp_pass\"]\n\
             packet = {{ ipv4 = {{ src = \"10.0.0.1\", dst = \"10.0.0.2\" }}, udp = {{ dst = 53 }} }}\n\
             expect = {{ action = \"pass\" }}\n\n"
        ));
    }
    fs::write(root.join("refusedonce_kern/tests/more.toml"), more).unwrap();
    let out = output(cargo_xdp().current_dir(&root).arg("test"));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("the kernel's verifier refused program `xdp_pass`")
            && said.contains("hint: packet bounds")
            && said.contains("refusedonce_kern.c:"),
        "{said}"
    );
    assert_eq!(
        said.matches("the kernel's verifier refused").count(),
        1,
        "{said}"
    );
    assert!(said.contains("the same refusal as `"), "{said}");
    assert!(
        said.lines().count() < 60,
        "{} lines:\n{said}",
        said.lines().count()
    );
    let path = said
        .lines()
        .find_map(|l| {
            l.split_once("the whole verifier log (")?
                .1
                .split_once("): ")
        })
        .map(|(_, path)| PathBuf::from(path.trim()))
        .expect("the log's file is named");
    let log = fs::read_to_string(&path).unwrap();
    assert!(log.contains("invalid access to packet"), "{log}");
}

/// Debug and release bundles live apart, as cargo's profiles do: a `cargo
/// xdp test` (debug) after a release build leaves the release bundle be.
#[test]
fn debug_and_release_bundles_never_overwrite_each_other() {
    if !root_or_skip("debug_and_release_bundles_never_overwrite_each_other") {
        return;
    }
    let (_dir, root) = new_project("twoprofiles", "minimal");
    ok(cargo_xdp().current_dir(&root).args(["build", "--release"]));
    let xdp = shared_target_dir().join("xdp/linux-x86_64");
    let release = xdp.join("release/twoprofiles-linux-x86_64.tar.gz");
    let released = fs::read(&release).unwrap();
    let out = output(cargo_xdp().current_dir(&root).arg("test"));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fs::read(&release).unwrap(),
        released,
        "the release bundle stays"
    );
    let debug = fs::read(xdp.join("debug/twoprofiles-linux-x86_64.tar.gz")).unwrap();
    assert_ne!(
        debug, released,
        "the test built and used its own (debug) bundle"
    );
}

/// The small things a user meets on day two: a closed pipe ends quietly, a
/// filter that selects nothing says so, a filter matches case files too.
#[test]
fn closed_pipes_and_filters_say_what_happened() {
    if !root_or_skip("closed_pipes_and_filters_say_what_happened") {
        return;
    }
    let piped = output(Command::new("sh").arg("-c").arg(format!(
        "'{}' xdp new --list | head -1",
        env!("CARGO_BIN_EXE_cargo-xdp")
    )));
    assert!(!text(&piped).contains("panicked"), "{}", text(&piped));
    let (_dir, root) = new_project("filtered", "minimal");
    let none = output(cargo_xdp().current_dir(&root).args(["test", "zz"]));
    let said = text(&none);
    assert!(
        none.status.success() && said.contains("0 of 3 packet tests selected"),
        "{said}"
    );
    let by_file = output(cargo_xdp().current_dir(&root).args(["test", "minimal"]));
    assert!(
        text(&by_file).contains("3 passed; 0 failed; 0 filtered out"),
        "{}",
        text(&by_file)
    );
}

//! End to end, as root: scaffold with cargo-xdp, build, attach the loader to
//! a veth in a network namespace this test made, and prove with real
//! packets that the filter drops them and that traffic flows after detach.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use common::*;

/// Scaffolds and builds `name`; returns (temp dir guard, project root, loader, kern object).
fn built_project(name: &str, template: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let (dir, root) = new_project(name, template);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    // Extract the bundle, as a user with only the tarball would use it.
    let bundle =
        shared_target_dir().join(format!("xdp/linux-x86_64/debug/{name}-linux-x86_64.tar.gz"));
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    ok(Command::new("tar")
        .arg("xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(&unpacked));
    let loader = unpacked.join(name).join(format!("{name}_user"));
    let object = unpacked.join(name).join(format!("{name}_kern.o"));
    assert!(loader.is_file() && object.is_file());
    (dir, root, loader, object)
}

fn stats_json(net: &NetPair, loader: &Path) -> serde_json::Value {
    let out = ok(net.in_receiver(loader).args(["stats", "--json"]));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn filter_drops_icmp_while_attached_and_counts_it() {
    if !root_or_skip("filter_drops_icmp_while_attached_and_counts_it") {
        return;
    }
    let (_dir, _root, loader, _) = built_project("e2efilter", "filter");
    let net = NetPair::new("e2efilter");
    assert!(net.ping(), "no traffic before attaching");

    let attached =
        ok(net
            .in_receiver(&loader)
            .args(["attach", &net.receiver_if, "--drop-proto", "icmp"]));
    assert!(attached.contains("Attached e2efilter"), "{attached}");
    // This kernel runs the 5.2+ variant: its rules are global data, which
    // the `rules` below change in the running program.
    assert!(attached.contains("variant for kernel 5.2+"), "{attached}");
    assert_eq!(net.xdp_programs().len(), 1);
    // The loader has exited: the attach outlived it.
    assert!(!net.ping(), "ICMP passed while the filter was attached");
    let stats = stats_json(&net, &loader);
    assert!(stats["drop"]["packets"].as_u64().unwrap() >= 3, "{stats}");

    // UDP to a dropped port is counted as dropped too; other ports pass.
    ok(net
        .in_receiver(&loader)
        .args(["rules", "--drop-port", "udp/9999"]));
    let before = stats_json(&net, &loader);
    net.send_udp(9999, 5);
    net.send_udp(9998, 4);
    let after = stats_json(&net, &loader);
    let delta = |action: &str| {
        after[action]["packets"].as_u64().unwrap() - before[action]["packets"].as_u64().unwrap()
    };
    assert_eq!(delta("drop"), 5, "{before} -> {after}");
    assert!(delta("pass") >= 4, "{before} -> {after}");
    // More source prefixes than drop_src_v4 holds: refused whole, the limit named.
    let many: Vec<String> = (0..1100)
        .flat_map(|i| {
            [
                "--drop-src".to_string(),
                format!("10.9.{}.{}", i / 256, i % 256),
            ]
        })
        .collect();
    let error = fails(net.in_receiver(&loader).arg("rules").args(&many));
    assert!(
        error.contains("drop_src_v4 holds at most 1024 rules and has 0")
            && error.contains("nothing was written"),
        "{error}"
    );
    let rules = ok(net.in_receiver(&loader).arg("rules"));
    assert!(
        !rules.contains("from 10.9."),
        "the refused rules left some: {rules}"
    );
    // Listed in order, whatever order they were given and the maps hold.
    let some = [
        "--drop-port",
        "udp/53",
        "--drop-port",
        "tcp/443",
        "--drop-port",
        "tcp/22",
        "--drop-src",
        "fd00::/8",
        "--drop-src",
        "10.9.0.0/16",
        "--drop-src",
        "10.8.0.0/16",
    ];
    ok(net.in_receiver(&loader).arg("rules").args(some));
    let rules = ok(net.in_receiver(&loader).arg("rules"));
    let listed: Vec<&str> = rules.lines().collect();
    assert_eq!(
        listed,
        [
            "drop icmp",
            "drop tcp/22",
            "drop tcp/443",
            "drop udp/53",
            "drop udp/9999",
            "drop from 10.8.0.0/16",
            "drop from 10.9.0.0/16",
            "drop from fd00::/8",
        ],
        "{rules}"
    );
    ok(net
        .in_receiver(&loader)
        .args(["rules", "--delete"])
        .args(some));
    // The port rule as the map holds it: UDP's bitmap, word 1024 + 9999/64,
    // bit 9999 % 64 = 15.
    let dump = ok(net.in_receiver(&loader).args(["map", "dump", "drop_port"]));
    assert!(dump.contains("9c040000: 0080000000000000"), "{dump}");
    let maps = ok(net.in_receiver(&loader).arg("maps"));
    assert!(
        maps.lines()
            .any(|l| l.starts_with("drop_port") && l.contains("array") && l.ends_with("yes")),
        "{maps}"
    );

    // Source-prefix rules, changed live on the running program.
    let sender_net = format!("{}.0/24", net.receiver_ip.rsplit_once('.').unwrap().0);
    let rules = ok(net.in_receiver(&loader).args(["rules", "--clear"]));
    assert!(rules.contains("no rules"), "{rules}");
    assert!(net.ping(), "ICMP still dropped after --clear");
    let rules = ok(net
        .in_receiver(&loader)
        .args(["rules", "--drop-src", &sender_net]));
    assert!(
        rules.contains(&format!("drop from {sender_net}")),
        "{rules}"
    );
    assert!(!net.ping(), "traffic from {sender_net} passed");
    ok(net
        .in_receiver(&loader)
        .args(["rules", "--delete", "--drop-src", &sender_net]));
    assert!(net.ping(), "traffic still dropped after --delete");

    let status = ok(net.in_receiver(&loader).args(["status", "--json"]));
    assert!(
        status.contains(&format!("\"interface\":\"{}\"", net.receiver_if)),
        "{status}"
    );

    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    assert!(net.xdp_programs().is_empty());
    assert!(net.ping(), "traffic did not come back after detach");
    assert!(
        !Path::new("/sys/fs/bpf/e2efilter").exists(),
        "pins left after the last detach"
    );
}

#[test]
fn minimal_xdp_drop_drops_everything_and_reattach_replaces() {
    if !root_or_skip("minimal_xdp_drop_drops_everything_and_reattach_replaces") {
        return;
    }
    let (_dir, _root, loader, _) = built_project("e2eminimal", "minimal");
    let net = NetPair::new("e2eminimal");

    ok(net
        .in_receiver(&loader)
        .args(["attach", &net.receiver_if, "--prog", "xdp_pass"]));
    assert!(net.ping(), "xdp_pass dropped traffic");
    let first = net.xdp_programs();

    // A second attach replaces the first: still one program, a new id.
    ok(net
        .in_receiver(&loader)
        .args(["attach", &net.receiver_if, "--prog", "xdp_drop"]));
    let second = net.xdp_programs();
    assert_eq!(second.len(), 1, "programs stacked: {second:?}");
    assert_ne!(first, second, "the program was not replaced");
    assert!(!net.ping(), "xdp_drop let packets through");
    let stats = stats_json(&net, &loader);
    assert!(stats["drop"]["packets"].as_u64().unwrap() >= 3, "{stats}");

    // Switching mode detaches and re-attaches: still one program.
    ok(net.in_receiver(&loader).args([
        "attach",
        &net.receiver_if,
        "--prog",
        "xdp_drop",
        "--mode",
        "skb",
    ]));
    assert_eq!(net.xdp_programs().len(), 1);
    let status = ok(net.in_receiver(&loader).arg("status"));
    assert!(
        status.contains("skb") && status.contains("xdp_drop"),
        "{status}"
    );

    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    assert!(net.ping(), "traffic did not come back after detach");
}

#[test]
fn loader_errors_are_clear_and_leave_nothing_attached() {
    if !root_or_skip("loader_errors_are_clear_and_leave_nothing_attached") {
        return;
    }
    let (_dir, root, loader, object) = built_project("e2eerrors", "minimal");
    let net = NetPair::new("e2eerrors");
    let attach = |args: &[&str]| fails(net.in_receiver(&loader).args(args));

    let error = attach(&["attach", "nosuchif0"]);
    assert!(error.contains("no such interface `nosuchif0`"), "{error}");
    let error = attach(&["attach", "bad;name"]);
    assert!(error.contains("not an interface name"), "{error}");
    // An interface name is never a path: detach ../maps/x touches no pin.
    let error = attach(&["detach", "../maps/xdp_stats"]);
    assert!(error.contains("not an interface name"), "{error}");
    let error = attach(&["detach", ".."]);
    assert!(error.contains("not an interface name"), "{error}");
    let error = attach(&["detach", &net.receiver_if]);
    assert!(
        error.contains("nothing of e2eerrors is attached"),
        "{error}"
    );
    let error = attach(&["attach", &net.receiver_if, "--prog", "xdp_nope"]);
    assert!(
        error.contains("no program `xdp_nope`") && error.contains("xdp_drop"),
        "{error}"
    );
    let error = attach(&["attach", &net.receiver_if, "--mode", "turbo"]);
    assert!(error.contains("unknown --mode"), "{error}");
    let error = attach(&["attach", &net.receiver_if, "--object", "/nonexistent.o"]);
    assert!(error.contains("cargo xdp build"), "{error}");
    let error = attach(&["attach", &net.receiver_if, "--bpffs", "/proc/no-bpffs-here"]);
    assert!(error.contains("bpffs is not mounted"), "{error}");
    // --bpffs never mounts over a directory with files in it.
    let full = tempfile::tempdir().unwrap();
    std::fs::write(full.path().join("keep"), "x").unwrap();
    let error = attach(&[
        "--bpffs",
        full.path().to_str().unwrap(),
        "attach",
        &net.receiver_if,
    ]);
    assert!(error.contains("is not empty: refusing to mount"), "{error}");
    assert!(full.path().join("keep").exists());
    assert!(net.xdp_programs().is_empty());

    // Not root: refused before touching anything.
    let error = fails(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&loader)
            .args(["attach", "lo"]),
    );
    assert!(error.contains("needs root"), "{error}");

    // Someone else's program on the interface is not replaced silently
    // (the bundle's bare baseline: another program by name).
    net.attach_with_ip(&object.with_file_name("xdp-baseline.o"));
    let error = attach(&["attach", &net.receiver_if]);
    assert!(
        error.contains("no cargo-xdp project attached")
            && error.contains("`bare_pass`")
            && error.contains("xdp off"),
        "{error}"
    );
    net.xdp_off("xdpgeneric");
    // Our own program put there by another tool (no pin): ours by its name.
    net.attach_with_ip(&object);
    let out = output(net.in_receiver(&loader).args(["attach", &net.receiver_if]));
    assert!(
        out.status.success() && text(&out).contains("without its pin; replacing it"),
        "{}",
        text(&out)
    );
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    assert!(net.xdp_programs().is_empty());

    // The kernel's verifier refuses a program reading past the packet: its
    // log is printed and nothing stays attached or pinned.
    let source = root.join("e2eerrors_kern/e2eerrors_kern.c");
    let text = std::fs::read_to_string(&source).unwrap();
    let unsafe_read = "int xdp_pass(struct xdp_md *ctx)\n{\n\tif (*(unsigned char *)(long)ctx->data == 0x42)\n\t\treturn XDP_DROP;";
    std::fs::write(
        &source,
        text.replace("int xdp_pass(struct xdp_md *ctx)\n{", unsafe_read),
    )
    .unwrap();
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let bad_object = shared_target_dir().join("xdp/linux-x86_64/kern/e2eerrors_kern.o");
    let error = fails(
        net.in_receiver(&loader)
            .args(["attach", &net.receiver_if, "--object"])
            .arg(&bad_object),
    );
    assert!(
        error.contains("the kernel's verifier refused program `xdp_pass`")
            && error.contains("hint: packet bounds"),
        "{error}"
    );
    assert!(error.contains("--- verifier log ---"), "{error}");
    assert!(
        error.contains("invalid access to packet"),
        "verifier's own words expected:\n{error}"
    );
    assert!(net.xdp_programs().is_empty());
    assert!(
        !Path::new("/sys/fs/bpf/e2eerrors").exists(),
        "pins left after a failed attach"
    );

    // No bpffs where pins go: the loader mounts one there.
    let fresh_bpffs = tempfile::tempdir().unwrap();
    let bpffs = fresh_bpffs.path().to_str().unwrap();
    let out = output(
        net.in_receiver(&loader)
            .args(["--bpffs", bpffs, "attach", &net.receiver_if]),
    );
    let said = common::text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("note: mounted a bpffs at {bpffs}")),
        "it says so: {said}"
    );
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let mounted = mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(bpffs) && l.split(' ').nth(2) == Some("bpf"));
    assert!(mounted, "no bpffs mounted at {bpffs}");
    assert!(fresh_bpffs
        .path()
        .join("e2eerrors/progs")
        .join(&net.receiver_if)
        .exists());
    ok(net
        .in_receiver(&loader)
        .args(["--bpffs", bpffs, "detach", &net.receiver_if]));
    ok(Command::new("umount").arg(bpffs));
    assert!(net.xdp_programs().is_empty());
}

/// `cargo xdp run`: attaches, drops while running, detaches on Ctrl-C.
#[test]
fn run_attaches_until_interrupted_then_detaches() {
    if !root_or_skip("run_attaches_until_interrupted_then_detaches") {
        return;
    }
    let (_dir, root) = new_project("e2erun", "filter");
    // Resolve and fetch dependencies here: the namespace has no network.
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let net = NetPair::new("e2erun");
    // Run inside the receiver's network namespace, host mount namespace.
    let mut run = net.in_receiver(env!("CARGO_BIN_EXE_cargo-xdp"));
    run.current_dir(&root)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .args([
            "xdp",
            "run",
            &net.receiver_if,
            "--interval",
            "0.2",
            "--",
            "--drop-proto",
            "icmp",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = run.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while net.xdp_programs().is_empty() {
        assert!(Instant::now() < deadline, "cargo xdp run never attached");
        assert!(
            child.try_wait().unwrap().is_none(),
            "cargo xdp run exited early: {:?}",
            child.wait_with_output()
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert!(!net.ping(), "ICMP passed while `cargo xdp run` was running");
    // nsenter execs cargo-xdp, so the child's pid is cargo-xdp's.
    ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("PACKETS"), "no live counters:\n{printed}");
    assert!(printed.contains("Detached e2erun"), "{printed}");
    assert!(net.xdp_programs().is_empty(), "still attached after Ctrl-C");
    assert!(net.ping());
}

/// The committed example (a user's project, made with `cargo xdp new` and
/// changed): pings answered only from allowed networks, counted per type.
#[test]
fn example_icmp_guard_answers_pings_only_from_allowed_networks() {
    if !root_or_skip("example_icmp_guard_answers_pings_only_from_allowed_networks") {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/icmp-guard");
    ok(cargo_xdp().current_dir(&example).arg("build"));
    ok(Command::new(env!("CARGO"))
        .current_dir(&example)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .args(["test", "-q", "-p", "icmp-guard-user"]));
    // Its packet tests, through the kernel.
    let tested = ok(cargo_xdp().current_dir(&example).args(["xdp", "test"]));
    assert!(
        tested.contains("test result: ok. 9 passed; 0 failed"),
        "{tested}"
    );
    let loader = shared_target_dir().join("x86_64-unknown-linux-gnu/debug/icmp-guard-user");
    let object = shared_target_dir().join("xdp/linux-x86_64/kern/icmp-guard-kern.o");
    let net = NetPair::new("icmp-guard");
    let sender = format!("{}.1", net.receiver_ip.rsplit_once('.').unwrap().0);
    let attached = ok(net
        .in_receiver(&loader)
        .args(["attach", &net.receiver_if, "--allow"])
        .arg(format!("{sender}/32"))
        .arg("--object")
        .arg(&object));
    assert!(
        attached.contains(&format!("(pings answered from {sender}/32)")),
        "{attached}"
    );
    assert!(net.ping(), "an allowed source got no answer");

    let listed = ok(net.in_receiver(&loader).args(["allow", "--clear"]));
    assert!(listed.contains("no network allowed"), "{listed}");
    assert!(
        !net.ping(),
        "pings from a source no longer allowed were answered"
    );
    let counts = ok(net.in_receiver(&loader).args(["icmp", "--json"]));
    let counts: serde_json::Value = serde_json::from_str(&counts).unwrap();
    let echo = counts
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["type"] == "icmp echo-request")
        .unwrap_or_else(|| panic!("no echo requests counted: {counts}"));
    assert!(echo["dropped"].as_u64().unwrap() >= 3, "{counts}");
    assert!(echo["seen"].as_u64().unwrap() > echo["dropped"].as_u64().unwrap());
    let table = ok(net.in_receiver(&loader).arg("icmp"));
    assert!(table.contains("icmp echo-request"), "{table}");

    // The whole subnet, added while attached.
    let network = format!("{}.0/24", net.receiver_ip.rsplit_once('.').unwrap().0);
    let listed = ok(net.in_receiver(&loader).args(["allow", &network]));
    assert_eq!(listed.trim(), format!("allow {network}"));
    assert!(net.ping());
    let refused = fails(net.in_receiver(&loader).args(["allow", "10.0.0.0/40"]));
    assert!(refused.contains("prefix length must be 0-32"), "{refused}");

    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    assert!(net.xdp_programs().is_empty());
}

/// The kernel is asked, not only the pins: our program without its pin
/// (deleted by hand) is still found by `status` and removed by `detach`;
/// another tool's program is named as such and left alone.
#[test]
fn status_and_detach_ask_the_kernel_not_only_the_pins() {
    if !root_or_skip("status_and_detach_ask_the_kernel_not_only_the_pins") {
        return;
    }
    let (dir, root, loader, _) = built_project("e2eorphan", "minimal");
    let net = NetPair::new("e2eorphan");
    ok(net
        .in_receiver(&loader)
        .args(["attach", &net.receiver_if, "--prog", "xdp_drop"]));
    // `cargo xdp status` / `stats` without --adb: this machine's loader.
    let here = |args: &[&str]| {
        ok(net
            .in_receiver(env!("CARGO_BIN_EXE_cargo-xdp"))
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .arg("xdp")
            .args(args))
    };
    let status = here(&["status"]);
    assert!(
        status.contains(&net.receiver_if) && status.contains("xdp_drop"),
        "{status}"
    );
    let stats = here(&["stats", "--message-format", "json"]);
    // The build's messages, then the loader's answer.
    let messages: Vec<serde_json::Value> = stats
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m["reason"] == "build-finished"),
        "{stats}"
    );
    let answer = messages.last().unwrap();
    assert_eq!(answer["reason"], "loader-answer", "{stats}");
    assert!(
        answer["serial"].is_null() && answer["answer"]["drop"].is_object(),
        "{stats}"
    );
    std::fs::remove_file(Path::new("/sys/fs/bpf/e2eorphan/progs").join(&net.receiver_if)).unwrap();
    let status = ok(net.in_receiver(&loader).arg("status"));
    assert!(
        status.contains(&net.receiver_if)
            && status.contains("(no pin)")
            && status.contains("xdp_drop"),
        "{status}"
    );
    let out = output(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("without its pin; detached it"),
        "{}",
        text(&out)
    );
    assert!(net.xdp_programs().is_empty() && net.ping());

    // Another tool's program (iproute2 loads one of its own here).
    let source = dir.path().join("foreign.c");
    std::fs::write(
        &source,
        "#include <linux/bpf.h>\n__attribute__((section(\"xdp\"), used)) int foreign_prog(struct xdp_md *c) { return XDP_PASS; }\nchar _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n",
    )
    .unwrap();
    let object = dir.path().join("foreign.o");
    let multiarch = ok(Command::new("gcc").arg("-print-multiarch"));
    ok(Command::new("clang")
        .args(["-O2", "-target", "bpf", "-idirafter"])
        .arg(format!("/usr/include/{}", multiarch.trim()))
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&object));
    net.attach_with_ip(&object);
    let error = fails(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    assert!(
        error.contains("another tool's XDP program") && error.contains("foreign_prog"),
        "{error}"
    );
    assert_eq!(net.xdp_programs().len(), 1, "left alone");
    let status = ok(net.in_receiver(&loader).arg("status"));
    assert!(status.contains("not attached"), "{status}");
    let error = fails(net.in_receiver(&loader).arg("stats"));
    assert!(
        error.contains("not attached anywhere")
            && error.contains(&format!(
                "XDP programs of other tools run on: {}",
                net.receiver_if
            ))
            && error.contains("foreign_prog"),
        "{error}"
    );
}

/// A fix reaches a project by one version change: a project built against
/// the runtime as it was (this repository's first cargo-xdp-loader, from
/// its history, as version 0.0.9) attaches; `cargo xdp upgrade` moves it to
/// today's runtime, and the same project, its own code unchanged, now
/// finds its program after a pin was lost, which the old runtime could not.
#[test]
fn upgrade_brings_a_runtime_fix_to_an_existing_project() {
    if !root_or_skip("upgrade_brings_a_runtime_fix_to_an_existing_project") {
        return;
    }
    // The minimal template: its loader part has not changed since that
    // runtime (the filter's now fills the global data of its 5.2+ variant,
    // which the old runtime cannot).
    let (dir, root) = new_project("e2eupgrade", "minimal");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let old = dir.path().join("old-runtime");
    std::fs::create_dir(&old).unwrap();
    let archived = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "git -C '{}' archive 83e1845 cargo-xdp-loader | tar -x -C '{}'",
            repo.display(),
            old.display()
        ))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !archived {
        // No history here (a shallow clone): today's runtime stands in for
        // the old one; the version change is still what is tested.
        ok(Command::new("cp")
            .arg("-r")
            .arg(repo.join("cargo-xdp-loader"))
            .arg(&old));
    }
    let old = old.join("cargo-xdp-loader");
    let manifest = old.join("Cargo.toml");
    let runtime_manifest = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("version = \"0.1.0\"", "version = \"0.0.9\"")
        .replace("\nversion.workspace = true", "\nversion = \"0.0.9\"")
        .replace(
            "{ version = \"0.0.9\", path = \"../cargo-xdp-wire\" }",
            &format!("{{ path = {:?} }}", repo.join("cargo-xdp-wire")),
        )
        .replace("edition.workspace = true", "edition = \"2021\"")
        .replace("repository.workspace = true\n", "")
        .replace("rust-version.workspace = true", "rust-version = \"1.89\"")
        .replace(
            "license.workspace = true",
            "license = \"MIT OR Apache-2.0\"",
        )
        + "\n[workspace]\n";
    std::fs::write(&manifest, runtime_manifest).unwrap();
    let user = root.join("e2eupgrade_user/Cargo.toml");
    let user_manifest = std::fs::read_to_string(&user).unwrap();
    let line = user_manifest
        .lines()
        .find(|l| l.starts_with("cargo-xdp-loader = "))
        .unwrap()
        .to_string();
    std::fs::write(
        &user,
        user_manifest.replace(
            &line,
            &format!(
                "cargo-xdp-loader = {{ version = \"0.0.9\", path = \"{}\" }}",
                old.display()
            ),
        ),
    )
    .unwrap();
    let net = NetPair::new("e2eupgrade");
    let bundle = shared_target_dir().join("xdp/linux-x86_64/debug/e2eupgrade-linux-x86_64.tar.gz");
    let build_and_unpack = |into: &str| {
        ok(cargo_xdp().current_dir(&root).arg("build"));
        let unpacked = dir.path().join(into);
        std::fs::create_dir(&unpacked).unwrap();
        ok(Command::new("tar")
            .arg("xzf")
            .arg(&bundle)
            .arg("-C")
            .arg(&unpacked));
        unpacked.join("e2eupgrade/e2eupgrade_user")
    };
    let lost_pin = || {
        std::fs::remove_file(Path::new("/sys/fs/bpf/e2eupgrade/progs").join(&net.receiver_if))
            .unwrap()
    };
    let loader = build_and_unpack("before");
    ok(net
        .in_receiver(&loader)
        .args(["attach", &net.receiver_if, "--prog", "xdp_drop"]));
    assert!(!net.ping(), "the old runtime attaches");
    if archived {
        lost_pin();
        let status = ok(net.in_receiver(&loader).arg("status"));
        assert!(
            status.contains("not attached"),
            "the old runtime's blind spot: {status}"
        );
        net.xdp_off("xdp");
    } else {
        ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    }

    let out = output(cargo_xdp().current_dir(&root).args(["xdp", "upgrade"]));
    assert!(
        text(&out).contains("Upgraded e2eupgrade_user from cargo-xdp-loader 0.0.9 to 0.1.0"),
        "{}",
        text(&out)
    );
    let loader = build_and_unpack("after");
    ok(net
        .in_receiver(&loader)
        .args(["attach", &net.receiver_if, "--prog", "xdp_drop"]));
    assert!(!net.ping(), "the upgraded project attaches, unchanged");
    lost_pin();
    let status = ok(net.in_receiver(&loader).arg("status"));
    assert!(status.contains("(no pin)"), "the fix reached it: {status}");
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    assert!(net.ping() && net.xdp_programs().is_empty());
}

/// `cargo xdp test`: the templates' own packet tests pass on this kernel; a
/// wrong expectation fails with expected vs got; a malformed case file is
/// an error naming file, case and field; JSON messages for scripts.
#[test]
fn packet_tests_of_the_templates_pass_and_failures_say_why() {
    if !root_or_skip("packet_tests_of_the_templates_pass_and_failures_say_why") {
        return;
    }
    for (name, template, count) in [
        // The filter's cases run on its base object and its 5.2+ variant.
        ("pktfilter", "filter", 46),
        ("pktminimal", "minimal", 3),
        ("pktreflect", "reflect", 8),
        ("pktratelimit", "ratelimit", 6),
        ("pktstats", "stats", 5),
        ("pktredirect", "redirect", 2),
    ] {
        let (_dir, root) = new_project(name, template);
        // The loader's own unit tests (rules.rs), as a user runs them.
        ok(Command::new(env!("CARGO"))
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .args(["test", "-q"]));
        let out = ok(cargo_xdp().current_dir(&root).args(["xdp", "test"]));
        assert!(
            out.contains(&format!("running {count} tests"))
                && out.contains(&format!("test result: ok. {count} passed; 0 failed")),
            "{out}"
        );
        assert!(
            !std::fs::read_dir("/sys/fs/bpf")
                .unwrap()
                .flatten()
                .any(|e| e
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("cargo-xdp-test-{name}-"))),
            "test-run left its maps in /sys/fs/bpf"
        );
        if template == "minimal" {
            // bench: each case's packet timed next to a bare XDP_PASS.
            let out = ok(cargo_xdp().current_dir(&root).args([
                "xdp",
                "bench",
                "--repeat",
                "1000",
                "--rounds",
                "2",
                "--message-format",
                "json",
            ]));
            let benched: Vec<serde_json::Value> = out
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|m| m["reason"] == "bench")
                .collect();
            assert_eq!(benched.len(), count, "{out}");
            assert!(
                benched.iter().all(|m| m["ratio"].as_f64().unwrap() > 0.0),
                "{out}"
            );
        }
        if template != "filter" {
            continue;
        }
        let cases = root.join(format!("{name}_kern/tests/filter.toml"));
        let written = std::fs::read_to_string(&cases).unwrap();
        std::fs::write(
            &cases,
            format!(
                "{written}\n[[case]]\nname = \"wrong_on_purpose\"\n\
                 packet = {{ ipv4 = {{ src = \"10.0.0.1\", dst = \"10.0.0.2\" }}, udp = {{ dst = 53 }} }}\n\
                 expect = {{ action = \"drop\" }}\n"
            ),
        )
        .unwrap();
        let failed = output(
            cargo_xdp()
                .current_dir(&root)
                .args(["xdp", "test", "on_purpose"]),
        );
        assert!(!failed.status.success());
        let said = text(&failed);
        assert!(
            said.contains("test wrong_on_purpose ... FAILED")
                && said.contains("action: expected drop, got pass")
                && said.contains("test wrong_on_purpose [kernel 5.2+] ... FAILED")
                && said.contains("test result: FAILED. 0 passed; 2 failed; 46 filtered out"),
            "{said}"
        );
        let json = output(cargo_xdp().current_dir(&root).args([
            "xdp",
            "test",
            "--message-format",
            "json",
        ]));
        let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let result = messages
            .iter()
            .find(|m| m["reason"] == "test-result")
            .unwrap();
        assert_eq!(
            (result["passed"].as_u64(), result["failed"].as_u64()),
            (Some(46), Some(2))
        );
        assert!(messages.iter().any(|m| m["reason"] == "test-case"
            && m["name"] == "wrong_on_purpose"
            && m["ok"] == false));

        std::fs::write(
            &cases,
            "[[case]]\nname = \"typo\"\npacket = { ipv4 = { src = \"10.0.0.1\", dst = \"10.0.0.2\" } }\nexpect = { acton = \"drop\" }\n",
        )
        .unwrap();
        let error = fails(cargo_xdp().current_dir(&root).args(["xdp", "test"]));
        assert!(
            error.contains(&format!("{name}_kern/tests/filter.toml, case `typo`"))
                && error.contains("acton"),
            "{error}"
        );
    }
}

/// `cargo xdp test --pcap`: a real capture (tcpdump on a veth while pings
/// and DNS-port datagrams cross it) replayed with a rule, counted per action;
/// the same traffic captured on `any` (Linux cooked, SLL2) replays as raw IP
/// through the template's raw-IP variant with the same verdicts.
#[test]
fn a_real_capture_replays_through_the_program() {
    if !root_or_skip("a_real_capture_replays_through_the_program") {
        return;
    }
    let (dir, root) = new_project("pktreplay", "filter");
    let net = NetPair::new("pktreplay");
    let capture = dir.path().join("wire.pcap");
    let mut tcpdump = net
        .in_receiver("tcpdump")
        .args(["-i", &net.receiver_if, "--immediate-mode", "-U", "-w"])
        .arg(&capture)
        .args(["inbound and (udp port 53 or icmp)"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let cooked = dir.path().join("any.pcap");
    let mut tcpdump_any = net
        .in_receiver("tcpdump")
        .args(["-i", "any", "--immediate-mode", "-U", "-w"])
        .arg(&cooked)
        .args(["inbound and (udp port 53 or icmp)"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(800));
    net.send_udp(53, 5);
    assert!(net.ping()); // 3 echo requests in
    thread::sleep(Duration::from_millis(300));
    for child in [&mut tcpdump, &mut tcpdump_any] {
        // SAFETY: our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        child.wait().unwrap();
    }

    let out = ok(cargo_xdp()
        .current_dir(&root)
        .args(["xdp", "test", "-v", "--pcap"])
        .arg(&capture)
        .args(["--", "--drop-port", "udp/53"]));
    // What tcpdump itself reads in the capture: the DNS-port datagrams must
    // be the drops, the pings the passes.
    let count = |filter: &str| {
        ok(Command::new("tcpdump")
            .args(["-nr"])
            .arg(&capture)
            .arg(filter))
        .lines()
        .count()
    };
    let (udp, icmp) = (count("udp"), count("icmp"));
    assert!(udp >= 1 && icmp >= 1, "the capture missed the traffic");
    assert!(
        out.contains(&format!("replayed {} packets of", udp + icmp))
            && out.contains(&format!("drop {udp}, pass {icmp}")),
        "{out}"
    );
    assert_eq!(out.matches(": drop\n").count(), udp, "{out}");

    // Captured on `any`: Linux cooked records, replayed as raw IP.
    let out = ok(cargo_xdp()
        .current_dir(&root)
        .args(["xdp", "test", "-v", "--pcap"])
        .arg(&cooked)
        .args(["--", "--drop-port", "udp/53"]));
    let cooked_count = |filter: &str| {
        ok(Command::new("tcpdump")
            .args(["-nr"])
            .arg(&cooked)
            .arg(filter))
        .lines()
        .count()
    };
    let (udp, icmp) = (cooked_count("udp"), cooked_count("icmp"));
    assert!(
        udp >= 1 && icmp >= 1,
        "the capture on any missed the traffic"
    );
    assert!(out.contains(&format!("drop {udp}, pass {icmp}")), "{out}");

    // A link-type XDP never sees (802.11 radio frames): refused by name.
    let radio = dir.path().join("radio.pcap");
    let mut bytes = std::fs::read(&capture).unwrap();
    bytes[20..24].copy_from_slice(&105u32.to_le_bytes());
    std::fs::write(&radio, bytes).unwrap();
    let error = fails(
        cargo_xdp()
            .current_dir(&root)
            .args(["xdp", "test", "--pcap"])
            .arg(&radio),
    );
    assert!(error.contains("link-type 105"), "{error}");
}

/// The reflect template answers pings and its UDP echo port itself: the
/// receiver has no IP address (its kernel could not answer), the sender
/// knows its MAC, and replies come back across the namespaces.
#[test]
fn reflect_answers_pings_and_udp_from_xdp_across_namespaces() {
    if !root_or_skip("reflect_answers_pings_and_udp_from_xdp_across_namespaces") {
        return;
    }
    let (_dir, _root, loader, _) = built_project("e2ereflect", "reflect");
    let net = NetPair::new("e2ereflect");
    net.sender_knows_receiver_mac();
    ok(Command::new("ip").args([
        "-n",
        &net.receiver,
        "addr",
        "flush",
        "dev",
        &net.receiver_if,
    ]));
    assert!(
        !net.ping(),
        "with no address the receiver's kernel cannot answer"
    );

    ok(net.in_receiver(&loader).args([
        "attach",
        &net.receiver_if,
        "--mode",
        "skb",
        "--udp-port",
        "7",
    ]));
    assert!(net.ping(), "no echo replies from XDP");
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\n\
         s.sendto(b'hello xdp',('{}',7))\nprint(s.recvfrom(100)[0].decode())",
        net.receiver_ip
    );
    let echoed =
        ok(Command::new("ip").args(["netns", "exec", &net.sender, "python3", "-c", &script]));
    assert_eq!(echoed.trim(), "hello xdp");
    let stats = stats_json(&net, &loader);
    assert!(stats["tx"]["packets"].as_u64().unwrap() >= 4, "{stats}");
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
}

/// The redirect template forwards across namespaces: what the sender sends
/// to the receiver's interface leaves through another veth into a third
/// namespace, without the receiver's stack seeing it.
#[test]
fn redirect_forwards_packets_out_of_another_interface() {
    if !root_or_skip("redirect_forwards_packets_out_of_another_interface") {
        return;
    }
    let (_dir, _root, loader, _) = built_project("e2eredirect", "redirect");
    let net = NetPair::new("e2eredirect");
    let sink = format!("{}-sink", net.receiver);
    let (out_if, sink_if) = (
        format!("{}o", net.receiver_if),
        format!("{}k", net.receiver_if),
    );
    let ip = |args: &[&str]| ok(Command::new("ip").args(args));
    ip(&["netns", "add", &sink]);
    struct RemoveNetns(String);
    impl Drop for RemoveNetns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _sink_guard = RemoveNetns(sink.clone());
    ip(&[
        "link",
        "add",
        &out_if,
        "netns",
        &net.receiver,
        "type",
        "veth",
        "peer",
        "name",
        &sink_if,
        "netns",
        &sink,
    ]);
    ip(&["-n", &net.receiver, "link", "set", &out_if, "up"]);
    ip(&["-n", &sink, "link", "set", &sink_if, "up"]);
    let received = || -> u64 {
        ok(Command::new("ip").args([
            "netns",
            "exec",
            &sink,
            "cat",
            &format!("/sys/class/net/{sink_if}/statistics/rx_packets"),
        ]))
        .trim()
        .parse()
        .unwrap()
    };
    // ARP would be forwarded too: the sender knows the receiver's MAC.
    net.sender_knows_receiver_mac();
    let before = received();
    ok(net.in_receiver(&loader).args([
        "attach",
        &net.receiver_if,
        "--mode",
        "skb",
        "--to",
        &out_if,
    ]));
    let target = ok(net.in_receiver(&loader).arg("target"));
    assert!(
        target.contains(&format!("packets go out of {out_if}")),
        "{target}"
    );
    net.send_udp(9, 20);
    thread::sleep(Duration::from_millis(300));
    let arrived = received() - before;
    assert!(
        arrived >= 20,
        "only {arrived} of 20 datagrams reached the sink"
    );
    let stats = stats_json(&net, &loader);
    assert!(
        stats["redirect"]["packets"].as_u64().unwrap() >= 20,
        "{stats}"
    );
    // Without --to, attach says what it needs.
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    let error = fails(net.in_receiver(&loader).args(["attach", &net.receiver_if]));
    assert!(error.contains("attach needs --to IFACE"), "{error}");
}

/// An interface whose name has a dot, as VLAN devices have (`eth0.100`):
/// bpffs refuses a pin name with a dot, so the loader pins it under another
/// spelling and still lists it by its name. (A veth so named: this kernel
/// may lack 802.1Q.)
#[test]
fn a_dotted_interface_is_attached_listed_and_detached() {
    if !root_or_skip("a_dotted_interface_is_attached_listed_and_detached") {
        return;
    }
    let (_dir, _root, loader, _) = built_project("e2edotted", "minimal");
    let net = NetPair::new("e2edotted");
    let dotted = format!("{}.7", net.receiver_if);
    let peer = format!("{}.8", net.receiver_if);
    ok(Command::new("ip").args([
        "-n",
        &net.receiver,
        "link",
        "add",
        &dotted,
        "type",
        "veth",
        "peer",
        "name",
        &peer,
    ]));
    ok(Command::new("ip").args(["-n", &net.receiver, "link", "set", &dotted, "up"]));
    let attached = ok(net
        .in_receiver(&loader)
        .args(["attach", &dotted, "--mode", "skb", "--prog", "xdp_drop"]));
    assert!(attached.contains(&format!("to {dotted}")), "{attached}");
    let status = ok(net.in_receiver(&loader).arg("status"));
    assert!(
        status.contains(&dotted) && !status.contains("(no pin)"),
        "{status}"
    );
    ok(net.in_receiver(&loader).args(["detach", &dotted]));
    let status = ok(net.in_receiver(&loader).arg("status"));
    assert!(status.contains("not attached"), "{status}");
}

/// The far end of a tun device in the receiver's namespace
/// (tests/fixtures/rawip/tun_peer.py): raw IP in, as mobile data arrives.
struct TunPeer {
    child: std::process::Child,
    answers: std::io::BufReader<std::process::ChildStdout>,
}

impl TunPeer {
    fn new(net: &NetPair, name: &str) -> TunPeer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rawip/tun_peer.py");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &net.receiver, "python3"])
            .arg(script)
            .args([name, "10.251.0.1", "10.251.0.2"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut answers = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut answers, &mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        let peer = TunPeer { child, answers };
        for args in [
            vec!["addr", "add", "10.251.0.2/24", "dev", name],
            vec!["link", "set", name, "up"],
        ] {
            ok(Command::new("ip").args(["-n", &net.receiver]).args(&args));
        }
        peer
    }

    fn ask(&mut self, command: &str) -> String {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.answers, &mut line).unwrap();
        line.trim().to_string()
    }
}

impl Drop for TunPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An interface without Ethernet (a tun device: ARPHRD_NONE, as mobile
/// data's rmnet_data* is ARPHRD_RAWIP): attach picks the template's
/// `xdp_filter_rawip` and says so, and real packets through it are
/// dropped and passed by the rules.
#[test]
fn filter_on_a_raw_ip_interface_attaches_its_raw_ip_variant() {
    if !root_or_skip("filter_on_a_raw_ip_interface_attaches_its_raw_ip_variant") {
        return;
    }
    let (_dir, _root, loader, _) = built_project("e2erawip", "filter");
    let net = NetPair::new("e2erawip");
    let tun = format!("rt{}", &net.receiver_if[2..]);
    let mut peer = TunPeer::new(&net, &tun);
    assert_eq!(peer.ask("ping"), "reply", "no traffic before attaching");
    assert_eq!(peer.ask("udp 9"), "arrived");
    let out = output(net.in_receiver(&loader).args([
        "attach",
        &tun,
        "--drop-port",
        "udp/9",
        "--drop-proto",
        "icmp",
    ]));
    let said = text(&out);
    assert!(
        out.status.success()
            && said.contains(&format!(
                "{tun} carries raw IP (no Ethernet header): attaching `xdp_filter_rawip`"
            )),
        "{said}"
    );
    assert_eq!(peer.ask("udp 9"), "dropped");
    assert_eq!(peer.ask("udp 7004"), "arrived");
    assert_eq!(peer.ask("ping"), "none", "ICMP dropped by protocol");
    let stats = stats_json(&net, &loader);
    assert!(stats.to_string().contains("drop"), "{stats}");
    ok(net.in_receiver(&loader).args(["detach", &tun]));
    assert_eq!(peer.ask("ping"), "reply", "detached: traffic again");
}

/// `kernel-variants`: one source compiled per kernel (CARGO_XDP_KERNEL),
/// only the variants that differ bundled and listed, the newest this kernel
/// allows attached and named by status, the packet tests run on each (a
/// variant for a kernel newer than this one ignored), nothing left after
/// the detach.
#[test]
fn kernel_variants_build_from_one_source_and_the_loader_picks_by_kernel() {
    if !root_or_skip("kernel_variants_build_from_one_source_and_the_loader_picks_by_kernel") {
        return;
    }
    let (dir, root) = new_project("e2evariant", "minimal");
    let manifest = root.join("Cargo.toml");
    let settings = std::fs::read_to_string(&manifest).unwrap();
    let with = |variants: &str| {
        settings.replace(
            "api = 21\n",
            &format!("api = 21\nkernel-variants = {variants}\n"),
        )
    };
    std::fs::write(&manifest, with(r#"["5"]"#)).unwrap();
    let refused = fails(cargo_xdp().current_dir(&root).arg("build"));
    assert!(
        refused.contains("`5` is not a kernel version") && refused.contains("MAJOR.MINOR"),
        "{refused}"
    );
    std::fs::write(&manifest, with(r#"["99.0", "5.2", "4.20"]"#)).unwrap();
    let kern = root.join("e2evariant_kern/e2evariant_kern.c");
    let source = std::fs::read_to_string(&kern).unwrap().replace(
        "/* Let every packet through. */",
        "#include <linux/version.h>\n\
         #if CARGO_XDP_KERNEL >= KERNEL_VERSION(5, 2, 0)\n\
         volatile __u32 passed; /* global data: kernels from 5.2 on */\n\
         #define SEEN() (passed += CARGO_XDP_KERNEL >= KERNEL_VERSION(99, 0, 0) ? 2 : 1)\n\
         #else\n\
         #define SEEN() ((void)0)\n\
         #endif\n\
         /* Let every packet through. */",
    );
    let source = source.replacen(
        "return count_action(ctx, XDP_PASS);",
        "SEEN();\n\treturn count_action(ctx, XDP_PASS);",
        1,
    );
    std::fs::write(&kern, source).unwrap();
    let built = text(&output(cargo_xdp().current_dir(&root).arg("build")));
    assert!(built.contains("for kernel 5.2+"), "{built}");

    let kern_dir = shared_target_dir().join("xdp/linux-x86_64/kern");
    let list = std::fs::read_to_string(kern_dir.join("e2evariant_kern.variants")).unwrap();
    // 4.20's object is the base's: not listed.
    assert_eq!(
        list,
        "5.2 e2evariant_kern.k5.2.o\n99.0 e2evariant_kern.k99.0.o\n"
    );
    let has_bss = |file: &str| {
        let bytes = std::fs::read(kern_dir.join(file)).unwrap();
        bytes.windows(4).any(|w| w == b".bss")
    };
    assert!(!has_bss("e2evariant_kern.o") && has_bss("e2evariant_kern.k5.2.o"));

    let bundle = shared_target_dir().join("xdp/linux-x86_64/debug/e2evariant-linux-x86_64.tar.gz");
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    ok(Command::new("tar")
        .arg("xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(&unpacked));
    let files = unpacked.join("e2evariant");
    for file in [
        "e2evariant_kern.k5.2.o",
        "e2evariant_kern.k99.0.o",
        "e2evariant_kern.variants",
    ] {
        assert!(files.join(file).is_file(), "{file} not bundled");
    }
    assert!(!files.join("e2evariant_kern.k4.20.o").exists());

    let loader = files.join("e2evariant_user");
    let net = NetPair::new("e2evariant");
    let attached =
        ok(net
            .in_receiver(&loader)
            .args(["attach", &net.receiver_if, "--prog", "xdp_pass"]));
    assert!(
        attached.contains("variant for kernel 5.2+ (kernel "),
        "{attached}"
    );
    assert!(net.ping());
    let status = ok(net.in_receiver(&loader).arg("status"));
    assert!(
        status.contains("VARIANT") && status.contains("kernel 5.2+"),
        "{status}"
    );
    let json = ok(net.in_receiver(&loader).args(["status", "--json"]));
    assert!(json.contains(r#""variant":"5.2""#), "{json}");
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    assert!(
        !Path::new("/sys/fs/bpf/e2evariant").exists(),
        "the variant records outlived the detach"
    );

    let tested = ok(cargo_xdp().current_dir(&root).arg("test"));
    for line in [
        "test xdp_pass_passes ... ok",
        "test xdp_pass_passes [kernel 5.2+] ... ok",
        "test xdp_drop_drops [kernel 5.2+] ... ok",
        "test xdp_pass_passes [kernel 99.0+] ... ignored, the variant for kernel 99.0+ does not \
         run on kernel",
        "3 ignored;",
    ] {
        assert!(tested.contains(line), "no `{line}` in:\n{tested}");
    }
}

/// The filter's 5.2+ variant reads its rules from global data, a copy per
/// program: an attach elsewhere and `rules` reach every attached program's
/// copy, and the maps stay what `rules` lists.
#[test]
fn filter_rules_reach_every_interface_s_program_in_global_data() {
    if !root_or_skip("filter_rules_reach_every_interface_s_program_in_global_data") {
        return;
    }
    let (_dir, _root, loader, _) = built_project("e2eglobal", "filter");
    let (one, two) = (NetPair::new("e2eglobal"), NetPair::new("e2eglobal"));
    let attached =
        ok(one
            .in_receiver(&loader)
            .args(["attach", &one.receiver_if, "--drop-proto", "icmp"]));
    assert!(attached.contains("variant for kernel 5.2+"), "{attached}");
    assert!(!one.ping(), "ICMP passed the first program");
    // An attach's rules replace those in force, in the running program too.
    ok(two.in_receiver(&loader).args(["attach", &two.receiver_if]));
    assert!(one.ping(), "the first program kept the replaced rules");
    assert!(two.ping());
    let rules = ok(one
        .in_receiver(&loader)
        .args(["rules", "--drop-proto", "icmp"]));
    assert!(rules.contains("drop icmp"), "{rules}");
    assert!(!one.ping() && !two.ping(), "a program missed the new rule");
    ok(two.in_receiver(&loader).args(["rules", "--clear"]));
    assert!(one.ping() && two.ping(), "a program kept the cleared rule");
    ok(one.in_receiver(&loader).args(["detach", &one.receiver_if]));
    ok(two.in_receiver(&loader).args(["detach", &two.receiver_if]));
}

/// `cargo xdp check`: every program through this kernel's verifier,
/// nothing attached or left pinned; a refused one named with the
/// verifier's reason and a failing exit, the others still checked.
#[test]
fn check_loads_every_program_through_the_verifier_and_names_refusals() {
    if !root_or_skip("check_loads_every_program_through_the_verifier_and_names_refusals") {
        return;
    }
    let (_dir, root) = new_project("e2echeck", "minimal");
    let out = output(cargo_xdp().current_dir(&root).arg("check"));
    let checked = text(&out);
    assert!(out.status.success(), "{checked}");
    for program in ["xdp_pass", "xdp_drop", "xdp_abort"] {
        assert!(
            checked.contains(&format!("Checked {program} in e2echeck_kern.o: ")),
            "{checked}"
        );
    }
    assert!(checked.contains("3 programs accepted"), "{checked}");
    let left = |prefix: &str| {
        std::fs::read_dir("/sys/fs/bpf")
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
    };
    assert!(!left("cargo-xdp-test-e2echeck-") && !left("e2echeck"));

    let kern = root.join("e2echeck_kern/e2echeck_kern.c");
    let mut source = std::fs::read_to_string(&kern).unwrap();
    source = source.replace(
        "char _license[]",
        "/* Reads the packet without checking its length: refused. */\n\
         SEC(\"xdp\")\nint xdp_unchecked(struct xdp_md *ctx)\n{\n\
         \treturn *(__u8 *)(long)ctx->data ? XDP_PASS : XDP_DROP;\n}\n\nchar _license[]",
    );
    std::fs::write(&kern, source).unwrap();
    let refused = fails(cargo_xdp().current_dir(&root).arg("check"));
    assert!(
        refused.contains("xdp_unchecked in e2echeck_kern.o: refused by this machine's kernel")
            && refused.contains("Checked xdp_pass")
            && refused.contains("1 of 4 programs refused"),
        "{refused}"
    );
    let json = output(
        cargo_xdp()
            .current_dir(&root)
            .args(["check", "--message-format", "json"]),
    );
    let stdout = String::from_utf8_lossy(&json.stdout);
    let bad = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|m| m["reason"] == "check" && m["program"] == "xdp_unchecked")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(bad["ok"], false);
    assert!(
        bad["error"].as_str().unwrap().contains("xdp_unchecked"),
        "{bad}"
    );
}

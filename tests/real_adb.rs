//! Deploys through the real adb (Debian's `adb`: AOSP's client and server,
//! version 29) to fake devices whose adbd speaks the adb protocol
//! (tests/fixtures/fake-adb/adbd): one like Android 10 (shell protocol v2:
//! exit status, separate stderr) and one like Android 6 (no shell v2: a pty,
//! `\r\n`, no exit status, commands of at most 4,096 bytes).

mod common;

use std::{path::Path, process::Command};

use common::*;

const HOST: &[&str] = &["--target", "linux-x86_64"];

fn xdp(fake: &FakeAdb, root: &Path, args: &[&str]) -> Command {
    let mut command = cargo_xdp();
    fake.wire(&mut command);
    command.current_dir(root).arg("xdp").args(args);
    command
}

#[test]
fn deploy_status_stats_and_detach_through_real_adb() {
    if !root_or_skip("deploy_status_stats_and_detach_through_real_adb") {
        return;
    }
    let (_tmp, root) = new_project("realadb", "filter");
    let mut fake = FakeAdb::real();
    fake.add_device("TEN", "realadb", &["root=su", "model=Android_10"]);
    fake.add_device("SIX", "realadb", &["root=su", "legacy_shell=1", "sdk=23"]);
    fake.add_device("USERDEBUG", "realadb", &["root=adb-root"]);
    ok(cargo_xdp().current_dir(&root).arg("build"));

    let devices = ok(fake.real_adb().args(["devices", "-l"]));
    assert!(devices.contains("model:Android_10"), "{devices}");
    for name in ["TEN", "SIX", "USERDEBUG"] {
        let serial = fake.serial(name);
        fake.take_calls();
        ok(
            xdp(&fake, &root, &["deploy", "--adb", "wlan0", "-s", &serial])
                .args(HOST)
                .args(["--", "--drop-proto", "icmp"]),
        );
        let calls = fake.take_calls();
        let expected = if name == "USERDEBUG" { 6 } else { 4 };
        assert_eq!(calls.len(), expected, "{name}: {calls:#?}");
        let phone = fake.device(name);
        assert!(!phone.ping(), "{name}: the filter drops ICMP");

        let stats = ok(&mut xdp(
            &fake,
            &root,
            &["stats", "--adb", "-s", &serial, "--json"],
        ));
        let stats: serde_json::Value =
            serde_json::from_str(stats.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {stats:?}"));
        assert!(
            stats["drop"]["packets"].as_u64().unwrap() >= 3,
            "{name}: {stats}"
        );
        let status = ok(&mut xdp(&fake, &root, &["status", "--adb", "-s", &serial]));
        assert!(
            status.contains("wlan0") && !status.contains('\r'),
            "{name}: {status:?}"
        );

        // A failing attach: the error comes back whole, the old one stays.
        let error = fails(
            xdp(&fake, &root, &["deploy", "--adb", "wlan0", "-s", &serial])
                .args(HOST)
                .args(["--", "--drop-port", "udp/0"]),
        );
        assert!(
            error.contains("the device reports wlan0 runs"),
            "{name}: {error}"
        );
        assert!(!phone.ping(), "{name}: still filtering");

        ok(&mut xdp(
            &fake,
            &root,
            &["deploy", "--adb", "wlan0", "-s", &serial, "--detach"],
        ));
        assert!(phone.ping(), "{name}: detached");
    }
}

/// adbd before Android 7 refuses commands over 4,096 bytes: a deploy whose
/// loader arguments make the attach command longer says so before pushing.
#[test]
fn long_commands_on_old_adbd_are_refused_clearly() {
    if !root_or_skip("long_commands_on_old_adbd_are_refused_clearly") {
        return;
    }
    let (_tmp, root) = new_project("longargs", "filter");
    let mut fake = FakeAdb::real();
    fake.add_device("SIX", "longargs", &["root=su", "legacy_shell=1", "sdk=23"]);
    fake.add_device("TEN", "longargs", &["root=su"]);
    let mut rules = Vec::new();
    for n in 0..200 {
        rules.push("--drop-src".to_string());
        rules.push(format!("10.{}.{}.0/24", n / 200, n % 200));
    }
    let deploy = |name: &str| {
        let mut command = xdp(
            &fake,
            &root,
            &["deploy", "--adb", "wlan0", "-s", &fake.serial(name)],
        );
        command.args(HOST).arg("--").args(&rules);
        command
    };
    let error = fails(&mut deploy("SIX"));
    assert!(
        error.contains("adbd before Android 7 refuses commands over 4096")
            && error.contains("nothing was attached"),
        "{error}"
    );
    assert!(fake.device("SIX").xdp_programs().is_empty());
    assert_eq!(fake.left_on("SIX"), "");
    // With shell v2 the same command goes through.
    ok(&mut deploy("TEN"));
    assert_eq!(fake.device("TEN").xdp_programs().len(), 1);
    // push-and-attach.sh says the same before it pushes to the old one.
    let unpacked = tempfile::tempdir().unwrap();
    ok(Command::new("tar")
        .arg("xzf")
        .arg(shared_target_dir().join("xdp/linux-x86_64/release/longargs-linux-x86_64.tar.gz"))
        .arg("-C")
        .arg(unpacked.path()));
    let mut script = Command::new("dash");
    fake.wire(&mut script);
    let error = fails(
        script
            .arg(unpacked.path().join("longargs/push-and-attach.sh"))
            .args(["-s", &fake.serial("SIX"), "wlan0", "--"])
            .args(&rules),
    );
    assert!(error.contains("refuses commands over 4096"), "{error}");
    assert_eq!(fake.left_on("SIX"), "");
}

#[test]
fn push_and_attach_sh_through_real_adb_in_a_loop() {
    if !root_or_skip("push_and_attach_sh_through_real_adb_in_a_loop") {
        return;
    }
    let (_tmp, root) = new_project("realsh", "filter");
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let unpacked = tempfile::tempdir().unwrap();
    let bundle = shared_target_dir().join("xdp/linux-x86_64/debug/realsh-linux-x86_64.tar.gz");
    ok(Command::new("tar")
        .arg("xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(unpacked.path()));
    let script = unpacked.path().join("realsh/push-and-attach.sh");
    let mut fake = FakeAdb::real();
    fake.add_device("TEN", "realsh", &["root=su"]);
    fake.add_device("SIX", "realsh", &["root=su", "legacy_shell=1", "sdk=23"]);
    // As a user scripts it: serials read in a loop. adb forwards stdin, so
    // without care the first adb call would eat the rest of the list.
    let serials = format!("{}\n{}\n", fake.serial("TEN"), fake.serial("SIX"));
    let mut command = Command::new("dash");
    fake.wire(&mut command);
    command.args([
        "-c",
        "printf '%s' \"$1\" | while read -r serial; do sh \"$0\" -s \"$serial\" wlan0 -- --drop-proto icmp || exit 1; done",
    ]);
    command.arg(&script).arg(&serials);
    let out = ok(&mut command);
    for name in ["TEN", "SIX"] {
        assert!(
            out.contains(&format!(
                "realsh attached to wlan0 on {} in",
                fake.serial(name)
            )),
            "{name}: {out}"
        );
        assert!(!fake.device(name).ping(), "{name}");
    }
    for name in ["TEN", "SIX"] {
        let mut detach = Command::new("dash");
        fake.wire(&mut detach);
        ok(detach
            .arg(&script)
            .args(["-s", &fake.serial(name), "--detach", "wlan0"]));
        assert!(fake.device(name).ping(), "{name}");
    }
}

/// On old adbd the command's stdin is a pty that is never closed: an su
/// that reads an answer there would hang the probe. Every su gets an empty
/// stdin, so it refuses at once, and a device that went away is an error
/// naming it.
#[test]
fn a_prompting_su_and_a_vanished_device_never_hang() {
    if !root_or_skip("a_prompting_su_and_a_vanished_device_never_hang") {
        return;
    }
    let (_tmp, root) = new_project("prompted", "minimal");
    let mut fake = FakeAdb::real();
    fake.add_device(
        "SIX",
        "prompted",
        &["root=su", "su_prompts=1", "legacy_shell=1", "sdk=23"],
    );
    fake.add_device("GONE", "prompted", &["root=su"]);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let started = std::time::Instant::now();
    let error = fails(
        xdp(
            &fake,
            &root,
            &[
                "deploy",
                "--adb",
                "wlan0",
                "-s",
                &fake.serial("SIX"),
                "--adb-timeout",
                "20",
            ],
        )
        .args(HOST),
    );
    assert!(
        error.contains("XDP needs root") && error.contains("nothing was pushed"),
        "{error}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    let serial = fake.serial("GONE");
    fake.stop_adbd("GONE");
    let error = fails(xdp(&fake, &root, &["deploy", "--adb", "wlan0", "-s", &serial]).args(HOST));
    assert!(error.contains(&serial), "{error}");
    assert!(fake.device("GONE").xdp_programs().is_empty());
}

/// `cargo xdp vmlinux --adb`: the device's BTF (base64 over the shell, so
/// old adbd's pty cannot mangle it), written as vmlinux.h by bpftool; a
/// device without BTF is told apart, with what that means.
#[test]
fn vmlinux_h_comes_from_the_devices_btf() {
    if !root_or_skip("vmlinux_h_comes_from_the_devices_btf") {
        return;
    }
    let (_tmp, root) = new_project("btfdev", "minimal");
    let mut fake = FakeAdb::real();
    fake.add_device("SIX", "btfdev", &["root=su", "legacy_shell=1", "sdk=23"]);
    fake.add_device(
        "NOBTF",
        "btfdev",
        &["root=su", "no_btf=1", "kernel=4.14.190-perf"],
    );
    let out = tempfile::tempdir().unwrap();
    let header = out.path().join("vmlinux.h");
    ok(&mut xdp(
        &fake,
        &root,
        &[
            "vmlinux",
            "--adb",
            "-s",
            &fake.serial("SIX"),
            "-o",
            header.to_str().unwrap(),
        ],
    ));
    let text = std::fs::read_to_string(&header).unwrap();
    assert!(
        text.contains("struct xdp_md {") && text.contains("struct iphdr {"),
        "{}",
        &text[..200]
    );
    // The same header as this machine's own (the device runs its kernel).
    let local = out.path().join("local.h");
    ok(&mut xdp(
        &fake,
        &root,
        &["vmlinux", "-o", local.to_str().unwrap()],
    ));
    assert_eq!(text, std::fs::read_to_string(&local).unwrap());

    let error = fails(&mut xdp(
        &fake,
        &root,
        &["vmlinux", "--adb", "-s", &fake.serial("NOBTF"), "-o", "x.h"],
    ));
    assert!(
        error.contains("has no /sys/kernel/btf/vmlinux")
            && error.contains("4.14.190-perf")
            && error.contains("CO-RE"),
        "{error}"
    );
    assert!(!root.join("x.h").exists());
}

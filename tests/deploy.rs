//! `cargo xdp deploy --adb` and the bundle's push-and-attach.sh against the
//! fake adb (tests/fixtures/fake-adb): each device is a network namespace
//! with a `wlan0`, pinged for real from the other end of its veth.
//! The device is x86_64 Linux, so these deploy the linux-x86_64 target.

mod common;

use std::{fs, path::Path, process::Command};

use common::*;

const HOST: &[&str] = &["--target", "linux-x86_64"];

fn deploy(fake: &FakeAdb, root: &Path) -> Command {
    let mut command = cargo_xdp();
    fake.wire(&mut command);
    command.current_dir(root).args(["xdp", "deploy", "--adb"]);
    command
}

fn xdp_cmd(fake: &FakeAdb, root: &Path, args: &[&str]) -> Command {
    let mut command = cargo_xdp();
    fake.wire(&mut command);
    command.current_dir(root).arg("xdp").args(args);
    command
}

/// adb calls after device selection (`adb devices -l`).
fn calls_after_selection(fake: &FakeAdb) -> Vec<String> {
    let calls = fake.take_calls();
    assert_eq!(
        calls.first().map(String::as_str),
        Some("devices -l"),
        "{calls:?}"
    );
    calls[1..].to_vec()
}

/// What is left of the project in the device's /data/local/tmp.
fn staged(fake: &FakeAdb, serial: &str) -> String {
    fake.on_device(serial, "ls -A /data/local/tmp/cargo-xdp 2>/dev/null; true")
}

#[test]
fn deploy_drops_counts_replaces_and_detaches_in_three_calls() {
    if !root_or_skip("deploy_drops_counts_replaces_and_detaches_in_three_calls") {
        return;
    }
    let (_tmp, root) = new_project("phone", "filter");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE1", "phone", &[]);
    let phone = fake.device("PHONE1");
    assert!(phone.ping(), "traffic flows before");
    // Deploys build release by default; built here, so not counted below.
    ok(cargo_xdp().current_dir(&root).args(["build", "--release"]));

    let out =
        output(
            deploy(&fake, &root)
                .arg("wlan0")
                .args(HOST)
                .args(["--", "--drop-proto", "icmp"]),
        );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Deployed `release` linux-x86_64 on PHONE1"),
        "{}",
        text(&out)
    );
    let calls = calls_after_selection(&fake);
    assert_eq!(calls.len(), 3, "probe, push, attach: {calls:#?}");
    assert!(calls[1].starts_with("-s PHONE1 push "), "{calls:#?}");
    assert!(!phone.ping(), "the deployed filter drops ICMP");
    let first = phone.xdp_programs();
    assert_eq!(first.len(), 1);

    // The counters, read on the device.
    let stats = ok(&mut xdp_cmd(&fake, &root, &["stats", "--adb", "--json"]));
    let drops: serde_json::Value = serde_json::from_str(stats.trim()).unwrap();
    assert!(drops["drop"]["packets"].as_u64().unwrap() >= 3, "{stats}");
    let status = ok(&mut xdp_cmd(&fake, &root, &["status", "--adb"]));
    assert!(status.contains("wlan0"), "{status}");
    // The same counters by field, from the device's pinned map, typed from
    // kern objects built here: only those, no loader for this machine
    // (its source touched, it would be rebuilt otherwise).
    common::touch(&root.join("phone_user/src/rules.rs"));
    let typed = common::text(&output(&mut xdp_cmd(
        &fake,
        &root,
        &["map", "dump", "xdp_stats", "--adb", "-v"],
    )));
    assert!(
        typed.contains("Using libbpf") && !typed.contains("cargo build"),
        "{typed}"
    );
    let dumped = ok(&mut xdp_cmd(
        &fake,
        &root,
        &["map", "dump", "xdp_stats", "--adb", "--json", "-q"],
    ));
    let dumped: serde_json::Value = serde_json::from_str(dumped.trim()).unwrap();
    let drop = dumped["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == 1)
        .unwrap_or_else(|| panic!("{dumped}"));
    let dropped: u64 = drop["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["packets"].as_u64().unwrap())
        .sum();
    assert!(dropped >= 3, "{dumped}");
    let watched = ok(&mut xdp_cmd(
        &fake,
        &root,
        &[
            "stats",
            "--adb",
            "--watch",
            "--interval",
            "0.2",
            "--count",
            "2",
        ],
    ));
    assert_eq!(watched.matches("PKT/S").count(), 2, "{watched}");

    // Redeploy (a debug build, as asked): the program is replaced, never stacked.
    let redeployed = output(deploy(&fake, &root).args(["wlan0", "--debug"]).args(HOST));
    assert!(
        text(&redeployed).contains("Deployed `debug` linux-x86_64 on PHONE1"),
        "{}",
        text(&redeployed)
    );
    let second = phone.xdp_programs();
    assert_eq!(second.len(), 1);
    assert_ne!(first, second, "a new program replaced the old one");
    assert!(
        phone.ping(),
        "a redeploy's options are the whole rule set: none given, none in force"
    );

    ok(deploy(&fake, &root).args(["wlan0", "--detach"]));
    assert!(phone.xdp_programs().is_empty());
    assert!(phone.ping(), "detach restores traffic");
}

#[test]
fn deploy_gets_root_the_way_the_device_offers_it() {
    if !root_or_skip("deploy_gets_root_the_way_the_device_offers_it") {
        return;
    }
    let (_tmp, root) = new_project("rooty", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("USERDEBUG", "rooty", &["root=adb-root"]);
    fake.add_device("MAGISK", "rooty", &["root=su"]);
    fake.add_device("LOCKED", "rooty", &["root=none"]);
    fake.add_device("SUPERSU", "rooty", &["root=su-c"]);
    fake.add_device("FLAKY", "rooty", &["fail_push=1"]);
    fake.add_device("OLDKERNEL", "rooty", &["root=su", "kernel=4.9.112-perf"]);
    // Android 6: adbd without shell v2 (a pty: \r\n, stdout and stderr in
    // one stream, no exit status).
    fake.add_device(
        "MARSHMALLOW",
        "rooty",
        &["root=su", "legacy_shell=1", "sdk=23"],
    );
    ok(cargo_xdp().current_dir(&root).arg("build"));
    fake.take_calls();

    // userdebug: `adb root`, wait for adbd to come back, then as before.
    ok(deploy(&fake, &root)
        .args(["wlan0", "-s", "USERDEBUG"])
        .args(HOST)
        .args(["--", "--prog", "xdp_drop"]));
    let calls = calls_after_selection(&fake);
    assert_eq!(calls[1], "-s USERDEBUG root", "{calls:#?}");
    assert_eq!(calls[2], "-s USERDEBUG wait-for-device", "{calls:#?}");
    assert_eq!(calls.len(), 5, "{calls:#?}");
    assert!(!fake.device("USERDEBUG").ping());

    // A rooted user build: su runs on-device.sh; the shell stays uid 2000.
    ok(deploy(&fake, &root)
        .args(["wlan0", "-s", "MAGISK"])
        .args(HOST)
        .args(["--", "--prog", "xdp_drop"]));
    let calls = calls_after_selection(&fake);
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert!(calls[2].contains("su 0 setsid -w sh -c"), "{calls:#?}");
    assert!(!fake.device("MAGISK").ping());

    // A phone on Linux 4.9: the objects' BPF v2 needs 4.14, so a warning
    // says what to set (the attach still goes on: the device decides).
    let out = output(
        deploy(&fake, &root)
            .args(["wlan0", "-s", "OLDKERNEL"])
            .args(HOST)
            .args(["--", "--prog", "xdp_drop"]),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("warning: OLDKERNEL: the device runs Linux 4.9.112-perf")
            && text(&out).contains("bpf-cpu = \"v1\""),
        "{}",
        text(&out)
    );
    fake.take_calls();

    // An su that only knows `su -c`.
    ok(deploy(&fake, &root)
        .args(["wlan0", "-s", "SUPERSU"])
        .args(HOST)
        .args(["--", "--prog", "xdp_drop"]));
    let calls = calls_after_selection(&fake);
    assert!(calls[2].contains("su -c "), "{calls:#?}");
    assert!(!fake.device("SUPERSU").ping());

    ok(deploy(&fake, &root)
        .args(["wlan0", "-s", "MARSHMALLOW"])
        .args(HOST)
        .args(["--", "--prog", "xdp_drop"]));
    assert!(!fake.device("MARSHMALLOW").ping());
    let status = ok(&mut xdp_cmd(
        &fake,
        &root,
        &["status", "--adb", "-s", "MARSHMALLOW"],
    ));
    assert!(
        status.contains("wlan0") && !status.contains('\r'),
        "{status:?}"
    );
    fake.take_calls();

    // A push that breaks half way: nothing half-pushed stays, nothing attached.
    let error = fails(
        deploy(&fake, &root)
            .args(["wlan0", "-s", "FLAKY"])
            .args(HOST),
    );
    assert!(error.contains("adb push to FLAKY failed"), "{error}");
    assert_eq!(staged(&fake, "FLAKY").trim(), "");
    assert!(fake.device("FLAKY").xdp_programs().is_empty());
    fake.take_calls();

    // No way to root: stop before pushing anything.
    let error = fails(
        deploy(&fake, &root)
            .args(["wlan0", "-s", "LOCKED"])
            .args(HOST),
    );
    assert!(
        error.contains("XDP needs root") && error.contains("adb root") && error.contains("su"),
        "{error}"
    );
    assert!(error.contains("nothing was pushed"), "{error}");
    let calls = calls_after_selection(&fake);
    assert_eq!(calls.len(), 1, "only the probe: {calls:#?}");
    assert_eq!(staged(&fake, "LOCKED").trim(), "");
    assert!(fake.device("LOCKED").xdp_programs().is_empty());
}

#[test]
fn device_selection_and_interface_errors_leave_nothing_behind() {
    if !root_or_skip("device_selection_and_interface_errors_leave_nothing_behind") {
        return;
    }
    let (_tmp, root) = new_project("picky", "minimal");
    let mut fake = FakeAdb::new();
    let error = fails(deploy(&fake, &root).arg("wlan0").args(HOST));
    assert!(error.contains("no Android device found"), "{error}");

    fake.add_device("GOOD", "picky", &["model=Pixel_9"]);
    fake.add_device("LOCKSCREEN", "picky", &["state=unauthorized"]);
    fake.add_device("CABLE", "picky", &["state=offline"]);
    fake.add_device("UDEV", "picky", &["state=no permissions"]);
    fake.add_device("MIPS", "picky", &["abi=mips"]);
    let error = fails(deploy(&fake, &root).arg("wlan0").args(HOST));
    assert!(
        error.contains("5 devices are connected") && error.contains("-s SERIAL"),
        "{error}"
    );
    assert!(error.contains("GOOD  Pixel_9  device"), "{error}");
    for (serial, says) in [
        ("LOCKSCREEN", "Allow USB debugging?"),
        ("CABLE", "is offline"),
        ("UDEV", "udev rules"),
        ("NOSUCH", "no device `NOSUCH`"),
    ] {
        let error = fails(
            deploy(&fake, &root)
                .args(["wlan0", "-s", serial])
                .args(HOST),
        );
        assert!(error.contains(says), "{serial}: {error}");
    }
    // ANDROID_SERIAL chooses too.
    let error = fails(
        deploy(&fake, &root)
            .arg("wlan0")
            .env("ANDROID_SERIAL", "CABLE")
            .args(HOST),
    );
    assert!(error.contains("CABLE is offline"), "{error}");
    fake.take_calls();

    // A name that is no interface name never reaches adb.
    let error = fails(
        deploy(&fake, &root)
            .args(["wlan0;reboot", "-s", "GOOD"])
            .args(HOST),
    );
    assert!(error.contains("not an interface name"), "{error}");
    assert!(fake.take_calls().is_empty());

    // An interface the device lacks: found by the probe, nothing pushed.
    let error = fails(
        deploy(&fake, &root)
            .args(["wlan9", "-s", "GOOD"])
            .args(HOST),
    );
    assert!(
        error.contains("GOOD has no interface wlan9; it has: lo wlan0"),
        "{error}"
    );
    assert_eq!(calls_after_selection(&fake).len(), 1);
    assert_eq!(staged(&fake, "GOOD").trim(), "");

    // Detach or status where it was never deployed: nothing to detach is
    // said, and not an error; status is one (it has nothing to show).
    let detached = output(deploy(&fake, &root).args(["wlan0", "-s", "GOOD", "--detach"]));
    assert!(
        detached.status.success()
            && text(&detached).contains("nothing: picky is not deployed on GOOD"),
        "{}",
        text(&detached)
    );
    let error = fails(&mut xdp_cmd(
        &fake,
        &root,
        &["status", "--adb", "-s", "GOOD"],
    ));
    assert!(
        error.contains("picky is not deployed on this device"),
        "{error}"
    );

    // An ABI no target builds for.
    let error = fails(deploy(&fake, &root).args(["wlan0", "-s", "MIPS"]));
    assert!(
        error.contains("reports ABI `mips`") && error.contains("--target"),
        "{error}"
    );
    assert_eq!(
        staged(&fake, "MIPS").trim(),
        "",
        "the probe's staging dir goes"
    );
}

#[test]
fn a_failed_attach_leaves_nothing_attached_and_shows_the_verifier() {
    if !root_or_skip("a_failed_attach_leaves_nothing_attached_and_shows_the_verifier") {
        return;
    }
    let (_tmp, root) = new_project("broken", "minimal");
    let source = root.join("broken_kern/broken_kern.c");
    let text = fs::read_to_string(&source).unwrap().replace(
        "return count_action(ctx, XDP_PASS);",
        "unsigned char *data = (unsigned char *)(long)ctx->data;\n\t/* No bounds check: the verifier refuses. */\n\treturn data[64] == 1 ? XDP_DROP : count_action(ctx, XDP_PASS);",
    );
    fs::write(&source, text).unwrap();
    let mut fake = FakeAdb::new();
    // adbd of Android 6 and older: `adb shell` always exits 0.
    fake.add_device("OLDPHONE", "broken", &["legacy_shell=1"]);
    let error = fails(deploy(&fake, &root).arg("wlan0").args(HOST));
    assert!(error.contains("no deployed copy of broken"), "{error}");
    assert!(
        error.contains("invalid access to packet")
            && error.contains("hint: packet bounds")
            && error.contains("the whole verifier log ("),
        "the verifier's summary, and where its log went: {error}"
    );
    assert!(!error.contains("--- verifier log ---"), "{error}");
    assert!(fake.device("OLDPHONE").xdp_programs().is_empty());
    assert!(fake.device("OLDPHONE").ping());
    // The pins of the failed load are gone too.
    let pins = fake.on_device("OLDPHONE", "ls -A /sys/fs/bpf/broken 2>/dev/null; true");
    assert_eq!(pins.trim(), "", "{pins}");
}

#[test]
fn all_devices_deploys_in_parallel_and_reports_each() {
    if !root_or_skip("all_devices_deploys_in_parallel_and_reports_each") {
        return;
    }
    let (_tmp, root) = new_project("fleet", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("FLEET1", "fleet", &["model=One"]);
    fake.add_device("FLEET2", "fleet", &["model=Two", "root=su"]);
    fake.add_device("FLEET3", "fleet", &["state=unauthorized"]);
    let out = output(
        deploy(&fake, &root)
            .args(["wlan0", "--all-devices"])
            .args(HOST)
            .args(["--", "--prog", "xdp_drop"]),
    );
    assert!(!out.status.success(), "one device failed: {}", text(&out));
    let all = text(&out);
    assert!(all.contains("1 of 3 devices failed"), "{all}");
    for line in ["FLEET1", "FLEET2"] {
        let row = all
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{all}"));
        assert!(row.contains("attached to wlan0"), "{row}");
    }
    let row = all.lines().find(|l| l.starts_with("FLEET3")).unwrap();
    assert!(
        row.contains("FAILED") && row.contains("unauthorized"),
        "{row}"
    );
    assert!(!fake.device("FLEET1").ping() && !fake.device("FLEET2").ping());
}

#[test]
fn push_and_attach_sh_does_the_same_from_the_bundle_alone() {
    if !root_or_skip("push_and_attach_sh_does_the_same_from_the_bundle_alone") {
        return;
    }
    let (_tmp, root) = new_project("bundled", "filter");
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let unpacked = tempfile::tempdir().unwrap();
    let bundle = shared_target_dir().join("xdp/linux-x86_64/debug/bundled-linux-x86_64.tar.gz");
    ok(Command::new("tar")
        .arg("xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(unpacked.path()));
    let script = unpacked.path().join("bundled/push-and-attach.sh");
    let mut fake = FakeAdb::new();
    fake.add_device("SH1", "bundled", &["root=su"]);
    fake.add_device("SH2", "bundled", &["root=none"]);
    // adbd before Android 7: a pty (\r\n), no exit status.
    fake.add_device("SH3", "bundled", &["root=su", "legacy_shell=1", "sdk=23"]);
    // Run by dash: no bash on the way.
    let run = |args: &[&str]| {
        let mut command = Command::new("dash");
        fake.wire(&mut command);
        command.arg(&script).args(args);
        command
    };
    // Run by mksh with nothing but toybox's applets on PATH, as on a phone
    // (no awk, no tr): adb is reached through $ADB alone.
    let toybox = tempfile::tempdir().unwrap();
    let applets = ok(&mut Command::new("toybox"));
    for applet in applets.split_whitespace() {
        std::os::unix::fs::symlink(which("toybox"), toybox.path().join(applet)).unwrap();
    }
    let adb = toybox.path().join("adb-host");
    fs::write(
        &adb,
        format!(
            "#!/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin exec {} \"$@\"\n",
            fake.adb.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&adb, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run_on_toybox = |args: &[&str]| {
        let mut command = Command::new(which("mksh"));
        fake.wire(&mut command);
        command
            .env("ADB", &adb)
            .env("PATH", toybox.path())
            .arg(&script)
            .args(args);
        command
    };

    let error = fails(&mut run(&["wlan0"]));
    assert!(
        error.contains("3 devices are connected") && error.contains("SH1  Fake_Phone  device"),
        "{error}"
    );
    let error = fails(&mut run(&["-s", "SH1", "wlan0$(reboot)"]));
    assert!(error.contains("is not an interface name"), "{error}");
    fake.take_calls();
    let error = fails(&mut run(&["-s", "SH2", "wlan0"]));
    assert!(
        error.contains("XDP needs root") && error.contains("nothing was pushed"),
        "{error}"
    );
    assert_eq!(calls_after_selection(&fake).len(), 1);
    assert_eq!(staged(&fake, "SH2").trim(), "");
    let error = fails(&mut run(&["-s", "SH1", "wlan7"]));
    assert!(error.contains("SH1 has no interface wlan7"), "{error}");
    fake.take_calls();

    let out = ok(&mut run_on_toybox(&[
        "-s",
        "SH1",
        "--mode",
        "skb",
        "wlan0",
        "--",
        "--drop-proto",
        "icmp",
    ]));
    assert!(
        out.contains("bundled attached to wlan0 on SH1 in skb mode"),
        "{out}"
    );
    assert_eq!(calls_after_selection(&fake).len(), 3);
    let phone = fake.device("SH1");
    assert!(!phone.ping());
    assert_eq!(phone.xdp_programs().len(), 1);
    // Again: replaced, not stacked.
    ok(&mut run(&["-s", "SH1", "wlan0"]));
    assert_eq!(phone.xdp_programs().len(), 1);
    ok(&mut run_on_toybox(&["-s", "SH1", "--detach", "wlan0"]));
    assert!(phone.xdp_programs().is_empty() && phone.ping());

    // An old phone: every answer ends in \r\n, and the exit status comes
    // only from the sentinel. In a `while read` loop, as scripts call it:
    // adb must not eat the loop's input.
    let out = ok(Command::new("dash")
        .env("ADB", &fake.adb)
        .env("FAKE_ADB_HOME", fake.home.path())
        .env_remove("ANDROID_SERIAL")
        .args([
            "-c",
            "printf 'SH3\\nSH3\\n' | while read -r serial; do sh \"$0\" -s \"$serial\" wlan0 -- --drop-proto icmp || exit 1; done",
        ])
        .arg(&script));
    assert_eq!(
        out.matches("bundled attached to wlan0 on SH3 in").count(),
        2,
        "both lines of the loop ran: {out}"
    );
    assert!(!fake.device("SH3").ping());
}

#[test]
fn the_device_abi_chooses_the_target() {
    if !root_or_skip("the_device_abi_chooses_the_target") {
        return;
    }
    let (_tmp, root) = new_project("abi", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("ARM64", "abi", &["abi=arm64-v8a"]);
    // arm64-v8a -> android-arm64, built through the (stand-in) NDK. The fake
    // device is x86_64, so the aarch64 loader cannot run there: the attach
    // fails cleanly, which is what a wrong binary must do.
    let mut command = deploy(&fake, &root);
    command.env("ANDROID_NDK_HOME", standin_ndk());
    let error = fails(command.args(["wlan0", "--release"]));
    assert!(
        error.contains("bundle for android-arm64 (NDK r26b, API 21)"),
        "{error}"
    );
    assert!(
        error.contains(
            "attaching abi to wlan0 on ARM64 failed; the device has no deployed copy of abi"
        ),
        "{error}"
    );
    assert!(fake.device("ARM64").xdp_programs().is_empty());
}

#[test]
fn adb_is_found_in_the_sdk_when_not_on_path() {
    // No root needed: no device, just which adb answers.
    let (_tmp, root) = new_project("finder", "minimal");
    let fake = FakeAdb::new();
    let sdk = tempfile::tempdir().unwrap();
    fs::create_dir(sdk.path().join("platform-tools")).unwrap();
    std::os::unix::fs::symlink(&fake.adb, sdk.path().join("platform-tools/adb")).unwrap();
    // A PATH without any adb (this machine has the real one in /usr/bin),
    // with what the fake adb itself needs.
    let bin = tempfile::tempdir().unwrap();
    let python = ok(Command::new("python3").args(["-c", "import sys; print(sys.executable)"]));
    std::os::unix::fs::symlink(python.trim(), bin.path().join("python3")).unwrap();
    std::os::unix::fs::symlink(which("nsenter"), bin.path().join("nsenter")).unwrap();
    let mut command = deploy(&fake, &root);
    command
        .env_remove("ADB")
        .env("PATH", bin.path())
        .env("ANDROID_HOME", sdk.path());
    let error = fails(command.arg("wlan0"));
    assert!(
        error.contains("no Android device found"),
        "the SDK's adb answered: {error}"
    );
    assert_eq!(fake.take_calls(), ["devices -l"]);
    let error = fails(
        deploy(&fake, &root)
            .env("ADB", "/nonexistent/adb")
            .arg("wlan0"),
    );
    assert!(
        error.contains("$ADB is set to `/nonexistent/adb`"),
        "{error}"
    );
}

/// The absolute path of a tool on this machine's PATH.
fn which(tool: &str) -> std::path::PathBuf {
    let found = ok(Command::new("sh").args(["-c", &format!("command -v {tool}")]));
    std::path::PathBuf::from(found.trim())
}

/// `cargo xdp test --adb` and `bench --adb`: the cases on the device's
/// kernel in a trial of their own (pushed, checked and run by root in a
/// work dir, removed after), with nothing deployed, nothing attached and
/// a deployed copy left as it was.
#[test]
fn packet_tests_run_on_the_device_without_a_deploy() {
    if !root_or_skip("packet_tests_run_on_the_device_without_a_deploy") {
        return;
    }
    let (_tmp, root) = new_project("phonetest", "filter");
    let mut fake = FakeAdb::new();
    fake.add_device("TESTER", "phonetest", &["root=su"]);
    let out = ok(&mut xdp_cmd(
        &fake,
        &root,
        &["test", "--adb", "--target", "linux-x86_64"],
    ));
    assert!(
        out.contains("test drops_a_port ... ok")
            && out.contains("test drops_a_port [kernel 5.2+] ... ok")
            && out.contains("test result: ok. 46 passed; 0 failed; 0 filtered out"),
        "{out}"
    );
    assert_eq!(
        fake.left_on("TESTER").trim(),
        "",
        "nothing of the trial is left"
    );
    assert!(
        fake.device("TESTER").xdp_programs().is_empty(),
        "nothing attached"
    );

    // bench --adb: the baseline beside each case, every round in one trial.
    let benched = ok(&mut xdp_cmd(
        &fake,
        &root,
        &[
            "bench",
            "--adb",
            "--target",
            "linux-x86_64",
            "--repeat",
            "100",
            "--rounds",
            "2",
            "--message-format",
            "json",
        ],
    ));
    let rows = benched
        .lines()
        .filter(|l| l.contains(r#""reason":"bench""#))
        .count();
    // Each case on the base object and on its 5.2+ variant.
    assert_eq!(rows, 46, "{benched}");
    let filtered = ok(&mut xdp_cmd(
        &fake,
        &root,
        &["test", "--adb", "vlan", "--target", "linux-x86_64"],
    ));
    assert!(
        filtered.contains("test result: ok. 2 passed; 0 failed; 44 filtered out"),
        "{filtered}"
    );

    // A deployed copy is neither needed nor touched: its program stays.
    ok(deploy(&fake, &root)
        .arg("wlan0")
        .args(HOST)
        .args(["--", "--drop-proto", "icmp"]));
    let attached = fake.device("TESTER").xdp_programs();
    let cases = root.join("phonetest_kern/tests/filter.toml");
    let text = std::fs::read_to_string(&cases).unwrap();
    std::fs::write(
        &cases,
        text.replace("\"drops_a_port\"", "\"drops_a_dns_port\""),
    )
    .unwrap();
    let out = ok(&mut xdp_cmd(
        &fake,
        &root,
        &["test", "--adb", "--target", "linux-x86_64"],
    ));
    assert!(
        out.contains("test drops_a_dns_port ... ok"),
        "the cases here: {out}"
    );
    assert_eq!(fake.device("TESTER").xdp_programs(), attached);
    assert!(
        !fake.device("TESTER").ping(),
        "the deployed rules still drop ICMP"
    );

    // The device's loader runs the cases on each kernel variant too.
    let out = ok(&mut xdp_cmd(
        &fake,
        &root,
        &["test", "--adb", "--target", "linux-x86_64"],
    ));
    assert!(
        out.contains("test drops_a_dns_port [kernel 5.2+] ... ok")
            && out.contains("test result: ok. 46 passed; 0 failed; 0 filtered out"),
        "{out}"
    );

    // check --adb: every program through the device's verifier, in a trial.
    let before = fake.left_on("TESTER");
    let checked = common::text(&output(&mut xdp_cmd(
        &fake,
        &root,
        &["check", "--adb", "--target", "linux-x86_64"],
    )));
    for line in [
        "Checked xdp_filter in phonetest_kern.o: ",
        "Checked xdp_filter_rawip in phonetest_kern.k5.2.o (kernel 5.2+): ",
        "4 programs accepted by TESTER's kernel, nothing attached",
    ] {
        assert!(checked.contains(line), "no `{line}` in:\n{checked}");
    }
    assert_eq!(fake.left_on("TESTER"), before, "the check left files");
    assert_eq!(fake.device("TESTER").xdp_programs(), attached);

    // A wedged device: the run on it is stopped at the limit, named.
    fake.set("TESTER", &["hang_at=try"]);
    let child = xdp_cmd(
        &fake,
        &root,
        &[
            "test",
            "--adb",
            "--adb-timeout",
            "2",
            "--target",
            "linux-x86_64",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let (succeeded, error, device_steps) = common::device_steps_timed(child);
    assert!(
        !succeeded && error.contains("the loader's `test-run` on TESTER did not finish within 2 s"),
        "{error}"
    );
    assert!(device_steps < std::time::Duration::from_secs(30));
}

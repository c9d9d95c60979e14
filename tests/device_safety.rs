//! Root on the device and faults on the way there, against the fake adb
//! (tests/fixtures/fake-adb): the shell user (uid 2000) plays the attacker,
//! adb hangs and breaks at each step, Ctrl-C comes in the middle. Nothing
//! may run as root that the shell user could change, and nothing may stay
//! behind on the device or here.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;

const HOST: &[&str] = &["--target", "linux-x86_64"];

/// What the shell user plants: a "loader" that, if root ever ran it, would
/// leave a file saying so.
const EVIL: &str = "printf '#!/data/fake/bin/sh\\nid -u > /data/local/tmp/pwned.$$\\n' > /data/local/tmp/evil; chmod 755 /data/local/tmp/evil";

fn xdp(fake: &FakeAdb, root: &Path, args: &[&str]) -> Command {
    let mut command = cargo_xdp();
    fake.wire(&mut command);
    command.current_dir(root).arg("xdp").args(args);
    command
}

fn deploy(fake: &FakeAdb, root: &Path, args: &[&str]) -> Command {
    let mut command = xdp(fake, root, &["deploy", "--adb", "wlan0"]);
    command.args(HOST).args(args);
    command
}

fn pwned(fake: &FakeAdb, serial: &str) -> String {
    fake.on_device(serial, "cat /data/local/tmp/pwned.* 2>/dev/null; true")
}

/// This process's scratch directories under the shared target dir.
fn scratch_of(pid: u32) -> Vec<String> {
    std::fs::read_dir(shared_target_dir().join("xdp/scratch"))
        .map(|list| {
            list.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{pid}-")))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_shell_user_never_gets_root() {
    if !root_or_skip("the_shell_user_never_gets_root") {
        return;
    }
    let (_tmp, root) = new_project("guarded", "filter");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "guarded", &["root=su"]);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    fake.on_device("PHONE", "echo precious > /data/victim");
    ok(&mut fake.as_shell_user("PHONE", EVIL));

    // A uid-2000 loop that, for the whole deploy, swaps the staged loader
    // and on-device.sh for its own and plants links where root once wrote.
    let stage = "/data/local/tmp/cargo-xdp/.guarded.partial";
    let mut racer: Child = fake
        .as_shell_user(
            "PHONE",
            &format!(
                "while :; do cp /data/local/tmp/evil {stage}/guarded_user 2>/dev/null; \
                 cp /data/local/tmp/evil {stage}/on-device.sh 2>/dev/null; \
                 ln -s /data/victim {stage}/.sums 2>/dev/null; \
                 ln -s /data/victim {stage}/.sums.out 2>/dev/null; done"
            ),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut attached = 0;
    for _ in 0..3 {
        let out = output(&mut deploy(&fake, &root, &["--", "--drop-proto", "icmp"]));
        if out.status.success() {
            attached += 1;
        } else {
            // Caught: the copy root took is not what was pushed.
            let said = text(&out);
            assert!(
                said.contains("does not match MANIFEST")
                    || said.contains("is not what was pushed")
                    || said.contains("is not a regular file"),
                "{said}"
            );
        }
    }
    racer.kill().unwrap();
    racer.wait().unwrap();
    assert_eq!(pwned(&fake, "PHONE"), "", "root ran the shell user's file");
    assert_eq!(fake.on_device("PHONE", "cat /data/victim"), "precious\n");

    // A clean deploy, then the shell user goes after what root runs later.
    ok(&mut deploy(&fake, &root, &["--", "--drop-proto", "icmp"]));
    eprintln!("{attached} of 3 deploys got through the racer");
    assert!(!fake.device("PHONE").ping());
    let owned = fake.on_device(
        "PHONE",
        "stat -c '%u %a' /data/local/cargo-xdp /data/local/cargo-xdp/guarded /data/local/cargo-xdp/guarded/guarded_user",
    );
    assert_eq!(owned, "0 700\n0 700\n0 700\n", "root's alone");
    let tries = output(&mut fake.as_shell_user(
        "PHONE",
        "cp /data/local/tmp/evil /data/local/cargo-xdp/guarded/guarded_user; \
         mkdir -p /data/local/tmp/cargo-xdp/guarded; \
         cp /data/local/tmp/evil /data/local/tmp/cargo-xdp/guarded/guarded_user; \
         cp /data/local/tmp/evil /data/local/tmp/cargo-xdp/guarded/on-device.sh; \
         mv /data/local/cargo-xdp /data/local/gone",
    ));
    assert!(
        !tries.status.success() && text(&tries).contains("Permission denied"),
        "{}",
        text(&tries)
    );
    // stats, status and detach run root's copy, never the planted files.
    let stats = ok(&mut xdp(&fake, &root, &["stats", "--adb", "--json"]));
    assert!(stats.contains("\"drop\""), "{stats}");
    ok(&mut xdp(&fake, &root, &["status", "--adb"]));
    ok(&mut xdp(
        &fake,
        &root,
        &["deploy", "--adb", "wlan0", "--detach"],
    ));
    assert!(fake.device("PHONE").ping());
    assert_eq!(pwned(&fake, "PHONE"), "", "root ran the shell user's file");
    assert_eq!(fake.on_device("PHONE", "cat /data/victim"), "precious\n");
}

#[test]
fn root_refuses_what_it_cannot_check() {
    if !root_or_skip("root_refuses_what_it_cannot_check") {
        return;
    }
    let (_tmp, root) = new_project("checked", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("OLDTOYBOX", "checked", &["root=su", "no_sha256=1"]);
    fake.add_device("OPENDIR", "checked", &["root=su"]);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    fake.take_calls();

    // No sha256 tool: refused before anything is pushed.
    let error = fails(&mut deploy(&fake, &root, &["-s", "OLDTOYBOX"]));
    assert!(
        error.contains("OLDTOYBOX has no sha256 tool") && error.contains("nothing was pushed"),
        "{error}"
    );
    let calls = fake.take_calls();
    assert_eq!(calls.len(), 2, "devices and the probe only: {calls:#?}");
    assert_eq!(fake.left_on("OLDTOYBOX"), "");
    assert!(fake.device("OLDTOYBOX").xdp_programs().is_empty());

    // A directory above root's that another user can write: root runs nothing.
    fake.on_device("OPENDIR", "chmod 0777 /data/local");
    let error = fails(&mut deploy(&fake, &root, &["-s", "OPENDIR"]));
    assert!(
        error.contains("/data/local is not owned and writable by root alone")
            && error.contains("is unknown"),
        "{error}"
    );
    assert_eq!(fake.left_on("OPENDIR"), "");
    assert!(fake.device("OPENDIR").xdp_programs().is_empty());
    // Once mended, the same deploy goes through.
    fake.on_device("OPENDIR", "chmod 0751 /data/local");
    ok(&mut deploy(&fake, &root, &["-s", "OPENDIR"]));
    assert_eq!(fake.device("OPENDIR").xdp_programs().len(), 1);
}

#[test]
fn a_failed_redeploy_keeps_the_previous_one() {
    if !root_or_skip("a_failed_redeploy_keeps_the_previous_one") {
        return;
    }
    let (_tmp, root) = new_project("keeper", "filter");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "keeper", &["root=su"]);
    ok(&mut deploy(&fake, &root, &["--", "--drop-proto", "icmp"]));
    let before = fake.device("PHONE").xdp_programs();
    let files = fake.on_device("PHONE", "cd /data/local/cargo-xdp/keeper && sha256sum *");

    let error = fails(&mut deploy(&fake, &root, &["--", "--drop-port", "udp/0"]));
    assert!(
        error.contains("the device reports wlan0 runs keeper (native mode, program id"),
        "{error}"
    );
    assert!(!error.contains("nothing of keeper"), "{error}");
    assert_eq!(
        fake.device("PHONE").xdp_programs(),
        before,
        "the old program stays"
    );
    assert!(!fake.device("PHONE").ping(), "and keeps dropping");
    assert_eq!(
        fake.on_device("PHONE", "cd /data/local/cargo-xdp/keeper && sha256sum *"),
        files,
        "its files unchanged"
    );
    assert_eq!(
        fake.left_on("PHONE"),
        "keeper\n",
        "no staging, no half install"
    );
    let status = ok(&mut xdp(&fake, &root, &["status", "--adb"]));
    assert!(status.contains("wlan0"), "{status}");
}

/// A wedged adb at each step: stopped after --adb-timeout, the step named,
/// everything staged removed, on the device and here.
#[test]
fn adb_faults_at_each_step_leave_nothing_and_never_hang() {
    if !root_or_skip("adb_faults_at_each_step_leave_nothing_and_never_hang") {
        return;
    }
    let (_tmp, root) = new_project("faulty", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("WEDGED", "faulty", &["root=su"]);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    for (step, named) in [
        ("probe", "the probe on WEDGED"),
        ("push", "adb push on WEDGED"),
        ("attach", "the attach on WEDGED"),
    ] {
        fake.set("WEDGED", &[&format!("hang_at={step}")]);
        let mut command = deploy(&fake, &root, &["--adb-timeout", "2"]);
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let (ok, said, device_steps) = device_steps_timed(child);
        assert!(!ok, "{step}: {said}");
        // The clock starts when the build is done: the build may wait for the
        // shared target dir's lock while other tests build.
        assert!(
            device_steps < Duration::from_secs(30),
            "{step}: the device steps took {device_steps:?}"
        );
        assert!(
            said.contains(named) && said.contains("did not finish within 2 s"),
            "{step}: {said}"
        );
        assert_eq!(fake.left_on("WEDGED"), "", "{step}: left on the device");
        assert!(scratch_of(pid).is_empty(), "{step}: left here");
        assert!(fake.device("WEDGED").xdp_programs().is_empty());

        // A broken adb at the same step: a clear failure, nothing left.
        fake.set("WEDGED", &[&format!("fail_at={step}")]);
        let error = fails(&mut deploy(&fake, &root, &[]));
        assert!(error.contains("protocol fault"), "{step}: {error}");
        assert_eq!(fake.left_on("WEDGED"), "", "{step}: left on the device");
        assert!(fake.device("WEDGED").xdp_programs().is_empty());
    }
    // And afterwards, the device is fine.
    ok(&mut deploy(&fake, &root, &["--", "--prog", "xdp_drop"]));
    assert!(!fake.device("WEDGED").ping());
}

/// Ctrl-C (SIGINT) and `timeout`'s SIGTERM in the middle of a deploy.
#[test]
fn an_interrupted_deploy_cleans_up() {
    if !root_or_skip("an_interrupted_deploy_cleans_up") {
        return;
    }
    let (_tmp, root) = new_project("halted", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "halted", &["root=su"]);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    for (signal, step, marker) in [("INT", "attach", "'install'"), ("TERM", "push", " push ")] {
        fake.set("PHONE", &[&format!("hang_at={step}")]);
        fake.take_calls();
        let child = deploy(&fake, &root, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // Wait until the deploy is stuck in that step.
        let deadline = Instant::now() + Duration::from_secs(60);
        let log = fake.home.path().join("calls.log");
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(marker)
        {
            assert!(Instant::now() < deadline, "{step} never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        ok(Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string()));
        let out = child.wait_with_output().unwrap();
        let said = text(&out);
        assert!(!out.status.success(), "{signal}: {said}");
        assert!(said.contains("interrupted"), "{signal}: {said}");
        assert_eq!(fake.left_on("PHONE"), "", "{signal}: left on the device");
        assert!(scratch_of(pid).is_empty(), "{signal}: left here");
        assert!(fake.device("PHONE").xdp_programs().is_empty());
    }
}

//! Round two of the shell user against root on the device, and the device's
//! state after what a deploy cannot control (tests/fixtures/fake-adb, whose
//! adb clients hang up like real adbd: SIGHUP to the direct child only, so
//! what root started lives on). The shell user (uid 2000) turns staged files
//! into FIFOs and links to pipes it holds; an earlier install lives on as
//! root; a swap is cut between its renames; a pin outlives its program; the
//! shell user can write bpffs. Root must never open what the shell user
//! controls, never leave a process behind unnoticed, and every report about
//! the device must be the device's own.

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;

const HOST: &[&str] = &["--target", "linux-x86_64"];

fn deploy(fake: &FakeAdb, root: &Path, args: &[&str]) -> Command {
    let mut command = fake.xdp(root, &["deploy", "--adb", "wlan0"]);
    command.args(HOST).args(args);
    command
}

/// What the shell user plants, and what shows that root ran it.
const EVIL: &str = "printf '#!/data/fake/bin/sh\\nid -u > /data/local/tmp/pwned.$$\\n' > /data/local/tmp/evil; chmod 755 /data/local/tmp/evil";

fn pwned(fake: &FakeAdb, serial: &str) -> String {
    fake.on_device(serial, "cat /data/local/tmp/pwned.* 2>/dev/null; true")
}

/// Waits (at most a minute) until `check` holds.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fifos_and_held_pipes_in_the_stage_stall_nothing_and_run_nothing() {
    if !root_or_skip("fifos_and_held_pipes_in_the_stage_stall_nothing_and_run_nothing") {
        return;
    }
    let (_tmp, root) = new_project("stalled", "filter");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "stalled", &["root=su"]);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    ok(&mut fake.as_shell_user("PHONE", EVIL));

    // For the whole run a uid-2000 loop puts a FIFO where MANIFEST was
    // staged, and a link to a pipe it holds (no writer ever writes) where
    // on-device.sh was: before, root blocked reading either, lived on past
    // the deploy and later wrote the attacker's script into its own copy.
    let stage = "/data/local/tmp/cargo-xdp/.stalled.partial";
    let mut racer = fake
        .as_shell_user(
            "PHONE",
            &format!(
                "sleep 100000 | sh -c 'p=$$; while :; do \
                 rm -f {stage}/MANIFEST 2>/dev/null; mkfifo {stage}/MANIFEST 2>/dev/null; \
                 ln -sf /proc/$p/fd/0 {stage}/on-device.sh 2>/dev/null; \
                 cp /data/local/tmp/evil {stage}/on-device.sh.x 2>/dev/null; done'"
            ),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..4 {
        let child = deploy(&fake, &root, &["--adb-timeout", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (succeeded, said, device_steps) = device_steps_timed(child);
        assert!(
            device_steps < Duration::from_secs(40),
            "took {device_steps:?}: {said}"
        );
        if !succeeded {
            assert!(
                said.contains("is not a regular file")
                    || said.contains("is not what was pushed")
                    // adbd opens a FIFO at a pushed name as it is (its
                    // sync service unlinks only files and links): the push
                    // waits until its time limit, before root is involved.
                    || said.contains("adb push on PHONE did not finish within 5 s")
                    // Or the racer's file at a pushed name made adbd's own
                    // write or chmod fail: the push failed, root not involved.
                    || said.contains("adb push to PHONE failed")
                    || said.contains("is not part of")
                    || said.contains("does not match MANIFEST"),
                "{said}"
            );
            assert!(
                !said.contains("root's part on the device may have run on"),
                "{said}"
            );
        }
    }
    let _ = Command::new("pkill").args(["-f", "sleep 100000"]).status();
    racer.kill().unwrap();
    racer.wait().unwrap();
    let _ = Command::new("pkill")
        .args(["-f", ".stalled.partial"])
        .status();
    // Nothing of root's is left running, nothing half-done left behind.
    assert_eq!(
        FakeAdb::processes_with("root-entry sha256sum stalled"),
        Vec::<String>::new()
    );
    assert_eq!(FakeAdb::processes_with(".stalled.w."), Vec::<String>::new());
    // Root's directory: nothing half-done. (The shell user's own staging
    // area may hold what the racer wrote while the last cleanup removed it:
    // that is the attacker's own directory, never read by root unchecked.)
    let root_side = fake.on_device("PHONE", "ls -A /data/local/cargo-xdp 2>/dev/null; true");
    assert!(
        root_side.is_empty() || root_side == "stalled\n",
        "{root_side:?}"
    );

    // A clean deploy; root's copy of on-device.sh is the bundle's, and the
    // next root-run action runs that copy, never the planted one.
    ok(&mut deploy(&fake, &root, &["--", "--drop-proto", "icmp"]));
    let bundle = shared_target_dir().join("xdp/linux-x86_64/release/stalled-linux-x86_64.tar.gz");
    let unpacked = tempfile::tempdir().unwrap();
    ok(Command::new("tar")
        .arg("-xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(unpacked.path()));
    let ours = ok(Command::new("sha256sum").arg(unpacked.path().join("stalled/on-device.sh")));
    let theirs = fake.on_device(
        "PHONE",
        "sha256sum /data/local/cargo-xdp/stalled/on-device.sh",
    );
    assert_eq!(ours.split(' ').next(), theirs.split(' ').next());
    ok(&mut fake.xdp(&root, &["status", "--adb"]));
    assert!(!fake.device("PHONE").ping());
    assert_eq!(pwned(&fake, "PHONE"), "", "root ran the shell user's file");
}

/// Root's install was stopped by the host's time limit while it still ran
/// as root (adbd hangs up only its direct child, the shell user's shell):
/// the cleanup stops it, says so and reports the state; nothing of it runs
/// on, through the fast fake adb and through the real adb and adbd.
#[test]
fn a_timed_out_install_is_stopped_by_the_cleanup_not_left_running() {
    if !root_or_skip("a_timed_out_install_is_stopped_by_the_cleanup_not_left_running") {
        return;
    }
    let (_tmp, root) = new_project("slowroot", "minimal");
    ok(cargo_xdp().current_dir(&root).arg("build"));
    for real in [false, true] {
        let mut fake = if real {
            FakeAdb::real()
        } else {
            FakeAdb::new()
        };
        fake.add_device("PHONE", "slowroot", &["root=su"]);
        let serial = fake.serial("PHONE");
        // Root's sha256 tool takes 30 s: root-entry is still at work when
        // the host's 3 s limit stops the call.
        fake.on_device(
            "PHONE",
            "rm /data/fake/bin/sha256sum; printf '#!/data/fake/bin/sh\\n[ \"$(id -u)\" != 0 ] || sleep 30\\nexec toybox sha256sum \"$@\"\\n' > /data/fake/bin/sha256sum; chmod 755 /data/fake/bin/sha256sum",
        );
        let error = fails(&mut deploy(
            &fake,
            &root,
            &["-s", &serial, "--adb-timeout", "3"],
        ));
        assert!(error.contains("did not finish within 3 s"), "{error}");
        assert!(
            error.contains("root's part on the device may have run on")
                && error.contains("stopped an earlier install of slowroot still running as root")
                && error.contains("the device has no deployed copy of slowroot"),
            "real adb {real}: {error}"
        );
        assert_eq!(
            FakeAdb::processes_with("root-entry sha256sum slowroot"),
            Vec::<String>::new(),
            "real adb {real}"
        );
        assert_eq!(fake.left_on("PHONE"), "", "real adb {real}");
        assert!(fake.device("PHONE").xdp_programs().is_empty());
        // Mended, the same deploy goes through.
        fake.on_device(
            "PHONE",
            "rm /data/fake/bin/sha256sum; ln -s $(command -v toybox) /data/fake/bin/sha256sum",
        );
        ok(&mut deploy(
            &fake,
            &root,
            &["-s", &serial, "--", "--prog", "xdp_drop"],
        ));
        assert!(!fake.device("PHONE").ping());
    }
}

/// A root process that holds the project's lock (an install that lives
/// on): `status` refuses to run beside it, a new deploy stops all of it.
#[test]
fn a_live_earlier_install_is_stopped_by_the_next_one() {
    if !root_or_skip("a_live_earlier_install_is_stopped_by_the_next_one") {
        return;
    }
    let (_tmp, root) = new_project("locked", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "locked", &["root=su"]);
    ok(&mut deploy(&fake, &root, &[]));
    // As root-entry takes the lock: boot id, pid, process group, start time;
    // then it "works" for a long time, with a child of its own.
    let mut holder = fake
        .as_root_on(
            "PHONE",
            "exec setsid -w sh -c 'read -r s </proc/$$/stat; set -- ${s##*) }; \
             ln -s \"$(cat /proc/sys/kernel/random/boot_id) $$ $3 ${20}\" /data/local/cargo-xdp/.locked.lock; \
             sleep 100001; true'",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the lock", || {
        fake.on_device("PHONE", "ls -A /data/local/cargo-xdp")
            .contains(".locked.lock")
    });
    let error = fails(&mut fake.xdp(&root, &["status", "--adb"]));
    assert!(
        error.contains("an install of locked is under way (pid"),
        "{error}"
    );
    let out = output(&mut deploy(&fake, &root, &["--", "--prog", "xdp_drop"]));
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("stopped an earlier install of locked still running as root"),
        "{said}"
    );
    wait_for("the holder's end", || holder.try_wait().unwrap().is_some());
    assert_eq!(
        FakeAdb::processes_with("sleep 100001"),
        Vec::<String>::new()
    );
    assert!(!fake.device("PHONE").ping());
    assert_eq!(fake.left_on("PHONE"), "locked\n");
}

/// A deploy cut between its renames (or a work copy the loader may have
/// attached from): every root-entry action first heals it, and detach works
/// from whatever copy is there.
#[test]
fn an_interrupted_swap_heals_and_detach_works_from_any_copy() {
    if !root_or_skip("an_interrupted_swap_heals_and_detach_works_from_any_copy") {
        return;
    }
    let (_tmp, root) = new_project("healed", "filter");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "healed", &["root=su"]);
    ok(&mut deploy(&fake, &root, &["--", "--drop-proto", "icmp"]));
    let base = "/data/local/cargo-xdp";

    // Cut after `mv NAME .NAME.old`, with no new copy: the old one returns.
    fake.on_device("PHONE", &format!("mv {base}/healed {base}/.healed.old"));
    let status = ok(&mut fake.xdp(&root, &["status", "--adb"]));
    assert!(status.contains("wlan0"), "{status}");
    assert_eq!(fake.left_on("PHONE"), "healed\n");

    // Cut after the loader attached from its work copy: that copy becomes
    // the deployed one; an unfinished work dir beside it goes.
    fake.on_device(
        "PHONE",
        &format!(
            "w={base}/.healed.w.AAAA1111; mkdir -p $w; cp -a {base}/healed $w/c; : > $w/attaching; \
             mkdir -p {base}/.healed.w.BBBB2222/c; mv {base}/healed {base}/.healed.old"
        ),
    );
    ok(&mut fake.xdp(
        &root,
        &["deploy", "--adb", "wlan0", "--detach", "--keep-files"],
    ));
    assert!(fake.device("PHONE").ping(), "detached");
    assert_eq!(
        fake.left_on("PHONE"),
        "healed\n",
        "healed, and kept as asked"
    );

    // Nothing deployed at all, but what the device says is said.
    fake.on_device("PHONE", &format!("rm -rf {base}/healed"));
    let error = fails(&mut fake.xdp(&root, &["status", "--adb"]));
    assert!(
        error.contains("healed is not deployed on this device"),
        "{error}"
    );
}

/// The program left wlan0 outside the tool: its pin is stale, and neither
/// status nor a failed redeploy calls it attached.
#[test]
fn a_pin_the_kernel_no_longer_runs_is_reported_stale() {
    if !root_or_skip("a_pin_the_kernel_no_longer_runs_is_reported_stale") {
        return;
    }
    let (_tmp, root) = new_project("stale", "filter");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "stale", &["root=su"]);
    ok(&mut deploy(&fake, &root, &["--", "--drop-proto", "icmp"]));
    fake.device("PHONE").xdp_off("xdp");
    let status = ok(&mut fake.xdp(&root, &["status", "--adb", "--message-format", "json"]));
    assert!(
        status.contains(r#""mode":"stale""#) && status.contains(r#""running":false"#),
        "{status}"
    );
    let error = fails(&mut deploy(&fake, &root, &["--", "--drop-port", "udp/0"]));
    assert!(
        error.contains("the device reports a stale pin for wlan0")
            && error.contains("nothing of stale is attached"),
        "{error}"
    );
    assert!(!error.contains("wlan0 runs"), "{error}");
}

/// On a board where the shell user can write bpffs: the loader follows no
/// link there, uses no directory another user owns or can write, and finds
/// its own program by name when the pin is gone.
#[test]
fn a_bpffs_the_shell_user_can_write_is_checked_not_trusted() {
    if !root_or_skip("a_bpffs_the_shell_user_can_write_is_checked_not_trusted") {
        return;
    }
    let (_tmp, root) = new_project("trusty", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("BOARD", "trusty", &["root=su"]);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    fake.on_device(
        "BOARD",
        "chmod 1777 /sys/fs/bpf; mkdir -m 0700 /data/victim; echo precious > /data/victim/keep",
    );
    let victim = || fake.on_device("BOARD", "cat /data/victim/keep");

    // The project's directory made by the shell user, its maps a link.
    ok(&mut fake.as_shell_user(
        "BOARD",
        "mkdir /sys/fs/bpf/trusty && ln -s /data/victim /sys/fs/bpf/trusty/maps",
    ));
    let error = fails(&mut deploy(&fake, &root, &[]));
    assert!(
        error.contains("/sys/fs/bpf/trusty is not root's alone (owner uid 2000"),
        "{error}"
    );
    assert_eq!(victim(), "precious\n");
    // The project's directory itself a link.
    fake.on_device("BOARD", "rm -rf /sys/fs/bpf/trusty");
    ok(&mut fake.as_shell_user("BOARD", "ln -s /data/victim /sys/fs/bpf/trusty"));
    let error = fails(&mut deploy(&fake, &root, &[]));
    assert!(
        error.contains("/sys/fs/bpf/trusty is not a directory (a link?)"),
        "{error}"
    );
    assert_eq!(victim(), "precious\n");

    // Mended: root's directories, 0700 each.
    fake.on_device("BOARD", "rm /sys/fs/bpf/trusty");
    ok(&mut deploy(&fake, &root, &["--", "--prog", "xdp_drop"]));
    assert_eq!(
        fake.on_device(
            "BOARD",
            "stat -c '%u %a' /sys/fs/bpf/trusty /sys/fs/bpf/trusty/maps /sys/fs/bpf/trusty/progs"
        ),
        "0 700\n0 700\n0 700\n"
    );
    // Its pin gone (the directory renamed): still ours, by the program's name.
    fake.on_device("BOARD", "mv /sys/fs/bpf/trusty /sys/fs/bpf/trusty-moved");
    let out = output(&mut deploy(&fake, &root, &["--", "--prog", "xdp_drop"]));
    let said = text(&out);
    assert!(
        out.status.success() && said.contains("without its pin; replacing it"),
        "{said}"
    );
    ok(&mut fake.xdp(&root, &["deploy", "--adb", "wlan0", "--detach"]));
    assert!(fake.device("BOARD").ping());
    fake.on_device("BOARD", "rm -rf /sys/fs/bpf/trusty-moved");
    assert_eq!(victim(), "precious\n");
}

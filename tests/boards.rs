//! Linux boards over ssh (`--ssh`): real OpenSSH and dropbear servers in
//! namespaces this machine makes (tests/fixtures/board), a Debian userland
//! (dash or bash as sh) with a sudo user and a busybox-only one with root
//! login (OpenWrt's shape). The XDP program really attaches to the board's `lan0` and drops
//! the client's traffic; root's files are root's alone; nothing is left
//! behind by a refusal.

mod common;

use std::{path::Path, process::Command};

use common::*;

fn xdp(board: &Board, root: &Path, args: &[&str]) -> Command {
    let mut command = cargo_xdp();
    command
        .current_dir(root)
        .env("CARGO_XDP_SSH", board.ssh())
        .arg("xdp")
        .args(args);
    command
}

/// Deploy with a rule, see it drop, read status and counters over ssh,
/// detach: the same on every kind of board. `home` is the login user's.
fn journey(board: &Board, root: &Path, name: &str, home: &str) {
    let dest = board.destination();
    assert!(board.lan.ping(), "traffic flows before");
    let out = output(xdp(board, root, &["deploy", "--ssh", &dest, "lan0"]).args([
        "--",
        "--drop-proto",
        "icmp",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("Deployed `release` linux-x86_64 on {dest}")),
        "the target comes from uname -m: {}",
        text(&out)
    );
    assert!(!board.lan.ping(), "the deployed filter drops ICMP on lan0");
    assert_eq!(board.xdp_programs().len(), 1);

    // Root runs only its own copies, in root's own directory.
    let owned = board.as_root(&format!(
        "stat -c '%u %a' /opt/cargo-xdp /opt/cargo-xdp/{name} /opt/cargo-xdp/{name}/{name}_user"
    ));
    assert_eq!(owned.trim(), "0 700\n0 700\n0 700", "{owned}");
    let staged = board.as_root(&format!("ls -A {home}/.cargo-xdp"));
    assert_eq!(staged.trim(), "", "the push's staging is gone: {staged}");

    let stats = ok(&mut xdp(board, root, &["stats", "--ssh", &dest, "--json"]));
    let counters: serde_json::Value = serde_json::from_str(stats.trim()).unwrap();
    assert!(
        counters["drop"]["packets"].as_u64().unwrap() >= 3,
        "{stats}"
    );
    let status = ok(&mut xdp(board, root, &["status", "--ssh", &dest]));
    assert!(status.contains("lan0"), "{status}");
    let dumped = ok(&mut xdp(
        board,
        root,
        &["map", "dump", "xdp_stats", "--ssh", &dest, "-q"],
    ));
    assert!(
        dumped.starts_with("xdp_stats: 5 entries") && dumped.contains("\n1: { packets: "),
        "{dumped}"
    );
    // The packet tests on the board's kernel, beside the deploy.
    let tested = output(&mut xdp(board, root, &["test", "--ssh", &dest]));
    assert!(
        tested.status.success() && text(&tested).contains("test result: ok."),
        "{}",
        text(&tested)
    );

    let out = output(&mut xdp(
        board,
        root,
        &["deploy", "--ssh", &dest, "lan0", "--detach"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert!(board.xdp_programs().is_empty());
    assert!(board.lan.ping(), "traffic flows again");
    let left = board.as_root("ls -A /opt/cargo-xdp");
    assert_eq!(left.trim(), "", "root's copy went with --detach: {left}");
}

#[test]
fn a_debian_board_over_openssh_with_sudo() {
    if !root_or_skip("a_debian_board_over_openssh_with_sudo") {
        return;
    }
    let (_tmp, root) = new_project("pifw", "filter");
    // bash as /bin/sh here (the persist test's Debian board has dash).
    let board = Board::new("pifw", "openssh", "sudo", "bash");
    assert!(board
        .as_root("sh -c 'echo $BASH_VERSION'")
        .trim()
        .starts_with('5'));
    journey(&board, &root, "pifw", "/home/xdpboard");
}

#[test]
fn an_openwrt_like_board_over_dropbear_with_busybox_and_root_login() {
    if !root_or_skip("an_openwrt_like_board_over_dropbear_with_busybox_and_root_login") {
        return;
    }
    let (_tmp, root) = new_project("wrtfw", "filter");
    let board = Board::new("wrtfw", "dropbear", "root", "busybox");
    journey(&board, &root, "wrtfw", "/root");
}

#[test]
fn a_board_s_refusals_are_said_and_leave_nothing() {
    if !root_or_skip("a_board_s_refusals_are_said_and_leave_nothing") {
        return;
    }
    let (_tmp, root) = new_project("nofw", "filter");
    let board = Board::new("nofw", "openssh", "user", "full");
    let dest = board.destination();

    // A login user with no way to root: stopped after the probe.
    let error = fails(&mut xdp(&board, &root, &["deploy", "--ssh", &dest, "lan0"]));
    assert!(
        error.contains("XDP needs root on xdpboard@")
            && error.contains("no `sudo -n`")
            && error.contains("nothing was pushed"),
        "{error}"
    );

    // doctor --deploy asks the board the same, and says what is missing.
    let doctor = output(&mut xdp(
        &board,
        &root,
        &[
            "doctor",
            "--deploy",
            "--ssh",
            &dest,
            "--interface",
            "lan0",
            "--target",
            "linux-x86_64",
        ],
    ));
    let said = text(&doctor);
    assert!(!doctor.status.success(), "{said}");
    assert!(
        said.lines().any(|l| l.contains("a way to root (deploy)")
            && l.contains("MISSING")
            && l.contains("neither `sudo -n` nor `doas -n`")),
        "{said}"
    );
    assert!(said.contains("x86_64 -> linux-x86_64"), "{said}");

    // An unknown host key is never accepted: ssh's answer, and the fix.
    let strict = board.dir.path().join("ssh-unknown-key");
    std::fs::write(
        &strict,
        format!(
            "#!/bin/sh\nexec ssh -F {} -o UserKnownHostsFile=/dev/null \"$@\"\n",
            board.dir.path().join("ssh_config").display()
        ),
    )
    .unwrap();
    ok(Command::new("chmod").arg("+x").arg(&strict));
    let error = fails(
        xdp(&board, &root, &["deploy", "--ssh", &dest, "lan0"]).env("CARGO_XDP_SSH", &strict),
    );
    assert!(
        error.contains("does not know the host key") && error.contains("never accepts one"),
        "{error}"
    );

    // A destination ssh would take for an option never reaches it.
    let error = fails(&mut xdp(
        &board,
        &root,
        &["status", "--ssh=-oProxyCommand=touch /tmp/x"],
    ));
    assert!(error.contains("is not an ssh destination"), "{error}");
    let error = fails(&mut xdp(
        &board,
        &root,
        &["deploy", "--adb", "--ssh", &dest, "lan0"],
    ));
    assert!(error.contains("cannot be used with"), "{error}");

    let left = board.as_root("ls -A /opt /home/xdpboard");
    assert!(
        !left.contains("cargo-xdp"),
        "nothing staged or installed: {left}"
    );
}

/// `--persist[=how]` on a board: status says so, a reboot attaches the
/// same program with the same rules; a redeploy keeps it (for the new copy
/// and rules); `--detach` takes the hook away, and a reboot then attaches
/// nothing.
fn persist_journey(board: &Board, root: &Path, name: &str, persist: &str, kind: &str) {
    let dest = board.destination();
    let out = output(
        xdp(board, root, &["deploy", "--ssh", &dest, "lan0", persist]).args([
            "--",
            "--drop-proto",
            "icmp",
        ]),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "Persisted {name} attaches to lan0 at every boot of {dest} ({kind}: "
        )),
        "{}",
        text(&out)
    );
    let status = ok(&mut xdp(board, root, &["status", "--ssh", &dest]));
    assert!(status.contains(&format!("persisted: {kind} (")), "{status}");

    let booted = board.reboot();
    let log = board.as_root(&format!("cat /opt/cargo-xdp/.{name}.boot.log; true"));
    assert_eq!(
        board.xdp_programs().len(),
        1,
        "attached at boot: {booted}{log}"
    );
    assert!(!board.lan.ping(), "with its rules: ICMP dropped again");
    assert!(log.contains(&format!("Attached {name} to lan0")), "{log}");
    let status = ok(&mut xdp(board, root, &["status", "--ssh", &dest]));
    assert!(
        status.contains("last boot: ") && status.contains("(exit 0)"),
        "{status}"
    );

    // A redeploy with other rules (none) keeps it, for the new copy.
    ok(&mut xdp(board, root, &["deploy", "--ssh", &dest, "lan0"]));
    board.reboot();
    assert_eq!(board.xdp_programs().len(), 1);
    assert!(board.lan.ping(), "the new deploy's rules (none) at boot");

    let out = output(&mut xdp(
        board,
        root,
        &["deploy", "--ssh", &dest, "lan0", "--detach"],
    ));
    assert!(
        out.status.success()
            && text(&out).contains(&format!(
                "Unpersisted {name}: its boot hook ({kind}) is gone"
            )),
        "{}",
        text(&out)
    );
    board.reboot();
    assert!(
        board.xdp_programs().is_empty(),
        "nothing attaches at boot any more"
    );
    let left = board.as_root(&format!(
        "ls -A /opt/cargo-xdp; ls /etc/init.d /etc/rc.d /etc/rc2.d /etc/systemd/system/multi-user.target.wants 2>/dev/null | grep {name} || true"
    ));
    assert_eq!(left.trim(), "", "no boot script, no hook: {left}");
}

#[test]
fn persisted_deploys_come_back_after_a_reboot() {
    if !root_or_skip("persisted_deploys_come_back_after_a_reboot") {
        return;
    }
    let (_tmp, root) = new_project("bootfw", "filter");
    // A Debian board: systemd named, then sysvinit's scripts found.
    let debian = Board::new("bootfw", "openssh", "sudo", "full");
    persist_journey(&debian, &root, "bootfw", "--persist=systemd", "systemd");
    persist_journey(&debian, &root, "bootfw", "--persist", "initd");
    // OpenWrt's shape: procd found.
    let wrt = Board::new("bootfw", "dropbear", "root", "busybox");
    persist_journey(&wrt, &root, "bootfw", "--persist", "procd");
}

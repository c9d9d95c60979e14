//! A hostile phone against the host (tests/fixtures/fake-adb): what the
//! device sends is bounded and made harmless before a terminal sees it, and
//! push-and-attach.sh pushes nothing but the bundle's own files.

mod common;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use common::*;

const HOST: &[&str] = &["--target", "linux-x86_64"];

/// Replaces root's deployed loader on the device with `script` (the device
/// itself is the attacker here: it may run anything as root).
fn hostile_loader(fake: &FakeAdb, serial: &str, name: &str, script: &str) {
    let loader = format!("/data/local/cargo-xdp/{name}/{name}_user");
    fake.on_device(
        serial,
        &format!(
            "printf '%s\\n' '#!/data/fake/bin/sh' {} > {loader}; chmod 700 {loader}",
            shell_quote(script)
        ),
    );
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn no_escape_reaches_the_terminal(said: &str) {
    assert!(
        !said.contains('\u{1b}') && !said.contains('\u{7}') && !said.contains('\u{9b}'),
        "raw control characters reached the terminal: {said:?}"
    );
}

#[test]
fn a_hostile_device_cannot_flood_or_steer_the_terminal() {
    if !root_or_skip("a_hostile_device_cannot_flood_or_steer_the_terminal") {
        return;
    }
    let (_tmp, root) = new_project("hostile", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "hostile", &["root=su"]);
    ok(fake.xdp(&root, &["deploy", "--adb", "wlan0"]).args(HOST));

    // Escapes: a window title, an OSC 52 clipboard write, a screen clear, a
    // C1 CSI, on stdout and stderr, in text and inside JSON strings.
    hostile_loader(
        &fake,
        "PHONE",
        "hostile",
        r#"printf '\033]0;pwned\007\033]52;c;ZWNobw==\007wlan0 \302\2332J\n'; printf '\033[2J\033[31mred\n' >&2; [ "$1" != detach ] || exit 1"#,
    );
    let status = output(&mut fake.xdp(&root, &["status", "--adb"]));
    let said = text(&status);
    assert!(status.status.success(), "{said}");
    no_escape_reaches_the_terminal(&said);
    assert!(
        said.contains(r"\x1b]0;pwned\x07\x1b]52;c;ZWNobw==\x07wlan0 \u{9b}2J")
            && said.contains(r"\x1b[2J\x1b[31mred"),
        "{said}"
    );
    let detach = output(&mut fake.xdp(&root, &["deploy", "--adb", "wlan0", "--detach"]));
    assert!(!detach.status.success());
    no_escape_reaches_the_terminal(&text(&detach));
    // JSON on stdout stays JSON (serde escapes it).
    hostile_loader(
        &fake,
        "PHONE",
        "hostile",
        r#"printf '{"name":"hostile","attached":[{"interface":"wlan0","mode":"\\u001b]0;pwned\\u0007","program":"p","program_id":1,"running":true}]}\n'"#,
    );
    let json = output(&mut fake.xdp(&root, &["status", "--adb", "--message-format", "json"]));
    no_escape_reaches_the_terminal(&text(&json));
    assert!(
        text(&json).contains(r#""mode":"\u001b]0;pwned\u0007""#),
        "{}",
        text(&json)
    );

    // A flood: stopped at the per-call limit, not buffered without end.
    hostile_loader(&fake, "PHONE", "hostile", "yes");
    let started = Instant::now();
    let error = fails(&mut fake.xdp(&root, &["stats", "--adb"]));
    assert!(
        error.contains("sent more than 16 MiB") && started.elapsed() < Duration::from_secs(30),
        "{:?}: {error}",
        started.elapsed()
    );
    // One endless line to `stats --watch`: stopped at the line limit.
    hostile_loader(
        &fake,
        "PHONE",
        "hostile",
        "while printf xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; do :; done",
    );
    let error = fails(&mut fake.xdp(&root, &["stats", "--adb", "--watch"]));
    assert!(error.contains("sent a line of more than 64 KiB"), "{error}");
    // Hung up, the device side ends at its next write (as with real adbd,
    // which closes the stream's pipes).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !FakeAdb::processes_with("hostile_user stats").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the watch's device side lives on"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn vmlinux_reads_no_more_btf_than_a_kernel_has() {
    if !root_or_skip("vmlinux_reads_no_more_btf_than_a_kernel_has") {
        return;
    }
    let (_tmp, root) = new_project("bigbtf", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "bigbtf", &[]);
    // 80 MiB where the kernel's BTF is (real ones: 5-10 MiB).
    fake.on_device(
        "PHONE",
        "head -c 83886080 /dev/zero > /data/btf && mount -o bind /data/btf /sys/kernel/btf/vmlinux",
    );
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("vmlinux.h");
    let error = fails(&mut fake.xdp(&root, &["vmlinux", "--adb", "-o", target.to_str().unwrap()]));
    assert!(
        error.contains("PHONE's /sys/kernel/btf/vmlinux is larger than 64 MiB"),
        "{error}"
    );
    assert!(!target.exists(), "nothing half-written");
}

#[test]
fn push_and_attach_sh_pushes_only_the_files_manifest_names() {
    if !root_or_skip("push_and_attach_sh_pushes_only_the_files_manifest_names") {
        return;
    }
    let (_tmp, root) = new_project("planted", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "planted", &["root=su"]);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let bundle = shared_target_dir().join("xdp/linux-x86_64/debug/planted-linux-x86_64.tar.gz");
    let unpack = || {
        let dir = tempfile::tempdir().unwrap();
        ok(Command::new("tar")
            .arg("-xzf")
            .arg(&bundle)
            .arg("-C")
            .arg(dir.path()));
        dir
    };
    let run = |dir: &Path| {
        let mut command = Command::new("dash");
        fake.wire(&mut command);
        command
            .arg(dir.join("planted/push-and-attach.sh"))
            .arg("wlan0");
        command
    };
    let refused = |dir: &Path, wanted: &str| {
        fake.take_calls();
        let error = fails(&mut run(dir));
        assert!(
            error.contains(wanted) && error.contains("nothing was pushed"),
            "{error}"
        );
        assert!(
            !fake.take_calls().iter().any(|c| c.contains(" push ")),
            "pushed"
        );
        assert_eq!(fake.left_on("PHONE"), "");
    };

    // A link planted in the bundle directory: a host file would go to the
    // phone's shell-readable staging directory.
    let dir = unpack();
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("planted/extra")).unwrap();
    refused(dir.path(), "planted/extra is not part of the bundle");
    // A bundle file made a link, and one changed since the build.
    let dir = unpack();
    let attach = dir.path().join("planted/planted.attach");
    std::fs::rename(&attach, dir.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), &attach).unwrap();
    refused(
        dir.path(),
        "planted.attach is missing or not a regular file",
    );
    let dir = unpack();
    std::fs::write(dir.path().join("planted/planted.attach"), "* other -\n").unwrap();
    refused(dir.path(), "planted.attach does not match MANIFEST");
    // The bundle as built goes through.
    let dir = unpack();
    ok(&mut run(dir.path()));
    assert_eq!(fake.device("PHONE").xdp_programs().len(), 1);
    // A failed attach says what the device reports, never a guess.
    let error = fails(run(dir.path()).args(["--", "--prog", "no_such_program"]));
    assert!(
        error.contains("failed (see above); the device reports wlan0 runs planted")
            && error.contains("no program `no_such_program`"),
        "{error}"
    );
    let status = ok(run(dir.path()).arg("--status"));
    assert!(status.contains("wlan0"), "{status}");
}

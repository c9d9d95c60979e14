//! Day two on a phone (the fake adb's rooted phone, su on a user build):
//! drop mDNS and SSDP on wlan0, then change the rules from the host, change
//! the program's maps and redeploy, as a user does after the first deploy.

mod common;

use std::{fs, path::Path, process::Command};

use common::*;

const HOST: &[&str] = &["--target", "linux-x86_64"];

fn xdp(fake: &FakeAdb, root: &Path, args: &[&str]) -> Command {
    let mut command = cargo_xdp();
    fake.wire(&mut command);
    command.current_dir(root).arg("xdp").args(args);
    command
}

fn deploy(fake: &FakeAdb, root: &Path, loader_args: &[&str]) -> Command {
    let mut command = xdp(fake, root, &["deploy", "--adb", "wlan0"]);
    command.args(HOST).arg("--").args(loader_args);
    command
}

/// A pcap (Ethernet) of one UDP datagram to each of `ports`.
fn capture_of(path: &Path, ports: &[u16]) {
    let mut bytes: Vec<u8> = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    bytes.extend([0; 8]);
    bytes.extend(65535u32.to_le_bytes());
    bytes.extend(1u32.to_le_bytes());
    for port in ports {
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend([0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        frame.extend([192, 0, 2, 1, 192, 0, 2, 2]);
        frame.extend(40000u16.to_be_bytes());
        frame.extend(port.to_be_bytes());
        frame.extend([0, 12, 0, 0, b'm', b'd', b'n', b's']);
        bytes.extend([0; 8]);
        bytes.extend((frame.len() as u32).to_le_bytes());
        bytes.extend((frame.len() as u32).to_le_bytes());
        bytes.extend(frame);
    }
    fs::write(path, bytes).unwrap();
}

/// Runs `command`, which must succeed; all it printed (stdout, stderr).
fn said(command: &mut Command) -> String {
    let out = output(command);
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

/// The rules root's deployed loader says are in force, one per line.
fn rules(fake: &FakeAdb, root: &Path) -> Vec<String> {
    let said = ok(&mut xdp(fake, root, &["loader", "--adb", "--", "rules"]));
    said.lines().map(str::to_string).collect()
}

#[test]
fn day_two_through_the_fake_adb() {
    if !root_or_skip("day_two_through_the_fake_adb") {
        return;
    }
    journey(false);
}

/// The same journey through the real adb client and the adbd fixture.
#[test]
fn day_two_through_the_real_adb_client() {
    if !root_or_skip("day_two_through_the_real_adb_client") {
        return;
    }
    journey(true);
}

/// Rules and maps changed from the host over redeploys, a capture tried on
/// the phone's kernel, another project refused by name, a lost answer
/// asked about again, and everything removed.
fn journey(real: bool) {
    // Each run its own name: the bundles of both share one target dir.
    let name = if real { "nomdnsreal" } else { "nomdns" };
    let (_tmp, root) = new_project(name, "filter");
    let mut fake = if real {
        FakeAdb::real()
    } else {
        FakeAdb::new()
    };
    fake.add_device("PIXEL", name, &["root=su"]);
    let serial = fake.serial("PIXEL");
    ok(&mut deploy(
        &fake,
        &root,
        &["--drop-port", "udp/5353", "--drop-port", "udp/1900"],
    ));
    assert_eq!(rules(&fake, &root), ["drop udp/1900", "drop udp/5353"]);

    // One rule off, from the host, through root's checked copy.
    let deleted = ok(&mut xdp(
        &fake,
        &root,
        &[
            "loader",
            "--adb",
            "--",
            "rules",
            "--delete",
            "--drop-port",
            "udp/1900",
        ],
    ));
    assert_eq!(deleted.trim(), "drop udp/5353");

    // A redeploy's options are the whole rule set: they replace, never add.
    let out = said(&mut deploy(&fake, &root, &["--drop-port", "udp/1900"]));
    assert!(out.contains("(drop udp/1900)"), "{out}");
    assert_eq!(rules(&fake, &root), ["drop udp/1900"]);

    // Paths are not handed to root: the shell user could change the file.
    let refused = fails(&mut xdp(
        &fake,
        &root,
        &[
            "loader",
            "--adb",
            "--",
            "attach",
            "wlan0",
            "--object",
            "/data/local/tmp/mine.o",
        ],
    ));
    assert!(
        refused.contains("`--object` is not taken through `cargo xdp loader --adb`"),
        "{refused}"
    );

    // More room for source prefixes: the new map carries the old entries.
    ok(&mut deploy(
        &fake,
        &root,
        &["--drop-src", "198.51.100.0/24"],
    ));
    let source = root.join(format!("{name}_kern/{name}_kern.c"));
    let text = fs::read_to_string(&source).unwrap();
    let v4 = "__uint(max_entries, 1024);\n\t__uint(map_flags, BPF_F_NO_PREALLOC);\n\t__type(key, struct lpm_key_v4);";
    assert!(text.contains(v4));
    fs::write(&source, text.replace(v4, &v4.replace("1024", "2048"))).unwrap();
    let out = said(&mut deploy(
        &fake,
        &root,
        &["--drop-src", "198.51.100.0/24"],
    ));
    assert!(
        out.contains(
            "map `drop_src_v4` changed (max_entries 1024 -> 2048): a new map, 1 entry carried over"
        ),
        "{out}"
    );
    assert_eq!(rules(&fake, &root), ["drop from 198.51.100.0/24"]);
    let maps = fake.on_device("PIXEL", &format!("ls /sys/fs/bpf/{name}/maps"));
    assert!(maps.contains("drop_src_v4"), "{maps}");

    // --reset-maps: every map starts empty; the rules given are then written.
    let out = said(&mut xdp(
        &fake,
        &root,
        &[
            "deploy",
            "--adb",
            "wlan0",
            "--reset-maps",
            "--target",
            "linux-x86_64",
        ],
    ));
    assert!(
        out.contains("map `drop_src_v4` started empty (--reset-maps): 1 entry dropped"),
        "{out}"
    );
    assert_eq!(rules(&fake, &root), ["no rules: every packet passes"]);

    // A capture replayed on the phone's kernel with the rules to try: in a
    // trial of its own, nothing attached, nothing left behind.
    let capture = root.join("wire.pcap");
    capture_of(&capture, &[5353, 1900, 53]);
    let attached = fake.device("PIXEL").xdp_programs();
    let replayed = said(&mut xdp(
        &fake,
        &root,
        &[
            "test",
            "-v",
            "--adb",
            "--target",
            "linux-x86_64",
            "--pcap",
            capture.to_str().unwrap(),
            "--",
            "--drop-port",
            "udp/5353",
            "--drop-port",
            "udp/1900",
        ],
    ));
    assert!(
        replayed.contains("replayed 3 packets of") && replayed.contains("drop 2, pass 1"),
        "{replayed}"
    );
    assert!(
        replayed.contains("packet 1: udp 192.0.2.1:40000 -> 192.0.2.2:5353: drop"),
        "-v names each packet: {replayed}"
    );
    // The packet tests on the phone's kernel, beside the deployed copy.
    let tested = said(&mut xdp(
        &fake,
        &root,
        &["test", "--adb", "--target", "linux-x86_64"],
    ));
    assert!(tested.contains("test result: ok."), "{tested}");
    assert_eq!(fake.device("PIXEL").xdp_programs(), attached);
    let left = fake.left_on("PIXEL");
    assert!(
        !left.contains(&format!(".{name}.t")) && !left.contains(".try"),
        "{left}"
    );

    // Another project on the same interface: refused, naming the owner
    // and the command that detaches it.
    let (_other_tmp, other) = new_project("otherfilter", "minimal");
    let refused = fails(&mut xdp(
        &fake,
        &other,
        &["deploy", "--adb", "wlan0", "--target", "linux-x86_64"],
    ));
    assert!(
        refused.contains(&format!("wlan0 runs the cargo-xdp project `{name}`"))
            && refused.contains("cargo xdp deploy --adb wlan0 --detach"),
        "{refused}"
    );
    assert!(!refused.contains("nothing is attached"), "{refused}");

    // The attach's answer lost after the phone did it: the deploy asks
    // again and says the attach went through, never that it was stopped.
    // (The fake adb models a lost answer; the adbd fixture does not.)
    if !real {
        lost_answer(&fake, &root, name);
    }

    // Remove is a command: the program and root's copy go; again, it says
    // there is nothing to do, and succeeds.
    let removed = said(&mut xdp(
        &fake,
        &root,
        &["deploy", "--adb", "wlan0", "--detach"],
    ));
    assert!(
        removed.contains(&format!("Detached {name} from wlan0 on {serial}"))
            && removed.contains(&format!("Removed {name}'s files from {serial}")),
        "{removed}"
    );
    assert!(fake.device("PIXEL").xdp_programs().is_empty());
    assert_eq!(fake.left_on("PIXEL"), "", "nothing of the project is left");
    let again = said(&mut xdp(
        &fake,
        &root,
        &["deploy", "--adb", "wlan0", "--detach"],
    ));
    assert!(
        again.contains(&format!("nothing: {name} is not deployed on {serial}")),
        "{again}"
    );
}

/// A redeploy whose answer the fake adb loses after the device acted.
fn lost_answer(fake: &FakeAdb, root: &Path, name: &str) {
    fake.set("PIXEL", &["lose_reply_at=attach"]);
    let lost = output(&mut xdp(
        fake,
        root,
        &[
            "deploy",
            "--adb",
            "wlan0",
            "--target",
            "linux-x86_64",
            "--adb-timeout",
            "5",
        ],
    ));
    let said_then = common::text(&lost);
    assert!(
        said_then.contains("the attach went through and only its answer was lost")
            && said_then.contains(&format!("runs {name}")),
        "{said_then}"
    );
    assert!(!said_then.contains("so it was stopped"), "{said_then}");
    assert_eq!(fake.device("PIXEL").xdp_programs().len(), 1);
}

/// `doctor --deploy` asks the phone what a deploy needs, and an unrooted
/// phone is not OK; with two phones, it says to pick one.
#[test]
fn doctor_deploy_asks_the_phone_itself() {
    if !root_or_skip("doctor_deploy_asks_the_phone_itself") {
        return;
    }
    let (_tmp, root) = new_project("asked", "minimal");
    let mut fake = FakeAdb::new();
    fake.add_device("ROOTED", "asked", &["root=su"]);
    fake.add_device("LOCKED", "asked", &["root=none"]);
    let doctor = |args: &[&str]| {
        let mut command = xdp(
            &fake,
            &root,
            &["doctor", "--deploy", "--target", "linux-x86_64"],
        );
        command.args(args);
        output(&mut command)
    };
    let two = doctor(&[]);
    let said = common::text(&two);
    assert!(
        !two.status.success() && said.contains("-s SERIAL") && said.contains("ROOTED"),
        "{said}"
    );
    assert!(!said.contains("connect a device\n"), "{said}");

    let locked = doctor(&["-s", "LOCKED", "--interface", "wlan0"]);
    let said = common::text(&locked);
    assert!(
        !locked.status.success(),
        "an unrooted phone is not OK: {said}"
    );
    assert!(
        said.lines()
            .any(|l| l.contains("a way to root (deploy)") && l.contains("MISSING")),
        "{said}"
    );
    assert!(said.contains("userdebug/eng build"), "{said}");

    let rooted = doctor(&["-s", "ROOTED", "--interface", "wlan0"]);
    let said = common::text(&rooted);
    assert!(rooted.status.success(), "{said}");
    for need in [
        "a way to root (deploy)",
        "sha256 tool (deploy)",
        "SELinux (deploy)",
        "interface (deploy)",
    ] {
        assert!(said.contains(need), "{need}: {said}");
    }
    assert!(said.contains("su 0 answers without a prompt"), "{said}");
    let missing = doctor(&["-s", "ROOTED", "--interface", "eth9"]);
    let said = common::text(&missing);
    assert!(
        !missing.status.success() && said.contains("no eth9 (it has: ") && said.contains("wlan0"),
        "{said}"
    );
    assert_eq!(fake.left_on("ROOTED"), "", "the doctor stages nothing");
}

/// `deploy --persist` on a rooted phone: Magisk's (and KernelSU's)
/// service.d runs the hook at boot; a reboot (nothing attached, no pins,
/// then the hook run by the device's own shell, as root) attaches the same
/// program with the same rules. Without service.d it says so, and the
/// deploy stays attached. `--detach` takes the hook away.
#[test]
fn persisted_on_a_phone_through_service_d() {
    if !root_or_skip("persisted_on_a_phone_through_service_d") {
        return;
    }
    let (_tmp, root) = new_project("bootphone", "filter");
    let mut fake = FakeAdb::new();
    let phone = fake.add_device("MAGISK", "bootphone", &["root=su"]);
    assert!(phone.ping());

    // No service.d yet: the deploy is done, the persistence is not.
    let out = output(
        xdp(&fake, &root, &["deploy", "--adb", "wlan0", "--persist"])
            .args(HOST)
            .args(["--", "--drop-proto", "icmp"]),
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("no way to run a script at boot")
            && said.contains("attached now, but will not be after a reboot"),
        "{said}"
    );
    assert!(!fake.device("MAGISK").ping(), "still attached");

    fake.on_device(
        "MAGISK",
        "mkdir -p /data/adb/service.d && chmod 0700 /data/adb /data/adb/service.d",
    );
    let out = output(
        xdp(&fake, &root, &["deploy", "--adb", "wlan0", "--persist"])
            .args(HOST)
            .args(["--", "--drop-proto", "icmp"]),
    );
    let said = text(&out);
    assert!(
        out.status.success()
            && said.contains("(service.d: /data/adb/service.d/cargo-xdp-bootphone.sh)"),
        "{said}"
    );
    let status = said_ok(&mut xdp(&fake, &root, &["status", "--adb"]));
    assert!(status.contains("persisted: service.d"), "{status}");

    // The reboot.
    let phone = fake.device("MAGISK");
    phone.xdp_off("xdp");
    phone.xdp_off("xdpgeneric");
    fake.on_device("MAGISK", "rm -rf /sys/fs/bpf/bootphone");
    assert!(phone.ping(), "nothing attached after the reboot");
    fake.on_device(
        "MAGISK",
        "env -i PATH=/data/fake/bin /data/fake/bin/sh /data/adb/service.d/cargo-xdp-bootphone.sh",
    );
    assert!(!phone.ping(), "attached at boot, with its rule");
    let log = fake.on_device("MAGISK", "cat /data/local/cargo-xdp/.bootphone.boot.log");
    assert!(log.contains("Attached bootphone to wlan0"), "{log}");

    let out = output(&mut xdp(
        &fake,
        &root,
        &["deploy", "--adb", "wlan0", "--detach"],
    ));
    assert!(
        out.status.success() && text(&out).contains("its boot hook (service.d) is gone"),
        "{}",
        text(&out)
    );
    let left = fake.on_device("MAGISK", "ls -A /data/adb/service.d /data/local/cargo-xdp");
    assert!(!left.contains("bootphone"), "{left}");
}

fn said_ok(command: &mut Command) -> String {
    ok(command)
}

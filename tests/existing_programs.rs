//! XDP programs written the ways real projects write them, not by the
//! templates (tests/fixtures/kern/): libbpf-style BTF maps, 2017-2019 code
//! with legacy sections and `struct bpf_map_def`, CO-RE with vmlinux.h, a
//! global and a tail call, and a parser over if_vlan.h and icmp.h. Each is
//! put into a `cargo xdp new` project unchanged, builds for linux-x86_64 and
//! (through the stand-in NDK, bionic's headers) android-arm64, and, as root,
//! attaches in a namespace where real packets show what it does.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use common::*;

/// A `minimal` project whose kern source is the fixture `file`, built for
/// both targets; (guard, project root, unpacked bundle dir for linux-x86_64).
fn project_with(name: &str, file: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, root) = new_project(name, "minimal");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kern");
    fs::copy(
        fixture.join(file),
        root.join(format!("{name}_kern/{name}_kern.c")),
    )
    .unwrap();
    if file == "core_tail.c" {
        // CO-RE: vmlinux.h from this machine's kernel, where the source includes it.
        let said = output(cargo_xdp().current_dir(&root).args(["xdp", "vmlinux"]));
        assert!(said.status.success(), "{}", text(&said));
        assert!(root
            .join(format!("{name}_kern/include/vmlinux.h"))
            .is_file());
    }
    let out = output(cargo_xdp_with_ndk().current_dir(&root).args([
        "build",
        "--target",
        "linux-x86_64,android-arm64",
    ]));
    assert!(out.status.success(), "{file}: {}", text(&out));
    let unpacked = dir.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let bundle =
        shared_target_dir().join(format!("xdp/linux-x86_64/debug/{name}-linux-x86_64.tar.gz"));
    ok(Command::new("tar")
        .arg("xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(&unpacked));
    let android = shared_target_dir().join(format!(
        "xdp/android-arm64/debug/{name}-android-arm64.tar.gz"
    ));
    assert!(android.is_file(), "{file}: no android-arm64 bundle");
    let manifest = fs::read_to_string(unpacked.join(name).join("MANIFEST")).unwrap();
    assert!(
        manifest.contains("libbpf: 1.7 (libbpf-sys 1.7.0+v1.7.0)")
            && manifest.contains("bpf-cpu: v2"),
        "{manifest}"
    );
    (dir, root, unpacked.join(name))
}

/// True when a UDP datagram sent from the sender reaches a socket listening
/// on the receiver's `port`.
fn udp_arrives(net: &NetPair, port: u16) -> bool {
    let listen = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',{port}))\ns.settimeout(1.5)\nn=0\ntry:\n  while True:\n    s.recv(100); n+=1\nexcept socket.timeout:\n  pass\nprint(n)"
    );
    let listener = Command::new("ip")
        .args(["netns", "exec", &net.receiver, "python3", "-c", &listen])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    net.send_udp(port, 3);
    let out = listener.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() != "0"
}

#[test]
fn libbpf_style_btf_maps_build_and_drop_the_discard_port() {
    let (_dir, root, bundle) = project_with("libbpfstyle", "libbpf_maps.c");
    if !root_or_skip("libbpf_style_btf_maps_build_and_drop_the_discard_port") {
        return;
    }
    let net = NetPair::new("libbpfstyle");
    let loader = bundle.join("libbpfstyle_user");
    ok(net.in_receiver(&loader).args(["attach", &net.receiver_if]));
    assert!(!udp_arrives(&net, 9), "UDP to the discard port is dropped");
    assert!(udp_arrives(&net, 7777), "other UDP passes");
    assert!(net.ping(), "ICMP passes");
    // Any object's maps are listed; an unpinned one is dumped from the
    // attached program (the loader's hex, cargo xdp's by type), and once
    // that is gone the error says why.
    let maps = ok(Command::new(&loader).arg("maps"));
    assert!(
        maps.lines()
            .any(|l| l.starts_with("udp_ports_seen") && l.contains("hash") && l.contains("64")),
        "{maps}"
    );
    let hex = ok(Command::new(&loader).args(["map", "dump", "udp_ports_seen"]));
    assert!(
        hex.starts_with(&format!(
            "udp_ports_seen (not pinned: the program's on {}): hash, key 2 bytes",
            net.receiver_if
        )) && hex.contains("\n0900: 0300000000000000")
            && hex.contains("\n611e: 0300000000000000"),
        "{hex}"
    );
    let typed = ok(cargo_xdp()
        .current_dir(&root)
        .args(["map", "dump", "udp_ports_seen", "-q"]));
    assert!(
        typed.contains("\n9: 3\n") && typed.contains("\n7777: 3"),
        "{typed}"
    );
    // Attached twice, each program has a map of its own: which is meant?
    let in_sender = || {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/var/run/netns/{}", net.sender))
            .arg("--")
            .arg(&loader);
        command
    };
    ok(in_sender().args(["attach", &net.sender_if]));
    let error = fails(Command::new(&loader).args(["map", "dump", "udp_ports_seen"]));
    assert!(
        error.contains("each have their own") && error.contains(&net.sender_if),
        "{error}"
    );
    ok(in_sender().args(["detach", &net.sender_if]));
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    let error = fails(Command::new(&loader).args(["map", "dump", "udp_ports_seen"]));
    assert!(
        error.contains("nor does a program of libbpfstyle attached now have one")
            && error.contains("LIBBPF_PIN_BY_NAME"),
        "{error}"
    );
    assert!(udp_arrives(&net, 9));
}

#[test]
fn legacy_sections_and_bpf_map_def_load_by_function_or_section_name() {
    let (_dir, root, bundle) = project_with("legacystyle", "legacy_samples.c");
    // The build said what it did, and the bundle knows the old names.
    let again = fs::read_to_string(bundle.join("legacystyle_kern.sections")).unwrap();
    assert_eq!(again, "xdp1 xdp_prog1\nxdp_pass xdp_pass_all\n");
    let _ = root;
    if !root_or_skip("legacy_sections_and_bpf_map_def_load_by_function_or_section_name") {
        return;
    }
    let net = NetPair::new("legacystyle");
    let loader = bundle.join("legacystyle_user");
    ok(net
        .in_receiver(&loader)
        .args(["attach", &net.receiver_if, "--prog", "xdp1"]));
    assert!(!net.ping(), "xdp1 (by its section name) drops ICMP");
    assert!(udp_arrives(&net, 7000), "and passes UDP");
    let stats = ok(net.in_receiver(&loader).args(["status"]));
    assert!(stats.contains("xdp_prog1"), "{stats}");
    ok(net
        .in_receiver(&loader)
        .args(["attach", &net.receiver_if, "--prog", "xdp_pass_all"]));
    assert!(
        net.ping(),
        "xdp_pass_all (by its function name) passes everything"
    );
    let error = fails(net.in_receiver(&loader).args(["attach", &net.receiver_if]));
    assert!(
        error.contains("--prog"),
        "two programs: the loader asks which: {error}"
    );
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
}

#[test]
fn tc_programs_beside_the_xdp_one_are_never_attach_candidates() {
    let (_dir, root, bundle) = project_with("mixedstyle", "xdp_and_tc.c");
    // The build says, once per program, what it leaves out.
    let source = root.join("mixedstyle_kern/mixedstyle_kern.c");
    fs::write(&source, fs::read(&source).unwrap()).unwrap();
    let out = output(cargo_xdp().current_dir(&root).arg("build"));
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("Leaving mark_egress in ")
            && said.contains("(section `tc`) out of attach: a tc program, not XDP")
            && said.contains("(section `schedcls/ingress/tether_stub`) out of attach"),
        "{said}"
    );
    assert!(!said.contains("--prog mark_egress"), "{said}");
    if !root_or_skip("tc_programs_beside_the_xdp_one_are_never_attach_candidates") {
        return;
    }
    let net = NetPair::new("mixedstyle");
    let loader = bundle.join("mixedstyle_user");
    // One XDP program: no --prog needed, the tc ones are no candidates.
    ok(net.in_receiver(&loader).args(["attach", &net.receiver_if]));
    assert!(!net.ping(), "no_icmp drops ICMP");
    assert!(udp_arrives(&net, 7003), "and passes UDP");
    for (wanted, section) in [
        ("mark_egress", "tc"),
        ("tc", "tc"),
        ("tether_stub", "schedcls/ingress/tether_stub"),
    ] {
        let error =
            fails(
                net.in_receiver(&loader)
                    .args(["attach", &net.receiver_if, "--prog", wanted]),
            );
        assert!(
            error.contains(&format!(
                "(section `{section}`) is a SchedClassifier program, not XDP"
            )) && error.contains("the object's XDP programs: no_icmp"),
            "{wanted}: {error}"
        );
    }
    assert!(!net.ping(), "the XDP program stays");
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
}

#[test]
fn aosp_style_maps_and_sections_build_and_drop_the_discard_port() {
    let (_dir, root, bundle) = project_with("aospstyle", "aosp_style.c");
    // The build says what it rewrote for aya.
    let source = root.join("aospstyle_kern/aospstyle_kern.c");
    fs::write(&source, fs::read(&source).unwrap()).unwrap();
    let out = output(cargo_xdp().current_dir(&root).arg("build"));
    let said = text(&out);
    assert!(
        out.status.success()
            && said.contains("Moved the BTF annotations of AOSP's DEFINE_BPF_MAP")
            && said.contains("`.maps.udp_port_counts`")
            && said.contains("section `xdp/count_udp` to `xdp`"),
        "{said}"
    );
    // Its map as the macro declares it: a hash of 2-byte keys, 8-byte values.
    let loader = bundle.join("aospstyle_user");
    let maps = ok(Command::new(&loader).args(["maps", "--json"]));
    assert!(
        maps.contains(r#""name":"udp_port_counts","type":"hash","key_size":2,"value_size":8,"max_entries":256"#),
        "{maps}"
    );
    if !root_or_skip("aosp_style_maps_and_sections_build_and_drop_the_discard_port") {
        return;
    }
    // The annotations' types stay in the object: a packet test's map
    // failure reads the legacy map's key by its type (a port in host order
    // here, which the case wrote in network order).
    let tests = root.join("aospstyle_kern/tests");
    let _ = fs::remove_dir_all(&tests); // the template's, for its programs
    fs::create_dir_all(&tests).unwrap();
    fs::write(
        tests.join("ports.toml"),
        "[[case]]\nname = \"counts_port_7\"\n\
         packet = { ipv4 = { src = \"192.0.2.1\", dst = \"192.0.2.2\" }, udp = { dst = 7 } }\n\
         expect = { action = \"pass\", maps = { udp_port_counts = [{ key = \"0007\" }] } }\n",
    )
    .unwrap();
    let failed = fails(cargo_xdp().current_dir(&root).arg("test"));
    assert!(
        failed.contains("maps.udp_port_counts: no entry with key 0007 = 1792 (it has 0700 = 7;"),
        "{failed}"
    );
    let net = NetPair::new("aospstyle");
    ok(net.in_receiver(&loader).args(["attach", &net.receiver_if]));
    assert!(!udp_arrives(&net, 9), "UDP to the discard port is dropped");
    assert!(udp_arrives(&net, 7004), "other UDP passes");
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
}

#[test]
fn core_program_reads_its_global_and_takes_the_tail_call() {
    let (_dir, _root, bundle) = project_with("corestyle", "core_tail.c");
    if !root_or_skip("core_program_reads_its_global_and_takes_the_tail_call") {
        return;
    }
    let net = NetPair::new("corestyle");
    let loader = bundle.join("corestyle_user");
    let attach = |extra: &[&str]| {
        ok(net
            .in_receiver(&loader)
            .args(["attach", &net.receiver_if, "--prog", "classify"])
            .args(extra));
    };
    // ICMP blocked and the tail call filled in: pings are dropped by drop_it.
    attach(&["--set", "blocked_proto=1", "--tail", "verdicts:0=drop_it"]);
    assert!(!net.ping(), "the tail call was taken");
    assert!(udp_arrives(&net, 7001), "UDP is not the blocked protocol");
    // The global really is read: block UDP instead, and pings pass.
    attach(&["--set", "blocked_proto=17", "--tail", "verdicts:0=drop_it"]);
    assert!(net.ping(), "ICMP passes when UDP is the blocked protocol");
    assert!(!udp_arrives(&net, 7002), "and UDP is dropped");
    // The PROG_ARRAY the loader filled is pinned, so it can be dumped; the
    // drop counter is not (the C does not pin it).
    let maps = ok(Command::new(&loader).args(["maps", "--json"]));
    assert!(
        maps.contains(r#""name":"verdicts","type":"prog_array""#),
        "{maps}"
    );
    assert!(maps.contains(r#""name":"verdicts","type":"prog_array","key_size":4,"value_size":4,"max_entries":4,"pinned":true"#), "{maps}");
    // Without the slot filled, the tail call falls through.
    attach(&["--set", "blocked_proto=1"]);
    assert!(net.ping(), "an empty PROG_ARRAY slot: the packet passes");
    // Bad --set and --tail: clear errors, the attached program stays.
    let refused = |extra: &[&str]| {
        fails(
            net.in_receiver(&loader)
                .args(["attach", &net.receiver_if, "--prog", "classify"])
                .args(extra),
        )
    };
    let error = refused(&["--set", "blocked_protocol=1"]);
    assert!(error.contains("no global `blocked_protocol`"), "{error}");
    let error = refused(&["--set", "blocked_proto=300"]);
    assert!(
        error.contains("does not fit the global, which is 1 bytes"),
        "{error}"
    );
    let error = refused(&["--tail", "verdicts:9=drop_it"]);
    assert!(error.contains("cannot set entry 9"), "{error}");
    assert_eq!(net.xdp_programs().len(), 1);
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
}

#[test]
fn a_parser_over_if_vlan_and_icmp_drops_echo_requests() {
    let (_dir, _root, bundle) = project_with("vlanstyle", "vlan_icmp.c");
    if !root_or_skip("a_parser_over_if_vlan_and_icmp_drops_echo_requests") {
        return;
    }
    let net = NetPair::new("vlanstyle");
    let loader = bundle.join("vlanstyle_user");
    ok(net.in_receiver(&loader).args(["attach", &net.receiver_if]));
    assert!(!net.ping(), "echo requests are dropped");
    assert!(udp_arrives(&net, 7003), "UDP passes");
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    assert!(net.ping());
}

/// A PROG_ARRAY initialised in C (`__array(values, ...)`): aya 0.14 cannot
/// read it, so the build says so and what to do instead.
/// libbpf's declarative PROG_ARRAY (`__array(values, ...)` with `.values
/// = { [I] = &prog }`): the build moves the slots out of the object (aya
/// 0.14 cannot read them) into `<stem>.tails`, and the loader fills them
/// at attach and in packet tests, pinned as --tail pins.
#[test]
fn a_prog_array_filled_in_c_is_filled_at_attach() {
    let (_dir, root, bundle) = project_with("progarray", "declared_tails.c");
    let kern = bundle.join("progarray_kern.tails");
    assert_eq!(
        fs::read_to_string(&kern).unwrap(),
        "by_protocol 0 on_icmp\nby_protocol 2 on_udp\n"
    );
    // Said once per build of the source.
    let source = root.join("progarray_kern/progarray_kern.c");
    fs::write(&source, fs::read(&source).unwrap()).unwrap();
    let out = output(cargo_xdp().current_dir(&root).arg("build"));
    let said = text(&out);
    assert!(
        out.status.success()
            && said.contains("Moved the slots of PROG_ARRAY `by_protocol` filled in progarray_kern/progarray_kern.c (0: on_icmp, 2: on_udp) to the loader"),
        "{said}"
    );
    let loader = bundle.join("progarray_user");
    let maps = ok(Command::new(&loader).args(["maps", "--json"]));
    assert!(
        maps.contains(r#""name":"by_protocol","type":"prog_array","key_size":4,"value_size":4,"max_entries":4"#),
        "{maps}"
    );
    if !root_or_skip("a_prog_array_filled_in_c_is_filled_at_attach") {
        return;
    }
    // Packet tests run with the slots filled, as an attach does.
    fs::write(
        root.join("progarray_kern/tests/minimal.toml"),
        r#"[[case]]
name = "icmp_goes_to_slot_0_and_is_dropped"
args = ["--prog", "dispatch"]
packet = { ipv4 = { src = "192.0.2.1", dst = "192.0.2.2" }, icmp = { type = "echo-request" } }
expect = { action = "drop" }

[[case]]
name = "udp_to_the_discard_port_goes_to_slot_2_and_is_dropped"
args = ["--prog", "dispatch"]
packet = { ipv4 = { src = "192.0.2.1", dst = "192.0.2.2" }, udp = { dst = 9 } }
expect = { action = "drop" }

[[case]]
name = "other_udp_passes_through_slot_2"
args = ["--prog", "dispatch"]
packet = { ipv4 = { src = "192.0.2.1", dst = "192.0.2.2" }, udp = { dst = 53 } }
expect = { action = "pass" }

[[case]]
name = "tcp_finds_slot_1_empty_and_passes"
args = ["--prog", "dispatch"]
packet = { ipv4 = { src = "192.0.2.1", dst = "192.0.2.2" }, tcp = { dst = 80 } }
expect = { action = "pass" }
"#,
    )
    .unwrap();
    let out = output(cargo_xdp().current_dir(&root).arg("test"));
    assert!(
        out.status.success() && text(&out).contains("4 passed"),
        "{}",
        text(&out)
    );
    let net = NetPair::new("progarray");
    ok(net
        .in_receiver(&loader)
        .args(["attach", &net.receiver_if, "--prog", "dispatch"]));
    assert!(!net.ping(), "ICMP takes slot 0, which drops");
    assert!(
        !udp_arrives(&net, 9),
        "UDP to the discard port: slot 2 drops it"
    );
    assert!(udp_arrives(&net, 7004), "other UDP passes slot 2");
    // Pinned as --tail pins it: the slots outlive the loader.
    let maps = ok(net.in_receiver(&loader).args(["maps", "--json"]));
    assert!(
        maps.contains(r#""name":"by_protocol","type":"prog_array","key_size":4,"value_size":4,"max_entries":4,"pinned":true"#),
        "{maps}"
    );
    // --tail still wins for a slot the C filled: slot 0 now passes ICMP.
    ok(net.in_receiver(&loader).args([
        "attach",
        &net.receiver_if,
        "--prog",
        "dispatch",
        "--tail",
        "by_protocol:0=on_udp",
    ]));
    assert!(net.ping(), "slot 0 replaced by on_udp, which passes ICMP");
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
}

/// Kernel functions called through `extern ... __ksym` (kfuncs, as
/// xdp-synproxy calls conntrack's): aya 0.14 cannot relocate them, so the
/// build refuses the object, naming each, instead of an attach-time BTF
/// error.
#[test]
fn a_kfunc_call_is_a_build_error_naming_each_kfunc() {
    let (_dir, root) = new_project("kfuncs", "minimal");
    fs::write(
        root.join("kfuncs_kern/kfuncs_kern.c"),
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n\
         extern void bpf_rcu_read_lock(void) __ksym;\n\
         extern void bpf_rcu_read_unlock(void) __ksym;\n\
         SEC(\"xdp\")\nint guarded(struct xdp_md *ctx)\n{\n\tbpf_rcu_read_lock();\n\
         \tbpf_rcu_read_unlock();\n\treturn XDP_PASS;\n}\n\
         char _license[] SEC(\"license\") = \"GPL\";\n",
    )
    .unwrap();
    let error = fails(cargo_xdp().current_dir(&root).arg("build"));
    assert!(
        error.contains("`bpf_rcu_read_lock`, `bpf_rcu_read_unlock` from the running kernel")
            && error.contains("aya 0.14, the loader's library, cannot relocate those"),
        "{error}"
    );
    assert!(!shared_target_dir()
        .join("xdp/linux-x86_64/debug/kfuncs-linux-x86_64.tar.gz")
        .exists());
}

/// Two kern objects in one project: the metadata says which program of
/// which object goes where, and the loader (so run and deploy too) follows.
#[test]
fn the_metadata_says_which_object_attaches_where() {
    if !root_or_skip("the_metadata_says_which_object_attaches_where") {
        return;
    }
    let (dir, root) = new_project("twoobjects", "minimal");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kern");
    fs::copy(
        fixture.join("libbpf_maps.c"),
        root.join("twoobjects_kern/discard.c"),
    )
    .unwrap();
    let net = NetPair::new("twoobjects");
    let manifest = root.join("Cargo.toml");
    let rules = format!(
        "[[workspace.metadata.xdp.attach]]\nobject = \"discard\"\ninterfaces = [\"{}\"]\n\n\
         [[workspace.metadata.xdp.attach]]\nobject = \"twoobjects_kern\"\nprogram = \"xdp_drop\"\n\n",
        net.receiver_if
    );
    let text = fs::read_to_string(&manifest)
        .unwrap()
        .replace(
            "kern = [\"twoobjects_kern/twoobjects_kern.c\"]",
            "kern = [\"twoobjects_kern/twoobjects_kern.c\", \"twoobjects_kern/discard.c\"]",
        )
        .replace(
            "# The loader runs on phones",
            &format!("{rules}# The loader runs on phones"),
        );
    fs::write(&manifest, text).unwrap();
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let unpacked = dir.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    ok(Command::new("tar")
        .arg("xzf")
        .arg(shared_target_dir().join("xdp/linux-x86_64/debug/twoobjects-linux-x86_64.tar.gz"))
        .arg("-C")
        .arg(&unpacked));
    let bundle = unpacked.join("twoobjects");
    assert!(bundle.join("discard.o").is_file() && bundle.join("twoobjects_kern.o").is_file());
    let loader = bundle.join("twoobjects_user");
    // On this interface: discard.o's program (drops UDP to port 9 only).
    let said = ok(net.in_receiver(&loader).args(["attach", &net.receiver_if]));
    assert!(said.contains("Attached"), "{said}");
    assert!(net.ping(), "discard.o passes ICMP");
    assert!(!udp_arrives(&net, 9), "and drops the discard port");
    let status = ok(net.in_receiver(&loader).arg("status"));
    assert!(status.contains("count_udp"), "{status}");
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
    // Elsewhere: the second rule, twoobjects_kern.o's xdp_drop.
    let maps = ok(Command::new(&loader).arg("maps"));
    assert!(
        maps.contains("xdp_stats") && !maps.contains("udp_ports_seen"),
        "{maps}"
    );
    // A rule naming an object the project does not build is refused.
    let text = fs::read_to_string(&manifest)
        .unwrap()
        .replace("object = \"discard\"", "object = \"nosuch\"");
    fs::write(&manifest, text).unwrap();
    let error = fails(cargo_xdp().current_dir(&root).arg("build"));
    assert!(
        error.contains("object = \"nosuch\"") && error.contains("discard"),
        "{error}"
    );
}

/// How long a TCP connect from the sender to the receiver's `port` takes
/// (a listener there), or None when it does not complete within 3 s. With
/// `ecn`, the sender's SYN asks for ECN (ECE and CWR set); Linux falls back
/// to a plain SYN when the first is not answered within a second.
fn tcp_connect_time(net: &NetPair, port: u16, ecn: bool) -> Option<Duration> {
    ok(Command::new("ip").args([
        "netns",
        "exec",
        &net.sender,
        "sysctl",
        "-qw",
        &format!("net.ipv4.tcp_ecn={}", u8::from(ecn)),
    ]));
    let listen = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',{port}))\ns.listen(1)\ns.settimeout(4)\ntry:\n  s.accept()\nexcept socket.timeout:\n  pass"
    );
    let mut listener = Command::new("ip")
        .args(["netns", "exec", &net.receiver, "python3", "-c", &listen])
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    let connect = format!(
        "import socket,time\nt=time.monotonic()\ntry:\n  socket.create_connection(('{}',{port}),timeout=3)\n  print(time.monotonic()-t)\nexcept OSError:\n  print('none')",
        net.receiver_ip
    );
    let took =
        ok(Command::new("ip").args(["netns", "exec", &net.sender, "python3", "-c", &connect]));
    let _ = listener.kill();
    let _ = listener.wait();
    took.trim().parse().ok().map(Duration::from_secs_f64)
}

#[test]
fn kernel_uapi_headers_come_first_on_every_target_and_libc_ones_on_request() {
    // xdp-tools style: the project's own kernel-internal headers/linux/
    // (compiler.h, compiler_types.h, compiler-gcc.h) on -Iheaders, and the
    // kernel's struct tcphdr (ece, cwr), which bionic's tree lacks.
    let (_dir, root) = new_project("ecnsyn", "minimal");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kern");
    fs::copy(
        fixture.join("ecn_syn.c"),
        root.join("ecnsyn_kern/ecnsyn_kern.c"),
    )
    .unwrap();
    fs::create_dir_all(root.join("headers/linux")).unwrap();
    for entry in fs::read_dir(fixture.join("xdp_tools_headers/linux")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(
            entry.path(),
            root.join("headers/linux").join(entry.file_name()),
        )
        .unwrap();
    }
    let manifest = root.join("Cargo.toml");
    let cargo_toml = fs::read_to_string(&manifest).unwrap();
    assert!(cargo_toml.contains("cflags = []"), "{cargo_toml}");
    fs::write(
        &manifest,
        cargo_toml.replace("cflags = []", r#"cflags = ["-Iheaders"]"#),
    )
    .unwrap();

    let targets = "linux-x86_64,linux-arm64,android-arm64";
    let out = output(
        cargo_xdp_with_ndk()
            .current_dir(&root)
            .args(["build", "-v", "--target", targets]),
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    for (target, arch) in [
        ("linux-x86_64", "amd64"),
        ("linux-arm64", "arm64"),
        ("android-arm64", "arm64"),
    ] {
        let line = format!(
            "Using kernel uapi headers Linux 6.12.38 (Debian linux-libc-dev-{arch}-cross 6.12.38-1cross1) for {target} kern sources"
        );
        assert!(said.contains(&line), "{line}\n{said}");
    }
    // The same source and clang give the same object for a board and a phone.
    let object = |target: &str| {
        fs::read(shared_target_dir().join(format!("xdp/{target}/kern/ecnsyn_kern.o"))).unwrap()
    };
    let standin_clang = standin_ndk().join("toolchains/llvm/prebuilt/linux-x86_64/bin/clang");
    let same_clang = said.contains(&format!("Using {} for linux-arm64", host_clang_path(&said)))
        && ok(Command::new(&standin_clang).arg("--version"))
            .lines()
            .next()
            == ok(Command::new(host_clang_path(&said)).arg("--version"))
                .lines()
                .next();
    if same_clang {
        assert!(
            object("linux-arm64") == object("android-arm64"),
            "the arm64 objects differ"
        );
    } else {
        eprintln!("note: the stand-in NDK's clang is not the host's: objects not compared");
    }
    let unpacked = _dir.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    ok(Command::new("tar")
        .arg("xzf")
        .arg(shared_target_dir().join("xdp/linux-x86_64/debug/ecnsyn-linux-x86_64.tar.gz"))
        .arg("-C")
        .arg(&unpacked));
    let bundle_manifest = fs::read_to_string(unpacked.join("ecnsyn/MANIFEST")).unwrap();
    assert!(
        bundle_manifest.contains(
            "kernel-headers: Linux 6.12.38 (Debian linux-libc-dev-amd64-cross 6.12.38-1cross1)\n"
        ),
        "{bundle_manifest}"
    );

    // As Soong builds: bionic's rewritten copies, on request. The project's
    // compiler_types.h is then reached from bionic's <linux/stddef.h>.
    fs::write(
        &manifest,
        fs::read_to_string(&manifest).unwrap().replace(
            r#"cflags = ["-Iheaders"]"#,
            "cflags = [\"-Iheaders\"]\nkernel-headers = \"libc\"",
        ),
    )
    .unwrap();
    let out = output(cargo_xdp_with_ndk().current_dir(&root).args([
        "build",
        "-v",
        "--target",
        "android-arm64",
    ]));
    let said = text(&out);
    assert!(
        !out.status.success()
            && said.contains("kernel uapi headers the C library's copies (bionic's rewritten ones")
            && said.contains("include <linux/compiler.h>, not <linux/compiler-gcc.h>"),
        "{said}"
    );

    if !root_or_skip("kernel_uapi_headers_come_first_on_every_target_and_libc_ones_on_request") {
        return;
    }
    let loader = unpacked.join("ecnsyn/ecnsyn_user");
    let net = NetPair::new("ecnsyn");
    ok(net.in_receiver(&loader).args(["attach", &net.receiver_if]));
    let plain = tcp_connect_time(&net, 7007, false).expect("a plain SYN passes");
    assert!(plain < Duration::from_millis(900), "{plain:?}");
    // The ECN SYN is dropped; the kernel's retry without ECN gets through.
    let ecn = tcp_connect_time(&net, 7007, true).expect("the fallback SYN passes");
    assert!(ecn >= Duration::from_millis(900), "{ecn:?}");
    // One drop counted: the ECN SYN (little-endian 1).
    let dump = ok(net
        .in_receiver(&loader)
        .args(["map", "dump", "ecn_syn_drops", "--json"]));
    assert_eq!(
        dump.trim(),
        r#"[{"key":"00000000","values":["0100000000000000"]}]"#
    );
    ok(net.in_receiver(&loader).args(["detach", &net.receiver_if]));
}

/// The host clang a `-v` build named for linux-arm64.
fn host_clang_path(said: &str) -> String {
    said.lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix("Using ")?
                .split_once(" for linux-arm64 kern sources")
                .map(|(path, _)| path.to_string())
        })
        .unwrap_or_default()
}

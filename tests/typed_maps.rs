//! `cargo xdp map dump`: a pinned map's keys and values by field, as the
//! kern object's BTF types them, read while the program counts real packets
//! sent between namespaces; a map without types stays hex (said once); and
//! a packet test's map failure shows the bytes by field too.

mod common;

use common::*;

/// A `stats` project with one more pinned map declared by sizes only (no
/// BTF key or value type), which the program fills with a word.
fn project(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, root) = new_project(name, "stats");
    let kern = root.join(format!("{name}_kern/{name}_kern.c"));
    let source = std::fs::read_to_string(&kern).unwrap();
    let untyped = "struct {\n\
        \t__uint(type, BPF_MAP_TYPE_ARRAY);\n\
        \t__uint(max_entries, 1);\n\
        \t__uint(key_size, 4);\n\
        \t__uint(value_size, 4);\n\
        \t__uint(pinning, LIBBPF_PIN_BY_NAME);\n\
        } sized SEC(\".maps\");\n\n";
    let source = source.replacen("struct flow {", &format!("{untyped}struct flow {{"), 1);
    assert!(source.contains("} sized SEC"), "{source}");
    std::fs::write(&kern, source).unwrap();
    (dir, root)
}

fn loader_of(name: &str) -> std::path::PathBuf {
    shared_target_dir().join(format!("x86_64-unknown-linux-gnu/debug/{name}_user"))
}

#[test]
fn map_dump_reads_keys_and_values_by_field_per_cpu_and_summed() {
    if !root_or_skip("map_dump_reads_keys_and_values_by_field_per_cpu_and_summed") {
        return;
    }
    let name = "typeddump";
    let (_dir, root) = project(name);
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let net = NetPair::new(name);
    ok(net
        .in_receiver(loader_of(name))
        .args(["attach", &net.receiver_if]));
    net.send_udp(5353, 5);
    let dump = |args: &[&str]| {
        ok(cargo_xdp()
            .current_dir(&root)
            .args(["map", "dump"])
            .args(args))
    };

    // By field: the key's struct flow, the value's per-CPU xdp_counter,
    // summed and then per CPU.
    let shown = dump(&["traffic", "-q"]);
    assert!(
        shown.starts_with("traffic: ")
            && shown.contains(&format!("typed by the BTF of {name}_kern.o")),
        "{shown}"
    );
    let line = shown
        .lines()
        .find(|l| l.starts_with("{ proto: 17, pad: 0, port: 5353 }: "))
        .unwrap_or_else(|| panic!("no UDP 5353 entry:\n{shown}"));
    assert!(line.starts_with("{ proto: 17, pad: 0, port: 5353 }: { packets: 5, bytes: "));
    let cpus = std::thread::available_parallelism().unwrap().get();
    if cpus > 1 {
        assert!(line.ends_with(" (sum)"), "{line}");
        assert!(shown.contains("\n  cpu 0: { packets: "), "{shown}");
    }

    // --json: the same structure, fields in the source's order.
    let json: serde_json::Value =
        serde_json::from_str(&dump(&["traffic", "--json", "-q"])).unwrap();
    assert_eq!(json["map"], "traffic");
    assert_eq!(json["typed_by"], format!("{name}_kern.o"));
    let entry = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"]["port"] == 5353)
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(entry["key"]["proto"], 17);
    let total = if cpus > 1 {
        &entry["sum"]
    } else {
        &entry["values"][0]
    };
    assert_eq!(total["packets"], 5, "{entry}");
    let packets: u64 = entry["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(packets, 5);
    let raw = dump(&["traffic", "--json", "-q"]);
    assert!(raw.find("\"proto\"") < raw.find("\"port\""), "{raw}");

    // --message-format json: a map-entry message per entry.
    let messages = dump(&["xdp_stats", "--message-format", "json"]);
    let pass = messages
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|m| m["reason"] == "map-entry" && m["key"] == 2)
        .unwrap_or_else(|| panic!("{messages}"));
    assert_eq!(pass["map"], "xdp_stats");
    assert_eq!(pass["typed"], true);
    assert!(pass["serial"].is_null());

    // --hex: the loader's own text, as before.
    let hex = dump(&["traffic", "--hex", "-q"]);
    assert!(
        hex.starts_with("traffic: lru_percpu_hash, key 4 bytes"),
        "{hex}"
    );
    assert!(hex.contains("\n1100e914: "), "{hex}");

    // A map with no BTF types: hex, said once.
    let out = output(
        cargo_xdp()
            .current_dir(&root)
            .args(["map", "dump", "sized"]),
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("has no key and value types").count(),
        1,
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("sized: 1 entries, in hex\n0x00000000: 0x00000000"),
        "{stdout}"
    );

    // Bad names and absent maps: an error naming the fix, nothing shown.
    let bad = fails(cargo_xdp().current_dir(&root).args(["map", "dump", "a;b"]));
    assert!(bad.contains("`a;b` is not a map name"), "{bad}");
    let absent = fails(
        cargo_xdp()
            .current_dir(&root)
            .args(["map", "dump", "nosuch"]),
    );
    assert!(absent.contains("no map `nosuch` is pinned"), "{absent}");
    ok(net
        .in_receiver(loader_of(name))
        .args(["detach", &net.receiver_if]));
}

#[test]
fn a_packet_tests_map_failure_shows_the_key_by_field() {
    if !root_or_skip("a_packet_tests_map_failure_shows_the_key_by_field") {
        return;
    }
    let name = "typedcase";
    let (_dir, root) = new_project(name, "stats");
    // The case writes port 53 in network order; the program keys it in
    // host order: the failure's reading by field shows the slip.
    let cases = root.join(format!("{name}_kern/tests/stats.toml"));
    let text = std::fs::read_to_string(&cases).unwrap();
    std::fs::write(
        &cases,
        text.replacen("key = \"11003500\"", "key = \"11000035\"", 1),
    )
    .unwrap();
    let out = fails(cargo_xdp().current_dir(&root).args(["test", "counts_dns"]));
    assert!(
        out.contains(
            "maps.traffic: no entry with key 11000035 = { proto: 17, pad: 0, port: 13568 } \
             (it has 11003500 = { proto: 17, pad: 0, port: 53 }"
        ),
        "{out}"
    );
}

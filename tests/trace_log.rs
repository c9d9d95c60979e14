//! `cargo xdp log`: the `xdp_log` lines of a program that runs on packets
//! sent between namespaces, followed here and on a fake phone; Ctrl-C, a
//! closed pipe and a host that goes away end it, with nothing left running.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Mutex},
    time::{Duration, Instant},
};

use common::*;

/// The kernel has one trace buffer, and a reader of its trace pipe takes
/// the lines away from every other reader: one test reads at a time.
static TRACE_PIPE: Mutex<()> = Mutex::new(());

/// A `minimal` project whose xdp_pass logs each ping (98 bytes, nothing
/// else: after the last ping the trace is quiet) through the template's
/// `xdp_log`, and also prints a line of no project's.
fn logging_project(name: &str) -> (tempfile::TempDir, PathBuf) {
    let (dir, root) = new_project(name, "minimal");
    let kern = root.join(format!("{name}_kern/{name}_kern.c"));
    let source = std::fs::read_to_string(&kern).unwrap();
    let source = source
        .replace(
            "#include \"xdp_stats.h\"",
            "#include \"xdp_stats.h\"\n#include \"xdp_log.h\"",
        )
        .replace(
            "int xdp_pass(struct xdp_md *ctx)\n{\n",
            "int xdp_pass(struct xdp_md *ctx)\n{\n\
             \t__u32 len = ctx->data_end - ctx->data;\n\n\
             \tif (len != 98)\n\t\treturn count_action(ctx, XDP_PASS);\n\
             \txdp_log(\"pass %u bytes\", len);\n\
             \tbpf_printk(\"a line of no project\");\n",
        );
    assert!(source.contains("xdp_log(\"pass"), "{source}");
    std::fs::write(&kern, source).unwrap();
    (dir, root)
}

/// The lines `child` prints on stdout, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Pings with `ping` until a line holding `wanted` comes from `lines`;
/// every line seen until then.
fn ping_until(
    lines: &mpsc::Receiver<String>,
    ping: impl Fn() -> bool,
    wanted: &str,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        ping();
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(300)) {
            let done = line.contains(wanted);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }
    panic!("no line with {wanted:?} came; saw: {seen:#?}");
}

/// Waits until no process runs `NAME_user log`: the loader's reader ended.
fn reader_ends(name: &str, what: &str) {
    let needle = format!("{name}_user log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = FakeAdb::processes_with(&needle);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still running: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(child: &Child, signal: &str) {
    ok(Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string()));
}

fn loader_of(name: &str) -> PathBuf {
    shared_target_dir().join(format!("x86_64-unknown-linux-gnu/debug/{name}_user"))
}

fn follow(root: &Path, args: &[&str]) -> Child {
    cargo_xdp()
        .current_dir(root)
        .arg("log")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn log_follows_xdp_log_here_and_stops_on_ctrl_c_and_a_closed_pipe() {
    if !root_or_skip("log_follows_xdp_log_here_and_stops_on_ctrl_c_and_a_closed_pipe") {
        return;
    }
    let _one_reader = TRACE_PIPE.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, root) = logging_project("tracehere");
    ok(cargo_xdp().current_dir(&root).arg("build"));
    let net = NetPair::new("tracehere");
    ok(net.in_receiver(loader_of("tracehere")).args([
        "attach",
        &net.receiver_if,
        "--prog",
        "xdp_pass",
    ]));

    // --ours: this project's lines, as TIME TASK MESSAGE; no other's.
    let mut child = follow(&root, &["--ours"]);
    let lines = lines_of(&mut child);
    let seen = ping_until(&lines, || net.ping(), "tracehere: pass 98 bytes");
    assert!(seen.iter().all(|l| !l.contains("no project")), "{seen:#?}");
    let line = seen.last().unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields[0].parse::<f64>().is_ok(), "no time first: {line}");
    // Ctrl-C: it ends (by the signal, as cargo does) and so does the
    // loader reading the trace pipe for it.
    signal(&child, "INT");
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
    reader_ends("tracehere", "after Ctrl-C");

    // Every bpf_printk line by default, as JSON messages; a reader that
    // goes away (`| head -1`) ends it quietly, by SIGPIPE as cargo.
    let mut child = follow(&root, &["--message-format", "json"]);
    let lines = lines_of(&mut child);
    let seen = ping_until(&lines, || net.ping(), "a line of no project");
    let ours = seen
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|m| m["ours"] == true)
        .unwrap_or_else(|| panic!("{seen:#?}"));
    assert_eq!(ours["reason"], "log");
    assert!(ours["serial"].is_null());
    assert!(ours["message"]
        .as_str()
        .unwrap()
        .starts_with("tracehere: pass "));
    drop(lines);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        net.ping();
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still following with no reader");
    };
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGPIPE),
        "{status}"
    );
    let stderr = child
        .stderr
        .take()
        .map(std::io::read_to_string)
        .unwrap()
        .unwrap();
    assert!(!stderr.contains("error"), "{stderr}");
    reader_ends("tracehere", "after the reader left");

    // `cargo xdp run --log`: the lines among the counters, until Ctrl-C.
    ok(net
        .in_receiver(loader_of("tracehere"))
        .args(["detach", &net.receiver_if]));
    let mut run = net.in_receiver(env!("CARGO_BIN_EXE_cargo-xdp"));
    run.current_dir(&root)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .args(["xdp", "run", &net.receiver_if, "--log", "--interval", "0.5"])
        .args(["--", "--prog", "xdp_pass"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = run.spawn().unwrap();
    let lines = lines_of(&mut child);
    let seen = ping_until(&lines, || net.ping(), "tracehere: pass 98 bytes");
    // nsenter execs cargo-xdp: the child's pid is cargo-xdp's.
    signal(&child, "INT");
    let status = child.wait().unwrap();
    let seen: Vec<String> = seen.into_iter().chain(lines.iter()).collect();
    assert!(status.success(), "{status}: {seen:#?}");
    assert!(seen.iter().any(|l| l.starts_with("ACTION")), "{seen:#?}");
    assert!(net.xdp_programs().is_empty(), "still attached after Ctrl-C");
    reader_ends("tracehere", "after `run --log`");

    // Where tracefs is not: what to do.
    let said = fails(cargo_xdp().current_dir(&root).args([
        "loader",
        "--",
        "log",
        "--tracefs",
        "/nonexistent",
    ]));
    assert!(
        said.contains("no trace_pipe in /nonexistent") && said.contains("mount -t tracefs"),
        "{said}"
    );
}

#[test]
fn log_on_a_phone_ends_the_phone_s_reader_when_the_host_is_killed() {
    if !root_or_skip("log_on_a_phone_ends_the_phone_s_reader_when_the_host_is_killed") {
        return;
    }
    let _one_reader = TRACE_PIPE.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, root) = logging_project("tracephone");
    let mut fake = FakeAdb::new();
    fake.add_device("PHONE", "tracephone", &["root=su"]);
    ok(&mut fake.xdp(
        &root,
        &[
            "deploy",
            "--adb",
            "wlan0",
            "--target",
            "linux-x86_64",
            "--",
            "--prog",
            "xdp_pass",
        ],
    ));
    let mut child = fake
        .xdp(&root, &["log", "--adb", "--ours"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let device = fake.device("PHONE");
    ping_until(&lines, || device.ping(), "tracephone: pass 98 bytes");
    assert!(!FakeAdb::processes_with("tracephone_user log").is_empty());
    // The host side dies without a word: root's reader on the phone finds
    // out at its next write and ends.
    signal(&child, "KILL");
    child.wait().unwrap();
    reader_ends("tracephone", "after the host was killed");
    assert!(
        fake.device("PHONE").xdp_programs().len() == 1,
        "the program stays"
    );
}

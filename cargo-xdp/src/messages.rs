//! `--message-format json`: every message cargo-xdp prints on stdout, one
//! JSON object per line, told apart by `reason` (as cargo's are). README's
//! "JSON messages" lists them; a new kind is a new variant here.

use std::path::Path;

use serde::Serialize;

#[derive(Serialize, Debug)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Message<'a> {
    /// `new`: the project was written.
    ProjectCreated {
        name: &'a str,
        template: &'a str,
        path: &'a Path,
    },
    /// `new --list`: one per template.
    Template { name: &'a str, description: &'a str },
    /// A build found its Android NDK.
    Ndk {
        path: &'a Path,
        /// Where the path came from (`$ANDROID_NDK_HOME`, `--ndk` ...).
        origin: &'a str,
        /// `26.1.10909125`.
        revision: String,
        /// `r26b`.
        release: String,
    },
    /// clang printed something for a kern source (warnings, errors).
    KernDiagnostic { source: &'a Path, rendered: &'a str },
    /// A kern object is in place (`fresh`: it was up to date).
    KernObject {
        target: &'a str,
        source: &'a Path,
        object: &'a Path,
        fresh: bool,
    },
    /// The loader executable that goes into the bundle.
    Loader { target: &'a str, path: &'a Path },
    /// A target's bundle (`fresh`: it was up to date).
    Bundle {
        target: &'a str,
        profile: &'a str,
        path: &'a Path,
        sha256: &'a str,
        fresh: bool,
    },
    /// The last message of every build, also of one that failed.
    BuildFinished { success: bool, targets: Vec<String> },
    /// `deploy`: attached on one device.
    Deployed {
        serial: &'a str,
        target: &'a str,
        profile: &'a str,
        interface: &'a str,
        mode: &'a str,
        program_id: u64,
        /// The kernel variant attached (`"5.2"`), absent for the base object.
        #[serde(skip_serializing_if = "Option::is_none")]
        variant: Option<&'a str>,
    },
    /// `deploy`: one device's deploy failed (with --all-devices, the others go on).
    DeployFailed { serial: &'a str, error: String },
    /// `status` / `stats`: what the loader answered (its own `--json`
    /// object: interfaces, or counters per action); `serial` is the
    /// device's with --adb, null for this machine.
    LoaderAnswer {
        serial: Option<&'a str>,
        command: &'a str,
        answer: serde_json::Value,
    },
    /// `doctor`: one need of one target (`required`: a chosen target's).
    DoctorCheck {
        target: &'a str,
        need: &'a str,
        ok: bool,
        required: bool,
        detail: &'a str,
        fix: Option<&'a str>,
    },
    /// `doctor`: the verdict, and what is missing with each fix.
    DoctorFinished {
        ok: bool,
        targets: &'a [String],
        missing: Vec<Missing<'a>>,
    },
    /// `test`: one packet test (`problems`: expected vs got, empty when ok).
    TestCase {
        name: &'a str,
        file: &'a Path,
        ok: bool,
        problems: &'a [String],
    },
    /// `test`: the totals, last.
    TestResult {
        passed: usize,
        failed: usize,
        filtered_out: usize,
    },
    /// `check`: one program loaded through a kernel's verifier (`ok`: it
    /// was accepted or skipped), with the loader's answer's fields.
    Check {
        #[serde(flatten)]
        check: &'a cargo_xdp_wire::check::ProgramCheck,
        ok: bool,
    },
    /// `map dump`: one entry, its key and values read by the map's BTF
    /// types (`typed`; else hex strings): one value per CPU for per-CPU
    /// maps, with `sum` their field-by-field total; `serial` the device's,
    /// null for this machine.
    MapEntry {
        serial: Option<&'a str>,
        map: &'a str,
        typed: bool,
        key: serde_json::Value,
        values: Vec<serde_json::Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        sum: Option<serde_json::Value>,
    },
    /// `log`: one line of the trace pipe (`time`, `task`, `event`: null
    /// when the line is not an event's); `ours`: written by this project's
    /// `xdp_log`; `serial` the device's, null for this machine.
    Log {
        serial: Option<&'a str>,
        time: Option<&'a str>,
        task: Option<&'a str>,
        event: Option<&'a str>,
        ours: bool,
        message: &'a str,
    },
    /// `test --pcap`: a capture replayed: packets per action, and each
    /// packet's action in order.
    Replayed {
        file: &'a Path,
        packets: usize,
        actions: &'a std::collections::BTreeMap<&'a str, usize>,
        verdicts: &'a [String],
    },
    /// `bench`: one packet's ns per run (min, median, max over the rounds),
    /// the bare XDP_PASS program's, and the ratio of the medians.
    /// Times are min, median and max over the rounds; `ratios` the same of
    /// each round's program / baseline, `ratio` its median.
    Bench {
        name: &'a str,
        ns: [f64; 3],
        bare_ns: [f64; 3],
        ratio: f64,
        ratios: [f64; 3],
    },
    /// The command failed; `message` is the whole error.
    Error { message: String },
}

/// A line the loader printed with `--json`, as a `loader-answer`; None
/// for a line that is not JSON (stdout stays JSON only).
pub fn loader_answer<'a>(
    serial: Option<&'a str>,
    command: &'a str,
    line: &str,
) -> Option<Message<'a>> {
    let answer = serde_json::from_str(line).ok()?;
    Some(Message::LoaderAnswer {
        serial,
        command,
        answer,
    })
}

/// One unmet need in `doctor-finished`.
#[derive(Serialize, Debug)]
pub struct Missing<'a> {
    pub target: &'a str,
    pub need: &'a str,
    pub fix: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_by_reason_in_kebab_case() {
        let text = serde_json::to_string(&Message::BuildFinished {
            success: false,
            targets: vec![],
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"reason":"build-finished","success":false,"targets":[]}"#
        );
        let text = serde_json::to_string(&Message::KernObject {
            target: "linux-x86_64",
            source: Path::new("p_kern/p_kern.c"),
            object: Path::new("/t/p_kern.o"),
            fresh: true,
        })
        .unwrap();
        assert!(text.starts_with(r#"{"reason":"kern-object","target":"linux-x86_64""#));
    }
}

//! A verifier rejection in a few lines: the verifier's error, the
//! instruction it stopped at, the source line (the kernel prints BTF line
//! info as `; code @ file.c:LINE`), a hint for the common messages, then the
//! whole log between markers that cargo-xdp cuts out into a file, so a
//! reader (and every packet test) sees the summary, not thousands of lines.

/// Marks the start of the whole log; cargo-xdp replaces what follows, up
/// to [`LOG_END`], with the path of a file holding it.
pub use cargo_xdp_wire::{VERIFIER_LOG_END as LOG_END, VERIFIER_LOG_START as LOG_START};

/// What a verifier log says, in brief.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary<'a> {
    /// The verifier's own words (the lines after the last instruction).
    pub error: String,
    /// The instruction it stopped at, as the log prints it.
    pub instruction: Option<&'a str>,
    /// The source line of that instruction (`code @ file.c:LINE`).
    pub source: Option<&'a str>,
}

/// The lines that end every log, whatever the verdict.
fn is_trailer(line: &str) -> bool {
    [
        "processed ",
        "verification time",
        "stack depth",
        "-- END PROG LOAD LOG --",
    ]
    .iter()
    .any(|start| line.starts_with(start))
        || line.trim().is_empty()
}

/// `12: (71) r0 = ...`: an instruction line.
fn is_instruction(line: &str) -> bool {
    let Some((index, rest)) = line.split_once(": ") else {
        return false;
    };
    !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with('(')
}

/// One pass: the last instruction, the source line before it, and the
/// lines after it (its error); kept small, as the loader must be.
pub fn summarize(log: &str) -> Summary<'_> {
    let mut summary = Summary::default();
    let mut source = None;
    for line in log.lines() {
        if is_instruction(line) {
            summary.instruction = Some(line.trim());
            summary.source = source;
            summary.error.clear();
        } else if let Some(code) = line.strip_prefix("; ") {
            source = Some(code.trim());
        } else if !is_trailer(line) {
            if !summary.error.is_empty() {
                summary.error.push_str("; ");
            }
            summary.error.push_str(line.trim());
        }
    }
    summary
}

/// What usually fixes the error, for the messages every XDP author meets.
pub fn hint(error: &str) -> Option<&'static str> {
    let hints: [(&[&str], &str); 5] = [
        (
            &[
                "outside of the packet",
                "invalid access to packet",
                "pkt_end",
            ],
            "packet bounds: before reading N bytes at p, check `(void *)p + N > data_end` \
             (and again after every pointer moves); the verifier only trusts bytes it saw checked",
        ),
        (
            &[
                "invalid read from stack",
                "uninit",
                "invalid indirect read from stack",
            ],
            "uninitialised stack: give every local (keys, structs passed to helpers) a value \
             first, e.g. `struct key k = {};` or __builtin_memset, padding included",
        ),
        (
            &[
                "back-edge",
                "infinite loop",
                "loop is not bounded",
                "unbounded",
            ],
            "unbounded loop: give the loop a constant bound (`for (i = 0; i < 8 && ...; i++)`), \
             or `#pragma unroll`; kernels before 5.3 take no loops at all",
        ),
        (
            &[
                "too large",
                "too many instructions",
                "complexity limit",
                "1000000",
            ],
            "program too large: split it with tail calls, unroll less, or move work out of \
             inlined helpers",
        ),
        (
            &[
                "invalid mem access 'scalar'",
                "invalid mem access 'inv'",
                "map_value_or_null",
            ],
            "a map lookup's result is used unchecked: test `if (!value) return ...;` before \
             reading through it",
        ),
    ];
    hints
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| error.contains(n)))
        .map(|(_, hint)| *hint)
}

/// The whole message for a refused program: the summary, then the log
/// between the markers.
pub fn explain(program: &str, cause: &str, log: &str) -> String {
    let summary = summarize(log);
    let mut text = format!(
        "the kernel's verifier refused program `{program}` ({cause}): {}",
        summary.error
    );
    for (label, line) in [
        ("at instruction", summary.instruction),
        ("source:", summary.source),
        ("hint:", hint(&summary.error)),
    ] {
        if let Some(line) = line {
            text.push_str("\n  ");
            text.push_str(label);
            text.push(' ');
            text.push_str(line);
        }
    }
    text.push_str("\n  fix the kern source there, then rebuild (`cargo xdp build`)\n");
    text.push_str(LOG_START);
    text.push('\n');
    text.push_str(log.trim_end());
    text.push('\n');
    text.push_str(LOG_END);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log in the shape the kernel writes (BTF line info, a packet read
    /// past the checked bytes).
    const PACKET_LOG: &str = "func#0 @0
0: R1=ctx() R10=fp0
; void *data_end = (void *)(long)ctx->data_end; @ nomdns_kern.c:140
0: (61) r2 = *(u32 *)(r1 +4)          ; R1=ctx() R2_w=pkt_end()
; struct udphdr *udp = (void *)(ip + 1); @ nomdns_kern.c:158
41: (bf) r7 = r6                      ; R6_w=pkt(off=34,r=34) R7_w=pkt(off=34,r=34)
; if (udp->dest == bpf_htons(5353)) @ nomdns_kern.c:159
42: (69) r1 = *(u16 *)(r7 +2)
invalid access to packet, off=36 size=2, R7(id=0,off=36,r=34)
R7 offset is outside of the packet
processed 43 insns (limit 1000000) max_states_per_insn 0 total_states 3 peak_states 3 mark_read 2
";

    #[test]
    fn the_error_its_instruction_and_source_line_are_found() {
        let summary = summarize(PACKET_LOG);
        assert_eq!(
            summary.error,
            "invalid access to packet, off=36 size=2, R7(id=0,off=36,r=34); R7 offset is outside of the packet"
        );
        assert_eq!(summary.instruction, Some("42: (69) r1 = *(u16 *)(r7 +2)"));
        assert_eq!(
            summary.source,
            Some("if (udp->dest == bpf_htons(5353)) @ nomdns_kern.c:159")
        );
        assert!(hint(&summary.error).unwrap().starts_with("packet bounds"));
    }

    #[test]
    fn common_messages_get_their_hint_and_others_none() {
        assert!(hint("invalid read from stack off -8+0 size 8")
            .unwrap()
            .starts_with("uninitialised stack"));
        assert!(hint("back-edge from insn 20 to 10")
            .unwrap()
            .starts_with("unbounded loop"));
        assert!(hint("BPF program is too large. Processed 1000001 insn")
            .unwrap()
            .starts_with("program too large"));
        assert!(hint("R0 invalid mem access 'map_value_or_null'")
            .unwrap()
            .contains("unchecked"));
        assert_eq!(hint("unknown func bpf_foo#999"), None);
    }

    #[test]
    fn the_explanation_leads_and_the_log_follows_between_markers() {
        let text = explain("xdp_prog", "Permission denied (os error 13)", PACKET_LOG);
        let (head, rest) = text.split_once(LOG_START).unwrap();
        assert!(head.lines().count() <= 6, "{head}");
        assert!(head.contains("source: if (udp->dest == bpf_htons(5353)) @ nomdns_kern.c:159"));
        assert!(rest.trim_end().ends_with(LOG_END));
        // A log without instructions still names its last words.
        assert_eq!(
            summarize("unknown func bpf_foo#999\n").error,
            "unknown func bpf_foo#999"
        );
    }
}

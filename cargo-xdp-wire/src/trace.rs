//! Lines of the kernel's trace pipe, as the loader's `log` passes them on
//! and cargo-xdp shows them.

/// What `log` prints after a second with nothing new when its output is not
/// a terminal: a write that fails tells it the reader went away (cargo-xdp
/// drops the line).
pub const KEEPALIVE: &str = "--- log: following ---";

/// One trace-pipe line: `  ping-4242  [001] ..s2.  5123.456789: bpf_trace_printk: msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine<'a> {
    /// The task the event happened in (`ping-4242`, `<idle>-0`): for XDP,
    /// whoever the CPU ran when the packet came.
    pub task: &'a str,
    pub cpu: Option<u32>,
    /// Seconds since boot, as the kernel wrote them.
    pub time: &'a str,
    /// `bpf_trace_printk` (older kernels: `0:` or an address).
    pub event: &'a str,
    pub message: &'a str,
}

impl<'a> TraceLine<'a> {
    pub fn parse(line: &'a str) -> Option<TraceLine<'a>> {
        let (head, rest) = line.split_once(']')?;
        let (task, cpu) = head.rsplit_once('[')?;
        let (stamp, event_and_message) = rest.split_once(": ")?;
        let time = stamp.split_whitespace().last()?;
        let (event, message) = event_and_message
            .split_once(": ")
            .unwrap_or((event_and_message, ""));
        Some(TraceLine {
            task: task.trim(),
            cpu: cpu.trim().parse().ok(),
            time,
            event,
            message: message.trim_end_matches(['\r', '\n']),
        })
    }

    /// Written by `bpf_printk` (bpf_trace_printk): its tracepoint on newer
    /// kernels, trace_printk's `0:`/address form on older ones.
    pub fn is_printk(&self) -> bool {
        self.event == "bpf_trace_printk"
            || self
                .event
                .trim_start_matches("0x")
                .chars()
                .all(|c| c.is_ascii_hexdigit())
    }

    /// Whether project `name` wrote it through the templates' `xdp_log`
    /// (`NAME: ...`): the trace does not say which program printed.
    pub fn is_from(&self, name: &str) -> bool {
        self.message
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printk_lines_of_new_and_old_kernels_are_read() {
        let new = TraceLine::parse(
            "            ping-4242    [001] ..s2.  5123.456789: bpf_trace_printk: demo: pass 3",
        )
        .unwrap();
        assert_eq!(
            new,
            TraceLine {
                task: "ping-4242",
                cpu: Some(1),
                time: "5123.456789",
                event: "bpf_trace_printk",
                message: "demo: pass 3",
            }
        );
        assert!(new.is_printk() && new.is_from("demo") && !new.is_from("dem"));
        let old = TraceLine::parse("  <idle>-0     [000] d.s2   12.500000: 0: hello: x").unwrap();
        assert_eq!(
            (old.task, old.event, old.message),
            ("<idle>-0", "0", "hello: x")
        );
        assert!(old.is_printk());
        let other =
            TraceLine::parse("  sh-1  [002] ....  1.000000: sched_switch: prev_comm=sh").unwrap();
        assert!(!other.is_printk());
        assert_eq!(TraceLine::parse("no brackets here"), None);
    }
}

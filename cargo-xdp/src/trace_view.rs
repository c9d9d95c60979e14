//! One line of the loader's `log` (the kernel's trace pipe), as `cargo xdp
//! log` and `cargo xdp run --log` show it: `TIME TASK MESSAGE` with the
//! project's name picked out, a device's text made harmless first, or a
//! `log` JSON message; the loader's keepalives are dropped.

use cargo_xdp_wire::trace::{TraceLine, KEEPALIVE};

use crate::messages::Message;

/// Which trace lines are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// What every program wrote with bpf_printk (the default).
    Printk,
    /// Only this project's `xdp_log` lines.
    Ours,
    /// Every event of the trace pipe.
    All,
}

impl Lines {
    /// The loader's `log` options for it (`cargo xdp run --log` takes
    /// them too): with keepalives, so a loader on
    /// a device finds out that we are gone even when the trace is quiet.
    pub fn loader_args(self) -> &'static [&'static str] {
        match self {
            Lines::Printk => &["log", "--keepalive"],
            Lines::Ours => &["log", "--ours", "--keepalive"],
            Lines::All => &["log", "--all", "--keepalive"],
        }
    }
}

/// How the lines of the loader's `log` are shown.
pub struct TraceView<'a> {
    /// The project's name: its `xdp_log` lines start with it.
    pub name: &'a str,
    /// The device's serial, None for this machine.
    pub serial: Option<&'a str>,
    /// Whether the project's name is coloured.
    pub color: bool,
}

impl TraceView<'_> {
    /// `TIME TASK MESSAGE`, this project's name in the message picked out;
    /// None for the loader's keepalives. Control characters made visible.
    pub fn human(&self, line: &str) -> Option<String> {
        if line == KEEPALIVE {
            return None;
        }
        let line = crate::shell::harmless(line);
        let Some(trace) = TraceLine::parse(&line) else {
            return Some(line.into_owned());
        };
        let message = match trace.message.strip_prefix(self.name) {
            Some(rest) if self.color && trace.is_from(self.name) => {
                format!("\x1b[1;92m{}\x1b[0m{rest}", self.name)
            }
            _ => trace.message.to_string(),
        };
        let text = if trace.is_printk() {
            message
        } else {
            format!("{}: {message}", trace.event)
        };
        Some(format!("{:>14} {:<16} {text}", trace.time, trace.task))
    }

    /// The `log` JSON message of a line, None for keepalives.
    pub fn message<'m>(&'m self, line: &'m str) -> Option<Message<'m>> {
        if line == KEEPALIVE {
            return None;
        }
        let trace = TraceLine::parse(line);
        Some(Message::Log {
            serial: self.serial,
            time: trace.as_ref().map(|t| t.time),
            task: trace.as_ref().map(|t| t.task),
            event: trace.as_ref().map(|t| t.event),
            ours: trace.as_ref().is_some_and(|t| t.is_from(self.name)),
            message: trace.as_ref().map_or(line, |t| t.message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str =
        "            ping-4242    [001] ..s2.  5123.456789: bpf_trace_printk: demo: pass 3";

    fn shown(color: bool) -> TraceView<'static> {
        TraceView {
            name: "demo",
            serial: Some("PHONE"),
            color,
        }
    }

    #[test]
    fn lines_show_time_task_and_message_and_keepalives_nothing() {
        let plain = shown(false).human(LINE).unwrap();
        assert_eq!(plain, "   5123.456789 ping-4242        demo: pass 3");
        let colored = shown(true).human(LINE).unwrap();
        assert!(
            colored.contains("\x1b[1;92mdemo\x1b[0m: pass 3"),
            "{colored:?}"
        );
        assert_eq!(shown(true).human(KEEPALIVE), None);
        assert!(shown(false).message(KEEPALIVE).is_none());
        // Another program's line: no colour; another event: its name first.
        let other = LINE.replace("demo: pass", "other: pass");
        assert!(!shown(true).human(&other).unwrap().contains('\x1b'));
        let event = "  sh-1  [002] ....  1.000000: sched_switch: prev_comm=sh";
        assert!(shown(false)
            .human(event)
            .unwrap()
            .ends_with("sched_switch: prev_comm=sh"));
    }

    #[test]
    fn a_device_s_control_characters_never_reach_the_terminal() {
        let hostile = LINE.replace("pass 3", "\x1b]0;owned\x07");
        let text = shown(false).human(&hostile).unwrap();
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        let unparsed = shown(false).human("\x1b[2Jraw").unwrap();
        assert!(!unparsed.contains('\x1b'), "{unparsed:?}");
    }

    #[test]
    fn json_messages_carry_the_fields() {
        let message = serde_json::to_value(shown(false).message(LINE).unwrap()).unwrap();
        assert_eq!(message["reason"], "log");
        assert_eq!(message["serial"], "PHONE");
        assert_eq!(message["time"], "5123.456789");
        assert_eq!(message["task"], "ping-4242");
        assert_eq!(message["ours"], true);
        assert_eq!(message["message"], "demo: pass 3");
        let odd =
            serde_json::to_value(shown(false).message("CPU:0 [LOST 3 EVENTS]").unwrap()).unwrap();
        assert_eq!(odd["message"], "CPU:0 [LOST 3 EVENTS]");
        assert!(odd["time"].is_null());
    }
}

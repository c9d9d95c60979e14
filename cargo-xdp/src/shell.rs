//! Everything cargo-xdp prints: cargo-style status lines on stderr
//! (`   Compiling foo`), warnings, errors, JSON messages on stdout for
//! `--message-format json`, and progress bars (on a terminal only).

use std::{
    fmt::Display,
    io::{IsTerminal, Write},
    sync::Mutex,
};

use crate::messages::Message;
use indicatif::{ProgressBar, ProgressStyle};

/// `--color`: when stderr gets colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `--message-format`: human lines on stderr, or JSON messages on stdout too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageFormat {
    Human,
    Json,
}

pub struct Shell {
    quiet: bool,
    /// -v count: 1 shows the commands run, and cargo gets as many -v.
    verbose: u8,
    json: bool,
    color: bool,
    /// The progress bar on screen, if any: lines are printed above it, so
    /// no half-drawn bar is left in the scrollback.
    bar: Mutex<Option<ProgressBar>>,
}

/// Whether stderr gets colours: --color, else $CARGO_TERM_COLOR (as cargo
/// reads it), else auto: on a terminal, unless $NO_COLOR is set.
pub fn use_color(choice: Option<ColorChoice>, stderr_is_terminal: bool) -> bool {
    let from_env = || match std::env::var("CARGO_TERM_COLOR").ok()?.as_str() {
        "always" => Some(ColorChoice::Always),
        "never" => Some(ColorChoice::Never),
        _ => Some(ColorChoice::Auto),
    };
    match choice.or_else(from_env).unwrap_or(ColorChoice::Auto) {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stderr_is_terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// A progress bar that leaves the screen (and the shell) when dropped.
pub struct Progress<'a> {
    shell: &'a Shell,
    bar: ProgressBar,
}

impl Progress<'_> {
    pub fn inc(&self, steps: u64) {
        self.bar.inc(steps);
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        *self.shell.bar.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Shell {
    pub fn new(quiet: bool, verbose: u8, format: MessageFormat) -> Shell {
        Self::with_color(quiet, verbose, format, None)
    }

    pub fn with_color(
        quiet: bool,
        verbose: u8,
        format: MessageFormat,
        color: Option<ColorChoice>,
    ) -> Shell {
        Shell {
            quiet,
            verbose,
            json: format == MessageFormat::Json,
            color: use_color(color, std::io::stderr().is_terminal()),
            bar: Mutex::new(None),
        }
    }

    /// Human output (not `--message-format json`).
    pub fn human(&self) -> bool {
        !self.json
    }

    /// Colored output on stderr (see [`use_color`]).
    pub fn color(&self) -> bool {
        self.color
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// How many -v were given.
    pub fn verbosity(&self) -> u8 {
        self.verbose
    }

    /// `   Compiling what` in cargo's style: a right-aligned green verb.
    pub fn status(&self, verb: &str, message: impl Display) {
        if !self.quiet {
            self.line(verb, "1;92", message);
        }
    }

    /// A status line shown only with --verbose (the commands we run).
    pub fn verbose_status(&self, verb: &str, message: impl Display) {
        if self.verbose > 0 && !self.quiet {
            self.line(verb, "1;96", message);
        }
    }

    pub fn warn(&self, message: impl Display) {
        if !self.quiet {
            self.prefixed("warning", "1;93", message);
        }
    }

    /// An `error:` line that is one of several a command reports (a
    /// refused program), shown even with -q; its JSON message is the
    /// command's own.
    pub fn error_line(&self, message: impl Display) {
        self.prefixed("error", "1;91", message);
    }

    pub fn error(&self, error: &anyhow::Error) {
        self.prefixed("error", "1;91", format!("{error:#}"));
        self.message(&Message::Error {
            message: format!("{error:#}"),
        });
    }

    /// One JSON message on stdout (only with --message-format json).
    pub fn message(&self, message: &Message) {
        if self.json {
            let line = serde_json::to_string(message).expect("messages serialize");
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
    }

    /// Text a device sent (its loader's output, its stderr): shown with
    /// control characters made visible (see `harmless`).
    pub fn device_text(&self, text: &str) {
        self.passthrough(&harmless(text));
    }

    /// Text a local tool printed (clang diagnostics, cargo's coloured
    /// output), passed through as-is.
    pub fn passthrough(&self, text: &str) {
        if !text.is_empty() {
            let newline = if text.ends_with('\n') { "" } else { "\n" };
            self.print(&format!("{text}{newline}"));
        }
    }

    /// A progress bar of `len` steps, drawn only on a terminal (cleared
    /// when dropped; status lines meanwhile print above it).
    pub fn progress(&self, len: u64, what: &str) -> Progress<'_> {
        let bar = if self.quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let style = if self.color {
                "{prefix:>12.cyan.bold} [{bar:25}] {pos}/{len} {msg}"
            } else {
                "{prefix:>12} [{bar:25}] {pos}/{len} {msg}"
            };
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template(style)
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            bar
        };
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        Progress { shell: self, bar }
    }

    fn line(&self, verb: &str, color: &str, message: impl Display) {
        let message = message.to_string();
        let message = harmless(&message);
        self.print(&if self.color {
            format!("\x1b[{color}m{verb:>12}\x1b[0m {message}\n")
        } else {
            format!("{verb:>12} {message}\n")
        });
    }

    fn prefixed(&self, label: &str, color: &str, message: impl Display) {
        let message = message.to_string();
        let message = harmless(&message);
        self.print(&if self.color {
            format!("\x1b[{color}m{label}\x1b[0m: {message}\n")
        } else {
            format!("{label}: {message}\n")
        });
    }

    /// Writes to stderr, above the progress bar when one is shown.
    fn print(&self, text: &str) {
        let bar = self.bar.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let write = || {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        };
        match bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(write),
            _ => write(),
        }
    }
}

/// Text from a device (or anything it could have shaped: JSON strings it
/// sent, a serial, a model) made harmless for a terminal: C0 controls but
/// newline and tab, DEL and C1 controls are shown as `\xNN` / `\u{NN}`, so
/// no escape sequence (title, clear, OSC 52 clipboard write, cursor moves)
/// reaches the terminal. Everything else is kept as it is.
pub fn harmless(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.contains(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_text_cannot_steer_the_terminal() {
        assert_eq!(harmless("wlan0\tnative\n"), "wlan0\tnative\n");
        assert!(matches!(harmless("plain"), std::borrow::Cow::Borrowed(_)));
        // A title, a clipboard write (OSC 52), a clear, a C1 CSI, DEL, CR.
        assert_eq!(
            harmless("\x1b]0;pwned\x07\x1b]52;c;ZWNobw==\x1b\\\x1b[2J\u{9b}31m\x7f\r"),
            "\\x1b]0;pwned\\x07\\x1b]52;c;ZWNobw==\\x1b\\\\x1b[2J\\u{9b}31m\\x7f\\x0d"
        );
        assert_eq!(harmless("caf\u{e9} \u{2192}"), "caf\u{e9} \u{2192}");
    }

    #[test]
    fn the_color_flag_wins_then_auto_decides_by_terminal() {
        // (CARGO_TERM_COLOR is read from the environment: not set here.)
        assert!(use_color(Some(ColorChoice::Always), false));
        assert!(!use_color(Some(ColorChoice::Never), true));
        assert!(!use_color(Some(ColorChoice::Auto), false));
    }
}

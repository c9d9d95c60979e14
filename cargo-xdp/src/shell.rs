//! Everything cargo-xdp prints: cargo-style status lines on stderr
//! (`   Compiling foo`), warnings, errors, JSON messages on stdout for
//! `--message-format json`, and progress bars (on a terminal only).

use std::{
    fmt::Display,
    io::{IsTerminal, Write},
};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::cli::MessageFormat;

pub struct Shell {
    quiet: bool,
    verbose: bool,
    json: bool,
    color: bool,
}

impl Shell {
    pub fn new(quiet: bool, verbose: bool, format: MessageFormat) -> Shell {
        Shell {
            quiet,
            verbose,
            json: format == MessageFormat::Json,
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Human output (not `--message-format json`).
    pub fn human(&self) -> bool {
        !self.json
    }

    /// Colored output on stderr (a terminal, no NO_COLOR).
    pub fn color(&self) -> bool {
        self.color
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// `   Compiling what` in cargo's style: a right-aligned green verb.
    pub fn status(&self, verb: &str, message: impl Display) {
        if !self.quiet {
            self.line(verb, "1;32", message);
        }
    }

    /// A status line shown only with --verbose (the commands we run).
    pub fn verbose_status(&self, verb: &str, message: impl Display) {
        if self.verbose && !self.quiet {
            self.line(verb, "1;36", message);
        }
    }

    pub fn warn(&self, message: impl Display) {
        if !self.quiet {
            self.prefixed("warning", "1;33", message);
        }
    }

    pub fn error(&self, error: &anyhow::Error) {
        self.prefixed("error", "1;31", format!("{error:#}"));
        if self.json {
            self.message(serde_json::json!({"reason": "error", "message": format!("{error:#}")}));
        }
    }

    /// One JSON message on stdout (only with --message-format json).
    pub fn message(&self, value: Value) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{value}");
        }
    }

    /// Text a tool printed (clang diagnostics), passed through as-is.
    pub fn passthrough(&self, text: &str) {
        if !text.is_empty() {
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
        }
    }

    /// A progress bar of `len` steps, hidden unless stderr is a terminal.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12.cyan.bold} [{bar:25}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        bar
    }

    fn line(&self, verb: &str, color: &str, message: impl Display) {
        if self.color {
            eprintln!("\x1b[{color}m{verb:>12}\x1b[0m {message}");
        } else {
            eprintln!("{verb:>12} {message}");
        }
    }

    fn prefixed(&self, label: &str, color: &str, message: impl Display) {
        if self.color {
            eprintln!("\x1b[{color}m{label}\x1b[0m: {message}");
        } else {
            eprintln!("{label}: {message}");
        }
    }
}

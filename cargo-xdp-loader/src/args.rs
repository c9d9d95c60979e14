//! A small command-line reader. The loader runs on phones and boards, so it
//! stays lean: no argument-parsing crate, just `--flag`, `--opt VALUE`
//! (or `--opt=VALUE`) and positionals.

use std::time::Duration;

use anyhow::{bail, Result};

pub struct Args {
    rest: Vec<String>,
    /// Every option asked about, for "did you mean" on a typo.
    asked: Vec<String>,
}

impl Args {
    pub fn new(args: impl IntoIterator<Item = String>) -> Self {
        Self {
            rest: args.into_iter().collect(),
            asked: Vec::new(),
        }
    }

    /// True when `--name` was given (removes it).
    pub fn flag(&mut self, name: &str) -> bool {
        self.asked.push(name.to_string());
        let before = self.rest.len();
        self.rest.retain(|arg| arg != name);
        self.rest.len() != before
    }

    /// Every value given to `--name VALUE` / `--name=VALUE`, in order (removes them).
    pub fn values(&mut self, name: &str) -> Result<Vec<String>> {
        self.asked.push(name.to_string());
        let mut found = Vec::new();
        let mut kept = Vec::new();
        let mut args = std::mem::take(&mut self.rest).into_iter();
        while let Some(arg) = args.next() {
            if arg == name {
                match args.next() {
                    Some(value) => found.push(value),
                    None => bail!("{name} needs a value"),
                }
            } else if let Some(value) = arg.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
                found.push(value.to_string());
            } else {
                kept.push(arg);
            }
        }
        self.rest = kept;
        Ok(found)
    }

    /// The value of `--name`, when given once or not at all.
    pub fn value(&mut self, name: &str) -> Result<Option<String>> {
        let mut values = self.values(name)?;
        if values.len() > 1 {
            bail!("{name} was given {} times; give it once", values.len());
        }
        Ok(values.pop())
    }

    /// The next positional argument, if any. Call after taking the options.
    pub fn positional(&mut self) -> Option<String> {
        let at = self.rest.iter().position(|arg| !arg.starts_with("--"))?;
        Some(self.rest.remove(at))
    }

    /// Fails on anything not taken, so typos are not silently ignored.
    pub fn finish(self) -> Result<()> {
        let Some(unknown) = self.rest.first() else {
            return Ok(());
        };
        let given = unknown.split('=').next().unwrap_or(unknown);
        let near = given.starts_with("--").then(|| {
            self.asked
                .iter()
                .map(|known| (distance(given, known), known))
                .filter(|(d, _)| *d <= (given.len() / 3).max(1))
                .min_by_key(|(d, _)| *d)
        });
        match near.flatten() {
            Some((_, known)) => {
                bail!("unexpected argument `{unknown}` (did you mean `{known}`?); see --help")
            }
            None => bail!("unexpected argument `{unknown}` (see --help)"),
        }
    }
}

/// Edits (insert, delete, replace) from `a` to `b`: cargo's measure for a
/// typo, by hand (the loader takes no crate for ten lines).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Seconds with up to three decimals ("1", "0.5", "2.25") as a Duration.
/// Parsed by hand: floating point parsing and printing would add ~20 KiB
/// to a loader that must stay small on phones.
pub fn seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let millis: u64 = format!("{fraction:0<3}").parse().ok()?;
    Some(Duration::from_secs(whole) + Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn reads_flags_values_and_positionals_in_any_order() {
        let mut a = args(&[
            "attach",
            "--mode=skb",
            "wlan0",
            "--json",
            "--set",
            "x=1",
            "--set",
            "y=2",
        ]);
        assert!(a.flag("--json"));
        assert!(!a.flag("--json"), "taken once");
        assert_eq!(a.value("--mode").unwrap().as_deref(), Some("skb"));
        assert_eq!(a.values("--set").unwrap(), ["x=1", "y=2"]);
        assert_eq!(a.positional().as_deref(), Some("attach"));
        assert_eq!(a.positional().as_deref(), Some("wlan0"));
        a.finish().unwrap();
    }

    #[test]
    fn refuses_what_it_cannot_take() {
        let error = args(&["--mode"]).value("--mode").unwrap_err().to_string();
        assert!(error.contains("--mode needs a value"), "{error}");
        let error = args(&["--mode", "a", "--mode", "b"])
            .value("--mode")
            .unwrap_err()
            .to_string();
        assert!(error.contains("given 2 times"), "{error}");
        let error = args(&["--typo"]).finish().unwrap_err().to_string();
        assert!(error.contains("unexpected argument `--typo`"), "{error}");
    }

    #[test]
    fn parses_decimal_seconds() {
        assert_eq!(seconds("1"), Some(Duration::from_secs(1)));
        assert_eq!(seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(seconds(".25"), Some(Duration::from_millis(250)));
        assert_eq!(seconds("2.125"), Some(Duration::from_millis(2125)));
        for bad in ["", ".", "1.2345", "-1", "1e3", "x"] {
            assert_eq!(seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_typo_gets_the_option_it_was_meant_to_be() {
        let mut a = args(&["--drop-ports", "udp/53"]);
        assert!(a.values("--drop-port").unwrap().is_empty());
        let _ = a.flag("--json");
        let error = a.finish().unwrap_err().to_string();
        assert!(
            error.contains("`--drop-ports` (did you mean `--drop-port`?)"),
            "{error}"
        );
        let mut far = args(&["--frobnicate"]);
        let _ = far.flag("--json");
        assert!(!far
            .finish()
            .unwrap_err()
            .to_string()
            .contains("did you mean"));
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}

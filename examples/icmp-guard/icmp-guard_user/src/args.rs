//! A small command-line reader. The loader runs on phones and boards, so it
//! stays lean: no argument-parsing crate, just `--flag`, `--opt VALUE`
//! (or `--opt=VALUE`) and positionals.

use anyhow::{bail, Result};

pub struct Args {
    rest: Vec<String>,
}

impl Args {
    pub fn new(args: impl IntoIterator<Item = String>) -> Self {
        Self {
            rest: args.into_iter().collect(),
        }
    }

    /// True when `--name` was given (removes it).
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|arg| arg != name);
        self.rest.len() != before
    }

    /// Every value given to `--name VALUE` / `--name=VALUE`, in order (removes them).
    pub fn values(&mut self, name: &str) -> Result<Vec<String>> {
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
        if let Some(unknown) = self.rest.first() {
            bail!("unexpected argument `{unknown}` (see --help)");
        }
        Ok(())
    }
}

//! This project's part of the loader: the rate and burst of every source's
//! token bucket (the kern side's `limit` map).

use anyhow::{bail, Context, Result};
use aya::maps::{Array, MapData};
use cargo_xdp_loader::{Args, AttachOptions, Extension, Project};

/// The ratelimit template's additions to the loader.
pub struct RateLimit;

/// What main.rs hands the runtime.
pub static LOADER: RateLimit = RateLimit;

/// The kern side's `struct limit`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct Limit {
    rate: u64,
    burst: u64,
}

// SAFETY: two u64s, no padding, every bit pattern valid.
unsafe impl aya::Pod for Limit {}

impl Extension for RateLimit {
    fn attach_usage(&self) -> &str {
        " [--rate PPS [--burst N]]"
    }

    fn command_usage(&self) -> &str {
        "\n  {{loader}} limit [--rate PPS] [--burst N]"
    }

    fn help(&self) -> &str {
        "  --rate PPS      packets a second each source may send (0: no limit)
  --burst N       how many it may send at once (default: as many as the rate)
  `limit` shows the limit in force; with --rate or --burst it changes it.
"
    }

    fn attach_options(&self, args: &mut Args) -> Result<Box<dyn AttachOptions>> {
        Ok(Box::new(Given(read_limit(args, None)?)))
    }

    fn command(&self, project: &Project, name: &str, args: Args) -> Option<Result<()>> {
        (name == "limit").then(|| limit_command(project, args))
    }
}

/// --rate and --burst, over `current` where given (a burst without a rate
/// keeps the rate; a rate without a burst gets a burst of one second).
fn read_limit(args: &mut Args, current: Option<Limit>) -> Result<Option<Limit>> {
    let number = |name: &str, text: Option<String>| -> Result<Option<u64>> {
        text.map(|t| {
            t.parse()
                .with_context(|| format!("{name} takes a whole number, not `{t}`"))
        })
        .transpose()
    };
    let rate = number("--rate", args.value("--rate")?)?;
    let burst = number("--burst", args.value("--burst")?)?;
    let mut limit = match (rate, burst, current) {
        (None, None, _) => return Ok(None),
        (None, Some(_), None) => bail!("--burst needs a --rate"),
        (Some(rate), burst, _) => Limit {
            rate,
            burst: burst.unwrap_or(rate),
        },
        (None, Some(burst), Some(now)) => Limit { burst, ..now },
    };
    if limit.rate > 0 && limit.burst == 0 {
        limit.burst = 1;
    }
    Ok(Some(limit))
}

/// The limit given to `attach`, if any.
struct Given(Option<Limit>);

impl AttachOptions for Given {
    fn apply(&self, project: &Project) -> Result<()> {
        // An attach's options are the whole configuration: none, no limit.
        write_limit(project, self.0.unwrap_or(Limit { rate: 0, burst: 0 }))
    }

    fn describe(&self) -> String {
        match self.0 {
            Some(limit) if limit.rate > 0 => {
                format!(" ({} packets/s per source, bursts of {})", limit.rate, limit.burst)
            }
            _ => " (no limit yet: set one with `limit --rate PPS`)".into(),
        }
    }
}

fn limit_command(project: &Project, mut args: Args) -> Result<()> {
    cargo_xdp_loader::xdp::require_root()?;
    let map: Array<MapData, Limit> = Array::try_from(project.pinned_map("limit")?)?;
    let now = map.get(&0, 0)?;
    let changed = read_limit(&mut args, Some(now))?;
    args.finish()?;
    if let Some(limit) = changed {
        write_limit(project, limit)?;
    }
    let limit = changed.unwrap_or(now);
    if limit.rate == 0 {
        println!("no limit: every source may send as fast as it likes");
    } else {
        println!("{} packets/s per source, bursts of {}", limit.rate, limit.burst);
    }
    Ok(())
}

fn write_limit(project: &Project, limit: Limit) -> Result<()> {
    let mut map: Array<MapData, Limit> = Array::try_from(project.pinned_map("limit")?)?;
    map.set(0, limit, 0).context("cannot write the limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn rate_and_burst_are_read_over_what_is_in_force() {
        assert_eq!(read_limit(&mut args(&[]), None).unwrap(), None);
        assert_eq!(
            read_limit(&mut args(&["--rate", "10"]), None).unwrap(),
            Some(Limit { rate: 10, burst: 10 })
        );
        let now = Limit { rate: 10, burst: 10 };
        assert_eq!(
            read_limit(&mut args(&["--burst", "50"]), Some(now)).unwrap(),
            Some(Limit { rate: 10, burst: 50 })
        );
        assert!(read_limit(&mut args(&["--burst", "5"]), None).is_err());
        assert!(read_limit(&mut args(&["--rate", "fast"]), None).is_err());
    }
}

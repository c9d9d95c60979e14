//! What `build`, `run` and `deploy` pass on to cargo for the loader: the
//! profile, and cargo's own flags, spelt as cargo spells them.

use std::{ffi::OsString, path::PathBuf};

/// A cargo profile: `dev`, `release` or one of the project's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile(String);

impl Profile {
    pub fn dev() -> Profile {
        Profile("dev".into())
    }

    pub fn release() -> Profile {
        Profile("release".into())
    }

    /// The name cargo knows it by (`--profile NAME`, `[profile.NAME]`).
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The directory of its artifacts under target/<triple>/ (`dev` builds
    /// into `debug`), and what the summary and MANIFEST call it.
    pub fn dir_name(&self) -> &str {
        match self.0.as_str() {
            "dev" | "test" => "debug",
            "bench" => "release",
            other => other,
        }
    }

    /// Anything but `dev` is built for a device: its loader is stripped.
    pub fn is_dev(&self) -> bool {
        self.0 == "dev"
    }
}

/// cargo's own flags, taken by every command that builds the loader.
#[derive(Debug, Clone, Default)]
pub struct CargoArgs {
    /// Build with the release profile (small, optimized loader).
    pub release: bool,
    /// Build with the named cargo profile (dev, release, or one of the project's).
    pub profile: Option<String>,
    /// Features of the loader crate to activate (space or comma separated).
    pub features: Vec<String>,
    /// Activate all features of the loader crate.
    pub all_features: bool,
    /// Do not activate the loader crate's `default` feature.
    pub no_default_features: bool,
    /// Run without accessing the network.
    pub offline: bool,
    /// Assert that Cargo.lock will remain unchanged.
    pub locked: bool,
    /// Both --locked and --offline.
    pub frozen: bool,
    /// Number of parallel jobs for cargo (default: the number of CPUs).
    pub jobs: Option<String>,
    /// Directory for all generated artifacts (cargo's and target/xdp).
    pub target_dir: Option<PathBuf>,
    /// Override a cargo configuration value (KEY=VALUE, or a TOML file).
    pub config: Vec<String>,
}

impl CargoArgs {
    /// The profile asked for, else `default`.
    pub fn profile_or(&self, default: Profile) -> Profile {
        match (&self.profile, self.release) {
            (Some(name), _) => Profile(name.clone()),
            (None, true) => Profile::release(),
            (None, false) => default,
        }
    }

    /// These flags with the profile asked for, else `default`, spelled as
    /// `--profile` (what a command that defaults to another profile than
    /// dev builds with: `bench` builds release, as `cargo bench` does).
    pub fn with_profile_or(&self, default: Profile) -> CargoArgs {
        CargoArgs {
            release: false,
            profile: Some(self.profile_or(default).name().to_string()),
            ..self.clone()
        }
    }

    /// The target dir given on the command line, made absolute (cargo reads
    /// it relative to the current directory).
    pub fn target_dir(&self) -> Option<PathBuf> {
        self.target_dir
            .as_ref()
            .map(|dir| std::path::absolute(dir).unwrap_or_else(|_| dir.clone()))
    }

    /// How many jobs at once, as cargo reads `-j`: N, or the CPUs less N
    /// for -N (at least one); the CPUs when not given or not a number.
    pub fn job_count(&self) -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        match self.jobs.as_deref().map(str::parse::<i64>) {
            Some(Ok(n)) if n > 0 => n as usize,
            Some(Ok(n)) if n < 0 => cpus.saturating_sub(n.unsigned_abs() as usize).max(1),
            _ => cpus,
        }
    }

    /// Flags every cargo command takes: network, lock file, configuration.
    /// `cargo metadata` gets these too, so it sees the project as the build will.
    pub fn global(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (set, flag) in [
            (self.offline, "--offline"),
            (self.locked, "--locked"),
            (self.frozen, "--frozen"),
        ] {
            if set {
                args.push(flag.to_string());
            }
        }
        for config in &self.config {
            args.extend(["--config".to_string(), config.clone()]);
        }
        args
    }

    /// Everything for `cargo build` of the loader but the profile, the
    /// target and the output flags cargo-xdp chooses itself.
    pub fn build(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = self.global().into_iter().map(OsString::from).collect();
        if !self.features.is_empty() {
            args.extend(["--features".into(), self.features.join(",").into()]);
        }
        if self.all_features {
            args.push("--all-features".into());
        }
        if self.no_default_features {
            args.push("--no-default-features".into());
        }
        if let Some(jobs) = &self.jobs {
            args.extend(["--jobs".into(), jobs.into()]);
        }
        if let Some(dir) = self.target_dir() {
            args.extend(["--target-dir".into(), dir.into()]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_their_directories() {
        let args = CargoArgs::default();
        assert_eq!(args.profile_or(Profile::dev()).dir_name(), "debug");
        assert_eq!(args.profile_or(Profile::release()).name(), "release");
        let release = CargoArgs {
            release: true,
            ..Default::default()
        };
        assert_eq!(release.profile_or(Profile::dev()), Profile::release());
        let custom = CargoArgs {
            profile: Some("small".into()),
            ..Default::default()
        };
        let small = custom.profile_or(Profile::release());
        assert_eq!(
            (small.name(), small.dir_name(), small.is_dev()),
            ("small", "small", false)
        );
    }

    #[test]
    fn flags_are_passed_as_cargo_spells_them() {
        let args = CargoArgs {
            features: vec!["a b".into(), "c".into()],
            no_default_features: true,
            offline: true,
            locked: true,
            jobs: Some("-1".into()),
            config: vec!["net.retry=5".into()],
            target_dir: Some("/t".into()),
            ..Default::default()
        };
        assert_eq!(
            args.global(),
            ["--offline", "--locked", "--config", "net.retry=5"]
        );
        let build: Vec<String> = args
            .build()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            build,
            [
                "--offline",
                "--locked",
                "--config",
                "net.retry=5",
                "--features",
                "a b,c",
                "--no-default-features",
                "--jobs",
                "-1",
                "--target-dir",
                "/t"
            ]
        );
    }

    #[test]
    fn job_count_reads_j_as_cargo_does() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = |j: Option<&str>| {
            CargoArgs {
                jobs: j.map(String::from),
                ..Default::default()
            }
            .job_count()
        };
        assert_eq!(jobs(None), cpus);
        assert_eq!(jobs(Some("3")), 3);
        assert_eq!(jobs(Some("-1")), cpus.saturating_sub(1).max(1));
        assert_eq!(jobs(Some("-1000")), 1);
        assert_eq!(jobs(Some("default")), cpus);
    }
}

//! What each command is asked, as the layers below take it: every clap
//! struct of mod.rs turned into its command's own options, field by field.

use super::*;

/// The loader's `attach` options, `--reset-maps` first when asked.
fn with_reset(reset_maps: bool, attach_args: Vec<String>) -> Vec<String> {
    let reset = reset_maps.then(|| "--reset-maps".to_string());
    reset.into_iter().chain(attach_args).collect()
}

impl From<NewArgs> for new::NewOptions {
    fn from(args: NewArgs) -> Self {
        new::NewOptions {
            name: args.name,
            template: args.template,
            path: args.path,
            list: args.list,
            vcs: args.vcs.into(),
        }
    }
}

impl From<BuildArgs> for builder::BuildRequest {
    fn from(args: BuildArgs) -> Self {
        builder::BuildRequest {
            cargo: args.cargo.into(),
            target: args.target,
            all_targets: args.all_targets,
            ndk: args.ndk,
            api: args.api,
            install_targets: args.install_targets,
            manifest_path: args.manifest_path,
        }
    }
}

impl From<RunArgs> for run::RunOptions {
    fn from(args: RunArgs) -> Self {
        run::RunOptions {
            interface: args.interface,
            mode: args.mode,
            cargo: args.cargo.into(),
            manifest_path: args.manifest_path,
            interval: args.interval,
            log: args.log,
            attach_args: with_reset(args.reset_maps, args.attach_args),
        }
    }
}

impl From<TestArgs> for packet_test::TestOptions {
    fn from(args: TestArgs) -> Self {
        packet_test::TestOptions {
            filter: args.filter,
            pcap: args.pcap,
            attach_args: args.attach_args,
            target: args.target,
            device: args.device.chosen(args.adb),
            cargo: args.cargo.into(),
            manifest_path: args.manifest_path,
        }
    }
}

impl From<CheckArgs> for check::CheckOptions {
    fn from(args: CheckArgs) -> Self {
        check::CheckOptions {
            target: args.target,
            device: args.device.chosen(args.adb),
            cargo: args.cargo.into(),
            manifest_path: args.manifest_path,
        }
    }
}

impl From<BenchArgs> for bench::BenchOptions {
    fn from(args: BenchArgs) -> Self {
        bench::BenchOptions {
            filter: args.filter,
            repeat: args.repeat,
            rounds: args.rounds,
            target: args.target,
            device: args.device.chosen(args.adb),
            cargo: args.cargo.into(),
            manifest_path: args.manifest_path,
        }
    }
}

impl From<DeployArgs> for deploy::DeployOptions {
    fn from(args: DeployArgs) -> Self {
        deploy::DeployOptions {
            interface: args.interface,
            device: args.device.into(),
            all_devices: args.all_devices,
            target: args.target,
            mode: args.mode,
            debug: args.debug,
            cargo: args.cargo.into(),
            detach: args.detach,
            persist: args.persist,
            keep_files: args.keep_files,
            manifest_path: args.manifest_path,
            ndk: args.ndk,
            api: args.api,
            attach_args: with_reset(args.reset_maps, args.attach_args),
        }
    }
}

impl From<StatusArgs> for status::StatusOptions {
    fn from(args: StatusArgs) -> Self {
        status::StatusOptions {
            device: args.device.chosen(args.adb),
            cargo: args.cargo.into(),
            json: args.json,
            manifest_path: args.manifest_path,
        }
    }
}

impl From<StatsArgs> for status::StatsOptions {
    fn from(args: StatsArgs) -> Self {
        status::StatsOptions {
            device: args.device.chosen(args.adb),
            cargo: args.cargo.into(),
            watch: args.watch,
            interval: args.interval,
            count: args.count,
            json: args.json,
            manifest_path: args.manifest_path,
        }
    }
}

impl From<LogArgs> for log::LogOptions {
    fn from(args: LogArgs) -> Self {
        let lines = if args.ours {
            trace_view::Lines::Ours
        } else if args.all {
            trace_view::Lines::All
        } else {
            trace_view::Lines::Printk
        };
        log::LogOptions {
            device: args.device.chosen(args.adb),
            cargo: args.cargo.into(),
            lines,
            manifest_path: args.manifest_path,
        }
    }
}

impl From<MapDumpArgs> for map_dump::MapDumpOptions {
    fn from(args: MapDumpArgs) -> Self {
        map_dump::MapDumpOptions {
            device: args.device.chosen(args.adb),
            cargo: args.cargo.into(),
            map: args.map,
            hex: args.hex,
            json: args.json,
            manifest_path: args.manifest_path,
        }
    }
}

impl From<LoaderArgs> for status::LoaderOptions {
    fn from(args: LoaderArgs) -> Self {
        status::LoaderOptions {
            device: args.device.chosen(args.adb),
            cargo: args.cargo.into(),
            manifest_path: args.manifest_path,
            args: args.args,
        }
    }
}

impl From<DoctorArgs> for doctor::DoctorOptions {
    fn from(args: DoctorArgs) -> Self {
        doctor::DoctorOptions {
            target: args.target,
            deploy: args.deploy,
            device: args.device.into(),
            interface: args.interface,
            manifest_path: args.manifest_path,
        }
    }
}

impl From<VmlinuxArgs> for vmlinux::VmlinuxOptions {
    fn from(args: VmlinuxArgs) -> Self {
        vmlinux::VmlinuxOptions {
            device: args.device.chosen(args.adb),
            btf: args.btf,
            output: args.output,
            manifest_path: args.manifest_path,
        }
    }
}

impl From<UpgradeArgs> for upgrade::UpgradeOptions {
    fn from(args: UpgradeArgs) -> Self {
        upgrade::UpgradeOptions {
            manifest_path: args.manifest_path,
        }
    }
}

impl From<CargoFlags> for CargoArgs {
    fn from(flags: CargoFlags) -> Self {
        CargoArgs {
            release: flags.release,
            profile: flags.profile,
            features: flags.features,
            all_features: flags.all_features,
            no_default_features: flags.no_default_features,
            offline: flags.offline,
            locked: flags.locked,
            frozen: flags.frozen,
            jobs: flags.jobs,
            target_dir: flags.target_dir,
            config: flags.config,
        }
    }
}

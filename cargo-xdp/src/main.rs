//! cargo-xdp: scaffold, build, bundle and run XDP packet filters.
//! Each concern lives in its own module; this file parses the command line
//! (cli.rs, clap), hands each command what it is asked as that command's
//! own options, and prints the error: the only place that dispatches.

mod adb;
mod attach;
mod baseline;
mod bench;
mod builder;
mod bundle;
mod capture;
mod cargo_args;
mod cases;
mod check;
mod clang;
mod cli;
mod compile_db;
mod deploy;
mod doctor;
mod elf;
mod embedded;
mod hashing;
mod headers;
mod host;
mod ir;
mod isa;
mod kern;
mod layout;
mod loader_place;
mod loader_stamp;
mod local;
mod log;
mod map_dump;
mod messages;
mod names;
mod ndk;
mod new;
mod packet_test;
mod packets;
mod process;
mod project;
mod remote;
mod run;
mod session;
mod shell;
mod spelling;
mod ssh;
mod status;
mod templates;
mod toolchain;
mod tools;
mod trace_view;
mod transport;
mod typed_maps;
mod uapi;
mod upgrade;
mod user;
mod verifier_log;
mod vmlinux;
mod workdir;
mod workspace;

use std::process::ExitCode;

use anyhow::Result;

use cli::{Command, MapCommand};

fn main() -> ExitCode {
    // Output into a closed pipe (`cargo xdp new --list | head -1`, `stats
    // --watch | head`) ends the process quietly, as it does cargo (which
    // restores this too), instead of a panic on the next print.
    // SAFETY: restoring the default disposition of one signal, before any
    // thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse_from_cargo(std::env::args_os());
    let shell = shell::Shell::with_color(args.quiet, args.verbose, args.message_format, args.color);
    match dispatch(args.command, &shell) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            shell.error(&error);
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command, shell: &shell::Shell) -> Result<()> {
    match command {
        Command::New(args) => new::new(&args.into(), shell),
        Command::Build(args) => builder::build(&args.into(), shell).map(|_| ()),
        Command::Run(args) => run::run(&args.into(), shell),
        Command::Test(args) => packet_test::test(&args.into(), shell),
        Command::Bench(args) => bench::bench(&args.into(), shell),
        Command::Check(args) => check::check(&args.into(), shell),
        Command::Doctor(args) => doctor::doctor(&args.into(), shell),
        Command::Vmlinux(args) => vmlinux::vmlinux(&args.into(), shell),
        Command::Upgrade(args) => upgrade::upgrade(&args.into(), shell),
        Command::Deploy(args) => deploy::deploy(&args.into(), shell),
        Command::Status(args) => status::status(&args.into(), shell),
        Command::Stats(args) => status::stats(&args.into(), shell),
        Command::Log(args) => log::log(&args.into(), shell),
        Command::Map(MapCommand::Dump(args)) => map_dump::map_dump(&args.into(), shell),
        Command::Loader(args) => status::loader(&args.into(), shell),
        Command::Completions(args) => {
            let script = cli::completions(args.shell);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
    }
}

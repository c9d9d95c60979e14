//! cargo-xdp: scaffold, build, bundle and run XDP packet filters.
//! Each concern lives in its own module; this file only dispatches.

mod adb;
mod bench;
mod builder;
mod bundle;
mod capture;
mod cargo_args;
mod clang;
mod cli;
mod deploy;
mod doctor;
mod elf;
mod embedded;
mod fleet;
mod headers;
mod ir;
mod isa;
mod kern;
mod loader_stamp;
mod messages;
mod names;
mod ndk;
mod new;
mod packet_test;
mod packets;
mod project;
mod remote;
mod run;
mod shell;
mod templates;
mod toolchain;
mod tools;
mod uapi;
mod upgrade;
mod user;
mod vmlinux;
mod workdir;
mod workspace;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse_from_cargo(std::env::args_os());
    let shell = shell::Shell::with_color(args.quiet, args.verbose, args.message_format, args.color);
    match cli::dispatch(args, &shell) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            shell.error(&error);
            ExitCode::FAILURE
        }
    }
}

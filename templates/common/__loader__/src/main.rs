//! {{loader}}: the loader of {{name}}. It attaches {{kern}}.o on this
//! machine or on a device, which needs no cargo-xdp at run time.
//!
//! The runtime (the cargo-xdp-loader crate) does attach, detach, status,
//! stats and maps; this project's own part is `rules.rs`, an `Extension` of
//! the runtime: the place for options, commands and map writers of its own.
//! `cargo xdp upgrade` moves the runtime to a newer release.

mod rules;

fn main() {
    cargo_xdp_loader::run("{{name}}", &rules::LOADER);
}

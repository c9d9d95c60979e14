//! icmp-guard-user: the loader of icmp-guard. It attaches icmp-guard-kern.o
//! on this machine or on a device, which needs no cargo-xdp at run time.
//!
//! The runtime (the cargo-xdp-loader crate) does attach, detach, status,
//! stats and maps; this project's own part is `guard.rs`: the `--allow`
//! option of attach and the `allow` and `icmp` commands.

mod guard;

fn main() {
    cargo_xdp_loader::run("icmp-guard", &guard::LOADER);
}

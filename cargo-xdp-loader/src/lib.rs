//! The runtime of the loaders `cargo xdp new` generates: everything a
//! loader does that is not the project's own. A generated loader's `main.rs`
//! names the project and hands over:
//!
//! ```no_run
//! mod rules {
//!     pub struct Rules;
//!     impl cargo_xdp_loader::Extension for Rules {}
//! }
//! fn main() {
//!     cargo_xdp_loader::run("myfilter", &rules::Rules);
//! }
//! ```
//!
//! What it gives the loader, on a phone or board with no cargo-xdp:
//! `attach IFACE` (netlink XDP attach in native or skb mode, the program
//! pinned under `/sys/fs/bpf/NAME/progs/IFACE` and maps under `.../maps/`,
//! re-attach replacing atomically, `--set` for `const volatile` globals,
//! `--tail` for PROG_ARRAY slots), `detach`, `status`, `stats` (per-action
//! counters of the `xdp_stats` map), `maps`, `map dump`. The project adds
//! its options and commands through [`Extension`] (the filter template's
//! rules are one).
//!
//! Modules: [`cli`] (the commands), [`xdp`] (attach, detach, status,
//! counters, pins), [`bpffs`] (mounting it, our checked directories in it),
//! [`interface`] (names checked, index and name), `choose` (which program of
//! the object, its raw-IP variant), [`netlink`] (XDP over rtnetlink), [`setup`]
//! (globals and tail calls), [`maps`] (listing and dumping maps),
//! [`testrun`] (`test-run`: packets through BPF_PROG_TEST_RUN, for `cargo
//! xdp test`), [`args`] (the argument reader: no clap, a loader stays
//! small), [`short_sort`] (sorting without std's per-type sort code); `sys` holds the raw bpf() calls aya does not make.

pub mod args;
pub mod bpffs;
pub mod check;
mod choose;
pub mod cli;
pub mod extension;
pub mod global_data;
pub mod interface;
pub mod maps;
pub mod migrate;
pub mod netlink;
pub mod setup;
pub mod short_sort;
mod sys;
pub mod testrun;
pub mod tracelog;
pub mod variant;
pub mod verifier;
pub mod xdp;

pub use args::Args;
pub use cli::{run, run_with};
pub use extension::{AttachOptions, Extension, NoOptions, Plain};
pub use short_sort::{sort_short, sort_short_by};
pub use xdp::Project;

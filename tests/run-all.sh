#!/usr/bin/env bash
# Every check and test of cargo-xdp: installs what is missing, then format,
# lints, unit, integration and end-to-end tests (root-only ones need root;
# with CI set they fail instead of skipping when not root).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
    tests/setup.sh
else
    echo "run-all: not root: skipping setup; root-only tests will be skipped" >&2
fi
# The tests' stand-in NDK says when it has no real bionic headers, but
# cargo test keeps a passing test's output: say it here, before and after.
bionic="${BIONIC_HEADERS:-$(dirname "$PWD")/shared/ndk/bionic-headers.tgz}"
less_faithful() {
    if [ ! -f "$bionic" ]; then
        echo "run-all: WARNING: no real NDK headers at $bionic (a clone without ../shared):" >&2
        echo "run-all: WARNING: the Android tests use headers made from THIS MACHINE's, LESS FAITHFUL" >&2
        echo "run-all: WARNING: than a real NDK's (tests/fixtures/ndk/README.md); set BIONIC_HEADERS." >&2
    fi
}
less_faithful
# Rust standard libraries for the cross targets (toolchains/*.toml).
rustup target add aarch64-linux-android x86_64-linux-android aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# One cargo target dir for every generated project (tests/common): aya compiles once.
# --release: the end-to-end tests drive the released cargo-xdp binary.
cargo test --workspace --release -- --test-threads 2
# The benchmark, once through (`--quick`): shows it works; numbers come from a full run.
cargo bench -p cargo-xdp --bench xdp -- --quick
less_faithful

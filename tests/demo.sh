#!/usr/bin/env bash
# The main job end to end, on this machine, as root: install what is missing,
# build cargo-xdp, scaffold a filter, build it, attach it to a veth in a
# network namespace, and watch it drop pings; then detach and watch them pass.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (XDP and network namespaces need it)" >&2; exit 1; }
tests/setup.sh

cargo build --release -q -p cargo-xdp
xdp="$PWD/target/release/cargo-xdp"
work=$(mktemp -d)
export CARGO_TARGET_DIR="$PWD/target/test-projects"
ns_a=cxdp-demo-a ns_b=cxdp-demo-b
cleanup() {
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
    rm -rf "$work" /sys/fs/bpf/demofilter
}
trap cleanup EXIT
cleanup; work=$(mktemp -d)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "cargo xdp new demofilter"
(cd "$work" && "$xdp" xdp new demofilter)
step "cargo xdp build"
(cd "$work/demofilter" && "$xdp" xdp build)
bundle="$CARGO_TARGET_DIR/xdp/linux-x86_64/demofilter-linux-x86_64.tar.gz"
tar tzvf "$bundle"
mkdir "$work/unpacked" && tar xzf "$bundle" -C "$work/unpacked"
loader="$work/unpacked/demofilter/demofilter_user"

step "two network namespaces joined by a veth pair"
ip netns add "$ns_a"; ip netns add "$ns_b"
ip link add demo-a netns "$ns_a" type veth peer name demo-b netns "$ns_b"
ip -n "$ns_a" addr add 10.198.0.1/24 dev demo-a
ip -n "$ns_b" addr add 10.198.0.2/24 dev demo-b
ip -n "$ns_a" link set demo-a up; ip -n "$ns_b" link set demo-b up
in_b() { nsenter --net="/var/run/netns/$ns_b" -- "$@"; }
ping_b() { ip netns exec "$ns_a" ping -c 3 -i 0.2 -W 1 10.198.0.2 | tail -n 2; }

step "ping before attaching"
ping_b
step "attach with --drop-proto icmp"
in_b "$loader" attach demo-b --drop-proto icmp
in_b "$loader" status
step "ping while attached (dropped)"
ping_b || true
step "counters"
in_b "$loader" stats
step "detach, ping again"
in_b "$loader" detach demo-b
ping_b

#!/usr/bin/env bash
# The main job end to end, on this machine, as root: install what is missing,
# build cargo-xdp, scaffold a filter, build it, attach it to a veth in a
# network namespace, and watch it drop pings; then detach and watch them pass.
# Then the phone half: cross-build for android-arm64 (through the stand-in
# NDK, as there is no real one here) and deploy over adb to a fake phone
# (tests/fixtures/fake-adb: a namespace with a wlan0), dropping pings there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (XDP and network namespaces need it)" >&2; exit 1; }
tests/setup.sh

cargo build --release -q -p cargo-xdp
xdp="$PWD/target/release/cargo-xdp"
work=$(mktemp -d)
export CARGO_TARGET_DIR="$PWD/target/test-projects"
ns_a=cxdp-demo-a ns_b=cxdp-demo-b ns_phone=cxdp-demo-phone
fake=tests/fixtures/fake-adb
cleanup() {
    "$fake/fake-device.sh" destroy "$work/adb" DEMOPHONE 2>/dev/null || true
    for ns in "$ns_a" "$ns_b" "$ns_phone"; do ip netns del "$ns" 2>/dev/null || true; done
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

step "cross-build for an Android phone (a stand-in NDK made from Debian's LLVM)"
tests/fixtures/ndk/make-standin-ndk.sh "$work/ndk"
(cd "$work/demofilter" && ANDROID_NDK_HOME="$work/ndk" "$xdp" xdp build --release --target android-arm64 --install-targets)
tar tzvf "$CARGO_TARGET_DIR/xdp/android-arm64/demofilter-android-arm64.tar.gz"

step "a fake phone on adb: a namespace with a wlan0, reached from $ns_a"
ip netns add "$ns_phone"
ip link add demo-pc netns "$ns_a" type veth peer name wlan0 netns "$ns_phone"
ip -n "$ns_a" addr add 10.198.1.1/24 dev demo-pc
ip -n "$ns_phone" addr add 10.198.1.2/24 dev wlan0
ip -n "$ns_a" link set demo-pc up; ip -n "$ns_phone" link set wlan0 up
mkdir "$work/adb"
"$fake/fake-device.sh" create "$work/adb" DEMOPHONE "$ns_phone" model=Demo_Phone root=su
export ADB="$PWD/$fake/adb" FAKE_ADB_HOME="$work/adb"
"$ADB" devices -l
ping_phone() { ip netns exec "$ns_a" ping -c 3 -i 0.2 -W 1 10.198.1.2 | tail -n 2; }

step "cargo xdp deploy --adb wlan0 -- --drop-proto icmp (the fake phone runs x86_64 Linux)"
(cd "$work/demofilter" && "$xdp" xdp deploy --adb wlan0 --target linux-x86_64 -- --drop-proto icmp)
step "ping the phone (dropped), then its counters"
ping_phone || true
(cd "$work/demofilter" && "$xdp" xdp stats --adb)
step "cargo xdp deploy --adb wlan0 --detach, ping again"
(cd "$work/demofilter" && "$xdp" xdp deploy --adb wlan0 --detach)
ping_phone

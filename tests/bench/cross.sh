#!/usr/bin/env bash
# Benchmark: loader sizes per target, and the cost of a no-op
# `cargo xdp build --target T` (as users run it: through cargo, which finds
# cargo-xdp on PATH) against a no-op `cargo build` of the same loader with
# the same environment and arguments (what cargo-xdp ran, recorded through
# $CARGO). Prints tables. Ratios come from one run, runs interleaved, so a
# noisy machine shifts both sides alike.
#
#   tests/bench/cross.sh [RUNS]        (default 15)
#
# Uses $ANDROID_NDK_HOME when set (a real NDK), else the stand-in NDK.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-15}
repo=$PWD

cargo build --release -q -p cargo-xdp
xdp=$repo/target/release/cargo-xdp
export PATH="$repo/target/release:$PATH" # `cargo xdp` finds cargo-xdp here
export CARGO_TARGET_DIR=$repo/target/bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "${ANDROID_NDK_HOME:-}" ]; then
    export ANDROID_NDK_HOME=$repo/target/bench/ndk
    [ -f "$ANDROID_NDK_HOME/source.properties" ] || tests/fixtures/ndk/make-standin-ndk.sh "$ANDROID_NDK_HOME" 2>/dev/null
fi
echo "NDK: $ANDROID_NDK_HOME ($(grep Pkg.Revision "$ANDROID_NDK_HOME/source.properties"))"

(cd "$work" && "$xdp" new benchproj -q)
project=$work/benchproj
targets=android-arm64,android-x86_64,linux-arm64,linux-x86_64
(cd "$project" && "$xdp" build -q --release --target "$targets")

echo
echo "Release loader sizes (stripped, as bundled; goal: under 640 KiB)"
printf '%-16s %10s %9s\n' target bytes KiB
for target in ${targets//,/ }; do
    bundle=$CARGO_TARGET_DIR/xdp/$target/benchproj-$target.tar.gz
    bytes=$(tar xzOf "$bundle" benchproj/benchproj_user | wc -c)
    printf '%-16s %10d %9.1f\n' "$target" "$bytes" "$(echo "$bytes / 1024" | bc -l)"
done

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# One no-op comparison: cargo xdp build vs the cargo build it runs.
compare() { # TARGET PROFILE-FLAG...
    local target=$1; shift
    (cd "$project" && "$xdp" build -q --target "$target" "$@")
    # Record what cargo-xdp hands cargo: environment and arguments.
    cat >"$work/cargo-recorder" <<EOF
#!/bin/sh
if [ "\$1" = build ]; then
    export -p >"$work/recorded.env"
    for a in "\$@"; do printf '%s\n' "\$a"; done >"$work/recorded.args"
fi
exec "$(command -v cargo)" "\$@"
EOF
    chmod +x "$work/cargo-recorder"
    (cd "$project" && CARGO=$work/cargo-recorder "$xdp" build -q --target "$target" "$@")
    local xdp_times=() cargo_times=()
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(now); (cd "$project" && cargo xdp build -q --target "$target" "$@"); t1=$(now)
        xdp_times+=($(( (t1 - t0) / 1000 )))
        t0=$(now)
        (cd "$project" && env -i sh -c ". '$work/recorded.env'; exec cargo \"\$@\" >/dev/null" cargo $(tr '\n' ' ' <"$work/recorded.args"))
        t1=$(now)
        cargo_times+=($(( (t1 - t0) / 1000 )))
    done
    local xdp_ms cargo_ms
    xdp_ms=$(printf '%s\n' "${xdp_times[@]}" | median)
    cargo_ms=$(printf '%s\n' "${cargo_times[@]}" | median)
    printf '%-16s %-9s %12.1f %12.1f %7.2f\n' "$target" "${1:---debug}" \
        "$(echo "$xdp_ms / 1000" | bc -l)" "$(echo "$cargo_ms / 1000" | bc -l)" \
        "$(echo "$xdp_ms / $cargo_ms" | bc -l)"
}

echo
echo "No-op build, median of $runs interleaved runs (ms)"
printf '%-16s %-9s %12s %12s %7s\n' target profile "cargo xdp" "cargo" ratio
compare android-arm64
compare android-arm64 --release
compare linux-x86_64

# Last (a different API level means other rustflags: every crate rebuilds).
echo
echo "android-arm64 release loader by API level (relocation packing from 23)"
printf '%-6s %10s %9s\n' api bytes KiB
for api in 21 23 28; do
    (cd "$project" && "$xdp" build -q --release --target android-arm64 --api "$api")
    bytes=$(tar xzOf "$CARGO_TARGET_DIR/xdp/android-arm64/benchproj-android-arm64.tar.gz" benchproj/benchproj_user | wc -c)
    printf '%-6s %10d %9.1f\n' "$api" "$bytes" "$(echo "$bytes / 1024" | bc -l)"
done

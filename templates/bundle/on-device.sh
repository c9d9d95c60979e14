#!/bin/sh
# The on-device half of a {{name}} deploy, shared by `cargo xdp deploy` and
# push-and-attach.sh. Runs as root on the device, from the directory it was
# pushed to, under any POSIX sh (toybox/mksh on Android; no bash needed):
#
#   sh on-device.sh attach IFACE MODE [LOADER ATTACH ARGS...]
#   sh on-device.sh detach IFACE | status [--json] | stats [ARGS...] | remove
#
# `attach` runs from the staging directory the files were pushed to: it
# checks them against MANIFEST, moves them into place, and attaches. A
# failure before the attach removes what was pushed.
set -u
name='{{name}}'
base=/data/local/tmp/cargo-xdp
final=$base/$name
here=$(cd "$(dirname "$0")" && pwd)
loader=${name}_user

fail() {
    echo "error: $*" >&2
    exit 1
}

case "${1:-}" in
attach)
    [ $# -ge 3 ] || fail "usage: on-device.sh attach IFACE MODE [ARGS...]"
    iface=$2
    mode=$3
    shift 3
    cd "$here" || fail "cannot enter $here"
    discard() {
        cd / && rm -rf "$here"
        fail "$*"
    }
    if command -v sha256sum >/dev/null 2>&1; then
        sed -n 's/^sha256: //p' MANIFEST >.sums || discard "no MANIFEST in $here"
        if ! sha256sum -c .sums >.sums.out 2>&1; then
            cat .sums.out >&2
            discard "the pushed files do not match MANIFEST (a broken push?); nothing was attached"
        fi
        rm -f .sums .sums.out
    else
        echo "warning: no sha256sum on this device: pushed files not verified" >&2
    fi
    [ -e "/sys/class/net/$iface" ] ||
        discard "no interface $iface on this device; it has: $(ls /sys/class/net | tr '\n' ' ')"
    chmod 755 "$loader" || discard "cannot make $loader executable"
    # Into place: the staging directory replaces the last deploy's files.
    if [ "$here" != "$final" ]; then
        rm -rf "$final" && mv "$here" "$final" || discard "cannot move the files to $final"
    fi
    cd "$final" || fail "cannot enter $final"
    "./$loader" attach "$iface" --mode "$mode" "$@" || exit 1
    printf 'status-json: '
    "./$loader" status --json
    ;;
detach)
    [ $# -eq 2 ] || fail "usage: on-device.sh detach IFACE"
    [ -x "$final/$loader" ] || fail "$name is not deployed on this device ($final/$loader is missing)"
    "$final/$loader" detach "$2"
    ;;
status | stats)
    [ -x "$final/$loader" ] || fail "$name is not deployed on this device ($final/$loader is missing)"
    "$final/$loader" "$@"
    ;;
remove)
    rm -rf "$final" "$base/.$name.partial"
    ;;
*)
    fail "usage: on-device.sh attach|detach|status|stats|remove ..."
    ;;
esac

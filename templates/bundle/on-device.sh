#!/bin/sh
# The on-device half of a {{name}} deploy, shared by `cargo xdp deploy` and
# push-and-attach.sh. Root runs it only from its own copy in
# /data/local/cargo-xdp, after root-entry.sh checked that copy's sha256
# (see there); it needs only mksh (or any POSIX sh) and toybox.
#
#   sh on-device.sh install HASHER STAGE IFACE MODE [LOADER ATTACH ARGS...]
#   sh on-device.sh detach IFACE | status [--json] | stats [ARGS...] | test-run |
#                   bench REPEAT | remove
#
# `install` runs from /data/local/cargo-xdp/.{{name}}.new: it copies the
# other files from the shell user's STAGE (no more bytes than MANIFEST
# says), checks every copy against MANIFEST, attaches from there, and only
# then replaces the last deploy's files. A failure leaves the last deploy
# as it was, attached or not, and prints what is attached now.
set -u
umask 077
name='{{name}}'
base=/data/local/cargo-xdp
final=$base/$name
new=$base/.$name.new
old=$base/.$name.old
loader='{{loader}}'

fail() {
    echo "error: $*" >&2
    exit 1
}

# What is attached now, as the last deploy's loader sees it.
show_previous() {
    if [ -x "$final/$loader" ]; then
        printf 'previous-json: '
        "$final/$loader" status --json || echo '{}'
    fi
}

case "${1:-}" in
install)
    [ $# -ge 5 ] || fail "usage: on-device.sh install HASHER STAGE IFACE MODE [ARGS...]"
    hasher=$2
    stage=$3
    iface=$4
    mode=$5
    shift 5
    cd "$new" || fail "cannot enter $new"
    discard() {
        cd / && rm -rf "$new"
        show_previous
        fail "$*"
    }
    while read -r tag size file; do
        [ "$tag" = size: ] || continue
        case $file in
        on-device.sh) continue ;; # root's copy is already here, checked
        '' | */* | .* | MANIFEST) discard "MANIFEST names a file cargo-xdp never bundles: $file" ;;
        esac
        head -c "$size" "$stage/$file" >"$file" ||
            discard "cannot copy $file from $stage; nothing was attached"
    done <MANIFEST
    while read -r tag sum file; do
        [ "$tag" = sha256: ] || continue
        got=$($hasher "$file" 2>/dev/null) || got=missing
        [ "${got%% *}" = "$sum" ] ||
            discard "$file does not match MANIFEST (a broken push, or changed on the device while staged); nothing was attached"
    done <MANIFEST
    chmod 0700 "$loader" || discard "cannot make $loader executable"
    [ -e "/sys/class/net/$iface" ] ||
        discard "no interface $iface on this device; it has: $(echo $(ls /sys/class/net))"
    if ! "./$loader" attach "$iface" --mode "$mode" "$@"; then
        discard "the loader could not attach $name to $iface"
    fi
    # Attached from the new files: now they replace the last deploy's.
    rm -rf "$old"
    if [ -d "$final" ]; then
        mv "$final" "$old" || fail "attached, but cannot move $final aside"
    fi
    mv "$new" "$final" || fail "attached, but cannot move the files to $final"
    rm -rf "$old"
    cd "$final" || fail "cannot enter $final"
    printf 'status-json: '
    "./$loader" status --json
    ;;
detach)
    [ $# -eq 2 ] || fail "usage: on-device.sh detach IFACE"
    "$final/$loader" detach "$2"
    ;;
status | stats)
    "$final/$loader" "$@"
    ;;
test-run | bench)
    # The bundle's packet tests (STEM.cases, for STEM.o) through this
    # kernel. Their sha256s come from MANIFEST, checked at install, so the
    # host knows these are the cases it has. `bench REPEAT` runs each case
    # REPEAT times in the kernel, then again on the bare XDP_PASS baseline.
    action=$1
    if [ "$action" = bench ]; then
        [ $# -eq 2 ] || fail "usage: on-device.sh bench REPEAT"
        case $2 in '' | *[!0-9]*) fail "bench: REPEAT must be a number, not $2" ;; esac
    fi
    cd "$final" || fail "$name is not deployed here"
    found=
    while read -r tag sum file; do
        [ "$tag" = sha256: ] || continue
        case $file in *.cases) echo "cases-sha256: $sum $file" && found=1 ;; esac
    done <MANIFEST
    [ -n "$found" ] || fail "the deployed $name carries no packet tests: write cases in its kern tests/ directory and deploy again"
    for cases in *.cases; do
        if [ "$action" = test-run ]; then
            "./$loader" test-run "$cases" --object "./${cases%.cases}.o" || exit
            continue
        fi
        [ -f xdp-baseline.o ] || fail "the deployed $name has no baseline (xdp-baseline.o): deploy it again with this cargo-xdp"
        echo "bench-program: $cases"
        "./$loader" test-run "$cases" --object "./${cases%.cases}.o" --repeat "$2" || exit
        echo "bench-baseline: $cases"
        "./$loader" test-run "$cases" --object ./xdp-baseline.o --repeat "$2" --bare || exit
    done
    ;;
remove)
    rm -rf "$final" "$new" "$old"
    ;;
*)
    fail "usage: on-device.sh install|detach|status|stats|test-run|remove ..."
    ;;
esac

#!/bin/sh
# The on-device half of a {{name}} deploy, shared by `cargo xdp deploy` and
# push-and-attach.sh. Root runs it only from its own copy in
# /data/local/cargo-xdp, after root-entry.sh checked that copy's sha256
# and took the project's lock (see there); it needs only mksh (or any POSIX
# sh) and toybox.
#
#   sh on-device.sh install HASHER WORK IFACE MODE [LOADER ATTACH ARGS...]
#   sh on-device.sh detach IFACE | status [--json] | stats [ARGS...] | test-run |
#                   bench REPEAT | remove | loader COMMAND [ARGS...] |
#                   persist HASHER KIND IFACE MODE [ARGS...] | boot HASHER IFACE MODE [ARGS...]
#   sh on-device.sh try HASHER WORK test-run [CASES OBJECT] | bench REPEAT [ROUNDS] | check
#
# `install` runs in WORK/c, root's private copy of one install: root-entry
# moved the staged files to WORK/s (root's now, every entry a regular
# file, so no read of them can block). It copies the other files from
# there (no more bytes than MANIFEST says),
# checks every copy against MANIFEST, marks WORK/attaching, attaches from
# there, and only then swaps WORK/c for the last deploy's files. A failure
# exits non-zero; root-entry then heals (a copy that may have attached
# becomes the deployed one, anything else goes) and prints what is
# attached now.
set -u
umask 077
name='{{name}}'
# root-entry.sh says where root's files are (a phone's or a board's layout).
base=${b:-/data/local/cargo-xdp}
final=$base/$name
old=$base/.$name.old
loader='{{loader}}'

fail() {
    echo "error: $*" >&2
    exit 1
}

# Root's copies of the staged files ($work/s) in $work/c, each checked
# against MANIFEST; the current directory is then $work/c.
take_copies() {
    cd "$work/c" || fail "cannot enter $work/c"
    # Root's now, so no entry can change: refuse any that is not a regular
    # file (a FIFO or device would block a read; a link could name anything).
    for entry in "$work/s"/* "$work/s"/.*; do
        case ${entry##*/} in . | .. | '*' | '.*') continue ;; esac
        [ -f "$entry" ] && [ ! -L "$entry" ] ||
            fail "the staged ${entry##*/} is not a regular file (changed on the device?); nothing was attached"
    done
    while read -r tag size file; do
        [ "$tag" = size: ] || continue
        case $file in
        on-device.sh) continue ;; # root's copy is already here, checked
        '' | */* | .* | MANIFEST) fail "MANIFEST names a file cargo-xdp never bundles: $file; nothing was attached" ;;
        esac
        [ -f "$work/s/$file" ] && [ ! -L "$work/s/$file" ] ||
            fail "the staged $file is missing or not a regular file; nothing was attached"
        head -c "$size" "$work/s/$file" >"$file" ||
            fail "cannot copy $file from the staged files; nothing was attached"
    done <MANIFEST
    check_sums " (a broken push, or changed on the device while staged); nothing was attached"
    chmod 0700 "$loader" || fail "cannot make $loader executable; nothing was attached"
}

# Every file MANIFEST names, in the current directory, against its sha256
# with $hasher; a file that differs fails, the message ending with $1.
check_sums() {
    while read -r tag sum file; do
        [ "$tag" = sha256: ] || continue
        case $file in '' | */* | .*) fail "MANIFEST names $file" ;; esac
        got=$($hasher "$file" 2>/dev/null) || got=missing
        [ "${got%% *}" = "$sum" ] || fail "$file does not match MANIFEST$1"
    done <MANIFEST
}

# Every kern object of the copy in the current directory through this
# kernel's verifier (`cargo xdp check`): the loader loads each program,
# attaches nothing; a kernel variant (STEM.kX.Y.o) comes with its object.
run_check() {
    found=
    for object in *.o; do
        case $object in xdp-baseline.o | *.k[0-9]*.o) continue ;; esac
        [ -f "$object" ] || continue
        found=1
        variants=
        [ -f "${object%.o}.variants" ] && variants=--variants
        "./$loader" check --object "./$object" $variants || exit
    done
    [ -n "$found" ] || fail "$name carries no kern object"
}

# The packet tests (STEM.cases, for STEM.o) of the copy in the current
# directory through this kernel: `test-run [CASES OBJECT]` (only CASES, a
# capture's frames, against OBJECT) or `bench REPEAT [ROUNDS]`
# (each case REPEAT times in the kernel, then on the bare XDP_PASS
# baseline). Their sha256s come from MANIFEST, checked when copied, so the
# host knows these are the cases it has.
run_cases() {
    action=$1
    rounds=1
    if [ "$action" = bench ]; then
        [ $# -eq 2 ] || [ $# -eq 3 ] || fail "usage: on-device.sh bench REPEAT [ROUNDS]"
        rounds=${3:-1}
        case $2.$rounds in *[!0-9.]* | .* | *.) fail "bench: REPEAT and ROUNDS must be numbers" ;; esac
    fi
    only=
    if [ "$action" = test-run ] && [ $# -ge 2 ]; then
        [ $# -eq 3 ] || fail "usage: on-device.sh test-run [CASES OBJECT]"
        only=$2
        object=$3
        for file in "$only" "$object"; do
            case $file in '' | */* | .*) fail "test-run: $file is not a file of the copy" ;; esac
            [ -f "$file" ] || fail "test-run: no $file here"
        done
    fi
    if [ -n "$only" ]; then
        "./$loader" test-run "$only" --object "./$object" || exit
        return
    fi
    found=
    while read -r tag sum file; do
        [ "$tag" = sha256: ] || continue
        case $file in *.cases) echo "cases-sha256: $sum $file" && found=1 ;; esac
    done <MANIFEST
    [ -n "$found" ] || fail "$name carries no packet tests: write cases in its kern tests/ directory"
    if [ "$action" = test-run ]; then
        for cases in *.cases; do
            # Again on each kernel variant the object has (STEM.variants).
            variants=
            [ -f "${cases%.cases}.variants" ] && variants=--variants
            "./$loader" test-run "$cases" --object "./${cases%.cases}.o" $variants || exit
        done
        return
    fi
    [ -f xdp-baseline.o ] || fail "$name has no baseline (xdp-baseline.o): build it again with this cargo-xdp"
    round=0
    while [ $round -lt "$rounds" ]; do
        round=$((round + 1))
        echo "bench-round: $round"
        for cases in *.cases; do
            echo "bench-program: $cases"
            variants=
            [ -f "${cases%.cases}.variants" ] && variants=--variants
            "./$loader" test-run "$cases" --object "./${cases%.cases}.o" --repeat "$2" $variants || exit
            echo "bench-baseline: $cases"
            "./$loader" test-run "$cases" --object ./xdp-baseline.o --repeat "$2" --bare || exit
        done
    done
}

case "${1:-}" in
install)
    [ $# -ge 5 ] || fail "usage: on-device.sh install HASHER WORK IFACE MODE [ARGS...]"
    hasher=$2
    work=$3
    iface=$4
    mode=$5
    shift 5
    take_copies
    [ -e "/sys/class/net/$iface" ] ||
        fail "no interface $iface on this device; it has: $(echo $(ls /sys/class/net))"
    # From here the loader may attach from this copy: if this run is cut
    # short, root-entry makes it the deployed one (its pins carry the program).
    : >"$work/attaching" || fail "cannot write in $work"
    if ! "./$loader" attach "$iface" --mode "$mode" "$@"; then
        # The loader leaves nothing new attached when it fails.
        rm -f "$work/attaching"
        fail "the loader could not attach $name to $iface"
    fi
    # Attached from the new files: now they replace the last deploy's.
    rm -rf "$old"
    if [ -d "$final" ]; then
        mv "$final" "$old" || fail "attached, but cannot move $final aside"
    fi
    mv "$work/c" "$final" || fail "attached, but cannot move the files to $final"
    rm -rf "$old"
    cd "$final" || fail "cannot enter $final"
    # Persisted by an earlier deploy: the boot script now checks this copy.
    if [ -f ./boot.sh ]; then
        . ./boot.sh
        persist_refresh "$hasher" "$iface" "$mode" "$@" || exit
    fi
    printf 'status-json: '
    "./$loader" status --json
    ;;
detach)
    [ $# -eq 2 ] || fail "usage: on-device.sh detach IFACE"
    "$final/$loader" detach "$2" || exit
    [ ! -f "$final/boot.sh" ] || { . "$final/boot.sh" && persist_off "$2"; }
    ;;
status | stats)
    "$final/$loader" "$@" || exit
    if [ "$*" = status ] && [ -f "$base/.$name.persist" ]; then
        read -r kind hook iface <"$base/.$name.persist"
        echo "persisted: $kind ($hook) attaches it to $iface at boot"
        [ ! -f "$base/.$name.boot.log" ] || echo "last boot: $(tail -n 1 "$base/.$name.boot.log")"
    fi
    ;;
persist)
    # deploy --persist: from root's deployed copy (checked when installed).
    shift
    . "$final/boot.sh"
    persist_on "$@"
    ;;
boot)
    # What the boot script runs, in $final.
    shift
    . ./boot.sh
    boot_attach "$@"
    ;;
loader)
    # Any command of root's checked copy (`cargo xdp loader --adb`), but
    # none that makes it open a path it is given: that file could be the
    # shell user's.
    shift
    [ $# -gt 0 ] || fail "usage: on-device.sh loader COMMAND [ARGS...]"
    [ "$1" != test-run ] || fail "test-run is not run through \`loader\`: use \`cargo xdp test --adb\`"
    for arg in "$@"; do
        case $arg in --object | --object=* | --bpffs | --bpffs=* | --tracefs | --tracefs=*)
            fail "$arg is not taken through \`loader\`: root would open a file the shell user can change" ;;
        esac
    done
    "$final/$loader" "$@"
    ;;
test-run | bench)
    cd "$final" || fail "$name is not deployed here"
    run_cases "$@"
    ;;
try)
    # A trial: packet tests or a bench from root's checked copies in
    # WORK/c, never attached (root-entry removes WORK after).
    [ $# -ge 4 ] || fail "usage: on-device.sh try HASHER WORK test-run [CASES OBJECT] | bench REPEAT [ROUNDS] | check"
    hasher=$2
    work=$3
    shift 3
    take_copies
    if [ "$1" = check ]; then
        [ $# -eq 1 ] || fail "usage: on-device.sh try HASHER WORK check"
        run_check
    else
        run_cases "$@"
    fi
    ;;
remove)
    [ ! -f "$final/boot.sh" ] || { . "$final/boot.sh" && persist_off; }
    rm -rf "$final" "$old" "$base/.$name.new"
    ;;
*)
    fail "usage: on-device.sh install|try|detach|status|stats|test-run|bench|remove|loader ..."
    ;;
esac

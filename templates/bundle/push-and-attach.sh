#!/bin/sh
# Push this bundle to a device over adb and attach {{name}} to an interface.
# Needs only adb on this side; on the device, root (adb root, or su).
#
#   ./push-and-attach.sh [-s SERIAL] [--mode auto|skb|native] IFACE [-- LOADER ARGS]
#   ./push-and-attach.sh [-s SERIAL] --detach IFACE
set -eu

name='{{name}}'
here=$(cd "$(dirname "$0")" && pwd)
remote="/data/local/tmp/cargo-xdp/$name"
adb=${ADB:-adb}
mode=auto
detach=0
iface=''

die() { echo "push-and-attach.sh: $*" >&2; exit 1; }
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        -s) [ $# -ge 2 ] || die "-s needs a serial"; ANDROID_SERIAL=$2; export ANDROID_SERIAL; shift 2 ;;
        --mode) [ $# -ge 2 ] || die "--mode needs auto, skb or native"; mode=$2; shift 2 ;;
        --detach) detach=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [ -z "$iface" ] || die "one interface only"; iface=$1; shift ;;
    esac
done
[ -n "$iface" ] || { usage >&2; exit 2; }
case "$mode" in auto|skb|native) ;; *) die "--mode must be auto, skb or native" ;; esac
# Interface names go into a device shell command: allow only what Linux allows.
if [ ${#iface} -gt 15 ] || ! printf '%s' "$iface" | grep -Eq '^[A-Za-z0-9_.:-]+$'; then
    die "'$iface' is not an interface name (at most 15 of A-Z a-z 0-9 _ . : -)"
fi
command -v "$adb" >/dev/null 2>&1 || die "adb not found: install Android platform-tools or set ADB"

# Quote one argument for the device shell.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

extra=''
for arg in "$@"; do extra="$extra $(q "$arg")"; done

# Run a command on the device as root; prints its output, returns its status
# (read from a sentinel: old adbd loses the exit status).
as_root() {
    out=$("$adb" shell "if [ \"\$(id -u)\" = 0 ]; then $1; elif command -v su >/dev/null; then su 0 sh -c $(q "$1") || su -c $(q "$1"); else echo 'XDP needs root on the device: use adb root (userdebug builds) or a rooted phone with su' >&2; false; fi; echo __rc=\$?" 2>&1) || true
    printf '%s\n' "$out" | grep -v '^__rc=' || true
    rc=$(printf '%s\n' "$out" | sed -n 's/^__rc=\([0-9]*\).*/\1/p' | tail -n 1)
    [ "${rc:-1}" = 0 ]
}

loader="$remote/${name}_user"
if [ "$detach" = 1 ]; then
    as_root "$(q "$loader") detach $(q "$iface")"
    exit $?
fi

state=$("$adb" get-state 2>&1) || die "no usable device: $state"
"$adb" shell "mkdir -p $(q "$remote")" >/dev/null
"$adb" push "$here/${name}_user" "$here/${name}_kern.o" "$here/MANIFEST" "$remote/" >/dev/null
as_root "cd $(q "$remote") && chmod 755 $(q "${name}_user") && ./$(q "${name}_user") attach $(q "$iface") --mode $(q "$mode")$extra && ./$(q "${name}_user") status"

#!/bin/sh
# Push this bundle to a device over adb and attach {{name}} to an interface,
# with nothing but adb on this side. The device needs root: the shell is
# root, or `adb root` works (userdebug/eng builds), or su exists.
#
#   ./push-and-attach.sh [-s SERIAL] [--mode auto|skb|native] IFACE [-- LOADER ARGS]
#   ./push-and-attach.sh [-s SERIAL] --detach IFACE
#
# Same steps as `cargo xdp deploy --adb` (keep them in step with
# cargo-xdp/src/remote.rs): choose the device, one probe, one push, one
# shell running on-device.sh as root. $ADB picks the adb binary.
set -eu

name='{{name}}'
here=$(cd "$(dirname "$0")" && pwd)
base=/data/local/tmp/cargo-xdp
stage="$base/.$name.partial"
final="$base/$name"
adb=${ADB:-adb}
mode=auto
detach=0
iface=''
serial=${ANDROID_SERIAL:-}

die() {
    echo "push-and-attach.sh: error: $*" >&2
    exit 1
}
usage() { sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
    -s)
        [ $# -ge 2 ] || die "-s needs a serial"
        serial=$2
        shift 2
        ;;
    --mode)
        [ $# -ge 2 ] || die "--mode needs auto, skb or native"
        mode=$2
        shift 2
        ;;
    --detach)
        detach=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    --)
        shift
        break
        ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
        [ -z "$iface" ] || die "one interface only (got $iface and $1)"
        iface=$1
        shift
        ;;
    esac
done
[ -n "$iface" ] || {
    usage >&2
    exit 2
}
case "$mode" in auto | skb | native) ;; *) die "--mode $mode is not a mode: use auto, skb or native" ;; esac
# Interface names reach a device shell: allow only what Linux allows.
if [ ${#iface} -gt 15 ] || ! printf '%s' "$iface" | grep -Eq '^[A-Za-z0-9_.:-]+$'; then
    die "'$iface' is not an interface name: Linux allows 1 to 15 of A-Z a-z 0-9 _ . : -"
fi
command -v "$adb" >/dev/null 2>&1 || die "adb not found: install Android platform-tools (apt-get install adb) or set ADB"

# Quote one argument for the device shell: '...' with ' spelled '\''.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# What follows -- goes to the loader's attach, each argument quoted.
extra=''
for arg in "$@"; do extra="$extra $(q "$arg")"; done

# --- Choose the device (adb devices -l), with the same errors as cargo xdp.
devices=$("$adb" devices -l 2>&1) || die "adb devices failed: $devices"
lines=$(printf '%s\n' "$devices" | grep -v '^List of devices' | grep -v '^\*' | grep -v '^[[:space:]]*$' || true)
if [ -n "$serial" ]; then
    line=$(printf '%s\n' "$lines" | awk -v s="$serial" '$1 == s' | head -n 1)
    [ -n "$line" ] || die "no device \`$serial\` is connected; check the serial with \`adb devices\`"
else
    count=$(printf '%s\n' "$lines" | grep -c . || true)
    [ "$count" -gt 0 ] || die "no Android device found: connect one with USB debugging on and check that \`adb devices\` lists it"
    if [ "$count" -gt 1 ]; then
        echo "push-and-attach.sh: error: $count devices are connected; choose one with -s SERIAL (or ANDROID_SERIAL):" >&2
        printf '%s\n' "$lines" | awk '{m="-"; for (i = 2; i <= NF; i++) if ($i ~ /^model:/) m = substr($i, 7); print "  " $1 "  " m "  " $2}' >&2
        exit 1
    fi
    line=$lines
fi
serial=$(printf '%s\n' "$line" | awk '{print $1}')
state=$(printf '%s\n' "$line" | awk '{print $2 ($3 == "permissions" ? " permissions" : "")}')
case "$state" in
device) ;;
unauthorized) die "device $serial is unauthorized: unlock it and accept the \"Allow USB debugging?\" prompt, then try again" ;;
offline) die "device $serial is offline: replug the cable or run \`adb reconnect\`" ;;
"no permissions") die "no permission to use device $serial over USB: install udev rules for Android devices or join the plugdev group, then replug it" ;;
*) die "device $serial is \`$state\`, not ready; check \`adb devices\`" ;;
esac

# Runs one device command ending in the __rc sentinel; prints its output
# (not the sentinel) and returns the status the sentinel reported.
run() {
    out=$("$adb" -s "$serial" shell "$1" 2>&1) || true
    printf '%s\n' "$out" | grep -v '^__rc=' || true
    rc=$(printf '%s\n' "$out" | sed -n 's/^__rc=\([0-9]*\).*/\1/p' | tail -n 1)
    [ "${rc:-255}" = 0 ]
}

# --- Probe: identity, ABI, su, the interface (cargo-xdp's remote::probe_command).
probe='uid=$(id -u); echo uid=$uid; echo abi=$(getprop ro.product.cpu.abi); dbg=$(getprop ro.debuggable); echo debuggable=$dbg; su=none; if [ "$uid" != 0 ] && command -v su >/dev/null 2>&1; then if [ "$(su 0 id -u 2>/dev/null)" = 0 ]; then su=su0; elif [ "$(su -c '"'id -u'"' 2>/dev/null)" = 0 ]; then su=suc; fi; fi; echo su=$su; '
if [ "$detach" = 0 ]; then
    probe="${probe}if [ -e /sys/class/net/$(q "$iface") ]; then echo iface=yes; if [ \"\$uid\" = 0 ] || [ \$su != none ] || [ \"\$dbg\" = 1 ]; then rm -rf $(q "$stage") && mkdir -p $(q "$stage"); fi; else echo iface=no \$(ls /sys/class/net | tr '\\n' ' '); fi; "
fi
facts=$(run "${probe}echo __rc=0") || die "cannot probe $serial: $facts"
fact() { printf '%s\n' "$facts" | sed -n "s/^$1=//p" | head -n 1; }

# --- Root: the shell, else adb root (userdebug/eng), else su; else stop.
wrap=''
if [ "$(fact uid)" = 0 ]; then
    wrap=shell
elif [ "$(fact debuggable)" = 1 ] && "$adb" -s "$serial" root 2>&1 | grep -qv 'cannot run as root' &&
    "$adb" -s "$serial" wait-for-device; then
    wrap=shell
elif [ "$(fact su)" = su0 ]; then
    wrap=su0
elif [ "$(fact su)" = suc ]; then
    wrap=suc
else
    die "XDP needs root on the device, and $serial offers no way to it: its shell is uid $(fact uid), \`adb root\` works only on userdebug/eng builds, and there is no working su. Use a userdebug/eng build or a rooted phone with su (Magisk); nothing was pushed"
fi

# sh SCRIPT ARGS... as root (plus $tail, already quoted), then the sentinel.
tail=''
as_root() {
    command="sh"
    for arg in "$@"; do command="$command $(q "$arg")"; done
    command="$command$tail"
    case $wrap in
    shell) printf '%s; echo __rc=$?' "$command" ;;
    su0) printf 'su 0 %s; echo __rc=$?' "$command" ;;
    suc) printf 'su -c %s; echo __rc=$?' "$(q "$command")" ;;
    esac
}

if [ "$detach" = 1 ]; then
    run "$(as_root "$final/on-device.sh" detach "$iface")" || die "detach on $serial failed (see above)"
    exit 0
fi

iface_fact=$(fact iface)
case "$iface_fact" in
yes) ;;
*) die "$serial has no interface $iface; it has: ${iface_fact#no }" ;;
esac

# --- One push of every file of the bundle, one shell to check and attach.
set --
for file in "$here"/*; do set -- "$@" "$file"; done
if ! "$adb" -s "$serial" push "$@" "$stage/" >/dev/null; then
    "$adb" -s "$serial" shell "rm -rf $(q "$stage")" >/dev/null 2>&1 || true
    die "adb push to $serial failed; nothing was attached"
fi
tail=$extra
out=$("$adb" -s "$serial" shell "$(as_root "$stage/on-device.sh" attach "$iface" "$mode")" 2>&1) || true
printf '%s\n' "$out" | grep -v -e '^__rc=' -e '^status-json: ' || true
rc=$(printf '%s\n' "$out" | sed -n 's/^__rc=\([0-9]*\).*/\1/p' | tail -n 1)
[ "${rc:-255}" = 0 ] || die "attaching $name to $iface on $serial failed (see above); nothing is attached"
# Verify: the loader's status must list the interface.
status=$(printf '%s\n' "$out" | sed -n 's/^status-json: //p')
case "$status" in
*"\"interface\":\"$iface\""*) ;;
*) die "the loader said it attached, but its status on $serial lists nothing on $iface" ;;
esac
attached_mode=$(printf '%s\n' "$status" | sed -n "s/.*\"interface\":\"$iface\",\"mode\":\"\([a-z]*\)\".*/\1/p")
echo "push-and-attach.sh: $name attached to $iface on $serial in ${attached_mode:-?} mode"

#!/bin/sh
# Push this bundle to a device over adb and attach {{name}} to an interface,
# with nothing but adb on this side. The device needs root: the shell is
# root, or `adb root` works (userdebug/eng builds), or su exists.
#
#   ./push-and-attach.sh [-s SERIAL] [--mode auto|skb|native] [--adb-timeout SECS] IFACE [-- LOADER ARGS]
#   ./push-and-attach.sh [-s SERIAL] --detach IFACE
#   ./push-and-attach.sh [-s SERIAL] --status
#
# Same steps as `cargo xdp deploy --adb` (keep them in step with
# cargo-xdp/src/remote.rs): choose the device, one probe, one push, one
# shell in which root copies the files into its own directory, checks them
# and attaches. $ADB picks the adb binary. Runs under any POSIX sh with only
# toybox's utilities (no awk, no tr), so also on a device.
set -eu

name='{{name}}'
here=$(cd "$(dirname "$0")" && pwd)
stage="/data/local/tmp/cargo-xdp/.$name.partial"
adb=${ADB:-adb}
mode=auto
detach=0
status=0
iface=''
serial=${ANDROID_SERIAL:-}
limit=60
cr=$(printf '\r')

die() {
    echo "push-and-attach.sh: error: $*" >&2
    exit 1
}
usage() { sed -n '5,7p' "$0" | sed 's/^# \{0,1\}//'; }
# Quote one argument for the device shell: '...' with ' spelled '\''.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

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
    --adb-timeout)
        [ $# -ge 2 ] || die "--adb-timeout needs a number of seconds"
        limit=$2
        shift 2
        ;;
    --detach)
        detach=1
        shift
        ;;
    --status)
        status=1
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
[ -n "$iface" ] || [ "$status" = 1 ] || {
    usage >&2
    exit 2
}
case "$mode" in auto | skb | native) ;; *) die "--mode $mode is not a mode: use auto, skb or native" ;; esac
case "$limit" in '' | *[!0-9]* | 0) die "--adb-timeout $limit is not a number of seconds (1 or more)" ;; esac
# Interface names reach a device shell: allow only what Linux allows.
if [ "$status" = 0 ] && { [ ${#iface} -gt 15 ] || [ "$iface" = . ] || [ "$iface" = .. ] || ! printf '%s' "$iface" | grep -Eq '^[A-Za-z0-9_.-]+$'; }; then
    die "'$iface' is not an interface name: Linux allows 1 to 15 of A-Z a-z 0-9 _ . -"
fi
# What follows -- goes to the loader's attach, each argument quoted.
extra=''
for arg in "$@"; do extra="$extra $(q "$arg")"; done
command -v "$adb" >/dev/null 2>&1 || die "adb not found: install Android platform-tools (apt-get install adb) or set ADB"

# Every adb call: no stdin (adb forwards ours, and would eat a caller's
# `while read` list), a time limit where `timeout` exists, no \r (adbd
# before Android 7 answers through a pty).
limited() {
    if command -v timeout >/dev/null 2>&1; then
        timeout "$limit" "$@" </dev/null
    else
        "$@" </dev/null
    fi
}
call() {
    said_rc=0
    said=$(limited "$adb" "$@" 2>&1) || said_rc=$?
    printf '%s\n' "$said" | sed "s/$cr\$//"
    return $said_rc
}


# --- Choose the device (adb devices -l), with the same errors as cargo xdp.
devices=$(call devices -l) || die "adb devices failed: $devices"
lines=$(printf '%s\n' "$devices" | grep -v '^List of devices' | grep -v '^\*' | grep -v '^[[:space:]]*$' || true)
# The model: field of one `adb devices -l` line, or -.
model_of() {
    m=-
    for word in $1; do
        case $word in model:*) m=${word#model:} ;; esac
    done
    echo "$m"
}
line=''
count=0
listing=''
set -f # the lines are split into words, never globbed
while IFS= read -r entry; do
    [ -n "$entry" ] || continue
    count=$((count + 1))
    set -- $entry
    listing="$listing  $1  $(model_of "$entry")  $2
"
    if [ -n "$serial" ] && [ "$1" = "$serial" ]; then line=$entry; fi
done <<EOF
$lines
EOF
if [ -n "$serial" ]; then
    [ -n "$line" ] || die "no device \`$serial\` is connected; check the serial with \`adb devices\`"
else
    [ "$count" -gt 0 ] || die "no Android device found: connect one with USB debugging on and check that \`adb devices\` lists it"
    if [ "$count" -gt 1 ]; then
        echo "push-and-attach.sh: error: $count devices are connected; choose one with -s SERIAL (or ANDROID_SERIAL):" >&2
        printf '%s' "$listing" >&2
        exit 1
    fi
    line=$lines
fi
set -- $line
serial=$1
state=$2
[ "${3:-}" = permissions ] && state="$state permissions"
set +f
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
    out=$(call -s "$serial" shell "$1") || true
    printf '%s\n' "$out" | grep -v '^__rc=' || true
    rc=$(printf '%s\n' "$out" | sed -n 's/^__rc=\([0-9]*\).*/\1/p' | tail -n 1)
    [ "${rc:-255}" = 0 ]
}

# --- Probe: identity, ABI, su, a sha256 tool, the interface (cargo-xdp's
# remote::probe_command).
probe='uid=$(id -u); echo uid=$uid; echo abi=$(getprop ro.product.cpu.abi); echo sdk=$(getprop ro.build.version.sdk); echo kernel=$(uname -r); dbg=$(getprop ro.debuggable); echo debuggable=$dbg; su=none; if [ "$uid" != 0 ] && command -v su >/dev/null 2>&1; then if [ "$(su 0 id -u </dev/null 2>/dev/null)" = 0 ]; then su=su0; elif [ "$(su -c '"'id -u'"' </dev/null 2>/dev/null)" = 0 ]; then su=suc; fi; fi; echo su=$su; hash=none; if command -v sha256sum >/dev/null 2>&1; then hash=sha256sum; elif toybox sha256sum </dev/null >/dev/null 2>&1; then hash='"'toybox sha256sum'"'; elif busybox sha256sum </dev/null >/dev/null 2>&1; then hash='"'busybox sha256sum'"'; fi; echo "hash=$hash"; if setsid -w true </dev/null >/dev/null 2>&1; then echo setsid=1; fi; '
if [ "$detach" = 0 ] && [ "$status" = 0 ]; then
    probe="${probe}if [ -e /sys/class/net/$(q "$iface") ]; then echo iface=yes; if [ \"\$hash\" != none ] && { [ \"\$uid\" = 0 ] || [ \$su != none ] || [ \"\$dbg\" = 1 ]; }; then rm -rf $(q "$stage") && mkdir -p $(q "$stage"); fi; else echo iface=no \$(ls /sys/class/net); fi; "
fi
facts=$(run "${probe}echo __rc=0") || die "cannot probe $serial: $facts"
fact() { printf '%s\n' "$facts" | sed -n "s/^$1=//p" | head -n 1; }

# --- Root: the shell, else adb root (userdebug/eng), else su; else stop.
wrap=''
if [ "$(fact uid)" = 0 ]; then
    wrap=shell
elif [ "$(fact debuggable)" = 1 ] && call -s "$serial" root | grep -qv 'cannot run as root' &&
    limited "$adb" -s "$serial" wait-for-device; then
    wrap=shell
elif [ "$(fact su)" = su0 ]; then
    wrap=su0
elif [ "$(fact su)" = suc ]; then
    wrap=suc
else
    die "XDP needs root on the device, and $serial offers no way to it: its shell is uid $(fact uid), \`adb root\` works only on userdebug/eng builds, and there is no working su. Use a userdebug/eng build or a rooted phone with su (Magisk); nothing was pushed"
fi
hasher=$(fact hash)

# root-entry.sh's text as the root command (as remote::Entry::as_root sends
# it): [setsid -w] sh -c TEXT root-entry HASHER NAME ARGS..., wrapped the way
# root is reached.
entry=$(sed -e 's/^[[:space:]]*//' -e '/^#/d' -e '/^$/d' "$here/root-entry.sh")
group=''
[ "$(fact setsid)" != 1 ] || group='setsid -w '
as_root() {
    command="${group}sh -c $(q "$entry") root-entry $(q "${hasher:-sha256sum}") $(q "$name")"
    for arg in "$@"; do command="$command $(q "$arg")"; done
    command="$command$tail"
    case $wrap in
    shell) printf '%s' "$command" ;;
    su0) printf 'su 0 %s </dev/null' "$command" ;;
    suc) printf 'su -c %s </dev/null' "$(q "$command")" ;;
    esac
}
tail=''

if [ "$status" = 1 ]; then
    run "$(as_root run status); echo __rc=\$?" || die "status on $serial failed (see above)"
    exit 0
fi
if [ "$detach" = 1 ]; then
    run "$(as_root run detach "$iface"); echo __rc=\$?" || die "detach on $serial failed (see above)"
    exit 0
fi

iface_fact=$(fact iface)
case "$iface_fact" in
yes) ;;
*) die "$serial has no interface $iface; it has: ${iface_fact#no }" ;;
esac
[ "$hasher" != none ] || die "$serial has no sha256 tool (sha256sum, toybox sha256sum or busybox sha256sum; Android has one from 8.0 on), and root must not run files it cannot check; nothing was pushed"

# From here the device has a staging directory: any failure, or Ctrl-C,
# removes it and root's unfinished copy.
staged=1
clean_up() {
    [ "$staged" = 1 ] || return 0
    staged=0
    tail=''
    call -s "$serial" shell "rm -rf $(q "$stage"); $(as_root clean); echo __rc=\$?" >/dev/null || true
}
trap 'clean_up; exit 130' INT TERM
fail() {
    clean_up
    die "$*"
}

# What root checks its copies against before it runs any of them.
sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sum=$(sha256sum "$1")
    else
        sum=$(shasum -a 256 "$1")
    fi
    echo "${sum%% *}"
}
manifest_sha=$(sha256_of "$here/MANIFEST")
script_sha=$(sha256_of "$here/on-device.sh")


# --- What is pushed: MANIFEST and the files it names, nothing else; each
# checked here first (a regular file, not a link, the sha256 MANIFEST has).
set --
for item in "$here"/* "$here"/.*; do
    base=${item##*/}
    case $base in . | .. | '*' | '.*' | push-and-attach.sh | root-entry.sh | MANIFEST) continue ;; esac
    grep -q "^size: [0-9]*  $base\$" "$here/MANIFEST" ||
        fail "$here/$base is not part of the bundle (MANIFEST does not name it): remove it, or unpack the bundle afresh; nothing was pushed"
done
[ -f "$here/MANIFEST" ] && [ ! -L "$here/MANIFEST" ] || fail "$here/MANIFEST is missing or not a regular file; nothing was pushed"
set -- "$here/MANIFEST"
while read -r tag sum file; do
    [ "$tag" = sha256: ] || continue
    case $file in '' | */* | .*) fail "MANIFEST names a file no bundle has: $file; nothing was pushed" ;; esac
    [ -f "$here/$file" ] && [ ! -L "$here/$file" ] ||
        fail "$here/$file is missing or not a regular file (a link?); unpack the bundle afresh; nothing was pushed"
    [ "$(sha256_of "$here/$file")" = "$sum" ] ||
        fail "$here/$file does not match MANIFEST (changed since the build?); unpack the bundle afresh; nothing was pushed"
    set -- "$@" "$here/$file"
done <"$here/MANIFEST"

# --- One push, one shell in which root copies, checks and attaches.
pushed=$(call -s "$serial" push "$@" "$stage/") || fail "adb push to $serial failed; nothing was attached: $pushed"
tail=$extra
install="$(as_root install "$manifest_sha" "$script_sha" "$iface" "$mode"); rc=\$?; rm -rf $(q "$stage"); echo __rc=\$rc"
# adbd before Android 7 (API 24) refuses commands over 4,096 bytes.
sdk=$(fact sdk)
case "$sdk" in '' | *[!0-9]*) sdk=0 ;; esac
if [ "$sdk" -lt 24 ] && [ ${#install} -gt 4096 ]; then
    fail "the attach command is ${#install} bytes, and adbd before Android 7 refuses commands over 4096: pass fewer loader arguments after -- and add the rest on the device with the loader's rules command; nothing was attached"
fi
out=$(call -s "$serial" shell "$install") || true
staged=0
printf '%s\n' "$out" | grep -v -e '^__rc=' -e '^status-json: ' -e '^state-json: ' || true
rc=$(printf '%s\n' "$out" | sed -n 's/^__rc=\([0-9]*\).*/\1/p' | tail -n 1)
# What the device says is on the interface (a `state-json:` or
# `status-json:` line), else unknown: never a guess.
on_iface() {
    json=$(printf '%s\n' "$out" | sed -n "s/^$1: //p" | tail -n 1)
    # This interface's entry of the status (its fields but the name).
    one=$(printf '%s\n' "$json" | sed -n "s/.*{\"interface\":\"$(printf '%s' "$iface" | sed 's/\./\\./g')\",\([^}]*\)}.*/\1/p")
    case "$json" in
    '') echo "whether anything is attached to $iface is unknown (the device gave no answer about it); check with: $0 -s $serial --status" ;;
    none) echo "the device has no deployed copy of $name, so nothing of it is attached" ;;
    *'"attached":'*) case "$one" in
        '') echo "the device reports nothing of $name attached to $iface" ;;
        *'"running":true'*) echo "the device reports $iface runs $name" ;;
        *) echo "the device reports a stale pin for $iface (a program the kernel no longer runs there): nothing of $name is attached" ;;
        esac ;;
    *) echo "whether anything is attached to $iface is unknown (the device's answer was not a status); check with: $0 -s $serial --status" ;;
    esac
}
if [ "${rc:-255}" != 0 ]; then
    staged=1
    if [ -z "$rc" ]; then
        fail "attaching $name to $iface on $serial gave no exit status (the connection was lost?); $(on_iface state-json)"
    fi
    fail "attaching $name to $iface on $serial failed (see above); $(on_iface state-json)"
fi
# Verify: the loader's status must show the kernel running it there.
case "$(on_iface status-json)" in
*" runs $name") ;;
*) die "the loader said it attached, but on $serial: $(on_iface status-json)" ;;
esac
status=$(printf '%s\n' "$out" | sed -n 's/^status-json: //p')
attached_mode=$(printf '%s\n' "$status" | sed -n "s/.*\"interface\":\"$iface\",\"mode\":\"\([a-z]*\)\".*/\1/p")
echo "push-and-attach.sh: $name attached to $iface on $serial in ${attached_mode:-?} mode"

# Root's way into a cargo-xdp deploy. This text is the command root runs,
# sent over `adb shell` (as `sh -c TEXT root-entry ARGS`) by cargo xdp and by
# push-and-attach.sh; it is never run from a file on the device: everything
# under /data/local/tmp belongs to the shell user, who could change a file
# between root's check and root's use. Comment lines are dropped when sent
# (old adbd refuses commands over 4,096 bytes): no `#` inside a line here.
#
#   root-entry HASHER NAME install STAGE MANIFEST_SHA256 SCRIPT_SHA256 IFACE MODE [ARGS...]
#   root-entry HASHER NAME run ARGS...     on-device.sh ARGS, root's deployed copy
#   root-entry HASHER NAME clean           removes an unfinished install
#
# Root keeps its files in /data/local/cargo-xdp (root's, 0700). Every
# directory above it must be root's (or, for /data, the system user's, who
# owns it on Android) and writable by no one else, or root runs nothing.
set -u
umask 077
base=/data/local/cargo-xdp
fail() {
    echo "error: $*" >&2
    exit 1
}
[ $# -ge 3 ] || fail "root-entry: too few arguments"
hasher=$1
name=$2
action=$3
shift 3
case $hasher in
sha256sum | 'toybox sha256sum' | 'busybox sha256sum') ;;
*) fail "root-entry: unknown hasher $hasher" ;;
esac
case $name in
'' | *[!A-Za-z0-9_-]*) fail "root-entry: bad name $name" ;;
esac
trusted() {
    [ -d "$1" ] && [ ! -L "$1" ] || return 1
    set -- $(stat -c '%u %g %a' "$1") || return 1
    [ $# -eq 3 ] || return 1
    case $1 in 0 | 1000) ;; *) return 1 ;; esac
    other=${3#"${3%?}"}
    group=${3%?}
    group=${group#"${group%?}"}
    case $other in 2 | 3 | 6 | 7) return 1 ;; esac
    case $group in 2 | 3 | 6 | 7) case $2 in 0 | 1000) ;; *) return 1 ;; esac ;; esac
    return 0
}
for dir in / /data /data/local; do
    trusted "$dir" || fail "$dir is not root's alone (uid gid mode: $(stat -c '%u %g %a' "$dir")): root runs nothing below it"
done
if [ ! -e "$base" ]; then
    mkdir -m 0700 "$base" || fail "cannot create $base"
fi
trusted "$base" || fail "$base is not root's alone: remove it as root (rm -rf $base), deploy again"
hash_of() {
    sum=$($hasher "$1" 2>/dev/null) || sum=missing
    echo "${sum%% *}"
}
case $action in
install)
    [ $# -ge 5 ] || fail "root-entry: too few arguments"
    stage=$1
    manifest_sha=$2
    script_sha=$3
    shift 3
    new=$base/.$name.new
    rm -rf "$new" && mkdir -m 0700 "$new" || fail "cannot create $new"
    head -c 65536 "$stage/MANIFEST" >"$new/MANIFEST" &&
        head -c 65536 "$stage/on-device.sh" >"$new/on-device.sh" || {
        rm -rf "$new"
        fail "cannot copy from $stage; nothing was attached"
    }
    if [ "$(hash_of "$new/MANIFEST")" != "$manifest_sha" ] ||
        [ "$(hash_of "$new/on-device.sh")" != "$script_sha" ]; then
        rm -rf "$new"
        fail "the staged MANIFEST or on-device.sh is not what was pushed (changed on the device?); nothing was attached"
    fi
    exec sh "$new/on-device.sh" install "$hasher" "$stage" "$@"
    ;;
run)
    dir=$base/$name
    [ -f "$dir/on-device.sh" ] ||
        fail "$name is not deployed on this device (deploy it with \`cargo xdp deploy --adb IFACE\`)"
    trusted "$dir" || fail "$dir is not root's alone; deploy again"
    exec sh "$dir/on-device.sh" "$@"
    ;;
clean)
    rm -rf "$base/.$name.new"
    ;;
*)
    fail "root-entry: unknown action $action"
    ;;
esac

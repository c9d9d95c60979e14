# Root's way into a cargo-xdp deploy. This text is the command root runs,
# sent over `adb shell` (as `[setsid -w] sh -c TEXT root-entry ARGS`) by
# cargo xdp and by push-and-attach.sh; it is never run from a file on the
# device: everything under /data/local/tmp belongs to the shell user, who
# could change a file between root's check and root's use. Comment lines are
# dropped when sent (old adbd refuses commands over 4,096 bytes): no `#`
# inside a line here, and no single quote (each costs bytes when quoted).
#
#   root-entry HASHER NAME install MANIFEST_SHA256 SCRIPT_SHA256 IFACE MODE [ARGS...]
#   root-entry HASHER NAME try MANIFEST_SHA256 SCRIPT_SHA256 test-run [CASES OBJECT] | bench REPEAT
#   root-entry HASHER NAME run ARGS...     on-device.sh ARGS, root's deployed copy
#   root-entry HASHER NAME clean           stops and removes an unfinished install
#
# Root keeps its files in /data/local/cargo-xdp (root's, 0700). Every
# directory above it must be root's (or, for /data, the system user's, who
# owns it on Android) and writable by no one else, or root runs nothing.
# b=, st=, sys= and the first for loop are a phone's layout; for a Linux board cargo-xdp
# sends its own values there (/opt/cargo-xdp, the login user's home, no
# system user).
#
# In there: NAME/ is the deployed copy; .NAME.w.XXXXXXXX/ is one install's
# private work dir (s/: the staged files, moved out of the shell user's
# reach and made root's; c/: root's copies; `attaching`: the loader may have
# attached from c/); .NAME.t.XXXXXXXX/ is one trial's (packet tests or a
# bench from .NAME.try, never attached, removed after); .NAME.old is the
# last copy during a swap; .NAME.lock
# names the root-entry that holds the project (boot id, pid, process group,
# start time; a zombie counts as gone). Every action takes the lock first (install and clean stop a
# live holder, its whole process group; run refuses), then heals: a work
# dir that may have attached becomes NAME/, others go, a lone .NAME.old
# comes back. Copies read only regular files that became root's before
# they were opened, so no read can block (no FIFO, device or link to one);
# toybox 0.8.9's `timeout` is not used: it exits 127 at random when the
# command it runs ends fast. Every failure after the trust checks prints `state-json:`,
# what the deployed loader reports (`none`: no deployed copy).
set -u
umask 077
b=/data/local/cargo-xdp
st=/data/local/tmp/cargo-xdp
sys=1000
export b
na="; nothing was attached"
quit() {
    if [ -n "${k:-}" ]; then
        [ -z "${held:-}" ] || heal
        state
        [ -z "${held:-}" ] || rm -f $k
    fi
    exit 1
}
fail() {
    echo "error: $*" >&2
    quit
}
[ $# -ge 3 ] || fail "bad arguments"
hasher=$1
n=$2
a=$3
shift 3
case $hasher in
sha256sum|"toybox sha256sum"|"busybox sha256sum") ;;
*) fail "hasher $hasher" ;;
esac
case $n in
""|*[!A-Za-z0-9_-]*) fail "name $n" ;;
esac
trusted() {
    [ -d $1 ] && [ ! -L $1 ] && set -- $(stat -c "%u %g %a" $1) && [ $# -eq 3 ] || return 1
    case $1.$3 in 0.*|$sys.*) ;; *) return 1 ;; esac
    case $3 in *[2367]) return 1 ;; *[2367]?) case $2 in 0|$sys) ;; *) return 1 ;; esac ;; esac
}
alone="is not owned and writable by root alone"
for d in / /data /data/local; do
    trusted $d || fail "$d $alone ($(stat -c "%u %g %a" $d)), so root runs nothing"
done
[ -e $b ] || mkdir -m 0700 $b || fail "cannot create $b"
trusted $b || fail "$b $alone: remove it as root (rm -rf $b), deploy again"
f=$b/$n
o=$b/.$n.old
k=$b/.$n.lock
case $n in *-*) l=$n-user ;; *) l=${n}_user ;; esac
hash_of() {
    h=$($hasher $1 2>/dev/null) || h=x
    echo ${h%% *}
}
state() {
    printf "state-json: "
    [ -x $f/$l ] || { echo none; return; }
    $f/$l status --json </dev/null || echo
}
me() {
    read -r s </proc/$1/stat 2>/dev/null || return
    set -- ${s##*) }
    [ $1 = Z ] || echo "$3 ${20}"
}
boot=$(cat /proc/sys/kernel/random/boot_id)
lock() {
    while ! ln -s "$boot $$ $(me $$)" $k 2>/dev/null; do
        r=$(readlink $k) || fail "cannot create $k"
        set -- $r
        if [ $# -eq 4 ] && [ $1 = $boot ] && [ "$(me $2)" = "$3 $4" ]; then
            case $a in run|try) fail "an install of $n is under way (pid $2): wait, or deploy again" ;; esac
            echo "note: stopped an earlier install of $n still running as root (pid $2)" >&2
            if [ $3 = $2 ]; then kill -9 -- -$2; else kill -9 $2; fi
            sleep 1
            [ "$(me $2)" != "$3 $4" ] || fail "cannot stop pid $2"
        fi
        rm -f $k
    done
    held=1
}
heal() {
    for w in $b/.$n.w.*; do
        [ -d $w ] || continue
        if [ -f $w/attaching ] && [ -d $w/c ]; then
            rm -rf $o
            [ ! -d $f ] || mv $f $o
            mv $w/c $f
        fi
        rm -rf $w
    done
    [ -d $f ] || [ ! -d $o ] || mv $o $f
    rm -rf $o $b/.$n.t.*
}
lock
heal
case $a in
install|try)
    p=partial t=w
    [ $a = install ] || p=try t=t
    w=$(mktemp -d $b/.$n.$t.XXXXXXXX) && mkdir $w/c || fail "cannot create in $b"
    s=$w/s
    cd -P $st 2>/dev/null && [ "$(pwd -P)" = $st ] && mv .$n.$p $s && cd / &&
        [ -d $s ] && [ ! -L $s ] && chown 0:0 $s && chmod 0700 $s || fail "cannot take $st/.$n.$p$na"
    for e in MANIFEST on-device.sh; do
        [ -f $s/$e ] && [ ! -L $s/$e ] && head -c 65536 $s/$e >$w/c/$e || fail "the staged $e is not a regular file$na"
    done
    [ "$(hash_of $w/c/MANIFEST) $(hash_of $w/c/on-device.sh)" = "$1 $2" ] ||
        fail "the staged MANIFEST or on-device.sh is not what was pushed$na"
    shift 2
    cd $w/c && sh ./on-device.sh $a "$hasher" $w "$@" </dev/null || quit
    cd /
    rm -rf $w
    ;;
run)
    rm -f $k
    held=
    [ -f $f/on-device.sh ] || fail "$n is not deployed on this device: deploy it first"
    trusted $f || fail "$f $alone; deploy again"
    exec sh $f/on-device.sh "$@"
    ;;
clean)
    state
    ;;
*)
    fail "action $a"
    ;;
esac
rm -f $k

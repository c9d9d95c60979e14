# Persistence across reboots for a {{name}} deploy (`deploy --persist`):
# sourced by on-device.sh (root's checked copy), never run on its own.
#
#   persist_on HASHER KIND IFACE MODE [ARGS...]   write the boot script and
#       the hook of KIND (service.d, systemd, procd, initd; auto-android or
#       auto-board: the device's) that runs it
#   persist_off [IFACE]     remove them (only if persisted for IFACE)
#   persist_refresh HASHER IFACE MODE [ARGS...]   after a redeploy: the same
#       KIND, for the new copy (its new sha256s) and arguments
#   boot_attach IFACE MODE [ARGS...]   what the boot script runs: every file
#       of the copy checked against MANIFEST, then the loader's attach
#
# The boot script, $base/.NAME.boot, is root's (0700, in root's 0700
# directory); it checks the directories above the copy, waits for the
# interface, checks MANIFEST's and on-device.sh's sha256 against those of
# the deploy that persisted it, and logs what it did (logcat on Android,
# syslog or the kernel log on boards). $base/.NAME.persist says which hook
# (KIND PATH IFACE) points at it.

# update-rc.d and systemctl live in sbin, which a sudo or doas without
# secure_path leaves out of PATH.
PATH=$PATH:/usr/sbin:/sbin
boot_file=$base/.$name.boot
persist_file=$base/.$name.persist

# One argument quoted for sh.
q() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# The mechanism this device has for running a script at boot: on a phone
# (auto-android) Magisk's or KernelSU's service.d; on a board (auto-board)
# systemd, OpenWrt's procd, or /etc/init.d.
boot_kind() { # auto-android | auto-board
    if [ "$1" = auto-android ]; then
        [ -d /data/adb/service.d ] ||
            fail "this phone has no way to run a script at boot that cargo-xdp knows: no /data/adb/service.d (Magisk or KernelSU); nothing was persisted"
        echo service.d
    elif [ -d /run/systemd/system ]; then
        echo systemd
    elif [ -f /etc/rc.common ] && [ -e /sbin/procd ]; then
        echo procd
    elif [ -d /etc/init.d ]; then
        echo initd
    else
        fail "this board has no way to run a script at boot that cargo-xdp knows (systemd, OpenWrt's procd, /etc/init.d); nothing was persisted"
    fi
}

write_boot_script() { # HASHER IFACE MODE [ARGS...]
    hasher=$1 iface=$2 mode=$3
    shift 3
    m=$($hasher "$final/MANIFEST") && s=$($hasher "$final/on-device.sh") ||
        fail "cannot hash the deployed copy; nothing was persisted"
    args=
    for arg in "$@"; do args="$args $(q "$arg")"; done
    shebang=/bin/sh
    [ ! -x /system/bin/sh ] || shebang=/system/bin/sh
    {
        echo "#!$shebang"
        echo "# cargo-xdp: attaches $name to $iface at boot, from root's checked copy."
        echo "b=$(q "$base") f=$(q "$final") h=$(q "$hasher") i=$(q "$iface")"
        # logcat on Android, syslog or the kernel log on boards; the last
        # boot's lines also in root's .NAME.boot.log, for `cargo xdp status`.
        echo "say() { echo \"\$*\" >>\"\$b/.$name.boot.log\"; { log -t cargo-xdp -- \"\$*\" || logger -t cargo-xdp -- \"\$*\" || echo \"cargo-xdp: \$*\" >/dev/kmsg; } 2>/dev/null; }"
        echo "rm -f \"\$b/.$name.boot.log\""
        echo 'for d in / $(dirname "$b") "$b" "$f"; do'
        echo '    set -- $(stat -c "%u %a" "$d" 2>/dev/null)'
        echo '    case $1.$2 in 0.*[2367]? | 0.*[2367]) ;; 0.*) continue ;; esac'
        echo "    say \"$name: \$d is not root's alone; nothing attached\"; exit 1"
        echo 'done'
        echo 'n=0; while [ ! -e "/sys/class/net/$i" ] && [ $n -lt 120 ]; do sleep 1; n=$((n + 1)); done'
        echo "[ -e \"/sys/class/net/\$i\" ] || { say \"$name: no \$i after 120 s; nothing attached\"; exit 1; }"
        echo 'sum() { x=$($h "$1" 2>/dev/null) || x=-; echo "${x%% *}"; }'
        echo "[ \"\$(sum \"\$f/MANIFEST\") \$(sum \"\$f/on-device.sh\")\" = \"${m%% *} ${s%% *}\" ] ||"
        echo "    { say \"$name: the copy in \$f is not the one persisted; nothing attached\"; exit 1; }"
        echo "out=\$(cd \"\$f\" && b=\"\$b\" sh ./on-device.sh boot \"\$h\" \"\$i\" $(q "$mode")$args 2>&1)"
        echo 'rc=$?'
        echo "say \"$name: \$out (exit \$rc)\""
        echo 'exit $rc'
    } >"$boot_file.new" && chmod 0700 "$boot_file.new" && mv "$boot_file.new" "$boot_file" ||
        fail "cannot write $boot_file; nothing was persisted"
}

# The hook of KIND that runs the boot script at boot; false (with nothing
# of it left) when it cannot be written.
write_hook() { # KIND IFACE
    kind=$1
    case $kind in
    service.d)
        hook=/data/adb/service.d/cargo-xdp-$name.sh
        printf '#!/system/bin/sh\nexec sh %s\n' "$(q "$boot_file")" >"$hook" && chmod 0700 "$hook"
        ;;
    systemd)
        hook=/etc/systemd/system/cargo-xdp-$name.service
        wants=/etc/systemd/system/multi-user.target.wants
        (umask 022 && mkdir -p "$wants") &&
            printf '[Unit]\nDescription=cargo-xdp: attach %s to %s\nAfter=network-pre.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh %s\n\n[Install]\nWantedBy=multi-user.target\n' \
                "$name" "$2" "$boot_file" >"$hook" && chmod 0644 "$hook" &&
            ln -sf "$hook" "$wants/cargo-xdp-$name.service" &&
            { systemctl daemon-reload >/dev/null 2>&1 || true; }
        ;;
    procd)
        hook=/etc/init.d/cargo-xdp-$name
        printf '#!/bin/sh /etc/rc.common\n# cargo-xdp: attach %s to %s at boot\nSTART=99\nstart() {\n\tsh %s\n}\n' \
            "$name" "$2" "$(q "$boot_file")" >"$hook" && chmod 0755 "$hook" && "$hook" enable
        ;;
    initd)
        hook=/etc/init.d/cargo-xdp-$name
        printf '#!/bin/sh\n### BEGIN INIT INFO\n# Provides: cargo-xdp-%s\n# Required-Start: $network\n# Required-Stop:\n# Default-Start: 2 3 4 5\n# Default-Stop:\n# Short-Description: cargo-xdp: attach %s to %s\n### END INIT INFO\ncase "$1" in start) sh %s ;; esac\n' \
            "$name" "$name" "$2" "$(q "$boot_file")" >"$hook" && chmod 0755 "$hook" &&
            if command -v update-rc.d >/dev/null 2>&1; then
                update-rc.d "cargo-xdp-$name" defaults >/dev/null
            elif [ -d /etc/rc.d ]; then
                ln -sf "$hook" "/etc/rc.d/S99cargo-xdp-$name"
            else
                echo "error: neither update-rc.d nor /etc/rc.d: cannot enable $hook" >&2
                false
            fi
        ;;
    *) echo "error: --persist takes auto, service.d, systemd, procd or initd, not $kind" >&2; return 1 ;;
    esac && echo "$kind $hook $2" >"$persist_file" && return 0
    echo "$kind $hook $2" >"$persist_file"
    persist_off >/dev/null
    return 1
}

persist_on() { # HASHER KIND IFACE MODE [ARGS...]
    [ $# -ge 4 ] || fail "usage: on-device.sh persist HASHER KIND IFACE MODE [ARGS...]"
    hasher=$1 kind=$2
    shift 2
    case $kind in auto-*) kind=$(boot_kind "$kind") || exit 1 ;; esac
    persist_off >/dev/null
    write_boot_script "$hasher" "$@"
    write_hook "$kind" "$1" ||
        fail "cannot write the $kind hook $hook (is this the device's boot mechanism?); nothing was persisted"
    echo "persisted: $kind $hook"
}

persist_off() { # [IFACE]
    [ -f "$persist_file" ] || return 0
    read -r kind hook was <"$persist_file"
    [ -z "${1:-}" ] || [ "$1" = "$was" ] || return 0
    case $kind in
    systemd) rm -f "/etc/systemd/system/multi-user.target.wants/cargo-xdp-$name.service" ;;
    procd) "$hook" disable 2>/dev/null ;;
    initd)
        if command -v update-rc.d >/dev/null 2>&1; then
            update-rc.d -f "cargo-xdp-$name" remove >/dev/null 2>&1
        fi
        rm -f "/etc/rc.d/S99cargo-xdp-$name"
        ;;
    esac
    case $hook in */cargo-xdp-$name | */cargo-xdp-$name.sh | */cargo-xdp-$name.service) rm -f "$hook" ;; esac
    [ "$kind" != systemd ] || systemctl daemon-reload >/dev/null 2>&1
    rm -f "$boot_file" "$persist_file" "$base/.$name.boot.log"
    echo "unpersisted: $kind $hook"
}

persist_refresh() { # HASHER IFACE MODE [ARGS...]
    [ -f "$persist_file" ] || return 0
    read -r kind hook was <"$persist_file"
    hasher=$1
    shift
    persist_on "$hasher" "$kind" "$@"
}

boot_attach() { # HASHER IFACE MODE [ARGS...]
    hasher=$1 iface=$2 mode=$3
    shift 3
    check_sums "; nothing attached"
    "./$loader" attach "$iface" --mode "$mode" "$@"
}

#!/usr/bin/env bash
# Installs what cargo-xdp, its tests and its demo need on a fresh Debian/Ubuntu
# machine (run as root). Cheap when everything is already there.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have clang || need+=(clang)
# The newest clang Debian 12 packages in main (cargo-xdp takes the newest
# clang-NN on PATH; xdp-tools-style programs need C23, clang 15+; a real
# NDK r26 ships clang 17, and the stand-in NDK is made from this one).
newest_clang=()
have clang-19 || newest_clang=(clang-19 llvm-19 lld-19)
# clangd reads the compile_commands.json builds write (its test runs clangd --check).
have clangd-19 || have clangd || newest_clang+=(clangd-19)
have llvm-strip || need+=(llvm)
have ld.lld || need+=(lld)
have ip || need+=(iproute2)
have ping || need+=(iputils-ping)
have nsenter || need+=(util-linux)
have setpriv || need+=(util-linux)
# The fake adb's devices (tests/fixtures/fake-adb): a setuid su built with cc,
# push-and-attach.sh run by dash (strict POSIX).
have cc || need+=(gcc)
have dash || need+=(dash)
have python3 || need+=(python3)
# Android's own shell and utilities: the fake devices run mksh with only
# toybox's applets, and push-and-attach.sh is tested under them too.
have mksh || need+=(mksh)
have toybox || need+=(toybox)
# The real AOSP adb client, driven against the fake devices' adbd.
have adb || need+=(adb)
# cargo xdp vmlinux writes vmlinux.h with it (CO-RE tests).
have bpftool || [ -x /usr/sbin/bpftool ] || need+=(bpftool)
have sha256sum || need+=(coreutils)
# cargo-xdp fetches the kernel's uapi headers (Debian's cross packages) with it.
have curl || need+=(curl ca-certificates)
[ -e /usr/include/linux/bpf.h ] || need+=(linux-libc-dev)
# For the stand-in NDK (tests/fixtures/ndk): arm64 kernel headers (asm/).
[ -d /usr/aarch64-linux-gnu/include/asm ] || need+=(linux-libc-dev-arm64-cross)
have nm || need+=(binutils)
# linux-armv7 and android-armv7 link a static glibc loader through Debian's
# armhf cross toolchain; the stand-in NDK takes 32-bit ARM's asm/ from there.
have arm-linux-gnueabihf-gcc || need+=(gcc-arm-linux-gnueabihf)
[ -e /usr/arm-linux-gnueabihf/lib/libc.a ] || need+=(libc6-dev-armhf-cross)
[ -d /usr/arm-linux-gnueabihf/include/asm ] || need+=(linux-libc-dev-armhf-cross)
# Runs the linux-arm64 and linux-armv7 loaders in the tests.
have qemu-aarch64-static || need+=(qemu-user-static)
# A real 32-bit ARM kernel for the linux-armv7 loader (tests/fixtures/arm32):
# qemu-system-arm boots Debian's armhf kernel, fetched with apt-get download.
have qemu-system-arm || need+=(qemu-system-arm)
have cpio || have busybox || need+=(busybox)
if ! dpkg --print-foreign-architectures | grep -qx armhf; then
    dpkg --add-architecture armhf
    armhf_added=1
fi
# The fake boards of `deploy --ssh` (tests/fixtures/board): real ssh servers
# (OpenSSH, dropbear), the client, busybox's userland, sudo for a login user.
have ssh || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/sbin/dropbear ] || need+=(dropbear-bin)
have busybox || need+=(busybox)
have sudo || need+=(sudo)
# Real captures for `cargo xdp test --pcap`.
have tcpdump || [ -x /usr/sbin/tcpdump ] || need+=(tcpdump)

if [ ${#need[@]} -gt 0 ] || [ ${#newest_clang[@]} -gt 0 ] || [ -n "${armhf_added:-}" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # Where the distribution has it (Debian 12 does); elsewhere the default clang.
    if [ ${#newest_clang[@]} -gt 0 ] && apt-cache show clang-19 >/dev/null 2>&1; then
        need+=("${newest_clang[@]}")
    fi
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# bpffs, where loaders pin their programs and maps.
if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
    mkdir -p /sys/fs/bpf
    mount -t bpf bpf /sys/fs/bpf
fi

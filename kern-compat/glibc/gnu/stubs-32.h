/*
 * cargo-xdp, glibc hosts: under `clang -target bpf` glibc's headers take
 * the target for a 32-bit one (no __x86_64__), and <gnu/stubs.h> then
 * includes this file, which only a 32-bit libc6-dev installs. It lists
 * libc functions that are stubs; kern code calls none of them.
 */

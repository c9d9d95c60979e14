/* Written by `cargo xdp new`: xdp_log, this project's bpf_printk.
 *
 *     xdp_log("dropped port %u", bpf_ntohs(port));
 *
 * writes "{{name}}: dropped port 53" to the kernel's trace pipe, which
 * `cargo xdp log` follows (here, or on a phone with --adb) and `--ours`
 * narrows to this project's lines: the trace does not say which program
 * printed, so the prefix does. Up to three arguments (the kernel's limit
 * for bpf_trace_printk); each call costs a helper call per packet, so keep
 * it out of hot paths once the program works. */
#ifndef XDP_LOG_H
#define XDP_LOG_H

#include <bpf/bpf_helpers.h>

#define xdp_log(fmt, ...) bpf_printk("{{name}}: " fmt, ##__VA_ARGS__)

#endif /* XDP_LOG_H */

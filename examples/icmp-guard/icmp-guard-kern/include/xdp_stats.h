/* Written by `cargo xdp new`: the per-action counters every program of this
 * project keeps, which the loader's `stats` reads.
 *
 * SEC, __uint/__type, the helpers and bpf_ntohs come from libbpf's own
 * headers. cargo xdp build supplies them on every target, from the
 * version-pinned libbpf-sys crate: no libbpf-dev, nothing from the host. */
#ifndef XDP_STATS_H
#define XDP_STATS_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Per-action packet and byte counters, read by the loader's `stats`.
 * One slot per XDP action (XDP_ABORTED .. XDP_REDIRECT), per CPU. */
struct xdp_counter {
	__u64 packets;
	__u64 bytes;
};

#define XDP_ACTION_SLOTS (XDP_REDIRECT + 1)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_ACTION_SLOTS);
	__type(key, __u32);
	__type(value, struct xdp_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_stats SEC(".maps");

/* Count the packet under `action` and return the action, so a program can
 * end with `return count_action(ctx, XDP_DROP);`. */
static __always_inline __u32 count_action(struct xdp_md *ctx, __u32 action)
{
	__u32 key = action;
	struct xdp_counter *counter;

	if (key >= XDP_ACTION_SLOTS)
		return XDP_ABORTED;
	counter = bpf_map_lookup_elem(&xdp_stats, &key);
	if (counter) {
		/* Per-CPU slot: no other CPU writes it, plain adds are safe. */
		counter->packets += 1;
		counter->bytes += ctx->data_end - ctx->data;
	}
	return action;
}

#endif /* XDP_STATS_H */

/* Written by `cargo xdp new`: the few libbpf definitions an XDP program needs,
 * so the project builds with only a clang that has the BPF backend (the
 * Android NDK's or the host's) and no libbpf-dev installed.
 *
 * Helpers are declared by their number in `enum bpf_func_id` (linux/bpf.h):
 * the kernel resolves them by number, so this is exactly what libbpf's
 * generated bpf_helper_defs.h does. Add the ones you need the same way. */
#ifndef XDP_HELPERS_H
#define XDP_HELPERS_H

#include <linux/bpf.h>
#include <linux/types.h>

#define SEC(name) __attribute__((section(name), used))

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* BTF-style map definitions (what aya and libbpf read from ".maps"). */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
/* `__uint(pinning, LIBBPF_PIN_BY_NAME)`: the loader pins the map under
 * /sys/fs/bpf/<project>/maps/<map>, so `stats` and `rules` can reach it and
 * every interface the project is attached to shares it. */
#define LIBBPF_PIN_BY_NAME 1

/* Helper prototypes, by helper number. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
                                   __u64 flags) = (void *)BPF_FUNC_map_update_elem;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_delete_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;

/* Network byte order. `-target bpf` follows the host's endianness. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bpf_htons(x) ((__be16)__builtin_bswap16(x))
#define bpf_ntohs(x) ((__u16)__builtin_bswap16(x))
#define bpf_htonl(x) ((__be32)__builtin_bswap32(x))
#define bpf_ntohl(x) ((__u32)__builtin_bswap32(x))
#else
#define bpf_htons(x) ((__be16)(x))
#define bpf_ntohs(x) ((__u16)(x))
#define bpf_htonl(x) ((__be32)(x))
#define bpf_ntohl(x) ((__u32)(x))
#endif

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

#endif /* XDP_HELPERS_H */

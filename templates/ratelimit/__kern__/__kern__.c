/* {{name}}: a token bucket per source address. Each IPv4 or IPv6 source
 * may send `rate` packets a second, with bursts of up to `burst`; beyond
 * that its packets are dropped until its bucket fills again. Buckets live
 * in an LRU hash, so a flood of new sources evicts the idlest, never
 * fills the map. Rate and burst are set by the loader:
 *
 *     {{loader}} attach IFACE --rate 100 --burst 200
 *
 * Rate 0 (the default) lets everything through. Non-IP traffic passes. */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include "xdp_parse.h"
#include "xdp_stats.h"

/* Tokens are counted in thousandths, so slow rates refill smoothly. */
#define MILLI 1000ULL
#define NS_PER_SEC 1000000000ULL

struct limit {
	__u64 rate;  /* packets a second; 0: no limit */
	__u64 burst; /* the most a bucket holds */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct limit);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} limit SEC(".maps");

/* An IPv4 source is stored as ::ffff:a.b.c.d, so one map serves both. */
struct source {
	__u8 addr[16];
};

struct bucket {
	__u64 milli_tokens;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct source);
	__type(value, struct bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} buckets SEC(".maps");

/* XDP_PASS or XDP_DROP for one packet of `src`. (Two CPUs may update one
 * bucket at once; the rate is then a little above the limit, never far.) */
static __always_inline int take_token(struct source *src)
{
	__u32 zero = 0;
	struct limit *cfg = bpf_map_lookup_elem(&limit, &zero);
	struct bucket *b;
	__u64 now, elapsed, full;

	if (!cfg || cfg->rate == 0)
		return XDP_PASS;
	full = cfg->burst * MILLI;
	now = bpf_ktime_get_ns();
	b = bpf_map_lookup_elem(&buckets, src);
	if (!b) {
		struct bucket fresh = { .milli_tokens = full - MILLI, .last_ns = now };

		if (full < MILLI)
			return XDP_DROP;
		bpf_map_update_elem(&buckets, src, &fresh, BPF_ANY);
		return XDP_PASS;
	}
	elapsed = now - b->last_ns;
	/* Capped, so elapsed * rate cannot overflow: 10 s refills any bucket. */
	if (elapsed > 10 * NS_PER_SEC)
		elapsed = 10 * NS_PER_SEC;
	b->milli_tokens += elapsed * cfg->rate * MILLI / NS_PER_SEC;
	if (b->milli_tokens > full)
		b->milli_tokens = full;
	b->last_ns = now;
	if (b->milli_tokens < MILLI)
		return XDP_DROP;
	b->milli_tokens -= MILLI;
	return XDP_PASS;
}

static __always_inline int ratelimit(struct xdp_md *ctx, int rawip)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *cursor;
	struct source src = {};
	__u16 proto;

	proto = parse_link(data, data_end, &cursor, rawip);
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cursor;

		if ((void *)(ip + 1) > data_end)
			return count_action(ctx, XDP_PASS);
		src.addr[10] = 0xff;
		src.addr[11] = 0xff;
		__builtin_memcpy(&src.addr[12], &ip->saddr, 4);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cursor;

		if ((void *)(ip6 + 1) > data_end)
			return count_action(ctx, XDP_PASS);
		__builtin_memcpy(src.addr, &ip6->saddr, 16);
	} else {
		return count_action(ctx, XDP_PASS);
	}
	return count_action(ctx, take_token(&src));
}

SEC("xdp")
int xdp_ratelimit(struct xdp_md *ctx)
{
	return ratelimit(ctx, 0);
}

/* For an interface without an Ethernet header: the loader attaches this one. */
SEC("xdp")
int xdp_ratelimit_rawip(struct xdp_md *ctx)
{
	return ratelimit(ctx, 1);
}

char _license[] SEC("license") = "GPL";

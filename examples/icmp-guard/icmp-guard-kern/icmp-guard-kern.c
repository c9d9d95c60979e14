/* icmp-guard: the device answers pings only from the networks you allow.
 *
 * An ICMP echo request (IPv4 type 8, ICMPv6 type 128) passes when its
 * source is in allow_v4 / allow_v6 and is dropped otherwise, so ping
 * sweeps from anywhere else see nothing. ICMP and ICMPv6 redirects are
 * dropped too (nobody should steer a phone's routes), unless the loader
 * sets the global drop_redirects to 0. Everything else passes untouched.
 *
 *     icmp-guard-user attach wlan0 --allow 192.168.1.0/24 --allow fd00::/8
 *     icmp-guard-user icmp          # what was seen and dropped, per ICMP type
 *
 * Started from `cargo xdp new icmp-guard` (the filter template): the
 * Ethernet/VLAN parsing and the xdp_stats counters are the template's. */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include "xdp_stats.h"

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define MAX_VLAN_TAGS 2

#define ICMP_ECHO_REQUEST 8
#define ICMP_REDIRECT_ 5
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_REDIRECT 137

/* Set with `--set drop_redirects=0` at attach time. */
const volatile __u8 drop_redirects = 1;

struct lpm_key_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_key_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Sources whose echo requests are answered, longest-prefix match. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key_v4);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} allow_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key_v6);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} allow_v6 SEC(".maps");

/* Slot = ICMP type (0-255), or 256 + ICMPv6 type. */
struct icmp_count {
	__u64 seen;
	__u64 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, struct icmp_count);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} icmp_types SEC(".maps");

struct vlan_hdr_ {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* The first two bytes of ICMP and ICMPv6 alike. */
struct icmp_head {
	__u8 type;
	__u8 code;
};

static __always_inline int verdict(__u32 slot, int drop)
{
	struct icmp_count *count = bpf_map_lookup_elem(&icmp_types, &slot);

	if (count) {
		count->seen += 1;
		if (drop)
			count->dropped += 1;
	}
	return drop ? XDP_DROP : XDP_PASS;
}

static __always_inline int guard_v4(struct iphdr *ip, void *data_end)
{
	struct lpm_key_v4 key = { .prefixlen = 32 };
	struct icmp_head *icmp;
	__u32 header_len;

	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_ICMP)
		return XDP_PASS;
	header_len = ip->ihl * 4;
	if (header_len < sizeof(*ip))
		return XDP_PASS;
	icmp = (void *)ip + header_len;
	if ((void *)(icmp + 1) > data_end)
		return XDP_PASS;
	if (icmp->type == ICMP_REDIRECT_)
		return verdict(icmp->type, drop_redirects);
	if (icmp->type != ICMP_ECHO_REQUEST)
		return verdict(icmp->type, 0);
	__builtin_memcpy(key.addr, &ip->saddr, sizeof(key.addr));
	return verdict(icmp->type, !bpf_map_lookup_elem(&allow_v4, &key));
}

static __always_inline int guard_v6(struct ipv6hdr *ip6, void *data_end)
{
	struct lpm_key_v6 key = { .prefixlen = 128 };
	struct icmp_head *icmp = (void *)(ip6 + 1);

	/* Extension headers are not walked: ICMPv6 right after the header. */
	if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_ICMPV6)
		return XDP_PASS;
	if ((void *)(icmp + 1) > data_end)
		return XDP_PASS;
	if (icmp->type == ICMPV6_REDIRECT)
		return verdict(256 + icmp->type, drop_redirects);
	if (icmp->type != ICMPV6_ECHO_REQUEST)
		return verdict(256 + icmp->type, 0);
	__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
	return verdict(256 + icmp->type, !bpf_map_lookup_elem(&allow_v6, &key));
}

SEC("xdp")
int icmp_guard(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *cursor = eth + 1;
	__u16 proto;
	int i;

	if (cursor > data_end)
		return count_action(ctx, XDP_PASS);
	proto = eth->h_proto;

#pragma unroll
	for (i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_hdr_ *vlan = cursor;

		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_))
			break;
		if ((void *)(vlan + 1) > data_end)
			return count_action(ctx, XDP_PASS);
		proto = vlan->encapsulated_proto;
		cursor = vlan + 1;
	}

	if (proto == bpf_htons(ETH_P_IP))
		return count_action(ctx, guard_v4(cursor, data_end));
	if (proto == bpf_htons(ETH_P_IPV6))
		return count_action(ctx, guard_v6(cursor, data_end));
	return count_action(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";

/* The per-packet benchmark's reference: the tightest program this project
 * could write by hand with the filter template's semantics and maps, for
 * kernel 4.14 (-mcpu=v2, no global data, no bounded loops). The benchmark
 * builds it in place of a filter project's kern source, checks that it
 * passes the template's packet tests, then times it against the template
 * round by round.
 *
 * Everything the template decides, in the same maps: rule_kinds[0] says
 * which rule maps hold rules; drop_proto by IP protocol, drop_port as a
 * bitmap (TCP words 0-1023, UDP 1024-2047), drop_src_v4/v6 as LPM tries;
 * every packet is counted per action in xdp_stats. What makes it tight:
 * one counting site, both IP versions read at fixed offsets when the frame
 * is the common one (untagged, IPv4 without options, IPv6), and each rule
 * kind tested only when it holds rules. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define KIND_PROTO 1
#define KIND_PORT 2
#define KIND_SRC4 4
#define KIND_SRC6 8
#define UDP_WORDS 1024

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_REDIRECT + 1);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rule_kinds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_proto SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * UDP_WORDS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_port SEC(".maps");

struct key4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct key6 {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct key4);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_src_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct key6);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_src_v6 SEC(".maps");

static __always_inline int src4_hit(void *saddr)
{
	struct key4 key = { .prefixlen = 32 };

	__builtin_memcpy(key.addr, saddr, 4);
	return bpf_map_lookup_elem(&drop_src_v4, &key) != 0;
}

static __always_inline int src6_hit(void *saddr)
{
	struct key6 key = { .prefixlen = 128 };

	__builtin_memcpy(key.addr, saddr, 16);
	return bpf_map_lookup_elem(&drop_src_v6, &key) != 0;
}

static __always_inline int proto_hit(__u32 proto)
{
	__u32 *set = bpf_map_lookup_elem(&drop_proto, &proto);

	return set && *set;
}

/* `l4` is the transport header, `room` whether 20 bytes of it are in the
 * packet (a TCP port counts only in a whole header; UDP's 8 are known). */
static __always_inline int port_hit(__u32 proto, __be16 *l4, int tcp_whole)
{
	__u32 port = bpf_ntohs(l4[1]), word = port >> 6;
	__u64 *bits;

	if (proto == IPPROTO_UDP)
		word += UDP_WORDS;
	else if (proto != IPPROTO_TCP || !tcp_whole)
		return 0;
	bits = bpf_map_lookup_elem(&drop_port, &word);
	return bits && ((*bits >> (port & 63)) & 1);
}

/* The rules on one IP header's fields; `l4` has at least 8 bytes. */
static __always_inline int hit(__u32 kinds, int v6, void *saddr, __u32 proto, __be16 *l4,
			       void *data_end)
{
	if ((kinds & KIND_SRC4) && !v6 && src4_hit(saddr))
		return 1;
	if ((kinds & KIND_SRC6) && v6 && src6_hit(saddr))
		return 1;
	if ((kinds & KIND_PROTO) && proto_hit(proto))
		return 1;
	if (!(kinds & KIND_PORT))
		return 0;
	return port_hit(proto, l4, (void *)l4 + sizeof(struct tcphdr) <= data_end);
}

/* Any other frame: VLAN tags, IPv4 options, short transport headers. */
static __always_inline int slow_hit(__u32 kinds, void *data, void *data_end, int rawip)
{
	__u16 type;
	void *l3 = data;

	if (rawip) {
		if (data + 1 > data_end)
			return 0;
		type = (*(__u8 *)data >> 4) == 4 ? bpf_htons(ETH_P_IP)
		     : (*(__u8 *)data >> 4) == 6 ? bpf_htons(ETH_P_IPV6) : 0;
	} else {
		if (data + sizeof(struct ethhdr) > data_end)
			return 0;
		type = ((__be16 *)data)[6];
		l3 = data + sizeof(struct ethhdr);
#pragma unroll
		for (int i = 0; i < 2; i++) {
			if (type != bpf_htons(0x8100) && type != bpf_htons(0x88A8))
				break;
			if (l3 + 4 > data_end)
				return 0;
			type = ((__be16 *)l3)[1];
			l3 += 4;
		}
	}
	if (type == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		__u32 ihl;

		if ((void *)(ip + 1) > data_end)
			return 0;
		if (((kinds & KIND_SRC4) && src4_hit(&ip->saddr)) ||
		    ((kinds & KIND_PROTO) && proto_hit(ip->protocol)))
			return 1;
		ihl = ip->ihl * 4;
		if (!(kinds & KIND_PORT) || ihl < sizeof(*ip))
			return 0;
		if (l3 + ihl + sizeof(struct udphdr) > data_end)
			return 0;
		return port_hit(ip->protocol, l3 + ihl,
				l3 + ihl + sizeof(struct tcphdr) <= data_end);
	}
	if (type == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return 0;
		if (((kinds & KIND_SRC6) && src6_hit(&ip6->saddr)) ||
		    ((kinds & KIND_PROTO) && proto_hit(ip6->nexthdr)))
			return 1;
		if (!(kinds & KIND_PORT) || (void *)(ip6 + 1) + sizeof(struct udphdr) > data_end)
			return 0;
		return port_hit(ip6->nexthdr, (void *)(ip6 + 1),
				(void *)(ip6 + 1) + sizeof(struct tcphdr) <= data_end);
	}
	return 0;
}

static __always_inline __u32 verdict(__u32 kinds, void *data, void *data_end, int rawip)
{
	__u32 link = rawip ? 0 : sizeof(struct ethhdr);
	__u32 first;

	if (data + link + sizeof(struct ipv6hdr) + sizeof(struct udphdr) <= data_end) {
		/* Ethernet: EtherType and the IP header's first byte in one load. */
		first = rawip ? *(__u8 *)data : bpf_ntohl(*(__u32 *)(data + 12));
		if (rawip ? first == 0x45 : (first & 0xffff0f00) == 0x08000500)
			return hit(kinds, 0, data + link + 12, *(__u8 *)(data + link + 9),
				   data + link + 20, data_end) ? XDP_DROP : XDP_PASS;
		if (rawip ? (first >> 4) == 6 : (first >> 16) == ETH_P_IPV6)
			return hit(kinds, 1, data + link + 8, *(__u8 *)(data + link + 6),
				   data + link + 40, data_end) ? XDP_DROP : XDP_PASS;
	} else if (data + link + sizeof(struct iphdr) + sizeof(struct udphdr) <= data_end) {
		first = rawip ? *(__u8 *)data : bpf_ntohl(*(__u32 *)(data + 12));
		if (rawip ? first == 0x45 : (first & 0xffff0f00) == 0x08000500)
			return hit(kinds, 0, data + link + 12, *(__u8 *)(data + link + 9),
				   data + link + 20, data_end) ? XDP_DROP : XDP_PASS;
	}
	return slow_hit(kinds, data, data_end, rawip) ? XDP_DROP : XDP_PASS;
}

static __always_inline int filter(struct xdp_md *ctx, int rawip)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0, *kinds = bpf_map_lookup_elem(&rule_kinds, &zero);
	__u32 action = XDP_PASS;
	struct counter *counter;

	if (kinds && *kinds)
		action = verdict(*kinds, data, data_end, rawip);
	counter = bpf_map_lookup_elem(&xdp_stats, &action);
	if (counter) {
		counter->packets++;
		counter->bytes += data_end - data;
	}
	return action;
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	return filter(ctx, 0);
}

SEC("xdp")
int xdp_filter_rawip(struct xdp_md *ctx)
{
	return filter(ctx, 1);
}

char _license[] SEC("license") = "GPL";

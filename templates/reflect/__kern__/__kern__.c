/* {{name}}: answers pings and a UDP echo port from XDP, before the kernel's
 * network stack sees them: the packet goes back out of the interface it
 * came in on (XDP_TX) with its Ethernet and IP addresses swapped (IP only,
 * on an interface without Ethernet: xdp_reflect_rawip).
 *
 *   ICMP echo request (8)    -> echo reply (0): the ICMP checksum adjusted
 *   ICMPv6 echo request (128) -> echo reply (129): likewise
 *   UDP to the echo port     -> the same datagram back, ports swapped (the
 *                               checksum stays right: swapping addresses and
 *                               ports does not change the sums)
 *
 *     {{loader}} attach IFACE --udp-port 7
 *
 * Anything else passes to the kernel. Counted per action in xdp_stats. */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#include "xdp_parse.h"
#include "xdp_stats.h"


/* Slot 0: the UDP port echoed (host order; 0 = none). Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} echo_port SEC(".maps");

/* The first four bytes of ICMP and ICMPv6 alike. */
struct icmp_head {
	__u8 type;
	__u8 code;
	__sum16 checksum;
};

/* RFC 1624: the ones' complement checksum after one 16-bit word of what
 * it covers went from `old` to `new` (both in network order). */
static __always_inline __sum16 csum_replace(__sum16 check, __be16 old, __be16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u16)new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__sum16)~sum;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

static __always_inline int echo_udp(struct udphdr *udp, void *data_end)
{
	__u32 key = 0;
	__u32 *port;
	__be16 tmp;

	if ((void *)(udp + 1) > data_end)
		return 0;
	port = bpf_map_lookup_elem(&echo_port, &key);
	if (!port || !*port || bpf_ntohs(udp->dest) != *port)
		return 0;
	tmp = udp->source;
	udp->source = udp->dest;
	udp->dest = tmp;
	return 1;
}

static __always_inline int reflect_v4(struct iphdr *ip, void *data_end)
{
	__be32 tmp;
	__u32 header_len;
	void *l4;
	int answered = 0;

	if ((void *)(ip + 1) > data_end)
		return 0;
	header_len = ip->ihl * 4;
	if (header_len < sizeof(*ip))
		return 0;
	l4 = (void *)ip + header_len;
	if (ip->protocol == IPPROTO_ICMP) {
		struct icmp_head *icmp = l4;

		if ((void *)(icmp + 1) > data_end || icmp->type != 8 || icmp->code != 0)
			return 0;
		icmp->type = 0;
		/* type and code are one word: 0x0800 became 0x0000. */
		icmp->checksum = csum_replace(icmp->checksum, bpf_htons(0x0800), 0);
		answered = 1;
	} else if (ip->protocol == IPPROTO_UDP) {
		answered = echo_udp(l4, data_end);
	}
	if (!answered)
		return 0;
	/* Swapped, the addresses sum the same: the header checksum stays. */
	tmp = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = tmp;
	return 1;
}

static __always_inline int reflect_v6(struct ipv6hdr *ip6, void *data_end)
{
	struct in6_addr tmp;
	int answered = 0;

	if ((void *)(ip6 + 1) > data_end)
		return 0;
	if (ip6->nexthdr == IPPROTO_ICMPV6) {
		struct icmp_head *icmp = (void *)(ip6 + 1);

		if ((void *)(icmp + 1) > data_end || icmp->type != 128 || icmp->code != 0)
			return 0;
		icmp->type = 129;
		icmp->checksum = csum_replace(icmp->checksum, bpf_htons(128 << 8), bpf_htons(129 << 8));
		answered = 1;
	} else if (ip6->nexthdr == IPPROTO_UDP) {
		answered = echo_udp((void *)(ip6 + 1), data_end);
	}
	if (!answered)
		return 0;
	tmp = ip6->saddr;
	ip6->saddr = ip6->daddr;
	ip6->daddr = tmp;
	return 1;
}

static __always_inline int reflect(struct xdp_md *ctx, int rawip)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *cursor;
	__u16 proto;
	int answered = 0;

	proto = parse_link(data, data_end, &cursor, rawip);
	if (proto == bpf_htons(ETH_P_IP))
		answered = reflect_v4(cursor, data_end);
	else if (proto == bpf_htons(ETH_P_IPV6))
		answered = reflect_v6(cursor, data_end);
	if (!answered)
		return count_action(ctx, XDP_PASS);
	/* Raw IP has no MAC addresses to swap. */
	if (!rawip)
		swap_macs(data);
	return count_action(ctx, XDP_TX);
}

SEC("xdp")
int xdp_reflect(struct xdp_md *ctx)
{
	return reflect(ctx, 0);
}

/* For an interface without an Ethernet header: the loader attaches this one. */
SEC("xdp")
int xdp_reflect_rawip(struct xdp_md *ctx)
{
	return reflect(ctx, 1);
}

char _license[] SEC("license") = "GPL";

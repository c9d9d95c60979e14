/* {{name}}: counts traffic per IP protocol and destination port, and lets
 * every packet through. The counters are per CPU (no atomics on the fast
 * path) in an LRU hash, so a port scan evicts the idlest entries instead
 * of filling the map. The loader shows them:
 *
 *     {{loader}} attach IFACE
 *     {{loader}} traffic --watch      # packets, bytes, pps and bps per protocol/port
 *
 * Protocol 0 counts what is not IP (ARP ...); ports are 0 for protocols
 * without them (ICMP ...). */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include "xdp_parse.h"
#include "xdp_stats.h"


struct flow {
	__u8 proto;
	__u8 pad;
	__u16 port; /* destination port, host order */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct flow);
	__type(value, struct xdp_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} traffic SEC(".maps");

static __always_inline __u16 dest_port(__u8 proto, void *l4, void *data_end)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) <= data_end)
			return bpf_ntohs(tcp->dest);
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) <= data_end)
			return bpf_ntohs(udp->dest);
	}
	return 0;
}

static __always_inline void count(struct flow *flow, __u64 bytes)
{
	struct xdp_counter *c = bpf_map_lookup_elem(&traffic, flow);

	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	} else {
		struct xdp_counter first = { .packets = 1, .bytes = bytes };

		bpf_map_update_elem(&traffic, flow, &first, BPF_NOEXIST);
	}
}

static __always_inline int stats_by_port(struct xdp_md *ctx, int rawip)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *cursor;
	struct flow flow = {};
	__u16 proto;

	proto = parse_link(data, data_end, &cursor, rawip);
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cursor;

		if ((void *)(ip + 1) <= data_end && ip->ihl >= 5) {
			flow.proto = ip->protocol;
			flow.port = dest_port(ip->protocol, (void *)ip + ip->ihl * 4, data_end);
		}
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cursor;

		if ((void *)(ip6 + 1) <= data_end) {
			flow.proto = ip6->nexthdr;
			flow.port = dest_port(ip6->nexthdr, ip6 + 1, data_end);
		}
	}
	count(&flow, data_end - data);
	return count_action(ctx, XDP_PASS);
}

SEC("xdp")
int xdp_stats_by_port(struct xdp_md *ctx)
{
	return stats_by_port(ctx, 0);
}

/* For an interface without an Ethernet header: the loader attaches this one. */
SEC("xdp")
int xdp_stats_by_port_rawip(struct xdp_md *ctx)
{
	return stats_by_port(ctx, 1);
}

char _license[] SEC("license") = "GPL";

/* {{name}}: an XDP packet filter driven by rules held in BPF maps.
 *
 * Parses Ethernet, up to two VLAN tags (802.1Q / 802.1ad), IPv4 and IPv6,
 * then ICMP, ICMPv6, TCP and UDP; xdp_filter_rawip does the same for
 * interfaces without Ethernet (mobile data, tun), and the loader picks it
 * there. A packet is dropped when its IP protocol,
 * its (protocol, destination port) or its source address matches a rule.
 * The loader fills the rule maps (and `rule_kinds`, which says which of
 * them hold rules, so the others cost nothing):
 *
 *     {{loader}} attach IFACE --drop-proto icmp --drop-port udp/9999 --drop-src 10.0.0.0/8
 *
 * Every packet is counted per XDP action in `xdp_stats` (xdp_stats.h). */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/version.h>

#include "xdp_parse.h"
#include "xdp_stats.h"


/* Which kinds of rule the loader has written (RULES_* bits, slot 0): a
 * kind without rules costs no lookup, so with none a packet costs two
 * array reads. The loader keeps it in step with the maps below. */
#define RULES_PROTO 1
#define RULES_PORT 2
#define RULES_SRC_V4 4
#define RULES_SRC_V6 8

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rule_kinds SEC(".maps");

/* Kernels from 5.2 on get a variant of this program (kernel-variants in
 * Cargo.toml; the loader picks it): there the rule kinds and the protocol
 * and port bits are also global data, each program's own copy that the
 * loader lays out from the maps (rules.rs, fill_global_data): a plain
 * load per packet instead of a map lookup. The maps stay where rules are
 * written and read. */
#if CARGO_XDP_KERNEL >= KERNEL_VERSION(5, 2, 0)
#define RULES_IN_GLOBAL_DATA 1
#define PROTO_WORDS 4
#endif

/* Index: IP protocol number (IPPROTO_ICMP, IPPROTO_ICMPV6, ...); non-zero = drop. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_proto SEC(".maps");

/* Destination ports to drop, a bit each: TCP's 65,536 bits in words
 * 0-1023, UDP's in 1024-2047 (word port / 64, bit port % 64). An array
 * read instead of a hash lookup, and room for every port. */
#define PORT_WORDS 1024

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_port SEC(".maps");

#ifdef RULES_IN_GLOBAL_DATA
struct rule_copy {
	__u32 kinds;
	__u32 unused;
	__u64 protos[PROTO_WORDS];	/* bit proto % 64 of word proto / 64 */
	__u64 ports[2 * PORT_WORDS];	/* as drop_port */
};

/* In a section of its own: the loader finds it by name (".bss.rules"). */
struct rule_copy rules SEC(".bss.rules");
#endif

struct lpm_key_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_key_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Source prefixes to drop, longest-prefix match. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key_v4);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_src_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key_v6);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drop_src_v6 SEC(".maps");

static __always_inline int proto_dropped(__u32 kinds, __u32 proto)
{
#ifndef RULES_IN_GLOBAL_DATA
	__u32 *flag;
#endif

	if (!(kinds & RULES_PROTO))
		return 0;
#ifdef RULES_IN_GLOBAL_DATA
	proto &= 0xff;
	return (rules.protos[proto / 64] >> (proto % 64)) & 1;
#else
	flag = bpf_map_lookup_elem(&drop_proto, &proto);
	return flag && *flag;
#endif
}

/* Whether a --drop-src rule holds the IPv4 source address `saddr`. */
static __always_inline int src_v4_dropped(__u32 kinds, __be32 *saddr)
{
	struct lpm_key_v4 key = { .prefixlen = 32 };

	if (!(kinds & RULES_SRC_V4))
		return 0;
	__builtin_memcpy(key.addr, saddr, sizeof(key.addr));
	return bpf_map_lookup_elem(&drop_src_v4, &key) != NULL;
}

/* Whether a port rule holds `dport`: bit dport % 64 of drop_port[word]. */
static __always_inline int port_bit_set(__u32 word, __u32 dport)
{
#ifdef RULES_IN_GLOBAL_DATA
	return word < 2 * PORT_WORDS && (rules.ports[word] >> (dport % 64)) & 1;
#else
	__u64 *bits = bpf_map_lookup_elem(&drop_port, &word);

	return bits && (*bits >> (dport % 64)) & 1;
#endif
}

static __always_inline int port_dropped(__u32 kinds, __u32 proto, void *l4, void *data_end)
{
	__u32 word;
	__u16 dport;

	if (!(kinds & RULES_PORT))
		return 0;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return 0;
		dport = bpf_ntohs(tcp->dest);
		word = dport / 64;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return 0;
		dport = bpf_ntohs(udp->dest);
		word = PORT_WORDS + dport / 64;
	} else {
		return 0;
	}
	return port_bit_set(word, dport);
}

static __always_inline int ipv4_dropped(__u32 kinds, struct iphdr *ip, void *data_end)
{
	__u32 header_len;

	if ((void *)(ip + 1) > data_end)
		return 0;
	if (src_v4_dropped(kinds, &ip->saddr) || proto_dropped(kinds, ip->protocol))
		return 1;
	header_len = ip->ihl * 4;
	if (header_len < sizeof(*ip))
		return 0;
	return port_dropped(kinds, ip->protocol, (void *)ip + header_len, data_end);
}

static __always_inline int ipv6_dropped(__u32 kinds, struct ipv6hdr *ip6, void *data_end)
{
	if ((void *)(ip6 + 1) > data_end)
		return 0;
	if (kinds & RULES_SRC_V6) {
		struct lpm_key_v6 key = { .prefixlen = 128 };

		__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
		if (bpf_map_lookup_elem(&drop_src_v6, &key))
			return 1;
	}
	/* Extension headers are not walked: rules see the first next-header. */
	if (proto_dropped(kinds, ip6->nexthdr))
		return 1;
	return port_dropped(kinds, ip6->nexthdr, ip6 + 1, data_end);
}

/* The port rules on a transport header at a fixed offset that has at
 * least a UDP header's length (TCP's ports sit at the same offsets). */
static __always_inline int fixed_port_dropped(__u32 kinds, __u32 proto, __be16 *ports,
					      void *data_end)
{
	__u32 dport = bpf_ntohs(ports[1]);
	__u32 word = dport / 64;

	if (!(kinds & RULES_PORT))
		return 0;
	if (proto == IPPROTO_UDP)
		word += PORT_WORDS;
	else if (proto != IPPROTO_TCP || (void *)ports + sizeof(struct tcphdr) > data_end)
		return 0; /* as port_dropped: a TCP port counts only in a whole header */
	return port_bit_set(word, dport);
}

/* ipv4_dropped for the frame most IPv4 packets are: Ethernet without a
 * VLAN tag, IPv4 without options, then at least a UDP header's length.
 * The same rules in the same order, every field at a fixed offset, so the
 * CPU reads them all at once instead of each after the length of the
 * header before it. */
static __always_inline int common_v4_dropped(__u32 kinds, struct iphdr *ip, void *data_end)
{
	__u32 proto = ip->protocol;

	/* One test for both when neither kind has rules. */
	if ((kinds & (RULES_SRC_V4 | RULES_PROTO)) &&
	    (src_v4_dropped(kinds, &ip->saddr) || proto_dropped(kinds, proto)))
		return 1;
	return fixed_port_dropped(kinds, proto, (void *)(ip + 1), data_end);
}

/* ipv6_dropped for an untagged IPv6 frame with at least a UDP header's
 * length after the IPv6 header: the same fixed offsets. */
static __always_inline int common_v6_dropped(__u32 kinds, struct ipv6hdr *ip6, void *data_end)
{
	__u32 proto = ip6->nexthdr;

	if (kinds & RULES_SRC_V6) {
		struct lpm_key_v6 key = { .prefixlen = 128 };

		__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
		if (bpf_map_lookup_elem(&drop_src_v6, &key))
			return 1;
	}
	if (proto_dropped(kinds, proto))
		return 1;
	return fixed_port_dropped(kinds, proto, (void *)(ip6 + 1), data_end);
}

/* The verdict on a packet: 1 to drop it. */
static __always_inline int dropped(__u32 kinds, void *data, void *data_end, int rawip)
{
	__u32 link_len = rawip ? 0 : sizeof(struct ethhdr);
	void *ip = data + link_len;
	void *cursor;
	__u32 head;
	__u16 proto;

	/* The common frames, told by one load: Ethernet's EtherType and the
	 * IPv4 header's first byte (bytes 12-14), raw IP's first byte. IPv4
	 * needs IHL 5 (the version nibble and TOS are masked off; ipv4_dropped
	 * does not read them either). */
	if (ip + sizeof(struct iphdr) + sizeof(struct udphdr) <= data_end) {
		head = rawip ? *(__u8 *)data << 16 : bpf_ntohl(*(__u32 *)(data + 12));
		if (rawip ? head == 0x450000 : (head & 0xffff0f00) == 0x08000500)
			return common_v4_dropped(kinds, ip, data_end);
		if ((rawip ? head >> 20 == 6 : head >> 16 == ETH_P_IPV6) &&
		    ip + sizeof(struct ipv6hdr) + sizeof(struct udphdr) <= data_end)
			return common_v6_dropped(kinds, ip, data_end);
	}
	proto = parse_link(data, data_end, &cursor, rawip);
	if (proto == bpf_htons(ETH_P_IP))
		return ipv4_dropped(kinds, cursor, data_end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return ipv6_dropped(kinds, cursor, data_end);
	return 0;
}

static __always_inline int filter(struct xdp_md *ctx, int rawip)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 action = XDP_PASS;
#ifdef RULES_IN_GLOBAL_DATA
	__u32 kinds = rules.kinds;
#else
	__u32 zero = 0;
	__u32 *found = bpf_map_lookup_elem(&rule_kinds, &zero);
	__u32 kinds = found ? *found : 0;
#endif

	/* No rules: nothing to parse for. */
	if (kinds && dropped(kinds, data, data_end, rawip))
		action = XDP_DROP;
	/* One counting site whatever the verdict: one xdp_stats lookup. */
	return count_action(ctx, action);
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	return filter(ctx, 0);
}

/* For an interface without an Ethernet header: the loader attaches this one. */
SEC("xdp")
int xdp_filter_rawip(struct xdp_md *ctx)
{
	return filter(ctx, 1);
}

char _license[] SEC("license") = "GPL";

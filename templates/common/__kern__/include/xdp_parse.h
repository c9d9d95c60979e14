/* Written by `cargo xdp new`: the Ethernet and VLAN parsing the programs
 * of this project share, and the same for interfaces without an Ethernet
 * header. Yours to change, like the rest of {{kern}}/. */
#ifndef XDP_PARSE_H
#define XDP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
/* 802.1ad outside 802.1Q: the most tags a frame carries in practice. */
#define MAX_VLAN_TAGS 2

struct vlan_hdr_ {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* The EtherType (network order) after the Ethernet header and up to two
 * VLAN tags, with *cursor at what follows them; 0 when the frame is too
 * short to tell (no EtherType is 0, so a program simply passes it). */
static __always_inline __u16 parse_ethernet(void *data, void *data_end, void **cursor)
{
	struct ethhdr *eth = data;
	__u16 proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return 0;
	/* One 16-bit load (h_proto of the packed ethhdr would be two). */
	proto = ((__be16 *)data)[6];
	*cursor = eth + 1;
#pragma unroll
	for (i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_hdr_ *vlan = *cursor;

		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_))
			break;
		if ((void *)(vlan + 1) > data_end)
			return 0;
		proto = vlan->encapsulated_proto;
		*cursor = vlan + 1;
	}
	return proto;
}

/* The EtherType (network order) of a packet that starts at its IP header,
 * as on an interface without Ethernet (mobile data's rmnet_data*, tun,
 * IP-in-IP tunnels), told by the IP version, with *cursor at the IP header;
 * 0 when it is neither IPv4 nor IPv6. */
static __always_inline __u16 parse_rawip(void *data, void *data_end, void **cursor)
{
	__u8 *first = data;

	if ((void *)(first + 1) > data_end)
		return 0;
	*cursor = data;
	if ((*first >> 4) == 4)
		return bpf_htons(ETH_P_IP);
	if ((*first >> 4) == 6)
		return bpf_htons(ETH_P_IPV6);
	return 0;
}

/* parse_rawip or parse_ethernet. Each program comes in two variants, `name`
 * and `name_rawip`, which pass a constant `rawip`: the other parser is
 * compiled out, and nothing is guessed per packet. The loader attaches the
 * `_rawip` one to an interface that carries raw IP (AOSP ships its XDP
 * programs as ETHER and RAWIP variants the same way). */
static __always_inline __u16 parse_link(void *data, void *data_end, void **cursor, int rawip)
{
	if (rawip)
		return parse_rawip(data, data_end, cursor);
	return parse_ethernet(data, data_end, cursor);
}

#endif /* XDP_PARSE_H */

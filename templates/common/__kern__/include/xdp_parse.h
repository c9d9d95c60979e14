/* Written by `cargo xdp new`: the Ethernet and VLAN parsing the programs
 * of this project share. Yours to change, like the rest of {{kern}}/. */
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

#endif /* XDP_PARSE_H */

/*
 * cargo-xdp, every target: libbpf's <bpf/bpf_helpers.h> (the pinned
 * libbpf-sys crate's), plus what libbpf 1.0 took out of it and older XDP
 * programs still use: `struct bpf_map_def` for maps in SEC("maps"), as
 * libbpf 0.x had it. aya loads such maps.
 */
#include_next <bpf/bpf_helpers.h>

#ifndef CARGO_XDP_BPF_MAP_DEF
#define CARGO_XDP_BPF_MAP_DEF
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};
#endif

/* {{name}}: every packet that arrives on the interface it is attached to
 * leaves through another one, without the network stack: XDP_REDIRECT
 * through a DEVMAP whose slot 0 the loader fills.
 *
 *     {{loader}} attach eth0 --to eth1
 *
 * The packet is sent as it came (no MAC rewrite): a bridge-like forward,
 * for a host that only relays. Counted per action in xdp_stats. */
#include "xdp_stats.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32); /* the interface index to send through */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} redirect_to SEC(".maps");

SEC("xdp")
int xdp_redirect_all(struct xdp_md *ctx)
{
	/* flags 0: kernels before 5.6 refuse others; an empty slot aborts. */
	return count_action(ctx, bpf_redirect_map(&redirect_to, 0, 0));
}

char _license[] SEC("license") = "GPL";

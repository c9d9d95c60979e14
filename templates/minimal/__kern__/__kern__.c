/* {{name}}: the classic three XDP programs. Pick one when attaching:
 *
 *     {{loader}} attach IFACE --prog xdp_drop
 *
 * aya (the loader's library) names programs by function and wants the
 * section to be exactly "xdp", so the three live in one section and are
 * told apart by name. */
#include "xdp_stats.h"

/* Let every packet through. */
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return count_action(ctx, XDP_PASS);
}

/* Drop every packet. */
SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return count_action(ctx, XDP_DROP);
}

/* Drop every packet and fire the xdp:xdp_exception tracepoint. */
SEC("xdp")
int xdp_abort(struct xdp_md *ctx)
{
	return count_action(ctx, XDP_ABORTED);
}

char _license[] SEC("license") = "GPL";

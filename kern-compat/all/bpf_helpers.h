/*
 * cargo-xdp, every target: the 2017-2019 spelling `#include "bpf_helpers.h"`
 * (the kernel's samples/bpf, early xdp-tutorial) gets libbpf's header, with
 * `struct bpf_map_def` (see bpf/bpf_helpers.h here). A bpf_helpers.h of the
 * project's own, beside the source or in a -I dir, comes first.
 */
#include <bpf/bpf_helpers.h>

/*
 * cargo-xdp, Android targets: kern code includes <linux/udp.h> and uses
 * `struct udphdr` (source, dest, len, check), as the kernel's uapi header
 * defines it. Bionic's copy of that header calls the struct
 * `__kernel_udphdr` and leaves `struct udphdr` to <netinet/udp.h>, which
 * has the same members (plus the BSD names). Both, then; unless the code
 * writes AOSP's `#define __kernel_udphdr udphdr` first, which makes
 * bionic's header define `struct udphdr` itself.
 */
#include_next <linux/udp.h>
#ifndef __kernel_udphdr
#include <netinet/udp.h>
#endif

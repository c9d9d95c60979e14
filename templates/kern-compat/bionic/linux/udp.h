/*
 * cargo-xdp, Android targets: kern code includes <linux/udp.h> and uses
 * `struct udphdr` (source, dest, len, check), as the kernel's uapi header
 * defines it. Bionic's copy of that header calls the struct
 * `__kernel_udphdr` and leaves `struct udphdr` to <netinet/udp.h>, which
 * has the same members (plus the BSD names). Both, then.
 */
#include_next <linux/udp.h>
#include <netinet/udp.h>

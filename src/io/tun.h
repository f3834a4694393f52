/* TUN devices. Backend: tun-linux.c (IFF_TUN | IFF_NO_PI). */
#ifndef SPOKEWIRE_IO_TUN_H
#define SPOKEWIRE_IO_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Creates (or attaches to) TUN name with IFF_VNET_HDR, so every read and
 * write starts with a struct virtio_net_hdr; returns a non-blocking fd or
 * -errno. *offload says whether TSO/checksum offload was accepted (reads may
 * then be super-packets; see offload.h). The kernel may pick the name if it
 * contains %d; *name_out gets it. */
int tun_open(const char *name, char name_out[16], bool *offload);
/* Interface MTU, or -errno (ENODEV once the interface is gone). */
int tun_get_mtu(const char *name);
int tun_set_mtu(const char *name, int mtu);
/* True while the interface exists. */
int tun_exists(const char *name);

#endif

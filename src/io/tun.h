/* TUN devices. Backend: tun-linux.c (IFF_TUN | IFF_NO_PI). */
#ifndef SPOKEWIRE_IO_TUN_H
#define SPOKEWIRE_IO_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum tun_offload {
	TUN_OFFLOAD_TSO = 1 << 0, /* TCP super-packets both ways, checksums */
	TUN_OFFLOAD_USO = 1 << 1, /* UDP super-packets both ways (Linux 6.2) */
};

/* Creates (or attaches to) TUN name with IFF_VNET_HDR, so every read and
 * write starts with a struct virtio_net_hdr; returns a non-blocking fd or
 * -errno. *offload gets the TUN_OFFLOAD_* the kernel accepted (reads may
 * then be super-packets; see offload.h). The kernel may pick the name if it
 * contains %d; *name_out gets it. */
int tun_open(const char *name, char name_out[16], unsigned *offload);
/* Interface MTU, or -errno (ENODEV once the interface is gone). */
int tun_get_mtu(const char *name);
int tun_set_mtu(const char *name, int mtu);
int tun_set_txqueuelen(const char *name, int len);
/* Whether the device behind the fd still exists, wherever it is now (a
 * move to another network namespace keeps it): 0, or -errno (EBADFD once
 * it was deleted). Its current name, if asked. */
int tun_alive(int fd, char name_out[16]);

/* Link changes in our namespace (rtnetlink RTMGRP_LINK), so an MTU change
 * applies at once: a non-blocking socket, or -errno. */
int tun_link_watch_open(void);
/* Reads what is queued: for the link ifindex, *mtu gets its latest MTU (0:
 * no news) and *gone becomes true on a RTM_DELLINK (deleted, or moved to
 * another namespace: tell them apart with tun_alive()). */
void tun_link_watch_read(int fd, int ifindex, int *mtu, bool *gone);

#endif

/* TUN offloads without I/O: splitting the TSO super-packets a TUN with
 * IFF_VNET_HDR hands us into MTU-sized segments, and coalescing received TCP
 * segments of one flow into super-packets the kernel accepts (GRO). Both
 * fix up IP and TCP headers and checksums. */
#ifndef SPOKEWIRE_IO_OFFLOAD_H
#define SPOKEWIRE_IO_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/csum.h"

/* Linux 6.2 UDP segmentation offload; Debian 12's headers predate it. */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

enum {
	VNET_HDR_LEN = sizeof(struct virtio_net_hdr),
	OFFLOAD_MAX_SEGS = 64,
	OFFLOAD_MAX_LEN = 65535,
};

/* Sum of the TCP/UDP pseudo-header for the packet's addresses. */
uint32_t csum_pseudo(const uint8_t *ip, int proto, size_t l4_len);

struct offload_sink {
	/* Room for one segment of up to len bytes, or NULL to stop. */
	uint8_t *(*alloc)(void *ctx, size_t len);
	/* The segment just written at the pointer alloc returned. */
	void (*emit)(void *ctx, uint8_t *seg, size_t len);
	void *ctx;
};

/* pkt/len is one read from the TUN (without the vnet header h). Emits the
 * packet itself (checksum completed if h asks for it) or its TCP or UDP
 * segments.
 * Returns the number of segments emitted, or -EINVAL for a packet we cannot
 * segment (dropped). */
int offload_split(const struct virtio_net_hdr *h, uint8_t *pkt, size_t len,
		  const struct offload_sink *sink);

/* One inner packet to write; VNET_HDR_LEN bytes before data are ours. */
struct offload_pkt {
	uint8_t *data;
	uint32_t len;
};

/* A write to the TUN: iov[0] starts with the vnet header. */
struct offload_write {
	unsigned first;  /* index of the head packet */
	unsigned count;  /* packets merged into it */
};

/* Groups pkts into writes, merging TCP segments of the same flow that
 * continue each other (same rules as Linux tcp_gro_receive) and, if udp,
 * equal-sized UDP datagrams of one flow (the last may be shorter). Rewrites the
 * head packet's headers and writes the vnet header before each head. The
 * payloads of merged packets stay where they are: write head->data -
 * VNET_HDR_LEN .. head end, then each follower's payload (offload_payload).
 * next[] chains the followers of each head (UINT32_MAX ends a chain).
 * Returns the number of writes. */
unsigned offload_coalesce(struct offload_pkt *pkts, unsigned n,
			  struct offload_write *writes, uint32_t *next, bool udp);
/* Whether packet b (blen bytes) may belong to a flow of packet a, a
 * well-formed IP packet: the same IP version and addresses, or b is too
 * short or not IP to tell (then yes: ordering decisions err on the safe
 * side). */
bool offload_same_hosts(const uint8_t *a, const uint8_t *b, size_t blen);
/* Offset of the TCP or UDP payload in a packet accepted into a merge. */
unsigned offload_payload_off(const struct offload_pkt *pkt);

#endif

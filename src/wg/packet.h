/* Packet buffers and their pool: every packet the data path touches lives in
 * a pktbuf taken from a preallocated, growable pool, so nothing is allocated
 * per packet. Buffers keep headroom for the data-message header. */
#ifndef SPOKEWIRE_WG_PACKET_H
#define SPOKEWIRE_WG_PACKET_H

#include <stddef.h>
#include <stdint.h>

enum {
	PKTBUF_HEADROOM = 64,
	PKTBUF_SIZE = 4096 - 64, /* whole struct is one page */
	PKTBUF_CHUNK = 256,      /* buffers allocated together */
};

struct pktbuf {
	struct pktbuf *next;
	uint32_t off; /* payload starts at data + off */
	uint32_t len;
	uint8_t pad[48];
	uint8_t data[PKTBUF_SIZE];
};

struct pktpool {
	struct pktbuf *free;
	size_t nfree, total, max;
	void **chunks;
	size_t nchunks;
};

static inline uint8_t *pkt_data(struct pktbuf *pb)
{
	return pb->data + pb->off;
}

/* Room after the payload. */
static inline size_t pkt_tailroom(const struct pktbuf *pb)
{
	return PKTBUF_SIZE - pb->off - pb->len;
}

void pktpool_init(struct pktpool *pool, size_t max_buffers);
void pktpool_destroy(struct pktpool *pool);
/* A buffer with off = PKTBUF_HEADROOM and len = 0, or NULL when the pool is
 * exhausted. The caller owns it until pktpool_put(). */
struct pktbuf *pktpool_get(struct pktpool *pool);
void pktpool_put(struct pktpool *pool, struct pktbuf *pb);

#endif

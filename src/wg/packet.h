/* Packet buffers and their pool: every packet the data path touches lives in
 * a pktbuf taken from a preallocated, growable pool, so nothing is allocated
 * per packet. Buffers keep headroom for the data-message header. */
#ifndef SPOKEWIRE_WG_PACKET_H
#define SPOKEWIRE_WG_PACKET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An outer address: AF_UNSPEC, IPv4 or IPv6. */
union endpoint {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* The local address a peer's datagram arrived at, so that replies leave
 * from it (the address the peer dialled); family 0: the kernel's choice. */
struct endpoint_src {
	uint16_t family;
	uint8_t addr[16];
	uint32_t ifindex; /* IPv6 link-local addresses need their link */
};

enum pkt_op {
	PKT_ENCRYPT = 1,
	PKT_DECRYPT,
};

/* Per-packet state between the serial bookkeeping and the (possibly
 * parallel) crypto step: everything the AEAD needs is copied here, so a
 * worker never touches peer or keypair state (skb->cb in the kernel). */
struct pkt_cb {
	uint8_t key[32];
	uint64_t nonce;
	union endpoint ep;
	struct endpoint_src src; /* in: where it arrived; out: send from */
	void *peer;
	/* decrypt: the ciphertext when it was left in the receiver's buffer
	 * (aead_open_lent's terms), the data holding only the header; NULL:
	 * all of it is in the data */
	const uint8_t *ext;
	uint32_t index;     /* our receiver index (decrypt) */
	uint32_t plain_len; /* padded plaintext length (encrypt) */
	uint8_t op;
	uint8_t ok;         /* decrypt: the tag verified */
};

enum {
	PKTBUF_HEADER = 192, /* the struct fields and cb: data starts cache-aligned */
	PKTBUF_HEADROOM = 64,
	PKTBUF_SIZE = 4096 - PKTBUF_HEADER, /* whole struct is one page */
	PKTBUF_CHUNK = 256,                 /* buffers allocated together */
};

struct pktbuf {
	struct pktbuf *next;
	uint32_t off; /* payload starts at data + off */
	uint32_t len;
	struct pkt_cb cb;
	uint8_t pad[PKTBUF_HEADER - 16 - sizeof(struct pkt_cb)];
	uint8_t data[PKTBUF_SIZE];
};

_Static_assert(sizeof(struct pktbuf) == 4096, "pktbuf is one page");

struct pktpool {
	struct pktbuf *free;
	struct pktbuf *carve; /* the newest chunk's buffers never handed out */
	size_t ncarve;
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
/* A buffer with off = PKTBUF_HEADROOM, len = 0 and cb.ext = NULL, or NULL
 * when the pool is exhausted. The caller owns it until pktpool_put(). */
struct pktbuf *pktpool_get(struct pktpool *pool);
void pktpool_put(struct pktpool *pool, struct pktbuf *pb);

#endif

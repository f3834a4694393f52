/* The protocol core of one WireGuard interface: identity, peers, cryptokey
 * routing and the packet paths, driven by calls and upcalls (wg_ops). It does
 * no I/O and reads no clock: the daemon, or a unit test, supplies both. */
#ifndef SPOKEWIRE_WG_WG_H
#define SPOKEWIRE_WG_WG_H

#include <stdbool.h>
#include <stdint.h>

#include "wg/allowedips.h"
#include "wg/cookie.h"
#include "wg/diag.h"
#include "wg/index.h"
#include "wg/noise.h"
#include "wg/packet.h"
#include "wg/peer.h"
#include "wg/ratelimiter.h"

/* Outcomes of the packet paths, for counters and tests. */
enum packet_result {
	PACKET_OK,             /* sent, or delivered inward */
	PACKET_STAGED,         /* waiting for a handshake */
	PACKET_HANDSHAKE,      /* a handshake message was processed */
	PACKET_SEND_COOKIE,    /* under load: answered with a cookie reply */
	PACKET_QUEUED,         /* data: waiting for wg_flush() */
	PACKET_DROP,
};

enum {
	WG_QUEUE_MAX = 1024, /* packets between flushes, each way */
};

struct wg_ops {
	/* An outer datagram for ep, from pb->cb.src when it has a family.
	 * Ownership of pb passes to the callee. */
	void (*send)(void *ctx, struct pktbuf *pb, const union endpoint *ep);
	/* A decrypted, checked inner packet. Ownership of pb passes. */
	void (*deliver)(void *ctx, struct pktbuf *pb);
	/* Optional: calls wg_crypt() once for each of pkts[0..n), in any order
	 * and on any threads, returning when all are done. NULL runs them
	 * inline. The results are used in queue order, so each peer's packets
	 * stay in order whatever the workers do. */
	void (*crypt)(void *ctx, struct pktbuf **pkts, unsigned n);
	/* Optional: a refusal worth a line in the log (at most once a minute
	 * per peer or source and reason; see diag.h). */
	void (*diag)(void *ctx, enum wg_diag d, const char *msg);
};

struct wg_stats {
	uint64_t rx_dropped, tx_dropped;
	uint64_t handshakes_received, cookies_sent, under_load_drops;
};

struct wg_device {
	const struct wg_ops *ops;
	void *ctx;
	struct pktpool *pool;
	uint64_t now, now_real; /* monotonic / wall clock, ns */
	unsigned mtu;

	struct noise_static_identity identity;
	struct cookie_checker cookie_checker;
	struct ratelimiter ratelimiter;
	struct index_table index;
	struct allowedips allowedips;

	struct peer *peers_head, *peers_tail;
	struct peer **peer_hash;
	uint32_t peer_hash_mask, npeers;

	/* Under-load detection: handshake messages in the current second. */
	uint64_t load_window_start, last_under_load;
	uint32_t load_window_count;

	/* Data packets between bookkeeping and crypto (see wg_flush). */
	bool batching; /* the caller calls wg_flush(); else every call does */
	struct pktbuf *txq[WG_QUEUE_MAX], *rxq[WG_QUEUE_MAX];
	unsigned ntxq, nrxq;

	struct wg_stats stats;

	/* diag.c */
	uint64_t diag_total[WG_DIAG_COUNT];
	uint64_t diag_last_log[WG_DIAG_COUNT]; /* without peer or source */
	struct wg_diag_source diag_sources[WG_DIAG_SOURCES];
};

/* Returns a device the caller owns (wg_device_free), or NULL. */
struct wg_device *wg_device_new(const struct wg_ops *ops, void *ctx,
				struct pktpool *pool);
void wg_device_free(struct wg_device *wg);
void wg_set_clock(struct wg_device *wg, uint64_t mono_ns, uint64_t real_ns);

/* NULL removes the key. A peer with the new public key is removed. */
void wg_set_private_key(struct wg_device *wg, const uint8_t *key);

/* Borrowed pointers. */
struct peer *wg_peer_lookup(struct wg_device *wg,
			    const uint8_t public_key[NOISE_PUBLIC_KEY_LEN]);
/* Creates a peer owned by wg; NULL on ENOMEM or when public_key is ours. */
struct peer *wg_peer_create(struct wg_device *wg,
			    const uint8_t public_key[NOISE_PUBLIC_KEY_LEN]);
void wg_peer_remove(struct peer *peer);
void wg_peer_remove_all(struct wg_device *wg);
void wg_peer_set_preshared_key(struct peer *peer, const uint8_t *psk);
void wg_peer_set_endpoint(struct peer *peer, const struct sockaddr *sa);
/* Sends a keepalive right away when turned on, as the kernel does. */
void wg_peer_set_persistent_keepalive(struct peer *peer, uint16_t interval);
int wg_peer_add_allowedip(struct peer *peer, int family, const void *addr,
			  uint8_t cidr);
int wg_peer_remove_allowedip(struct peer *peer, int family, const void *addr,
			     uint8_t cidr);
void wg_peer_clear_allowedips(struct peer *peer);

/* Outbound inner IP packet (from TUN). Takes ownership of pb. */
enum packet_result wg_send(struct wg_device *wg, struct pktbuf *pb);
/* Our local address src no longer works for sending (it was removed):
 * every peer that replied from it goes back to the kernel's choice. */
void wg_forget_src(struct wg_device *wg, const struct endpoint_src *src);
/* Inbound outer UDP payload from src; pb->cb.src is the local address it
 * arrived at (family 0 if unknown). Takes ownership of pb. pb holds the
 * datagram; or, for a data message, its header, with pb->cb.ext pointing
 * at the whole datagram in the caller's buffer, which must stay as it is
 * until the next wg_flush and have aead_open_lent's lead and trail. */
enum packet_result wg_receive(struct wg_device *wg, struct pktbuf *pb,
			      const union endpoint *src);
/* Fires expired timers and housekeeping; call every ~100 ms. */
void wg_tick(struct wg_device *wg);
/* Encrypts and sends, then decrypts, checks and delivers, every queued data
 * packet. With wg->batching the caller does this after each batch. */
void wg_flush(struct wg_device *wg);
/* The AEAD step for one queued packet: touches nothing but pb. */
void wg_crypt(struct pktbuf *pb);

/* send.c helpers shared with timers.c */
void wg_send_handshake_initiation(struct peer *peer, bool is_retry);
void wg_send_keepalive(struct peer *peer);
void wg_send_staged(struct peer *peer);
void wg_purge_staged(struct peer *peer);
void wg_flush_tx(struct wg_device *wg);
void wg_flush_rx(struct wg_device *wg);
/* wg_crypt() over a batch, through ops->crypt when there is one. */
void wg_crypt_batch(struct wg_device *wg, struct pktbuf **pkts, unsigned n);
/* receive.c's AEAD step, called from wg_crypt(). */
bool wg_decrypt_packet(struct pktbuf *pb);
void wg_send_handshake_response(struct peer *peer);
void wg_send_cookie(struct wg_device *wg, const void *msg, size_t len,
		    uint32_t sender_index, const union endpoint *src,
		    const struct endpoint_src *local);

#endif

/* A peer: its handshake, sessions, cookie, endpoint, allowed IPs and timers. */
#ifndef SPOKEWIRE_WG_PEER_H
#define SPOKEWIRE_WG_PEER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "wg/allowedips.h"
#include "wg/cookie.h"
#include "wg/diag.h"
#include "wg/noise.h"
#include "wg/packet.h"

struct pktbuf;
struct wg_device;

enum peer_timer {
	TIMER_RETRANSMIT_HANDSHAKE,
	TIMER_SEND_KEEPALIVE,
	TIMER_NEW_HANDSHAKE,
	TIMER_ZERO_KEY_MATERIAL,
	TIMER_PERSISTENT_KEEPALIVE,
	TIMER_COUNT,
};

struct peer {
	struct wg_device *wg;
	struct peer *prev, *next; /* device list, in insertion order */
	struct peer *hash_next;   /* device pubkey table */
	struct noise_handshake handshake;
	struct noise_keypairs keypairs;
	struct cookie latest_cookie;
	union endpoint endpoint; /* sa_family == AF_UNSPEC: none yet */
	struct endpoint_src src;  /* our address it last reached us at */
	struct allowedips_list allowedips;

	uint64_t rx_bytes, tx_bytes;
	uint64_t last_handshake_real_ns;
	uint64_t last_sent_handshake; /* monotonic ns */
	uint16_t persistent_keepalive_interval;
	uint32_t tag; /* the embedder's (a node's policy group); 0 by default */
	/* diag.c: refusals counted against this peer, and its friendly name;
	 * made on first use (an idle peer stays small). */
	struct peer_extra *extra;

	/* timers.c: absolute monotonic deadlines, 0 = not pending. */
	uint64_t timers[TIMER_COUNT];
	unsigned timer_handshake_attempts;
	bool timer_need_another_keepalive;
	bool sent_lastminute_handshake;

	/* Inner packets waiting for a session, oldest first. */
	struct pktbuf *staged_head, *staged_tail;
	unsigned staged_count;
};

#define for_each_peer(wg, p) for ((p) = (wg)->peers_head; (p); (p) = (p)->next)
#define for_each_peer_safe(wg, p, n)                                      \
	for ((p) = (wg)->peers_head, (n) = (p) ? (p)->next : NULL; (p);    \
	     (p) = (n), (n) = (p) ? (p)->next : NULL)

#endif

/* Why handshakes and packets were refused, counted per device, per peer
 * and per outer source, and told once a minute per peer or source with
 * the hint a person needs ("its config names the wrong key for this
 * node"). No WireGuard implementation says why; the whitepaper's silence
 * towards strangers is kept on the wire, only our own log and status
 * speak. */
#ifndef SPOKEWIRE_WG_DIAG_H
#define SPOKEWIRE_WG_DIAG_H

#include <stdbool.h>
#include <stdint.h>

#include "wg/packet.h"

enum wg_diag {
	/* handshake failures */
	WG_DIAG_WRONG_KEY,       /* MAC1 does not verify: not our public key */
	WG_DIAG_UNKNOWN_PEER,    /* a valid initiation from a stranger's key */
	WG_DIAG_STALE_TIMESTAMP, /* a replayed or older initiation */
	WG_DIAG_COOKIE,          /* under load: answered with a cookie */
	WG_DIAG_NO_RESPONSE,     /* our initiations unanswered, given up */
	/* packets dropped */
	WG_DIAG_ALLOWED_IPS,     /* inner source outside the sender's IPs */
	WG_DIAG_NO_PEER,         /* outbound: no peer's AllowedIPs match */
	WG_DIAG_NO_ENDPOINT,     /* outbound: the peer has no endpoint yet */
	WG_DIAG_DECRYPT,         /* a data packet that does not authenticate */
	WG_DIAG_REPLAY,          /* a data packet's counter seen or too old */
	WG_DIAG_COUNT,
	WG_DIAG_FIRST_DROP = WG_DIAG_ALLOWED_IPS,
};

enum {
	WG_DIAG_SOURCES = 16,       /* outer sources remembered, LRU */
	WG_DIAG_LOG_EVERY_S = 60,   /* one line per peer or source and reason */
};

/* An outer source that sent what no peer could be held to account for. */
struct wg_diag_source {
	union endpoint ep;
	uint64_t count[WG_DIAG_COUNT];
	uint64_t last_seen;            /* mono ns; 0: slot free */
	uint64_t last_log[WG_DIAG_COUNT];
	bool has_key;
	uint8_t key[32];               /* unknown_peer: the key it used */
};

struct wg_device;
struct peer;

/* What only some peers need, allocated the first time it is: counts of
 * refusals (and when each was last told), the friendly name. */
struct peer_extra {
	uint64_t diag[WG_DIAG_COUNT];
	uint64_t diag_last_log[WG_DIAG_COUNT];
	char name[32];
};
/* The peer's, made if needed: NULL only when memory is short. */
struct peer_extra *wg_peer_extra(struct peer *peer);
/* How often d was counted against the peer; its name, or "". */
uint64_t wg_peer_diag(const struct peer *peer, enum wg_diag d);
const char *wg_peer_name(const struct peer *peer);
/* Sets (or with "" clears) the friendly name. 0 or -ENOMEM. */
int wg_peer_set_name(struct peer *peer, const char *name);

/* "ADDR:PORT" or "[ADDR]:PORT" into buf, or NULL for no address. */
const char *wg_endpoint_str(const union endpoint *ep, char *buf, size_t len);
/* "wrong_key", "unknown_peer", ...: the names /status and /metrics use. */
const char *wg_diag_name(enum wg_diag d);
static inline bool wg_diag_is_drop(enum wg_diag d)
{
	return d >= WG_DIAG_FIRST_DROP;
}
/* Counts d against the device, peer (may be NULL) and src (may be NULL:
 * only when there is no peer), and, at most once a minute for that peer
 * or source, hands the device's ops->diag a line with the hint. detail:
 * unknown_peer's public key (32 bytes), allowed_ips' and no_peer's inner
 * address (struct { int family; const uint8_t *ip; }), else NULL. */
struct wg_diag_addr {
	int family;
	const uint8_t *ip;
};
void wg_diag(struct wg_device *wg, enum wg_diag d, struct peer *peer,
	     const union endpoint *src, const void *detail);

#endif

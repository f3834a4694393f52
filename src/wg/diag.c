/* Refusal reasons: counters and the once-a-minute hint (see diag.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "wg/wg.h"

static const char *const names[WG_DIAG_COUNT] = {
	[WG_DIAG_WRONG_KEY] = "wrong_key",
	[WG_DIAG_UNKNOWN_PEER] = "unknown_peer",
	[WG_DIAG_STALE_TIMESTAMP] = "stale_timestamp",
	[WG_DIAG_COOKIE] = "cookie",
	[WG_DIAG_NO_RESPONSE] = "no_response",
	[WG_DIAG_ALLOWED_IPS] = "allowed_ips",
	[WG_DIAG_NO_PEER] = "no_peer",
	[WG_DIAG_NO_ENDPOINT] = "no_endpoint",
	[WG_DIAG_DECRYPT] = "decrypt",
	[WG_DIAG_REPLAY] = "replay",
};

struct peer_extra *wg_peer_extra(struct peer *peer)
{
	if (!peer->extra)
		peer->extra = calloc(1, sizeof(*peer->extra));
	return peer->extra;
}

uint64_t wg_peer_diag(const struct peer *peer, enum wg_diag d)
{
	return peer->extra && d < WG_DIAG_COUNT ? peer->extra->diag[d] : 0;
}

const char *wg_peer_name(const struct peer *peer)
{
	return peer->extra ? peer->extra->name : "";
}

int wg_peer_set_name(struct peer *peer, const char *name)
{
	struct peer_extra *x;

	if (!name[0] && !peer->extra)
		return 0;
	x = wg_peer_extra(peer);
	if (!x)
		return -ENOMEM;
	snprintf(x->name, sizeof(x->name), "%s", name);
	return 0;
}

const char *wg_diag_name(enum wg_diag d)
{
	return d < WG_DIAG_COUNT ? names[d] : "unknown";
}

/* The source's slot: its own, else a free one, else the least recent. */
static struct wg_diag_source *source_slot(struct wg_device *wg,
					  const union endpoint *src)
{
	size_t len = src->sa.sa_family == AF_INET6 ? sizeof(src->in6)
						   : sizeof(src->in4);
	struct wg_diag_source *s, *lru = &wg->diag_sources[0];
	unsigned i;

	for (i = 0; i < WG_DIAG_SOURCES; ++i) {
		s = &wg->diag_sources[i];
		if (s->last_seen && !memcmp(&s->ep, src, len))
			return s;
		if (s->last_seen < lru->last_seen)
			lru = s;
	}
	memset(lru, 0, sizeof(*lru));
	memcpy(&lru->ep, src, len);
	return lru;
}

const char *wg_endpoint_str(const union endpoint *ep, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ep->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &ep->in6.sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(ep->in6.sin6_port));
	} else if (ep->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &ep->in4.sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(ep->in4.sin_port));
	} else {
		return NULL;
	}
	return buf;
}

static void say(struct wg_device *wg, enum wg_diag d, struct peer *peer,
		const union endpoint *src, const void *detail, uint64_t n)
{
	char who[64], from[64], key[KEY_B64_LEN + 1], ours[KEY_B64_LEN + 1];
	char addr[INET6_ADDRSTRLEN] = "?", msg[512];
	const struct wg_diag_addr *a = detail;

	if (!wg_endpoint_str(src ? src : peer ? &peer->endpoint
					      : &(union endpoint){ 0 },
			     from, sizeof(from)))
		snprintf(from, sizeof(from), "(no endpoint)");
	if (peer) {
		key_to_base64(key, peer->handshake.remote_static);
		const char *name = wg_peer_name(peer);

		snprintf(who, sizeof(who), "peer %s%s%.12s...%s", name,
			 name[0] ? " (" : "", key, name[0] ? ")" : "");
	} else {
		snprintf(who, sizeof(who), "%s", from);
	}
	if (a && (d == WG_DIAG_ALLOWED_IPS || d == WG_DIAG_NO_PEER))
		inet_ntop(a->family, a->ip, addr, sizeof(addr));
	key_to_base64(ours, wg->identity.static_public);
	switch (d) {
	case WG_DIAG_WRONG_KEY:
		snprintf(msg, sizeof(msg), "%s sends handshakes for another public key: its config names the wrong key for this node (ours is %s)",
			 from, ours);
		break;
	case WG_DIAG_UNKNOWN_PEER:
		key_to_base64(key, detail);
		snprintf(msg, sizeof(msg), "%s: a valid handshake from public key %s, which is no peer here (add it as a peer if it belongs)",
			 from, key);
		break;
	case WG_DIAG_STALE_TIMESTAMP:
		snprintf(msg, sizeof(msg), "%s at %s: a replayed or older handshake initiation (a replay, or its clock went back)",
			 who, from);
		break;
	case WG_DIAG_COOKIE:
		snprintf(msg, sizeof(msg), "%s: under load, handshakes answered with a cookie", who);
		break;
	case WG_DIAG_NO_RESPONSE:
		snprintf(msg, sizeof(msg), "%s: no answer to handshakes for %d s sent to %s: check its endpoint, the firewalls between, and that it has our public key %s",
			 who, REKEY_ATTEMPT_TIME, from, ours);
		break;
	case WG_DIAG_ALLOWED_IPS:
		snprintf(msg, sizeof(msg), "%s sent a packet from %s, outside its AllowedIPs: dropped", who, addr);
		break;
	case WG_DIAG_NO_PEER:
		snprintf(msg, sizeof(msg), "a packet to %s, which no peer's AllowedIPs cover: dropped", addr);
		break;
	case WG_DIAG_NO_ENDPOINT:
		snprintf(msg, sizeof(msg), "%s has no endpoint yet (it must reach us first, or be given one): packets for it dropped", who);
		break;
	case WG_DIAG_DECRYPT:
		snprintf(msg, sizeof(msg), "%s at %s: a data packet failed to authenticate", who, from);
		break;
	case WG_DIAG_REPLAY:
		snprintf(msg, sizeof(msg), "%s at %s: a replayed or too old data packet", who, from);
		break;
	default:
		return;
	}
	if (n > 1) {
		size_t l = strlen(msg);

		snprintf(msg + l, sizeof(msg) - l, " (%llu so far)",
			 (unsigned long long)n);
	}
	wg->ops->diag(wg->ctx, d, msg);
}

void wg_diag(struct wg_device *wg, enum wg_diag d, struct peer *peer,
	     const union endpoint *src, const void *detail)
{
	uint64_t *last, n, every = WG_DIAG_LOG_EVERY_S * NS_PER_SEC;

	if (d >= WG_DIAG_COUNT)
		return;
	wg->diag_total[d]++;
	if (peer && wg_peer_extra(peer)) {
		n = ++peer->extra->diag[d];
		last = &peer->extra->diag_last_log[d];
	} else if (src && src->sa.sa_family != AF_UNSPEC) {
		struct wg_diag_source *s = source_slot(wg, src);

		s->last_seen = wg->now ? wg->now : 1;
		n = ++s->count[d];
		if (d == WG_DIAG_UNKNOWN_PEER && detail) {
			memcpy(s->key, detail, sizeof(s->key));
			s->has_key = true;
		}
		last = &s->last_log[d];
	} else {
		n = wg->diag_total[d];
		last = &wg->diag_last_log[d];
	}
	if (!wg->ops->diag || (*last && wg->now - *last < every))
		return;
	*last = wg->now ? wg->now : 1;
	say(wg, d, peer, src, detail, n);
}

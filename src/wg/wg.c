/* The device core: identity, the peer set and its lookup tables, and the
 * periodic tick that drives timers and housekeeping. */
#include "wg/wg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg/timers.h"

enum {
	INDEX_TABLE_BITS = 13,
	PEER_HASH_BITS = 12,
};

struct wg_device *wg_device_new(const struct wg_ops *ops, void *ctx,
				struct pktpool *pool)
{
	struct wg_device *wg = calloc(1, sizeof(*wg));

	if (!wg)
		return NULL;
	noise_init();
	wg->ops = ops;
	wg->ctx = ctx;
	wg->pool = pool;
	wg->mtu = DEFAULT_MTU;
	if (index_table_init(&wg->index, INDEX_TABLE_BITS))
		goto err_index;
	wg->peer_hash = calloc(1u << PEER_HASH_BITS, sizeof(*wg->peer_hash));
	if (!wg->peer_hash)
		goto err_hash;
	wg->peer_hash_mask = (1u << PEER_HASH_BITS) - 1;
	if (ratelimiter_init(&wg->ratelimiter))
		goto err_ratelimiter;
	allowedips_init(&wg->allowedips);
	return wg;

err_ratelimiter:
	free(wg->peer_hash);
err_hash:
	index_table_free(&wg->index);
err_index:
	free(wg);
	return NULL;
}

void wg_device_free(struct wg_device *wg)
{
	if (!wg)
		return;
	wg_flush(wg);
	wg_peer_remove_all(wg);
	allowedips_free(&wg->allowedips);
	ratelimiter_uninit(&wg->ratelimiter);
	free(wg->peer_hash);
	index_table_free(&wg->index);
	memzero(&wg->identity, sizeof(wg->identity));
	cookie_checker_clear(&wg->cookie_checker);
	free(wg);
}

void wg_set_clock(struct wg_device *wg, uint64_t mono_ns, uint64_t real_ns)
{
	wg->now = mono_ns;
	wg->now_real = real_ns;
}

static uint32_t key_hash(const struct wg_device *wg, const uint8_t *key)
{
	uint32_t h;

	memcpy(&h, key, sizeof(h));
	return h & wg->peer_hash_mask;
}

struct peer *wg_peer_lookup(struct wg_device *wg,
			    const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	struct peer *p;

	for (p = wg->peer_hash[key_hash(wg, public_key)]; p; p = p->hash_next)
		if (!memcmp(p->handshake.remote_static, public_key,
			    NOISE_PUBLIC_KEY_LEN))
			return p;
	return NULL;
}

void wg_set_private_key(struct wg_device *wg, const uint8_t *key)
{
	struct noise_static_identity *id = &wg->identity;
	uint8_t pub[NOISE_PUBLIC_KEY_LEN];
	struct peer *peer;

	if (key && id->has_identity &&
	    crypto_equal(key, id->static_private, NOISE_PUBLIC_KEY_LEN))
		return;
	if (key && curve25519_public(pub, key)) {
		/* A peer may not share our public key. */
		peer = wg_peer_lookup(wg, pub);
		if (peer)
			wg_peer_remove(peer);
		memcpy(id->static_private, key, NOISE_PUBLIC_KEY_LEN);
		/* Clamp as the tools do, so get returns what DH uses. */
		id->static_private[0] &= 248;
		id->static_private[31] = (id->static_private[31] & 127) | 64;
		memcpy(id->static_public, pub, NOISE_PUBLIC_KEY_LEN);
		id->has_identity = true;
		cookie_checker_precompute_device_keys(&wg->cookie_checker, pub);
	} else {
		memzero(id, sizeof(*id));
		cookie_checker_clear(&wg->cookie_checker);
	}
	for_each_peer(wg, peer) {
		noise_precompute_static_static(peer);
		noise_expire_current_peer_keypairs(peer);
	}
}

struct peer *wg_peer_create(struct wg_device *wg,
			    const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	struct peer *peer;
	uint32_t h;

	if (wg->identity.has_identity &&
	    !memcmp(public_key, wg->identity.static_public,
		    NOISE_PUBLIC_KEY_LEN))
		return NULL;
	if (wg->npeers >= MAX_PEERS_PER_DEVICE)
		return NULL;
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return NULL;
	peer->wg = wg;
	noise_handshake_init(&peer->handshake, peer, public_key, NULL);
	cookie_init(&peer->latest_cookie, public_key);
	peer->endpoint.sa.sa_family = AF_UNSPEC;

	h = key_hash(wg, public_key);
	peer->hash_next = wg->peer_hash[h];
	wg->peer_hash[h] = peer;
	peer->prev = wg->peers_tail;
	if (wg->peers_tail)
		wg->peers_tail->next = peer;
	else
		wg->peers_head = peer;
	wg->peers_tail = peer;
	wg->npeers++;
	return peer;
}

void wg_peer_remove(struct peer *peer)
{
	struct wg_device *wg = peer->wg;
	struct peer **pp;

	for (pp = &wg->peer_hash[key_hash(wg, peer->handshake.remote_static)];
	     *pp; pp = &(*pp)->hash_next) {
		if (*pp == peer) {
			*pp = peer->hash_next;
			break;
		}
	}
	if (peer->prev)
		peer->prev->next = peer->next;
	else
		wg->peers_head = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	else
		wg->peers_tail = peer->prev;
	wg->npeers--;

	allowedips_remove_by_owner(&wg->allowedips, peer, &peer->allowedips);
	timers_stop(peer);
	wg_purge_staged(peer);
	noise_handshake_clear(peer);
	noise_keypairs_clear(peer);
	free(peer->extra);
	memzero(peer, sizeof(*peer));
	free(peer);
}

void wg_peer_remove_all(struct wg_device *wg)
{
	struct peer *p, *n;

	for_each_peer_safe(wg, p, n)
		wg_peer_remove(p);
}

void wg_peer_set_preshared_key(struct peer *peer, const uint8_t *psk)
{
	if (psk)
		memcpy(peer->handshake.preshared_key, psk,
		       NOISE_SYMMETRIC_KEY_LEN);
	else
		memzero(peer->handshake.preshared_key,
			NOISE_SYMMETRIC_KEY_LEN);
}

void wg_peer_set_endpoint(struct peer *peer, const struct sockaddr *sa)
{
	memset(&peer->endpoint, 0, sizeof(peer->endpoint));
	memset(&peer->src, 0, sizeof(peer->src)); /* routing decides again */
	if (sa->sa_family == AF_INET)
		memcpy(&peer->endpoint.in4, sa, sizeof(peer->endpoint.in4));
	else if (sa->sa_family == AF_INET6)
		memcpy(&peer->endpoint.in6, sa, sizeof(peer->endpoint.in6));
}

void wg_peer_set_persistent_keepalive(struct peer *peer, uint16_t interval)
{
	bool was_off = !peer->persistent_keepalive_interval;

	peer->persistent_keepalive_interval = interval;
	if (was_off && interval && peer->wg->identity.has_identity &&
	    peer->endpoint.sa.sa_family != AF_UNSPEC)
		wg_send_keepalive(peer); /* flushes unless batching */
}

int wg_peer_add_allowedip(struct peer *peer, int family, const void *addr,
			  uint8_t cidr)
{
	return allowedips_insert(&peer->wg->allowedips, family, addr, cidr,
				 peer, &peer->allowedips);
}

int wg_peer_remove_allowedip(struct peer *peer, int family, const void *addr,
			     uint8_t cidr)
{
	return allowedips_remove(&peer->wg->allowedips, family, addr, cidr,
				 peer, &peer->allowedips);
}

void wg_peer_clear_allowedips(struct peer *peer)
{
	allowedips_remove_by_owner(&peer->wg->allowedips, peer,
				   &peer->allowedips);
}

void wg_tick(struct wg_device *wg)
{
	struct peer *p, *n;

	/* Nothing queued may outlive the keys the timers are about to wipe. */
	wg_flush(wg);
	for_each_peer_safe(wg, p, n)
		timers_expire(p);
	ratelimiter_gc(&wg->ratelimiter, wg->now);
	if (!wg->batching)
		wg_flush(wg);
}

void wg_forget_src(struct wg_device *wg, const struct endpoint_src *src)
{
	struct peer *p;

	for_each_peer(wg, p)
		if (p->src.family == src->family &&
		    !memcmp(p->src.addr, src->addr, sizeof(src->addr)))
			memset(&p->src, 0, sizeof(p->src));
}

/* Inbound: handshake messages (with load-dependent cookie checks), cookie
 * replies, and data messages: decrypt, replay check, roaming, source check
 * against allowed IPs (the Linux driver's receive.c). */
#include <endian.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <string.h>

#include "wg/timers.h"
#include "wg/wg.h"


/* Roaming: the peer is where its last authenticated packet came from, and
 * we answer from the address it reached us at. */
static void set_endpoint(struct peer *peer, const union endpoint *src,
			 const struct endpoint_src *local)
{
	size_t len = src->sa.sa_family == AF_INET6 ? sizeof(src->in6)
						   : sizeof(src->in4);

	if (memcmp(&peer->endpoint, src, len))
		memcpy(&peer->endpoint, src, len);
	if (memcmp(&peer->src, local, sizeof(*local)))
		peer->src = *local;
}

static bool under_load(struct wg_device *wg)
{
	if (wg->now - wg->load_window_start >= NS_PER_SEC) {
		wg->load_window_start = wg->now;
		wg->load_window_count = 0;
	}
	if (++wg->load_window_count > UNDER_LOAD_HANDSHAKES_PER_SEC)
		wg->last_under_load = wg->now;
	return wg->last_under_load &&
	       wg->now - wg->last_under_load < UNDER_LOAD_AFTER_TIME * NS_PER_SEC;
}

static enum packet_result receive_handshake(struct wg_device *wg,
					    struct pktbuf *pb,
					    const union endpoint *src,
					    uint32_t type)
{
	uint8_t *p = pkt_data(pb);
	enum cookie_mac_state mac_state;
	struct peer *peer;
	bool load;

	wg->stats.handshakes_received++;
	if (type == MESSAGE_HANDSHAKE_COOKIE) {
		const struct message_handshake_cookie *msg = (const void *)p;
		struct index_entry *e = index_lookup(
			&wg->index, le32toh(msg->receiver_index),
			INDEX_HANDSHAKE | INDEX_KEYPAIR);

		if (!e || !cookie_message_consume(msg, &e->peer->latest_cookie,
						  wg->now))
			return PACKET_DROP;
		return PACKET_HANDSHAKE;
	}

	load = under_load(wg);
	mac_state = cookie_validate_packet(&wg->cookie_checker, p, pb->len,
					   &src->sa, load, wg->now);
	if (mac_state == INVALID_MAC) {
		wg_diag(wg, WG_DIAG_WRONG_KEY, NULL, src, NULL);
		return PACKET_DROP;
	}
	if (load && mac_state == VALID_MAC_BUT_NO_COOKIE) {
		/* Both handshake messages start with the sender index. */
		uint32_t sender;

		memcpy(&sender, p + sizeof(struct message_header),
		       sizeof(sender));
		wg_send_cookie(wg, p, pb->len, sender, src, &pb->cb.src);
		wg_diag(wg, WG_DIAG_COOKIE, NULL, src, NULL);
		return PACKET_SEND_COOKIE;
	}
	if (load && !ratelimiter_allow(&wg->ratelimiter, &src->sa, wg->now)) {
		wg->stats.under_load_drops++;
		return PACKET_DROP;
	}

	if (type == MESSAGE_HANDSHAKE_INITIATION) {
		enum wg_diag why = WG_DIAG_COUNT;
		uint8_t stranger[NOISE_PUBLIC_KEY_LEN];
		struct peer *known = NULL;

		peer = noise_handshake_consume_initiation((const void *)p, wg,
							  &why, stranger,
							  &known);
		if (!peer) {
			if (why == WG_DIAG_UNKNOWN_PEER)
				wg_diag(wg, why, NULL, src, stranger);
			else if (why == WG_DIAG_STALE_TIMESTAMP)
				wg_diag(wg, why, known, src, NULL);
			return PACKET_DROP;
		}
		set_endpoint(peer, src, &pb->cb.src);
		wg_send_handshake_response(peer);
	} else {
		peer = noise_handshake_consume_response((const void *)p, wg);
		if (!peer)
			return PACKET_DROP;
		set_endpoint(peer, src, &pb->cb.src);
		if (noise_handshake_begin_session(peer)) {
			timers_session_derived(peer);
			timers_handshake_complete(peer);
			/* Sends what was staged, or a keepalive to confirm the
			 * session to the responder at once. */
			wg_send_keepalive(peer);
		}
	}
	peer->rx_bytes += pb->len;
	timers_any_authenticated_packet_received(peer);
	timers_any_authenticated_packet_traversal(peer);
	return PACKET_HANDSHAKE;
}

static bool keypair_receivable(const struct noise_keypair *kp, uint64_t now)
{
	return kp->birthdate + REJECT_AFTER_TIME * NS_PER_SEC > now &&
	       kp->recv_counter.counter < REJECT_AFTER_MESSAGES;
}

/* As initiator, re-handshake shortly before the session would be rejected,
 * in case we stopped sending and the responder cannot initiate. */
static void keep_key_fresh(struct peer *peer)
{
	struct noise_keypair *kp = peer->keypairs.current;
	uint64_t limit = (REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) *
			 NS_PER_SEC;

	if (!kp || !kp->valid || !kp->is_initiator ||
	    peer->sent_lastminute_handshake)
		return;
	if (kp->birthdate + limit <= peer->wg->now) {
		peer->sent_lastminute_handshake = true;
		wg_send_handshake_initiation(peer, false);
	}
}

/* Length of the inner IP packet, or 0 if it is not one. */
static unsigned inner_len(const uint8_t *p, unsigned len, int *family,
			  const uint8_t **saddr)
{
	unsigned n;

	if (len >= sizeof(struct iphdr) && (p[0] >> 4) == 4) {
		n = (unsigned)p[2] << 8 | p[3];
		if (n < sizeof(struct iphdr) || (unsigned)(p[0] & 0xf) * 4 > n)
			return 0;
		*family = AF_INET;
		*saddr = p + offsetof(struct iphdr, saddr);
	} else if (len >= sizeof(struct ip6_hdr) && (p[0] >> 4) == 6) {
		n = sizeof(struct ip6_hdr) + ((unsigned)p[4] << 8 | p[5]);
		*family = AF_INET6;
		*saddr = p + offsetof(struct ip6_hdr, ip6_src);
	} else {
		return 0;
	}
	return n <= len ? n : 0;
}

/* Phase 1, serial: find the keypair and queue the packet for decryption
 * with a copy of what the AEAD needs. */
static enum packet_result receive_data(struct wg_device *wg,
				       struct pktbuf *pb,
				       const union endpoint *src)
{
	struct message_data *msg = (void *)pkt_data(pb);
	struct noise_keypair *kp;
	struct index_entry *e;
	struct pkt_cb *cb = &pb->cb;

	e = index_lookup(&wg->index, le32toh(msg->key_idx), INDEX_KEYPAIR);
	if (!e)
		return PACKET_DROP;
	kp = (struct noise_keypair *)e;
	if (!keypair_receivable(kp, wg->now))
		return PACKET_DROP;
	if (wg->nrxq == WG_QUEUE_MAX)
		wg_flush_rx(wg);
	cb->op = PKT_DECRYPT;
	memcpy(cb->key, kp->recv_key, sizeof(cb->key));
	cb->nonce = le64toh(msg->counter);
	cb->index = e->index;
	cb->peer = e->peer;
	cb->ep = *src;
	cb->ok = 0;
	wg->rxq[wg->nrxq++] = pb;
	return PACKET_QUEUED;
}

/* Phase 2, any thread: authenticate and decrypt, from the receiver's
 * buffer into ours (no copy of the ciphertext first) or in place. */
bool wg_decrypt_packet(struct pktbuf *pb)
{
	struct message_data *msg = (void *)pkt_data(pb);
	unsigned len = pb->len - sizeof(*msg);
	const uint8_t *ext = pb->cb.ext;

	pb->cb.ext = NULL;
	if (ext)
		return aead_open_lent(msg->encrypted_data, ext + sizeof(*msg),
				      len, pb->cb.nonce, pb->cb.key);
	return aead_decrypt(msg->encrypted_data, msg->encrypted_data, len,
			    NULL, 0, pb->cb.nonce, pb->cb.key);
}

/* Phase 3, serial and in queue order: replay window, roaming, session
 * confirmation, timers, the source check, delivery. The keypair is looked up
 * again: an earlier packet of the batch may have retired it. */
static enum packet_result finish_data(struct wg_device *wg, struct pktbuf *pb)
{
	struct message_data *msg = (void *)pkt_data(pb);
	struct pkt_cb *cb = &pb->cb;
	struct noise_keypair *kp;
	struct index_entry *e;
	struct peer *peer;
	unsigned plen, n;
	const uint8_t *saddr;
	int family;

	e = index_lookup(&wg->index, cb->index, INDEX_KEYPAIR);
	if (!e || e->peer != cb->peer)
		return PACKET_DROP;
	if (!cb->ok) {
		wg_diag(wg, WG_DIAG_DECRYPT, e->peer, &cb->ep, NULL);
		return PACKET_DROP;
	}
	kp = (struct noise_keypair *)e;
	if (!replay_check(&kp->recv_counter, cb->nonce)) {
		wg_diag(wg, WG_DIAG_REPLAY, e->peer, &cb->ep, NULL);
		return PACKET_DROP;
	}

	peer = e->peer;
	set_endpoint(peer, &cb->ep, &cb->src);
	if (noise_received_with_keypair(peer, kp)) {
		timers_handshake_complete(peer);
		wg_send_staged(peer);
	}
	keep_key_fresh(peer);
	timers_any_authenticated_packet_received(peer);
	timers_any_authenticated_packet_traversal(peer);
	peer->rx_bytes += pb->len;

	plen = pb->len - sizeof(*msg) - NOISE_AUTHTAG_LEN;
	if (!plen)
		return PACKET_HANDSHAKE; /* keepalive */
	timers_data_received(peer);

	n = inner_len(msg->encrypted_data, plen, &family, &saddr);
	if (!n)
		return PACKET_DROP;
	if (allowedips_lookup(&wg->allowedips, family, saddr) != peer) {
		wg_diag(wg, WG_DIAG_ALLOWED_IPS, peer, &cb->ep,
			&(struct wg_diag_addr){ family, saddr });
		return PACKET_DROP;
	}
	pb->off += sizeof(*msg);
	pb->len = n;
	return PACKET_OK;
}

void wg_flush_rx(struct wg_device *wg)
{
	unsigned i, n = wg->nrxq;

	if (!n)
		return;
	wg->nrxq = 0;
	wg_crypt_batch(wg, wg->rxq, n);
	for (i = 0; i < n; ++i) {
		struct pktbuf *pb = wg->rxq[i];

		if (finish_data(wg, pb) == PACKET_OK) {
			wg->ops->deliver(wg->ctx, pb);
			continue;
		}
		if (pb->len && !pb->cb.ok)
			wg->stats.rx_dropped++;
		pktpool_put(wg->pool, pb);
	}
}

enum packet_result wg_receive(struct wg_device *wg, struct pktbuf *pb,
			      const union endpoint *src)
{
	enum packet_result ret = PACKET_DROP;
	uint32_t type;

	if (pb->len < sizeof(struct message_header))
		goto out;
	type = message_type(pkt_data(pb));
	switch (type) {
	case MESSAGE_HANDSHAKE_INITIATION:
		if (pb->len == sizeof(struct message_handshake_initiation))
			ret = receive_handshake(wg, pb, src, type);
		break;
	case MESSAGE_HANDSHAKE_RESPONSE:
		if (pb->len == sizeof(struct message_handshake_response))
			ret = receive_handshake(wg, pb, src, type);
		break;
	case MESSAGE_HANDSHAKE_COOKIE:
		if (pb->len == sizeof(struct message_handshake_cookie))
			ret = receive_handshake(wg, pb, src, type);
		break;
	case MESSAGE_DATA:
		if (pb->len >= MESSAGE_MINIMUM_LENGTH)
			ret = receive_data(wg, pb, src);
		break;
	}
out:
	if (ret == PACKET_DROP)
		wg->stats.rx_dropped++;
	if (ret != PACKET_QUEUED)
		pktpool_put(wg->pool, pb);
	if (!wg->batching)
		wg_flush(wg);
	return ret;
}

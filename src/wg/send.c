/* Outbound: handshake messages, keepalives, and inner packets encrypted into
 * data messages (the Linux driver's send.c). Packets wait in the peer's
 * staged list until a usable keypair exists. */
#include <endian.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <string.h>

#include "wg/timers.h"
#include "wg/wg.h"

static bool has_expired(uint64_t birthdate, uint64_t now, uint64_t seconds)
{
	return birthdate + seconds * NS_PER_SEC <= now;
}

/* Hands a finished outer datagram to the daemon; counts it. */
static void send_to_peer(struct peer *peer, struct pktbuf *pb)
{
	struct wg_device *wg = peer->wg;

	if (peer->endpoint.sa.sa_family == AF_UNSPEC) {
		wg->stats.tx_dropped++;
		pktpool_put(wg->pool, pb);
		return;
	}
	peer->tx_bytes += pb->len;
	pb->cb.src = peer->src;
	wg->ops->send(wg->ctx, pb, &peer->endpoint);
}

static void send_buffer(struct peer *peer, const void *msg, size_t len)
{
	struct pktbuf *pb = pktpool_get(peer->wg->pool);

	if (!pb)
		return;
	memcpy(pkt_data(pb), msg, len);
	pb->len = len;
	send_to_peer(peer, pb);
}

void wg_send_handshake_initiation(struct peer *peer, bool is_retry)
{
	struct message_handshake_initiation msg;
	struct wg_device *wg = peer->wg;

	if (!is_retry)
		peer->timer_handshake_attempts = 0;
	/* At most one initiation per REKEY_TIMEOUT. */
	if (peer->last_sent_handshake &&
	    !has_expired(peer->last_sent_handshake, wg->now, REKEY_TIMEOUT))
		return;
	peer->last_sent_handshake = wg->now;
	if (!noise_handshake_create_initiation(&msg, peer))
		return;
	cookie_add_mac_to_packet(&msg, sizeof(msg), &peer->latest_cookie,
				 wg->now);
	timers_any_authenticated_packet_traversal(peer);
	timers_any_authenticated_packet_sent(peer);
	send_buffer(peer, &msg, sizeof(msg));
	timers_handshake_initiated(peer);
	memzero(&msg, sizeof(msg));
}

void wg_send_handshake_response(struct peer *peer)
{
	struct message_handshake_response msg;
	struct wg_device *wg = peer->wg;

	peer->last_sent_handshake = wg->now;
	if (!noise_handshake_create_response(&msg, peer))
		return;
	cookie_add_mac_to_packet(&msg, sizeof(msg), &peer->latest_cookie,
				 wg->now);
	if (!noise_handshake_begin_session(peer))
		return;
	timers_session_derived(peer);
	timers_any_authenticated_packet_traversal(peer);
	timers_any_authenticated_packet_sent(peer);
	send_buffer(peer, &msg, sizeof(msg));
}

void wg_send_cookie(struct wg_device *wg, const void *msg, size_t len,
		    uint32_t sender_index, const union endpoint *src,
		    const struct endpoint_src *local)
{
	struct message_handshake_cookie reply;
	struct pktbuf *pb = pktpool_get(wg->pool);

	if (!pb)
		return;
	cookie_message_create(&reply, &wg->cookie_checker, msg, len,
			      sender_index, &src->sa, wg->now);
	memcpy(pkt_data(pb), &reply, sizeof(reply));
	pb->len = sizeof(reply);
	wg->stats.cookies_sent++;
	pb->cb.src = *local;
	wg->ops->send(wg->ctx, pb, src);
}

/* Rekey after REKEY_AFTER_MESSAGES, or REKEY_AFTER_TIME if we initiated. */
static void keep_key_fresh(struct peer *peer)
{
	struct noise_keypair *kp = peer->keypairs.current;

	if (kp && kp->valid &&
	    (kp->send_counter > REKEY_AFTER_MESSAGES ||
	     (kp->is_initiator &&
	      has_expired(kp->birthdate, peer->wg->now, REKEY_AFTER_TIME))))
		wg_send_handshake_initiation(peer, false);
}

static unsigned padded_len(unsigned len, unsigned mtu)
{
	unsigned last = len, padded;

	if (!mtu)
		return (len + MESSAGE_PADDING_MULTIPLE - 1) &
		       ~(MESSAGE_PADDING_MULTIPLE - 1);
	if (last > mtu)
		last %= mtu;
	padded = (last + MESSAGE_PADDING_MULTIPLE - 1) &
		 ~(MESSAGE_PADDING_MULTIPLE - 1);
	if (padded > mtu)
		padded = mtu;
	return len + (padded - last);
}

/* In place: pb's inner packet becomes a data message. */
static void encrypt_packet(struct pktbuf *pb)
{
	const struct pkt_cb *cb = &pb->cb;
	uint8_t *p = pkt_data(pb);
	struct message_data *hdr;

	memset(p + pb->len, 0, cb->plain_len - pb->len);
	/* The headroom before the packet is the seal's scratch. */
	if (pb->off >= AEAD_LEAD)
		aead_seal_lent(p, cb->plain_len, cb->nonce, cb->key);
	else
		aead_encrypt(p, p, cb->plain_len, NULL, 0, cb->nonce, cb->key);
	pb->off -= sizeof(struct message_data);
	hdr = (struct message_data *)pkt_data(pb);
	hdr->header.type = htole32(MESSAGE_DATA);
	hdr->key_idx = htole32(cb->index);
	hdr->counter = htole64(cb->nonce);
	pb->len = sizeof(*hdr) + cb->plain_len + NOISE_AUTHTAG_LEN;
}

void wg_crypt(struct pktbuf *pb)
{
	if (pb->cb.op == PKT_ENCRYPT)
		encrypt_packet(pb);
	else
		pb->cb.ok = wg_decrypt_packet(pb);
	memzero(pb->cb.key, sizeof(pb->cb.key));
}

void wg_crypt_batch(struct wg_device *wg, struct pktbuf **pkts, unsigned n)
{
	unsigned i;

	if (wg->ops->crypt) {
		wg->ops->crypt(wg->ctx, pkts, n);
		return;
	}
	for (i = 0; i < n; ++i)
		wg_crypt(pkts[i]);
}

void wg_flush_tx(struct wg_device *wg)
{
	unsigned i, n = wg->ntxq;

	if (!n)
		return;
	wg->ntxq = 0;
	wg_crypt_batch(wg, wg->txq, n);
	for (i = 0; i < n; ++i)
		wg->ops->send(wg->ctx, wg->txq[i], &wg->txq[i]->cb.ep);
}

void wg_flush(struct wg_device *wg)
{
	/* Received packets may release staged ones: receive first. */
	wg_flush_rx(wg);
	wg_flush_tx(wg);
}

static void maybe_flush(struct wg_device *wg)
{
	if (!wg->batching)
		wg_flush(wg);
}

/* Queues pb for encryption under kp with the next nonce. */
static void queue_encrypt(struct peer *peer, struct noise_keypair *kp,
			  struct pktbuf *pb)
{
	struct wg_device *wg = peer->wg;
	struct pkt_cb *cb = &pb->cb;

	if (wg->ntxq == WG_QUEUE_MAX)
		wg_flush_tx(wg);
	cb->op = PKT_ENCRYPT;
	memcpy(cb->key, kp->send_key, sizeof(cb->key));
	cb->nonce = kp->send_counter++;
	cb->index = kp->remote_index;
	cb->plain_len = padded_len(pb->len, wg->mtu);
	cb->ep = peer->endpoint;
	cb->src = peer->src;
	peer->tx_bytes += message_data_len(cb->plain_len);
	wg->txq[wg->ntxq++] = pb;
}

static bool keypair_usable(const struct noise_keypair *kp, uint64_t now)
{
	return kp && kp->valid && !has_expired(kp->birthdate, now,
					       REJECT_AFTER_TIME) &&
	       kp->send_counter < REJECT_AFTER_MESSAGES;
}

void wg_send_staged(struct peer *peer)
{
	struct wg_device *wg = peer->wg;
	struct noise_keypair *kp = peer->keypairs.current;
	bool data_sent = false, any = false;
	struct pktbuf *pb;

	if (!peer->staged_head)
		return;
	if (!keypair_usable(kp, wg->now)) {
		wg_send_handshake_initiation(peer, false);
		return;
	}
	while ((pb = peer->staged_head)) {
		if (kp->send_counter >= REJECT_AFTER_MESSAGES) {
			wg_send_handshake_initiation(peer, false);
			break;
		}
		peer->staged_head = pb->next;
		if (!peer->staged_head)
			peer->staged_tail = NULL;
		peer->staged_count--;
		pb->next = NULL;
		if (pb->len)
			data_sent = true;
		any = true;
		if (peer->endpoint.sa.sa_family == AF_UNSPEC) {
			wg->stats.tx_dropped++;
			pktpool_put(wg->pool, pb);
			continue;
		}
		queue_encrypt(peer, kp, pb);
	}
	if (!any)
		return;
	timers_any_authenticated_packet_traversal(peer);
	timers_any_authenticated_packet_sent(peer);
	if (data_sent)
		timers_data_sent(peer);
	keep_key_fresh(peer);
}

static void stage(struct peer *peer, struct pktbuf *pb)
{
	if (peer->staged_count >= MAX_STAGED_PACKETS) {
		struct pktbuf *old = peer->staged_head;

		peer->staged_head = old->next;
		peer->staged_count--;
		peer->wg->stats.tx_dropped++;
		pktpool_put(peer->wg->pool, old);
		if (!peer->staged_head)
			peer->staged_tail = NULL;
	}
	pb->next = NULL;
	if (peer->staged_tail)
		peer->staged_tail->next = pb;
	else
		peer->staged_head = pb;
	peer->staged_tail = pb;
	peer->staged_count++;
}

void wg_purge_staged(struct peer *peer)
{
	struct pktbuf *pb;

	while ((pb = peer->staged_head)) {
		peer->staged_head = pb->next;
		pktpool_put(peer->wg->pool, pb);
	}
	peer->staged_tail = NULL;
	peer->staged_count = 0;
}

void wg_send_keepalive(struct peer *peer)
{
	struct pktbuf *pb;

	/* Anything staged doubles as the keepalive. */
	if (!peer->staged_head) {
		pb = pktpool_get(peer->wg->pool);
		if (!pb)
			return;
		stage(peer, pb);
	}
	wg_send_staged(peer);
	maybe_flush(peer->wg);
}

enum packet_result wg_send(struct wg_device *wg, struct pktbuf *pb)
{
	const uint8_t *p = pkt_data(pb);
	struct peer *peer = NULL;
	struct wg_diag_addr dst = { 0 };

	if (pb->len >= sizeof(struct iphdr) && (p[0] >> 4) == 4)
		dst = (struct wg_diag_addr){ AF_INET,
					     p + offsetof(struct iphdr, daddr) };
	else if (pb->len >= sizeof(struct ip6_hdr) && (p[0] >> 4) == 6)
		dst = (struct wg_diag_addr){
			AF_INET6, p + offsetof(struct ip6_hdr, ip6_dst)
		};
	if (dst.ip) {
		peer = allowedips_lookup(&wg->allowedips, dst.family, dst.ip);
		/* Multicast (the kernel's IPv6 router solicitations, MLD)
		 * goes nowhere on a point-to-point link: not worth a word. */
		if (!peer) {
			if (!(dst.family == AF_INET ? dst.ip[0] >= 224
						    : dst.ip[0] == 0xff))
				wg_diag(wg, WG_DIAG_NO_PEER, NULL, NULL, &dst);
		} else if (peer->endpoint.sa.sa_family == AF_UNSPEC) {
			wg_diag(wg, WG_DIAG_NO_ENDPOINT, peer, NULL, NULL);
		}
	}
	if (!peer || peer->endpoint.sa.sa_family == AF_UNSPEC ||
	    pkt_tailroom(pb) < MESSAGE_PADDING_MULTIPLE + NOISE_AUTHTAG_LEN) {
		wg->stats.tx_dropped++;
		pktpool_put(wg->pool, pb);
		return PACKET_DROP;
	}
	stage(peer, pb);
	wg_send_staged(peer);
	maybe_flush(wg);
	return peer->staged_head ? PACKET_STAGED : PACKET_OK;
}

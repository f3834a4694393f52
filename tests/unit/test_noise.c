/* noise.c against a handshake computed by an independent implementation
 * (tests/vectors/noise_vector.py): the same keys, ephemerals and timestamp
 * must give the same bytes and the same transport keys. */
#include <endian.h>
#include <string.h>

#include "wg/wg.h"
#include "noise_vector.h"
#include "unit.h"

static struct pktpool pool;
static struct pktbuf *sent;
static const uint8_t *fixed_ephemeral;

static void op_send(void *ctx, struct pktbuf *pb, const union endpoint *ep)
{
	pktpool_put(&pool, sent);
	sent = pb;
}

static void op_deliver(void *ctx, struct pktbuf *pb)
{
	pktpool_put(&pool, pb);
}

static const struct wg_ops ops = { .send = op_send, .deliver = op_deliver };

static void ephemeral(uint8_t out[32])
{
	memcpy(out, fixed_ephemeral, 32);
}

static struct wg_device *make(const uint8_t *priv, const uint8_t *peer_priv,
			      struct peer **peer)
{
	struct wg_device *wg = wg_device_new(&ops, NULL, &pool);
	union endpoint ep = { .in4 = { .sin_family = AF_INET } };
	uint8_t peer_pub[32];

	wg_set_clock(wg, 1000 * NS_PER_SEC, V_SEC * NS_PER_SEC + V_NSEC);
	wg_set_private_key(wg, priv);
	CHECK(curve25519_public(peer_pub, peer_priv));
	*peer = wg_peer_create(wg, peer_pub);
	wg_peer_set_preshared_key(*peer, v_psk);
	wg_peer_set_endpoint(*peer, &ep.sa);
	return wg;
}

static struct pktbuf *packet(const uint8_t *bytes, size_t len)
{
	struct pktbuf *pb = pktpool_get(&pool);

	memcpy(pkt_data(pb), bytes, len);
	pb->len = len;
	return pb;
}

static void test_responder_matches_vector(void)
{
	union endpoint src = { .in4 = { .sin_family = AF_INET } };
	struct wg_device *wg;
	struct noise_keypair *kp;
	struct peer *peer;
	uint8_t data[sizeof(v_data)];
	uint32_t idx;

	pktpool_init(&pool, 1024);
	wg = make(v_s_r, v_s_i, &peer);
	fixed_ephemeral = v_e_r;
	noise_test_ephemeral = ephemeral;
	CHECK(wg_receive(wg, packet(v_init, sizeof(v_init)), &src) ==
	      PACKET_HANDSHAKE);
	REQUIRE(sent && sent->len == sizeof(v_resp));
	/* type and receiver index, then ephemeral and empty payload */
	CHECK(!memcmp(pkt_data(sent), v_resp, 4));
	CHECK(!memcmp(pkt_data(sent) + 8, v_resp + 8, 4 + 32 + 16));
	kp = peer->keypairs.next;
	REQUIRE(kp);
	CHECK(!memcmp(kp->recv_key, v_t_send_i, 32));
	CHECK(!memcmp(kp->send_key, v_t_recv_i, 32));
	/* the initiator's first data message confirms the session */
	memcpy(&idx, pkt_data(sent) + 4, 4);
	memcpy(data, v_data, sizeof(data));
	memcpy(data + 4, &idx, 4);
	wg_receive(wg, packet(data, sizeof(data)), &src);
	CHECK(peer->keypairs.current == kp);
	/* the same initiation again is a replay */
	pktpool_put(&pool, sent);
	sent = NULL;
	wg_set_clock(wg, 1001 * NS_PER_SEC, V_SEC * NS_PER_SEC + V_NSEC);
	wg_receive(wg, packet(v_init, sizeof(v_init)), &src);
	CHECK(!sent);
	noise_test_ephemeral = NULL;
	wg_device_free(wg);
	pktpool_put(&pool, sent);
	sent = NULL;
	pktpool_destroy(&pool);
}

static void test_initiator_matches_vector(void)
{
	union endpoint src = { .in4 = { .sin_family = AF_INET } };
	uint8_t resp[sizeof(v_resp)], mac1_key[32], pub_i[32];
	struct wg_device *wg;
	struct noise_keypair *kp;
	struct peer *peer;

	pktpool_init(&pool, 1024);
	wg = make(v_s_i, v_s_r, &peer);
	fixed_ephemeral = v_e_i;
	noise_test_ephemeral = ephemeral;
	wg_send_handshake_initiation(peer, false);
	REQUIRE(sent && sent->len == sizeof(v_init));
	CHECK(!memcmp(pkt_data(sent), v_init, 4));
	/* everything but our random sender index and the MACs over it */
	CHECK(!memcmp(pkt_data(sent) + 8, v_init + 8, 148 - 8 - 32));

	/* The vector's response, readdressed to our index (mac1 redone). */
	memcpy(resp, v_resp, sizeof(resp));
	memcpy(resp + 8, pkt_data(sent) + 4, 4);
	CHECK(curve25519_public(pub_i, v_s_i));
	blake2s_hash(mac1_key, "mac1----", 8, pub_i, 32);
	blake2s_mac(resp + 60, 16, mac1_key, 32, resp, 60);
	CHECK(wg_receive(wg, packet(resp, sizeof(resp)), &src) ==
	      PACKET_HANDSHAKE);
	kp = peer->keypairs.current;
	REQUIRE(kp);
	CHECK(kp->is_initiator);
	CHECK(!memcmp(kp->send_key, v_t_send_i, 32));
	CHECK(!memcmp(kp->recv_key, v_t_recv_i, 32));
	CHECK(kp->remote_index == V_SENDER_R);
	noise_test_ephemeral = NULL;
	wg_device_free(wg);
	pktpool_put(&pool, sent);
	sent = NULL;
	pktpool_destroy(&pool);
}

static void test_tampered_initiation_rejected(void)
{
	union endpoint src = { .in4 = { .sin_family = AF_INET } };
	uint8_t init[sizeof(v_init)];
	struct wg_device *wg;
	struct peer *peer;
	size_t i;

	pktpool_init(&pool, 1024);
	wg = make(v_s_r, v_s_i, &peer);
	/* Any flipped bit before the MACs fails mac1 or the AEAD. */
	for (i = 8; i < 116; i += 7) {
		memcpy(init, v_init, sizeof(init));
		init[i] ^= 0x10;
		CHECK(wg_receive(wg, packet(init, sizeof(init)), &src) ==
		      PACKET_DROP);
	}
	CHECK(!sent);
	CHECK(peer->handshake.state == HANDSHAKE_ZEROED);
	wg_device_free(wg);
	pktpool_destroy(&pool);
}

int main(void)
{
	RUN(test_responder_matches_vector);
	RUN(test_initiator_matches_vector);
	RUN(test_tampered_initiation_rejected);
	return unit_done();
}

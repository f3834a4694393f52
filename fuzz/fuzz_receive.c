/* libFuzzer target for the packet receive path: arbitrary datagrams into a
 * device that has an identity, a peer and (after the first input) a live
 * session, so handshake, cookie and data parsing are all reachable. The first
 * input byte picks the message type so coverage finds each parser quickly. */
#include <stdint.h>
#include <string.h>

#include "wg/wg.h"

static struct pktpool pool;
static struct wg_device *wg;
static struct peer *peer;
static uint64_t now = 1000 * NS_PER_SEC;

static void op_send(void *ctx, struct pktbuf *pb, const union endpoint *ep)
{
	pktpool_put(&pool, pb);
}

static void op_deliver(void *ctx, struct pktbuf *pb)
{
	pktpool_put(&pool, pb);
}

static const struct wg_ops ops = { .send = op_send, .deliver = op_deliver };

static void setup(void)
{
	uint8_t priv[32], peer_priv[32], peer_pub[32];
	union endpoint ep = { .in4 = { .sin_family = AF_INET } };
	uint8_t all[4] = { 0 };

	crypto_init();
	pktpool_init(&pool, 1024);
	wg = wg_device_new(&ops, NULL, &pool);
	memset(priv, 0x11, sizeof(priv));
	memset(peer_priv, 0x22, sizeof(peer_priv));
	if (!curve25519_public(peer_pub, peer_priv))
		return;
	wg_set_clock(wg, now, now);
	wg_set_private_key(wg, priv);
	peer = wg_peer_create(wg, peer_pub);
	wg_peer_set_endpoint(peer, &ep.sa);
	wg_peer_add_allowedip(peer, AF_INET, all, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	union endpoint src = { .in4 = { .sin_family = AF_INET } };
	struct pktbuf *pb;

	if (!wg)
		setup();
	if (size < 1 || size > PKTBUF_SIZE - PKTBUF_HEADROOM)
		return 0;
	pb = pktpool_get(&pool);
	if (!pb)
		return 0;
	memcpy(pkt_data(pb), data, size);
	/* Steer the type byte; keep the rest as given. */
	pkt_data(pb)[0] = (uint8_t)(1 + data[0] % 4);
	pb->len = (uint32_t)size;
	now += NS_PER_SEC / 10;
	wg_set_clock(wg, now, now);
	wg_receive(wg, pb, &src);
	wg_tick(wg);
	return 0;
}

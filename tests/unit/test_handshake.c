/* Two protocol cores wired back to back in one process with a fake clock:
 * full handshakes, data both ways, rekeying, keepalives, timers, cookies. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "io/workers.h"
#include "unit.h"
#include "wg/timers.h"
#include "wg/wg.h"

struct side {
	struct wg_device *wg;
	struct side *other;
	union endpoint addr; /* our outer address */
	uint8_t priv[32], pub[32];
	struct pktbuf *queue[512]; /* datagrams in flight to other */
	unsigned nqueue;
	unsigned delivered, sent;
	uint8_t last_delivered[256];
	unsigned last_len;
	uint32_t seqs[4096]; /* payload sequence numbers, in delivery order */
	unsigned nseqs;
	bool drop_all; /* the wire loses everything we send */
	unsigned diag_lines[WG_DIAG_COUNT]; /* ops->diag calls */
	char last_diag[512];
};

static struct pktpool pool;
static struct side A, B;
static uint64_t now_ns = 1000 * NS_PER_SEC;

static void op_send(void *ctx, struct pktbuf *pb, const union endpoint *ep)
{
	struct side *s = ctx;

	s->sent++;
	if (s->drop_all || s->nqueue == 512) {
		pktpool_put(&pool, pb);
		return;
	}
	s->queue[s->nqueue++] = pb;
}

static void op_deliver(void *ctx, struct pktbuf *pb)
{
	struct side *s = ctx;

	s->delivered++;
	if (pb->len >= 32 && s->nseqs < 4096)
		memcpy(&s->seqs[s->nseqs++], pkt_data(pb) + 28, 4);
	s->last_len = pb->len < sizeof(s->last_delivered) ? pb->len : 0;
	memcpy(s->last_delivered, pkt_data(pb), s->last_len);
	pktpool_put(&pool, pb);
}

static struct workers *pool_threads;

static void crypt_one(void *item)
{
	wg_crypt(item);
}

/* Crypto the way a hostile scheduler might run it: last packet first, or
 * spread over real threads. Delivery order must not change. */
static void op_crypt(void *ctx, struct pktbuf **pkts, unsigned n)
{
	unsigned i;

	if (pool_threads) {
		workers_run(pool_threads, (void **)pkts, n, crypt_one);
		return;
	}
	for (i = n; i-- > 0;)
		wg_crypt(pkts[i]);
}

static void op_diag(void *ctx, enum wg_diag d, const char *msg)
{
	struct side *s = ctx;

	s->diag_lines[d]++;
	snprintf(s->last_diag, sizeof(s->last_diag), "%s", msg);
}

static struct wg_ops ops = { .send = op_send, .deliver = op_deliver,
			     .diag = op_diag };

static void set_clock(void)
{
	wg_set_clock(A.wg, now_ns, now_ns + 1700000000ULL * NS_PER_SEC);
	wg_set_clock(B.wg, now_ns, now_ns + 1700000000ULL * NS_PER_SEC);
}

/* Moves queued datagrams until both directions are quiet. */
static void pump(void)
{
	int rounds;

	for (rounds = 0; rounds < 100 && (A.nqueue || B.nqueue); ++rounds) {
		struct side *s = A.nqueue ? &A : &B;
		struct pktbuf *pb = s->queue[0];

		memmove(s->queue, s->queue + 1, --s->nqueue * sizeof(pb));
		wg_receive(s->other->wg, pb, &s->addr);
	}
}

static void advance(uint64_t ns)
{
	uint64_t step = 100 * NS_PER_MS, end = now_ns + ns;

	while (now_ns < end) {
		now_ns += step;
		set_clock();
		wg_tick(A.wg);
		wg_tick(B.wg);
		pump();
	}
}

static void side_init(struct side *s, struct side *other, uint8_t last)
{
	memset(s, 0, sizeof(*s));
	s->other = other;
	s->wg = wg_device_new(&ops, s, &pool);
	curve25519_generate_secret(s->priv);
	CHECK(curve25519_public(s->pub, s->priv));
	wg_set_private_key(s->wg, s->priv);
	s->addr.in4.sin_family = AF_INET;
	s->addr.in4.sin_addr.s_addr = htonl(0xc0000200 | last);
	s->addr.in4.sin_port = htons(51820);
}

/* A peers with B; A owns 10.0.0.1/32, B owns 10.0.0.2/32. */
static void setup(const uint8_t *psk_a, const uint8_t *psk_b)
{
	struct peer *pa, *pb;
	struct in_addr a1, a2;

	pktpool_init(&pool, 4096);
	side_init(&A, &B, 1);
	side_init(&B, &A, 2);
	set_clock();
	inet_pton(AF_INET, "10.0.0.1", &a1);
	inet_pton(AF_INET, "10.0.0.2", &a2);
	pa = wg_peer_create(A.wg, B.pub);
	pb = wg_peer_create(B.wg, A.pub);
	wg_peer_set_endpoint(pa, &B.addr.sa);
	wg_peer_set_endpoint(pb, &A.addr.sa);
	CHECK(wg_peer_add_allowedip(pa, AF_INET, &a2, 32) == 0);
	CHECK(wg_peer_add_allowedip(pb, AF_INET, &a1, 32) == 0);
	if (psk_a)
		wg_peer_set_preshared_key(pa, psk_a);
	if (psk_b)
		wg_peer_set_preshared_key(pb, psk_b);
}

static void teardown(void)
{
	unsigned i;

	for (i = 0; i < A.nqueue; ++i)
		pktpool_put(&pool, A.queue[i]);
	for (i = 0; i < B.nqueue; ++i)
		pktpool_put(&pool, B.queue[i]);
	wg_device_free(A.wg);
	wg_device_free(B.wg);
	CHECK(pool.nfree == pool.total);
	pktpool_destroy(&pool);
}

/* An IPv4/UDP packet from src to dst (last octets) with payload bytes. */
static uint32_t next_seq;

static void send_ip(struct side *s, uint8_t src, uint8_t dst, unsigned payload)
{
	struct pktbuf *pb = pktpool_get(&pool);
	uint8_t *p = pkt_data(pb);
	unsigned len = 28 + payload;

	memset(p, 0xab, len);
	if (payload >= 4)
		memcpy(p + 28, &next_seq, 4);
	next_seq++;
	p[0] = 0x45;
	p[1] = 0;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[9] = 17;
	p[12] = 10, p[13] = 0, p[14] = 0, p[15] = src;
	p[16] = 10, p[17] = 0, p[18] = 0, p[19] = dst;
	pb->len = len;
	wg_send(s->wg, pb);
}

static struct peer *peer_of(struct side *s)
{
	return s->wg->peers_head;
}

static void test_handshake_and_data(void)
{
	setup(NULL, NULL);
	send_ip(&A, 1, 2, 100);
	CHECK(peer_of(&A)->staged_count == 1);
	pump();
	/* initiation, response, then the staged packet */
	CHECK(B.delivered == 1);
	CHECK(B.last_len == 128);
	CHECK(peer_of(&A)->keypairs.current != NULL);
	/* B is responder: its session is confirmed by A's data */
	CHECK(peer_of(&B)->keypairs.current != NULL);
	CHECK(peer_of(&B)->keypairs.next == NULL);
	send_ip(&B, 2, 1, 1);
	pump();
	CHECK(A.delivered == 1);
	CHECK(A.last_len == 29);
	CHECK(peer_of(&A)->last_handshake_real_ns != 0);
	CHECK(peer_of(&A)->rx_bytes > 0 && peer_of(&A)->tx_bytes > 0);
	teardown();
}

static void test_source_filter(void)
{
	setup(NULL, NULL);
	send_ip(&A, 1, 2, 10);
	pump();
	CHECK(B.delivered == 1);
	/* A sends with a source B did not allow for it: counted against A,
	 * told once a minute, naming the address */
	send_ip(&A, 7, 2, 10);
	send_ip(&A, 7, 2, 10);
	pump();
	CHECK(B.delivered == 1);
	CHECK(wg_peer_diag(peer_of(&B), WG_DIAG_ALLOWED_IPS) == 2);
	CHECK(B.diag_lines[WG_DIAG_ALLOWED_IPS] == 1);
	CHECK(strstr(B.last_diag, "sent a packet from 10.0.0.7, outside its AllowedIPs"));
	advance(61 * NS_PER_SEC);
	send_ip(&A, 7, 2, 10);
	pump();
	CHECK(B.diag_lines[WG_DIAG_ALLOWED_IPS] == 2);
	CHECK(strstr(B.last_diag, "(3 so far)"));
	/* no route: dropped before encryption, and said */
	send_ip(&A, 1, 9, 10);
	CHECK(A.nqueue == 0);
	CHECK(A.wg->diag_total[WG_DIAG_NO_PEER] == 1);
	CHECK(strstr(A.last_diag, "a packet to 10.0.0.9, which no peer's AllowedIPs cover"));
	teardown();
}

/* Multicast with no peer (the kernel's own chatter on a TUN) is dropped
 * without a word; a peer without an endpoint is named. */
static void test_no_peer_multicast(void)
{
	struct pktbuf *pb;
	struct peer *p;
	uint8_t pub[32], priv[32];
	struct in_addr a;

	setup(NULL, NULL);
	pb = pktpool_get(&pool);
	memset(pkt_data(pb), 0, 40);
	pkt_data(pb)[0] = 0x60; /* IPv6 to ff02::2 */
	pkt_data(pb)[24] = 0xff;
	pkt_data(pb)[25] = 0x02;
	pkt_data(pb)[39] = 0x02;
	pb->len = 40;
	CHECK(wg_send(A.wg, pb) == PACKET_DROP);
	CHECK(A.wg->diag_total[WG_DIAG_NO_PEER] == 0);
	curve25519_generate_secret(priv);
	CHECK(curve25519_public(pub, priv));
	p = wg_peer_create(A.wg, pub);
	REQUIRE(p);
	inet_pton(AF_INET, "10.0.0.5", &a);
	CHECK(wg_peer_add_allowedip(p, AF_INET, &a, 32) == 0);
	CHECK(wg_peer_set_name(p, "edge-5") == 0);
	send_ip(&A, 1, 5, 10);
	CHECK(wg_peer_diag(p, WG_DIAG_NO_ENDPOINT) == 1);
	CHECK(strstr(A.last_diag, "peer edge-5 ("));
	CHECK(strstr(A.last_diag, "has no endpoint yet"));
	teardown();
}

/* A's config names the wrong public key for B: B cannot check MAC1 and
 * says so about A's address; A gives up after REKEY_ATTEMPT_TIME and
 * says that. */
static void test_mac_wrong_key(void)
{
	uint8_t other[32], pub[32];
	struct peer *p;
	struct in_addr a;

	setup(NULL, NULL);
	curve25519_generate_secret(other);
	CHECK(curve25519_public(pub, other));
	wg_peer_remove(peer_of(&A));
	p = wg_peer_create(A.wg, pub);
	REQUIRE(p);
	inet_pton(AF_INET, "10.0.0.2", &a);
	CHECK(wg_peer_add_allowedip(p, AF_INET, &a, 32) == 0);
	wg_peer_set_endpoint(p, &B.addr.sa);
	send_ip(&A, 1, 2, 10);
	pump();
	CHECK(B.wg->diag_total[WG_DIAG_WRONG_KEY] == 1);
	CHECK(B.wg->diag_sources[0].count[WG_DIAG_WRONG_KEY] == 1 ||
	      B.wg->diag_sources[1].count[WG_DIAG_WRONG_KEY] == 1);
	CHECK(strstr(B.last_diag, "192.0.2.1:51820 sends handshakes for another public key"));
	CHECK(wg_peer_diag(p, WG_DIAG_NO_RESPONSE) == 0);
	advance(120 * NS_PER_SEC);
	CHECK(wg_peer_diag(p, WG_DIAG_NO_RESPONSE) == 1);
	CHECK(strstr(A.last_diag, "no answer to handshakes for 90 s"));
	/* each retry was one more wrong_key, told once */
	CHECK(B.wg->diag_total[WG_DIAG_WRONG_KEY] >= MAX_TIMER_HANDSHAKES);
	CHECK(B.diag_lines[WG_DIAG_WRONG_KEY] == 2); /* at 0 s and ~60 s */
	teardown();
}

static void test_psk(void)
{
	uint8_t k1[32], k2[32];

	random_bytes(k1, 32);
	random_bytes(k2, 32);
	setup(k1, k1);
	send_ip(&A, 1, 2, 10);
	pump();
	CHECK(B.delivered == 1);
	teardown();

	setup(k1, k2);
	send_ip(&A, 1, 2, 10);
	advance(20 * NS_PER_SEC);
	CHECK(B.delivered == 0);
	CHECK(peer_of(&A)->keypairs.current == NULL);
	teardown();
}

static void test_wrong_key(void)
{
	uint8_t other[32], pub[32];

	setup(NULL, NULL);
	/* B expects somebody else, not A */
	curve25519_generate_secret(other);
	CHECK(curve25519_public(pub, other));
	wg_peer_remove(peer_of(&B));
	wg_peer_create(B.wg, pub);
	send_ip(&A, 1, 2, 10);
	advance(30 * NS_PER_SEC);
	CHECK(B.delivered == 0);
	CHECK(peer_of(&A)->keypairs.current == NULL);
	CHECK(B.wg->stats.rx_dropped > 0);
	/* B knows who it was: a valid initiation from A's key */
	CHECK(B.wg->diag_total[WG_DIAG_UNKNOWN_PEER] > 0);
	CHECK(B.wg->diag_sources[0].has_key &&
	      !memcmp(B.wg->diag_sources[0].key, A.pub, 32));
	teardown();
}

static void test_low_order_peer_key(void)
{
	uint8_t zero[32] = { 0 };
	struct peer *p;

	setup(NULL, NULL);
	p = wg_peer_create(A.wg, zero);
	REQUIRE(p);
	CHECK(crypto_is_zero(p->handshake.precomputed_static_static, 32));
	wg_send_handshake_initiation(p, false);
	CHECK(A.nqueue == 0);
	teardown();
}

static void test_replayed_initiation(void)
{
	struct pktbuf *copy;

	setup(NULL, NULL);
	send_ip(&A, 1, 2, 10);
	REQUIRE(A.nqueue == 1);
	copy = pktpool_get(&pool);
	memcpy(copy, A.queue[0], sizeof(*copy));
	pump();
	CHECK(B.delivered == 1);
	/* the same initiation again: its timestamp is not newer */
	B.nqueue = 0;
	now_ns += NS_PER_SEC;
	set_clock();
	wg_receive(B.wg, copy, &A.addr);
	CHECK(B.nqueue == 0);
	CHECK(wg_peer_diag(peer_of(&B), WG_DIAG_STALE_TIMESTAMP) == 1);
	teardown();
}

static void test_retransmit_and_give_up(void)
{
	struct peer *p;
	unsigned sent;

	setup(NULL, NULL);
	A.drop_all = true;
	send_ip(&A, 1, 2, 10);
	p = peer_of(&A);
	CHECK(A.sent == 1);
	advance(5 * NS_PER_SEC + 400 * NS_PER_MS);
	CHECK(A.sent == 2); /* one retry after REKEY_TIMEOUT + jitter */
	advance(100 * NS_PER_SEC);
	sent = A.sent;
	/* REKEY_ATTEMPT_TIME / REKEY_TIMEOUT tries, then silence */
	CHECK(sent >= MAX_TIMER_HANDSHAKES && sent <= MAX_TIMER_HANDSHAKES + 2);
	CHECK(p->staged_count == 0);
	advance(20 * NS_PER_SEC);
	CHECK(A.sent == sent);
	CHECK(wg_peer_diag(p, WG_DIAG_NO_RESPONSE) == 1);
	teardown();
}

static void test_keepalive_and_rekey(void)
{
	struct peer *pa;
	struct noise_keypair *first;
	unsigned sent;

	setup(NULL, NULL);
	send_ip(&A, 1, 2, 10);
	pump();
	pa = peer_of(&A);
	first = pa->keypairs.current;
	/* B received data and sends nothing: a keepalive after 10 s */
	sent = B.sent;
	advance(KEEPALIVE_TIMEOUT * NS_PER_SEC + NS_PER_SEC);
	CHECK(B.sent == sent + 1);
	/* after REKEY_AFTER_TIME, the initiator's next send rehandshakes */
	advance((REKEY_AFTER_TIME - KEEPALIVE_TIMEOUT) * NS_PER_SEC);
	send_ip(&A, 1, 2, 10);
	pump();
	CHECK(pa->keypairs.current != first);
	CHECK(pa->keypairs.previous == first);
	CHECK(B.delivered == 2);
	teardown();
}

static void test_persistent_keepalive(void)
{
	struct peer *pa;
	unsigned sent;

	setup(NULL, NULL);
	pa = peer_of(&A);
	wg_peer_set_persistent_keepalive(pa, 25);
	pump(); /* the immediate keepalive forces a handshake */
	CHECK(pa->keypairs.current != NULL);
	sent = A.sent;
	advance(26 * NS_PER_SEC);
	CHECK(A.sent == sent + 1);
	teardown();
}

static void test_zero_key_material(void)
{
	setup(NULL, NULL);
	send_ip(&A, 1, 2, 10);
	pump();
	CHECK(peer_of(&A)->keypairs.current != NULL);
	A.drop_all = B.drop_all = true;
	advance((REJECT_AFTER_TIME * 3 + 1) * NS_PER_SEC);
	CHECK(peer_of(&A)->keypairs.current == NULL);
	CHECK(peer_of(&B)->keypairs.current == NULL);
	teardown();
}

static void test_reject_after_time(void)
{
	struct noise_keypair *kp;

	setup(NULL, NULL);
	send_ip(&A, 1, 2, 10);
	pump();
	kp = peer_of(&B)->keypairs.current;
	REQUIRE(kp);
	/* B holds an old session and the wire drops everything: after
	 * REJECT_AFTER_TIME it will not use it to send */
	A.drop_all = B.drop_all = true;
	now_ns += (REJECT_AFTER_TIME + 1) * NS_PER_SEC;
	set_clock();
	send_ip(&B, 2, 1, 10);
	CHECK(B.nqueue == 0);
	CHECK(peer_of(&B)->staged_count == 1);
	teardown();
}

static void test_cookie_under_load(void)
{
	struct peer *pa;
	int i;

	setup(NULL, NULL);
	pa = peer_of(&A);
	/* Push B over the under-load threshold with junk handshakes. */
	for (i = 0; i <= UNDER_LOAD_HANDSHAKES_PER_SEC; ++i) {
		struct pktbuf *pb = pktpool_get(&pool);

		memset(pkt_data(pb), 0, 148);
		pkt_data(pb)[0] = 1;
		pb->len = 148;
		wg_receive(B.wg, pb, &A.addr);
	}
	send_ip(&A, 1, 2, 10);
	pump();
	/* B answered with a cookie, A stored it; no session yet */
	CHECK(B.wg->stats.cookies_sent == 1);
	CHECK(B.wg->diag_total[WG_DIAG_COOKIE] == 1);
	CHECK(pa->latest_cookie.is_valid);
	CHECK(pa->keypairs.current == NULL);
	/* the retry carries mac2 and completes despite the load */
	advance(REKEY_TIMEOUT * NS_PER_SEC + 500 * NS_PER_MS);
	CHECK(pa->keypairs.current != NULL);
	CHECK(B.delivered == 1);
	teardown();
}

static void test_roaming(void)
{
	setup(NULL, NULL);
	send_ip(&A, 1, 2, 10);
	pump();
	/* A moves: B learns the new address from authenticated data */
	A.addr.in4.sin_port = htons(40000);
	send_ip(&A, 1, 2, 10);
	pump();
	CHECK(peer_of(&B)->endpoint.in4.sin_port == htons(40000));
	teardown();
}

/* Many packets per batch, crypto out of order or on threads: every packet
 * arrives, in the order it was sent. */
static void check_batched_order(void)
{
	unsigned i, round;

	setup(NULL, NULL);
	A.wg->batching = B.wg->batching = true;
	send_ip(&A, 1, 2, 100); /* handshake, then the session */
	wg_flush(A.wg);
	pump();
	wg_flush(B.wg);
	wg_flush(A.wg);
	pump();
	wg_flush(B.wg);
	REQUIRE(B.delivered == 1);
	B.nseqs = 0;
	next_seq = 1000;
	for (round = 0; round < 8; ++round) {
		for (i = 0; i < 300; ++i)
			send_ip(&A, 1, 2, 64 + (i * 37) % 1300);
		wg_flush(A.wg);
		/* all of A's datagrams reach B in one receive batch */
		while (A.nqueue) {
			struct pktbuf *pb = A.queue[0];

			memmove(A.queue, A.queue + 1, --A.nqueue * sizeof(pb));
			wg_receive(B.wg, pb, &A.addr);
		}
		wg_flush(B.wg);
	}
	CHECK(B.nseqs == 8 * 300);
	for (i = 0; i < B.nseqs; ++i)
		CHECK(B.seqs[i] == 1000 + i);
	teardown();
}

static void test_batched_order_reversed_crypto(void)
{
	ops.crypt = op_crypt;
	pool_threads = NULL;
	check_batched_order();
	ops.crypt = NULL;
}

static void test_batched_order_worker_threads(void)
{
	ops.crypt = op_crypt;
	pool_threads = workers_new(3);
	REQUIRE(pool_threads);
	check_batched_order();
	workers_free(pool_threads);
	pool_threads = NULL;
	ops.crypt = NULL;
}

int main(void)
{
	RUN(test_handshake_and_data);
	RUN(test_source_filter);
	RUN(test_no_peer_multicast);
	RUN(test_mac_wrong_key);
	RUN(test_psk);
	RUN(test_wrong_key);
	RUN(test_low_order_peer_key);
	RUN(test_replayed_initiation);
	RUN(test_retransmit_and_give_up);
	RUN(test_keepalive_and_rekey);
	RUN(test_persistent_keepalive);
	RUN(test_zero_key_material);
	RUN(test_reject_after_time);
	RUN(test_cookie_under_load);
	RUN(test_roaming);
	RUN(test_batched_order_reversed_crypto);
	RUN(test_batched_order_worker_threads);
	return unit_done();
}

/* IPv4 reassembly within a batch (io/defrag.c): complete sets are joined
 * into the bytes the sender fragmented, at the place of the completing
 * fragment; anything irregular is left untouched for the kernel. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "io/defrag.h"
#include "io/offload.h"
#include "unit.h"

enum { NBUF = 96, BUFCAP = 4000, MTU = 1420 };

static uint8_t bufs[NBUF][BUFCAP];
static struct defrag_pkt pk[NBUF];
static unsigned npk;

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void ip_csum(uint8_t *ip)
{
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = (uint16_t)~csum_fold(csum_add(0, ip, 20));
	memcpy(ip + 10, &c, 2);
}

/* An IPv4 UDP datagram with payload bytes from seed; returns its length. */
static size_t make_dgram(uint8_t *d, size_t payload, unsigned id, uint8_t seed,
			 uint8_t src_last)
{
	size_t i, len = 20 + 8 + payload;

	memset(d, 0, 28);
	d[0] = 0x45;
	put16(d + 2, (unsigned)len);
	put16(d + 4, id);
	d[8] = 64;
	d[9] = IPPROTO_UDP;
	d[12] = 10, d[13] = 77, d[15] = src_last;
	d[16] = 10, d[17] = 77, d[19] = 2;
	put16(d + 20, 40000);
	put16(d + 22, 5201);
	put16(d + 24, (unsigned)(8 + payload));
	for (i = 0; i < payload; ++i)
		d[28 + i] = (uint8_t)(seed + i * 7);
	ip_csum(d);
	return len;
}

/* Appends the fragments of d (as Linux makes them for mtu) to the batch;
 * returns how many. */
static unsigned fragment(const uint8_t *d, size_t len, size_t mtu)
{
	size_t data = len - 20, chunk = (mtu - 20) & ~(size_t)7, off;
	unsigned n = 0;

	for (off = 0; off < data; off += chunk) {
		size_t take = data - off < chunk ? data - off : chunk;
		uint8_t *f = bufs[npk];

		memcpy(f, d, 20);
		memcpy(f + 20, d + 20 + off, take);
		put16(f + 2, (unsigned)(20 + take));
		put16(f + 6, (unsigned)(off / 8) | (off + take < data ? 0x2000 : 0));
		ip_csum(f);
		pk[npk] = (struct defrag_pkt){ f, (uint32_t)(20 + take), BUFCAP, 0 };
		npk++;
		n++;
	}
	return n;
}

static void add_plain(size_t payload, unsigned id)
{
	pk[npk].len = (uint32_t)make_dgram(bufs[npk], payload, id, 1, 1);
	pk[npk].data = bufs[npk];
	pk[npk].cap = BUFCAP;
	npk++;
}

static void reset(void)
{
	npk = 0;
	memset(pk, 0, sizeof(pk));
}

/* The joined packet equals the original datagram (whose IP header differs
 * only in the checksum if the original had one computed the same way). */
static bool same_as(const struct defrag_pkt *p, const uint8_t *orig, size_t len)
{
	return p->len == len && !memcmp(p->data, orig, len) &&
	       csum_fold(csum_add(0, p->data, 20)) == 0xffff;
}

static void test_join_sizes(void)
{
	static const size_t sizes[] = { 1393, 1400, 1401, 1407, 1408, 1409,
					2791, 2800, 3900 };
	uint8_t orig[BUFCAP];
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
		size_t len = make_dgram(orig, sizes[i], 100 + (unsigned)i, 9, 1);
		unsigned nf, n;

		reset();
		nf = fragment(orig, len, MTU);
		CHECK(nf >= 2);
		n = defrag4_batch(pk, npk);
		CHECK(n == 1);
		CHECK(same_as(&pk[0], orig, len));
	}
}

static void test_positions_and_others(void)
{
	uint8_t a[BUFCAP], b[BUFCAP];
	size_t la = make_dgram(a, 1400, 1, 3, 1), lb = make_dgram(b, 3000, 2, 4, 1);
	unsigned n;

	/* plain, a1, b1, plain2, a2 (completes a), b2, b3 (completes b) */
	reset();
	add_plain(100, 50);                 /* 0 */
	fragment(a, la, MTU);               /* 1 a1, 2 a2 */
	fragment(b, lb, MTU);               /* 3 b1, 4 b2, 5 b3 */
	add_plain(200, 51);                 /* 6 */
	{
		struct defrag_pkt t = pk[2];    /* order: p a1 b1 p2 a2 b2 b3 */

		pk[2] = pk[3];
		pk[3] = pk[6];
		pk[6] = pk[5];
		pk[5] = pk[4];
		pk[4] = t;
	}
	n = defrag4_batch(pk, npk);
	REQUIRE(n == 4);
	CHECK(pk[0].len == 128);
	CHECK(pk[1].len == 228);
	CHECK(same_as(&pk[2], a, la)); /* where a2 was */
	CHECK(same_as(&pk[3], b, lb)); /* where b3 was */
}

/* Sets that are not plain stay as they are, byte for byte. */
static void check_untouched(unsigned expect_n)
{
	uint8_t copy[NBUF][BUFCAP];
	uint32_t lens[NBUF];
	unsigned i, n = npk;

	for (i = 0; i < n; ++i) {
		memcpy(copy[i], pk[i].data, pk[i].len);
		lens[i] = pk[i].len;
	}
	CHECK(defrag4_batch(pk, n) == expect_n);
	for (i = 0; i < n && expect_n == n; ++i)
		CHECK(pk[i].len == lens[i] && !memcmp(pk[i].data, copy[i], lens[i]));
}

static void test_left_alone(void)
{
	uint8_t a[BUFCAP];
	size_t la = make_dgram(a, 1400, 7, 5, 1);
	struct defrag_pkt t;

	/* missing last fragment */
	reset();
	fragment(a, la, MTU);
	npk--;
	check_untouched(npk);
	/* last before first */
	reset();
	fragment(a, la, MTU);
	t = pk[0], pk[0] = pk[1], pk[1] = t;
	check_untouched(npk);
	/* overlap: second fragment starts 8 bytes early */
	reset();
	fragment(a, la, MTU);
	put16(pk[1].data + 6, ((1400u - 8) / 8));
	ip_csum(pk[1].data);
	check_untouched(npk);
	/* duplicate first fragment between the pieces */
	reset();
	fragment(a, la, MTU);
	memcpy(bufs[npk], pk[0].data, pk[0].len);
	pk[npk] = pk[1];
	pk[1] = (struct defrag_pkt){ bufs[npk], pk[0].len, BUFCAP, 0 };
	npk++;
	check_untouched(npk);
	/* bad header checksum on the tail */
	reset();
	fragment(a, la, MTU);
	pk[1].data[10] ^= 1;
	check_untouched(npk);
	/* different TOS (ECN mark on one piece) */
	reset();
	fragment(a, la, MTU);
	pk[1].data[1] = 3;
	ip_csum(pk[1].data);
	check_untouched(npk);
	/* IP options */
	reset();
	fragment(a, la, MTU);
	pk[0].data[0] = 0x46;
	check_untouched(npk);
	/* no room for the whole datagram in the first buffer */
	reset();
	fragment(a, la, MTU);
	pk[0].cap = (uint32_t)la - 1;
	check_untouched(npk);
	/* IPv6 packets are never touched */
	reset();
	add_plain(50, 1);
	pk[0].data[0] = 0x60;
	check_untouched(1);
}

static void test_window_and_ids(void)
{
	uint8_t a[BUFCAP], b[BUFCAP];
	size_t la = make_dgram(a, 1400, 9, 5, 1), lb = make_dgram(b, 1400, 9, 6, 3);
	unsigned i;

	/* same id, different source: two datagrams, not one */
	reset();
	fragment(a, la, MTU);
	fragment(b, lb, MTU);
	{
		struct defrag_pkt t = pk[1]; /* a1 b1 a2 b2 */

		pk[1] = pk[2];
		pk[2] = t;
	}
	REQUIRE(defrag4_batch(pk, npk) == 2);
	CHECK(same_as(&pk[0], a, la));
	CHECK(same_as(&pk[1], b, lb));
	/* the tail beyond the window stays for the kernel */
	reset();
	fragment(a, la, MTU);
	for (i = 0; i < DEFRAG_WINDOW; ++i)
		add_plain(10, 1000 + i);
	{
		struct defrag_pkt t = pk[1];

		memmove(&pk[1], &pk[2], (npk - 2) * sizeof(pk[0]));
		pk[npk - 1] = t;
	}
	check_untouched(npk);
}

/* Random batches: whatever comes out is either an input packet untouched
 * or a joined datagram equal to one that was fragmented. */
static void test_random(void)
{
	static uint8_t origs[NBUF][BUFCAP];
	static size_t olen[NBUF];
	unsigned round, i, j, joined = 0;

	srand(7);
	for (round = 0; round < 3000; ++round) {
		unsigned nd = 1 + (unsigned)rand() % 12, n, frags_in = 0;

		reset();
		for (i = 0; i < nd && npk < NBUF - 4; ++i) {
			size_t pay = 1 + (size_t)rand() % 3900;

			olen[i] = make_dgram(origs[i], pay, 300 + i, (uint8_t)round, 1);
			if (olen[i] > BUFCAP - 8)
				olen[i] = make_dgram(origs[i], 100, 300 + i, 1, 1);
			frags_in += fragment(origs[i], olen[i], 576 + (size_t)rand() % 900);
		}
		nd = i;
		/* a few random swaps and drops */
		for (j = 0; j < (unsigned)rand() % 4; ++j) {
			unsigned x = (unsigned)rand() % npk, y = (unsigned)rand() % npk;
			struct defrag_pkt t = pk[x];

			pk[x] = pk[y];
			pk[y] = t;
		}
		if (rand() % 3 == 0 && npk > 1) {
			unsigned x = (unsigned)rand() % npk;

			npk--;
			pk[x] = pk[npk];
		}
		n = defrag4_batch(pk, npk);
		CHECK(n <= npk);
		joined += npk - n;
		for (i = 0; i < n; ++i) {
			bool ok = pk[i].len <= pk[i].cap;

			if (!(pk[i].data[6] & 0x20) && !(pk[i].data[7] | (pk[i].data[6] & 0x1f)))
				for (ok = false, j = 0; j < nd; ++j)
					ok = ok || same_as(&pk[i], origs[j], olen[j]);
			CHECK(ok);
		}
		(void)frags_in;
	}
	/* most sets are left whole by the shuffles: they must be joined */
	CHECK(joined > 10000);
}

static void number(unsigned first_id)
{
	unsigned i;

	for (i = 0; i < npk; ++i)
		pk[i].id = first_id + i;
}

/* A batch cut between fragments: what waits for the next batch is every
 * fragment of a datagram whose first fragment is new in this batch; the
 * next batch, placed after the waiting ones, completes them. */
static void test_unfinished(void)
{
	uint8_t a[BUFCAP], b[BUFCAP], c[BUFCAP];
	size_t la = make_dgram(a, 1400, 11, 5, 1), lb = make_dgram(b, 3000, 12, 6, 1),
	       lc = make_dgram(c, 1400, 13, 7, 1);
	static uint8_t keepbuf[4][BUFCAP];
	bool wait[NBUF];
	struct defrag_pkt kept[4];
	unsigned n, i, nk = 0;

	/* batch 1: plain, a1 | b1 b2 | c2 (c's head was lost) */
	reset();
	add_plain(100, 60);
	fragment(a, la, MTU);
	npk--; /* a2 comes later */
	fragment(b, lb, MTU);
	npk--; /* b3 comes later */
	fragment(c, lc, MTU);
	pk[npk - 2] = pk[npk - 1]; /* c1 lost */
	npk--;
	number(0);
	n = defrag4_batch(pk, npk);
	REQUIRE(n == 5);
	CHECK(defrag4_unfinished(pk, n, 0, wait) == 3);
	CHECK(!wait[0] && wait[1] && wait[2] && wait[3] && !wait[4]);
	for (i = 0; i < n; ++i) {
		if (wait[i] && nk < 4) {
			memcpy(keepbuf[nk], pk[i].data, pk[i].len);
			kept[nk] = pk[i];
			kept[nk].data = keepbuf[nk];
			nk++;
		}
	}
	REQUIRE(nk == 3);
	/* batch 2: the waiting three, then a2, a plain packet, b3 */
	reset();
	fragment(a, la, MTU);   /* 0 a1, 1 a2 */
	add_plain(200, 61);     /* 2 */
	fragment(b, lb, MTU);   /* 3 b1, 4 b2, 5 b3 */
	pk[0] = pk[1];
	pk[1] = pk[2];
	pk[2] = pk[5];
	npk = 3;
	memmove(&pk[nk], &pk[0], npk * sizeof(pk[0]));
	memcpy(pk, kept, nk * sizeof(kept[0]));
	npk += nk;
	number(0);
	n = defrag4_batch(pk, npk);
	REQUIRE(n == 3);
	CHECK(same_as(&pk[0], a, la)); /* where a2 was */
	CHECK(pk[1].len == 228);
	CHECK(same_as(&pk[2], b, lb));
	CHECK(defrag4_unfinished(pk, n, nk, wait) == 0);
	/* what waited once is not kept again; a new head is */
	reset();
	fragment(a, la, MTU);
	npk--;
	fragment(c, lc, MTU);
	npk--;
	number(0);
	CHECK(defrag4_unfinished(pk, npk, 1, wait) == 1);
	CHECK(!wait[0] && wait[1]);
	/* IPv4 only, and only what defrag4_batch could join: a plain packet
	 * never waits */
	reset();
	add_plain(1000, 62);
	number(0);
	CHECK(defrag4_unfinished(pk, npk, 0, wait) == 0);
}

int main(void)
{
	RUN(test_join_sizes);
	RUN(test_positions_and_others);
	RUN(test_left_alone);
	RUN(test_window_and_ids);
	RUN(test_random);
	RUN(test_unfinished);
	return unit_done();
}

/* The [Egress] flow table: bounded with the longest idle flow evicted,
 * conntrack-style idle timeouts, and a randomised comparison against a
 * deliberately simple reference (an array scanned in full). */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "relay/flowtab.h"

#define SEC 1000000000ULL

static unsigned released;
static struct netstack_addr released_peer;

static void on_release(void *ctx, struct flow *f)
{
	released++;
	released_peer = f->peer;
	CHECK(f->fd == (int)f->peer.port); /* what the caller stored */
}

static void addr(struct netstack_addr *a, unsigned n, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->ip[0] = 10;
	a->ip[2] = (uint8_t)(n >> 8);
	a->ip[3] = (uint8_t)n;
	a->port = port;
}

static struct flow *add(struct flowtab *t, unsigned n, uint64_t now)
{
	struct netstack_addr peer, dst;
	struct flow *f;

	addr(&peer, 1, (uint16_t)n);
	addr(&dst, 2, 53);
	f = flowtab_add(t, &peer, &dst, now);
	if (f)
		f->fd = (int)n;
	return f;
}

static struct flow *find(struct flowtab *t, unsigned n)
{
	struct netstack_addr peer, dst;

	addr(&peer, 1, (uint16_t)n);
	addr(&dst, 2, 53);
	return flowtab_find(t, &peer, &dst);
}

static void test_bounded_lru(void)
{
	struct flowtab t;
	uint64_t now = 1000 * SEC;
	unsigned i;

	REQUIRE(flowtab_init(&t, 8, 30 * SEC, 120 * SEC, on_release, NULL) ==
		0);
	released = 0;
	for (i = 1; i <= 8; ++i)
		REQUIRE(add(&t, i, now + i));
	CHECK(t.count == 8 && released == 0);
	CHECK(find(&t, 3) && !find(&t, 9));
	/* Flow 1 is used again: 2 is now the longest idle. */
	flowtab_touch(&t, find(&t, 1), now + 20, false);
	REQUIRE(add(&t, 9, now + 21));
	CHECK(t.count == 8 && released == 1 && released_peer.port == 2);
	CHECK(!find(&t, 2) && find(&t, 1) && find(&t, 9));
	/* Many more: never above the bound, the newest always kept. */
	for (i = 10; i < 1000; ++i) {
		REQUIRE(add(&t, i, now + 100 + i));
		CHECK(t.count == 8);
	}
	CHECK(released == 1 + 990);
	for (i = 992; i < 1000; ++i)
		CHECK(find(&t, i));
	CHECK(flowtab_evict_oldest(&t) && t.count == 7);
	CHECK(!find(&t, 992));
	flowtab_remove(&t, find(&t, 999));
	CHECK(t.count == 6 && released == 992);
	CHECK(t.added == 999 && t.evicted == 992 && t.expired == 0);
	flowtab_destroy(&t);
	CHECK(released == 998);
}

static void test_idle_timeouts(void)
{
	struct flowtab t;
	uint64_t now = 1000 * SEC;
	struct flow *dns, *stream, *quiet;

	REQUIRE(flowtab_init(&t, 16, 30 * SEC, 120 * SEC, on_release, NULL) ==
		0);
	released = 0;
	/* A stream: replies, traffic for 10 s. */
	stream = add(&t, 1, now);
	flowtab_touch(&t, stream, now + SEC / 10, true);
	flowtab_touch(&t, stream, now + 10 * SEC, false);
	/* A DNS exchange: one reply within 2 s, nothing after. */
	dns = add(&t, 2, now + 11 * SEC);
	flowtab_touch(&t, dns, now + 11 * SEC + SEC / 20, true);
	/* Never answered. */
	quiet = add(&t, 3, now + 12 * SEC);
	(void)quiet;
	CHECK(flowtab_expire(&t, now + 40 * SEC) == 0);
	/* The DNS flow and the unanswered one go at 30 s idle, though the
	 * older stream flow ahead of them stays. */
	CHECK(flowtab_expire(&t, now + 42 * SEC + SEC / 10) == 2);
	CHECK(find(&t, 1) && !find(&t, 2) && !find(&t, 3));
	CHECK(flowtab_expire(&t, now + 129 * SEC) == 0);
	CHECK(flowtab_expire(&t, now + 130 * SEC) == 1);
	CHECK(t.count == 0 && released == 3);
	CHECK(t.expired == 3 && t.evicted == 0);
	flowtab_destroy(&t);
}

/* The reference: every flow in an array; eviction scans for the least
 * recently used, expiry checks each one. */
struct ref {
	unsigned n;
	uint64_t created, last_used;
	bool replied, live;
};

static uint64_t ref_timeout(const struct ref *r)
{
	return r->replied && r->last_used - r->created >= 2 * SEC ? 120 * SEC
								   : 30 * SEC;
}

static void test_random_vs_reference(void)
{
	enum { MAX = 64, KEYS = 200, STEPS = 200000 };
	static struct ref ref[KEYS];
	struct flowtab t;
	uint64_t now = 1000 * SEC;
	unsigned step, i, live = 0, want_released = 0;
	uint32_t rng = 12345;

	REQUIRE(flowtab_init(&t, MAX, 30 * SEC, 120 * SEC, on_release, NULL) ==
		0);
	released = 0;
	memset(ref, 0, sizeof(ref));
	for (step = 0; step < STEPS; ++step) {
		unsigned k, op;
		struct flow *f;

		rng = rng * 1103515245 + 12345;
		k = (rng >> 8) % KEYS;
		op = (rng >> 20) % 16;
		now += 1 + (rng >> 24) % (SEC / 4);
		f = find(&t, k);
		if (!!f != ref[k].live) {
			CHECK(!"lookup differs from the reference");
			break;
		}
		if (op == 15) { /* the periodic expiry */
			for (i = 0; i < KEYS; ++i) {
				struct ref *x = &ref[i];

				if (x->live &&
				    now - x->last_used >= ref_timeout(x)) {
					ref[i].live = false;
					live--;
					want_released++;
				}
			}
			flowtab_expire(&t, now);
		} else if (f) {
			bool reply = op & 1;

			flowtab_touch(&t, f, now, reply);
			ref[k].last_used = now;
			ref[k].replied |= reply;
		} else {
			if (live == MAX) {
				unsigned oldest = KEYS;

				for (i = 0; i < KEYS; ++i)
					if (ref[i].live &&
					    (oldest == KEYS ||
					     ref[i].last_used <
						     ref[oldest].last_used))
						oldest = i;
				ref[oldest].live = false;
				live--;
				want_released++;
			}
			add(&t, k, now);
			ref[k] = (struct ref){ k, now, now, false, true };
			live++;
		}
		if (t.count != live || released != want_released) {
			CHECK(!"count or releases differ from the reference");
			break;
		}
	}
	flowtab_destroy(&t);
}

int main(void)
{
	RUN(test_bounded_lru);
	RUN(test_idle_timeouts);
	RUN(test_random_vs_reference);
	return unit_done();
}

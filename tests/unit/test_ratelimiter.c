/* Handshake ratelimiter under a fake clock: the Linux driver's selftest
 * timings, per-source and per-/64 buckets, gc and the entry bound. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "wg/messages.h"
#include "wg/ratelimiter.h"

/* Far from zero, so nothing depends on the clock starting at 0. */
#define T0 (1000 * NS_PER_SEC)
#define PACKET_INTERVAL (NS_PER_SEC / RATELIMITER_PACKETS_PER_SECOND)

static struct sockaddr_storage src(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(51820);
		if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) != 1)
			ss.ss_family = AF_UNSPEC;
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(51820);
		if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1)
			ss.ss_family = AF_UNSPEC;
	}
	return ss;
}

static bool allow(struct ratelimiter *r, const char *ip, uint64_t now)
{
	struct sockaddr_storage ss = src(ip);

	return ratelimiter_allow(r, (struct sockaddr *)&ss, now);
}

/* Spends the whole burst of ip at now. */
static void drain(struct ratelimiter *r, const char *ip, uint64_t now)
{
	int i;

	for (i = 0; i < RATELIMITER_PACKETS_BURSTABLE; ++i)
		CHECK(allow(r, ip, now));
	CHECK(!allow(r, ip, now));
}

/* The Linux selftest's expected_results: a burst, then one packet per
 * 1/PACKETS_PER_SECOND, with sleeps between. */
static const struct {
	bool result;
	uint64_t wait_ns;
} timings[] = {
	{ true, 0 },
	{ true, 0 },
	{ true, 0 },
	{ true, 0 },
	{ true, 0 },
	{ false, 0 },
	{ true, PACKET_INTERVAL },
	{ false, 0 },
	{ true, PACKET_INTERVAL * 2 },
	{ true, 0 },
	{ false, 0 },
};
_Static_assert(RATELIMITER_PACKETS_BURSTABLE == 5, "timings table");

static void test_timings(void)
{
	static const char *const sources[] = {
		"192.0.2.1", "2001:db8:1:2::1", "::ffff:198.51.100.7",
	};
	struct ratelimiter r;
	uint64_t now;
	size_t s, i;

	REQUIRE(ratelimiter_init(&r) == 0);
	for (s = 0; s < sizeof(sources) / sizeof(sources[0]); ++s) {
		now = T0;
		for (i = 0; i < sizeof(timings) / sizeof(timings[0]); ++i) {
			now += timings[i].wait_ns;
			if (allow(&r, sources[s], now) != timings[i].result) {
				fprintf(stderr, "  %s: step %zu\n", sources[s],
					i);
				CHECK(!"timing");
			}
		}
	}
	ratelimiter_uninit(&r);
}

static void test_refill_rate(void)
{
	struct ratelimiter r;
	uint64_t now = T0;
	int i;

	REQUIRE(ratelimiter_init(&r) == 0);
	drain(&r, "192.0.2.1", now);

	/* One nanosecond short of a token is still no token. */
	now += PACKET_INTERVAL - 1;
	CHECK(!allow(&r, "192.0.2.1", now));
	now += 1;
	CHECK(allow(&r, "192.0.2.1", now));
	CHECK(!allow(&r, "192.0.2.1", now));

	/* A steady PACKETS_PER_SECOND goes through indefinitely. */
	for (i = 0; i < 3 * RATELIMITER_PACKETS_PER_SECOND; ++i) {
		now += PACKET_INTERVAL;
		CHECK(allow(&r, "192.0.2.1", now));
	}
	/* Twice that rate gets half through. */
	for (i = 0; i < 2 * RATELIMITER_PACKETS_PER_SECOND; ++i) {
		now += PACKET_INTERVAL / 2;
		CHECK(allow(&r, "192.0.2.1", now) == (i % 2 == 1));
	}

	/* A long silence refills only up to the burst. */
	now += 60 * NS_PER_SEC;
	drain(&r, "192.0.2.1", now);

	/* A clock that steps back grants nothing and breaks nothing. */
	CHECK(!allow(&r, "192.0.2.1", now - NS_PER_SEC));
	CHECK(!allow(&r, "192.0.2.1", now - NS_PER_SEC));
	ratelimiter_uninit(&r);
}

static void test_independent_sources(void)
{
	struct ratelimiter r;

	REQUIRE(ratelimiter_init(&r) == 0);
	drain(&r, "192.0.2.1", T0);
	drain(&r, "192.0.2.2", T0);
	drain(&r, "10.0.0.1", T0);
	/* A v6 address whose first bytes equal a drained v4 one. */
	drain(&r, "c000:201::", T0);
	drain(&r, "2001:db8::1", T0);
	CHECK(!allow(&r, "192.0.2.1", T0));
	CHECK(r.entries == 5);
	ratelimiter_uninit(&r);
}

static void test_ipv6_prefix(void)
{
	struct ratelimiter r;
	int i;

	REQUIRE(ratelimiter_init(&r) == 0);
	/* One /64, whatever the interface identifier. */
	for (i = 0; i < RATELIMITER_PACKETS_BURSTABLE; ++i)
		CHECK(allow(&r, i % 2 ? "2001:db8:1:2::1" :
					"2001:db8:1:2:ffff:ffff:ffff:ffff",
			    T0));
	CHECK(!allow(&r, "2001:db8:1:2:1234::5", T0));
	CHECK(r.entries == 1);

	/* Neighbouring /64s are strangers. */
	drain(&r, "2001:db8:1:3::1", T0);
	drain(&r, "2001:db8:1:1:ffff:ffff:ffff:ffff", T0);
	drain(&r, "3001:db8:1:2::1", T0);
	CHECK(r.entries == 4);

	/* An IPv4-mapped source is its IPv4 address, not the ::ffff:0:0/64
	 * that every mapped address shares. */
	drain(&r, "::ffff:192.0.2.1", T0);
	CHECK(!allow(&r, "192.0.2.1", T0));
	drain(&r, "::ffff:192.0.2.2", T0);
	drain(&r, "192.0.2.3", T0);
	CHECK(r.entries == 7);
	ratelimiter_uninit(&r);
}

static void test_gc(void)
{
	struct ratelimiter r;
	const uint64_t ms = NS_PER_MS;

	REQUIRE(ratelimiter_init(&r) == 0);
	ratelimiter_gc(&r, T0); /* empty: nothing to do */
	drain(&r, "192.0.2.1", T0);
	drain(&r, "2001:db8::1", T0);
	CHECK(r.entries == 2);

	/* Half a second idle is not idle enough. */
	ratelimiter_gc(&r, T0 + 500 * ms);
	CHECK(r.entries == 2);
	CHECK(allow(&r, "2001:db8::1", T0 + 500 * ms)); /* keeps it fresh */

	ratelimiter_gc(&r, T0 + 1500 * ms);
	CHECK(r.entries == 1);
	/* Gone means forgotten: a full burst again. */
	drain(&r, "192.0.2.1", T0 + 1500 * ms);
	CHECK(r.entries == 2);

	/* A source that keeps sending stays; the quiet one goes. */
	drain(&r, "192.0.2.1", T0 + 2200 * ms);
	ratelimiter_gc(&r, T0 + 2600 * ms);
	CHECK(r.entries == 1);
	CHECK(!allow(&r, "192.0.2.1", T0 + 2200 * ms));
	CHECK(allow(&r, "2001:db8::1", T0 + 2600 * ms));
	CHECK(allow(&r, "2001:db8::1", T0 + 2600 * ms));
	CHECK(r.entries == 2);
	ratelimiter_gc(&r, T0 + 2600 * ms);
	CHECK(r.entries == 2);

	/* Sweeps come at most once a second, so calling every tick is cheap
	 * and an entry outlives its last packet by one to two seconds. */
	ratelimiter_gc(&r, T0 + 3500 * ms);
	CHECK(r.entries == 2);
	ratelimiter_gc(&r, T0 + 3600 * ms);
	CHECK(r.entries == 1);
	ratelimiter_gc(&r, T0 + 4700 * ms);
	CHECK(r.entries == 0);
	ratelimiter_uninit(&r);
}

static void test_table_full(void)
{
	struct ratelimiter r;
	char ip[INET_ADDRSTRLEN];
	uint64_t now = T0;
	uint32_t i;
	bool all = true;

	REQUIRE(ratelimiter_init(&r) == 0);
	for (i = 0; i < RATELIMITER_MAX_ENTRIES; ++i) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 0xff,
			 (i >> 8) & 0xff, i & 0xff);
		all &= allow(&r, ip, now);
	}
	CHECK(all);
	CHECK(r.entries == RATELIMITER_MAX_ENTRIES);

	/* New sources are refused; known ones keep their buckets. */
	CHECK(!allow(&r, "192.0.2.1", now));
	CHECK(!allow(&r, "2001:db8::1", now));
	CHECK(allow(&r, "10.0.0.0", now));
	CHECK(allow(&r, "10.0.255.255", now));
	CHECK(r.entries == RATELIMITER_MAX_ENTRIES);

	now += 2 * NS_PER_SEC;
	ratelimiter_gc(&r, now);
	CHECK(r.entries == 0);
	CHECK(allow(&r, "192.0.2.1", now));
	ratelimiter_uninit(&r);
}

static void test_bad_family(void)
{
	struct ratelimiter r;
	struct sockaddr_un sun;

	REQUIRE(ratelimiter_init(&r) == 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	CHECK(!ratelimiter_allow(&r, (struct sockaddr *)&sun, T0));
	CHECK(r.entries == 0);
	ratelimiter_uninit(&r);
}

int main(void)
{
	RUN(test_timings);
	RUN(test_refill_rate);
	RUN(test_independent_sources);
	RUN(test_ipv6_prefix);
	RUN(test_gc);
	RUN(test_table_full);
	RUN(test_bad_family);
	return unit_done();
}

/* Allowed-IPs trie: specific cases, then the kernel selftest's randomised
 * comparison against a deliberately naive flat-list reference. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "crypto/crypto.h"
#include "wg/allowedips.h"

struct fake_peer {
	int id;
	struct allowedips_list list;
};

enum {
	NUM_PEERS = 64,
};

static struct fake_peer peers[NUM_PEERS];

static void peers_init(void)
{
	int i;

	memset(peers, 0, sizeof(peers));
	for (i = 0; i < NUM_PEERS; ++i)
		peers[i].id = i;
}

static int addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static int insert_str(struct allowedips *t, struct fake_peer *p,
		      const char *ip, uint8_t cidr)
{
	uint8_t a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, ip, a) != 1)
		return -999;
	return allowedips_insert(t, family, a, cidr, p, &p->list);
}

static int remove_str(struct allowedips *t, struct fake_peer *p,
		      const char *ip, uint8_t cidr)
{
	uint8_t a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, ip, a) != 1)
		return -999;
	return allowedips_remove(t, family, a, cidr, p, &p->list);
}

static struct fake_peer *lookup_str(const struct allowedips *t, const char *ip)
{
	uint8_t a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, ip, a) != 1)
		return (struct fake_peer *)-1;
	return allowedips_lookup(t, family, a);
}

/* Collects a walk as "addr/cidr" strings. */
struct walk_log {
	char entries[32][INET6_ADDRSTRLEN + 5];
	int n, stop_after;
};

static int walk_collect(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct walk_log *log = ctx;
	char buf[INET6_ADDRSTRLEN];

	if (log->n >= 32)
		return -1;
	inet_ntop(family, addr, buf, sizeof(buf));
	snprintf(log->entries[log->n], sizeof(log->entries[0]), "%s/%u", buf,
		 cidr);
	log->n++;
	if (log->stop_after && log->n == log->stop_after)
		return 42;
	return 0;
}

static void walk_of(struct fake_peer *p, struct walk_log *log)
{
	memset(log, 0, sizeof(*log));
	CHECK(allowedips_walk(&p->list, walk_collect, log) == 0);
	CHECK((size_t)log->n == p->list.count);
}

static void test_default_routes(void)
{
	struct allowedips t;
	struct fake_peer *a = &peers[0], *b = &peers[1];

	peers_init();
	allowedips_init(&t);
	CHECK(lookup_str(&t, "1.2.3.4") == NULL);
	CHECK(lookup_str(&t, "::1") == NULL);

	CHECK(insert_str(&t, a, "0.0.0.0", 0) == 0);
	CHECK(lookup_str(&t, "1.2.3.4") == a);
	CHECK(lookup_str(&t, "255.255.255.255") == a);
	CHECK(lookup_str(&t, "0.0.0.0") == a);
	CHECK(lookup_str(&t, "::1") == NULL);

	CHECK(insert_str(&t, b, "::", 0) == 0);
	CHECK(lookup_str(&t, "::") == b);
	CHECK(lookup_str(&t, "2001:db8::1") == b);
	CHECK(lookup_str(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == b);
	CHECK(lookup_str(&t, "1.2.3.4") == a);

	/* A more specific route wins over the default in either family. */
	CHECK(insert_str(&t, b, "10.0.0.0", 8) == 0);
	CHECK(lookup_str(&t, "10.9.9.9") == b);
	CHECK(lookup_str(&t, "11.9.9.9") == a);

	/* Host bits of a default route are cleared too. */
	CHECK(insert_str(&t, b, "1.2.3.4", 0) == 0);
	CHECK(lookup_str(&t, "11.9.9.9") == b);
	CHECK(a->list.count == 0);
	CHECK(b->list.count == 3);

	CHECK(remove_str(&t, b, "0.0.0.0", 0) == 0);
	CHECK(lookup_str(&t, "11.9.9.9") == NULL);
	CHECK(lookup_str(&t, "10.9.9.9") == b);
	allowedips_free(&t);
	CHECK(b->list.count == 0 && !b->list.first && !b->list.last);
}

static void test_host_routes(void)
{
	struct allowedips t;
	struct fake_peer *a = &peers[0], *b = &peers[1], *c = &peers[2];

	peers_init();
	allowedips_init(&t);
	CHECK(insert_str(&t, a, "192.168.1.1", 32) == 0);
	CHECK(insert_str(&t, b, "192.168.1.0", 32) == 0);
	CHECK(insert_str(&t, c, "192.168.1.0", 31) == 0);
	CHECK(lookup_str(&t, "192.168.1.1") == a);
	CHECK(lookup_str(&t, "192.168.1.0") == b);
	CHECK(lookup_str(&t, "192.168.1.2") == NULL);
	CHECK(lookup_str(&t, "192.168.0.1") == NULL);

	CHECK(insert_str(&t, a, "2001:db8::1", 128) == 0);
	CHECK(insert_str(&t, b, "2001:db8::", 127) == 0);
	CHECK(insert_str(&t, c, "2001:db8::2", 128) == 0);
	CHECK(lookup_str(&t, "2001:db8::1") == a);
	CHECK(lookup_str(&t, "2001:db8::") == b);
	CHECK(lookup_str(&t, "2001:db8::2") == c);
	CHECK(lookup_str(&t, "2001:db8::3") == NULL);
	CHECK(lookup_str(&t, "2001:db8::1:1") == NULL);
	CHECK(lookup_str(&t, "192.168.1.1") == a);

	/* The last bit of a /128 matters. */
	CHECK(insert_str(&t, a, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
			 128) == 0);
	CHECK(lookup_str(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe") == a);
	CHECK(lookup_str(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") ==
	      NULL);
	allowedips_free(&t);
}

static void test_overlapping(void)
{
	struct allowedips t;
	struct fake_peer *a = &peers[0], *b = &peers[1], *c = &peers[2];
	struct fake_peer *d = &peers[3], *e = &peers[4];

	peers_init();
	allowedips_init(&t);
	/* Out of order, so nodes get split and re-parented. */
	CHECK(insert_str(&t, c, "10.1.1.0", 24) == 0);
	CHECK(insert_str(&t, a, "10.0.0.0", 8) == 0);
	CHECK(insert_str(&t, d, "10.1.1.1", 32) == 0);
	CHECK(insert_str(&t, b, "10.1.0.0", 16) == 0);
	CHECK(insert_str(&t, e, "10.128.0.0", 9) == 0);

	CHECK(lookup_str(&t, "10.1.1.1") == d);
	CHECK(lookup_str(&t, "10.1.1.2") == c);
	CHECK(lookup_str(&t, "10.1.2.1") == b);
	CHECK(lookup_str(&t, "10.2.0.0") == a);
	CHECK(lookup_str(&t, "10.127.255.255") == a);
	CHECK(lookup_str(&t, "10.128.0.0") == e);
	CHECK(lookup_str(&t, "10.255.0.1") == e);
	CHECK(lookup_str(&t, "11.0.0.0") == NULL);
	CHECK(lookup_str(&t, "9.255.255.255") == NULL);

	CHECK(remove_str(&t, c, "10.1.1.0", 24) == 0);
	CHECK(lookup_str(&t, "10.1.1.2") == b);
	CHECK(lookup_str(&t, "10.1.1.1") == d);
	CHECK(remove_str(&t, b, "10.1.0.0", 16) == 0);
	CHECK(lookup_str(&t, "10.1.1.2") == a);
	CHECK(lookup_str(&t, "10.1.1.1") == d);
	CHECK(remove_str(&t, a, "10.0.0.0", 8) == 0);
	CHECK(lookup_str(&t, "10.1.1.2") == NULL);
	CHECK(lookup_str(&t, "10.1.1.1") == d);
	CHECK(lookup_str(&t, "10.200.1.1") == e);

	/* Siblings get an ownerless parent; giving that prefix an owner and
	 * taking it away again must keep both children reachable. */
	CHECK(insert_str(&t, a, "2001:db8:0:1::", 64) == 0);
	CHECK(insert_str(&t, b, "2001:db8:0:2::", 64) == 0);
	CHECK(lookup_str(&t, "2001:db8:0:3::1") == NULL);
	CHECK(insert_str(&t, c, "2001:db8::", 62) == 0);
	CHECK(lookup_str(&t, "2001:db8:0:3::1") == c);
	CHECK(lookup_str(&t, "2001:db8:0:1::1") == a);
	CHECK(remove_str(&t, c, "2001:db8::", 62) == 0);
	CHECK(lookup_str(&t, "2001:db8:0:3::1") == NULL);
	CHECK(lookup_str(&t, "2001:db8:0:1::1") == a);
	CHECK(lookup_str(&t, "2001:db8:0:2::1") == b);
	CHECK(remove_str(&t, a, "2001:db8:0:1::", 64) == 0);
	CHECK(lookup_str(&t, "2001:db8:0:1::1") == NULL);
	CHECK(lookup_str(&t, "2001:db8:0:2::1") == b);
	CHECK(remove_str(&t, b, "2001:db8:0:2::", 64) == 0);
	CHECK(t.root6 == NULL);
	CHECK(remove_str(&t, d, "10.1.1.1", 32) == 0);
	CHECK(remove_str(&t, e, "10.128.0.0", 9) == 0);
	CHECK(t.root4 == NULL);
	allowedips_free(&t);
}

static void test_repoint(void)
{
	struct allowedips t;
	struct fake_peer *a = &peers[0], *b = &peers[1];
	struct walk_log log;

	peers_init();
	allowedips_init(&t);
	CHECK(insert_str(&t, a, "192.168.0.0", 16) == 0);
	CHECK(insert_str(&t, a, "172.16.0.0", 12) == 0);
	CHECK(insert_str(&t, b, "10.0.0.0", 8) == 0);
	CHECK(lookup_str(&t, "192.168.3.4") == a);

	CHECK(insert_str(&t, b, "192.168.0.0", 16) == 0);
	CHECK(lookup_str(&t, "192.168.3.4") == b);
	CHECK(a->list.count == 1);
	CHECK(b->list.count == 2);
	walk_of(b, &log);
	CHECK(log.n == 2);
	CHECK(!strcmp(log.entries[0], "10.0.0.0/8"));
	CHECK(!strcmp(log.entries[1], "192.168.0.0/16"));
	walk_of(a, &log);
	CHECK(log.n == 1);
	CHECK(!strcmp(log.entries[0], "172.16.0.0/12"));

	/* The old owner no longer holds it. */
	CHECK(remove_str(&t, a, "192.168.0.0", 16) == -ENOENT);
	CHECK(lookup_str(&t, "192.168.3.4") == b);

	/* And back again. */
	CHECK(insert_str(&t, a, "192.168.0.0", 16) == 0);
	CHECK(lookup_str(&t, "192.168.3.4") == a);
	CHECK(a->list.count == 2 && b->list.count == 1);
	allowedips_free(&t);
	CHECK(a->list.count == 0 && b->list.count == 0);
}

static void test_remove_by_owner(void)
{
	struct allowedips t;
	struct fake_peer *a = &peers[0], *b = &peers[1];

	peers_init();
	allowedips_init(&t);
	CHECK(insert_str(&t, a, "10.0.0.0", 24) == 0);
	CHECK(insert_str(&t, b, "10.0.0.0", 8) == 0);
	CHECK(insert_str(&t, a, "10.0.0.128", 25) == 0);
	CHECK(insert_str(&t, a, "10.0.0.1", 32) == 0);
	CHECK(insert_str(&t, b, "10.0.0.2", 32) == 0);
	CHECK(insert_str(&t, a, "fd00::", 8) == 0);
	CHECK(insert_str(&t, b, "fd00::1", 128) == 0);
	CHECK(insert_str(&t, a, "::", 0) == 0);

	allowedips_remove_by_owner(&t, a, &a->list);
	CHECK(a->list.count == 0 && !a->list.first && !a->list.last);
	CHECK(b->list.count == 3);
	CHECK(lookup_str(&t, "10.0.0.1") == b);
	CHECK(lookup_str(&t, "10.0.0.2") == b);
	CHECK(lookup_str(&t, "10.0.0.200") == b);
	CHECK(lookup_str(&t, "fd00::1") == b);
	CHECK(lookup_str(&t, "fd00::2") == NULL);
	CHECK(lookup_str(&t, "2001::") == NULL);

	/* Removing an owner with nothing is harmless. */
	allowedips_remove_by_owner(&t, a, &a->list);
	allowedips_remove_by_owner(&t, b, &b->list);
	CHECK(b->list.count == 0);
	CHECK(t.root4 == NULL && t.root6 == NULL);
	allowedips_free(&t);
}

static void test_remove_single(void)
{
	struct allowedips t;
	struct fake_peer *a = &peers[0], *b = &peers[1];

	peers_init();
	allowedips_init(&t);
	CHECK(insert_str(&t, a, "192.0.2.0", 24) == 0);
	CHECK(insert_str(&t, a, "192.0.2.0", 25) == 0);
	CHECK(remove_str(&t, a, "192.0.2.0", 23) == -ENOENT);
	CHECK(remove_str(&t, a, "192.0.2.0", 26) == -ENOENT);
	CHECK(remove_str(&t, b, "192.0.2.0", 24) == -ENOENT);
	CHECK(remove_str(&t, a, "2001:db8::", 24) == -ENOENT);
	CHECK(remove_str(&t, a, "192.0.2.77", 24) == 0); /* host bits */
	CHECK(remove_str(&t, a, "192.0.2.0", 24) == -ENOENT);
	CHECK(lookup_str(&t, "192.0.2.1") == a);
	CHECK(lookup_str(&t, "192.0.2.129") == NULL);
	CHECK(a->list.count == 1);
	CHECK(remove_str(&t, a, "192.0.2.0", 25) == 0);
	CHECK(lookup_str(&t, "192.0.2.1") == NULL);
	CHECK(a->list.count == 0 && t.root4 == NULL);
	allowedips_free(&t);
}

static void test_walk_order(void)
{
	static const char *const order[] = {
		"10.0.0.0/8", "2001:db8::/32", "10.1.0.0/16", "0.0.0.0/0",
		"fe80::1/128", "192.168.7.7/32",
	};
	struct allowedips t;
	struct fake_peer *a = &peers[0];
	struct walk_log log;
	char ip[64];
	size_t i;

	peers_init();
	allowedips_init(&t);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); ++i) {
		char *slash;

		snprintf(ip, sizeof(ip), "%s", order[i]);
		slash = strchr(ip, '/');
		*slash = '\0';
		CHECK(insert_str(&t, a, ip, (uint8_t)atoi(slash + 1)) == 0);
	}
	walk_of(a, &log);
	REQUIRE(log.n == 6);
	for (i = 0; i < 6; ++i)
		CHECK(!strcmp(log.entries[i], order[i]));

	/* Re-inserting moves a prefix to the end; removal closes the gap. */
	CHECK(insert_str(&t, a, "10.0.0.0", 8) == 0);
	CHECK(remove_str(&t, a, "0.0.0.0", 0) == 0);
	walk_of(a, &log);
	REQUIRE(log.n == 5);
	CHECK(!strcmp(log.entries[0], "2001:db8::/32"));
	CHECK(!strcmp(log.entries[1], "10.1.0.0/16"));
	CHECK(!strcmp(log.entries[2], "fe80::1/128"));
	CHECK(!strcmp(log.entries[3], "192.168.7.7/32"));
	CHECK(!strcmp(log.entries[4], "10.0.0.0/8"));

	/* A non-zero return stops the walk and is passed back. */
	memset(&log, 0, sizeof(log));
	log.stop_after = 2;
	CHECK(allowedips_walk(&a->list, walk_collect, &log) == 42);
	CHECK(log.n == 2);
	allowedips_free(&t);
	CHECK(a->list.count == 0);
}

static void test_host_bits_cleared(void)
{
	struct allowedips t;
	struct fake_peer *a = &peers[0], *b = &peers[1];
	struct walk_log log;

	peers_init();
	allowedips_init(&t);
	CHECK(insert_str(&t, a, "192.168.1.77", 24) == 0);
	CHECK(insert_str(&t, a, "10.255.255.255", 9) == 0);
	CHECK(insert_str(&t, a, "2001:db8:1:2:ffff:ffff:ffff:ffff", 65) == 0);
	CHECK(insert_str(&t, a, "2001:db8:ffff::", 33) == 0);
	CHECK(insert_str(&t, a, "255.255.255.255", 1) == 0);
	walk_of(a, &log);
	REQUIRE(log.n == 5);
	CHECK(!strcmp(log.entries[0], "192.168.1.0/24"));
	CHECK(!strcmp(log.entries[1], "10.128.0.0/9"));
	CHECK(!strcmp(log.entries[2], "2001:db8:1:2:8000::/65"));
	CHECK(!strcmp(log.entries[3], "2001:db8:8000::/33"));
	CHECK(!strcmp(log.entries[4], "128.0.0.0/1"));

	CHECK(lookup_str(&t, "192.168.1.1") == a);
	CHECK(lookup_str(&t, "2001:db8:1:2:8000::1") == a);
	CHECK(lookup_str(&t, "2001:db8:1:2:7fff::1") == NULL);
	/* The same prefix spelt with other host bits is the same prefix. */
	CHECK(insert_str(&t, b, "192.168.1.200", 24) == 0);
	CHECK(a->list.count == 4 && b->list.count == 1);
	allowedips_free(&t);
}

static void test_bad_input(void)
{
	struct allowedips t;
	struct fake_peer *a = &peers[0];
	uint8_t addr[16] = { 10 };

	peers_init();
	allowedips_init(&t);
	CHECK(allowedips_insert(&t, AF_INET, addr, 33, a, &a->list) ==
	      -EINVAL);
	CHECK(allowedips_insert(&t, AF_INET, addr, 255, a, &a->list) ==
	      -EINVAL);
	CHECK(allowedips_insert(&t, AF_INET6, addr, 129, a, &a->list) ==
	      -EINVAL);
	CHECK(allowedips_insert(&t, AF_UNIX, addr, 8, a, &a->list) ==
	      -EINVAL);
	CHECK(allowedips_remove(&t, AF_INET, addr, 33, a, &a->list) ==
	      -EINVAL);
	CHECK(allowedips_remove(&t, AF_INET6, addr, 129, a, &a->list) ==
	      -EINVAL);
	CHECK(allowedips_lookup(&t, AF_UNIX, addr) == NULL);
	CHECK(a->list.count == 0);
	CHECK(t.root4 == NULL && t.root6 == NULL);
	CHECK(allowedips_insert(&t, AF_INET, addr, 32, a, &a->list) == 0);
	CHECK(allowedips_insert(&t, AF_INET6, addr, 128, a, &a->list) == 0);
	CHECK(a->list.count == 2);
	allowedips_free(&t);
}

/*
 * The reference: a flat array, longest match by linear scan. It shares no
 * code with the trie, down to its own byte-wise masking.
 */
struct horrible_entry {
	int family;
	uint8_t cidr;
	uint8_t addr[16];
	struct fake_peer *owner;
	uint64_t seq; /* when last given to its owner, for walk order */
};

static struct horrible_entry *horrible;
static size_t horrible_n, horrible_cap;
static uint64_t horrible_seq;

static void horrible_mask(uint8_t *out, const uint8_t *in, int len,
			  uint8_t cidr)
{
	int i;

	for (i = 0; i < len; ++i) {
		if (cidr >= 8 * (i + 1))
			out[i] = in[i];
		else if (cidr <= 8 * i)
			out[i] = 0;
		else
			out[i] = in[i] & (uint8_t)(0xff00 >> (cidr - 8 * i));
	}
}

static struct horrible_entry *horrible_find(int family, const uint8_t *addr,
					    uint8_t cidr)
{
	uint8_t m[16] = { 0 };
	size_t i;

	horrible_mask(m, addr, addr_len(family), cidr);
	for (i = 0; i < horrible_n; ++i) {
		if (horrible[i].family == family && horrible[i].cidr == cidr &&
		    !memcmp(horrible[i].addr, m, addr_len(family)))
			return &horrible[i];
	}
	return NULL;
}

static void horrible_insert(int family, const uint8_t *addr, uint8_t cidr,
			    struct fake_peer *owner)
{
	struct horrible_entry *e = horrible_find(family, addr, cidr);

	if (!e) {
		if (horrible_n == horrible_cap) {
			horrible_cap = horrible_cap ? horrible_cap * 2 : 1024;
			horrible = realloc(horrible,
					   horrible_cap * sizeof(*horrible));
			if (!horrible)
				abort();
		}
		e = &horrible[horrible_n++];
		memset(e, 0, sizeof(*e));
		e->family = family;
		e->cidr = cidr;
		horrible_mask(e->addr, addr, addr_len(family), cidr);
	}
	e->owner = owner;
	e->seq = ++horrible_seq;
}

static void horrible_delete(struct horrible_entry *e)
{
	*e = horrible[--horrible_n];
}

static void horrible_remove_by_owner(struct fake_peer *owner)
{
	size_t i = 0;

	while (i < horrible_n) {
		if (horrible[i].owner == owner)
			horrible_delete(&horrible[i]);
		else
			++i;
	}
}

static struct fake_peer *horrible_lookup(int family, const uint8_t *addr)
{
	struct horrible_entry *best = NULL;
	uint8_t m[16];
	size_t i;

	for (i = 0; i < horrible_n; ++i) {
		struct horrible_entry *e = &horrible[i];

		if (e->family != family || (best && e->cidr <= best->cidr))
			continue;
		horrible_mask(m, addr, addr_len(family), e->cidr);
		if (!memcmp(m, e->addr, addr_len(family)))
			best = e;
	}
	return best ? best->owner : NULL;
}

static void horrible_free(void)
{
	free(horrible);
	horrible = NULL;
	horrible_n = horrible_cap = 0;
}

/* splitmix64: reproducible from the seed printed on failure. */
static uint64_t rng_state, rng_seed;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(rng() % n);
}

static void rng_bytes(uint8_t *p, int len)
{
	int i;

	for (i = 0; i < len; ++i)
		p[i] = (uint8_t)rng();
}

/* Keeps the first keep bits of in and randomises the rest (the kernel
 * selftest's mutated routes, which is what makes prefixes nest). */
static void mutate(uint8_t *out, const uint8_t *in, int len, uint8_t keep)
{
	static const uint8_t ones[16] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	uint8_t mask[16], noise[16];
	int i;

	horrible_mask(mask, ones, len, keep);
	rng_bytes(noise, len);
	for (i = 0; i < len; ++i)
		out[i] = (in[i] & mask[i]) | (noise[i] & (uint8_t)~mask[i]);
}

enum {
	NUM_RAND_ROUTES = 48,
	NUM_MUTATED_ROUTES = 30,
	NUM_QUERIES = 6000,
	NUM_REMOVALS = 300,
};

static int mismatches;

static void compare_lookup(const struct allowedips *t, int family,
			   const uint8_t *addr)
{
	struct fake_peer *want = horrible_lookup(family, addr);
	struct fake_peer *got = allowedips_lookup(t, family, addr);
	char buf[INET6_ADDRSTRLEN];

	if (got == want)
		return;
	if (mismatches++ < 5) {
		inet_ntop(family, addr, buf, sizeof(buf));
		fprintf(stderr,
			"  seed %llu: lookup %s: trie peer %d, reference %d\n",
			(unsigned long long)rng_seed, buf, got ? got->id : -1,
			want ? want->id : -1);
	}
	unit_fail("trie lookup == reference lookup", __FILE__, __LINE__);
}

/* Random addresses, and addresses near stored prefixes so that deep nodes
 * are exercised too. */
static void compare_queries(const struct allowedips *t)
{
	struct horrible_entry *e;
	uint8_t addr[16];
	uint8_t keep;
	int i, family;

	for (i = 0; i < NUM_QUERIES; ++i) {
		family = (i & 1) ? AF_INET6 : AF_INET;
		rng_bytes(addr, addr_len(family));
		compare_lookup(t, family, addr);
		if (!horrible_n)
			continue;
		e = &horrible[rng_below((uint32_t)horrible_n)];
		keep = e->cidr;
		if (rng_below(2))
			keep = (uint8_t)rng_below(8u * addr_len(e->family) + 1);
		mutate(addr, e->addr, addr_len(e->family), keep);
		compare_lookup(t, e->family, addr);
	}
}

struct walk_cmp {
	struct horrible_entry **want;
	size_t n, i;
	bool bad;
};

static int walk_check(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct walk_cmp *w = ctx;
	struct horrible_entry *e;

	if (w->i >= w->n) {
		w->bad = true;
		return 1;
	}
	e = w->want[w->i++];
	if (e->family != family || e->cidr != cidr ||
	    memcmp(e->addr, addr, addr_len(family))) {
		w->bad = true;
		return 1;
	}
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct horrible_entry *x = *(struct horrible_entry *const *)a;
	const struct horrible_entry *y = *(struct horrible_entry *const *)b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Each owner's walk is its prefixes in the order they were last given to
 * it, with host bits cleared. */
static void compare_walks(void)
{
	struct walk_cmp w;
	size_t i;
	int p;

	w.want = calloc(horrible_n + 1, sizeof(*w.want));
	if (!w.want)
		abort();
	for (p = 0; p < NUM_PEERS; ++p) {
		w.n = 0;
		for (i = 0; i < horrible_n; ++i) {
			if (horrible[i].owner == &peers[p])
				w.want[w.n++] = &horrible[i];
		}
		qsort(w.want, w.n, sizeof(*w.want), by_seq);
		w.i = 0;
		w.bad = false;
		CHECK(peers[p].list.count == w.n);
		CHECK(allowedips_walk(&peers[p].list, walk_check, &w) == 0);
		CHECK(!w.bad && w.i == w.n);
	}
	free(w.want);
}

static void test_random_vs_reference(void)
{
	struct allowedips t;
	uint8_t base[16], addr[16];
	int i, j, f, family, len, ret;
	uint8_t cidr, keep;

	/* ALLOWEDIPS_SEED=<n> replays a failure. */
	if (getenv("ALLOWEDIPS_SEED"))
		rng_seed = strtoull(getenv("ALLOWEDIPS_SEED"), NULL, 0);
	else
		random_bytes(&rng_seed, sizeof(rng_seed));
	rng_state = rng_seed;
	mismatches = 0;
	peers_init();
	allowedips_init(&t);

	for (f = 0; f < 2; ++f) {
		family = f ? AF_INET6 : AF_INET;
		len = addr_len(family);
		for (i = 0; i < NUM_RAND_ROUTES; ++i) {
			struct fake_peer *p = &peers[rng_below(NUM_PEERS)];

			rng_bytes(base, len);
			cidr = (uint8_t)rng_below(8u * len + 1);
			ret = allowedips_insert(&t, family, base, cidr, p,
						&p->list);
			REQUIRE(ret == 0);
			horrible_insert(family, base, cidr, p);
			for (j = 0; j < NUM_MUTATED_ROUTES; ++j) {
				p = &peers[rng_below(NUM_PEERS)];
				mutate(addr, base, len,
				       (uint8_t)rng_below(8u * len));
				cidr = (uint8_t)rng_below(8u * len + 1);
				ret = allowedips_insert(&t, family, addr, cidr,
							p, &p->list);
				REQUIRE(ret == 0);
				horrible_insert(family, addr, cidr, p);
			}
		}
	}
	compare_queries(&t);
	compare_walks();

	/* Single removals: half of them of prefixes held by someone else. */
	for (i = 0; i < NUM_REMOVALS && horrible_n; ++i) {
		struct horrible_entry *e =
			&horrible[rng_below((uint32_t)horrible_n)];
		struct fake_peer *p = e->owner;

		if (rng_below(2)) {
			p = &peers[rng_below(NUM_PEERS)];
			if (p == e->owner)
				continue;
			CHECK(allowedips_remove(&t, e->family, e->addr,
						e->cidr, p,
						&p->list) == -ENOENT);
			continue;
		}
		CHECK(allowedips_remove(&t, e->family, e->addr, e->cidr, p,
					&p->list) == 0);
		horrible_delete(e);
	}
	compare_queries(&t);
	compare_walks();

	/* Whole owners go. */
	for (i = 0; i < NUM_PEERS / 8; ++i) {
		struct fake_peer *p = &peers[rng_below(NUM_PEERS)];

		allowedips_remove_by_owner(&t, p, &p->list);
		horrible_remove_by_owner(p);
		CHECK(p->list.count == 0 && !p->list.first);
	}
	compare_queries(&t);
	compare_walks();

	/* Re-pointing existing prefixes and adding more on top. */
	for (i = 0; i < 1000 && horrible_n; ++i) {
		struct horrible_entry *e =
			&horrible[rng_below((uint32_t)horrible_n)];
		struct fake_peer *p = &peers[rng_below(NUM_PEERS)];

		memcpy(addr, e->addr, sizeof(addr));
		family = e->family;
		cidr = e->cidr;
		if (rng_below(2)) {
			len = addr_len(family);
			keep = (uint8_t)rng_below(8u * len);
			mutate(addr, e->addr, len, keep);
			cidr = (uint8_t)rng_below(8u * len + 1);
		}
		CHECK(allowedips_insert(&t, family, addr, cidr, p,
					&p->list) == 0);
		horrible_insert(family, addr, cidr, p);
	}
	compare_queries(&t);
	compare_walks();

	/* Everyone goes: the tries must be empty again. */
	for (i = 0; i < NUM_PEERS; ++i)
		allowedips_remove_by_owner(&t, &peers[i], &peers[i].list);
	CHECK(t.root4 == NULL && t.root6 == NULL);
	allowedips_free(&t);
	horrible_free();
}

int main(void)
{
	RUN(test_default_routes);
	RUN(test_host_routes);
	RUN(test_overlapping);
	RUN(test_repoint);
	RUN(test_remove_by_owner);
	RUN(test_remove_single);
	RUN(test_walk_order);
	RUN(test_host_bits_cleared);
	RUN(test_bad_input);
	RUN(test_random_vs_reference);
	return unit_done();
}

/* Handshake rate limiting: one token bucket per source address (IPv6 per
 * /64) in a SipHash-keyed chained table, as in the Linux driver. */
#include "wg/ratelimiter.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "wg/messages.h"

/* Tokens are nanoseconds of credit; the burst is part of the maximum rather
 * than of the rate, as in the Linux driver. */
#define PACKET_COST (NS_PER_SEC / RATELIMITER_PACKETS_PER_SECOND)
#define TOKEN_MAX (PACKET_COST * RATELIMITER_PACKETS_BURSTABLE)
#define IDLE_AFTER_NS NS_PER_SEC

enum {
	/* The Linux driver's ratio of entries to hash buckets. */
	ENTRIES_PER_BUCKET = 8,
	NBUCKETS = RATELIMITER_MAX_ENTRIES / ENTRIES_PER_BUCKET,
};
_Static_assert((NBUCKETS & (NBUCKETS - 1)) == 0, "buckets: power of 2");

struct ratelimiter_entry {
	struct ratelimiter_entry *next;
	uint64_t last_time_ns;
	uint64_t tokens;
	uint64_t ip; /* IPv4 address or IPv6 /64, network byte order */
	int family;
};

int ratelimiter_init(struct ratelimiter *r)
{
	memset(r, 0, sizeof(*r));
	r->buckets = calloc(NBUCKETS, sizeof(*r->buckets));
	if (!r->buckets)
		return -ENOMEM;
	r->nbuckets = NBUCKETS;
	random_bytes(r->key, sizeof(r->key));
	return 0;
}

void ratelimiter_uninit(struct ratelimiter *r)
{
	struct ratelimiter_entry *e, *next;
	uint32_t i;

	for (i = 0; r->buckets && i < r->nbuckets; ++i) {
		for (e = r->buckets[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(r->buckets);
	memzero(r->key, sizeof(r->key));
	memset(r, 0, sizeof(*r));
}

/* The bucket key for src. An IPv4-mapped IPv6 source (a dual-stack socket)
 * counts as the IPv4 address: its /64 would hold every IPv4 host at once. */
static bool source_key(const struct sockaddr *src, int *family, uint64_t *ip)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)src;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)src;
	const uint8_t *a6;

	*ip = 0;
	if (src->sa_family == AF_INET) {
		*family = AF_INET;
		memcpy(ip, &sin->sin_addr, sizeof(sin->sin_addr));
		return true;
	}
	if (src->sa_family != AF_INET6)
		return false;
	a6 = sin6->sin6_addr.s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		*family = AF_INET;
		/* ::ffff:a.b.c.d */
		memcpy(ip, &a6[12], sizeof(struct in_addr));
		return true;
	}
	*family = AF_INET6;
	memcpy(ip, a6, sizeof(*ip));
	return true;
}

static uint32_t bucket_of(const struct ratelimiter *r, int family,
			  uint64_t ip)
{
	uint8_t in[1 + sizeof(ip)];

	in[0] = (uint8_t)family;
	memcpy(in + 1, &ip, sizeof(ip));
	return (uint32_t)siphash_u64(r->key, in, sizeof(in)) &
	       (r->nbuckets - 1);
}

bool ratelimiter_allow(struct ratelimiter *r, const struct sockaddr *src,
		       uint64_t now_ns)
{
	struct ratelimiter_entry *e, **bucket;
	uint64_t ip, elapsed, tokens;
	int family;

	if (!source_key(src, &family, &ip))
		return false;
	bucket = &r->buckets[bucket_of(r, family, ip)];

	for (e = *bucket; e; e = e->next) {
		if (e->family != family || e->ip != ip)
			continue;
		/* A clock that stepped back earns nothing. */
		elapsed = now_ns > e->last_time_ns ? now_ns - e->last_time_ns
						   : 0;
		if (elapsed >= TOKEN_MAX - e->tokens)
			tokens = TOKEN_MAX;
		else
			tokens = e->tokens + elapsed;
		e->last_time_ns = now_ns;
		if (tokens < PACKET_COST) {
			e->tokens = tokens;
			return false;
		}
		e->tokens = tokens - PACKET_COST;
		return true;
	}

	/* A full table refuses new sources rather than evicting: an attacker
	 * spraying addresses must not reset anyone's bucket. */
	if (r->entries >= RATELIMITER_MAX_ENTRIES)
		return false;
	e = malloc(sizeof(*e));
	if (!e)
		return false;
	e->family = family;
	e->ip = ip;
	e->last_time_ns = now_ns;
	e->tokens = TOKEN_MAX - PACKET_COST;
	e->next = *bucket;
	*bucket = e;
	r->entries++;
	return true;
}

void ratelimiter_gc(struct ratelimiter *r, uint64_t now_ns)
{
	struct ratelimiter_entry *e, **link;
	uint32_t i;

	/* Sweep at most once a second, so an entry lives between one and two
	 * seconds past its last packet, as with the Linux driver's worker. */
	if (!r->entries ||
	    (now_ns >= r->last_gc && now_ns - r->last_gc < IDLE_AFTER_NS))
		return;
	r->last_gc = now_ns;

	for (i = 0; i < r->nbuckets; ++i) {
		link = &r->buckets[i];
		while (*link) {
			e = *link;
			if (now_ns > e->last_time_ns &&
			    now_ns - e->last_time_ns > IDLE_AFTER_NS) {
				*link = e->next;
				free(e);
				r->entries--;
			} else {
				link = &e->next;
			}
		}
	}
}

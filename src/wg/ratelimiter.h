/* Per-source token buckets for handshake messages under load (the Linux
 * driver's ratelimiter.c): IPv4 by address, IPv6 by /64. No I/O; time is
 * passed in. */
#ifndef SPOKEWIRE_WG_RATELIMITER_H
#define SPOKEWIRE_WG_RATELIMITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

enum {
	RATELIMITER_PACKETS_PER_SECOND = 20,
	RATELIMITER_PACKETS_BURSTABLE = 5,
	RATELIMITER_MAX_ENTRIES = 65536,
};

struct ratelimiter_entry;

struct ratelimiter {
	struct ratelimiter_entry **buckets;
	uint32_t nbuckets, entries;
	uint8_t key[16]; /* hash key, random per table */
	uint64_t last_gc;
};

int ratelimiter_init(struct ratelimiter *r);
void ratelimiter_uninit(struct ratelimiter *r);
/* True if a handshake message from src may be processed now. */
bool ratelimiter_allow(struct ratelimiter *r, const struct sockaddr *src,
		       uint64_t now_ns);
/* Drops entries idle for more than a second; cheap to call every tick. */
void ratelimiter_gc(struct ratelimiter *r, uint64_t now_ns);

#endif

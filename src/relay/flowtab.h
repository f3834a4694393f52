/* A bounded table of [Egress] flows (UDP, ICMP echo), keyed by the peer's
 * address and port and the destination's: hash lookup, least recently used
 * order, idle expiry. No I/O and no clock of its own, so it runs in a unit
 * test. What a flow holds (its host socket) belongs to the caller, who
 * frees it in release() when the table drops the flow: to make room for a
 * new one (the longest idle goes), or because it idled out.
 *
 * Idle timeouts follow conntrack's UDP rules: a flow is a "stream" once it
 * has seen a reply and traffic still flows 2 s after it began (a DNS
 * exchange is over by then; QUIC, VoIP or WireGuard are not), and then
 * keeps stream_idle_ns; other flows keep idle_ns. */
#ifndef SPOKEWIRE_RELAY_FLOWTAB_H
#define SPOKEWIRE_RELAY_FLOWTAB_H

#include <stdbool.h>
#include <stdint.h>

#include "netstack/netstack.h"

#define FLOWTAB_STREAM_AFTER_NS (2ULL * 1000000000)

struct flow {
	struct flowtab *t;           /* the table it is in */
	struct flow *hnext;          /* hash chain */
	struct flow *older, *newer;  /* LRU list */
	struct netstack_addr peer;   /* in the overlay (echo: port = id) */
	struct netstack_addr dst;    /* where the peer sent it */
	uint64_t created, last_used; /* mono ns */
	bool replied;
	int fd;                      /* the caller's */
};

struct flowtab {
	struct flow *slots, *free;
	struct flow **buckets;
	unsigned max, count, mask;
	struct flow *oldest, *newest;
	uint64_t idle_ns, stream_idle_ns;
	uint8_t key[16];
	uint64_t added, evicted, expired;   /* counts, for stats */
	void (*release)(void *ctx, struct flow *f);
	void *ctx;
};

/* Room for max flows, all allocated here (none per flow or per packet).
 * idle_ns <= stream_idle_ns. 0 or -ENOMEM. */
int flowtab_init(struct flowtab *t, unsigned max, uint64_t idle_ns,
		 uint64_t stream_idle_ns,
		 void (*release)(void *ctx, struct flow *f), void *ctx);
/* Releases every flow, then the table. */
void flowtab_destroy(struct flowtab *t);

/* The flow of peer -> dst, or NULL. Addresses compare bytewise: unused ip
 * bytes must be zero. */
struct flow *flowtab_find(const struct flowtab *t,
			  const struct netstack_addr *peer,
			  const struct netstack_addr *dst);
/* A new flow (fd -1, for the caller to set), the longest idle one
 * released first when the table is full. The pointer stays valid until
 * release() or flowtab_remove(). Never NULL once initialised. */
struct flow *flowtab_add(struct flowtab *t, const struct netstack_addr *peer,
			 const struct netstack_addr *dst, uint64_t now);
/* Traffic on f at now; reply: it came from the destination. */
void flowtab_touch(struct flowtab *t, struct flow *f, uint64_t now,
		   bool reply);
/* Drops f without release(): the caller has freed what it held. */
void flowtab_remove(struct flowtab *t, struct flow *f);
/* Releases the longest idle flow: false when there is none. */
bool flowtab_evict_oldest(struct flowtab *t);
/* Releases the flows idle past their timeout; returns how many. */
unsigned flowtab_expire(struct flowtab *t, uint64_t now);

#endif

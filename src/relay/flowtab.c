/* The [Egress] flow table: preallocated slots, a keyed hash (SipHash: the
 * keys come from peers), an LRU list for eviction and expiry. */
#include "relay/flowtab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

static uint32_t hash_of(const struct flowtab *t,
			const struct netstack_addr *peer,
			const struct netstack_addr *dst)
{
	struct netstack_addr k[2];

	k[0] = *peer;
	k[1] = *dst;
	return (uint32_t)siphash_u64(t->key, k, sizeof(k)) & t->mask;
}

static bool same(const struct flow *f, const struct netstack_addr *peer,
		 const struct netstack_addr *dst)
{
	return !memcmp(&f->peer, peer, sizeof(*peer)) &&
	       !memcmp(&f->dst, dst, sizeof(*dst));
}

int flowtab_init(struct flowtab *t, unsigned max, uint64_t idle_ns,
		 uint64_t stream_idle_ns,
		 void (*release)(void *ctx, struct flow *f), void *ctx)
{
	unsigned n = 1, i;

	memset(t, 0, sizeof(*t));
	while (n < max)
		n <<= 1;
	t->slots = calloc(max, sizeof(*t->slots));
	t->buckets = calloc(n, sizeof(*t->buckets));
	if (!t->slots || !t->buckets) {
		free(t->slots);
		free(t->buckets);
		return -ENOMEM;
	}
	for (i = max; i-- > 0;) {
		t->slots[i].hnext = t->free;
		t->free = &t->slots[i];
	}
	t->max = max;
	t->mask = n - 1;
	t->idle_ns = idle_ns;
	t->stream_idle_ns = stream_idle_ns;
	t->release = release;
	t->ctx = ctx;
	random_bytes(t->key, sizeof(t->key));
	return 0;
}

static void lru_unlink(struct flowtab *t, struct flow *f)
{
	if (f->older)
		f->older->newer = f->newer;
	else
		t->oldest = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else
		t->newest = f->older;
	f->older = f->newer = NULL;
}

static void lru_push_newest(struct flowtab *t, struct flow *f)
{
	f->older = t->newest;
	f->newer = NULL;
	if (t->newest)
		t->newest->newer = f;
	else
		t->oldest = f;
	t->newest = f;
}

struct flow *flowtab_find(const struct flowtab *t,
			  const struct netstack_addr *peer,
			  const struct netstack_addr *dst)
{
	struct flow *f;

	for (f = t->buckets[hash_of(t, peer, dst)]; f; f = f->hnext)
		if (same(f, peer, dst))
			return f;
	return NULL;
}

void flowtab_remove(struct flowtab *t, struct flow *f)
{
	struct flow **pp = &t->buckets[hash_of(t, &f->peer, &f->dst)];

	while (*pp != f)
		pp = &(*pp)->hnext;
	*pp = f->hnext;
	lru_unlink(t, f);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->hnext = t->free;
	t->free = f;
	t->count--;
}

/* Takes f out of the table, then lets the caller free what it held: by
 * then f is no longer reachable through the table. */
static void drop(struct flowtab *t, struct flow *f)
{
	struct flow copy = *f;

	flowtab_remove(t, f);
	t->release(t->ctx, &copy);
}

bool flowtab_evict_oldest(struct flowtab *t)
{
	if (!t->oldest)
		return false;
	t->evicted++;
	drop(t, t->oldest);
	return true;
}

struct flow *flowtab_add(struct flowtab *t, const struct netstack_addr *peer,
			 const struct netstack_addr *dst, uint64_t now)
{
	struct flow *f;
	uint32_t h;

	if (!t->free)
		flowtab_evict_oldest(t);
	f = t->free;
	if (!f)
		return NULL; /* max 0 */
	t->free = f->hnext;
	memset(f, 0, sizeof(*f));
	f->t = t;
	f->peer = *peer;
	f->dst = *dst;
	f->created = f->last_used = now;
	f->fd = -1;
	h = hash_of(t, peer, dst);
	f->hnext = t->buckets[h];
	t->buckets[h] = f;
	lru_push_newest(t, f);
	t->count++;
	t->added++;
	return f;
}

void flowtab_touch(struct flowtab *t, struct flow *f, uint64_t now,
		   bool reply)
{
	if (now > f->last_used)
		f->last_used = now;
	if (reply)
		f->replied = true;
	if (t->newest != f) {
		lru_unlink(t, f);
		lru_push_newest(t, f);
	}
}

static uint64_t timeout_of(const struct flowtab *t, const struct flow *f)
{
	if (f->replied &&
	    f->last_used - f->created >= FLOWTAB_STREAM_AFTER_NS)
		return t->stream_idle_ns;
	return t->idle_ns;
}

unsigned flowtab_expire(struct flowtab *t, uint64_t now)
{
	struct flow *f, *next;
	unsigned n = 0;

	/* Oldest first: past the first flow idle less than the shorter
	 * timeout, nothing can have expired. */
	for (f = t->oldest; f; f = next) {
		uint64_t idle = now > f->last_used ? now - f->last_used : 0;

		next = f->newer;
		if (idle < t->idle_ns)
			break;
		if (idle >= timeout_of(t, f)) {
			t->expired++;
			drop(t, f);
			n++;
		}
	}
	return n;
}

void flowtab_destroy(struct flowtab *t)
{
	while (t->oldest)
		drop(t, t->oldest);
	free(t->slots);
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

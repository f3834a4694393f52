/* TCP connection blocks: the 4-tuple hash table (keyed SipHash, grows with
 * the load), listener matching, allocation and release with deferred frees
 * around callbacks, RFC 6528 initial sequence numbers, ephemeral ports, the
 * CLOSED and TIME-WAIT transitions and callback delivery. */
#include "netstack/stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

enum {
	TCP_HASH_INITIAL = 1024,
};

struct tuple {
	uint8_t lip[16], rip[16];
	uint16_t lport, rport, family;
};

static void make_tuple(struct tuple *t, const struct netstack_addr *l,
		       const struct netstack_addr *r)
{
	memcpy(t->lip, l->ip, 16);
	memcpy(t->rip, r->ip, 16);
	t->lport = l->port;
	t->rport = r->port;
	t->family = l->family;
}

static uint32_t tuple_hash(const struct netstack *st,
			   const struct netstack_addr *l,
			   const struct netstack_addr *r)
{
	struct tuple t;

	make_tuple(&t, l, r);
	return (uint32_t)siphash_u64(st->hash_key, &t, sizeof(t));
}

static bool addr_eq(const struct netstack_addr *a,
		    const struct netstack_addr *b)
{
	return a->port == b->port && a->family == b->family &&
	       !memcmp(a->ip, b->ip, 16);
}

int tcp_stack_init(struct netstack *st)
{
	struct tcp_stack *t = &st->tcp;

	t->hash = calloc(TCP_HASH_INITIAL, sizeof(*t->hash));
	if (!t->hash)
		return -ENOMEM;
	t->hash_mask = TCP_HASH_INITIAL - 1;
	tcp_list_init(&t->flush_list);
	tcp_list_init(&t->notify_list);
	tcp_list_init(&t->tw_list);
	tcp_list_init(&t->all_list);
	tcp_list_init(&t->mem_wait);
	t->next_port = (uint16_t)random_u32();
	return 0;
}

/* What a closed connection no longer needs, whether or not its block stays
 * for the user: its place in the lookup hash, the TIME-WAIT list and its
 * listener's half-open queue, its timers and pending flush, the send side
 * and the segment bookkeeping. The receive buffer may still hold data to
 * read. */
static void release_state(struct netstack_tcp *c)
{
	struct netstack *st = c->st;

	tcp_hash_remove(c);
	tcp_timers_clear(c);
	tcp_list_del(&c->flush_node);
	if (c->tw_node.next) {
		tcp_list_del(&c->tw_node);
		st->tcp.tw_count--;
	}
	if (c->lst_node.next) {
		tcp_list_del(&c->lst_node);
		c->listener->nhalf--;
	}
	tcp_buf_free(st, &c->sbuf);
	seq_ranges_free(&c->ooo);
	seq_ranges_free(&c->sacked);
	seq_ranges_free(&c->again);
	tcp_rxq_reset(c);
}

static void free_block(struct netstack_tcp *c)
{
	struct netstack *st = c->st;

	/* Off the memory waiters first: freeing buffers below must not
	 * wake the block being freed. */
	tcp_list_del(&c->mem_node);
	tcp_list_del(&c->notify_node);
	tcp_list_del(&c->all_node);
	release_state(c);
	tcp_buf_free(st, &c->rbuf);
	st->tcp.allocated--;
	st->stats.tcp_conns_closed++;
	free(c);
}

void tcp_stack_free(struct netstack *st)
{
	struct tcp_stack *t = &st->tcp;
	struct netstack_listener *l, *ln;
	void *p;

	while (!tcp_list_empty(&t->all_list)) {
		struct netstack_tcp *c = tcp_container_of(
			t->all_list.next, struct netstack_tcp, all_node);

		c->in_cb = 0;
		free_block(c);
	}
	for (l = t->listeners; l; l = ln) {
		ln = l->next;
		free(l);
	}
	while (t->chunk_cache) {
		p = t->chunk_cache;
		memcpy(&t->chunk_cache, p, sizeof(void *));
		free(p);
	}
	free(t->hash);
	free(t->heap);
	memset(t, 0, sizeof(*t));
}

struct netstack_tcp *tcp_lookup(struct netstack *st,
				const struct netstack_addr *local,
				const struct netstack_addr *remote)
{
	uint32_t h = tuple_hash(st, local, remote);
	struct netstack_tcp *c;

	for (c = st->tcp.hash[h & st->tcp.hash_mask]; c; c = c->hnext)
		if (c->hash == h && addr_eq(&c->remote, remote) &&
		    addr_eq(&c->local, local))
			return c;
	return NULL;
}

static void rehash(struct netstack *st)
{
	struct tcp_stack *t = &st->tcp;
	uint32_t n = (t->hash_mask + 1) * 2, i;
	struct netstack_tcp **h = calloc(n, sizeof(*h)), *c, *next;

	if (!h)
		return; /* longer chains, still correct */
	for (i = 0; i <= t->hash_mask; ++i) {
		for (c = t->hash[i]; c; c = next) {
			next = c->hnext;
			c->hnext = h[c->hash & (n - 1)];
			h[c->hash & (n - 1)] = c;
		}
	}
	free(t->hash);
	t->hash = h;
	t->hash_mask = n - 1;
}

int tcp_hash_insert(struct netstack_tcp *c)
{
	struct tcp_stack *t = &c->st->tcp;
	struct netstack_tcp **b;

	if (t->count >= t->hash_mask + 1)
		rehash(c->st);
	c->hash = tuple_hash(c->st, &c->local, &c->remote);
	b = &t->hash[c->hash & t->hash_mask];
	c->hnext = *b;
	*b = c;
	c->hashed = true;
	t->count++;
	return 0;
}

void tcp_hash_remove(struct netstack_tcp *c)
{
	struct tcp_stack *t = &c->st->tcp;
	struct netstack_tcp **pp;

	if (!c->hashed)
		return;
	for (pp = &t->hash[c->hash & t->hash_mask]; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	}
	c->hnext = NULL;
	c->hashed = false;
	t->count--;
}

static const uint8_t zero_ip[16];

/* How well listener l matches a SYN to dst: 0 no, higher more specific. */
static int listener_score(const struct netstack_listener *l,
			  const struct netstack_addr *dst, bool ours)
{
	int score = 1;

	if (l->local.port) {
		if (l->local.port != dst->port)
			return 0;
		score += 4;
	}
	if (l->local.family != AF_UNSPEC && l->local.family != dst->family)
		return 0;
	if (l->local.family != AF_UNSPEC && memcmp(l->local.ip, zero_ip, 16)) {
		if (memcmp(l->local.ip, dst->ip, 16))
			return 0;
		score += 8;
	} else if (!ours) {
		if (!(l->flags & NETSTACK_TRANSPARENT))
			return 0;
	} else {
		score += 2;
	}
	return score;
}

struct netstack_listener *tcp_listener_lookup(struct netstack *st,
					      const struct netstack_addr *dst,
					      bool ours)
{
	struct netstack_listener *l, *best = NULL;
	int s, bs = 0;

	for (l = st->tcp.listeners; l; l = l->next) {
		s = listener_score(l, dst, ours);
		if (s > bs) {
			bs = s;
			best = l;
		}
	}
	return best;
}

uint8_t tcp_wscale_for(const struct netstack *st)
{
	uint8_t s = 0;

	if (st->cfg.no_wscale)
		return 0;
	while (s < TCP_MAX_WSCALE && (65535ull << s) < st->cfg.tcp_rbuf_max)
		s++;
	return s;
}

uint16_t tcp_mss_for(const struct netstack *st, int family)
{
	unsigned hl = family == AF_INET6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;

	return (uint16_t)(st->cfg.mtu - hl - TCP_HDR_LEN);
}

/* Frees the oldest TIME-WAIT block nobody holds, to make room. */
static bool recycle_time_wait(struct netstack *st)
{
	struct tcp_list *n;

	for (n = st->tcp.tw_list.next; n != &st->tcp.tw_list; n = n->next) {
		struct netstack_tcp *c =
			tcp_container_of(n, struct netstack_tcp, tw_node);

		if (c->user_owned || c->in_cb)
			continue;
		free_block(c);
		return true;
	}
	return false;
}

struct netstack_tcp *tcp_alloc(struct netstack *st,
			       const struct netstack_addr *local,
			       const struct netstack_addr *remote)
{
	struct netstack_tcp *c;

	if (st->tcp.count >= st->cfg.max_conns && !recycle_time_wait(st))
		return NULL;
	/* Every block may have a timer queued: the heap has its room before
	 * the block exists, so scheduling one cannot fail later. */
	if (tcp_timer_reserve(st, st->tcp.allocated + 1) < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->st = st;
	c->local = *local;
	c->remote = *remote;
	c->heap_idx = -1;
	tcp_list_add_tail(&st->tcp.all_list, &c->all_node);
	st->tcp.allocated++;
	st->stats.tcp_conns_opened++;
	tcp_init_conn(c);
	return c;
}

void tcp_init_conn(struct netstack_tcp *c)
{
	struct netstack *st = c->st;
	struct tuple t;

	c->our_mss = tcp_mss_for(st, c->local.family);
	c->mss = c->our_mss;
	c->peer_mss = TCP_MSS_DEFAULT;
	c->rto_ms = TCP_RTO_INIT_MS;
	c->snd_wscale = 0;
	c->rcv_wscale = tcp_wscale_for(st);
	tcp_buf_init(&c->sbuf, (uint32_t)st->cfg.tcp_buf_initial, true);
	tcp_buf_init(&c->rbuf, (uint32_t)st->cfg.tcp_buf_initial, false);
	c->iss = tcp_isn(st, &c->local, &c->remote);
	c->snd_una = c->snd_nxt = c->iss;
	c->sbuf_seq = c->iss + 1;
	c->lost_mark = c->high_rxt = c->recovery_point = c->iss;
	make_tuple(&t, &c->local, &c->remote);
	c->ts_offset = (uint32_t)siphash_u64(st->ts_key, &t, sizeof(t));
	c->last_rcv_time = st->now;
	tcp_cc_init(c);
}

uint32_t tcp_isn(struct netstack *st, const struct netstack_addr *local,
		 const struct netstack_addr *remote)
{
	struct tuple t;

	/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4 us clock. */
	make_tuple(&t, local, remote);
	return (uint32_t)siphash_u64(st->isn_key, &t, sizeof(t)) +
	       (uint32_t)(st->now / 4000);
}

int tcp_pick_port(struct netstack *st, struct netstack_addr *local,
		  const struct netstack_addr *remote)
{
	uint32_t range = TCP_EPHEMERAL_HI - TCP_EPHEMERAL_LO + 1, i;
	uint32_t start = random_uniform(range);
	struct netstack_tcp *c;

	for (i = 0; i < range; ++i) {
		local->port = (uint16_t)(TCP_EPHEMERAL_LO + (start + i) % range);
		c = tcp_lookup(st, local, remote);
		if (!c)
			return 0;
		/* Reuse a TIME-WAIT tuple once it is a little old and
		 * timestamps protect the new incarnation (RFC 6191). */
		if (c->state == NETSTACK_TCP_TIME_WAIT && c->ts_ok &&
		    !c->user_owned && !c->in_cb &&
		    st->now - c->timers[TT_MISC] + st->cfg.time_wait_ms *
		    NS_PER_MS >= TCP_TW_REUSE_MS * NS_PER_MS) {
			free_block(c);
			return 0;
		}
	}
	return -EADDRINUSE;
}

void tcp_release(struct netstack_tcp *c)
{
	if (c->in_cb) {
		c->dead = true;
		return;
	}
	free_block(c);
}

void tcp_event(struct netstack_tcp *c, uint8_t ev)
{
	c->events |= ev;
	if (!tcp_list_linked(&c->notify_node))
		tcp_list_add_tail(&c->st->tcp.notify_list, &c->notify_node);
}

void tcp_schedule_flush(struct netstack_tcp *c)
{
	if (!tcp_list_linked(&c->flush_node))
		tcp_list_add_tail(&c->st->tcp.flush_list, &c->flush_node);
}

void tcp_set_closed(struct netstack_tcp *c, int err)
{
	c->state = NETSTACK_TCP_CLOSED;
	if (!c->err)
		c->err = err;
	release_state(c);
	if (err)
		tcp_buf_free(c->st, &c->rbuf);
	if (c->user_owned) {
		tcp_event(c, TEV_CLOSED);
	} else {
		/* Nobody holds it: free once the current work is done. */
		c->dead = true;
		tcp_event(c, 0);
	}
}

void tcp_enter_time_wait(struct netstack_tcp *c)
{
	struct netstack *st = c->st;

	c->state = NETSTACK_TCP_TIME_WAIT;
	tcp_timers_clear(c);
	tcp_timer_set(c, TT_MISC, st->cfg.time_wait_ms * NS_PER_MS);
	tcp_buf_free(st, &c->sbuf);
	seq_ranges_free(&c->sacked);
	seq_ranges_free(&c->ooo);
	seq_ranges_free(&c->again);
	tcp_rxq_reset(c);
	if (!c->tw_node.next) {
		tcp_list_add_tail(&st->tcp.tw_list, &c->tw_node);
		st->tcp.tw_count++;
	}
	if (c->user_owned)
		tcp_event(c, TEV_CLOSED);
}

static void hand_over(struct netstack_tcp *c)
{
	struct netstack_listener *l = c->listener;

	/* An auto-accepted connection: established, now the app's. */
	if (c->lst_node.next) {
		tcp_list_del(&c->lst_node);
		l->nhalf--;
	}
	c->listener = NULL;
	c->user_owned = true;
	if (l->ops && l->ops->accepted)
		l->ops->accepted(l->ctx, l, c);
}

void tcp_deliver_events(struct netstack *st)
{
	struct tcp_list *n;
	struct netstack_tcp *c;
	uint8_t ev;

	while (!tcp_list_empty(&st->tcp.notify_list)) {
		n = st->tcp.notify_list.next;
		tcp_list_del(n);
		c = tcp_container_of(n, struct netstack_tcp, notify_node);
		ev = c->events;
		c->events = 0;
		if (c->dead) {
			if (!c->in_cb)
				free_block(c);
			continue;
		}
		c->in_cb++;
		if ((ev & TEV_CONNECTED) && !c->user_owned && c->listener)
			hand_over(c);
		if ((ev & TEV_CONNECTED) && c->user_owned && c->ops &&
		    c->ops->connected)
			c->ops->connected(c->ctx, c);
		if ((ev & TEV_READABLE) && c->user_owned && c->ops &&
		    c->ops->readable)
			c->ops->readable(c->ctx, c);
		if ((ev & TEV_WRITABLE) && c->user_owned && c->ops &&
		    c->ops->writable)
			c->ops->writable(c->ctx, c);
		if ((ev & TEV_CLOSED) && c->user_owned && !c->closed_reported) {
			c->closed_reported = true;
			if (c->ops && c->ops->closed)
				c->ops->closed(c->ctx, c, c->err);
		}
		c->in_cb--;
		if (c->dead && !c->in_cb)
			free_block(c);
	}
}

/* Two netstacks wired back to back in one process over a simulated link
 * (one-way delay, bottleneck rate with a drop-tail queue, random loss, a
 * drop hook) on a fake clock, plus small pattern-checking applications.
 * Used by the test_netstack*.c unit tests. */
#ifndef SPOKEWIRE_TESTS_NETSTACK_SIM_H
#define SPOKEWIRE_TESTS_NETSTACK_SIM_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netstack/netstack.h"

#define SIM_MS 1000000ull
#define SIM_SEC 1000000000ull

struct sim;

struct sim_pkt {
	struct sim_pkt *next, *prev;
	uint64_t at;
	int to;
	struct pktbuf *pb;
};

struct sim_side {
	struct sim *sim;
	int idx;
};

struct sim {
	struct pktpool pool;
	struct netstack *st[2];
	struct sim_side side[2];
	uint64_t now;
	uint64_t delay_ns;          /* one way */
	uint64_t rate_bps;          /* 0: unlimited */
	uint64_t queue_ns;          /* drop-tail beyond this much queueing */
	uint64_t busy_until[2];
	uint32_t loss_ppm;          /* random loss, per million */
	uint32_t rng;
	/* Returns true to drop a packet leaving side from. */
	bool (*drop)(struct sim *s, int from, const uint8_t *pkt, uint32_t len);
	void *drop_ctx;
	struct sim_pkt *head, *tail;
	uint64_t sent[2], dropped[2];
};

static inline uint32_t sim_rand(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 17;
	s->rng ^= s->rng << 5;
	return s->rng;
}

static inline void sim_output(void *ctx, struct pktbuf *pb)
{
	struct sim_side *side = ctx;
	struct sim *s = side->sim;
	struct sim_pkt *p, *q;
	uint64_t at = s->now;

	s->sent[side->idx]++;
	if ((s->loss_ppm && sim_rand(s) % 1000000 < s->loss_ppm) ||
	    (s->drop && s->drop(s, side->idx, pkt_data(pb), pb->len))) {
		s->dropped[side->idx]++;
		pktpool_put(&s->pool, pb);
		return;
	}
	if (s->rate_bps) {
		uint64_t start = s->busy_until[side->idx] > s->now
					 ? s->busy_until[side->idx]
					 : s->now;

		if (s->queue_ns && start - s->now > s->queue_ns) {
			s->dropped[side->idx]++;
			pktpool_put(&s->pool, pb);
			return;
		}
		at = start + (uint64_t)pb->len * 8 * SIM_SEC / s->rate_bps;
		s->busy_until[side->idx] = at;
	}
	p = calloc(1, sizeof(*p));
	p->at = at + s->delay_ns;
	p->to = !side->idx;
	p->pb = pb;
	/* Sorted by time, ties in order: scan from the tail. */
	for (q = s->tail; q && q->at > p->at; q = q->prev)
		;
	p->prev = q;
	p->next = q ? q->next : s->head;
	if (p->next)
		p->next->prev = p;
	else
		s->tail = p;
	if (q)
		q->next = p;
	else
		s->head = p;
}

/* The last line a stack logged, and how many it logged. */
static char sim_log_last[320] __attribute__((unused));
static unsigned sim_log_lines __attribute__((unused));

static inline void sim_log(void *ctx, const char *msg)
{
	snprintf(sim_log_last, sizeof(sim_log_last), "%s", msg);
	sim_log_lines++;
}

static const struct netstack_ops sim_ops __attribute__((unused)) = {
	.output = sim_output,
	.log = sim_log,
};

static inline void sim_init(struct sim *s, const struct netstack_config *cfg)
{
	static const uint8_t a4[4] = { 10, 0, 0, 1 }, b4[4] = { 10, 0, 0, 2 };
	uint8_t a6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t b6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
	int i;

	memset(s, 0, sizeof(*s));
	pktpool_init(&s->pool, 1 << 20);
	s->rng = 0x12345678;
	s->now = 1000 * SIM_SEC;
	for (i = 0; i < 2; ++i) {
		s->side[i].sim = s;
		s->side[i].idx = i;
		s->st[i] = netstack_new(cfg, &sim_ops, &s->side[i], &s->pool);
		netstack_set_clock(s->st[i], s->now);
	}
	netstack_add_addr(s->st[0], AF_INET, a4);
	netstack_add_addr(s->st[1], AF_INET, b4);
	netstack_add_addr(s->st[0], AF_INET6, a6);
	netstack_add_addr(s->st[1], AF_INET6, b6);
}

static inline void sim_free(struct sim *s)
{
	struct sim_pkt *p, *n;

	for (p = s->head; p; p = n) {
		n = p->next;
		pktpool_put(&s->pool, p->pb);
		free(p);
	}
	netstack_free(s->st[0]);
	netstack_free(s->st[1]);
	pktpool_destroy(&s->pool);
}

static inline void sim_set_clock(struct sim *s)
{
	netstack_set_clock(s->st[0], s->now);
	netstack_set_clock(s->st[1], s->now);
}

/* Runs events until `until` (absolute) or until done(arg) is true. */
static inline void sim_run(struct sim *s, uint64_t until, bool (*done)(void *),
		    void *arg)
{
	uint64_t next, t;
	struct sim_pkt *p;
	int i;

	for (;;) {
		if (done && done(arg))
			return;
		next = s->head ? s->head->at : UINT64_MAX;
		for (i = 0; i < 2; ++i) {
			t = netstack_next_timer(s->st[i]);
			if (t < next)
				next = t;
		}
		if (next == UINT64_MAX || next > until) {
			if (until != UINT64_MAX && s->now < until) {
				s->now = until;
				sim_set_clock(s);
			}
			return;
		}
		if (next > s->now)
			s->now = next;
		sim_set_clock(s);
		while (s->head && s->head->at <= s->now) {
			p = s->head;
			s->head = p->next;
			if (s->head)
				s->head->prev = NULL;
			else
				s->tail = NULL;
			netstack_input(s->st[p->to], p->pb);
			free(p);
		}
		netstack_flush(s->st[0]);
		netstack_flush(s->st[1]);
		netstack_tick(s->st[0]);
		netstack_tick(s->st[1]);
		netstack_flush(s->st[0]);
		netstack_flush(s->st[1]);
	}
}

static inline void sim_addr(struct netstack_addr *a, int side, int family,
		     uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = (uint16_t)family;
	a->port = port;
	if (family == AF_INET) {
		a->ip[0] = 10;
		a->ip[3] = (uint8_t)(side + 1);
	} else {
		a->ip[0] = 0xfd;
		a->ip[15] = (uint8_t)(side + 1);
	}
}

/* ------------------------------------------------------------ apps */

static inline uint8_t pattern_byte(uint64_t i, uint32_t seed)
{
	uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull + seed;

	return (uint8_t)((x >> (8 * (i & 7))) ^ (x >> 56));
}

struct app {
	struct netstack_tcp *c;
	uint32_t seed;                /* pattern of the data we send */
	uint32_t peer_seed;           /* pattern we expect */
	uint64_t to_send, sent, received;
	bool shutdown_after, reading, connected, eof, closed, bad;
	bool close_on_eof, abort_on_eof;
	int err;
	uint64_t writable_events, readable_events;
	uint64_t done_at;
};

static inline void app_pump(struct app *a)
{
	uint8_t buf[16384];
	uint64_t chunk, i;
	ssize_t n;

	while (a->c && a->sent < a->to_send) {
		chunk = a->to_send - a->sent;
		if (chunk > sizeof(buf))
			chunk = sizeof(buf);
		for (i = 0; i < chunk; ++i)
			buf[i] = pattern_byte(a->sent + i, a->seed);
		n = netstack_tcp_send(a->c, buf, chunk);
		if (n <= 0)
			return;
		a->sent += (uint64_t)n;
	}
	if (a->c && a->shutdown_after && a->sent == a->to_send) {
		a->shutdown_after = false;
		netstack_tcp_shutdown(a->c);
	}
}

static inline void app_read(struct app *a)
{
	uint8_t buf[16384];
	ssize_t n, i;

	while (a->c && a->reading) {
		n = netstack_tcp_recv(a->c, buf, sizeof(buf));
		if (n < 0)
			return;
		if (n == 0) {
			a->eof = true;
			if (a->close_on_eof) {
				netstack_tcp_close(a->c);
				a->c = NULL;
			} else if (a->abort_on_eof) {
				netstack_tcp_abort(a->c);
				a->c = NULL;
			}
			return;
		}
		for (i = 0; i < n; ++i)
			if (buf[i] != pattern_byte(a->received + (uint64_t)i,
						   a->peer_seed))
				a->bad = true;
		a->received += (uint64_t)n;
	}
}

static inline void app_connected(void *ctx, struct netstack_tcp *c)
{
	struct app *a = ctx;

	a->connected = true;
	app_pump(a);
}

static inline void app_readable(void *ctx, struct netstack_tcp *c)
{
	struct app *a = ctx;

	a->readable_events++;
	app_read(a);
}

static inline void app_writable(void *ctx, struct netstack_tcp *c)
{
	struct app *a = ctx;

	a->writable_events++;
	app_pump(a);
}

static inline void app_closed(void *ctx, struct netstack_tcp *c, int err)
{
	struct app *a = ctx;

	a->closed = true;
	a->err = err;
}

static const struct netstack_tcp_ops app_ops __attribute__((unused)) = {
	.connected = app_connected,
	.readable = app_readable,
	.writable = app_writable,
	.closed = app_closed,
};

/* A listener that gives each connection the next app of an array. */
struct server {
	struct app *apps;
	unsigned napps, next;
	enum netstack_accept decision;
	struct app proto;             /* template for new apps */
	struct netstack_tcp *deferred;
};

static inline enum netstack_accept server_syn(void *ctx, struct netstack_listener *l,
				       struct netstack_tcp *c)
{
	struct server *sv = ctx;
	struct app *a;

	if (sv->decision != NETSTACK_ACCEPT) {
		if (sv->decision == NETSTACK_DEFER)
			sv->deferred = c;
		else
			return sv->decision;
	}
	if (sv->next == sv->napps)
		return NETSTACK_REFUSE_RST;
	a = &sv->apps[sv->next++];
	*a = sv->proto;
	a->c = c;
	netstack_tcp_set_ops(c, &app_ops, a);
	return sv->decision;
}

static const struct netstack_listener_ops server_ops __attribute__((unused)) = { .syn = server_syn };

#endif

/* TCP timers: one min-heap entry per connection keyed by its earliest
 * deadline (later deadlines are found lazily when the entry fires), the
 * retransmission timer and RTT estimator of RFC 6298, persist, delayed
 * ACK, keepalive, FIN-WAIT-2, TIME-WAIT and deferred-SYN timeouts. */
#include "netstack/stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

enum { STALL_GRACE_NS = 100 * NS_PER_MS };

static void heap_swap(struct tcp_stack *t, uint32_t a, uint32_t b)
{
	struct netstack_tcp *x = t->heap[a];

	t->heap[a] = t->heap[b];
	t->heap[b] = x;
	t->heap[a]->heap_idx = (int32_t)a;
	t->heap[b]->heap_idx = (int32_t)b;
}

static void sift_up(struct tcp_stack *t, uint32_t i)
{
	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (t->heap[p]->heap_key <= t->heap[i]->heap_key)
			break;
		heap_swap(t, i, p);
		i = p;
	}
}

static void sift_down(struct tcp_stack *t, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < t->heap_len && t->heap[l]->heap_key < t->heap[m]->heap_key)
			m = l;
		if (r < t->heap_len && t->heap[r]->heap_key < t->heap[m]->heap_key)
			m = r;
		if (m == i)
			break;
		heap_swap(t, i, m);
		i = m;
	}
}

static void heap_remove(struct tcp_stack *t, struct netstack_tcp *c)
{
	uint32_t i = (uint32_t)c->heap_idx, last = t->heap_len - 1;

	if (c->heap_idx < 0)
		return;
	if (i != last) {
		heap_swap(t, i, last);
		t->heap_len--;
		sift_down(t, i);
		sift_up(t, i);
	} else {
		t->heap_len--;
	}
	c->heap_idx = -1;
}

static uint64_t earliest(const struct netstack_tcp *c)
{
	uint64_t m = 0;
	int k;

	for (k = 0; k < TT_COUNT; ++k)
		if (c->timers[k] && (!m || c->timers[k] < m))
			m = c->timers[k];
	return m;
}

int tcp_timer_reserve(struct netstack *st, uint32_t n)
{
	struct tcp_stack *t = &st->tcp;
	struct netstack_tcp **h;
	uint32_t cap = t->heap_cap ? t->heap_cap : 256;

	while (cap < n)
		cap *= 2;
	if (cap == t->heap_cap)
		return 0;
	h = realloc(t->heap, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	t->heap = h;
	t->heap_cap = cap;
	return 0;
}

static void schedule(struct netstack_tcp *c)
{
	struct tcp_stack *t = &c->st->tcp;
	uint64_t next = earliest(c);

	if (!next)
		return; /* a queued entry goes away lazily */
	if (c->heap_idx < 0) {
		/* Room was reserved when c was allocated (tcp_alloc): a
		 * timer is never dropped for want of memory. */
		if (t->heap_len == t->heap_cap &&
		    tcp_timer_reserve(c->st, t->heap_len + 1) < 0)
			return;
		c->heap_key = next;
		c->heap_idx = (int32_t)t->heap_len;
		t->heap[t->heap_len++] = c;
		sift_up(t, (uint32_t)c->heap_idx);
	} else if (next < c->heap_key) {
		c->heap_key = next;
		sift_up(t, (uint32_t)c->heap_idx);
	}
}

void tcp_timer_set(struct netstack_tcp *c, enum tcp_timer_kind k,
		   uint64_t delay_ns)
{
	c->timers[k] = c->st->now + (delay_ns ? delay_ns : 1);
	schedule(c);
}

void tcp_timer_clear(struct netstack_tcp *c, enum tcp_timer_kind k)
{
	c->timers[k] = 0;
}

void tcp_timers_clear(struct netstack_tcp *c)
{
	int k;

	for (k = 0; k < TT_COUNT; ++k)
		c->timers[k] = 0;
	heap_remove(&c->st->tcp, c);
}

uint64_t tcp_timer_next(const struct netstack *st)
{
	return st->tcp.heap_len ? st->tcp.heap[0]->heap_key : UINT64_MAX;
}

void tcp_rtt_sample(struct netstack_tcp *c, uint32_t r)
{
	uint32_t rto_us, k;

	if (!r)
		r = 1;
	if (!c->srtt_us) {
		c->srtt_us = r;
		c->rttvar_us = r / 2;
	} else {
		uint32_t d = c->srtt_us > r ? c->srtt_us - r : r - c->srtt_us;

		c->rttvar_us = (3 * c->rttvar_us + d) / 4;
		c->srtt_us = (7 * (uint64_t)c->srtt_us + r) / 8;
	}
	k = 4 * c->rttvar_us;
	if (k < 1000)
		k = 1000; /* clock granularity G: the 1 ms timestamp tick */
	tcp_cc_rtt(c, r);
	rto_us = c->srtt_us + k;
	c->rto_ms = rto_us / 1000;
	if (c->rto_ms < TCP_RTO_MIN_MS)
		c->rto_ms = TCP_RTO_MIN_MS;
	if (c->rto_ms > TCP_RTO_MAX_MS)
		c->rto_ms = TCP_RTO_MAX_MS;
}

uint64_t tcp_rto_ns(const struct netstack_tcp *c)
{
	return (uint64_t)c->rto_ms * NS_PER_MS;
}

void tcp_arm_rexmt(struct netstack_tcp *c)
{
	uint64_t t;

	if (c->persisting) {
		/* Persist: the RTO, backed off per probe, within bounds. */
		t = (uint64_t)c->rto_ms << (c->rexmt_count < 10 ? c->rexmt_count
								 : 10);
		if (t < TCP_PERSIST_MIN_MS)
			t = TCP_PERSIST_MIN_MS;
		if (t > TCP_PERSIST_MAX_MS)
			t = TCP_PERSIST_MAX_MS;
		tcp_timer_set(c, TT_REXMT, t * NS_PER_MS);
		return;
	}
	if (c->snd_nxt == c->snd_una) {
		tcp_timer_clear(c, TT_REXMT);
		return;
	}
	/* RFC 8985 7.2: outside recovery, with an RTT estimate, probe the
	 * tail after 2 * SRTT instead of waiting for the RTO. */
	c->tlp_armed = false;
	if (!c->in_recovery && c->srtt_us && !c->rexmt_count &&
	    !SEQ_GT(c->lost_mark, c->snd_una) &&
	    (c->state == NETSTACK_TCP_ESTABLISHED ||
	     c->state == NETSTACK_TCP_CLOSE_WAIT)) {
		t = 2ull * c->srtt_us * 1000 + 2 * NS_PER_MS;
		if (c->snd_nxt - c->snd_una <= c->mss)
			t += TCP_PTO_DELACK_MS * NS_PER_MS;
		if (t < TCP_PTO_MIN_MS * NS_PER_MS)
			t = TCP_PTO_MIN_MS * NS_PER_MS;
		if (t < tcp_rto_ns(c)) {
			c->tlp_armed = true;
			tcp_timer_set(c, TT_REXMT, t);
			return;
		}
	}
	tcp_timer_set(c, TT_REXMT, tcp_rto_ns(c));
}

void tcp_arm_keepalive(struct netstack_tcp *c)
{
	struct netstack_config *cfg = &c->st->cfg;

	if (!c->keepalive || c->state != NETSTACK_TCP_ESTABLISHED)
		return;
	c->ka_probes = 0;
	tcp_timer_set(c, TT_MISC, cfg->keepalive_idle_ms * NS_PER_MS);
}

static void backoff(struct netstack_tcp *c)
{
	c->rto_ms = c->rto_ms * 2 > TCP_RTO_MAX_MS ? TCP_RTO_MAX_MS
						  : c->rto_ms * 2;
}

/* A connection with data outstanding must send something (a retransmission,
 * a probe) at least once per RTO. One that does not has lost its timer or
 * its recovery: counted and reported once per episode (a send ends it). */
static void report_stall(struct netstack_tcp *c, const char *why)
{
	struct netstack *st = c->st;
	char msg[320], a[64], b[64];

	if (c->stall_reported)
		return;
	c->stall_reported = true;
	st->stats.tcp_stalls++;
	if (!st->ops->log)
		return;
	snprintf(msg, sizeof(msg),
		 "tcp: stalled %s -> %s: %s, %s, nothing sent for %llu ms "
		 "(rto %u ms, %u unacked, pipe %u, cwnd %u, wnd %u, sacked %u, "
		 "timer %s)",
		 netstack_addr_str(&c->local, a, sizeof(a)),
		 netstack_addr_str(&c->remote, b, sizeof(b)),
		 netstack_tcp_state_name(c->state), why,
		 (unsigned long long)((st->now - c->last_send_time) / NS_PER_MS),
		 c->rto_ms, c->snd_nxt - c->snd_una, tcp_pipe(c), c->cc.cwnd,
		 c->snd_wnd, c->sacked_bytes,
		 c->timers[TT_REXMT] ? "armed" : "off");
	st->ops->log(st->ctx, msg);
}

void tcp_watchdog(struct netstack *st)
{
	struct tcp_list *n;

	for (n = st->tcp.all_list.next; n != &st->tcp.all_list; n = n->next) {
		struct netstack_tcp *c =
			tcp_container_of(n, struct netstack_tcp, all_node);

		switch (c->state) {
		case NETSTACK_TCP_CLOSED:
		case NETSTACK_TCP_LISTEN:
		case NETSTACK_TCP_TIME_WAIT:
			continue;
		default:
			break;
		}
		if (c->dead || c->deferred || c->snd_nxt == c->snd_una)
			continue;
		if (st->now - c->last_send_time >
		    2 * tcp_rto_ns(c) + STALL_GRACE_NS)
			report_stall(c, "no timer ran for two RTOs");
	}
}

static void timeout_rexmt(struct netstack_tcp *c)
{
	struct netstack *st = c->st;

	if (c->persisting) {
		if (c->snd_nxt != c->snd_una) {
			c->persisting = false;
			tcp_arm_rexmt(c);
			return;
		}
		tcp_persist_send(c);
		if (c->snd_nxt != c->snd_una) {
			c->persisting = false;
			tcp_arm_rexmt(c);
			return;
		}
		if (c->rexmt_count < 255)
			c->rexmt_count++;
		tcp_arm_rexmt(c);
		return;
	}
	switch (c->state) {
	case NETSTACK_TCP_SYN_SENT:
	case NETSTACK_TCP_SYN_RECEIVED:
		if (++c->rexmt_count > (c->state == NETSTACK_TCP_SYN_SENT
						? TCP_SYN_RETRIES
						: TCP_SYNACK_RETRIES)) {
			tcp_set_closed(c, -ETIMEDOUT);
			return;
		}
		backoff(c);
		tcp_send_syn(c);
		tcp_timer_set(c, TT_REXMT, tcp_rto_ns(c));
		/* RFC 6298 5.7: a lost SYN means a 3 s... we keep 1 s. */
		return;
	case NETSTACK_TCP_CLOSED:
	case NETSTACK_TCP_TIME_WAIT:
	case NETSTACK_TCP_LISTEN:
		return;
	default:
		break;
	}
	if (c->snd_nxt == c->snd_una)
		return;
	if (c->tlp_armed && c->in_recovery) {
		/* Armed before recovery began: no probe in recovery (RFC 8985
		 * 7.2), the RTO proper instead. */
		c->tlp_armed = false;
		tcp_timer_set(c, TT_REXMT, tcp_rto_ns(c));
		return;
	}
	if (c->tlp_armed) {
		/* The probe; the RTO proper follows if it goes unanswered. */
		c->tlp_armed = false;
		st->stats.tcp_tail_loss_probes++;
		tcp_send_tlp(c);
		tcp_timer_set(c, TT_REXMT, tcp_rto_ns(c));
		return;
	}
	if (++c->rexmt_count > TCP_DATA_RETRIES) {
		tcp_send_rst(c);
		tcp_set_closed(c, -ETIMEDOUT);
		return;
	}
	st->stats.tcp_rto_expired++;
	tcp_cc_on_rto(c);
	/* Everything outstanding and not SACKed counts as lost: resend from
	 * snd_una under slow start (RFC 6298 5.4-5.6, RFC 6675 5.1, Linux's
	 * tcp_enter_loss). Counting any of it as still in flight would leave
	 * a pipe larger than the one-segment window, and the timeout would
	 * send nothing, RTO after RTO. */
	c->in_recovery = false;
	tcp_rxq_reset(c);
	seq_ranges_free(&c->again);
	c->lost_mark = c->snd_nxt;
	c->high_rxt = c->snd_una;
	c->recovery_point = c->snd_nxt;
	c->dupacks = 0;
	c->rtt_timing = false;
	c->pace_next = 0; /* the retransmission goes now, whatever the rate */
	backoff(c);
	tcp_output(c);
	if (c->last_send_time != st->now)
		report_stall(c, "a timeout sent nothing");
	tcp_timer_set(c, TT_REXMT, tcp_rto_ns(c));
}

static void timeout_misc(struct netstack_tcp *c)
{
	struct netstack_config *cfg = &c->st->cfg;

	if (c->deferred) {
		tcp_send_rst(c);
		c->deferred = false;
		tcp_set_closed(c, -ETIMEDOUT);
		return;
	}
	switch (c->state) {
	case NETSTACK_TCP_TIME_WAIT:
	case NETSTACK_TCP_FIN_WAIT_2:
		tcp_set_closed(c, 0);
		return;
	case NETSTACK_TCP_ESTABLISHED:
		if (!c->keepalive)
			return;
		if (c->st->now - c->last_rcv_time <
		    cfg->keepalive_idle_ms * NS_PER_MS) {
			/* Heard from the peer meanwhile. */
			tcp_timer_set(c, TT_MISC,
				      c->last_rcv_time +
					      cfg->keepalive_idle_ms *
						      NS_PER_MS -
					      c->st->now);
			return;
		}
		if (c->ka_probes >= cfg->keepalive_cnt) {
			tcp_send_rst(c);
			tcp_set_closed(c, -ETIMEDOUT);
			return;
		}
		c->ka_probes++;
		tcp_send_probe(c, true);
		tcp_timer_set(c, TT_MISC, cfg->keepalive_intvl_ms * NS_PER_MS);
		return;
	default:
		return;
	}
}

void tcp_timer_run(struct netstack *st)
{
	struct tcp_stack *t = &st->tcp;
	struct netstack_tcp *c;
	int k;

	while (t->heap_len && t->heap[0]->heap_key <= st->now) {
		c = t->heap[0];
		heap_remove(t, c);
		for (k = 0; k < TT_COUNT; ++k) {
			if (!c->timers[k] || c->timers[k] > st->now)
				continue;
			c->timers[k] = 0;
			if (c->state == NETSTACK_TCP_CLOSED || c->dead)
				continue;
			switch (k) {
			case TT_REXMT:
				timeout_rexmt(c);
				break;
			case TT_DELACK:
				if (c->ack_segs || c->ack_now)
					tcp_send_ack(c);
				break;
			case TT_MISC:
				timeout_misc(c);
				break;
			case TT_PACE:
				tcp_output(c);
				break;
			}
		}
		if (c->state != NETSTACK_TCP_CLOSED && !c->dead)
			schedule(c);
	}
}

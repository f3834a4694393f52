/* Congestion control: slow start and congestion avoidance with CUBIC
 * (RFC 9438, including its Reno-friendly region and fast convergence) or
 * NewReno (RFC 5681), in bytes. Growth only while the sender is
 * cwnd-limited (RFC 7661), so an application-limited flow does not inflate
 * the window. */
#include "netstack/stack.h"

#define CUBIC_C 0.4
#define CUBIC_BETA 0.7

/* Cube root by Newton's method: no libm in the link. */
static double cube_root(double x)
{
	double r = x > 1 ? x / 3 : 1;
	int i;

	if (x <= 0)
		return 0;
	for (i = 0; i < 60; ++i) {
		double n = r - (r * r * r - x) / (3 * r * r);

		if (n == r)
			break;
		r = n;
	}
	return r;
}

static uint32_t min_cwnd(const struct netstack_tcp *c)
{
	return 2u * c->mss;
}

void tcp_cc_init(struct netstack_tcp *c)
{
	c->cc.cwnd = TCP_INIT_CWND * c->mss;
	c->cc.ssthresh = UINT32_MAX;
	c->cc.cnt = 0;
	c->cc.w_max = 0;
	c->cc.epoch = 0;
	if (c->st->cfg.cc == NETSTACK_CC_BBR)
		tcp_bbr_init(c);
}

void tcp_cc_rtt(struct netstack_tcp *c, uint32_t rtt_us)
{
	if (c->st->cfg.cc == NETSTACK_CC_BBR)
		tcp_bbr_rtt(c, rtt_us);
}

void tcp_cc_delivered(struct netstack_tcp *c, uint32_t bytes)
{
	if (c->st->cfg.cc == NETSTACK_CC_BBR)
		tcp_bbr_delivered(c, bytes);
}

static void cubic_avoid(struct netstack_tcp *c, uint32_t acked)
{
	struct tcp_cc *cc = &c->cc;
	double t, mss = c->mss, target, w_cubic, rtt;

	rtt = c->srtt_us ? c->srtt_us / 1e6 : 0.1;
	if (!cc->epoch) {
		cc->epoch = c->st->now;
		if (cc->cwnd < cc->w_max) {
			cc->k = cube_root((cc->w_max - cc->cwnd) / mss / CUBIC_C);
			cc->origin = cc->w_max;
		} else {
			cc->k = 0;
			cc->origin = cc->cwnd;
		}
		cc->w_est = cc->cwnd;
	}
	t = (double)(c->st->now - cc->epoch) / 1e9 + rtt;
	w_cubic = cc->origin / mss + CUBIC_C * (t - cc->k) * (t - cc->k) *
					     (t - cc->k);
	target = w_cubic * mss;
	if (target > 1.5 * cc->cwnd)
		target = 1.5 * cc->cwnd;
	/* Reno-friendly estimate, alpha = 3(1 - beta)/(1 + beta). */
	cc->w_est += (uint32_t)(3.0 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA) *
				acked * mss / cc->cwnd);
	if (cc->w_est > target)
		target = cc->w_est;
	if (target > cc->cwnd) {
		cc->cnt += (target - cc->cwnd) * acked / cc->cwnd;
	} else {
		/* Plateau: creep at most one segment per 100 RTTs. */
		cc->cnt += mss * acked / (100.0 * cc->cwnd);
	}
	if (cc->cnt >= 1) {
		uint32_t inc = (uint32_t)cc->cnt;

		cc->cwnd += inc;
		cc->cnt -= inc;
	}
}

static void reno_avoid(struct netstack_tcp *c, uint32_t acked)
{
	struct tcp_cc *cc = &c->cc;

	cc->cnt += (double)c->mss * acked / cc->cwnd;
	if (cc->cnt >= 1) {
		uint32_t inc = (uint32_t)cc->cnt;

		cc->cwnd += inc;
		cc->cnt -= inc;
	}
}

void tcp_cc_on_ack(struct netstack_tcp *c, uint32_t acked)
{
	struct tcp_cc *cc = &c->cc;
	uint32_t limit = (uint32_t)(c->st->cfg.tcp_sbuf_max * 2);

	if (!c->cwnd_limited || c->in_recovery ||
	    c->st->cfg.cc == NETSTACK_CC_BBR)
		return;
	if (cc->cwnd < cc->ssthresh) {
		/* Slow start (RFC 5681 3.1 with appropriate byte counting). */
		uint32_t room = cc->ssthresh - cc->cwnd;

		cc->cwnd += acked < room ? acked : room;
		acked -= acked < room ? acked : room;
		if (!acked)
			goto out;
	}
	if (c->st->cfg.cc == NETSTACK_CC_NEWRENO)
		reno_avoid(c, acked);
	else
		cubic_avoid(c, acked);
out:
	if (cc->cwnd > limit)
		cc->cwnd = limit;
}

static void reduce(struct netstack_tcp *c)
{
	struct tcp_cc *cc = &c->cc;
	uint32_t flight = tcp_flight_size(c), base;

	if (c->st->cfg.cc == NETSTACK_CC_NEWRENO) {
		/* RFC 5681 (4): half the flight size. */
		base = flight / 2;
	} else {
		/* Fast convergence (RFC 9438 4.7). */
		if (cc->cwnd < cc->w_max)
			cc->w_max = (uint32_t)(cc->cwnd * (1 + CUBIC_BETA) / 2);
		else
			cc->w_max = cc->cwnd;
		base = (uint32_t)(cc->cwnd * CUBIC_BETA);
	}
	cc->ssthresh = base > min_cwnd(c) ? base : min_cwnd(c);
	cc->epoch = 0;
	cc->cnt = 0;
}

void tcp_cc_on_loss(struct netstack_tcp *c)
{
	if (c->st->cfg.cc == NETSTACK_CC_BBR) {
		tcp_bbr_on_loss(c);
		return;
	}
	reduce(c);
	c->cc.cwnd = c->cc.ssthresh;
}

void tcp_cc_on_rto(struct netstack_tcp *c)
{
	if (c->st->cfg.cc == NETSTACK_CC_BBR) {
		tcp_bbr_on_rto(c);
		return;
	}
	/* Only the first timeout of a series lowers ssthresh (RFC 5681). */
	if (c->rexmt_count <= 1)
		reduce(c);
	c->cc.cwnd = c->mss;
}

/* Linux's defaults for window-based control: twice the window per RTT in
 * slow start, 1.2 times it in congestion avoidance. */
uint64_t tcp_pacing_rate(const struct netstack_tcp *c)
{
	uint64_t rate;

	if (c->st->cfg.cc == NETSTACK_CC_BBR)
		return tcp_bbr_pacing_rate(c);
	if (!c->srtt_us)
		return 0;
	rate = (uint64_t)c->cc.cwnd * 1000000 / c->srtt_us;
	return c->cc.cwnd < c->cc.ssthresh ? 2 * rate : rate * 6 / 5;
}

void tcp_cc_after_idle(struct netstack_tcp *c)
{
	/* RFC 5681 4.1: restart window after an idle RTO. */
	uint32_t rw = TCP_INIT_CWND * c->mss;

	if (c->cc.cwnd > rw)
		c->cc.cwnd = rw;
	c->cc.epoch = 0;
}

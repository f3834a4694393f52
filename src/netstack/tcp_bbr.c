/* A model-based congestion window after BBR (Cardwell et al., ACM Queue
 * 2016; draft-cardwell-iccrg-bbr-congestion-control): the window follows
 * twice the path's bandwidth-delay product, with the bandwidth taken as the
 * largest delivery rate over the last ten round trips and the delay as the
 * minimum RTT over ten seconds. Random loss does not shrink it, which is
 * what a lossy tunnel needs; a queue it builds is bounded by one BDP and
 * drained every ten seconds (PROBE_RTT). Segments are paced (tcp_output)
 * at a gain times the bandwidth: 2.89 in STARTUP, then a cycle of phases
 * a round each: 1.25 for two (probing for more), 0.75 (draining what the
 * probe queued) and six at 1. Unpaced, each window went out at once and a
 * receiver that reads slowly (wireguard-go's 208 KiB socket buffer)
 * dropped a third of it. On top of the model the window
 * keeps room for ACK aggregation, as Linux's BBR does: where the path
 * delivers in bursts (here: both tunnel ends and the host socket take
 * packets in batches on busy cores, so the round trip under load is many
 * times the minimum), the model alone would hold the window below what
 * keeps the pipe full. */
#include "netstack/stack.h"

enum bbr_mode {
	BBR_STARTUP,
	BBR_PROBE_BW,
	BBR_PROBE_RTT,
};

#define BBR_CWND_GAIN 2
#define BBR_STARTUP_GAIN 2.89
#define BBR_CYCLE_LEN 8
static const double cycle_gain[BBR_CYCLE_LEN] = {
	1.25, 0.75, 1, 1, 1, 1, 1, 1,
};
#define BBR_FULL_BW_THRESH 1.25
#define BBR_FULL_BW_ROUNDS 3
/* STARTUP ends early when a round retransmits more than this share of what
 * it delivered, and at least BBR_STARTUP_LOSS_SEGS segments: its queue
 * overflows the path's buffer. Random loss on a tunnel (1-5%) stays below
 * it, and ending STARTUP on that (or on the one segment lost out of an
 * early round's ten) would leave the model at its first rounds' rate. */
#define BBR_STARTUP_LOSS_PCT 15
#define BBR_STARTUP_LOSS_SEGS 8
#define BBR_MIN_RTT_WIN_NS (10 * NS_PER_SEC)
#define BBR_PROBE_RTT_NS (200 * NS_PER_MS)
#define BBR_MIN_ROUND_NS (2 * NS_PER_MS)
#define BBR_MIN_CWND_SEGS 8
/* Room for batching on top of the model (Linux adds three TSO bursts):
 * the event loop takes packets in batches, so the RTT under load is longer
 * than the minimum even without a queue on the path. */
#define BBR_QUANTUM (64u << 10)
#define BBR_EXTRA_ACKED_ROUNDS 5             /* per window; two windows */
#define BBR_EXTRA_ACKED_MAX_NS (10 * NS_PER_MS) /* of bandwidth, at most */
#define BBR_ACK_EPOCH_RESET (1u << 30)       /* bytes: restart an old epoch */

void tcp_bbr_init(struct netstack_tcp *c)
{
	struct tcp_cc *cc = &c->cc;

	cc->mode = BBR_STARTUP;
	cc->round_end = c->snd_nxt;
	cc->round_time = c->st->now;
	cc->round_delivered = cc->delivered;
	cc->round_sent = cc->sent;
	cc->min_rtt_time = c->st->now;
	cc->ack_epoch_time = c->st->now;
}

static uint32_t max_bw(const struct tcp_cc *cc)
{
	uint32_t m = 0;
	int i;

	for (i = 0; i < BBR_BW_ROUNDS; ++i)
		if (cc->bw[i] > m)
			m = cc->bw[i];
	return m;
}

/* Room for aggregated ACKs, once the pipe has been found full: the
 * larger window's excess. The gain of 2 already leaves one min RTT of
 * the bandwidth for bursts, so this only tops that up to 10 ms: nothing on
 * a WAN path (where, without pacing, more would stand in the path's
 * queues: measured, a 50 ms path with 1% loss collapsed to RTOs), up to
 * 10 ms of bandwidth between neighbours whose batching keeps the loaded
 * RTT at many times the minimum. */
static uint64_t aggregation(const struct netstack_tcp *c)
{
	const struct tcp_cc *cc = &c->cc;
	uint64_t extra, cap, min_rtt_ns = (uint64_t)cc->min_rtt_us * 1000;

	if (cc->mode == BBR_STARTUP || min_rtt_ns >= BBR_EXTRA_ACKED_MAX_NS)
		return 0;
	extra = cc->extra_acked[0] > cc->extra_acked[1] ? cc->extra_acked[0]
							: cc->extra_acked[1];
	cap = (uint64_t)max_bw(cc) * (BBR_EXTRA_ACKED_MAX_NS - min_rtt_ns) /
	      NS_PER_SEC;
	return extra < cap ? extra : cap;
}

/* The bytes the model says the path holds: bandwidth times min RTT. */
static uint64_t bdp(const struct tcp_cc *cc)
{
	return (uint64_t)max_bw(cc) * cc->min_rtt_us / 1000000;
}

/* gain * bandwidth * min RTT plus aggregation, at least a few segments. */
static uint32_t target(const struct netstack_tcp *c, double gain)
{
	const struct tcp_cc *cc = &c->cc;
	uint64_t w;
	uint32_t floor_ = BBR_MIN_CWND_SEGS * c->mss;

	if (!cc->min_rtt_us || !max_bw(cc))
		return TCP_INIT_CWND * c->mss;
	w = (uint64_t)(bdp(cc) * gain) + BBR_QUANTUM + aggregation(c);
	if (w > (uint64_t)c->st->cfg.tcp_sbuf_max * 2)
		w = (uint64_t)c->st->cfg.tcp_sbuf_max * 2;
	return w < floor_ ? floor_ : (uint32_t)w;
}

static void enter_probe_bw(struct netstack_tcp *c, uint8_t phase)
{
	c->cc.mode = BBR_PROBE_BW;
	c->cc.cycle_idx = phase;
	c->cc.cycle_rounds = 0;
}

/* PROBE_BW's gain cycle, a phase per round: the probe lasts two, so that
 * the second measures a whole round sent at its rate (a probe shorter than
 * the round that samples it is averaged away, and the model's bandwidth,
 * sampled at the rate it paces at less what is lost, then only drifts
 * down); the draining phase ends early once what is in flight is down to
 * one BDP. */
static void advance_cycle(struct netstack_tcp *c, bool new_round)
{
	struct tcp_cc *cc = &c->cc;
	bool next = false;

	if (new_round)
		cc->cycle_rounds++;
	if (cc->cycle_idx == 0)
		next = cc->cycle_rounds >= 2;
	else if (cc->cycle_idx == 1)
		next = cc->cycle_rounds >= 1 || tcp_pipe(c) <= bdp(cc);
	else
		next = cc->cycle_rounds >= 1;
	if (!next)
		return;
	cc->cycle_idx = (uint8_t)((cc->cycle_idx + 1) % BBR_CYCLE_LEN);
	cc->cycle_rounds = 0;
}

uint64_t tcp_bbr_bw(const struct netstack_tcp *c)
{
	return c->st->cfg.cc == NETSTACK_CC_BBR ? max_bw(&c->cc) : 0;
}

uint64_t tcp_bbr_pacing_rate(const struct netstack_tcp *c)
{
	const struct tcp_cc *cc = &c->cc;
	uint64_t bw = max_bw(cc), wnd_rate, rate, floor_;
	double gain;

	switch (cc->mode) {
	case BBR_STARTUP:
		/* Never below the window per smoothed RTT: the first rounds'
		 * samples (the handshake's byte, an application that has not
		 * written yet) say nothing of the path, and a rate taken from
		 * them would hold the window back (Linux's BBR lets the rate
		 * only rise until the pipe is found full). */
		if (!c->srtt_us)
			return 0;
		wnd_rate = (uint64_t)cc->cwnd * 1000000 / c->srtt_us;
		if (bw < wnd_rate)
			bw = wnd_rate;
		gain = BBR_STARTUP_GAIN;
		break;
	case BBR_PROBE_BW:
		gain = cycle_gain[cc->cycle_idx];
		break;
	default:
		gain = 1;
		break;
	}
	/* Never slower than the smallest window per RTT: a model that has
	 * only seen an application's trickle must not space a burst out to
	 * a segment every second or more. */
	floor_ = c->srtt_us ? (uint64_t)BBR_MIN_CWND_SEGS * c->mss * 1000000 /
				      c->srtt_us
			    : 0;
	rate = (uint64_t)(gain * bw);
	return rate > floor_ ? rate : floor_;
}

void tcp_bbr_rtt(struct netstack_tcp *c, uint32_t rtt_us)
{
	struct tcp_cc *cc = &c->cc;

	if (!cc->min_rtt_us || rtt_us <= cc->min_rtt_us ||
	    c->st->now - cc->min_rtt_time > BBR_MIN_RTT_WIN_NS) {
		/* An expired minimum is replaced in PROBE_RTT below; keep
		 * the old one until then unless this sample is lower. */
		if (!cc->min_rtt_us || rtt_us <= cc->min_rtt_us ||
		    cc->mode == BBR_PROBE_RTT) {
			cc->min_rtt_us = rtt_us;
			cc->min_rtt_time = c->st->now;
		}
	}
}

static void round_end(struct netstack_tcp *c)
{
	struct tcp_cc *cc = &c->cc;
	uint64_t dt = c->st->now - cc->round_time, ack_dt = dt, rate;
	uint64_t bytes = cc->delivered - cc->round_delivered;
	uint64_t sent = cc->sent - cc->round_sent;
	uint32_t bw, m;
	bool overflow;

	/* A round is at least one RTT; shorter ones (a cumulative ACK
	 * jumping over SACKed data, compressed ACKs) would overstate the
	 * rate. And past STARTUP the rate is no more than the last round
	 * sent at: what this round acknowledged went out then, and ACKs that
	 * arrive in a burst (the peer's batches, a receiver that reads in
	 * bursts) would otherwise measure the burst, not the path (Linux's
	 * rate sample takes the longer of the send and ACK intervals). In
	 * STARTUP the window doubles each round, so the last round's rate
	 * would hold the sample at half of what the path takes. */
	if (dt < (uint64_t)cc->min_rtt_us * 1000)
		dt = (uint64_t)cc->min_rtt_us * 1000;
	if (dt > 0 && bytes > 0) {
		rate = bytes * NS_PER_SEC / dt;
		if (cc->mode != BBR_STARTUP && cc->send_rate &&
		    rate > cc->send_rate)
			rate = cc->send_rate;
		bw = (uint32_t)(rate > UINT32_MAX ? UINT32_MAX : rate);
		/* A round that was not cwnd-limited (the application's
		 * rate, not the path's), or that recovered from a timeout,
		 * says little about the path: only let it raise the
		 * estimate, as Linux's BBR does. Compared with the last
		 * sample instead of the maximum, such rounds pushed the
		 * path's samples out of the window one by one. */
		if ((c->cwnd_limited && !cc->prior_cwnd) ||
		    bw >= max_bw(cc)) {
			cc->bw_idx = (cc->bw_idx + 1) % BBR_BW_ROUNDS;
			cc->bw[cc->bw_idx] = bw;
		}
	}
	overflow = (uint64_t)cc->round_rexmt * 100 >
			   bytes * BBR_STARTUP_LOSS_PCT &&
		   cc->round_rexmt >= BBR_STARTUP_LOSS_SEGS * c->mss;
	cc->send_rate = ack_dt ? sent * NS_PER_SEC / ack_dt : 0;
	cc->round_end = c->snd_nxt;
	cc->round_time = c->st->now;
	cc->round_delivered = cc->delivered;
	cc->round_sent = cc->sent;
	cc->round_rexmt = 0;
	/* The pipe is found full by rounds the window limited: a round the
	 * application held back shows no growth because it sent none (Linux
	 * skips app-limited samples here too). */
	if (cc->mode == BBR_STARTUP && !cc->prior_cwnd && c->cwnd_limited) {
		m = max_bw(cc);
		if (overflow) {
			enter_probe_bw(c, 1);
			if (cc->cwnd > target(c, BBR_CWND_GAIN))
				cc->cwnd = target(c, BBR_CWND_GAIN);
		} else if (m >= cc->full_bw * BBR_FULL_BW_THRESH) {
			cc->full_bw = m;
			cc->full_cnt = 0;
		} else if (++cc->full_cnt >= BBR_FULL_BW_ROUNDS) {
			/* The pipe is full: drain to the target at once. */
			enter_probe_bw(c, 1);
			if (cc->cwnd > target(c, BBR_CWND_GAIN))
				cc->cwnd = target(c, BBR_CWND_GAIN);
		}
	}
}

/* Linux's bbr_update_ack_aggregation: an epoch starts whenever ACKs fall
 * behind the estimated rate; what arrives beyond that rate since the
 * epoch began is data the path delivered in a burst. */
static void ack_aggregation(struct netstack_tcp *c, uint32_t bytes,
			    bool new_round)
{
	struct tcp_cc *cc = &c->cc;
	uint64_t dt, expected, extra;

	if (new_round && ++cc->extra_rounds >= BBR_EXTRA_ACKED_ROUNDS) {
		cc->extra_rounds = 0;
		cc->extra_idx ^= 1;
		cc->extra_acked[cc->extra_idx] = 0;
	}
	dt = c->st->now - cc->ack_epoch_time;
	expected = dt < NS_PER_SEC ? (uint64_t)max_bw(cc) * dt / NS_PER_SEC
				   : UINT64_MAX; /* long idle: start over */
	if (cc->ack_epoch_acked <= expected ||
	    (uint64_t)cc->ack_epoch_acked + bytes >= BBR_ACK_EPOCH_RESET) {
		cc->ack_epoch_acked = 0;
		cc->ack_epoch_time = c->st->now;
		expected = 0;
	}
	cc->ack_epoch_acked += bytes;
	extra = cc->ack_epoch_acked - expected;
	if (extra > cc->cwnd)
		extra = cc->cwnd;
	if (extra > cc->extra_acked[cc->extra_idx])
		cc->extra_acked[cc->extra_idx] = (uint32_t)extra;
}

void tcp_bbr_delivered(struct netstack_tcp *c, uint32_t bytes)
{
	struct tcp_cc *cc = &c->cc;
	/* A round ends when what was sent at its start is acknowledged, and
	 * lasts at least half a min RTT: a cumulative ACK that jumps over
	 * SACKed data after a repaired hole ends rounds in quick succession,
	 * whose samples would be noise and whose count would end STARTUP
	 * (three rounds without growth) long before the pipe is full. And
	 * at least BBR_MIN_ROUND_NS: between neighbours the RTT is shorter
	 * than the batches both ends send and acknowledge in. */
	uint64_t min_len = (uint64_t)cc->min_rtt_us * 500;
	bool new_round;
	uint32_t t;

	if (min_len < BBR_MIN_ROUND_NS)
		min_len = BBR_MIN_ROUND_NS;
	new_round = SEQ_GEQ(c->snd_una, cc->round_end) &&
		    c->st->now - cc->round_time >= min_len;

	cc->delivered += bytes;
	if (cc->prior_cwnd && SEQ_GEQ(c->snd_una, c->recovery_point)) {
		if (cc->cwnd < cc->prior_cwnd)
			cc->cwnd = cc->prior_cwnd;
		cc->prior_cwnd = 0;
	}
	if (new_round)
		round_end(c);
	ack_aggregation(c, bytes, new_round);
	if (cc->mode != BBR_PROBE_RTT &&
	    c->st->now - cc->min_rtt_time > BBR_MIN_RTT_WIN_NS &&
	    cc->mode != BBR_STARTUP) {
		/* Drain the queue to see the path's own RTT again. */
		cc->mode = BBR_PROBE_RTT;
		cc->probe_rtt_end = c->st->now + BBR_PROBE_RTT_NS;
		cc->min_rtt_us = 0;
	}
	switch (cc->mode) {
	case BBR_PROBE_RTT:
		cc->cwnd = BBR_MIN_CWND_SEGS * c->mss;
		if (c->st->now >= cc->probe_rtt_end && cc->min_rtt_us) {
			enter_probe_bw(c, 2);
			cc->min_rtt_time = c->st->now;
			cc->cwnd = target(c, BBR_CWND_GAIN);
		}
		return;
	case BBR_STARTUP:
		/* Exponential growth while the window is what limits, up to
		 * 2.89 times the bandwidth-delay product seen so far (doubled:
		 * our rate sample is the last round's average, which lags the
		 * doubling window by half). */
		t = target(c, 2 * 2.89);
		if (c->cwnd_limited &&
		    (cc->cwnd < t || cc->delivered < TCP_INIT_CWND * c->mss))
			cc->cwnd += bytes;
		break;
	default:
		advance_cycle(c, new_round);
		t = target(c, BBR_CWND_GAIN);
		if (cc->cwnd < t)
			cc->cwnd = cc->cwnd + bytes < t ? cc->cwnd + bytes : t;
		else
			cc->cwnd = t;
		break;
	}
	if (cc->cwnd < BBR_MIN_CWND_SEGS * c->mss)
		cc->cwnd = BBR_MIN_CWND_SEGS * c->mss;
}

/* Loss is not the model's congestion signal, but the room for aggregated
 * ACKs is a guess on top of the model and the first thing to give back:
 * without pacing, all of it would stand as a queue on a path whose buffer
 * is shallow. It grows again over the rounds without loss. */
void tcp_bbr_on_loss(struct netstack_tcp *c)
{
	struct tcp_cc *cc = &c->cc;

	cc->extra_acked[0] = cc->extra_acked[1] = 0;
	cc->ack_epoch_acked = 0;
	cc->ack_epoch_time = c->st->now;
}

void tcp_bbr_on_rto(struct netstack_tcp *c)
{
	tcp_bbr_on_loss(c);
	/* Everything in flight is presumed lost: start over from one
	 * segment, and take the window back once what was outstanding has
	 * been recovered (Linux's prior_cwnd). Regrowing it from one segment
	 * would take many rounds, which STARTUP would count as the pipe
	 * found full. */
	if (c->cc.cwnd > c->cc.prior_cwnd)
		c->cc.prior_cwnd = c->cc.cwnd;
	c->cc.cwnd = c->mss;
}

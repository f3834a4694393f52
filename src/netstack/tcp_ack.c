/* TCP ACK processing: the send window (RFC 9293 3.10.7.4), SACK blocks
 * into the scoreboard, the cumulative ACK freeing the send buffer, RTT
 * samples, congestion control, FIN acknowledgement, and loss detection
 * entering SACK-based recovery (RFC 6675 5). */
#include "netstack/stack.h"

void tcp_set_snd_wnd(struct netstack_tcp *c, const struct tcp_seg *seg,
		     bool scaled)
{
	c->snd_wnd = (uint32_t)seg->win << (scaled ? c->snd_wscale : 0);
	c->snd_wl1 = seg->seq;
	c->snd_wl2 = seg->ack;
	if (c->snd_wnd > c->max_sndwnd)
		c->max_sndwnd = c->snd_wnd;
}

static void fix_marks(struct netstack_tcp *c)
{
	if (SEQ_LT(c->lost_mark, c->snd_una))
		c->lost_mark = c->snd_una;
	if (SEQ_LT(c->high_rxt, c->snd_una))
		c->high_rxt = c->snd_una;
	if (SEQ_LT(c->recovery_point, c->snd_una))
		c->recovery_point = c->snd_una;
}

static uint32_t fin_seq(const struct netstack_tcp *c)
{
	return c->sbuf_seq + c->sbuf.len;
}

/* Returns false when the connection closed. */
bool tcp_ack_input(struct netstack_tcp *c, const struct tcp_seg *seg)
{
	struct netstack *st = c->st;
	uint32_t ack = seg->ack, acked, n, lost_high, delivered;
	bool win_changed = false;

	if (SEQ_LT(c->snd_wl1, seg->seq) ||
	    (c->snd_wl1 == seg->seq && SEQ_LEQ(c->snd_wl2, ack))) {
		uint32_t w = (uint32_t)seg->win << c->snd_wscale;

		win_changed = w != c->snd_wnd;
		tcp_set_snd_wnd(c, seg, true);
		if (c->snd_wnd && c->persisting) {
			c->persisting = false;
			c->rexmt_count = 0;
			tcp_timer_clear(c, TT_REXMT);
		}
	}
	c->newly_sacked = 0;
	if (c->sack_ok && seg->opt.nsack)
		tcp_sack_update(c, &seg->opt);
	delivered = c->newly_sacked;
	if (SEQ_GT(ack, c->snd_una)) {
		acked = ack - c->snd_una;
		delivered += acked;
		if (SEQ_GT(ack, c->sbuf_seq)) {
			n = ack - c->sbuf_seq;
			if (n > c->sbuf.len)
				n = c->sbuf.len;
			tcp_buf_consume(st, &c->sbuf, n);
			c->sbuf_seq += n;
			c->bytes_acked += n;
			if (!c->sbuf.len)
				tcp_buf_free(st, &c->sbuf);
		}
		c->snd_una = ack;
		if (c->sacked.n) {
			/* SACKed before: delivered then, not now. */
			n = seq_ranges_trim(&c->sacked, ack);
			c->sacked_bytes -= n;
			delivered -= n < delivered ? n : delivered;
			if (!c->sacked.n)
				c->sacked_bytes = 0;
		}
		fix_marks(c);
		if (c->rtt_timing && SEQ_GEQ(ack, c->rtt_seq)) {
			tcp_rtt_sample(c, (uint32_t)((st->now - c->rtt_time) /
						     1000));
			c->rtt_timing = false;
		} else if (c->ts_ok && seg->opt.ts_ok && seg->opt.tsecr) {
			uint32_t ms = tcp_ts_now(c) - seg->opt.tsecr;

			if (ms < 60000)
				tcp_rtt_sample(c, ms * 1000 + 500);
		}
		c->rexmt_count = 0;
		c->dupacks = 0;
		if (c->in_recovery) {
			if (SEQ_GEQ(ack, c->recovery_point))
				c->in_recovery = false;
			else if (!c->sack_ok)
				c->lost_mark = c->snd_una + c->mss;
		} else {
			tcp_cc_on_ack(c, acked);
		}
		if (c->snd_nxt != c->snd_una)
			tcp_arm_rexmt(c);
		else if (!c->persisting)
			tcp_timer_clear(c, TT_REXMT);
		/* Send buffer autotuning: room for two windows. */
		if (2ull * c->cc.cwnd > c->sbuf.max) {
			uint64_t m = 2ull * c->cc.cwnd;

			if (m > st->cfg.tcp_sbuf_max)
				m = st->cfg.tcp_sbuf_max;
			if (m > c->sbuf.max)
				c->sbuf.max = (uint32_t)m;
		}
		if (c->want_writable && !c->fin_queued &&
		    c->sbuf.max - c->sbuf.len >= c->sbuf.max / 4) {
			c->want_writable = false;
			tcp_event(c, TEV_WRITABLE);
		}
		if (c->fin_sent && SEQ_GEQ(ack, fin_seq(c) + 1)) {
			switch (c->state) {
			case NETSTACK_TCP_FIN_WAIT_1:
				c->state = NETSTACK_TCP_FIN_WAIT_2;
				if (!c->user_owned)
					tcp_timer_set(c, TT_MISC,
						      TCP_FIN_WAIT_2_MS *
							      NS_PER_MS);
				break;
			case NETSTACK_TCP_CLOSING:
				tcp_enter_time_wait(c);
				break;
			case NETSTACK_TCP_LAST_ACK:
				tcp_set_closed(c, 0);
				return false;
			default:
				break;
			}
		}
	} else if (ack == c->snd_una && !seg->len && !(seg->flags & TH_FIN) &&
		   c->snd_nxt != c->snd_una && !win_changed) {
		if (c->dupacks < 255)
			c->dupacks++;
	}
	if (delivered)
		tcp_cc_delivered(c, delivered);
	if (c->rxq)
		tcp_rxq_update(c);
	/* Loss detection: DupThresh duplicate ACKs or SACKed data above an
	 * unacknowledged segment (RFC 6675 5 (4)), once per window. */
	if (!c->in_recovery && c->snd_nxt != c->snd_una &&
	    SEQ_GEQ(c->snd_una, c->recovery_point)) {
		lost_high = c->sack_ok ? tcp_sack_lost_high(c) : c->snd_una;
		if (c->dupacks >= TCP_DUPTHRESH ||
		    SEQ_GT(lost_high, c->snd_una)) {
			c->in_recovery = true;
			c->recovery_point = c->snd_nxt;
			tcp_cc_on_loss(c);
			c->high_rxt = c->snd_una;
			if (!SEQ_GT(lost_high, c->snd_una))
				c->lost_mark = c->snd_una + c->mss;
			c->rtt_timing = false;
			st->stats.tcp_fast_retransmits++;
		}
	}
	return true;
}

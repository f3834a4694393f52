/* TCP output: segment construction with options, the receive window we
 * advertise, and the transmit loop (RFC 6675 NextSeg: lost data first, then
 * new data within min(cwnd - pipe, peer window), sender SWS avoidance and
 * optional Nagle), plus ACKs, probes and resets. */
#include "netstack/stack.h"

#include <netinet/in.h>
#include <string.h>

static inline void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t tcp_ts_now(const struct netstack_tcp *c)
{
	return (uint32_t)(c->st->now / NS_PER_MS) + c->ts_offset;
}

uint32_t tcp_flight_size(const struct netstack_tcp *c)
{
	return c->snd_nxt - c->snd_una;
}

/* RFC 6675 pipe: bytes not SACKed and not lost, plus lost bytes that were
 * retransmitted. */
uint32_t tcp_pipe(const struct netstack_tcp *c)
{
	uint32_t out = c->snd_nxt - c->snd_una, lost_high, lost, rx, rxe;

	if (!c->sacked.n && !SEQ_GT(c->lost_mark, c->snd_una))
		return out;
	lost_high = tcp_sack_lost_high(c);
	lost = (lost_high - c->snd_una) -
	       seq_ranges_covered(&c->sacked, c->snd_una, lost_high);
	rx = 0;
	rxe = SEQ_MIN(c->high_rxt, lost_high);
	if (SEQ_GT(rxe, c->snd_una))
		rx = (rxe - c->snd_una) -
		     seq_ranges_covered(&c->sacked, c->snd_una, rxe);
	if (c->sacked_bytes + lost > out + rx)
		return 0;
	return out - c->sacked_bytes - lost + rx;
}

/* The window field for our next segment; moves rcv_adv, never backwards. */
uint32_t tcp_rcv_window(struct netstack_tcp *c)
{
	uint32_t free_ = c->rbuf.max > c->rbuf.len ? c->rbuf.max - c->rbuf.len
						   : 0;
	uint32_t edge, wnd, step, maxwnd = 65535u << c->rcv_wscale;
	size_t avail = tcp_mem_avail(c->st);

	/* Under global memory pressure open no further than memory allows. */
	if (free_ > avail)
		free_ = (uint32_t)avail;
	if (free_ > maxwnd)
		free_ = maxwnd;
	edge = c->rcv_nxt + free_;
	step = c->rbuf.max / 2 < c->our_mss ? c->rbuf.max / 2 : c->our_mss;
	/* Receiver SWS avoidance (RFC 9293 3.8.6.2.2). */
	if (SEQ_LT(c->rcv_adv, c->rcv_nxt))
		c->rcv_adv = c->rcv_nxt;
	if (SEQ_GEQ(edge, c->rcv_adv + step) ||
	    (SEQ_GT(edge, c->rcv_adv) && free_ == maxwnd))
		c->rcv_adv = edge;
	/* Round up: rounding down would pull in an edge already offered. */
	wnd = (c->rcv_adv - c->rcv_nxt + (1u << c->rcv_wscale) - 1) >>
	      c->rcv_wscale;
	if (wnd > 65535)
		wnd = 65535;
	/* What the peer sees, after scaling. */
	if (SEQ_GT(c->rcv_nxt + (wnd << c->rcv_wscale), c->rcv_adv))
		c->rcv_adv = c->rcv_nxt + (wnd << c->rcv_wscale);
	return wnd;
}

static int build_options(struct netstack_tcp *c, uint8_t *o, uint8_t flags)
{
	struct netstack_config *cfg = &c->st->cfg;
	struct seq_range blocks[TCP_MAX_SACK_BLOCKS];
	int n = 0, nb, i;

	if (flags & TH_SYN) {
		bool synack = flags & TH_ACK;

		o[n++] = TCPOPT_MSS;
		o[n++] = 4;
		put16(o + n, c->our_mss);
		n += 2;
		if (synack ? c->sack_ok : !cfg->no_sack) {
			o[n++] = TCPOPT_SACK_PERM;
			o[n++] = 2;
		} else {
			o[n++] = TCPOPT_NOP;
			o[n++] = TCPOPT_NOP;
		}
		if (synack ? c->ts_ok : !cfg->no_timestamps) {
			o[n++] = TCPOPT_TIMESTAMP;
			o[n++] = 10;
			put32(o + n, tcp_ts_now(c));
			put32(o + n + 4, synack ? c->ts_recent : 0);
			n += 8;
		}
		if (synack ? c->ws_ok : !cfg->no_wscale) {
			o[n++] = TCPOPT_NOP;
			o[n++] = TCPOPT_WSCALE;
			o[n++] = 3;
			o[n++] = c->rcv_wscale;
		}
		return n;
	}
	if (c->ts_ok) {
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_TIMESTAMP;
		o[n++] = 10;
		put32(o + n, tcp_ts_now(c));
		put32(o + n + 4, c->ts_recent);
		n += 8;
	}
	if (c->sack_ok && c->ooo.n && !(flags & TH_RST)) {
		nb = tcp_sack_blocks(c, blocks, c->ts_ok ? 3 : 4);
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_SACK;
		o[n++] = (uint8_t)(2 + 8 * nb);
		for (i = 0; i < nb; ++i) {
			put32(o + n, blocks[i].start);
			put32(o + n + 4, blocks[i].end);
			n += 8;
		}
	}
	return n;
}

/* Sends one segment: seq, dlen bytes of data from the send buffer, flags.
 * Returns false when no buffer was available. */
static bool send_segment(struct netstack_tcp *c, uint32_t seq, uint32_t dlen,
			 uint8_t flags)
{
	struct netstack *st = c->st;
	int family = c->local.family;
	uint8_t opts[TCP_MAX_OPT_LEN];
	struct pktbuf *pb;
	uint32_t hl, sum, wnd;
	uint16_t csum;
	uint8_t *p;
	int olen;

	p = stack_pkt_alloc(st, family, &pb);
	if (!p)
		return false;
	olen = build_options(c, opts, flags);
	hl = TCP_HDR_LEN + (uint32_t)olen;
	put16(p, c->local.port);
	put16(p + 2, c->remote.port);
	put32(p + 4, seq);
	put32(p + 8, (flags & TH_ACK) ? c->rcv_nxt : 0);
	p[12] = (uint8_t)((hl / 4) << 4);
	p[13] = flags;
	if (flags & TH_SYN) {
		uint32_t f = c->rbuf.max;

		wnd = f > 65535 ? 65535 : f;
		c->rcv_adv = c->rcv_nxt + wnd;
	} else if (flags & TH_RST) {
		wnd = 0;
	} else {
		wnd = tcp_rcv_window(c);
		if (!wnd)
			st->stats.tcp_zero_window_sent++;
	}
	put16(p + 14, wnd);
	p[16] = p[17] = p[18] = p[19] = 0;
	memcpy(p + TCP_HDR_LEN, opts, (size_t)olen);
	if (dlen)
		tcp_buf_read(&c->sbuf, seq - c->sbuf_seq, p + hl, dlen);
	sum = ns_csum_pseudo(family, c->local.ip, c->remote.ip, IPPROTO_TCP,
			  hl + dlen);
	csum = ns_csum_fold(ns_csum_partial(p, hl + dlen, sum));
	memcpy(p + 16, &csum, 2);
	if (dlen || (flags & (TH_SYN | TH_FIN)) || SEQ_LT(seq, c->snd_una)) {
		c->last_send_time = st->now;
		c->stall_reported = false;
	}
	if (flags & TH_ACK) {
		c->last_ack_sent = c->rcv_nxt;
		c->ack_segs = 0;
		c->ack_now = false;
		c->timers[TT_DELACK] = 0;
	}
	st->stats.tcp_out++;
	stack_ip_output(st, pb, family, c->local.ip, c->remote.ip,
			IPPROTO_TCP, hl + dlen);
	return true;
}

/* Payload that fits a data segment next to our current options. */
static uint32_t seg_room(const struct netstack_tcp *c)
{
	uint32_t room = c->mss;

	if (c->sack_ok && c->ooo.n) {
		int nb = c->ooo.n < (c->ts_ok ? 3 : 4) ? c->ooo.n
						      : (c->ts_ok ? 3 : 4);

		room -= 4 + 8 * (uint32_t)nb;
	}
	return room;
}

static uint32_t fin_seq(const struct netstack_tcp *c)
{
	return c->sbuf_seq + c->sbuf.len;
}

/* Sends the sequence range [seq, seq + len), which may end with our FIN. */
static bool send_range(struct netstack_tcp *c, uint32_t seq, uint32_t len)
{
	uint8_t flags = TH_ACK;
	uint32_t dlen = len;

	if (c->fin_queued && SEQ_GT(seq + len, fin_seq(c))) {
		dlen = fin_seq(c) - seq;
		flags |= TH_FIN;
	}
	if (dlen && seq + dlen == fin_seq(c))
		flags |= TH_PSH;
	return send_segment(c, seq, dlen, flags);
}

void tcp_send_ack(struct netstack_tcp *c)
{
	send_segment(c, c->snd_nxt, 0, TH_ACK);
}

void tcp_send_syn(struct netstack_tcp *c)
{
	uint8_t flags = TH_SYN;

	if (c->state == NETSTACK_TCP_SYN_RECEIVED)
		flags |= TH_ACK;
	send_segment(c, c->iss, 0, flags);
	if (SEQ_LEQ(c->snd_nxt, c->iss))
		c->snd_nxt = c->iss + 1;
}

void tcp_send_probe(struct netstack_tcp *c, bool keepalive)
{
	/* An out-of-window ACK (seq one below snd_una) makes the peer answer
	 * with its current window: zero-window probe and keepalive alike. */
	if (keepalive)
		c->st->stats.tcp_keepalive_probes++;
	else
		c->st->stats.tcp_persist_probes++;
	send_segment(c, c->snd_una - 1, 0, TH_ACK);
}

void tcp_send_rst(struct netstack_tcp *c)
{
	c->st->stats.tcp_rst_sent++;
	send_segment(c, c->snd_nxt, 0, TH_RST | TH_ACK);
}

void tcp_send_rst_for(struct netstack *st, const struct ip_info *in,
		      const struct tcp_seg *seg)
{
	const uint8_t *th = in->l4;
	struct pktbuf *pb;
	uint32_t sum, ack = 0, seq = 0;
	uint8_t flags = TH_RST;
	uint16_t csum;
	uint8_t *p;

	if (seg->flags & TH_RST)
		return;
	if (seg->flags & TH_ACK) {
		seq = seg->ack;
	} else {
		ack = seg->seq + seg->len + !!(seg->flags & TH_SYN) +
		      !!(seg->flags & TH_FIN);
		flags |= TH_ACK;
	}
	p = stack_pkt_alloc(st, in->family, &pb);
	if (!p)
		return;
	memcpy(p, th + 2, 2);
	memcpy(p + 2, th, 2);
	put32(p + 4, seq);
	put32(p + 8, ack);
	p[12] = (TCP_HDR_LEN / 4) << 4;
	p[13] = flags;
	memset(p + 14, 0, 6);
	sum = ns_csum_pseudo(in->family, in->dst, in->src, IPPROTO_TCP,
			  TCP_HDR_LEN);
	csum = ns_csum_fold(ns_csum_partial(p, TCP_HDR_LEN, sum));
	memcpy(p + 16, &csum, 2);
	st->stats.tcp_rst_sent++;
	stack_ip_output(st, pb, in->family, in->dst, in->src, IPPROTO_TCP,
			TCP_HDR_LEN);
}

void tcp_persist_send(struct netstack_tcp *c)
{
	uint32_t wroom = c->snd_una + c->snd_wnd - c->snd_nxt;
	uint32_t unsent = fin_seq(c) - c->snd_nxt, n;

	/* The SWS override (RFC 9293 3.8.6.2.1): whatever fits now. */
	n = unsent < wroom ? unsent : wroom;
	if (n > c->mss)
		n = c->mss;
	if (!c->snd_wnd || SEQ_LEQ(c->snd_una + c->snd_wnd, c->snd_nxt) ||
	    !n) {
		tcp_send_probe(c, false);
		return;
	}
	if (send_range(c, c->snd_nxt, n)) {
		c->snd_nxt += n;
		c->bytes_sent += n;
	}
}

void tcp_send_tlp(struct netstack_tcp *c)
{
	uint32_t end = fin_seq(c), wnd_end = c->snd_una + c->snd_wnd, n;

	/* New data if the window allows: it may fill the pipe and will
	 * draw SACKs either way. */
	n = SEQ_GT(end, c->snd_nxt) ? end - c->snd_nxt : 0;
	if (n > c->mss)
		n = c->mss;
	if (n && SEQ_GEQ(wnd_end, c->snd_nxt + n) &&
	    send_range(c, c->snd_nxt, n)) {
		c->snd_nxt += n;
		c->bytes_sent += n;
		return;
	}
	/* Else the last segment again. */
	n = c->snd_nxt - c->snd_una;
	if (n > c->mss)
		n = c->mss;
	if (n && send_range(c, c->snd_nxt - n, n)) {
		c->retransmits++;
		c->st->stats.tcp_retransmits++;
	}
}

void tcp_retransmit_first(struct netstack_tcp *c)
{
	uint32_t len = c->snd_nxt - c->snd_una;

	if (len > c->mss)
		len = c->mss;
	if (len && send_range(c, c->snd_una, len)) {
		c->retransmits++;
		c->st->stats.tcp_retransmits++;
		if (SEQ_LT(c->high_rxt, c->snd_una + len))
			c->high_rxt = c->snd_una + len;
	}
}

/* Resends the first range of c->again (not yet SACKed), one segment:
 * the bytes sent, 0 for none. */
static uint32_t resend_again(struct netstack_tcp *c, uint32_t seg)
{
	struct seq_ranges *g = &c->again;

	while (g->n) {
		uint32_t a = SEQ_MAX(g->r[0].start, c->snd_una), b = g->r[0].end;
		uint32_t i, e;

		if (!SEQ_LT(a, b)) {
			seq_ranges_trim(g, b);
			continue;
		}
		/* Skip what got SACKed meanwhile. */
		for (i = 0; i < c->sacked.n; ++i) {
			if (SEQ_LEQ(c->sacked.r[i].start, a) &&
			    SEQ_GT(c->sacked.r[i].end, a))
				a = c->sacked.r[i].end;
		}
		if (!SEQ_LT(a, b)) {
			seq_ranges_trim(g, b);
			continue;
		}
		e = b;
		for (i = 0; i < c->sacked.n; ++i)
			if (SEQ_GT(c->sacked.r[i].start, a) &&
			    SEQ_LT(c->sacked.r[i].start, e))
				e = c->sacked.r[i].start;
		if (e - a > seg)
			e = a + seg;
		if (!send_range(c, a, e - a))
			return 0;
		seq_ranges_trim(g, e);
		tcp_rxq_push(c, a, e);
		c->retransmits++;
		c->st->stats.tcp_retransmits++;
		c->rtt_timing = false;
		return e - a;
	}
	return 0;
}

static bool can_send_data(const struct netstack_tcp *c)
{
	switch (c->state) {
	case NETSTACK_TCP_ESTABLISHED:
	case NETSTACK_TCP_CLOSE_WAIT:
	case NETSTACK_TCP_FIN_WAIT_1:
	case NETSTACK_TCP_CLOSING:
	case NETSTACK_TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/* Pacing as a token bucket in time: pace_next is when the next segment is
 * due; credit builds up to TCP_PACE_BURST_US. True when the rate says
 * wait: the TT_PACE timer then runs output again once TCP_PACE_WAKE_US of
 * credit has come. */
static bool pace_wait(struct netstack_tcp *c, uint64_t rate)
{
	uint64_t now = c->st->now, burst = TCP_PACE_BURST_US * 1000ull, gap;

	if (!rate)
		return false;
	if (c->pace_next + burst < now)
		c->pace_next = now - burst;
	/* Not more than one segment's time ahead at the current rate: a
	 * rate that rose since (the model's, or a new RTT's) applies now. */
	gap = ((uint64_t)c->mss + TCP_PACE_HDR) * NS_PER_SEC / rate;
	if (c->pace_next > now + gap)
		c->pace_next = now + gap;
	if (c->pace_next <= now)
		return false;
	if (!c->timers[TT_PACE])
		tcp_timer_set(c, TT_PACE, c->pace_next - now +
					  TCP_PACE_WAKE_US * 1000ull);
	return true;
}

static void pace_sent(struct netstack_tcp *c, uint64_t rate, uint32_t len)
{
	c->cc.sent += len;
	if (rate)
		c->pace_next += ((uint64_t)len + TCP_PACE_HDR) * NS_PER_SEC /
				rate;
}

void tcp_output(struct netstack_tcp *c)
{
	uint32_t pipe, cwnd, room, unsent, wroom, n, start, len, seg;
	uint32_t wnd_end, end;
	bool fin, by_cwnd = false, sent_any = false, paced = false;
	uint64_t rate;
	int burst = 0;

	if (c->state == NETSTACK_TCP_CLOSED)
		return;
	if (!can_send_data(c)) {
		if (c->ack_now || c->ack_segs)
			tcp_send_ack(c);
		return;
	}
	rate = tcp_pacing_rate(c);
	while (burst < TCP_BURST_MAX) {
		if (pace_wait(c, rate)) {
			paced = true;
			break;
		}
		pipe = tcp_pipe(c);
		cwnd = c->cc.cwnd;
		room = cwnd > pipe ? cwnd - pipe : 0;
		seg = seg_room(c);
		/* Retransmissions that were lost again come first. */
		len = room >= seg && c->again.n ? resend_again(c, seg) : 0;
		if (len) {
			if (c->in_recovery)
				c->cc.round_rexmt += len;
			pace_sent(c, rate, len);
			sent_any = true;
			burst++;
			continue;
		}
		/* NextSeg rule 1: a lost hole above HighRxt. */
		if (room >= seg &&
		    tcp_sack_next_hole(c, c->high_rxt, seg, &start, &len)) {
			if (!send_range(c, start, len))
				break;
			tcp_rxq_push(c, start, start + len);
			c->high_rxt = start + len;
			c->retransmits++;
			c->st->stats.tcp_retransmits++;
			c->rtt_timing = false;
			if (c->in_recovery)
				c->cc.round_rexmt += len;
			pace_sent(c, rate, len);
			sent_any = true;
			burst++;
			continue;
		}
		/* New data (and the FIN after it). */
		end = fin_seq(c);
		unsent = SEQ_GT(end, c->snd_nxt) ? end - c->snd_nxt : 0;
		fin = c->fin_queued && SEQ_LEQ(c->snd_nxt, end);
		if (!unsent && !fin)
			break;
		wnd_end = c->snd_una + c->snd_wnd;
		wroom = SEQ_GT(wnd_end, c->snd_nxt) ? wnd_end - c->snd_nxt : 0;
		n = unsent;
		if (n > seg)
			n = seg;
		if (n > wroom)
			n = wroom;
		if (n > room) {
			n = room;
			by_cwnd = true;
		}
		if (n < unsent) {
			/* Sender SWS avoidance: full segments only, unless
			 * half the largest window seen is all we get. */
			if (n < seg && (n == 0 || n < c->max_sndwnd / 2))
				break;
			fin = false;
		} else if (n < seg && c->nagle && c->snd_nxt != c->snd_una &&
			   !fin) {
			break;
		}
		if (fin && !unsent && room == 0 && c->snd_nxt != c->snd_una) {
			by_cwnd = true;
			break;
		}
		if (!send_range(c, c->snd_nxt, n + (fin ? 1 : 0)))
			break;
		if (!c->rtt_timing) {
			c->rtt_timing = true;
			c->rtt_seq = c->snd_nxt + n;
			c->rtt_time = c->st->now;
		}
		c->snd_nxt += n + (fin ? 1 : 0);
		c->bytes_sent += n;
		if (fin)
			c->fin_sent = true;
		pace_sent(c, rate, n);
		sent_any = true;
		burst++;
		if (fin)
			break;
	}
	/* Held back by the rate counts as limited by the window: the rate
	 * is the window spread over the RTT. */
	c->cwnd_limited = by_cwnd || paced ||
			  (c->cc.cwnd < c->cc.ssthresh &&
			   tcp_flight_size(c) * 2 >= c->cc.cwnd);
	if (burst >= TCP_BURST_MAX)
		tcp_schedule_flush(c);
	if (sent_any && !c->timers[TT_REXMT])
		tcp_arm_rexmt(c);
	if (c->ack_now || c->ack_segs >= 2)
		tcp_send_ack(c);
	/* Data waiting, nothing in flight, and a window too small to send
	 * into (zero, or below SWS avoidance's threshold): persist. */
	if (c->snd_nxt == c->snd_una && SEQ_GT(fin_seq(c), c->snd_nxt) &&
	    !c->timers[TT_REXMT] && !paced) {
		c->persisting = true;
		tcp_arm_rexmt(c);
	}
}

/* TCP input (RFC 9293 3.10.7 "SEGMENT ARRIVES"): header and option parsing,
 * demultiplexing to a connection or listener, the SYN-SENT and passive-open
 * handshakes, PAWS (RFC 7323), RST/SYN hardening (RFC 5961) and the state
 * machine; the ACK field is tcp_ack.c's, the data tcp_rcv.c's. */
#include "netstack/stack.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#define PAWS_IDLE_NS (24ull * 24 * 3600 * NS_PER_SEC)

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int tcp_parse_options(const uint8_t *p, uint32_t len, struct tcp_opts *o,
		      bool syn)
{
	uint32_t i = 0, olen, k;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i];

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -1;
		olen = p[i + 1];
		if (olen < 2 || i + olen > len)
			return -1;
		switch (kind) {
		case TCPOPT_MSS:
			if (olen == 4 && syn) {
				o->mss_ok = true;
				o->mss = get16(p + i + 2);
			}
			break;
		case TCPOPT_WSCALE:
			if (olen == 3 && syn) {
				o->ws_ok = true;
				o->ws = p[i + 2] > TCP_MAX_WSCALE
						? TCP_MAX_WSCALE
						: p[i + 2];
			}
			break;
		case TCPOPT_SACK_PERM:
			if (olen == 2 && syn)
				o->sack_perm = true;
			break;
		case TCPOPT_TIMESTAMP:
			if (olen == 10) {
				o->ts_ok = true;
				o->tsval = get32(p + i + 2);
				o->tsecr = get32(p + i + 6);
			}
			break;
		case TCPOPT_SACK:
			if (syn || (olen - 2) % 8)
				break;
			for (k = 0; k < (olen - 2) / 8 &&
				    o->nsack < TCP_MAX_SACK_BLOCKS;
			     ++k) {
				o->sack[o->nsack].start = get32(p + i + 2 + 8 * k);
				o->sack[o->nsack].end = get32(p + i + 6 + 8 * k);
				o->nsack++;
			}
			break;
		default:
			break;
		}
		i += olen;
	}
	return 0;
}

/* Negotiates options from the peer's SYN (or SYN-ACK). */
static void syn_options(struct netstack_tcp *c, const struct tcp_seg *seg)
{
	const struct netstack_config *cfg = &c->st->cfg;
	const struct tcp_opts *o = &seg->opt;
	uint16_t m;

	c->ws_ok = o->ws_ok && !cfg->no_wscale;
	c->sack_ok = o->sack_perm && !cfg->no_sack;
	c->ts_ok = o->ts_ok && !cfg->no_timestamps;
	c->snd_wscale = c->ws_ok ? o->ws : 0;
	c->rcv_wscale = c->ws_ok ? tcp_wscale_for(c->st) : 0;
	if (c->ts_ok) {
		c->ts_recent = o->tsval;
		c->ts_recent_time = c->st->now;
	}
	c->peer_mss = o->mss_ok ? o->mss : TCP_MSS_DEFAULT;
	m = c->peer_mss < c->our_mss ? c->peer_mss : c->our_mss;
	if (m < TCP_MIN_MSS)
		m = TCP_MIN_MSS;
	c->mss = (uint16_t)(m - (c->ts_ok ? TCP_TSOPT_LEN : 0));
	tcp_cc_init(c);
}

static void established(struct netstack_tcp *c)
{
	/* A shutdown before the handshake completed left a FIN queued. */
	c->state = c->fin_queued ? NETSTACK_TCP_FIN_WAIT_1
				 : NETSTACK_TCP_ESTABLISHED;
	c->rexmt_count = 0;
	tcp_timer_clear(c, TT_REXMT);
	if (c->user_owned && c->lst_node.next) {
		tcp_list_del(&c->lst_node);
		c->listener->nhalf--;
		c->listener = NULL;
	}
	tcp_arm_keepalive(c);
	tcp_event(c, TEV_CONNECTED);
}

static enum netstack_verdict listen_input(struct netstack *st,
					  struct netstack_listener *l,
					  struct ip_info *in,
					  const struct tcp_seg *seg,
					  const struct netstack_addr *local,
					  const struct netstack_addr *remote)
{
	enum netstack_accept d = NETSTACK_ACCEPT;
	struct netstack_tcp *c;

	if (l->nhalf >= st->cfg.syn_backlog) {
		st->stats.tcp_syn_dropped++;
		return NETSTACK_PKT_DROP;
	}
	c = tcp_alloc(st, local, remote);
	if (!c) {
		st->stats.tcp_syn_dropped++;
		return NETSTACK_PKT_DROP;
	}
	c->passive = true;
	c->irs = seg->seq;
	c->rcv_nxt = c->rcv_adv = seg->seq + 1;
	c->rcv_grow_mark = c->rcv_nxt + c->rbuf.max;
	syn_options(c, seg);
	tcp_set_snd_wnd(c, seg, false);
	c->state = NETSTACK_TCP_SYN_RECEIVED;
	c->listener = l;
	tcp_list_add_tail(&l->half_open, &c->lst_node);
	l->nhalf++;
	tcp_hash_insert(c);
	if (l->ops && l->ops->syn) {
		c->user_owned = true;
		c->in_cb++;
		d = l->ops->syn(l->ctx, l, c);
		c->in_cb--;
		if (c->dead || !c->user_owned) {
			/* Closed from inside the callback. */
			if (c->dead)
				tcp_event(c, 0);
			return NETSTACK_PKT_OK;
		}
		if (d != NETSTACK_ACCEPT && d != NETSTACK_DEFER)
			c->user_owned = false;
	}
	switch (d) {
	case NETSTACK_ACCEPT:
		c->rtt_timing = true;
		c->rtt_seq = c->iss + 1;
		c->rtt_time = st->now;
		tcp_send_syn(c);
		tcp_timer_set(c, TT_REXMT, tcp_rto_ns(c));
		break;
	case NETSTACK_DEFER:
		c->deferred = true;
		tcp_timer_set(c, TT_MISC, TCP_DEFER_TIMEOUT_MS * NS_PER_MS);
		break;
	case NETSTACK_REFUSE_RST:
		tcp_send_rst_for(st, in, seg);
		st->stats.tcp_syn_refused++;
		tcp_set_closed(c, 0);
		break;
	case NETSTACK_REFUSE_DROP:
		st->stats.tcp_syn_refused++;
		tcp_set_closed(c, 0);
		break;
	default:
		icmp_send_unreach(st, in, d);
		st->stats.tcp_syn_refused++;
		tcp_set_closed(c, 0);
		break;
	}
	return NETSTACK_PKT_OK;
}

static enum netstack_verdict no_conn(struct netstack *st, struct ip_info *in,
				     const struct tcp_seg *seg,
				     const struct netstack_addr *local,
				     const struct netstack_addr *remote)
{
	struct netstack_listener *l;

	if (seg->flags & TH_RST)
		return NETSTACK_PKT_DROP;
	l = tcp_listener_lookup(st, local, in->dst_ours);
	if (l && (seg->flags & (TH_SYN | TH_ACK | TH_FIN)) == TH_SYN)
		return listen_input(st, l, in, seg, local, remote);
	if (!l && !in->dst_ours)
		return NETSTACK_PKT_DROP;
	/* RFC 9293 3.10.7.1: a reset for anything else. */
	tcp_send_rst_for(st, in, seg);
	return NETSTACK_PKT_OK;
}

static enum netstack_verdict syn_sent_input(struct netstack_tcp *c,
					    struct ip_info *in,
					    const struct tcp_seg *seg)
{
	struct netstack *st = c->st;

	if (seg->flags & TH_ACK) {
		if (SEQ_LEQ(seg->ack, c->iss) || SEQ_GT(seg->ack, c->snd_nxt)) {
			tcp_send_rst_for(st, in, seg);
			return NETSTACK_PKT_DROP;
		}
	}
	if (seg->flags & TH_RST) {
		if (seg->flags & TH_ACK) {
			st->stats.tcp_rst_in++;
			tcp_set_closed(c, -ECONNREFUSED);
			return NETSTACK_PKT_OK;
		}
		return NETSTACK_PKT_DROP;
	}
	if (!(seg->flags & TH_SYN))
		return NETSTACK_PKT_DROP;
	c->irs = seg->seq;
	c->rcv_nxt = c->rcv_adv = seg->seq + 1;
	c->rcv_grow_mark = c->rcv_nxt + c->rbuf.max;
	c->last_ack_sent = c->rcv_nxt;
	syn_options(c, seg);
	if (!(seg->flags & TH_ACK)) {
		/* Simultaneous open. */
		c->state = NETSTACK_TCP_SYN_RECEIVED;
		tcp_send_syn(c);
		return NETSTACK_PKT_OK;
	}
	c->snd_una = seg->ack;
	tcp_set_snd_wnd(c, seg, false);
	if (c->rtt_timing && !c->rexmt_count)
		tcp_rtt_sample(c, (uint32_t)((st->now - c->rtt_time) / 1000));
	c->rtt_timing = false;
	c->lost_mark = c->high_rxt = c->recovery_point = c->snd_una;
	established(c);
	c->ack_now = true;
	tcp_output(c);
	return NETSTACK_PKT_OK;
}

static bool acceptable(const struct netstack_tcp *c, const struct tcp_seg *seg,
		       uint32_t seglen)
{
	uint32_t wnd = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt
						      : 0;

	if (!seglen) {
		if (!wnd)
			return seg->seq == c->rcv_nxt;
		return SEQ_GEQ(seg->seq, c->rcv_nxt) &&
		       SEQ_LT(seg->seq, c->rcv_nxt + wnd);
	}
	if (!wnd)
		return seg->seq == c->rcv_nxt; /* ACK of a probe; no data */
	return (SEQ_GEQ(seg->seq, c->rcv_nxt) &&
		SEQ_LT(seg->seq, c->rcv_nxt + wnd)) ||
	       (SEQ_GEQ(seg->seq + seglen - 1, c->rcv_nxt) &&
		SEQ_LT(seg->seq + seglen - 1, c->rcv_nxt + wnd));
}

static enum netstack_verdict conn_input(struct netstack_tcp *c,
					struct ip_info *in,
					struct tcp_seg *seg)
{
	struct netstack *st = c->st;
	uint32_t seglen;

	c->last_rcv_time = st->now;
	c->ka_probes = 0;
	if (c->state == NETSTACK_TCP_SYN_SENT)
		return syn_sent_input(c, in, seg);
	if (c->ts_ok && seg->opt.ts_ok && !(seg->flags & TH_RST) &&
	    SEQ_LT(seg->opt.tsval, c->ts_recent) &&
	    st->now - c->ts_recent_time < PAWS_IDLE_NS) {
		/* PAWS: an old duplicate. */
		if (!c->deferred)
			tcp_send_ack(c);
		return NETSTACK_PKT_DROP;
	}
	if (c->state == NETSTACK_TCP_SYN_RECEIVED && (seg->flags & TH_SYN) &&
	    !(seg->flags & TH_ACK) && seg->seq == c->irs) {
		if (!c->deferred)
			tcp_send_syn(c);
		return NETSTACK_PKT_OK;
	}
	if (c->deferred) {
		if ((seg->flags & TH_RST) && seg->seq == c->rcv_nxt) {
			c->deferred = false;
			tcp_set_closed(c, -ECONNRESET);
			return NETSTACK_PKT_OK;
		}
		return NETSTACK_PKT_DROP;
	}
	seglen = seg->len + !!(seg->flags & TH_SYN) + !!(seg->flags & TH_FIN);
	if (!acceptable(c, seg, seglen)) {
		if (!(seg->flags & TH_RST)) {
			tcp_send_ack(c);
			st->stats.tcp_dup_segments++;
		}
		return NETSTACK_PKT_DROP;
	}
	if (seg->flags & TH_RST) {
		if (seg->seq != c->rcv_nxt) {
			tcp_send_ack(c); /* challenge ACK, RFC 5961 3.2 */
			return NETSTACK_PKT_DROP;
		}
		st->stats.tcp_rst_in++;
		if (c->state == NETSTACK_TCP_TIME_WAIT)
			tcp_set_closed(c, 0);
		else if (c->state == NETSTACK_TCP_SYN_RECEIVED)
			tcp_set_closed(c, -ECONNREFUSED);
		else
			tcp_set_closed(c, -ECONNRESET);
		return NETSTACK_PKT_OK;
	}
	if (seg->flags & TH_SYN) {
		tcp_send_ack(c); /* challenge ACK, RFC 5961 4.2 */
		return NETSTACK_PKT_DROP;
	}
	if (!(seg->flags & TH_ACK))
		return NETSTACK_PKT_DROP;
	if (c->ts_ok && seg->opt.ts_ok &&
	    SEQ_GEQ(seg->opt.tsval, c->ts_recent) &&
	    SEQ_LEQ(seg->seq, c->last_ack_sent)) {
		c->ts_recent = seg->opt.tsval;
		c->ts_recent_time = st->now;
	}
	if (c->state == NETSTACK_TCP_SYN_RECEIVED) {
		if (SEQ_LEQ(seg->ack, c->snd_una) ||
		    SEQ_GT(seg->ack, c->snd_nxt)) {
			tcp_send_rst_for(st, in, seg);
			return NETSTACK_PKT_DROP;
		}
		tcp_set_snd_wnd(c, seg, true);
		established(c);
	}
	if (SEQ_GT(seg->ack, c->snd_nxt)) {
		tcp_send_ack(c);
		return NETSTACK_PKT_DROP;
	}
	if (SEQ_LT(seg->ack, c->snd_una - (c->max_sndwnd > 65535
						   ? c->max_sndwnd
						   : 65535)))
		return NETSTACK_PKT_DROP;
	if (c->state != NETSTACK_TCP_TIME_WAIT && !tcp_ack_input(c, seg))
		return NETSTACK_PKT_OK;
	switch (c->state) {
	case NETSTACK_TCP_ESTABLISHED:
	case NETSTACK_TCP_FIN_WAIT_1:
	case NETSTACK_TCP_FIN_WAIT_2:
		if (seg->len || (seg->flags & TH_FIN))
			tcp_data_input(c, seg);
		break;
	case NETSTACK_TCP_TIME_WAIT:
		if (seg->flags & TH_FIN) {
			c->ack_now = true;
			tcp_timer_set(c, TT_MISC,
				      st->cfg.time_wait_ms * NS_PER_MS);
		}
		break;
	default:
		break;
	}
	if (c->state == NETSTACK_TCP_CLOSED || c->dead)
		return NETSTACK_PKT_OK;
	tcp_output(c);
	if (c->ack_segs >= 2)
		tcp_schedule_flush(c);
	else if (c->ack_segs && !c->timers[TT_DELACK])
		tcp_timer_set(c, TT_DELACK, TCP_DELACK_MS * NS_PER_MS);
	return NETSTACK_PKT_OK;
}

enum netstack_verdict tcp_input(struct netstack *st, struct ip_info *in)
{
	struct netstack_addr local = { 0 }, remote = { 0 };
	const uint8_t *th = in->l4;
	struct netstack_tcp *c;
	struct tcp_seg seg;
	uint32_t hl, sum;

	if (in->l4len < TCP_HDR_LEN)
		return NETSTACK_PKT_DROP;
	hl = (uint32_t)(th[12] >> 4) * 4;
	if (hl < TCP_HDR_LEN || hl > in->l4len)
		return NETSTACK_PKT_DROP;
	sum = ns_csum_pseudo(in->family, in->src, in->dst, IPPROTO_TCP,
			  in->l4len);
	if (ns_csum_fold(ns_csum_partial(th, in->l4len, sum)) != 0) {
		st->stats.ip_bad_csum++;
		return NETSTACK_PKT_DROP;
	}
	seg.seq = get32(th + 4);
	seg.ack = get32(th + 8);
	seg.flags = th[13] & 0x3f;
	seg.win = get16(th + 14);
	seg.data = th + hl;
	seg.len = in->l4len - hl;
	if (tcp_parse_options(th + TCP_HDR_LEN, hl - TCP_HDR_LEN, &seg.opt,
			      seg.flags & TH_SYN) < 0)
		return NETSTACK_PKT_DROP;
	local.family = remote.family = in->family;
	memcpy(local.ip, in->dst, ip_alen(in->family));
	memcpy(remote.ip, in->src, ip_alen(in->family));
	local.port = get16(th + 2);
	remote.port = get16(th);
	if (!local.port || !remote.port)
		return NETSTACK_PKT_DROP;
	st->stats.tcp_in++;
	c = tcp_lookup(st, &local, &remote);
	if (c && c->state == NETSTACK_TCP_TIME_WAIT &&
	    (seg.flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN &&
	    (SEQ_GT(seg.seq, c->rcv_nxt) ||
	     (c->ts_ok && seg.opt.ts_ok &&
	      SEQ_GT(seg.opt.tsval, c->ts_recent)))) {
		/* A new incarnation (RFC 9293 3.6.1, RFC 6191). */
		tcp_set_closed(c, 0);
		c = NULL;
	}
	if (!c)
		return no_conn(st, in, &seg, &local, &remote);
	return conn_input(c, in, &seg);
}

void tcp_icmp_error(struct netstack *st, int family, const uint8_t *src,
		    const uint8_t *dst, const uint8_t *th, uint32_t len,
		    int err, uint32_t mtu)
{
	struct netstack_addr local = { 0 }, remote = { 0 };
	struct netstack_tcp *c;
	uint32_t seq;
	unsigned hl = family == AF_INET6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;

	if (len < 8)
		return;
	local.family = remote.family = (uint16_t)family;
	memcpy(local.ip, src, ip_alen(family));
	memcpy(remote.ip, dst, ip_alen(family));
	local.port = get16(th);
	remote.port = get16(th + 2);
	seq = get32(th + 4);
	c = tcp_lookup(st, &local, &remote);
	if (!c || SEQ_LT(seq, c->snd_una) || SEQ_GEQ(seq, c->snd_nxt))
		return;
	if (err == -EMSGSIZE) {
		/* Path MTU (RFC 1191 / 8201): smaller segments from now on. */
		uint32_t m;

		if (mtu < MTU_MIN || mtu <= hl + TCP_HDR_LEN + TCP_MIN_MSS)
			return;
		m = mtu - hl - TCP_HDR_LEN - (c->ts_ok ? TCP_TSOPT_LEN : 0);
		if (m < c->mss) {
			c->mss = (uint16_t)m;
			tcp_retransmit_first(c);
		}
		return;
	}
	if (c->state == NETSTACK_TCP_SYN_SENT)
		tcp_set_closed(c, err);
}

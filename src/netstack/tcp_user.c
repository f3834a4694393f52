/* The application's side of TCP: listen, connect, deferred accept, send
 * and receive with backpressure, half-close, close and abort, options and
 * connection info. */
#include "netstack/stack.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t zero_ip[16];

int netstack_tcp_listen(struct netstack *st, const struct netstack_addr *local,
			unsigned flags, const struct netstack_listener_ops *ops,
			void *ctx, struct netstack_listener **out)
{
	struct netstack_listener *l;

	if (local->family != AF_UNSPEC && local->family != AF_INET &&
	    local->family != AF_INET6)
		return -EINVAL;
	for (l = st->tcp.listeners; l; l = l->next)
		if (l->local.family == local->family &&
		    l->local.port == local->port && l->flags == flags &&
		    !memcmp(l->local.ip, local->ip, 16))
			return -EADDRINUSE;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->st = st;
	l->local = *local;
	if (l->local.family == AF_UNSPEC)
		memset(l->local.ip, 0, 16);
	l->flags = flags;
	l->ops = ops;
	l->ctx = ctx;
	tcp_list_init(&l->half_open);
	l->next = st->tcp.listeners;
	st->tcp.listeners = l;
	*out = l;
	return 0;
}

void netstack_listener_close(struct netstack_listener *l)
{
	struct netstack_listener **pp;
	struct netstack *st;

	if (!l)
		return;
	st = l->st;
	for (pp = &st->tcp.listeners; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	while (!tcp_list_empty(&l->half_open)) {
		struct netstack_tcp *c = tcp_container_of(
			l->half_open.next, struct netstack_tcp, lst_node);

		tcp_list_del(&c->lst_node);
		l->nhalf--;
		c->listener = NULL;
		if (c->user_owned)
			continue; /* the application's now */
		if (!c->deferred)
			tcp_send_rst(c);
		tcp_set_closed(c, 0);
		tcp_release(c);
	}
	free(l);
}

int netstack_tcp_connect(struct netstack *st, const struct netstack_addr *local,
			 const struct netstack_addr *remote,
			 const struct netstack_tcp_ops *ops, void *ctx,
			 struct netstack_tcp **out)
{
	struct netstack_addr l = { 0 }, r = *remote;
	struct netstack_tcp *c;
	const uint8_t *ip;
	int ret;

	if (r.family != AF_INET && r.family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!r.port)
		return -EINVAL;
	if (r.family == AF_INET)
		memset(r.ip + 4, 0, 12);
	if (st->ops->may_open && !st->ops->may_open(st->ctx, &r))
		return -EACCES;
	l.family = r.family;
	if (local && local->family == r.family &&
	    memcmp(local->ip, zero_ip, 16)) {
		memcpy(l.ip, local->ip, 16);
	} else {
		ip = stack_first_addr(st, r.family);
		if (!ip)
			return -EADDRNOTAVAIL;
		memcpy(l.ip, ip, ip_alen(r.family));
	}
	if (local && local->port) {
		l.port = local->port;
		if (tcp_lookup(st, &l, &r))
			return -EADDRINUSE;
	} else {
		ret = tcp_pick_port(st, &l, &r);
		if (ret < 0)
			return ret;
	}
	c = tcp_alloc(st, &l, &r);
	if (!c)
		return -ENOBUFS;
	c->user_owned = true;
	c->ops = ops;
	c->ctx = ctx;
	c->state = NETSTACK_TCP_SYN_SENT;
	tcp_hash_insert(c);
	c->rtt_timing = true;
	c->rtt_seq = c->iss + 1;
	c->rtt_time = st->now;
	tcp_send_syn(c);
	tcp_timer_set(c, TT_REXMT, tcp_rto_ns(c));
	*out = c;
	return 0;
}

int netstack_tcp_accept(struct netstack_tcp *c)
{
	if (!c->deferred)
		return -EINVAL;
	c->deferred = false;
	tcp_timer_clear(c, TT_MISC);
	c->rtt_timing = true;
	c->rtt_seq = c->iss + 1;
	c->rtt_time = c->st->now;
	tcp_send_syn(c);
	tcp_timer_set(c, TT_REXMT, tcp_rto_ns(c));
	return 0;
}

/* An answer to the held SYN: a reset, or an ICMP error quoting a SYN
 * rebuilt from the connection (the original packet is gone). */
static void refuse_syn(struct netstack_tcp *c, enum netstack_accept how)
{
	struct netstack *st = c->st;
	uint8_t pkt[IPV6_HDR_LEN + TCP_HDR_LEN] = { 0 };
	struct ip_info in = { 0 };
	struct tcp_seg seg = { 0 };
	int family = c->local.family;
	uint32_t hl = family == AF_INET6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;
	uint8_t *th = pkt + hl;

	if (family == AF_INET6)
		ipv6_build(pkt, c->remote.ip, c->local.ip, IPPROTO_TCP,
			   TCP_HDR_LEN);
	else
		ipv4_build(st, pkt, c->remote.ip, c->local.ip, IPPROTO_TCP,
			   TCP_HDR_LEN);
	th[0] = (uint8_t)(c->remote.port >> 8);
	th[1] = (uint8_t)c->remote.port;
	th[2] = (uint8_t)(c->local.port >> 8);
	th[3] = (uint8_t)c->local.port;
	th[4] = (uint8_t)(c->irs >> 24);
	th[5] = (uint8_t)(c->irs >> 16);
	th[6] = (uint8_t)(c->irs >> 8);
	th[7] = (uint8_t)c->irs;
	th[12] = (TCP_HDR_LEN / 4) << 4;
	th[13] = TH_SYN;
	in.family = (uint16_t)family;
	in.proto = IPPROTO_TCP;
	in.src = pkt + (family == AF_INET6 ? 8 : 12);
	in.dst = pkt + (family == AF_INET6 ? 24 : 16);
	in.l4 = th;
	in.l4len = TCP_HDR_LEN;
	in.ip = pkt;
	in.iplen = hl + TCP_HDR_LEN;
	in.dst_ours = stack_is_ours(st, family, c->local.ip);
	seg.seq = c->irs;
	seg.flags = TH_SYN;
	st->stats.tcp_syn_refused++;
	if (how == NETSTACK_REFUSE_RST)
		tcp_send_rst_for(st, &in, &seg);
	else if (how != NETSTACK_REFUSE_DROP)
		icmp_send_unreach(st, &in, how);
}

int netstack_tcp_refuse(struct netstack_tcp *c, enum netstack_accept how)
{
	if (!c->deferred || how == NETSTACK_ACCEPT || how == NETSTACK_DEFER)
		return -EINVAL;
	refuse_syn(c, how);
	c->deferred = false;
	c->user_owned = false;
	tcp_set_closed(c, 0);
	tcp_release(c);
	return 0;
}

void netstack_tcp_set_ops(struct netstack_tcp *c,
			  const struct netstack_tcp_ops *ops, void *ctx)
{
	c->ops = ops;
	c->ctx = ctx;
}

void *netstack_tcp_ctx(const struct netstack_tcp *c)
{
	return c->ctx;
}

const struct netstack_addr *netstack_tcp_local(const struct netstack_tcp *c)
{
	return &c->local;
}

const struct netstack_addr *netstack_tcp_remote(const struct netstack_tcp *c)
{
	return &c->remote;
}

static int send_state(const struct netstack_tcp *c)
{
	if (c->err)
		return c->err;
	if (c->fin_queued)
		return -EPIPE;
	switch (c->state) {
	case NETSTACK_TCP_SYN_SENT:
	case NETSTACK_TCP_SYN_RECEIVED:
	case NETSTACK_TCP_ESTABLISHED:
	case NETSTACK_TCP_CLOSE_WAIT:
		return 0;
	default:
		return -EPIPE;
	}
}

size_t netstack_tcp_send_space(const struct netstack_tcp *c)
{
	size_t room;

	if (send_state(c))
		return 0;
	room = c->sbuf.max > c->sbuf.len ? c->sbuf.max - c->sbuf.len : 0;
	if (room > tcp_mem_avail_send(c->st))
		room = tcp_mem_avail_send(c->st);
	return room;
}

static void push(struct netstack_tcp *c)
{
	if (c->state != NETSTACK_TCP_SYN_SENT &&
	    c->state != NETSTACK_TCP_SYN_RECEIVED)
		tcp_output(c);
}

ssize_t netstack_tcp_send(struct netstack_tcp *c, const void *buf, size_t len)
{
	uint32_t room, n;
	int ret = send_state(c);

	if (ret)
		return ret;
	room = c->sbuf.max > c->sbuf.len ? c->sbuf.max - c->sbuf.len : 0;
	n = len < room ? (uint32_t)len : room;
	n = tcp_buf_write(c->st, &c->sbuf, c->sbuf.len, buf, n);
	c->sbuf.len += n;
	if (n < len)
		c->want_writable = true;
	if (n < room && n < len)
		tcp_mem_wait(c); /* short of memory, not of buffer */
	if (n)
		push(c);
	return n;
}

int netstack_tcp_send_reserve(struct netstack_tcp *c, struct iovec *iov,
			      int iovcnt)
{
	uint32_t room;
	int n;

	if (send_state(c))
		return 0;
	room = c->sbuf.max > c->sbuf.len ? c->sbuf.max - c->sbuf.len : 0;
	n = tcp_buf_iov(c->st, &c->sbuf, c->sbuf.len, room, iov, iovcnt,
			true);
	if (!n) {
		c->want_writable = true;
		if (room)
			tcp_mem_wait(c);
	}
	return n;
}

int netstack_tcp_send_commit(struct netstack_tcp *c, size_t len)
{
	uint32_t room;
	int ret = send_state(c);

	if (ret)
		return ret;
	room = c->sbuf.max > c->sbuf.len ? c->sbuf.max - c->sbuf.len : 0;
	if (len > room)
		return -EINVAL;
	c->sbuf.len += (uint32_t)len;
	if (len)
		push(c);
	else if (!c->sbuf.len)
		tcp_buf_free(c->st, &c->sbuf); /* an unused reservation */
	return 0;
}

/* After the application read: free idle memory, and tell the peer when
 * the window opened enough to matter. */
static void after_read(struct netstack_tcp *c)
{
	uint32_t old, now;

	if (!c->rbuf.len && !c->ooo.n)
		tcp_buf_free(c->st, &c->rbuf);
	if (c->state == NETSTACK_TCP_CLOSED || c->rcv_fin ||
	    c->state == NETSTACK_TCP_SYN_SENT)
		return;
	old = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	now = c->rbuf.max > c->rbuf.len ? c->rbuf.max - c->rbuf.len : 0;
	if (now >= old + 2u * c->our_mss &&
	    (old < c->rbuf.max / 2 || old < c->our_mss)) {
		c->ack_now = true;
		tcp_schedule_flush(c);
	}
}

ssize_t netstack_tcp_recv(struct netstack_tcp *c, void *buf, size_t len)
{
	uint32_t n;

	if (!c->rbuf.len) {
		if (c->rcv_fin)
			return 0;
		if (c->err)
			return c->err;
		if (c->state == NETSTACK_TCP_CLOSED)
			return 0;
		return -EAGAIN;
	}
	n = len < c->rbuf.len ? (uint32_t)len : c->rbuf.len;
	tcp_buf_read(&c->rbuf, 0, buf, n);
	tcp_buf_consume(c->st, &c->rbuf, n);
	after_read(c);
	return n;
}

int netstack_tcp_recv_peek(struct netstack_tcp *c, struct iovec *iov,
			   int iovcnt)
{
	return tcp_buf_iov(c->st, &c->rbuf, 0, c->rbuf.len, iov, iovcnt,
			   false);
}

void netstack_tcp_recv_consume(struct netstack_tcp *c, size_t len)
{
	if (!len)
		return;
	tcp_buf_consume(c->st, &c->rbuf, len > c->rbuf.len ? c->rbuf.len
							    : (uint32_t)len);
	after_read(c);
}

size_t netstack_tcp_recv_avail(const struct netstack_tcp *c)
{
	return c->rbuf.len;
}

bool netstack_tcp_eof(const struct netstack_tcp *c)
{
	return c->rcv_fin && !c->rbuf.len;
}

int netstack_tcp_shutdown(struct netstack_tcp *c)
{
	switch (c->state) {
	case NETSTACK_TCP_SYN_SENT:
	case NETSTACK_TCP_SYN_RECEIVED:
		c->fin_queued = true;
		return 0;
	case NETSTACK_TCP_ESTABLISHED:
		c->state = NETSTACK_TCP_FIN_WAIT_1;
		break;
	case NETSTACK_TCP_CLOSE_WAIT:
		c->state = NETSTACK_TCP_LAST_ACK;
		break;
	default:
		return c->fin_queued ? 0 : -ENOTCONN;
	}
	c->fin_queued = true;
	tcp_output(c);
	return 0;
}

void netstack_tcp_abort(struct netstack_tcp *c)
{
	if (!c)
		return;
	c->user_owned = false;
	c->ops = NULL;
	if (c->deferred) {
		refuse_syn(c, NETSTACK_REFUSE_RST);
		c->deferred = false;
	} else if (c->state != NETSTACK_TCP_CLOSED &&
		   c->state != NETSTACK_TCP_SYN_SENT &&
		   c->state != NETSTACK_TCP_TIME_WAIT) {
		tcp_send_rst(c);
	}
	if (c->state != NETSTACK_TCP_CLOSED)
		tcp_set_closed(c, -ECONNABORTED);
	tcp_release(c);
}

void netstack_tcp_reset(struct netstack_tcp *c, int err)
{
	if (!c || c->state == NETSTACK_TCP_CLOSED)
		return;
	if (c->state != NETSTACK_TCP_SYN_SENT &&
	    c->state != NETSTACK_TCP_TIME_WAIT)
		tcp_send_rst(c);
	tcp_set_closed(c, err);
}

void netstack_tcp_close(struct netstack_tcp *c)
{
	if (!c)
		return;
	if (c->deferred || c->rbuf.len || c->state == NETSTACK_TCP_SYN_SENT ||
	    c->state == NETSTACK_TCP_CLOSED) {
		netstack_tcp_abort(c);
		return;
	}
	c->user_owned = false;
	c->ops = NULL;
	c->keepalive = false;
	switch (c->state) {
	case NETSTACK_TCP_SYN_RECEIVED:
	case NETSTACK_TCP_ESTABLISHED:
	case NETSTACK_TCP_CLOSE_WAIT:
		netstack_tcp_shutdown(c);
		break;
	case NETSTACK_TCP_FIN_WAIT_2:
		tcp_timer_set(c, TT_MISC, TCP_FIN_WAIT_2_MS * NS_PER_MS);
		break;
	default:
		break;
	}
	/* Nothing outstanding to report on: the block goes when done. */
	tcp_buf_free(c->st, &c->rbuf);
}

void netstack_tcp_set_keepalive(struct netstack_tcp *c, bool on)
{
	c->keepalive = on;
	if (on)
		tcp_arm_keepalive(c);
	else if (c->state == NETSTACK_TCP_ESTABLISHED)
		tcp_timer_clear(c, TT_MISC);
}

void netstack_tcp_set_nagle(struct netstack_tcp *c, bool on)
{
	c->nagle = on;
}

void netstack_tcp_get_info(const struct netstack_tcp *c,
			   struct netstack_tcp_info *info)
{
	memset(info, 0, sizeof(*info));
	info->state = (enum netstack_tcp_state)c->state;
	info->mss = c->mss;
	info->snd_wscale = c->ws_ok ? c->snd_wscale : 0xff;
	info->rcv_wscale = c->ws_ok ? c->rcv_wscale : 0xff;
	info->sack = c->sack_ok;
	info->timestamps = c->ts_ok;
	info->cwnd = c->cc.cwnd;
	info->ssthresh = c->cc.ssthresh;
	info->srtt_us = c->srtt_us;
	info->rttvar_us = c->rttvar_us;
	info->rto_ms = c->rto_ms;
	info->snd_wnd = c->snd_wnd;
	info->rcv_wnd = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt
						       : 0;
	info->sbuf_used = c->sbuf.len;
	info->sbuf_max = c->sbuf.max;
	info->rbuf_used = c->rbuf.len;
	info->rbuf_max = c->rbuf.max;
	info->bytes_sent = c->bytes_sent;
	info->bytes_acked = c->bytes_acked;
	info->bytes_received = c->bytes_received;
	info->retransmits = c->retransmits;
	info->sacked_bytes = c->sacked_bytes;
	info->lost_bytes = 0;
	info->pacing_rate = tcp_pacing_rate(c);
	info->delivery_rate = tcp_bbr_bw(c);
	if (c->state != NETSTACK_TCP_CLOSED) {
		uint32_t lh = tcp_sack_lost_high(c);

		info->lost_bytes = (lh - c->snd_una) -
				   seq_ranges_covered(&c->sacked, c->snd_una,
						      lh);
	}
}

void netstack_tcp_foreach(struct netstack *st,
			  void (*fn)(void *ctx, const struct netstack_tcp *c),
			  void *ctx)
{
	struct tcp_list *n;

	for (n = st->tcp.all_list.next; n != &st->tcp.all_list; n = n->next)
		fn(ctx, tcp_container_of(n, struct netstack_tcp, all_node));
}

const char *netstack_tcp_state_name(enum netstack_tcp_state s)
{
	static const char *const names[] = {
		"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
		"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING",
		"LAST-ACK", "TIME-WAIT",
	};

	if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[s];
}

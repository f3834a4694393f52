/* ICMP (RFC 792) and ICMPv6 (RFC 4443): echo replies for our addresses,
 * echo requests to other addresses handed to the echo handler (egress),
 * destination-unreachable errors we originate (rate limited), and errors
 * we receive, handed to the TCP or UDP socket they quote. */
#include "netstack/stack.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

enum {
	ICMP_ECHOREPLY_ = 0,
	ICMP_UNREACH_ = 3,
	ICMP_ECHO_ = 8,
	ICMP_TIMXCEED_ = 11,
	ICMP_UNREACH_NET_ = 0,
	ICMP_UNREACH_HOST_ = 1,
	ICMP_UNREACH_PROTO_ = 2,
	ICMP_UNREACH_PORT_ = 3,
	ICMP_UNREACH_NEEDFRAG_ = 4,
	ICMP_UNREACH_ADMIN_ = 13,
	ICMP_ERR_QUOTE_V4 = 576,  /* RFC 1812 4.3.2.3 */
	ICMP_ERR_QUOTE_V6 = 1280, /* RFC 4443 2.4 (c) */

	ICMP6_UNREACH = 1,
	ICMP6_TOOBIG = 2,
	ICMP6_TIMXCEED = 3,
	ICMP6_ECHO = 128,
	ICMP6_ECHOREPLY = 129,
	ICMP6_UNREACH_NOROUTE = 0,
	ICMP6_UNREACH_ADMIN = 1,
	ICMP6_UNREACH_ADDR = 3,
	ICMP6_UNREACH_PORT = 4,

	ICMP_ECHO_HDR_LEN = 8,
};

struct netstack_echo {
	struct netstack *st;
	const struct netstack_echo_ops *ops;
	void *ctx;
};

/* An echo request to an address not ours: the echo handler's, if any. */
static enum netstack_verdict echo_pass(struct netstack *st,
				       const struct ip_info *in)
{
	struct netstack_echo *e = st->echo;
	struct netstack_addr src = { 0 }, dst = { 0 };
	enum netstack_accept how;
	const uint8_t *p = in->l4;

	if (!e)
		return NETSTACK_PKT_DROP;
	src.family = dst.family = in->family;
	memcpy(src.ip, in->src, ip_alen(in->family));
	memcpy(dst.ip, in->dst, ip_alen(in->family));
	st->stats.icmp_echo_passed++;
	how = e->ops->request(e->ctx, e, &src, &dst,
			      (uint16_t)(p[4] << 8 | p[5]),
			      (uint16_t)(p[6] << 8 | p[7]),
			      p + ICMP_ECHO_HDR_LEN,
			      in->l4len - ICMP_ECHO_HDR_LEN);
	if (how == NETSTACK_ACCEPT || how == NETSTACK_DEFER)
		return NETSTACK_PKT_OK;
	if (how != NETSTACK_REFUSE_DROP)
		icmp_send_unreach(st, in, how);
	return NETSTACK_PKT_DROP;
}

static void echo_reply(struct netstack *st, const struct ip_info *in,
		       uint8_t type)
{
	struct pktbuf *pb;
	uint8_t *p = stack_pkt_alloc(st, in->family, &pb);
	uint8_t src[16], dst[16];
	uint32_t sum;
	uint16_t c;

	if (!p)
		return;
	if (in->l4len > MTU_MAX - IPV6_HDR_LEN) {
		pktpool_put(st->pool, pb);
		return;
	}
	memcpy(src, in->dst, ip_alen(in->family));
	memcpy(dst, in->src, ip_alen(in->family));
	memcpy(p, in->l4, in->l4len);
	p[0] = type;
	p[1] = 0;
	p[2] = p[3] = 0;
	sum = in->family == AF_INET6
		      ? ns_csum_pseudo(AF_INET6, src, dst, IPPROTO_ICMPV6_,
				    in->l4len)
		      : 0;
	c = ns_csum_fold(ns_csum_partial(p, in->l4len, sum));
	memcpy(p + 2, &c, 2);
	st->stats.icmp_echo_replies++;
	stack_ip_output(st, pb, in->family, src, dst,
			in->family == AF_INET6 ? IPPROTO_ICMPV6_
					       : IPPROTO_ICMP,
			in->l4len);
}

/* Hands an error quoting an IP packet (quote, qlen) to the socket. */
static void quoted_error(struct netstack *st, int family, const uint8_t *q,
			 uint32_t qlen, int err, uint32_t mtu)
{
	uint32_t hl;
	uint8_t proto;
	const uint8_t *src, *dst, *l4;

	if (family == AF_INET) {
		if (qlen < IPV4_HDR_LEN || (q[0] >> 4) != 4)
			return;
		hl = (uint32_t)(q[0] & 0x0f) * 4;
		if (hl < IPV4_HDR_LEN || qlen < hl + 8)
			return;
		proto = q[9];
		src = q + 12;
		dst = q + 16;
	} else {
		if (qlen < IPV6_HDR_LEN + 8 || (q[0] >> 4) != 6)
			return;
		hl = IPV6_HDR_LEN;
		proto = q[6];
		src = q + 8;
		dst = q + 24;
	}
	l4 = q + hl;
	st->stats.icmp_in_errors++;
	if (proto == IPPROTO_TCP)
		tcp_icmp_error(st, family, src, dst, l4, qlen - hl, err, mtu);
	else if (proto == IPPROTO_UDP)
		udp_icmp_error(st, family, src, dst, l4, qlen - hl, err);
}

enum netstack_verdict icmp_input(struct netstack *st, struct ip_info *in)
{
	const uint8_t *p = in->l4;
	int err;

	if (in->l4len < 8 || ns_csum_fold(ns_csum_partial(p, in->l4len, 0)) != 0) {
		st->stats.ip_bad_csum += in->l4len >= 8;
		return NETSTACK_PKT_DROP;
	}
	switch (p[0]) {
	case ICMP_ECHO_:
		if (!in->dst_ours)
			return echo_pass(st, in);
		echo_reply(st, in, ICMP_ECHOREPLY_);
		return NETSTACK_PKT_OK;
	case ICMP_UNREACH_:
		switch (p[1]) {
		case ICMP_UNREACH_NET_:
			err = -ENETUNREACH;
			break;
		case ICMP_UNREACH_PORT_:
		case ICMP_UNREACH_PROTO_:
			err = -ECONNREFUSED;
			break;
		case ICMP_UNREACH_NEEDFRAG_:
			err = -EMSGSIZE;
			break;
		default:
			err = -EHOSTUNREACH;
			break;
		}
		quoted_error(st, AF_INET, p + 8, in->l4len - 8, err,
			     (uint32_t)p[6] << 8 | p[7]);
		return NETSTACK_PKT_OK;
	default:
		return NETSTACK_PKT_DROP;
	}
}

enum netstack_verdict icmp6_input(struct netstack *st, struct ip_info *in)
{
	const uint8_t *p = in->l4;
	uint32_t sum;
	int err;

	if (in->l4len < 8)
		return NETSTACK_PKT_DROP;
	sum = ns_csum_pseudo(AF_INET6, in->src, in->dst, IPPROTO_ICMPV6_,
			  in->l4len);
	if (ns_csum_fold(ns_csum_partial(p, in->l4len, sum)) != 0) {
		st->stats.ip_bad_csum++;
		return NETSTACK_PKT_DROP;
	}
	switch (p[0]) {
	case ICMP6_ECHO:
		if (!in->dst_ours)
			return echo_pass(st, in);
		echo_reply(st, in, ICMP6_ECHOREPLY);
		return NETSTACK_PKT_OK;
	case ICMP6_UNREACH:
		switch (p[1]) {
		case ICMP6_UNREACH_NOROUTE:
			err = -ENETUNREACH;
			break;
		case ICMP6_UNREACH_PORT:
			err = -ECONNREFUSED;
			break;
		default:
			err = -EHOSTUNREACH;
			break;
		}
		quoted_error(st, AF_INET6, p + 8, in->l4len - 8, err, 0);
		return NETSTACK_PKT_OK;
	case ICMP6_TOOBIG:
		quoted_error(st, AF_INET6, p + 8, in->l4len - 8, -EMSGSIZE,
			     (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
				     (uint32_t)p[6] << 8 | p[7]);
		return NETSTACK_PKT_OK;
	default:
		return NETSTACK_PKT_DROP;
	}
}

/* An error of type and code about the packet info describes, from src to
 * its source, quoting as much of it as the RFCs allow. */
static int send_error(struct netstack *st, const struct ip_info *info,
		      uint8_t type, uint8_t code, const uint8_t *src)
{
	bool v6 = info->family == AF_INET6;
	uint32_t quote = info->iplen, limit, sum;
	struct pktbuf *pb;
	uint8_t *p;
	uint16_t c;

	if (!stack_icmp_allowed(st))
		return -EAGAIN;
	limit = (v6 ? ICMP_ERR_QUOTE_V6 - IPV6_HDR_LEN
		    : ICMP_ERR_QUOTE_V4 - IPV4_HDR_LEN) - 8;
	if (quote > limit)
		quote = limit;
	p = stack_pkt_alloc(st, info->family, &pb);
	if (!p)
		return -ENOBUFS;
	p[0] = type;
	p[1] = code;
	memset(p + 2, 0, 6);
	memcpy(p + 8, info->ip, quote);
	sum = v6 ? ns_csum_pseudo(AF_INET6, src, info->src, IPPROTO_ICMPV6_,
			       quote + 8)
		 : 0;
	c = ns_csum_fold(ns_csum_partial(p, quote + 8, sum));
	memcpy(p + 2, &c, 2);
	stack_ip_output(st, pb, info->family, src, info->src,
			v6 ? IPPROTO_ICMPV6_ : IPPROTO_ICMP, quote + 8);
	return 0;
}

int icmp_send_unreach(struct netstack *st, const struct ip_info *info,
		      enum netstack_accept how)
{
	bool v6 = info->family == AF_INET6, port;
	const uint8_t *src;
	uint8_t code;
	int ret;

	switch (how) {
	case NETSTACK_REFUSE_PROHIBITED:
		code = v6 ? ICMP6_UNREACH_ADMIN : ICMP_UNREACH_ADMIN_;
		break;
	case NETSTACK_REFUSE_NET_UNREACH:
		code = v6 ? ICMP6_UNREACH_NOROUTE : ICMP_UNREACH_NET_;
		break;
	case NETSTACK_REFUSE_PORT_UNREACH:
	case NETSTACK_REFUSE_RST: /* UDP and echo: a closed port */
		code = v6 ? ICMP6_UNREACH_PORT : ICMP_UNREACH_PORT_;
		break;
	default:
		code = v6 ? ICMP6_UNREACH_ADDR : ICMP_UNREACH_HOST_;
		break;
	}
	/* A host answers for its port; a router (egress) for the rest. */
	port = how == NETSTACK_REFUSE_PORT_UNREACH || how == NETSTACK_REFUSE_RST;
	src = port || info->dst_ours ? NULL
				     : stack_first_addr(st, info->family);
	if (!src)
		src = info->dst;
	ret = send_error(st, info, v6 ? ICMP6_UNREACH : ICMP_UNREACH_, code,
			 src);
	if (!ret)
		st->stats.icmp_unreach_sent++;
	return ret;
}

/* Whether an error may answer the packet in: not an ICMP error, not a
 * fragment after the first, not from a multicast, broadcast or unspecified
 * source (RFC 1812 4.3.2.7, RFC 4443 2.4 (e)). */
static bool answerable(const struct ip_info *in, bool later_fragment)
{
	const uint8_t *s = in->src;

	if (later_fragment)
		return false;
	if (in->family == AF_INET) {
		if (s[0] >= 224 || s[0] == 0)
			return false;
		if (in->proto == IPPROTO_ICMP &&
		    (in->l4len < 1 || (in->l4[0] != ICMP_ECHO_ &&
				       in->l4[0] != ICMP_ECHOREPLY_)))
			return false;
	} else {
		static const uint8_t zero[16];

		if (s[0] == 0xff || !memcmp(s, zero, 16))
			return false;
		if (in->proto == IPPROTO_ICMPV6_ &&
		    (in->l4len < 1 || in->l4[0] < 128))
			return false;
	}
	return true;
}

int netstack_icmp_error(struct netstack *st, const uint8_t *ip, size_t len,
			enum netstack_icmp_error why)
{
	struct ip_info in = { 0 };
	bool later = false, v6;
	const uint8_t *src;
	uint32_t hl;
	uint8_t type, code;

	if (len < IPV4_HDR_LEN)
		return -EINVAL;
	if ((ip[0] >> 4) == 4) {
		hl = (uint32_t)(ip[0] & 0x0f) * 4;
		if (hl < IPV4_HDR_LEN || len < hl)
			return -EINVAL;
		in.family = AF_INET;
		in.proto = ip[9];
		in.src = ip + 12;
		in.dst = ip + 16;
		later = ((ip[6] & 0x1f) << 8 | ip[7]) != 0;
	} else if ((ip[0] >> 4) == 6 && len >= IPV6_HDR_LEN) {
		hl = IPV6_HDR_LEN;
		in.family = AF_INET6;
		in.proto = ip[6]; /* an extension header is quoted as is */
		in.src = ip + 8;
		in.dst = ip + 24;
	} else {
		return -EINVAL;
	}
	in.l4 = (uint8_t *)(uintptr_t)(ip + hl);
	in.l4len = (uint32_t)len - hl;
	in.ip = ip;
	in.iplen = (uint32_t)len;
	if (!answerable(&in, later))
		return -EINVAL;
	src = stack_first_addr(st, in.family);
	if (!src)
		return -EADDRNOTAVAIL;
	v6 = in.family == AF_INET6;
	if (why == NETSTACK_ICMP_TTL_EXCEEDED) {
		type = v6 ? ICMP6_TIMXCEED : ICMP_TIMXCEED_;
		code = 0;
	} else {
		type = v6 ? ICMP6_UNREACH : ICMP_UNREACH_;
		code = v6 ? ICMP6_UNREACH_ADMIN : ICMP_UNREACH_ADMIN_;
	}
	return send_error(st, &in, type, code, src);
}

int icmp_send_unreach_rebuilt(struct netstack *st, int family,
			      const uint8_t *src, const uint8_t *dst,
			      uint8_t proto, const uint8_t l4[8],
			      enum netstack_accept how)
{
	uint8_t pkt[IPV6_HDR_LEN + 8];
	struct ip_info in = { 0 };
	uint32_t hl = family == AF_INET6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;

	if ((family != AF_INET && family != AF_INET6) ||
	    how == NETSTACK_ACCEPT || how == NETSTACK_DEFER)
		return -EINVAL;
	if (how == NETSTACK_REFUSE_DROP)
		return 0;
	if (family == AF_INET6)
		ipv6_build(pkt, src, dst, proto, 8);
	else
		ipv4_build(st, pkt, src, dst, proto, 8);
	memcpy(pkt + hl, l4, 8);
	in.family = (uint16_t)family;
	in.proto = proto;
	in.src = pkt + (family == AF_INET6 ? 8 : 12);
	in.dst = pkt + (family == AF_INET6 ? 24 : 16);
	in.l4 = pkt + hl;
	in.l4len = 8;
	in.ip = pkt;
	in.iplen = hl + 8;
	in.dst_ours = stack_is_ours(st, family, dst);
	return icmp_send_unreach(st, &in, how);
}

/* ---- the echo handler */

int netstack_echo_open(struct netstack *st, const struct netstack_echo_ops *ops,
		       void *ctx, struct netstack_echo **out)
{
	struct netstack_echo *e;

	if (st->echo)
		return -EADDRINUSE;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->st = st;
	e->ops = ops;
	e->ctx = ctx;
	st->echo = e;
	*out = e;
	return 0;
}

void netstack_echo_close(struct netstack_echo *e)
{
	if (!e)
		return;
	e->st->echo = NULL;
	free(e);
}

void icmp_free_all(struct netstack *st)
{
	free(st->echo);
	st->echo = NULL;
}

/* The 8-byte echo header of type, id and seq, checksum zero. */
static void echo_header(uint8_t *p, uint8_t type, uint16_t id, uint16_t seq)
{
	p[0] = type;
	p[1] = 0;
	p[2] = p[3] = 0;
	p[4] = (uint8_t)(id >> 8);
	p[5] = (uint8_t)id;
	p[6] = (uint8_t)(seq >> 8);
	p[7] = (uint8_t)seq;
}

int netstack_echo_reply(struct netstack_echo *e,
			const struct netstack_addr *src,
			const struct netstack_addr *dst, uint16_t id,
			uint16_t seq, const void *data, size_t len)
{
	struct netstack *st = e->st;
	bool v6 = dst->family == AF_INET6;
	size_t hl = v6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;
	uint32_t l4len = (uint32_t)(ICMP_ECHO_HDR_LEN + len), sum;
	struct pktbuf *pb;
	uint8_t *p;
	uint16_t c;

	if ((dst->family != AF_INET && dst->family != AF_INET6) ||
	    src->family != dst->family)
		return -EAFNOSUPPORT;
	if (hl + ICMP_ECHO_HDR_LEN + len > st->cfg.mtu)
		return -EMSGSIZE;
	p = stack_pkt_alloc(st, dst->family, &pb);
	if (!p)
		return -ENOBUFS;
	echo_header(p, v6 ? ICMP6_ECHOREPLY : ICMP_ECHOREPLY_, id, seq);
	memcpy(p + ICMP_ECHO_HDR_LEN, data, len);
	sum = v6 ? ns_csum_pseudo(AF_INET6, src->ip, dst->ip, IPPROTO_ICMPV6_,
				  l4len)
		 : 0;
	c = ns_csum_fold(ns_csum_partial(p, l4len, sum));
	memcpy(p + 2, &c, 2);
	st->stats.icmp_echo_replies++;
	stack_ip_output(st, pb, dst->family, src->ip, dst->ip,
			v6 ? IPPROTO_ICMPV6_ : IPPROTO_ICMP, l4len);
	return 0;
}

int netstack_echo_refuse(struct netstack_echo *e,
			 const struct netstack_addr *from,
			 const struct netstack_addr *to, uint16_t id,
			 uint16_t seq, enum netstack_accept how)
{
	bool v6 = to->family == AF_INET6;
	uint8_t hdr[ICMP_ECHO_HDR_LEN];

	if (from->family != to->family)
		return -EINVAL;
	echo_header(hdr, v6 ? ICMP6_ECHO : ICMP_ECHO_, id, seq);
	return icmp_send_unreach_rebuilt(e->st, to->family, from->ip, to->ip,
					 v6 ? IPPROTO_ICMPV6_ : IPPROTO_ICMP,
					 hdr, how);
}

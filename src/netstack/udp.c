/* UDP (RFC 768): sockets bound to an address and port, any address, or any
 * port (transparent, for egress). Datagrams go straight to the socket's
 * callback: nothing queues in the stack. */
#include "netstack/stack.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

enum {
	UDP_HDR_LEN = 8,
};

struct netstack_udp {
	struct netstack *st;
	struct netstack_udp *next;
	struct netstack_addr local;
	unsigned flags;
	bool client; /* bound to an ephemeral port: its sends open */
	const struct netstack_udp_ops *ops;
	void *ctx;
};

static const uint8_t zero_ip[16];

static bool ip_is_any(const struct netstack_addr *a)
{
	return a->family == AF_UNSPEC || !memcmp(a->ip, zero_ip, 16);
}

static struct netstack_udp **chain_of(struct netstack *st, uint16_t port)
{
	if (!port)
		return &st->udp.any_port;
	return &st->udp.port_hash[port % UDP_HASH_SIZE];
}

/* Match quality of u for a datagram to (family, ip, port): 0 none, else
 * higher is more specific. */
static int match(const struct netstack_udp *u, int family, const uint8_t *ip,
		 uint16_t port, bool ours)
{
	int score = 1;

	if (u->local.port && u->local.port != port)
		return 0;
	if (u->local.port)
		score += 4;
	if (u->local.family != AF_UNSPEC && u->local.family != family)
		return 0;
	if (!ip_is_any(&u->local)) {
		if (memcmp(u->local.ip, ip, ip_alen(family)))
			return 0;
		score += 8;
	} else if (!ours) {
		if (!(u->flags & NETSTACK_TRANSPARENT))
			return 0;
	} else {
		score += 2;
	}
	return score;
}

static struct netstack_udp *lookup(struct netstack *st, int family,
				   const uint8_t *ip, uint16_t port, bool ours)
{
	struct netstack_udp *u, *best = NULL;
	int s, bs = 0;

	for (u = *chain_of(st, port); u; u = u->next) {
		s = match(u, family, ip, port, ours);
		if (s > bs) {
			bs = s;
			best = u;
		}
	}
	if (best)
		return best;
	for (u = st->udp.any_port; u; u = u->next) {
		s = match(u, family, ip, port, ours);
		if (s > bs) {
			bs = s;
			best = u;
		}
	}
	return best;
}

static bool bound_exact(struct netstack *st, const struct netstack_addr *a)
{
	struct netstack_udp *u;

	for (u = *chain_of(st, a->port); u; u = u->next)
		if (u->local.port == a->port &&
		    u->local.family == a->family &&
		    !memcmp(u->local.ip, a->ip, 16))
			return true;
	return false;
}

int netstack_udp_open(struct netstack *st, const struct netstack_addr *local,
		      unsigned flags, const struct netstack_udp_ops *ops,
		      void *ctx, struct netstack_udp **out)
{
	struct netstack_addr a = *local;
	struct netstack_udp *u, **chain;
	int tries;

	if (a.family != AF_UNSPEC && a.family != AF_INET &&
	    a.family != AF_INET6)
		return -EINVAL;
	if (a.family == AF_UNSPEC)
		memset(a.ip, 0, 16);
	if (!a.port && !ip_is_any(&a)) {
		for (tries = 0; tries < 1000; ++tries) {
			a.port = (uint16_t)(TCP_EPHEMERAL_LO +
					    random_uniform(TCP_EPHEMERAL_HI -
							   TCP_EPHEMERAL_LO));
			if (!bound_exact(st, &a))
				break;
		}
		if (tries == 1000)
			return -EADDRINUSE;
	} else if (bound_exact(st, &a)) {
		return -EADDRINUSE;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->st = st;
	u->local = a;
	u->flags = flags;
	u->client = !local->port && !ip_is_any(&a);
	u->ops = ops;
	u->ctx = ctx;
	chain = chain_of(st, a.port);
	u->next = *chain;
	*chain = u;
	st->udp.count++;
	*out = u;
	return 0;
}

void netstack_udp_close(struct netstack_udp *u)
{
	struct netstack_udp **pp;

	if (!u)
		return;
	for (pp = chain_of(u->st, u->local.port); *pp; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	u->st->udp.count--;
	free(u);
}

void udp_free_all(struct netstack *st)
{
	struct netstack_udp *u, *n;
	unsigned i;

	for (i = 0; i <= UDP_HASH_SIZE; ++i) {
		u = i < UDP_HASH_SIZE ? st->udp.port_hash[i] : st->udp.any_port;
		for (; u; u = n) {
			n = u->next;
			free(u);
		}
	}
	memset(&st->udp, 0, sizeof(st->udp));
}

int netstack_udp_refuse(struct netstack_udp *u,
			const struct netstack_addr *from,
			const struct netstack_addr *to,
			enum netstack_accept how)
{
	uint8_t hdr[UDP_HDR_LEN] = { 0 };

	if (from->family != to->family || !from->port || !to->port)
		return -EINVAL;
	hdr[0] = (uint8_t)(from->port >> 8);
	hdr[1] = (uint8_t)from->port;
	hdr[2] = (uint8_t)(to->port >> 8);
	hdr[3] = (uint8_t)to->port;
	hdr[5] = UDP_HDR_LEN; /* the length; no checksum */
	return icmp_send_unreach_rebuilt(u->st, to->family, from->ip, to->ip,
					 IPPROTO_UDP, hdr, how);
}

const struct netstack_addr *netstack_udp_local(const struct netstack_udp *u)
{
	return &u->local;
}

enum netstack_verdict udp_input(struct netstack *st, struct ip_info *in)
{
	const uint8_t *p = in->l4;
	struct netstack_addr src = { 0 }, dst = { 0 };
	enum netstack_accept how;
	struct netstack_udp *u;
	uint32_t ulen, sum;
	uint16_t sport, dport, csum;

	if (in->l4len < UDP_HDR_LEN)
		return NETSTACK_PKT_DROP;
	ulen = (uint32_t)p[4] << 8 | p[5];
	if (ulen < UDP_HDR_LEN || ulen > in->l4len)
		return NETSTACK_PKT_DROP;
	memcpy(&csum, p + 6, 2);
	if (csum || in->family == AF_INET6) {
		sum = ns_csum_pseudo(in->family, in->src, in->dst, IPPROTO_UDP,
				  ulen);
		if (ns_csum_fold(ns_csum_partial(p, ulen, sum)) != 0) {
			st->stats.ip_bad_csum++;
			return NETSTACK_PKT_DROP;
		}
	}
	sport = (uint16_t)(p[0] << 8 | p[1]);
	dport = (uint16_t)(p[2] << 8 | p[3]);
	if (!dport || !sport)
		return NETSTACK_PKT_DROP;
	u = lookup(st, in->family, in->dst, dport, in->dst_ours);
	if (!u) {
		st->stats.udp_no_port++;
		if (in->dst_ours)
			icmp_send_unreach(st, in, NETSTACK_REFUSE_PORT_UNREACH);
		return NETSTACK_PKT_DROP;
	}
	src.family = dst.family = in->family;
	memcpy(src.ip, in->src, ip_alen(in->family));
	memcpy(dst.ip, in->dst, ip_alen(in->family));
	src.port = sport;
	dst.port = dport;
	how = u->ops && u->ops->recv
		      ? u->ops->recv(u->ctx, u, &src, &dst, p + UDP_HDR_LEN,
				     ulen - UDP_HDR_LEN)
		      : NETSTACK_ACCEPT;
	if (how == NETSTACK_ACCEPT || how == NETSTACK_DEFER) {
		st->stats.udp_in++;
		return NETSTACK_PKT_OK;
	}
	st->stats.udp_refused++;
	if (how != NETSTACK_REFUSE_DROP)
		icmp_send_unreach(st, in, how);
	return NETSTACK_PKT_DROP;
}

void udp_icmp_error(struct netstack *st, int family, const uint8_t *src,
		    const uint8_t *dst, const uint8_t *udp, uint32_t len,
		    int err)
{
	struct netstack_addr remote = { 0 };
	struct netstack_udp *u;
	uint16_t sport, dport;

	if (len < 4)
		return;
	sport = (uint16_t)(udp[0] << 8 | udp[1]);
	dport = (uint16_t)(udp[2] << 8 | udp[3]);
	/* The quoted datagram was ours: its source is our socket. */
	u = lookup(st, family, src, sport, true);
	if (!u)
		u = lookup(st, family, src, sport, false);
	if (!u || !u->ops || !u->ops->error)
		return;
	remote.family = (uint16_t)family;
	remote.port = dport;
	memcpy(remote.ip, dst, ip_alen(family));
	u->ops->error(u->ctx, u, &remote, err);
}

int netstack_udp_sendto(struct netstack_udp *u,
			const struct netstack_addr *src,
			const struct netstack_addr *dst, const void *data,
			size_t len)
{
	struct netstack *st = u->st;
	const uint8_t *sip = NULL;
	uint16_t sport = u->local.port, c;
	size_t hl = dst->family == AF_INET6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;
	struct pktbuf *pb;
	uint32_t sum, ulen;
	uint8_t *p;

	if (dst->family != AF_INET && dst->family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!dst->port)
		return -EINVAL;
	if (hl + UDP_HDR_LEN + len > st->cfg.mtu)
		return -EMSGSIZE;
	if (u->client && st->ops->may_open && !st->ops->may_open(st->ctx, dst))
		return -EACCES;
	if (src && src->family == dst->family && !ip_is_any(src))
		sip = src->ip;
	else if (!ip_is_any(&u->local) && u->local.family == dst->family)
		sip = u->local.ip;
	else
		sip = stack_first_addr(st, dst->family);
	if (src && src->port)
		sport = src->port;
	if (!sip || !sport)
		return -EADDRNOTAVAIL;
	p = stack_pkt_alloc(st, dst->family, &pb);
	if (!p)
		return -ENOBUFS;
	ulen = (uint32_t)(UDP_HDR_LEN + len);
	p[0] = (uint8_t)(sport >> 8);
	p[1] = (uint8_t)sport;
	p[2] = (uint8_t)(dst->port >> 8);
	p[3] = (uint8_t)dst->port;
	p[4] = (uint8_t)(ulen >> 8);
	p[5] = (uint8_t)ulen;
	p[6] = p[7] = 0;
	memcpy(p + UDP_HDR_LEN, data, len);
	sum = ns_csum_pseudo(dst->family, sip, dst->ip, IPPROTO_UDP, ulen);
	c = ns_csum_fold(ns_csum_partial(p, ulen, sum));
	if (!c)
		c = 0xffff;
	memcpy(p + 6, &c, 2);
	st->stats.udp_out++;
	stack_ip_output(st, pb, dst->family, sip, dst->ip, IPPROTO_UDP, ulen);
	return 0;
}

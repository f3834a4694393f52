/* Userspace mode as a router: a packet from one peer for another peer's
 * AllowedIPs is checked against [Policy] and re-encrypted to that peer
 * (TTL or hop limit decremented), or refused with the ICMP error a router
 * sends; it never enters the stack. Also the stack's own side of the
 * policy: HubOriginates = no refuses what the node would open towards a
 * peer. The TUN mode's equivalent is the nftables table (ifup.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "io/loop.h"
#include "netstack/netstack.h"
#include "node/node.h"

enum {
	IPV4_HDR_LEN = 20,
	IPV6_HDR_LEN = 40,
	REFUSAL_LOG_NS = 10000000000ull, /* one line per 10 s */
};

/* A peer's group is its tag: 1 + the index of the first conf peer of the
 * same group, so equal groups get equal tags; 0 is no group. */
static uint32_t group_tag(const struct conf *c, size_t i)
{
	size_t k;

	if (!c->peers[i].group[0])
		return 0;
	for (k = 0; k < i; ++k)
		if (!strcasecmp(c->peers[k].group, c->peers[i].group))
			break;
	return (uint32_t)k + 1;
}

void node_policy_apply(struct node *n, const struct conf *c)
{
	const struct conf_policy *pol = &c->policy;
	struct peer *peer;
	size_t i;

	n->routes = pol->present && pol->routes;
	n->s2s = pol->s2s;
	n->no_originate = pol->present && !pol->hub_originates;
	for_each_peer(n->d.wg, peer)
		peer->tag = 0;
	for (i = 0; i < c->n_peers; ++i) {
		peer = wg_peer_lookup(n->d.wg, c->peers[i].public_key);
		if (peer)
			peer->tag = group_tag(c, i);
	}
}

static bool s2s_allowed(const struct node *n, const struct peer *from,
			const struct peer *to)
{
	switch (n->s2s) {
	case CONF_S2S_ALL:
		return true;
	case CONF_S2S_GROUP:
		return from->tag && from->tag == to->tag;
	default:
		return false;
	}
}

/* TTL - 1 with the header checksum updated in place (RFC 1624; the
 * Linux ip_decrease_ttl()). */
static void ipv4_ttl_dec(uint8_t *ip)
{
	uint32_t check = (uint32_t)ip[10] << 8 | ip[11];

	check += 0x0100;
	check += check >= 0xffff;
	ip[10] = (uint8_t)(check >> 8);
	ip[11] = (uint8_t)check;
	ip[8]--;
}

static bool multicast(int family, const uint8_t *dst)
{
	if (family == AF_INET)
		return dst[0] >= 224;
	return dst[0] == 0xff;
}

const uint8_t *node_pkt_dst(struct pktbuf *pb, int *family)
{
	const uint8_t *ip = pkt_data(pb);

	if (pb->len >= IPV4_HDR_LEN && (ip[0] >> 4) == 4) {
		*family = AF_INET;
		return ip + 16;
	}
	if (pb->len >= IPV6_HDR_LEN && (ip[0] >> 4) == 6) {
		*family = AF_INET6;
		return ip + 24;
	}
	return NULL;
}

bool node_route(struct node *n, struct pktbuf *pb)
{
	uint8_t *ip = pkt_data(pb);
	struct peer *from = pb->cb.peer, *to;
	const uint8_t *dst;
	uint8_t *ttl;
	int family;

	if (!n->routes || !(dst = node_pkt_dst(pb, &family)))
		return false;
	ttl = family == AF_INET ? ip + 8 : ip + 7;
	if (multicast(family, dst) || netstack_is_local(n->st, family, dst))
		return false;
	to = allowedips_lookup(&n->d.wg->allowedips, family, dst);
	if (!to || to == from)
		return false; /* the stack's: egress, or nobody's */
	if (!s2s_allowed(n, from, to)) {
		n->route_stats.refused++;
		netstack_icmp_error(n->st, ip, pb->len,
				    NETSTACK_ICMP_PROHIBITED);
		pktpool_put(&n->d.pool, pb);
		return true;
	}
	if (*ttl <= 1) {
		n->route_stats.ttl_exceeded++;
		netstack_icmp_error(n->st, ip, pb->len,
				    NETSTACK_ICMP_TTL_EXCEEDED);
		pktpool_put(&n->d.pool, pb);
		return true;
	}
	if (family == AF_INET)
		ipv4_ttl_dec(ip);
	else
		(*ttl)--;
	n->route_stats.routed++;
	n->route_stats.routed_bytes += pb->len;
	wg_send(n->d.wg, pb);
	return true;
}

bool node_may_open(struct node *n, const struct netstack_addr *dst)
{
	uint64_t now;
	char buf[64];

	if (!n->no_originate ||
	    !allowedips_lookup(&n->d.wg->allowedips, dst->family, dst->ip))
		return true;
	n->route_stats.open_refused++;
	now = clock_mono_ns();
	if (!n->last_refusal_log || now - n->last_refusal_log >= REFUSAL_LOG_NS) {
		n->last_refusal_log = now;
		fprintf(stderr, "%s: refused to open a connection to %s: "
			"[Policy] HubOriginates = no (%llu so far)\n",
			n->d.ifname, netstack_addr_str(dst, buf, sizeof(buf)),
			(unsigned long long)n->route_stats.open_refused);
	}
	return false;
}

/* After a UAPI set: a connection whose remote no peer covers any more (a
 * revoked user) is reset, so the relay closes its host side at once. */
struct orphans {
	struct node *n;
	struct netstack_tcp **v;
	size_t len, cap;
};

static void find_orphan(void *ctx, const struct netstack_tcp *c)
{
	struct orphans *o = ctx;
	const struct netstack_addr *r = netstack_tcp_remote(c);
	struct netstack_tcp **v;

	if (allowedips_lookup(&o->n->d.wg->allowedips, r->family, r->ip))
		return;
	if (o->len == o->cap) {
		v = realloc(o->v, (o->cap ? o->cap * 2 : 16) * sizeof(*v));
		if (!v)
			return;
		o->v = v;
		o->cap = o->cap ? o->cap * 2 : 16;
	}
	o->v[o->len++] = (struct netstack_tcp *)c;
}

size_t node_reset_orphans(struct node *n)
{
	struct orphans o = { .n = n };
	size_t i;

	netstack_tcp_foreach(n->st, find_orphan, &o);
	for (i = 0; i < o.len; ++i)
		netstack_tcp_reset(o.v[i], -ECONNRESET);
	free(o.v);
	if (o.len)
		netstack_flush(n->st);
	return o.len;
}

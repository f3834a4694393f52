/* The stack object: configuration, our addresses, the clock, inbound
 * dispatch by protocol and the common outbound IP path. */
#include "netstack/stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

void netstack_config_default(struct netstack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mtu = 1420;
	cfg->mem_limit = 256u << 20;
	cfg->tcp_rbuf_max = 32u << 20;
	cfg->tcp_sbuf_max = 32u << 20;
	cfg->tcp_buf_initial = 64u << 10;
	cfg->cc = NETSTACK_CC_BBR;
	cfg->max_conns = 65536;
	cfg->syn_backlog = 1024;
	cfg->keepalive_idle_ms = 7200 * 1000;
	cfg->keepalive_intvl_ms = 75 * 1000;
	cfg->keepalive_cnt = 9;
	cfg->time_wait_ms = 60 * 1000;
}

struct netstack *netstack_new(const struct netstack_config *cfg,
			      const struct netstack_ops *ops, void *ctx,
			      struct pktpool *pool)
{
	struct netstack *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	if (cfg)
		st->cfg = *cfg;
	else
		netstack_config_default(&st->cfg);
	if (st->cfg.mtu < MTU_MIN || st->cfg.mtu > MTU_MAX)
		st->cfg.mtu = 1420;
	if (st->cfg.tcp_buf_initial < TCP_BUF_CHUNK)
		st->cfg.tcp_buf_initial = TCP_BUF_CHUNK;
	if (st->cfg.tcp_rbuf_max < st->cfg.tcp_buf_initial)
		st->cfg.tcp_rbuf_max = st->cfg.tcp_buf_initial;
	if (st->cfg.tcp_sbuf_max < st->cfg.tcp_buf_initial)
		st->cfg.tcp_sbuf_max = st->cfg.tcp_buf_initial;
	/* Windows are 32-bit sequence distances: keep well below 2^30. */
	if (st->cfg.tcp_rbuf_max > (1u << 30))
		st->cfg.tcp_rbuf_max = 1u << 30;
	if (st->cfg.tcp_sbuf_max > (1u << 30))
		st->cfg.tcp_sbuf_max = 1u << 30;
	if (!st->cfg.max_conns)
		st->cfg.max_conns = 65536;
	if (!st->cfg.syn_backlog)
		st->cfg.syn_backlog = 1024;
	if (!st->cfg.time_wait_ms)
		st->cfg.time_wait_ms = 60 * 1000;
	if (!st->cfg.keepalive_cnt)
		st->cfg.keepalive_cnt = 9;
	if (!st->cfg.keepalive_idle_ms)
		st->cfg.keepalive_idle_ms = 7200 * 1000;
	if (!st->cfg.keepalive_intvl_ms)
		st->cfg.keepalive_intvl_ms = 75 * 1000;
	st->ops = ops;
	st->ctx = ctx;
	st->pool = pool;
	random_bytes(st->hash_key, sizeof(st->hash_key));
	random_bytes(st->isn_key, sizeof(st->isn_key));
	random_bytes(st->ts_key, sizeof(st->ts_key));
	st->ip_id = (uint16_t)random_u32();
	st->icmp_tokens = ICMP_ERR_RATE;
	if (tcp_stack_init(st) < 0) {
		free(st);
		return NULL;
	}
	return st;
}

void netstack_free(struct netstack *st)
{
	if (!st)
		return;
	tcp_stack_free(st);
	udp_free_all(st);
	icmp_free_all(st);
	free(st);
}

static int addr_index(const struct netstack *st, int family, const void *ip)
{
	unsigned i;

	for (i = 0; i < st->naddrs; ++i)
		if (st->addrs[i].family == family &&
		    !memcmp(st->addrs[i].ip, ip, ip_alen(family)))
			return (int)i;
	return -1;
}

int netstack_add_addr(struct netstack *st, int family, const void *ip)
{
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (addr_index(st, family, ip) >= 0)
		return -EEXIST;
	if (st->naddrs == NETSTACK_MAX_ADDRS)
		return -ENOSPC;
	memset(st->addrs[st->naddrs].ip, 0, 16);
	st->addrs[st->naddrs].family = (uint16_t)family;
	memcpy(st->addrs[st->naddrs].ip, ip, ip_alen(family));
	st->naddrs++;
	return 0;
}

int netstack_del_addr(struct netstack *st, int family, const void *ip)
{
	int i = addr_index(st, family, ip);

	if (i < 0)
		return -ENOENT;
	memmove(&st->addrs[i], &st->addrs[i + 1],
		(st->naddrs - (unsigned)i - 1) * sizeof(st->addrs[0]));
	st->naddrs--;
	return 0;
}

int netstack_set_mtu(struct netstack *st, unsigned mtu)
{
	if (mtu < MTU_MIN || mtu > MTU_MAX)
		return -EINVAL;
	st->cfg.mtu = mtu;
	return 0;
}

bool stack_is_ours(const struct netstack *st, int family, const uint8_t *ip)
{
	return addr_index(st, family, ip) >= 0;
}

bool netstack_is_local(const struct netstack *st, int family, const void *ip)
{
	return stack_is_ours(st, family, ip);
}

const uint8_t *stack_first_addr(const struct netstack *st, int family)
{
	unsigned i;

	for (i = 0; i < st->naddrs; ++i)
		if (st->addrs[i].family == family)
			return st->addrs[i].ip;
	return NULL;
}

void netstack_set_clock(struct netstack *st, uint64_t mono_ns)
{
	if (mono_ns > st->now)
		st->now = mono_ns;
}

bool stack_icmp_allowed(struct netstack *st)
{
	uint64_t elapsed = st->now - st->icmp_refill;

	if (elapsed >= NS_PER_SEC / ICMP_ERR_RATE) {
		uint64_t add = elapsed * ICMP_ERR_RATE / NS_PER_SEC;

		st->icmp_tokens = add + st->icmp_tokens > ICMP_ERR_RATE
					  ? ICMP_ERR_RATE
					  : st->icmp_tokens + (uint32_t)add;
		st->icmp_refill = st->now;
	}
	if (!st->icmp_tokens)
		return false;
	st->icmp_tokens--;
	return true;
}

uint8_t *stack_pkt_alloc(struct netstack *st, int family, struct pktbuf **pbp)
{
	struct pktbuf *pb = pktpool_get(st->pool);

	*pbp = pb;
	if (!pb) {
		st->stats.ip_no_buffer++;
		return NULL;
	}
	return pkt_data(pb) + (family == AF_INET6 ? IPV6_HDR_LEN
						  : IPV4_HDR_LEN);
}

void stack_ip_output(struct netstack *st, struct pktbuf *pb, int family,
		     const uint8_t *src, const uint8_t *dst, uint8_t proto,
		     uint32_t l4len)
{
	if (family == AF_INET6) {
		ipv6_build(pkt_data(pb), src, dst, proto, l4len);
		pb->len = IPV6_HDR_LEN + l4len;
	} else {
		ipv4_build(st, pkt_data(pb), src, dst, proto, l4len);
		pb->len = IPV4_HDR_LEN + l4len;
	}
	st->stats.ip_out++;
	st->ops->output(st->ctx, pb);
}

enum netstack_verdict netstack_input(struct netstack *st, struct pktbuf *pb)
{
	enum netstack_verdict v = NETSTACK_PKT_DROP;
	struct ip_info info;
	uint8_t *p = pkt_data(pb);
	int ret = -1;

	st->stats.ip_in++;
	if (pb->len >= 1 && (p[0] >> 4) == 4)
		ret = ipv4_parse(st, p, pb->len, &info);
	else if (pb->len >= 1 && (p[0] >> 4) == 6)
		ret = ipv6_parse(st, p, pb->len, &info);
	if (ret == 0) {
		switch (info.proto) {
		case IPPROTO_TCP:
			v = tcp_input(st, &info);
			break;
		case IPPROTO_UDP:
			v = udp_input(st, &info);
			break;
		case IPPROTO_ICMP:
			if (info.family == AF_INET)
				v = icmp_input(st, &info);
			break;
		case IPPROTO_ICMPV6_:
			if (info.family == AF_INET6)
				v = icmp6_input(st, &info);
			break;
		default:
			break;
		}
	}
	if (v == NETSTACK_PKT_DROP)
		st->stats.ip_in_drops++;
	pktpool_put(st->pool, pb);
	tcp_deliver_events(st);
	return v;
}

void netstack_flush(struct netstack *st)
{
	struct tcp_list *n;

	while (!tcp_list_empty(&st->tcp.flush_list)) {
		struct netstack_tcp *c;

		n = st->tcp.flush_list.next;
		tcp_list_del(n);
		c = tcp_container_of(n, struct netstack_tcp, flush_node);
		tcp_output(c);
	}
	if (st->now >= st->next_watchdog) {
		st->next_watchdog = st->now + NS_PER_SEC;
		tcp_watchdog(st);
	}
	tcp_deliver_events(st);
}

void netstack_tick(struct netstack *st)
{
	tcp_timer_run(st);
	tcp_deliver_events(st);
}

uint64_t netstack_next_timer(const struct netstack *st)
{
	return tcp_timer_next(st);
}

void netstack_get_stats(const struct netstack *st, struct netstack_stats *s)
{
	*s = st->stats;
	s->tcp_conns = st->tcp.count;
	s->tcp_time_wait = st->tcp.tw_count;
	s->mem_used = st->tcp.mem_used;
	s->mem_peak = st->tcp.mem_peak;
}

size_t netstack_addr_to_sockaddr(const struct netstack_addr *a,
				 struct sockaddr *sa)
{
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

		memset(s6, 0, sizeof(*s6));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->ip, 16);
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		memset(s4, 0, sizeof(*s4));
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->ip, 4);
		return sizeof(*s4);
	}
}

int netstack_addr_from_sockaddr(struct netstack_addr *a,
				const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		a->family = AF_INET;
		a->port = ntohs(s4->sin_port);
		memcpy(a->ip, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 =
			(const struct sockaddr_in6 *)sa;

		a->family = AF_INET6;
		a->port = ntohs(s6->sin6_port);
		memcpy(a->ip, &s6->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

const char *netstack_addr_str(const struct netstack_addr *a, char *buf,
			      size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "*";

	if (a->family == AF_INET6) {
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	} else {
		if (a->family == AF_INET)
			inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, a->port);
	}
	return buf;
}

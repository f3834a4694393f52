/* [Egress]: an exit node. Allow/Deny decide per destination for TCP, UDP
 * and ICMP echo alike. TCP: a transparent stack listener takes SYNs for any
 * destination; allowed ones are connected from the host to the real
 * destination (the SYN held until then, see relay_defer_connect), denied
 * ones are refused at once with ICMP administratively prohibited, so the
 * peer fails fast instead of timing out. UDP and echo flows: egress-udp.c,
 * egress-ping.c; the host sockets they share are made here. */
#include <errno.h>
#include <time.h> /* linux/errqueue.h needs struct timespec */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/loop.h"
#include "relay/egress.h"

enum {
	ICMP_DEST_UNREACH_ = 3,
	ICMP6_DST_UNREACH_ = 1,
};

enum netstack_accept egress_check(struct egress *e,
				  const struct netstack_addr *dst,
				  const char *what)
{
	char a[64];

	/* Our own addresses: a closed port, not an exit. */
	if (conf_prefix_match(e->ours, e->n_ours, dst->family, dst->ip))
		return NETSTACK_REFUSE_RST;
	if (!conf_prefix_match(e->allow, e->n_allow, dst->family, dst->ip) ||
	    conf_prefix_match(e->deny, e->n_deny, dst->family, dst->ip)) {
		relay_log(e->r, "egress %s to %s denied", what,
			  netstack_addr_str(dst, a, sizeof(a)));
		return NETSTACK_REFUSE_PROHIBITED;
	}
	return NETSTACK_ACCEPT;
}

static enum netstack_accept on_syn(void *ctx, struct netstack_listener *l,
				   struct netstack_tcp *c)
{
	struct egress *e = ctx;
	const struct netstack_addr *dst = netstack_tcp_local(c);
	enum netstack_accept how = egress_check(e, dst, "tcp");
	struct sockaddr_storage ss;

	if (how == NETSTACK_REFUSE_PROHIBITED) {
		e->r->stats.egress_denied++;
		if (e->deny_rst)
			return NETSTACK_REFUSE_RST;
	}
	if (how != NETSTACK_ACCEPT)
		return how;
	e->r->stats.egress_allowed++;
	netstack_addr_to_sockaddr(dst, (struct sockaddr *)&ss);
	return relay_defer_connect(e->r, c, (struct sockaddr *)&ss);
}

static const struct netstack_listener_ops egress_ops = { .syn = on_syn };

enum netstack_accept egress_refusal(int err)
{
	switch (err) {
	case ENETUNREACH:
		return NETSTACK_REFUSE_NET_UNREACH;
	case EACCES: /* broadcast, or a firewall */
	case EPERM:
		return NETSTACK_REFUSE_PROHIBITED;
	case ENOMEM:
	case ENOBUFS:
		return NETSTACK_REFUSE_DROP;
	default:
		return NETSTACK_REFUSE_HOST_UNREACH;
	}
}

int egress_host_socket(struct flowtab *t, int family, int type, int proto)
{
	int fd, one = 1, tries;

	for (tries = 0;; ++tries) {
		fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
		if (fd >= 0 || (errno != EMFILE && errno != ENFILE) ||
		    tries || !flowtab_evict_oldest(t))
			break;
	}
	if (fd < 0)
		return -errno;
	setsockopt(fd, family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
		   family == AF_INET6 ? IPV6_RECVERR : IP_RECVERR, &one,
		   sizeof(one));
	return fd;
}

struct flow *egress_flow_open(struct egress *e, struct flowtab *t,
			      const struct netstack_addr *peer,
			      const struct netstack_addr *dst, int fd,
			      void (*handler)(struct loop *loop, int fd,
					      unsigned events, void *arg),
			      enum netstack_accept *how)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct flow *f;
	int ret;

	sslen = (socklen_t)netstack_addr_to_sockaddr(dst,
						     (struct sockaddr *)&ss);
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
		*how = egress_refusal(errno);
		close(fd);
		return NULL;
	}
	f = flowtab_add(t, peer, dst, clock_mono_ns());
	if (!f) {
		close(fd);
		*how = NETSTACK_REFUSE_DROP;
		return NULL;
	}
	ret = loop_add(e->r->loop, fd, LOOP_READ, handler, f);
	if (ret < 0) {
		close(fd);
		flowtab_remove(t, f);
		*how = egress_refusal(-ret);
		return NULL;
	}
	f->fd = fd;
	return f;
}

/* ICMP(v6) destination unreachable codes as refusals to relay. Others
 * (fragmentation needed, time exceeded) are not relayed. */
static enum netstack_accept refusal_for_icmp(const struct sock_extended_err *ee)
{
	if (ee->ee_origin == SO_EE_ORIGIN_ICMP &&
	    ee->ee_type == ICMP_DEST_UNREACH_) {
		switch (ee->ee_code) {
		case 0: /* net */
		case 6: /* net unknown */
			return NETSTACK_REFUSE_NET_UNREACH;
		case 2: /* protocol */
		case 3: /* port */
			return NETSTACK_REFUSE_RST;
		case 4: /* fragmentation needed */
			return NETSTACK_ACCEPT;
		case 9:
		case 10:
		case 13: /* administratively prohibited */
			return NETSTACK_REFUSE_PROHIBITED;
		default:
			return NETSTACK_REFUSE_HOST_UNREACH;
		}
	}
	if (ee->ee_origin == SO_EE_ORIGIN_ICMP6 &&
	    ee->ee_type == ICMP6_DST_UNREACH_) {
		switch (ee->ee_code) {
		case 0: /* no route */
			return NETSTACK_REFUSE_NET_UNREACH;
		case 1: /* administratively prohibited */
			return NETSTACK_REFUSE_PROHIBITED;
		case 4: /* port */
			return NETSTACK_REFUSE_RST;
		default:
			return NETSTACK_REFUSE_HOST_UNREACH;
		}
	}
	return NETSTACK_ACCEPT;
}

enum netstack_accept egress_host_error(int fd, uint8_t quote[8])
{
	enum netstack_accept how = NETSTACK_ACCEPT;
	union {
		char buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
				    sizeof(struct sockaddr_in6))];
		struct cmsghdr align;
	} cbuf;
	uint8_t data[8];
	int i;

	/* Bounded: the queue is limited by the receive buffer anyway. */
	for (i = 0; i < EGRESS_READS; ++i) {
		struct iovec iov = { data, sizeof(data) };
		struct msghdr msg = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cbuf.buf,
			.msg_controllen = sizeof(cbuf.buf),
		};
		struct cmsghdr *cm;
		ssize_t n = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);

		if (n < 0)
			break;
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			const struct sock_extended_err *ee;
			enum netstack_accept h;

			if (!((cm->cmsg_level == IPPROTO_IP &&
			       cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == IPPROTO_IPV6 &&
			       cm->cmsg_type == IPV6_RECVERR)))
				continue;
			ee = (const struct sock_extended_err *)CMSG_DATA(cm);
			h = refusal_for_icmp(ee);
			if (h == NETSTACK_ACCEPT)
				continue;
			how = h;
			memset(quote, 0, 8);
			memcpy(quote, data, (size_t)n < 8 ? (size_t)n : 8);
		}
	}
	return how;
}

unsigned egress_flow_limit(unsigned max, unsigned share)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return max;
	n = rl.rlim_cur / share;
	if (n < EGRESS_FLOWS_MIN)
		n = EGRESS_FLOWS_MIN;
	return n < max ? (unsigned)n : max;
}

void egress_flow_close(void *ctx, struct flow *f)
{
	struct egress *e = ctx;

	if (f->fd < 0)
		return;
	loop_del(e->r->loop, f->fd);
	close(f->fd);
}

static struct conf_prefix *dup_prefixes(const struct conf_prefix *p, size_t n)
{
	struct conf_prefix *d = calloc(n ? n : 1, sizeof(*d));

	if (d && n)
		memcpy(d, p, n * sizeof(*d));
	return d;
}

static void egress_destroy(struct egress *e)
{
	egress_ping_free(e);
	egress_udp_free(e);
	netstack_listener_close(e->l);
	free(e->buf);
	free(e->allow);
	free(e->deny);
	free(e->ours);
	free(e);
}

int egress_add(struct relay *r, const struct conf *c, char *err)
{
	struct netstack_addr any = { .family = AF_UNSPEC };
	struct egress *e = calloc(1, sizeof(*e));
	size_t i;
	int ret;

	if (!e)
		return -ENOMEM;
	e->r = r;
	e->allow = dup_prefixes(c->allow, c->n_allow);
	e->deny = dup_prefixes(c->deny, c->n_deny);
	e->ours = dup_prefixes(c->addrs, c->n_addrs);
	e->buf = malloc(EGRESS_DGRAM_MAX);
	if (!e->allow || !e->deny || !e->ours || !e->buf) {
		ret = -ENOMEM;
		goto err;
	}
	e->n_allow = c->n_allow;
	e->n_deny = c->n_deny;
	e->deny_rst = c->egress_deny_rst;
	e->n_ours = c->n_addrs;
	for (i = 0; i < e->n_ours; ++i) /* the addresses, not their subnets */
		e->ours[i].cidr = e->ours[i].family == AF_INET ? 32 : 128;
	ret = netstack_tcp_listen(r->st, &any, NETSTACK_TRANSPARENT,
				  &egress_ops, e, &e->l);
	if (ret < 0) {
		snprintf(err, CONF_ERR_MAX, "[Egress]: cannot listen: %s",
			 strerror(-ret));
		goto err;
	}
	ret = egress_udp_init(e, err);
	if (ret < 0)
		goto err;
	ret = egress_ping_init(e, err);
	if (ret < 0)
		goto err;
	r->egress = e;
	return 0;
err:
	egress_destroy(e);
	return ret;
}

void egress_tick(struct relay *r, uint64_t now_ns)
{
	struct egress *e = r->egress;

	if (!e)
		return;
	flowtab_expire(&e->udp, now_ns);
	flowtab_expire(&e->ping, now_ns);
}

void egress_get_stats(const struct relay *r, struct relay_stats *s)
{
	const struct egress *e = r->egress;

	if (!e)
		return;
	s->egress_udp_flows = e->udp.added;
	s->egress_udp_active = e->udp.count;
	s->egress_udp_evicted = e->udp.evicted;
	s->egress_udp_expired = e->udp.expired;
	s->egress_ping_flows = e->ping.added;
	s->egress_ping_active = e->ping.count;
}

void egress_free(struct relay *r)
{
	if (!r->egress)
		return;
	egress_destroy(r->egress);
	r->egress = NULL;
}

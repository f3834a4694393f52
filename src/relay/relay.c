/* The relay context: setup from the config, host listeners, shared
 * helpers. The features live in forward.c, expose.c, proxy.c, egress.c. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/loop.h"
#include "relay/internal.h"

enum {
	ACCEPTS_PER_EVENT = 64,
};

struct host_listener {
	struct host_listener *next;
	struct relay *r;
	int fd;
	void (*fn)(void *ctx, int fd, const struct sockaddr *peer);
	void *ctx;
};

void relay_log(const struct relay *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->verbose)
		return;
	fprintf(stderr, "relay: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void relay_clock(const struct relay *r)
{
	netstack_set_clock(r->st, clock_mono_ns());
}

socklen_t relay_sockaddr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

void relay_addr_from_conf(struct netstack_addr *a,
			  const struct conf_hostport *hp)
{
	memset(a, 0, sizeof(*a));
	if (netstack_addr_from_sockaddr(a, &hp->addr.sa) < 0) {
		a->family = AF_UNSPEC;
		a->port = hp->port;
	}
}

void relay_close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void on_accept(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct host_listener *hl = arg;
	struct sockaddr_storage peer;
	socklen_t len;
	int i, c, one = 1;

	relay_clock(hl->r);
	for (i = 0; i < ACCEPTS_PER_EVENT; ++i) {
		len = sizeof(peer);
		c = accept4(fd, (struct sockaddr *)&peer, &len,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EMFILE || errno == ENFILE)
				relay_log(hl->r, "accept: %s", strerror(errno));
			break;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		hl->fn(hl->ctx, c, (struct sockaddr *)&peer);
	}
}

int host_listen(struct relay *r, const struct sockaddr *sa, int type,
		void (*fn)(void *ctx, int fd, const struct sockaddr *peer),
		void *ctx, const char *what, char *err)
{
	struct host_listener *hl;
	int fd, one = 1, ret;

	fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, relay_sockaddr_len(sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)) {
		ret = -errno;
		close(fd);
		goto err;
	}
	if (type != SOCK_STREAM)
		return fd; /* UDP: the caller registers it */
	hl = calloc(1, sizeof(*hl));
	if (!hl) {
		close(fd);
		return -ENOMEM;
	}
	hl->r = r;
	hl->fd = fd;
	hl->fn = fn;
	hl->ctx = ctx;
	ret = loop_add(r->loop, fd, LOOP_READ, on_accept, hl);
	if (ret < 0) {
		close(fd);
		free(hl);
		goto err;
	}
	hl->next = r->listeners;
	r->listeners = hl;
	return fd;
err:
	snprintf(err, CONF_ERR_MAX, "%s: cannot listen: %s", what,
		 strerror(-ret));
	return ret;
}

void host_listener_close(struct relay *r, int fd)
{
	struct host_listener **p, *hl;

	for (p = &r->listeners; (hl = *p); p = &hl->next) {
		if (hl->fd != fd)
			continue;
		*p = hl->next;
		loop_del(r->loop, hl->fd);
		close(hl->fd);
		free(hl->ctx);
		free(hl);
		return;
	}
}

void host_listeners_free(struct relay *r)
{
	while (r->listeners) {
		struct host_listener *hl = r->listeners;

		r->listeners = hl->next;
		loop_del(r->loop, hl->fd);
		close(hl->fd);
		free(hl->ctx);
		free(hl);
	}
}

struct relay *relay_new(struct loop *loop, struct netstack *st, int verbose)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->loop = loop;
	r->st = st;
	r->verbose = verbose;
	return r;
}

int relay_configure(struct relay *r, const struct conf *c, char *err)
{
	size_t i;
	int ret;

	for (i = c->n_addrs; i-- > 0;) {
		struct netstack_addr *a = c->addrs[i].family == AF_INET
						  ? &r->addr4
						  : &r->addr6;

		a->family = c->addrs[i].family;
		memcpy(a->ip, c->addrs[i].ip, 16);
	}
	for (i = 0; i < c->n_forwards; ++i) {
		if (c->forwards[i].proto == CONF_PROTO_UDP)
			ret = forward_udp_add(r, &c->forwards[i], err);
		else
			ret = forward_tcp_add(r, &c->forwards[i], err);
		if (ret < 0)
			return ret;
	}
	for (i = 0; i < c->n_exposes; ++i) {
		ret = expose_add(r, &c->exposes[i], c, err);
		if (ret < 0)
			return ret;
	}
	if (c->has_socks5 || c->has_http) {
		r->res = resolver_new(r->loop);
		if (!r->res)
			return -ENOMEM;
	}
	if (c->has_socks5) {
		ret = proxy_add(r, &c->socks5, false, err);
		if (ret < 0)
			return ret;
	}
	if (c->has_http) {
		ret = proxy_add(r, &c->http, true, err);
		if (ret < 0)
			return ret;
	}
	if (c->has_egress) {
		ret = egress_add(r, c, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int relay_reconfigure(struct relay *r, const struct conf *c,
		      struct relay_changes *ch, char *err)
{
	size_t i;
	int ret;

	memset(ch, 0, sizeof(*ch));
	r->gen++;
	for (i = 0; i < c->n_forwards; ++i) {
		if (forward_mark(r, &c->forwards[i], ch))
			continue;
		ret = forward_add_fresh(r, &c->forwards[i], err);
		if (ret < 0)
			goto undo;
		ch->forwards_added++;
	}
	for (i = 0; i < c->n_exposes; ++i) {
		if (expose_mark(r, &c->exposes[i], ch))
			continue;
		ret = expose_add_fresh(r, &c->exposes[i], c, err);
		if (ret < 0)
			goto undo;
		ch->exposes_added++;
	}
	for (i = 0; i < c->n_forwards; ++i)
		forward_retarget(r, &c->forwards[i]);
	for (i = 0; i < c->n_exposes; ++i)
		expose_retarget(r, &c->exposes[i]);
	forward_sweep(r, false, &ch->forwards_removed);
	expose_sweep(r, false, &ch->exposes_removed);
	return 0;
undo:
	forward_sweep(r, true, &i);
	expose_sweep(r, true, &i);
	/* What was marked this round is marked again by the next. */
	memset(ch, 0, sizeof(*ch));
	return ret;
}

int relay_start(struct relay *r)
{
	return r->res ? resolver_start(r->res) : 0;
}

void relay_tick(struct relay *r, uint64_t now_ns)
{
	forward_udp_tick(r, now_ns);
	egress_tick(r, now_ns);
}

void relay_get_stats(const struct relay *r, struct relay_stats *s)
{
	*s = r->stats;
	egress_get_stats(r, s);
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	proxy_free_all(r);
	egress_free(r);
	expose_free_all(r);
	pendings_free_all(r);
	splice_free_all(r);
	forward_udp_free_all(r);
	host_listeners_free(r);
	resolver_free(r->res);
	free(r);
}

/* [Expose]: overlay -> host. A stack listener on our overlay address and
 * port holds each SYN (NETSTACK_DEFER) while the host connects to Target,
 * so a peer sees the target's answer: a handshake only when the target
 * accepted, a reset when it refused. The same deferred connect serves
 * [Egress]. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/loop.h"
#include "relay/internal.h"

struct expose {
	struct expose *next;
	struct relay *r;
	struct netstack_listener *l;
	struct conf_expose conf; /* what it was made from */
	struct sockaddr_storage target;
	unsigned gen;            /* relay_reconfigure's mark */
	bool fresh;              /* added by the reconfigure under way */
	bool pinned;             /* ours (the status page), not the config's */
};

struct pending {
	struct pending *prev, *next;
	struct relay *r;
	struct netstack_tcp *c;
	struct host_connect *hc;
};

static void pending_unlink(struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->r->pendings = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static enum netstack_accept refusal_for(int err)
{
	switch (err) {
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
		return NETSTACK_REFUSE_HOST_UNREACH;
	case -ENETUNREACH:
		return NETSTACK_REFUSE_NET_UNREACH;
	case -EACCES:
	case -EPERM:
		return NETSTACK_REFUSE_PROHIBITED;
	default:
		return NETSTACK_REFUSE_RST;
	}
}

static void on_host_connected(void *ctx, int fd, int err)
{
	struct pending *p = ctx;
	struct relay *r = p->r;
	struct netstack_tcp *c = p->c;

	pending_unlink(p);
	free(p);
	if (err) {
		char a[64];

		relay_log(r, "connect to %s: %s",
			  netstack_addr_str(netstack_tcp_local(c), a, sizeof(a)),
			  strerror(-err));
		r->stats.expose_failed++;
		netstack_tcp_refuse(c, refusal_for(err));
		return;
	}
	if (netstack_tcp_accept(c) < 0) {
		relay_close_rst(fd);
		netstack_tcp_abort(c);
		return;
	}
	splice_new(r, c, fd);
}

/* The held SYN timed out or was reset before the host answered. */
static void on_pending_closed(void *ctx, struct netstack_tcp *c, int err)
{
	struct pending *p = ctx;

	host_connect_cancel(p->hc);
	pending_unlink(p);
	free(p);
	netstack_tcp_abort(c);
}

static void on_pending_event(void *ctx, struct netstack_tcp *c)
{
}

static const struct netstack_tcp_ops pending_ops = {
	.connected = on_pending_event,
	.readable = on_pending_event,
	.writable = on_pending_event,
	.closed = on_pending_closed,
};

enum netstack_accept relay_defer_connect(struct relay *r,
					 struct netstack_tcp *c,
					 const struct sockaddr *sa)
{
	struct pending *p = calloc(1, sizeof(*p));
	int err = -ENOMEM;

	if (p)
		p->hc = host_connect_start(r, sa, on_host_connected, p, &err);
	if (!p || !p->hc) {
		free(p);
		return refusal_for(err);
	}
	p->r = r;
	p->c = c;
	netstack_tcp_set_ops(c, &pending_ops, p);
	p->next = r->pendings;
	if (p->next)
		p->next->prev = p;
	r->pendings = p;
	return NETSTACK_DEFER;
}

void pendings_free_all(struct relay *r)
{
	while (r->pendings) {
		struct pending *p = r->pendings;

		r->pendings = p->next;
		host_connect_cancel(p->hc);
		netstack_tcp_abort(p->c);
		free(p);
	}
}

static enum netstack_accept on_syn(void *ctx, struct netstack_listener *l,
				   struct netstack_tcp *c)
{
	struct expose *e = ctx;

	e->r->stats.expose_accepted++;
	return relay_defer_connect(e->r, c, (struct sockaddr *)&e->target);
}

static const struct netstack_listener_ops expose_ops = { .syn = on_syn };

int expose_add(struct relay *r, const struct conf_expose *ce,
	       const struct conf *c, char *err)
{
	struct expose *e = calloc(1, sizeof(*e));
	struct netstack_addr local;
	int ret;

	if (!e)
		return -ENOMEM;
	e->r = r;
	e->conf = *ce;
	e->gen = r->gen;
	memcpy(&e->target, &ce->target.addr, sizeof(ce->target.addr));
	relay_addr_from_conf(&local, &ce->listen);
	ret = netstack_tcp_listen(r->st, &local, 0, &expose_ops, e, &e->l);
	if (ret < 0) {
		snprintf(err, CONF_ERR_MAX,
			 "[Expose] at line %d: cannot listen on the overlay: %s",
			 ce->line, strerror(-ret));
		free(e);
		return ret;
	}
	e->next = r->exposes;
	r->exposes = e;
	return 0;
}

/* ---- reconfiguring: an [Expose] is known by its Listen */

static bool same_listen(const struct conf_expose *a,
			const struct conf_expose *b)
{
	return a->listen.port == b->listen.port &&
	       !strcmp(a->listen.host, b->listen.host);
}

int expose_mark(struct relay *r, const struct conf_expose *ce,
		struct relay_changes *ch)
{
	struct expose *e;

	for (e = r->exposes; e; e = e->next) {
		if (e->pinned || e->gen == r->gen || !same_listen(&e->conf, ce))
			continue;
		e->gen = r->gen;
		if (e->conf.target.port != ce->target.port ||
		    strcmp(e->conf.target.host, ce->target.host) ||
		    memcmp(&e->conf.target.addr, &ce->target.addr,
			   sizeof(ce->target.addr)))
			ch->exposes_changed++;
		return 1;
	}
	return 0;
}

int expose_add_fresh(struct relay *r, const struct conf_expose *ce,
		     const struct conf *c, char *err)
{
	int ret = expose_add(r, ce, c, err);

	if (!ret)
		r->exposes->fresh = true;
	return ret;
}

void expose_retarget(struct relay *r, const struct conf_expose *ce)
{
	struct expose *e;

	for (e = r->exposes; e; e = e->next)
		if (!e->pinned && same_listen(&e->conf, ce)) {
			e->conf = *ce;
			memcpy(&e->target, &ce->target.addr,
			       sizeof(ce->target.addr));
		}
}

void expose_sweep(struct relay *r, bool fresh_only, size_t *removed)
{
	struct expose **pe = &r->exposes, *e;

	while ((e = *pe)) {
		bool drop = fresh_only ? e->fresh : e->gen != r->gen;

		e->fresh = false;
		if (!drop || e->pinned) {
			pe = &e->next;
			continue;
		}
		*pe = e->next;
		(*removed)++;
		/* Connections it accepted carry on; new SYNs find no one. */
		netstack_listener_close(e->l);
		free(e);
	}
}

int relay_expose_pinned(struct relay *r, uint16_t port,
			const struct sockaddr *target, char *err)
{
	struct conf_expose ce = { .line = 0 };
	int ret;

	ce.listen.port = port;
	snprintf(ce.target.host, sizeof(ce.target.host), "(status)");
	memcpy(&ce.target.addr, target, relay_sockaddr_len(target));
	ce.target.resolved = true;
	ret = expose_add(r, &ce, NULL, err);
	if (!ret)
		r->exposes->pinned = true;
	return ret;
}

void expose_free_all(struct relay *r)
{
	while (r->exposes) {
		struct expose *e = r->exposes;

		r->exposes = e->next;
		netstack_listener_close(e->l);
		free(e);
	}
}

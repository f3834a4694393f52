/* [Forward]: host -> overlay. TCP: each connection accepted on the host
 * listener is connected through the stack to Target and spliced. UDP: one
 * stack socket per host client address, so replies find their way back;
 * idle mappings expire. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/loop.h"
#include "relay/internal.h"

enum {
	UDP_MAPPINGS_MAX = 1024,
	UDP_IDLE_NS = 120ULL * 1000000000,
	UDP_READS = 64,
	UDP_DGRAM_MAX = 65536,
};

struct tcp_forward {
	struct tcp_forward *next;
	struct relay *r;
	int fd;                  /* the host listener's (which owns f) */
	struct conf_forward conf; /* what it was made from */
	struct netstack_addr target;
	unsigned gen;             /* relay_reconfigure's mark */
	bool fresh;               /* added by the reconfigure under way */
};

struct udp_mapping {
	struct udp_mapping *next;
	struct udp_forward *f;
	struct sockaddr_storage client;
	socklen_t client_len;
	struct netstack_udp *u;
	uint64_t last_used;
};

struct udp_forward {
	struct udp_forward *next;
	struct relay *r;
	int fd;
	struct conf_forward conf;
	struct netstack_addr target;
	unsigned gen;
	bool fresh;
	struct udp_mapping *maps;
	unsigned nmaps;
	uint64_t now;
};

/* A bare port listens on loopback only: forwards are for local apps. */
static void listen_addr(const struct conf_hostport *hp,
			struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (hp->host[0]) {
		memcpy(ss, &hp->addr, sizeof(hp->addr));
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)ss;

		in4->sin_family = AF_INET;
		in4->sin_port = htons(hp->port);
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
}

static void on_tcp_accept(void *ctx, int fd, const struct sockaddr *peer)
{
	struct tcp_forward *f = ctx;
	int ret;

	f->r->stats.forward_accepted++;
	ret = splice_connect(f->r, &f->target, fd);
	if (ret < 0 && ret != -EACCES) /* a refusal is the node's to log */
		relay_log(f->r, "forward: cannot connect through the stack");
}

/* Binds cf's Listen on the host for either kind of [Forward]: the host
 * listener's fd, or -errno with err set. */
static int forward_listen(struct relay *r, const struct conf_forward *cf,
			  int type,
			  void (*fn)(void *ctx, int fd,
				     const struct sockaddr *peer),
			  void *ctx, char *err)
{
	struct sockaddr_storage ss;
	char what[64];

	listen_addr(&cf->listen, &ss);
	snprintf(what, sizeof(what), "[Forward] at line %d", cf->line);
	return host_listen(r, (struct sockaddr *)&ss, type, fn, ctx, what,
			   err);
}

int forward_tcp_add(struct relay *r, const struct conf_forward *cf, char *err)
{
	struct tcp_forward *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	f->r = r;
	f->conf = *cf;
	f->gen = r->gen;
	relay_addr_from_conf(&f->target, &cf->target);
	/* The listener owns f. */
	ret = forward_listen(r, cf, SOCK_STREAM, on_tcp_accept, f, err);
	if (ret < 0) {
		free(f);
		return ret;
	}
	f->fd = ret;
	f->next = r->tcp_forwards;
	r->tcp_forwards = f;
	return 0;
}

/* ---- UDP */

static void map_free(struct udp_mapping *m)
{
	netstack_udp_close(m->u);
	m->f->nmaps--;
	free(m);
}

static enum netstack_accept on_stack_recv(void *ctx, struct netstack_udp *u,
					  const struct netstack_addr *src,
					  const struct netstack_addr *dst,
					  const uint8_t *data, size_t len)
{
	struct udp_mapping *m = ctx;

	m->last_used = m->f->now;
	/* Dropped when the host socket is full, as UDP would. */
	sendto(m->f->fd, data, len, MSG_DONTWAIT,
	       (struct sockaddr *)&m->client, m->client_len);
	return NETSTACK_ACCEPT;
}

static const struct netstack_udp_ops map_ops = { .recv = on_stack_recv };

static struct udp_mapping *map_get(struct udp_forward *f,
				   const struct sockaddr_storage *from,
				   socklen_t len)
{
	const struct netstack_addr *ours = f->target.family == AF_INET6
						   ? &f->r->addr6
						   : &f->r->addr4;
	struct netstack_addr local = *ours;
	struct udp_mapping *m;

	for (m = f->maps; m; m = m->next)
		if (m->client_len == len && !memcmp(&m->client, from, len))
			return m;
	if (f->nmaps >= UDP_MAPPINGS_MAX || !local.family)
		return NULL;
	local.port = 0; /* ephemeral */
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->f = f;
	memcpy(&m->client, from, len);
	m->client_len = len;
	if (netstack_udp_open(f->r->st, &local, 0, &map_ops, m, &m->u) < 0) {
		free(m);
		return NULL;
	}
	m->next = f->maps;
	f->maps = m;
	f->nmaps++;
	f->r->stats.udp_mappings++;
	return m;
}

static void on_udp(struct loop *loop, int fd, unsigned events, void *arg)
{
	static uint8_t buf[UDP_DGRAM_MAX];
	struct udp_forward *f = arg;
	struct sockaddr_storage from;
	struct udp_mapping *m;
	socklen_t len;
	ssize_t n;
	int i;

	f->now = clock_mono_ns();
	relay_clock(f->r);
	for (i = 0; i < UDP_READS; ++i) {
		len = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &len);
		if (n < 0)
			break;
		m = map_get(f, &from, len);
		if (!m)
			continue;
		m->last_used = f->now;
		netstack_udp_sendto(m->u, NULL, &f->target, buf, (size_t)n);
	}
}

int forward_udp_add(struct relay *r, const struct conf_forward *cf, char *err)
{
	struct udp_forward *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	f->r = r;
	f->conf = *cf;
	f->gen = r->gen;
	relay_addr_from_conf(&f->target, &cf->target);
	ret = forward_listen(r, cf, SOCK_DGRAM, NULL, NULL, err);
	if (ret < 0) {
		free(f);
		return ret;
	}
	f->fd = ret;
	ret = loop_add(r->loop, f->fd, LOOP_READ, on_udp, f);
	if (ret < 0) {
		close(f->fd);
		free(f);
		return ret;
	}
	f->next = r->udp_forwards;
	r->udp_forwards = f;
	return 0;
}

void forward_udp_tick(struct relay *r, uint64_t now_ns)
{
	struct udp_forward *f;
	struct udp_mapping **pm, *m;

	for (f = r->udp_forwards; f; f = f->next) {
		f->now = now_ns;
		for (pm = &f->maps; (m = *pm);) {
			if (now_ns - m->last_used > UDP_IDLE_NS) {
				*pm = m->next;
				map_free(m);
			} else {
				pm = &m->next;
			}
		}
	}
}

static void udp_forward_free(struct udp_forward *f)
{
	while (f->maps) {
		struct udp_mapping *m = f->maps;

		f->maps = m->next;
		map_free(m);
	}
	loop_del(f->r->loop, f->fd);
	close(f->fd);
	free(f);
}

void forward_udp_free_all(struct relay *r)
{
	while (r->udp_forwards) {
		struct udp_forward *f = r->udp_forwards;

		r->udp_forwards = f->next;
		udp_forward_free(f);
	}
}

/* ---- reconfiguring: a [Forward] is known by its protocol and Listen */

static bool same_listen(const struct conf_forward *a,
			const struct conf_forward *b)
{
	return a->proto == b->proto && a->listen.port == b->listen.port &&
	       !strcmp(a->listen.host, b->listen.host);
}

static bool same_target(const struct conf_forward *a,
			const struct conf_forward *b)
{
	return a->target.port == b->target.port &&
	       !strcmp(a->target.host, b->target.host);
}

int forward_mark(struct relay *r, const struct conf_forward *cf,
		 struct relay_changes *ch)
{
	struct tcp_forward *t;
	struct udp_forward *u;

	for (t = r->tcp_forwards; t; t = t->next) {
		if (t->gen == r->gen || !same_listen(&t->conf, cf))
			continue;
		t->gen = r->gen;
		if (!same_target(&t->conf, cf))
			ch->forwards_changed++;
		return 1;
	}
	for (u = r->udp_forwards; u; u = u->next) {
		if (u->gen == r->gen || !same_listen(&u->conf, cf))
			continue;
		u->gen = r->gen;
		if (!same_target(&u->conf, cf))
			ch->forwards_changed++;
		return 1;
	}
	return 0;
}

int forward_add_fresh(struct relay *r, const struct conf_forward *cf,
		      char *err)
{
	int ret = cf->proto == CONF_PROTO_UDP ? forward_udp_add(r, cf, err)
					      : forward_tcp_add(r, cf, err);

	if (ret < 0)
		return ret;
	if (cf->proto == CONF_PROTO_UDP)
		r->udp_forwards->fresh = true;
	else
		r->tcp_forwards->fresh = true;
	return 0;
}

void forward_retarget(struct relay *r, const struct conf_forward *cf)
{
	struct tcp_forward *t;
	struct udp_forward *u;

	for (t = r->tcp_forwards; t; t = t->next)
		if (same_listen(&t->conf, cf)) {
			t->conf = *cf;
			relay_addr_from_conf(&t->target, &cf->target);
		}
	for (u = r->udp_forwards; u; u = u->next)
		if (same_listen(&u->conf, cf)) {
			u->conf = *cf;
			relay_addr_from_conf(&u->target, &cf->target);
		}
}

void forward_sweep(struct relay *r, bool fresh_only, size_t *removed)
{
	struct tcp_forward **pt = &r->tcp_forwards, *t;
	struct udp_forward **pu = &r->udp_forwards, *u;

	while ((t = *pt)) {
		bool drop = fresh_only ? t->fresh : t->gen != r->gen;

		t->fresh = false;
		if (!drop) {
			pt = &t->next;
			continue;
		}
		*pt = t->next;
		(*removed)++;
		host_listener_close(r, t->fd); /* frees t */
	}
	while ((u = *pu)) {
		bool drop = fresh_only ? u->fresh : u->gen != r->gen;

		u->fresh = false;
		if (!drop) {
			pu = &u->next;
			continue;
		}
		*pu = u->next;
		(*removed)++;
		udp_forward_free(u);
	}
}

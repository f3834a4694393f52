/* UDP forwards: one public socket per forward; each client address gets a
 * session, a socket connected to the mesh target, so the target's answers
 * find their way back to that client. Sessions end after idle_timeout of
 * silence; at max_connections, datagrams from new addresses are dropped. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "io/loop.h"

enum {
	BUCKETS = 256,
	BURST = 64,          /* datagrams per wakeup, each way */
	DGRAM_MAX = 65536,
};

struct sess {
	struct gw_udp *u;
	struct sess *chain, *prev, *next;
	struct sockaddr_in6 client;
	int fd;
	uint64_t last;
};

struct gw_udp {
	struct gateway *g;
	int fd;
	struct sockaddr_storage target;
	unsigned max, count;
	uint64_t idle_ns;
	struct sess *bucket[BUCKETS];
	struct sess *all;
};

static char dgram[DGRAM_MAX];

static unsigned hash(const struct sockaddr_in6 *a)
{
	const uint8_t *p = (const uint8_t *)&a->sin6_addr;
	unsigned h = a->sin6_port * 2654435761u;
	int i;

	for (i = 0; i < 16; ++i)
		h = (h ^ p[i]) * 16777619u;
	return h % BUCKETS;
}

static bool same(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b)
{
	return a->sin6_port == b->sin6_port &&
	       !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr));
}

static void sess_free(struct sess *s)
{
	struct gw_udp *u = s->u;
	struct sess **pp = &u->bucket[hash(&s->client)];

	while (*pp != s)
		pp = &(*pp)->chain;
	*pp = s->chain;
	if (s->prev)
		s->prev->next = s->next;
	else
		u->all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	loop_del(u->g->loop, s->fd);
	close(s->fd);
	u->count--;
	u->g->active--;
	free(s);
}

/* The target answered: back to the client. */
static void on_sess(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct sess *s = arg;
	int i;

	for (i = 0; i < BURST; ++i) {
		ssize_t n = recv(fd, dgram, sizeof(dgram), MSG_DONTWAIT);

		if (n < 0)
			return; /* EAGAIN, or ECONNREFUSED from an ICMP: drop */
		s->last = clock_mono_ns();
		sendto(s->u->fd, dgram, (size_t)n, MSG_DONTWAIT,
		       (struct sockaddr *)&s->client, sizeof(s->client));
	}
}

static struct sess *sess_new(struct gw_udp *u, const struct sockaddr_in6 *from)
{
	struct sess *s;
	unsigned h;
	int fd;

	if (u->count >= u->max)
		return NULL;
	fd = socket(u->target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&u->target,
		    u->target.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in)) < 0) {
		close(fd);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || loop_add(u->g->loop, fd, LOOP_READ, on_sess, s) < 0) {
		free(s);
		close(fd);
		return NULL;
	}
	s->u = u;
	s->fd = fd;
	s->client = *from;
	h = hash(from);
	s->chain = u->bucket[h];
	u->bucket[h] = s;
	s->next = u->all;
	if (s->next)
		s->next->prev = s;
	u->all = s;
	u->count++;
	u->g->active++;
	u->g->relayed++;
	return s;
}

/* A client's datagram: on to the target through its session. */
static void on_public(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct gw_udp *u = arg;
	int i;

	for (i = 0; i < BURST; ++i) {
		struct sockaddr_in6 from;
		socklen_t fl = sizeof(from);
		struct sess *s;
		ssize_t n = recvfrom(fd, dgram, sizeof(dgram), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);

		if (n < 0)
			return;
		for (s = u->bucket[hash(&from)]; s && !same(&s->client, &from); s = s->chain)
			;
		if (!s)
			s = sess_new(u, &from);
		if (!s)
			continue;
		s->last = clock_mono_ns();
		send(s->fd, dgram, (size_t)n, MSG_DONTWAIT);
	}
}

int gw_udp_start(struct gateway *g, struct gw_forward *f, char *err, size_t len)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	struct gw_udp *u = calloc(1, sizeof(*u));
	int zero = 0, ret;

	if (!u) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	u->g = g;
	u->max = f->max_connections ? f->max_connections : 1024;
	u->idle_ns = (uint64_t)(f->idle_timeout_s ? f->idle_timeout_s : 60) * 1000000000ull;
	ret = gw_sockaddr(&u->target, f->target_ip, f->target_port);
	u->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ret || u->fd < 0)
		goto fail;
	setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	sa.sin6_port = htons(f->public_port);
	if (bind(u->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	ret = loop_add(g->loop, u->fd, LOOP_READ, on_public, u);
	if (ret < 0)
		goto fail;
	f->udp_listener = u;
	return 0;
fail:
	ret = ret ? ret : -errno;
	snprintf(err, len, "public_port %u/udp: %s%s", f->public_port,
		 strerror(-ret),
		 ret == -EACCES ? " (ports below 1024 need CAP_NET_BIND_SERVICE)" : "");
	if (u->fd >= 0)
		close(u->fd);
	free(u);
	return ret;
}

void gw_udp_stop(struct gateway *g, struct gw_forward *f)
{
	struct gw_udp *u = f->udp_listener;

	if (!u)
		return;
	while (u->all)
		sess_free(u->all);
	loop_del(g->loop, u->fd);
	close(u->fd);
	free(u);
	f->udp_listener = NULL;
}

void gw_udp_tick(struct gateway *g, struct gw_forward *f)
{
	struct gw_udp *u = f->udp_listener;
	uint64_t now = clock_mono_ns();
	struct sess *s, *next;

	if (!u)
		return;
	for (s = u->all; s; s = next) {
		next = s->next;
		if (now - s->last > u->idle_ns)
			sess_free(s);
	}
}

/* TCP forwards: a public listener per forward; each connection is joined
 * to a new connection to the mesh target (through the kernel's routes to
 * the WireGuard interface), bytes copied both ways through a bounded
 * buffer per direction, half-closes passed on. No DNAT: replies come back
 * the way they left, with no MASQUERADE to forget. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "io/loop.h"

enum {
	BUF = 64 << 10,
	ACCEPTS = 64,
	CONNS_MAX = 4096, /* per forward, unless it says */
};

struct gw_conn;

struct gw_listener {
	struct gateway *g;
	struct sockaddr_storage target; /* a copy: the forwards array may move */
	uint8_t proxy_protocol;
	unsigned max_conns;
	uint64_t idle_ns;
	int fd;
	unsigned conns;
	struct gw_conn *list;
};

/* One direction: read from `from`, write to `to`. */
struct pipe_dir {
	char *buf;
	size_t off, len;
	bool eof, shut;
};

struct gw_conn {
	struct gw_listener *l;
	struct gw_conn *prev, *next;
	int fd[2];          /* client, target */
	bool connected;
	bool socks_wait;    /* the target through the node's SOCKS5 */
	struct gw_socks socks;
	struct sockaddr_storage target;
	uint64_t last;      /* bytes last moved, CLOCK_MONOTONIC ns */
	struct pipe_dir dir[2]; /* 0: client -> target, 1: target -> client */
};

static void conn_free(struct gw_conn *c)
{
	int i;

	for (i = 0; i < 2; ++i) {
		if (c->fd[i] >= 0) {
			loop_del(c->l->g->loop, c->fd[i]);
			close(c->fd[i]);
		}
		free(c->dir[i].buf);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		c->l->list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->l->conns--;
	c->l->g->active--;
	free(c);
}

/* The events each socket waits for now. */
static void rearm(struct gw_conn *c)
{
	int i;

	for (i = 0; i < 2; ++i) {
		unsigned ev = 0;
		struct pipe_dir *in = &c->dir[i], *out = &c->dir[1 - i];

		if (!c->connected && i == 1) {
			loop_mod(c->l->g->loop, c->fd[1],
				 c->socks_wait && c->socks.sent ? LOOP_READ : LOOP_WRITE);
			continue;
		}
		if (!in->eof && in->len < BUF)
			ev |= LOOP_READ;
		if (out->len > out->off)
			ev |= LOOP_WRITE;
		loop_mod(c->l->g->loop, c->fd[i], ev);
	}
}

/* Moves what it can; false when the connection is over. */
static bool pump(struct gw_conn *c)
{
	int i;

	for (i = 0; i < 2; ++i) {
		struct pipe_dir *d = &c->dir[i];
		int from = c->fd[i], to = c->fd[1 - i];
		ssize_t n;

		if (!d->eof && d->len < BUF) {
			n = read(from, d->buf + d->len, BUF - d->len);
			if (n > 0) {
				d->len += (size_t)n;
				c->last = clock_mono_ns();
			}
			else if (n == 0)
				d->eof = true;
			else if (errno != EAGAIN && errno != EINTR)
				return false;
		}
		while (d->off < d->len) {
			n = send(to, d->buf + d->off, d->len - d->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				return false;
			}
			d->off += (size_t)n;
		}
		if (d->off == d->len)
			d->off = d->len = 0;
		if (d->eof && !d->len && !d->shut) {
			shutdown(to, SHUT_WR);
			d->shut = true;
		}
	}
	return !(c->dir[0].shut && c->dir[1].shut);
}

static void on_conn(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct gw_conn *c = arg;

	if (!c->connected) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		if (fd != c->fd[1])
			return;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (!soerr && c->socks_wait) {
			int r = gw_socks_step(fd, &c->socks, &c->target);

			if (r == 0) {
				rearm(c);
				return;
			}
			if (r < 0)
				soerr = -r;
			c->socks_wait = false;
		}
		if (soerr) {
			/* The target refused or is unreachable: a reset to
			 * the client, as the target would have given. */
			struct linger lg = { 1, 0 };

			setsockopt(c->fd[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			conn_free(c);
			return;
		}
		c->connected = true;
	}
	if (!pump(c)) {
		conn_free(c);
		return;
	}
	rearm(c);
}

static void on_accept(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct gw_listener *l = arg;
	struct sockaddr_storage ss, tmp = { 0 };
	int i, cfd, tfd, one = 1;

	for (i = 0; i < ACCEPTS; ++i) {
		struct gw_conn *c;

		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		if (l->conns >= l->max_conns) {
			close(cfd);
			continue;
		}
		ss = l->target;
		if (l->g->socks.ss_family) {
			tmp = ss;
			ss = l->g->socks;
		}
		tfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		c = calloc(1, sizeof(*c));
		if (tfd < 0 || !c || !(c->dir[0].buf = malloc(BUF)) ||
		    !(c->dir[1].buf = malloc(BUF))) {
			if (c) {
				free(c->dir[0].buf);
				free(c);
			}
			if (tfd >= 0)
				close(tfd);
			close(cfd);
			continue;
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(tfd, (struct sockaddr *)&ss,
			    ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						     : sizeof(struct sockaddr_in)) < 0 &&
		    errno != EINPROGRESS) {
			close(tfd);
			close(cfd);
			free(c->dir[0].buf);
			free(c->dir[1].buf);
			free(c);
			continue;
		}
		c->l = l;
		c->fd[0] = cfd;
		c->fd[1] = tfd;
		c->socks_wait = l->g->socks.ss_family != 0;
		c->target = c->socks_wait ? tmp : ss;
		c->last = clock_mono_ns();
		if (l->proxy_protocol) {
			/* The header goes first, ahead of the client's bytes. */
			struct sockaddr_storage src = { 0 }, dst = { 0 };
			socklen_t sl = sizeof(src), dl = sizeof(dst);

			getpeername(cfd, (struct sockaddr *)&src, &sl);
			getsockname(cfd, (struct sockaddr *)&dst, &dl);
			c->dir[0].len = gw_proxy_header(l->proxy_protocol, &src, &dst,
							(uint8_t *)c->dir[0].buf, BUF);
		}
		c->next = l->list;
		if (c->next)
			c->next->prev = c;
		l->list = c;
		l->conns++;
		l->g->active++;
		l->g->relayed++;
		loop_add(loop, cfd, 0, on_conn, c);
		loop_add(loop, tfd, LOOP_WRITE, on_conn, c);
	}
}

int gw_forward_start(struct gateway *g, struct gw_forward *f, char *err,
		     size_t len)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	struct gw_listener *l;
	int fd, one = 1, zero = 0, ret;

	if (f->udp)
		return gw_udp_start(g, f, err, len);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	sa.sin6_port = htons(f->public_port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, SOMAXCONN) < 0)
		goto fail;
	l = calloc(1, sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		goto fail;
	}
	l->g = g;
	gw_sockaddr(&l->target, f->target_ip, f->target_port);
	l->proxy_protocol = f->proxy_protocol;
	l->max_conns = f->max_connections ? f->max_connections : CONNS_MAX;
	l->idle_ns = (uint64_t)(f->idle_timeout_s ? f->idle_timeout_s : 3600) * 1000000000ull;
	l->fd = fd;
	ret = loop_add(g->loop, fd, LOOP_READ, on_accept, l);
	if (ret < 0) {
		free(l);
		errno = -ret;
		goto fail;
	}
	f->listener = l;
	return 0;
fail:
	ret = -errno;
	snprintf(err, len, "public_port %u: %s%s", f->public_port,
		 strerror(-ret),
		 ret == -EACCES ? " (ports below 1024 need CAP_NET_BIND_SERVICE)" : "");
	if (fd >= 0)
		close(fd);
	return ret;
}

void gw_forward_stop(struct gateway *g, struct gw_forward *f)
{
	struct gw_listener *l = f->listener;

	if (f->udp) {
		gw_udp_stop(g, f);
		return;
	}
	if (!l)
		return;
	while (l->list)
		conn_free(l->list);
	loop_del(g->loop, l->fd);
	close(l->fd);
	free(l);
	f->listener = NULL;
}

void gw_forward_tick(struct gateway *g)
{
	uint64_t now = clock_mono_ns();
	struct gw_conn *c, *next;
	size_t i;

	for (i = 0; i < g->n_forwards; ++i) {
		struct gw_forward *f = &g->forwards[i];

		if (f->udp) {
			gw_udp_tick(g, f);
			continue;
		}
		if (!f->listener)
			continue;
		for (c = f->listener->list; c; c = next) {
			next = c->next;
			if (now - c->last > f->listener->idle_ns)
				conn_free(c);
		}
	}
}

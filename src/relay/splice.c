/* A stack connection joined to a host socket. Host -> overlay: readv()
 * straight into the stack's send buffer (send_reserve/commit); when it is
 * full, host reads stop until writable(). Overlay -> host: writev() from the
 * stack's receive buffer (recv_peek/consume); when the host socket is full
 * the data stays there, the advertised window closes, and LOOP_WRITE
 * resumes the copy. Nothing else buffers, so both directions are bounded. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/loop.h"
#include "relay/internal.h"

enum {
	SPLICE_IOV = 8,
	SPLICE_ROUNDS = 16, /* reads per event, so one flow cannot starve */
};

struct splice {
	struct splice *prev, *next;
	struct relay *r;
	struct netstack_tcp *c;
	int fd;
	unsigned events;
	bool up_paused;  /* stack send buffer full: host reads stopped */
	bool host_eof;   /* host sent FIN; passed on with shutdown */
	bool stack_eof;  /* stack peer's FIN passed on with SHUT_WR */
	bool down_blocked; /* host socket full: waiting for LOOP_WRITE */
};

static void unlink_free(struct splice *s)
{
	struct relay *r = s->r;

	if (s->prev)
		s->prev->next = s->next;
	else
		r->splices = s->next;
	if (s->next)
		s->next->prev = s->prev;
	r->stats.splices_active--;
	free(s);
}

/* Resets both sides. */
static void fail(struct splice *s)
{
	loop_del(s->r->loop, s->fd);
	relay_close_rst(s->fd);
	netstack_tcp_abort(s->c);
	unlink_free(s);
}

/* Both directions finished: the stack still delivers what is queued. */
static bool check_done(struct splice *s)
{
	if (!s->host_eof || !s->stack_eof)
		return false;
	loop_del(s->r->loop, s->fd);
	close(s->fd);
	netstack_tcp_close(s->c);
	unlink_free(s);
	return true;
}

static void set_events(struct splice *s)
{
	unsigned ev = 0;

	if (!s->host_eof && !s->up_paused)
		ev |= LOOP_READ;
	if (s->down_blocked)
		ev |= LOOP_WRITE;
	if (ev != s->events) {
		loop_mod(s->r->loop, s->fd, ev);
		s->events = ev;
	}
}

/* Host -> stack. Returns false if s was freed. */
static bool pump_up(struct splice *s)
{
	struct iovec iov[SPLICE_IOV];
	size_t space;
	ssize_t n;
	int i, cnt, round;

	s->up_paused = false; /* re-checked against the send space below */
	for (round = 0; round < SPLICE_ROUNDS && !s->host_eof; ++round) {
		cnt = netstack_tcp_send_reserve(s->c, iov, SPLICE_IOV);
		if (cnt < 0)
			return true; /* closed() reports it */
		if (!cnt) {
			s->up_paused = true;
			break;
		}
		for (space = 0, i = 0; i < cnt; ++i)
			space += iov[i].iov_len;
		n = readv(s->fd, iov, cnt);
		if (n > 0) {
			netstack_tcp_send_commit(s->c, (size_t)n);
			if ((size_t)n < space)
				break;
			continue;
		}
		if (n == 0) {
			s->host_eof = true;
			netstack_tcp_shutdown(s->c);
			return !check_done(s);
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* Nothing came: give back what the reservation took,
			 * so an idle connection holds no send buffer. */
			netstack_tcp_send_commit(s->c, 0);
			break;
		}
		fail(s);
		return false;
	}
	return true;
}

/* Stack -> host. Returns false if s was freed. */
static bool pump_down(struct splice *s)
{
	struct iovec iov[SPLICE_IOV];
	size_t total;
	ssize_t n;
	int i, cnt;

	s->down_blocked = false;
	for (;;) {
		cnt = netstack_tcp_recv_peek(s->c, iov, SPLICE_IOV);
		if (cnt <= 0) {
			if (!s->stack_eof && netstack_tcp_eof(s->c)) {
				s->stack_eof = true;
				shutdown(s->fd, SHUT_WR);
				return !check_done(s);
			}
			return true;
		}
		for (total = 0, i = 0; i < cnt; ++i)
			total += iov[i].iov_len;
		n = writev(s->fd, iov, cnt);
		if (n > 0) {
			netstack_tcp_recv_consume(s->c, (size_t)n);
			if ((size_t)n < total) {
				s->down_blocked = true;
				return true;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			s->down_blocked = true;
			return true;
		}
		fail(s);
		return false;
	}
}

static void on_connected(void *ctx, struct netstack_tcp *c)
{
	struct splice *s = ctx;

	if (pump_up(s))
		set_events(s);
}

static void on_readable(void *ctx, struct netstack_tcp *c)
{
	struct splice *s = ctx;

	if (pump_down(s))
		set_events(s);
}

static void on_writable(void *ctx, struct netstack_tcp *c)
{
	struct splice *s = ctx;

	if (pump_up(s))
		set_events(s);
}

static void on_closed(void *ctx, struct netstack_tcp *c, int err)
{
	struct splice *s = ctx;

	if (err) {
		relay_log(s->r, "overlay connection closed: %s", strerror(-err));
		fail(s);
		return;
	}
	/* Orderly: hand the host what is left and its FIN. */
	if (pump_down(s) && !check_done(s))
		set_events(s);
}

static const struct netstack_tcp_ops splice_ops = {
	.connected = on_connected,
	.readable = on_readable,
	.writable = on_writable,
	.closed = on_closed,
};

static void on_host(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct splice *s = arg;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	relay_clock(s->r);
	if (events & LOOP_WRITE) {
		if (!pump_down(s))
			return;
	}
	if (events & LOOP_READ) {
		if (!s->host_eof && !s->up_paused) {
			if (!pump_up(s))
				return;
		} else if (!getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) &&
			   soerr) {
			fail(s); /* an error while we were not reading */
			return;
		}
	}
	set_events(s);
}

static void link_in(struct relay *r, struct splice *s)
{
	s->next = r->splices;
	if (s->next)
		s->next->prev = s;
	r->splices = s;
	r->stats.splices++;
	r->stats.splices_active++;
}

int splice_connect(struct relay *r, const struct netstack_addr *remote,
		   int fd)
{
	struct splice *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		relay_close_rst(fd);
		return -ENOMEM;
	}
	s->r = r;
	s->fd = fd;
	s->events = LOOP_READ;
	ret = netstack_tcp_connect(r->st, NULL, remote, &splice_ops, s, &s->c);
	if (ret < 0) {
		relay_close_rst(fd);
		free(s);
		return ret;
	}
	ret = loop_add(r->loop, fd, LOOP_READ, on_host, s);
	if (ret < 0) {
		relay_close_rst(fd);
		netstack_tcp_abort(s->c);
		free(s);
		return ret;
	}
	link_in(r, s);
	return 0;
}

int splice_new(struct relay *r, struct netstack_tcp *c, int fd)
{
	struct splice *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		relay_close_rst(fd);
		netstack_tcp_abort(c);
		return -ENOMEM;
	}
	s->r = r;
	s->c = c;
	s->fd = fd;
	s->events = LOOP_READ;
	ret = loop_add(r->loop, fd, LOOP_READ, on_host, s);
	if (ret < 0) {
		relay_close_rst(fd);
		netstack_tcp_abort(c);
		free(s);
		return ret;
	}
	netstack_tcp_set_ops(c, &splice_ops, s);
	link_in(r, s);
	/* Anything already received (e.g. before a deferred accept). */
	if (netstack_tcp_recv_avail(c) || netstack_tcp_eof(c)) {
		if (pump_down(s))
			set_events(s);
	}
	return 0;
}

void splice_free_all(struct relay *r)
{
	while (r->splices) {
		struct splice *s = r->splices;

		loop_del(r->loop, s->fd);
		close(s->fd);
		netstack_tcp_abort(s->c);
		unlink_free(s);
	}
}

/* The UAPI unix socket /var/run/wireguard/IFACE.sock: non-blocking accept
 * and per-connection buffered requests on the event loop, framed and
 * answered the way wireguard-go's IpcHandle does ("errno=-N"). */
#include "uapi/uapi.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/loop.h"

#define UAPI_DIR "/var/run/wireguard"

enum {
	/* A set for thousands of peers is a few MiB; refuse beyond this. */
	UAPI_MAX_REQUEST = 64 << 20,
	READ_CHUNK = 64 << 10,
	/* Per readiness event, so one busy client cannot starve the loop. */
	READ_BUDGET = 1 << 20,
	/* Longer than this without a newline cannot be "get=1" or "set=1". */
	MAX_OP_LINE = 16,
};

struct conn {
	struct uapi_server *srv;
	int fd;
	/* Input: unconsumed bytes are in[in_off, in_len). */
	char *in;
	size_t in_off, in_len, in_cap;
	/* The search for a set body's blank line: start of the line it is
	 * in, and how far it has looked (0: not started for this request). */
	size_t scan_line, scan_end;
	/* Reply being written: out[out_off, out_len). */
	char *out;
	size_t out_off, out_len;
	bool eof;     /* peer shut down its write side */
	bool closing; /* close once the reply is written */
	struct conn *prev, *next;
};

struct uapi_server {
	struct loop *loop;
	struct uapi_handler handler;
	int fd;
	dev_t dev;
	ino_t ino;
	struct conn *conns;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool private_dir; /* not UAPI_DIR: see uapi_private_dir() */
};

static void wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	memzero(p, len);
	free(p);
}

static void conn_close(struct conn *c)
{
	struct uapi_server *srv = c->srv;

	loop_del(srv->loop, c->fd);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* Requests and replies carry private keys. */
	wipe_free(c->in, c->in_cap);
	wipe_free(c->out, c->out_len);
	free(c);
}

/* Takes ownership of body (len bytes, may be NULL when len is 0) and
 * queues body + "errno=N\n\n". 0 or -ENOMEM. */
static int queue_reply(struct conn *c, char *body, size_t len, int err)
{
	char status[32];
	int n;
	char *out;

	if (err > 0)
		err = -err;
	n = snprintf(status, sizeof(status), "errno=%d\n\n", err);
	out = malloc(len + (size_t)n);
	if (!out) {
		wipe_free(body, len);
		return -ENOMEM;
	}
	if (len)
		memcpy(out, body, len);
	memcpy(out + len, status, (size_t)n);
	wipe_free(body, len);
	c->out = out;
	c->out_len = len + (size_t)n;
	c->out_off = 0;
	return 0;
}

static int do_get(struct conn *c)
{
	const struct uapi_handler *h = &c->srv->handler;
	struct uapi_config cfg = { 0 };
	char *body = NULL;
	size_t len = 0;
	int ret = -EOPNOTSUPP;

	if (h->get)
		ret = h->get(h->ctx, &cfg);
	if (!ret) {
		body = uapi_format_get(&cfg, &len);
		if (!body)
			ret = -ENOMEM;
	}
	uapi_config_free(&cfg);
	if (ret)
		len = 0;
	return queue_reply(c, body, len, ret);
}

static int do_set(struct conn *c, const char *body, size_t len)
{
	const struct uapi_handler *h = &c->srv->handler;
	struct uapi_config cfg;
	int ret;

	ret = uapi_parse_set(body, len, &cfg);
	if (!ret) {
		ret = h->set ? h->set(h->ctx, &cfg) : -EOPNOTSUPP;
		uapi_config_free(&cfg);
	}
	return queue_reply(c, NULL, 0, ret);
}

/* Ours, not the protocol's: "reload=1\nconfig=PATH\n\n" has the daemon
 * re-read the parts of its config the UAPI does not carry (a node's
 * [Policy]); `spokewire reload` sends it after the set. */
static int do_reload(struct conn *c, const char *body, size_t len)
{
	const struct uapi_handler *h = &c->srv->handler;
	char path[4096], msg[512] = "", *out = NULL;
	int ret = -EINVAL, n = 0;

	if (len > 7 && !memcmp(body, "config=", 7) && body[len - 1] == '\n' &&
	    len - 8 < sizeof(path) && !memchr(body, '\0', len)) {
		memcpy(path, body + 7, len - 8);
		path[len - 8] = '\0';
		ret = strchr(path, '\n') ? -EINVAL
		      : h->reload	 ? h->reload(h->ctx, path, msg, sizeof(msg))
					 : -EOPNOTSUPP;
	}
	if (msg[0] && !strchr(msg, '\n'))
		n = asprintf(&out, "message=%s\n", msg);
	if (n < 0) {
		out = NULL;
		n = 0;
	}
	return queue_reply(c, out, (size_t)n, ret);
}

static int do_status(struct conn *c)
{
	const struct uapi_handler *h = &c->srv->handler;
	char *doc = h->status ? h->status(h->ctx) : NULL, *out = NULL;
	int n = 0;

	if (doc && !strchr(doc, '\n'))
		n = asprintf(&out, "json=%s\n", doc);
	free(doc);
	if (n < 0) {
		out = NULL;
		n = 0;
	}
	return queue_reply(c, out, (size_t)n,
			   out ? 0 : h->status ? -ENOMEM : -EOPNOTSUPP);
}

static void consume(struct conn *c, size_t n)
{
	memzero(c->in + c->in_off, n);
	c->in_off += n;
	c->scan_line = c->scan_end = 0;
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
}

/* Finds the blank line that ends a set body starting at body. Returns its
 * offset (the body's length) and sets *end past it, or -1 if not there yet.
 * Resumes where it stopped, so a body arriving in pieces is scanned once. */
static long find_blank_line(struct conn *c, size_t body, size_t *end)
{
	const char *in = c->in + c->in_off;
	size_t avail = c->in_len - c->in_off;
	size_t line = c->scan_line > body ? c->scan_line : body;
	size_t pos = c->scan_end > line ? c->scan_end : line;

	while (pos < avail) {
		const char *nl = memchr(in + pos, '\n', avail - pos);
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - (in + line));
		/* "\r\n" is blank too: Go's ScanLines drops the CR. */
		if (!len || (len == 1 && in[line] == '\r')) {
			*end = line + len + 1;
			return (long)(line - body);
		}
		line = pos = line + len + 1;
	}
	c->scan_line = line;
	c->scan_end = avail;
	return -1;
}

/* Handles every complete request in the input, one reply at a time.
 * Returns false if the connection was closed. */
static bool process(struct conn *c)
{
	while (!c->out && !c->closing) {
		const char *in = c->in + c->in_off;
		size_t avail = c->in_len - c->in_off;
		const char *nl = memchr(in, '\n', avail);
		size_t op_len, end;
		long body_len;
		int ret;

		if (!nl) {
			if (avail >= MAX_OP_LINE) {
				ret = queue_reply(c, NULL, 0, -EPROTO);
				c->closing = true;
				break;
			}
			if (c->eof)
				goto close;
			return true;
		}
		op_len = (size_t)(nl - in) + 1;
		if (op_len == 6 && !memcmp(in, "get=1\n", 6)) {
			if (avail < 7) {
				/* wireguard-go hangs up without a reply. */
				if (c->eof)
					goto close;
				return true;
			}
			/* wireguard-go answers a stray byte after "get=1\n"
			 * with EINVAL, drops it and carries on. */
			if (in[6] != '\n') {
				consume(c, 7);
				ret = queue_reply(c, NULL, 0, -EINVAL);
			} else {
				consume(c, 7);
				ret = do_get(c);
			}
		} else if (op_len == 6 && !memcmp(in, "set=1\n", 6)) {
			body_len = find_blank_line(c, op_len, &end);
			if (body_len < 0 && c->eof) {
				/* Like wireguard-go, a set cut short by EOF is
				 * still applied (printf ... | nc -U works). */
				body_len = (long)(avail - op_len);
				end = avail;
			} else if (body_len < 0) {
				if (avail <= UAPI_MAX_REQUEST)
					return true;
				ret = queue_reply(c, NULL, 0, -EMSGSIZE);
				c->closing = true;
				break;
			}
			ret = do_set(c, in + op_len, (size_t)body_len);
			consume(c, end);
		} else if (op_len == 9 && !memcmp(in, "status=1\n", 9)) {
			if (avail < 10) {
				if (c->eof)
					goto close;
				return true;
			}
			consume(c, in[9] == '\n' ? 10 : 9);
			ret = do_status(c);
		} else if (op_len == 9 && !memcmp(in, "reload=1\n", 9)) {
			body_len = find_blank_line(c, op_len, &end);
			if (body_len < 0) {
				if (!c->eof && avail <= MAX_OP_LINE + 4096)
					return true;
				ret = queue_reply(c, NULL, 0, -EINVAL);
				c->closing = true;
				break;
			}
			ret = do_reload(c, in + op_len, (size_t)body_len);
			consume(c, end);
		} else {
			/* wireguard-go just hangs up; an errno first is
			 * kinder to hand-typed requests. */
			ret = queue_reply(c, NULL, 0, -EPROTO);
			c->closing = true;
			break;
		}
		if (ret)
			goto close;
	}
	if (!c->out)
		goto close; /* out of memory for the error reply */
	return true;
close:
	conn_close(c);
	return false;
}

/* Writes what it can of the pending reply. Returns false if closed. */
static bool flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			conn_close(c);
			return false;
		}
		c->out_off += (size_t)n;
	}
	wipe_free(c->out, c->out_len);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	if (c->closing) {
		conn_close(c);
		return false;
	}
	return true;
}

/* Reads what is there, up to the budget. Returns false if closed. */
static bool fill(struct conn *c)
{
	size_t budget = READ_BUDGET;

	if (c->in_off) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	while (budget && !c->eof) {
		ssize_t n;

		if (c->in_cap - c->in_len < READ_CHUNK) {
			size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
			char *p;

			while (cap - c->in_len < READ_CHUNK)
				cap *= 2;
			p = malloc(cap);
			if (!p) {
				conn_close(c);
				return false;
			}
			if (c->in) {
				memcpy(p, c->in, c->in_len);
				wipe_free(c->in, c->in_cap);
			}
			c->in = p;
			c->in_cap = cap;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len,
			 MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			conn_close(c);
			return false;
		}
		if (!n) {
			c->eof = true;
			break;
		}
		c->in_len += (size_t)n;
		budget -= (size_t)n < budget ? (size_t)n : budget;
		/* Past the cap: let process() refuse it. */
		if (c->in_len > UAPI_MAX_REQUEST + MAX_OP_LINE)
			break;
	}
	return true;
}

static void conn_event(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct conn *c = arg;

	if (c->out && (events & LOOP_WRITE) && !flush(c))
		return;
	if (!c->out && (events & LOOP_READ) && !c->eof && !fill(c))
		return;
	/* Replies are written straight away; the loop only waits for
	 * writability when the socket buffer is full. */
	while (!c->out) {
		if (!process(c))
			return;
		if (!c->out)
			break;
		if (!flush(c))
			return;
	}
	if (!c->out && c->eof) {
		conn_close(c);
		return;
	}
	/* Stop reading while a reply is pending, so a client that never reads
	 * cannot make us queue unbounded output. */
	loop_mod(loop, fd, c->out ? LOOP_WRITE : LOOP_READ);
}

static void accept_event(struct loop *loop, int fd, unsigned events,
			 void *arg)
{
	struct uapi_server *srv = arg;

	for (;;) {
		struct conn *c;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			continue;
		}
		c->srv = srv;
		c->fd = cfd;
		if (loop_add(loop, cfd, LOOP_READ, conn_event, c)) {
			close(cfd);
			free(c);
			continue;
		}
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
	}
}

static bool valid_ifname(const char *ifname)
{
	size_t len = strlen(ifname);

	return len && len < IFNAMSIZ && !strchr(ifname, '/') &&
	       strcmp(ifname, ".") && strcmp(ifname, "..");
}

/* bind() with wireguard-go's retry: a socket nobody answers on is stale. */
static int bind_socket(int fd, const struct sockaddr_un *addr)
{
	struct stat st;
	mode_t old;
	int ret, probe, tries;

	for (tries = 0; tries < 2; ++tries) {
		/* Root-only: the protocol hands out private keys. */
		old = umask(0177);
		ret = bind(fd, (const struct sockaddr *)addr, sizeof(*addr));
		umask(old);
		if (!ret)
			return 0;
		if (errno != EADDRINUSE)
			return -errno;
		if (lstat(addr->sun_path, &st) < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
						SOCK_CLOEXEC, 0);
		if (probe < 0)
			return -errno;
		ret = connect(probe, (const struct sockaddr *)addr,
			      sizeof(*addr));
		/* EAGAIN: a listener with a full backlog is still alive. */
		if (!ret || errno == EAGAIN || errno == EINPROGRESS) {
			close(probe);
			return -EADDRINUSE;
		}
		close(probe);
		if (unlink(addr->sun_path) < 0 && errno != ENOENT)
			return -errno;
	}
	return -EADDRINUSE;
}

/* The socket in dir: created (dir too, 0755 as wireguard-go), bound,
 * listening and on the loop. 0 or -errno. */
static int open_in(struct uapi_server *srv, const char *dir,
		   const char *ifname)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int ret;

	if (snprintf(srv->path, sizeof(srv->path), "%s/%s.sock", dir,
		     ifname) >= (int)sizeof(srv->path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, srv->path, sizeof(addr.sun_path));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			 0);
	if (srv->fd < 0)
		return -errno;
	ret = bind_socket(srv->fd, &addr);
	if (ret)
		goto err_close;
	if (listen(srv->fd, SOMAXCONN) < 0 || stat(srv->path, &st) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	ret = loop_add(srv->loop, srv->fd, LOOP_READ, accept_event, srv);
	if (ret)
		goto err_unlink;
	return 0;
err_unlink:
	unlink(srv->path);
err_close:
	close(srv->fd);
	return ret;
}

int uapi_server_open(struct uapi_server **out, const char *ifname,
		     struct loop *loop, const struct uapi_handler *handler)
{
	struct uapi_server *srv;
	char dir[UAPI_PATH_MAX];
	int ret;

	*out = NULL;
	if (!valid_ifname(ifname))
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->handler = *handler;
	ret = open_in(srv, UAPI_DIR, ifname);
	/* Rootless: nothing prepared for us there, so a directory of our
	 * own (wg(8) will not look in it; our commands do). */
	if ((ret == -EACCES || ret == -EPERM || ret == -EROFS) &&
	    !uapi_private_dir(dir, sizeof(dir), true)) {
		ret = open_in(srv, dir, ifname);
		srv->private_dir = !ret;
	}
	if (ret) {
		free(srv);
		return ret;
	}
	*out = srv;
	return 0;
}

bool uapi_server_private(const struct uapi_server *srv)
{
	return srv->private_dir;
}

void uapi_server_close(struct uapi_server *srv)
{
	struct stat st;

	if (!srv)
		return;
	while (srv->conns)
		conn_close(srv->conns);
	loop_del(srv->loop, srv->fd);
	close(srv->fd);
	/* Only our own socket: a newer daemon may have replaced it. */
	if (!stat(srv->path, &st) && st.st_dev == srv->dev &&
	    st.st_ino == srv->ino)
		unlink(srv->path);
	free(srv);
}

const char *uapi_server_path(const struct uapi_server *srv)
{
	return srv->path;
}

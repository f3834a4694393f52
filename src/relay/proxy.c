/* [Proxy]: SOCKS5 (RFC 1928, CONNECT, no authentication) and HTTP (CONNECT
 * and absolute-form requests) into the overlay. A client's request is read
 * into a small fixed buffer; names are resolved on the resolver thread; the
 * stack connects; the reply goes out; then the connection is spliced. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/loop.h"
#include "relay/internal.h"

enum {
	PROXY_BUF = 8192,
	SOCKS_VER = 5,
	SOCKS_CMD_CONNECT = 1,
	SOCKS_ATYP_V4 = 1,
	SOCKS_ATYP_NAME = 3,
	SOCKS_ATYP_V6 = 4,
	SOCKS_OK = 0,
	SOCKS_FAIL = 1,
	SOCKS_NOT_ALLOWED = 2,
	SOCKS_NET_UNREACH = 3,
	SOCKS_HOST_UNREACH = 4,
	SOCKS_REFUSED = 5,
	SOCKS_TTL = 6,
	SOCKS_BAD_CMD = 7,
	SOCKS_BAD_ATYP = 8,
};

enum pstate {
	PS_GREETING, /* SOCKS5 only */
	PS_REQUEST,
	PS_RESOLVING,
	PS_CONNECTING,
};

struct proxy_listener {
	struct relay *r;
	bool http;
};

struct proxy_conn {
	struct proxy_conn *prev, *next;
	struct relay *r;
	int fd;
	bool http;
	bool http_connect; /* CONNECT, else absolute-form */
	enum pstate state;
	struct resolve_req *rq;
	struct netstack_tcp *c;
	size_t len;     /* bytes in buf */
	size_t used;    /* request bytes; the rest is early payload */
	size_t head_len; /* HTTP: rewritten head at out */
	uint8_t buf[PROXY_BUF];
	char out[PROXY_BUF];
};

static void conn_free(struct proxy_conn *pc, bool rst)
{
	struct relay *r = pc->r;

	if (pc->prev)
		pc->prev->next = pc->next;
	else
		r->proxy_conns = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	if (pc->rq)
		resolve_cancel(pc->rq);
	if (pc->c)
		netstack_tcp_abort(pc->c);
	if (pc->fd >= 0) {
		loop_del(r->loop, pc->fd);
		if (rst)
			relay_close_rst(pc->fd);
		else
			close(pc->fd);
	}
	free(pc);
}

/* Small replies to a fresh socket: the kernel buffer takes them whole. */
static void reply(struct proxy_conn *pc, const void *data, size_t len)
{
	if (send(pc->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		relay_log(pc->r, "proxy reply: %s", strerror(errno));
}

static void fail_socks(struct proxy_conn *pc, uint8_t rep)
{
	uint8_t msg[10] = { SOCKS_VER, rep, 0, SOCKS_ATYP_V4 };

	reply(pc, msg, sizeof(msg));
	pc->r->stats.proxy_failed++;
	conn_free(pc, false);
}

static void fail_http(struct proxy_conn *pc, const char *status)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 %s\r\nContent-Length: 0\r\n"
			 "Connection: close\r\n\r\n", status);

	reply(pc, msg, (size_t)n);
	pc->r->stats.proxy_failed++;
	conn_free(pc, false);
}

static void fail_err(struct proxy_conn *pc, int err)
{
	if (pc->http) {
		fail_http(pc, err == -ETIMEDOUT ? "504 Gateway Timeout"
			      : err == -EACCES  ? "403 Forbidden"
						: "502 Bad Gateway");
		return;
	}
	switch (err) {
	case -EACCES: /* [Policy] HubOriginates = no */
		fail_socks(pc, SOCKS_NOT_ALLOWED);
		break;
	case -ECONNREFUSED:
		fail_socks(pc, SOCKS_REFUSED);
		break;
	case -ENETUNREACH:
		fail_socks(pc, SOCKS_NET_UNREACH);
		break;
	case -EHOSTUNREACH:
	case -ENOENT:
		fail_socks(pc, SOCKS_HOST_UNREACH);
		break;
	case -ETIMEDOUT:
		fail_socks(pc, SOCKS_TTL);
		break;
	default:
		fail_socks(pc, SOCKS_FAIL);
	}
}

/* ---- upstream through the stack */

static void on_connected(void *ctx, struct netstack_tcp *c)
{
	struct proxy_conn *pc = ctx;
	struct relay *r = pc->r;
	size_t early = pc->len - pc->used;
	int fd = pc->fd;

	if (pc->http && !pc->http_connect) {
		netstack_tcp_send(c, pc->out, pc->head_len);
	} else if (pc->http) {
		static const char ok[] =
			"HTTP/1.1 200 Connection established\r\n\r\n";

		reply(pc, ok, sizeof(ok) - 1);
	} else {
		const struct netstack_addr *l = netstack_tcp_local(c);
		uint8_t msg[22] = { SOCKS_VER, SOCKS_OK, 0 };
		size_t n;

		if (l->family == AF_INET6) {
			msg[3] = SOCKS_ATYP_V6;
			memcpy(msg + 4, l->ip, 16);
			n = 20;
		} else {
			msg[3] = SOCKS_ATYP_V4;
			memcpy(msg + 4, l->ip, 4);
			n = 8;
		}
		msg[n] = (uint8_t)(l->port >> 8);
		msg[n + 1] = (uint8_t)l->port;
		reply(pc, msg, n + 2);
	}
	/* Payload the client sent right behind its request. */
	if (early)
		netstack_tcp_send(c, pc->buf + pc->used, early);
	pc->c = NULL;
	loop_del(r->loop, fd);
	pc->fd = -1;
	conn_free(pc, false);
	splice_new(r, c, fd);
}

static void on_closed(void *ctx, struct netstack_tcp *c, int err)
{
	fail_err(ctx, err ? err : -ECONNRESET);
}

static void on_event(void *ctx, struct netstack_tcp *c)
{
}

static const struct netstack_tcp_ops upstream_ops = {
	.connected = on_connected,
	.readable = on_event,
	.writable = on_event,
	.closed = on_closed,
};

static void start_connect(struct proxy_conn *pc, const struct sockaddr *sa)
{
	struct netstack_addr remote;
	int ret;

	if (netstack_addr_from_sockaddr(&remote, sa) < 0) {
		fail_err(pc, -EHOSTUNREACH);
		return;
	}
	pc->state = PS_CONNECTING;
	ret = netstack_tcp_connect(pc->r->st, NULL, &remote, &upstream_ops,
				   pc, &pc->c);
	if (ret < 0) {
		pc->c = NULL;
		fail_err(pc, ret == -EADDRNOTAVAIL ? -ENETUNREACH : ret);
	}
}

/* The address to connect to: IPv4 first (as wg(8) and conf_resolve()
 * prefer it), but only of a family we have an overlay address of, since
 * the stack cannot connect from none. NULL: no such address. */
static const struct sockaddr *pick_addr(const struct relay *r,
					const struct sockaddr_storage *addrs,
					size_t n)
{
	const struct netstack_addr *ours[] = { &r->addr4, &r->addr6 };
	size_t f, i;

	for (f = 0; f < sizeof(ours) / sizeof(ours[0]); ++f) {
		if (!ours[f]->family)
			continue;
		for (i = 0; i < n; ++i)
			if (addrs[i].ss_family == ours[f]->family)
				return (const struct sockaddr *)&addrs[i];
	}
	return NULL;
}

static void on_resolved(void *ctx, int err,
			const struct sockaddr_storage *addrs, size_t n)
{
	struct proxy_conn *pc = ctx;
	const struct sockaddr *sa;

	relay_clock(pc->r);
	pc->rq = NULL;
	if (err) {
		fail_err(pc, err);
		return;
	}
	sa = pick_addr(pc->r, addrs, n);
	if (!sa) {
		fail_err(pc, -ENETUNREACH);
		return;
	}
	start_connect(pc, sa);
}

/* A literal address connects at once; a name goes to the resolver. */
static void connect_host(struct proxy_conn *pc, const char *host,
			 uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		start_connect(pc, (struct sockaddr *)&ss);
		return;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		start_connect(pc, (struct sockaddr *)&ss);
		return;
	}
	pc->state = PS_RESOLVING;
	pc->rq = resolve_start(pc->r->res, host, port, on_resolved, pc);
	if (!pc->rq)
		fail_err(pc, -ENOMEM);
}

/* ---- SOCKS5 */

/* The request parsers return 0 when they need more bytes, 1 when the
 * greeting is done and the request may follow, -1 when they acted on the
 * request (pc may be gone). */
static int socks_greeting(struct proxy_conn *pc)
{
	static const uint8_t ok[2] = { SOCKS_VER, 0 }, no[2] = { SOCKS_VER, 0xff };
	size_t need;

	if (pc->len < 2)
		return 0;
	need = 2 + (size_t)pc->buf[1];
	if (pc->len < need)
		return 0;
	if (pc->buf[0] != SOCKS_VER || !memchr(pc->buf + 2, 0, pc->buf[1])) {
		reply(pc, no, sizeof(no));
		conn_free(pc, false);
		return -1;
	}
	reply(pc, ok, sizeof(ok));
	memmove(pc->buf, pc->buf + need, pc->len - need);
	pc->len -= need;
	pc->state = PS_REQUEST;
	return 1;
}

static int socks_request(struct proxy_conn *pc)
{
	const uint8_t *b = pc->buf;
	char host[CONF_HOST_MAX];
	size_t need, hlen;
	uint16_t port;

	if (pc->len < 5)
		return 0;
	if (b[0] != SOCKS_VER) {
		conn_free(pc, true);
		return -1;
	}
	switch (b[3]) {
	case SOCKS_ATYP_V4:
		need = 4 + 4 + 2;
		break;
	case SOCKS_ATYP_V6:
		need = 4 + 16 + 2;
		break;
	case SOCKS_ATYP_NAME:
		need = 4 + 1 + (size_t)b[4] + 2;
		break;
	default:
		fail_socks(pc, SOCKS_BAD_ATYP);
		return -1;
	}
	if (pc->len < need)
		return 0;
	pc->used = need;
	pc->r->stats.socks_requests++;
	if (b[1] != SOCKS_CMD_CONNECT) {
		fail_socks(pc, SOCKS_BAD_CMD);
		return -1;
	}
	port = (uint16_t)(b[need - 2] << 8 | b[need - 1]);
	if (b[3] == SOCKS_ATYP_V4) {
		inet_ntop(AF_INET, b + 4, host, sizeof(host));
	} else if (b[3] == SOCKS_ATYP_V6) {
		inet_ntop(AF_INET6, b + 4, host, sizeof(host));
	} else {
		hlen = b[4];
		if (!hlen || memchr(b + 5, 0, hlen)) {
			fail_socks(pc, SOCKS_HOST_UNREACH);
			return -1;
		}
		memcpy(host, b + 5, hlen);
		host[hlen] = '\0';
	}
	connect_host(pc, host, port);
	return -1;
}

/* ---- HTTP */

/* Splits "host[:port]" / "[v6][:port]" (in place). 0 or -EINVAL. */
static int split_authority(char *auth, char **host, uint16_t *port,
			   uint16_t def)
{
	char *colon, *end;
	unsigned long v;

	*port = def;
	if (auth[0] == '[') {
		char *close = strchr(auth, ']');

		if (!close)
			return -EINVAL;
		*close = '\0';
		*host = auth + 1;
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close[1])
			return -EINVAL;
	} else {
		*host = auth;
		colon = strrchr(auth, ':');
		if (colon)
			*colon = '\0';
	}
	if (colon) {
		v = strtoul(colon + 1, &end, 10);
		if (*end || !v || v > 65535)
			return -EINVAL;
		*port = (uint16_t)v;
	}
	return **host ? 0 : -EINVAL;
}

static bool header_is(const char *line, const char *name)
{
	size_t n = strlen(name);

	return !strncasecmp(line, name, n) && line[n] == ':';
}

/* Rewrites an absolute-form request for the origin: origin-form target,
 * Proxy-* headers dropped, one request per connection. */
static int http_rewrite(struct proxy_conn *pc, const char *method,
			const char *path, const char *version,
			const char *headers)
{
	size_t o = 0;
	const char *line = headers, *eol;
	int n;

	n = snprintf(pc->out, sizeof(pc->out), "%s %s %s\r\n", method, path,
		     version);
	if (n < 0 || (size_t)n >= sizeof(pc->out))
		return -EINVAL;
	o = (size_t)n;
	while (*line && (eol = strstr(line, "\r\n")) && eol != line) {
		size_t len = (size_t)(eol - line) + 2;

		if (!header_is(line, "Proxy-Connection") &&
		    !header_is(line, "Proxy-Authorization") &&
		    !header_is(line, "Connection")) {
			if (o + len >= sizeof(pc->out))
				return -EINVAL;
			memcpy(pc->out + o, line, len);
			o += len;
		}
		line = eol + 2;
	}
	n = snprintf(pc->out + o, sizeof(pc->out) - o,
		     "Connection: close\r\n\r\n");
	if (n < 0 || (size_t)n >= sizeof(pc->out) - o)
		return -EINVAL;
	pc->head_len = o + (size_t)n;
	return 0;
}

static int http_request(struct proxy_conn *pc)
{
	char *end, *method, *target, *version, *sp, *eol, *host, *path;
	char *headers;
	uint16_t port;

	end = memmem(pc->buf, pc->len, "\r\n\r\n", 4);
	if (!end) {
		if (pc->len == sizeof(pc->buf) - 1) {
			fail_http(pc, "431 Request Header Fields Too Large");
			return -1;
		}
		return 0;
	}
	pc->used = (size_t)(end - (char *)pc->buf) + 4;
	end[2] = '\0'; /* keep the last header's CRLF */
	pc->r->stats.http_requests++;
	method = (char *)pc->buf;
	eol = strstr(method, "\r\n");
	*eol = '\0';
	headers = eol + 2;
	sp = strchr(method, ' ');
	if (!sp)
		goto bad;
	*sp = '\0';
	target = sp + 1;
	sp = strchr(target, ' ');
	if (!sp)
		goto bad;
	*sp = '\0';
	version = sp + 1;
	if (strncmp(version, "HTTP/1.", 7))
		goto bad;
	if (!strcmp(method, "CONNECT")) {
		pc->http_connect = true;
		if (split_authority(target, &host, &port, 0) || !port)
			goto bad;
		connect_host(pc, host, port);
		return -1;
	}
	if (strncasecmp(target, "http://", 7)) {
		fail_http(pc, strncasecmp(target, "https://", 8)
				      ? "400 Bad Request"
				      : "501 Not Implemented");
		return -1;
	}
	target += 7;
	path = strchr(target, '/');
	/* The authority ends at the path; move it out of the way first. */
	{
		char auth[CONF_HOST_MAX + 8], origin[PROXY_BUF];
		size_t alen = path ? (size_t)(path - target) : strlen(target);

		if (alen >= sizeof(auth))
			goto bad;
		memcpy(auth, target, alen);
		auth[alen] = '\0';
		snprintf(origin, sizeof(origin), "%s", path ? path : "/");
		if (http_rewrite(pc, method, origin, version, headers))
			goto bad;
		if (split_authority(auth, &host, &port, 80))
			goto bad;
		connect_host(pc, host, port);
	}
	return -1;
bad:
	fail_http(pc, "400 Bad Request");
	return -1;
}

/* ---- client socket */

static void on_client(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct proxy_conn *pc = arg;
	ssize_t n;
	int ret;

	relay_clock(pc->r);
	if (pc->state >= PS_RESOLVING) {
		/* Waiting on the overlay; the client gave up? */
		char b;

		n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_free(pc, false);
		else if (n > 0)
			loop_mod(loop, fd, 0); /* read it after the splice */
		return;
	}
	n = recv(fd, pc->buf + pc->len, sizeof(pc->buf) - 1 - pc->len,
		 MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_free(pc, false);
		return;
	}
	pc->len += (size_t)n;
	pc->buf[pc->len] = 0;
	do {
		if (pc->http)
			ret = http_request(pc);
		else if (pc->state == PS_GREETING)
			ret = socks_greeting(pc);
		else
			ret = socks_request(pc);
		if (ret < 0)
			return; /* pc may be gone */
	} while (ret > 0);
	if (pc->len == sizeof(pc->buf) - 1)
		conn_free(pc, true);
}

static void on_accept(void *ctx, int fd, const struct sockaddr *peer)
{
	struct proxy_listener *pl = ctx;
	struct relay *r = pl->r;
	struct proxy_conn *pc = calloc(1, sizeof(*pc));

	if (!pc || loop_add(r->loop, fd, LOOP_READ, on_client, pc) < 0) {
		free(pc);
		close(fd);
		return;
	}
	pc->r = r;
	pc->fd = fd;
	pc->http = pl->http;
	pc->state = pl->http ? PS_REQUEST : PS_GREETING;
	pc->next = r->proxy_conns;
	if (pc->next)
		pc->next->prev = pc;
	r->proxy_conns = pc;
}

int proxy_add(struct relay *r, const struct conf_hostport *listen, bool http,
	      char *err)
{
	struct proxy_listener *pl = calloc(1, sizeof(*pl));
	struct sockaddr_storage ss = { 0 };
	int ret;

	if (!pl)
		return -ENOMEM;
	pl->r = r;
	pl->http = http;
	if (listen->host[0]) {
		memcpy(&ss, &listen->addr, sizeof(listen->addr));
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;

		in4->sin_family = AF_INET;
		in4->sin_port = htons(listen->port);
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	ret = host_listen(r, (struct sockaddr *)&ss, SOCK_STREAM, on_accept, pl,
			  http ? "[Proxy] Http" : "[Proxy] Socks5", err);
	if (ret < 0) {
		free(pl);
		return ret;
	}
	return 0;
}

void proxy_free_all(struct relay *r)
{
	while (r->proxy_conns)
		conn_free(r->proxy_conns, true);
}

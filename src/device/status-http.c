/* The status listener: libmicrohttpd driven from the daemon's own event
 * loop (its epoll fd in ours, MHD_run() when it is ready and on each
 * tick), so it reads the device's state on the loop's thread without
 * locks and never blocks it: every socket is non-blocking, a connection
 * gets 16 KiB of memory (larger headers are refused) and 10 s of silence,
 * at most 32 connections (4 per address). Read-only: GET /health,
 * /status, /metrics. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "device/daemon.h"
#include "device/status.h"
#include "io/loop.h"

enum {
	HTTP_CONN_LIMIT = 32,
	HTTP_PER_IP_LIMIT = 4,
	HTTP_TIMEOUT_S = 10,
	HTTP_CONN_MEMORY = 16 << 10,
	TOKEN_MAX = 256,
};

struct status_http {
	struct daemon *d;
	struct MHD_Daemon *mhd;
	int epoll_fd;
	uint8_t token_hash[32]; /* compared in constant time */
	bool has_token;
	uint64_t requests;
};

static void token_hash(const char *t, size_t len, uint8_t out[32])
{
	blake2s_hash(out, t, len, NULL, 0);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code,
			     const char *type, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (code == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned code,
				  const char *text)
{
	char *s = strdup(text);

	return s ? reply(conn, code, "text/plain; charset=utf-8", s, strlen(s))
		 : MHD_NO;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned code,
				  const char *type, json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);

	json_decref(doc);
	if (!s)
		return MHD_NO;
	return reply(conn, code, type, s, strlen(s));
}

static bool authorized(struct status_http *s, struct MHD_Connection *conn)
{
	const char *h;
	uint8_t got[32];
	bool ok;

	if (!s->has_token)
		return true;
	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) || strlen(h + 7) > TOKEN_MAX)
		return false;
	token_hash(h + 7, strlen(h + 7), got);
	ok = crypto_equal(got, s->token_hash, sizeof(got));
	memzero(got, sizeof(got));
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **state)
{
	struct status_http *s = cls;
	int code;

	if (!*state) { /* headers only: answer once the request is whole */
		*state = s;
		return MHD_YES;
	}
	if (*upload_len) {
		*upload_len = 0; /* a body is not ours to read */
		return MHD_YES;
	}
	s->requests++;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "read-only: GET /health, /status, /metrics\n");
	if (!authorized(s, conn))
		return reply_text(conn, MHD_HTTP_UNAUTHORIZED,
				  "Authorization: Bearer TOKEN required\n");
	daemon_update_clock(s->d);
	if (!strcmp(url, "/health")) {
		json_t *h = status_health(s->d, &code);

		return reply_json(conn, (unsigned)code, "application/health+json",
				  h);
	}
	if (!strcmp(url, "/status"))
		return reply_json(conn, MHD_HTTP_OK, "application/json",
				  status_json(s->d));
	if (!strcmp(url, "/metrics")) {
		size_t len;
		char *m = status_metrics(s->d, &len);

		if (!m)
			return MHD_NO;
		return reply(conn, MHD_HTTP_OK,
			     "text/plain; version=0.0.4; charset=utf-8", m, len);
	}
	return reply_text(conn, MHD_HTTP_NOT_FOUND,
			  "not found: GET /health, /status, /metrics\n");
}

static void on_ready(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct status_http *s = arg;

	MHD_run(s->mhd);
}

void status_http_tick(struct status_http *s)
{
	if (s)
		MHD_run(s->mhd); /* timeouts */
}

/* "ADDR:PORT", "[V6]:PORT" or "PORT" into sa; *bare for a bare port. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss,
		      bool *bare)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char *end;
	unsigned long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	*bare = !colon;
	port = strtoul(colon ? colon + 1 : addr, &end, 10);
	if (*end || (!port && !colon) || port > 65535)
		return -EINVAL;
	if (!colon) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return 0;
	}
	hl = (size_t)(colon - addr);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1
			       ? 0
			       : -EINVAL;
	}
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &in4->sin_addr) == 1 ? 0 : -EINVAL;
}

int status_http_listen(const char *addr, const char *ifname, int *port,
		       char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool bare;
	int fd, one = 1, ret;

	ret = parse_addr(addr, &ss, &bare);
	if (ret) {
		snprintf(err, errlen, "Status '%s': ADDR:PORT, [ADDR]:PORT or PORT", addr);
		return ret;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* A bare port: every address of the overlay interface, and no
	 * other (the status-page deployment's "port 8000 on the VPN"). */
	if (bare && ifname &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
		       (socklen_t)strlen(ifname) + 1) < 0)
		goto fail;
	len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
				       : sizeof(struct sockaddr_in);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0)
		goto fail;
	if (port) {
		len = sizeof(ss);
		getsockname(fd, (struct sockaddr *)&ss, &len);
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
fail:
	ret = -errno;
	snprintf(err, errlen, "Status %s%s%s: cannot listen: %s", addr,
		 bare && ifname ? " on " : "", bare && ifname ? ifname : "",
		 strerror(-ret));
	if (fd >= 0)
		close(fd);
	return ret;
}

int status_http_open_fd(struct status_http **out, struct daemon *d, int fd,
			const char *token, char *err, size_t errlen)
{
	struct status_http *s = calloc(1, sizeof(*s));
	const union MHD_DaemonInfo *info;
	int ret;

	*out = NULL;
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->d = d;
	if (token && token[0]) {
		token_hash(token, strlen(token), s->token_hash);
		s->has_token = true;
	}
	s->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_IP_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
		MHD_OPTION_END);
	if (!s->mhd) {
		close(fd);
		free(s);
		snprintf(err, errlen, "Status: the HTTP server did not start");
		return -ENOMEM;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	s->epoll_fd = info ? info->epoll_fd : -1;
	ret = s->epoll_fd < 0 ? -EINVAL
			      : loop_add(d->loop, s->epoll_fd, LOOP_READ,
					 on_ready, s);
	if (ret < 0) {
		MHD_stop_daemon(s->mhd);
		free(s);
		snprintf(err, errlen, "Status: %s", strerror(-ret));
		return ret;
	}
	*out = s;
	return 0;
}

int status_http_open(struct status_http **out, struct daemon *d,
		     const char *addr, const char *token, char *err,
		     size_t errlen)
{
	int fd = status_http_listen(addr, d->inner ? NULL : d->ifname, NULL,
				    err, errlen);

	if (fd < 0)
		return fd;
	return status_http_open_fd(out, d, fd, token, err, errlen);
}

void status_http_close(struct status_http *s)
{
	if (!s)
		return;
	loop_del(s->d->loop, s->epoll_fd);
	MHD_stop_daemon(s->mhd);
	memzero(s->token_hash, sizeof(s->token_hash));
	free(s);
}

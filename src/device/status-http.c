/* The status listener, an HTTP server on the daemon's own event loop
 * (io/loop-http.c), so it reads the device's state on the loop's thread
 * without locks and never blocks it: every socket is non-blocking, a connection
 * gets 16 KiB of memory (larger headers are refused) and 10 s of silence,
 * at most 32 connections (4 per address). Read-only: GET /health,
 * /status, /metrics. */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "device/daemon.h"
#include "device/status.h"
#include "io/loop-http.h"
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
	struct loop_http *http;
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

void status_http_tick(struct status_http *s)
{
	if (s)
		loop_http_tick(s->http);
}

int status_http_open_fd(struct status_http **out, struct daemon *d, int fd,
			const char *token, char *err, size_t errlen)
{
	struct status_http *s = calloc(1, sizeof(*s));
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
	ret = loop_http_start(d->loop, fd, on_request, s, &(struct loop_http_opts){
			      .conn_limit = HTTP_CONN_LIMIT,
			      .per_ip_limit = HTTP_PER_IP_LIMIT,
			      .timeout_s = HTTP_TIMEOUT_S,
			      .conn_memory = HTTP_CONN_MEMORY }, &s->http);
	if (ret < 0) {
		free(s);
		snprintf(err, errlen, "Status: the HTTP server did not start: %s",
			 strerror(-ret));
		return ret;
	}
	*out = s;
	return 0;
}

int status_http_open(struct status_http **out, struct daemon *d,
		     const char *addr, const char *token, char *err,
		     size_t errlen)
{
	int fd = loop_http_listen(addr, d->inner ? NULL : d->ifname, NULL,
				    err, errlen);

	if (fd < 0)
		return fd;
	return status_http_open_fd(out, d, fd, token, err, errlen);
}

void status_http_close(struct status_http *s)
{
	if (!s)
		return;
	loop_http_stop(s->http);
	memzero(s->token_hash, sizeof(s->token_hash));
	free(s);
}

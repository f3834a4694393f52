/* HTTP for the controller (libmicrohttpd): a thread pool reads requests,
 * caps bodies, routes them through the table below, checks credentials and
 * the failed-auth rate limit, and sends JSON. Long-polls are suspended
 * connections (watch.c), so they hold no thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "controller/api.h"

enum auth_level {
	AUTH_NONE,
	AUTH_JOIN,   /* X-Join-Token or a node token: the handler checks */
	AUTH_MASTER,
	AUTH_KEY,    /* master or any user */
	AUTH_OWNER,  /* master or the user named in the path */
	AUTH_NODE,   /* a node token */
};

/* Bodies beyond this many times the limit are not even drained. */
enum { DRAIN_FACTOR = 16 };

static const struct route {
	const char *method;
	const char *path; /* '*' matches one segment: the parameter */
	enum auth_level auth;
	int (*fn)(struct api_call *c);
} routes[] = {
	{ "GET", "/health", AUTH_NONE, api_health },
	{ "GET", "/metrics", AUTH_NONE, api_metrics },
	{ "POST", "/join", AUTH_JOIN, api_join },
	{ "GET", "/netmap", AUTH_NODE, api_netmap },
	{ "POST", "/tokens", AUTH_MASTER, api_token_create },
	{ "GET", "/tokens", AUTH_MASTER, api_token_list },
	{ "DELETE", "/tokens/*", AUTH_MASTER, api_token_delete },
	{ "POST", "/users", AUTH_MASTER, api_user_create },
	{ "GET", "/users", AUTH_KEY, api_user_list },
	{ "GET", "/users/*", AUTH_OWNER, api_user_get },
	{ "DELETE", "/users/*", AUTH_MASTER, api_user_delete },
	{ "POST", "/users/*/devices", AUTH_OWNER, api_device_create },
	{ "GET", "/nodes", AUTH_MASTER, api_node_list },
	{ "GET", "/nodes/*", AUTH_MASTER, api_node_get },
	{ "DELETE", "/nodes/*", AUTH_MASTER, api_node_delete },
};

/* Matches url against pattern; the '*' segment goes to param. */
static bool match(const char *pattern, const char *url, char *param,
		  size_t len)
{
	const char *seg;
	size_t n;

	param[0] = '\0';
	while (*pattern && *url) {
		if (*pattern == '*') {
			seg = url;
			while (*url && *url != '/')
				++url;
			n = (size_t)(url - seg);
			if (n == 0 || n >= len)
				return false;
			memcpy(param, seg, n);
			param[n] = '\0';
			++pattern;
			continue;
		}
		if (*pattern != *url)
			return false;
		++pattern;
		++url;
	}
	return !*pattern && !*url;
}

int api_json(struct api_call *c, unsigned int status, json_t *json)
{
	json_decref(c->json);
	c->status = status;
	c->json = json;
	return 0;
}

int api_error(struct api_call *c, unsigned int status, const char *msg)
{
	return api_json(c, status, json_pack("{s:s}", "error", msg));
}

int api_errno(struct api_call *c, int err, const char *why)
{
	if (!why)
		why = "request refused";
	switch (err) {
	case -EINVAL:
		return api_error(c, MHD_HTTP_BAD_REQUEST, why);
	case -EPERM:
		return api_unauthorized(c, why);
	case -EACCES:
		return api_error(c, MHD_HTTP_FORBIDDEN, why);
	case -ENOENT:
		return api_error(c, MHD_HTTP_NOT_FOUND, why);
	case -EEXIST:
	case -ENOSPC:
		return api_error(c, MHD_HTTP_CONFLICT, why);
	default:
		fprintf(stderr, "controller: store error %d\n", err);
		return api_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				 "internal error");
	}
}

int api_unauthorized(struct api_call *c, const char *msg)
{
	atomic_fetch_add(&c->ctl->metrics.auth_failures, 1);
	if (c->src)
		ratelimit_failed(c->ctl->rl, c->src, c->src_len);
	return api_error(c, MHD_HTTP_UNAUTHORIZED, msg);
}

const char *api_query(struct api_call *c, const char *key)
{
	return MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND,
					   key);
}

const char *api_header(struct api_call *c, const char *key)
{
	return MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, key);
}

static void source_address(struct api_call *c)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	ci = MHD_get_connection_info(c->conn,
				     MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		c->src = &((const struct sockaddr_in *)sa)->sin_addr;
		c->src_len = 4;
	} else if (sa->sa_family == AF_INET6) {
		/* One /64 is one source: it is what one host gets. */
		c->src = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		c->src_len = 8;
	}
}

static const char *bearer(struct api_call *c)
{
	const char *h = api_header(c, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	h += 7;
	while (*h == ' ')
		++h;
	return *h ? h : NULL;
}

/* 0 when the caller may go on; otherwise the response is set. */
static int authenticate(struct api_call *c, enum auth_level level)
{
	struct controller *ctl = c->ctl;
	int ret;

	if (level == AUTH_NONE)
		return 0;
	if (c->src && !ratelimit_allowed(ctl->rl, c->src, c->src_len)) {
		atomic_fetch_add(&ctl->metrics.rate_limited, 1);
		api_error(c, MHD_HTTP_TOO_MANY_REQUESTS,
			  "too many failed attempts; slow down");
		return -EAGAIN;
	}
	c->bearer = bearer(c);
	if (level == AUTH_JOIN)
		return 0;
	if (!c->bearer) {
		api_unauthorized(c, "missing Authorization: Bearer credential");
		return -EPERM;
	}
	if (strlen(c->bearer) > 256) {
		api_unauthorized(c, "invalid credential");
		return -EPERM;
	}
	if (level == AUTH_NODE) {
		ret = registry_node_by_token(ctl, c->bearer, &c->node);
		if (ret) {
			if (ret == -EPERM)
				api_unauthorized(c, "invalid node token");
			else
				api_errno(c, ret, NULL);
			return ret;
		}
		c->who = WHO_NODE;
		return 0;
	}
	if (master_key_matches(ctl, c->bearer)) {
		c->who = WHO_MASTER;
		return 0;
	}
	ret = registry_user_by_key(ctl, c->bearer, c->client_id);
	if (ret) {
		if (ret == -EPERM)
			api_unauthorized(c, "invalid API key");
		else
			api_errno(c, ret, NULL);
		return ret;
	}
	c->who = WHO_USER;
	if (level == AUTH_MASTER) {
		api_error(c, MHD_HTTP_FORBIDDEN, "this needs the master key");
		return -EACCES;
	}
	if (level == AUTH_OWNER && strcmp(c->client_id, c->param)) {
		api_error(c, MHD_HTTP_FORBIDDEN,
			  "a user key only acts on its own user");
		return -EACCES;
	}
	return 0;
}

static void wipe_free(void *p)
{
	/* raw_secret responses: the size is kept in front of the text. */
	size_t *hdr = (size_t *)p - 1;

	memzero(hdr, *hdr + sizeof(size_t));
	free(hdr);
}

static enum MHD_Result respond(struct api_call *c)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned int cls;
	char *text;
	size_t len;

	if (c->raw) {
		if (c->raw_secret) {
			size_t *hdr = malloc(sizeof(size_t) + c->raw_len + 1);

			if (!hdr) {
				memzero(c->raw, c->raw_len);
				free(c->raw);
				c->raw = NULL;
				return MHD_NO;
			}
			*hdr = c->raw_len + 1;
			memcpy(hdr + 1, c->raw, c->raw_len + 1);
			memzero(c->raw, c->raw_len);
			free(c->raw);
			c->raw = NULL;
			resp = MHD_create_response_from_buffer_with_free_callback(
				c->raw_len, hdr + 1, wipe_free);
		} else {
			resp = MHD_create_response_from_buffer(
				c->raw_len, c->raw, MHD_RESPMEM_MUST_FREE);
			c->raw = NULL;
		}
	} else {
		if (!c->json) {
			c->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
			c->json = json_pack("{s:s}", "error", "internal error");
		}
		text = json_dumps(c->json, JSON_COMPACT);
		/* Secrets in JSON (api keys, tokens): wipe the text too. */
		len = text ? strlen(text) : 0;
		if (!text)
			return MHD_NO;
		text[len] = '\n';
		resp = MHD_create_response_from_buffer(len + 1, text,
						       MHD_RESPMEM_MUST_COPY);
		memzero(text, len + 1);
		free(text);
		if (!c->content_type)
			c->content_type = "application/json";
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				c->content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	if (c->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer");
	ret = MHD_queue_response(c->conn, c->status, resp);
	MHD_destroy_response(resp);
	cls = c->status / 100;
	atomic_fetch_add(&c->ctl->metrics.requests[cls <= 5 ? cls : 0], 1);
	return ret;
}

static enum MHD_Result finish(struct api_call *c)
{
	enum MHD_Result ret = MHD_YES;

	if (!c->suspended)
		ret = respond(c);
	json_decref(c->json);
	if (c->raw) {
		if (c->raw_secret)
			memzero(c->raw, c->raw_len);
		free(c->raw);
	}
	return ret;
}

static enum MHD_Result dispatch(struct api_call *c, const char *url,
				const char *method)
{
	char param[ID_MAX_LEN + 2];
	const struct route *r = NULL;
	bool path_known = false;
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); ++i) {
		if (!match(routes[i].path, url, param, sizeof(param)))
			continue;
		path_known = true;
		if (!strcmp(routes[i].method, method)) {
			r = &routes[i];
			break;
		}
	}
	if (!r) {
		if (path_known)
			api_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method not allowed");
		else
			api_error(c, MHD_HTTP_NOT_FOUND, "no such path");
		return finish(c);
	}
	if (param[0]) {
		if (!id_valid(param)) {
			api_error(c, MHD_HTTP_NOT_FOUND, "no such id");
			return finish(c);
		}
		c->param = param;
	}
	if (c->req->too_large) {
		api_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
		return finish(c);
	}
	if (!authenticate(c, r->auth))
		r->fn(c);
	return finish(c);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct controller *ctl = cls;
	struct request *req = *con_cls;
	struct api_call c = { .ctl = ctl, .conn = conn };
	const char *cl;
	char *nbody;
	size_t cap;

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > ctl->body_limit)
			req->too_large = true;
		/* A body that is merely too large is drained, so the client
		 * gets to read our 413; a huge one is refused before reading
		 * (and MHD closes the connection afterwards). */
		if (cl && strtoull(cl, NULL, 10) >
				  ctl->body_limit * DRAIN_FACTOR) {
			c.req = req;
			api_error(&c, MHD_HTTP_CONTENT_TOO_LARGE,
				  "body too large");
			return finish(&c);
		}
		return MHD_YES;
	}
	c.req = req;
	source_address(&c);
	if (req->held) {
		enum MHD_Result ret;

		req->held = false;
		api_netmap_resume(&c);
		ret = finish(&c);
		atomic_fetch_sub(&ctl->metrics.resuming, 1);
		return ret;
	}
	if (*upload_size) {
		if (req->too_large || req->len + *upload_size > ctl->body_limit) {
			req->too_large = true;
			req->len += *upload_size;
			*upload_size = 0;
			return req->len > ctl->body_limit * DRAIN_FACTOR ?
				       MHD_NO : MHD_YES;
		}
		if (req->len + *upload_size + 1 > req->cap) {
			cap = req->len + *upload_size + 1;
			cap = cap < 1024 ? 1024 : cap * 2;
			if (cap > ctl->body_limit + 1)
				cap = ctl->body_limit + 1;
			nbody = realloc(req->body, cap);
			if (!nbody)
				return MHD_NO;
			req->body = nbody;
			req->cap = cap;
		}
		memcpy(req->body + req->len, upload, *upload_size);
		req->len += *upload_size;
		req->body[req->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	c.body = req->body ? req->body : "";
	c.body_len = req->too_large ? 0 : req->len;
	return dispatch(&c, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;

	if (!req)
		return;
	if (req->body) {
		/* Bodies can carry credentials and keys. */
		memzero(req->body, req->cap);
		free(req->body);
	}
	memzero(req->node_token, sizeof(req->node_token));
	free(req);
	*con_cls = NULL;
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss)
{
	char host[256], *colon, *end;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	const char *h;
	long port;

	if (strlen(listen) >= sizeof(host))
		return -EINVAL;
	strcpy(host, listen);
	colon = strrchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || colon[1] == '\0' || port < 0 || port > 65535)
		return -EINVAL;
	h = host;
	if (host[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		h = host + 1;
	}
	memset(ss, 0, sizeof(*ss));
	if (!*h || !strcmp(h, "*"))
		h = "0.0.0.0";
	if (inet_pton(AF_INET, h, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, h, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

/* Every node holds a long-poll open: connections are bounded by file
 * descriptors, so take all the kernel allows us. */
static unsigned int connection_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1000;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
		return 1000000;
	/* Room for the store, logs and the listening socket. */
	return rl.rlim_cur > 200 ? (unsigned int)rl.rlim_cur - 100 : 100;
}

int http_start(struct controller *ctl, const char *listen,
	       unsigned int threads)
{
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
			     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int ret;

	ret = parse_listen(listen, &ss);
	if (ret)
		return ret;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	ctl->httpd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, ctl,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
		/* Longer than any long-poll, which is idle while held. */
		MHD_OPTION_CONNECTION_TIMEOUT, ctl->poll_max + 15,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
		MHD_OPTION_END);
	return ctl->httpd ? 0 : -EADDRNOTAVAIL;
}

void http_stop(struct controller *ctl)
{
	MHD_socket fd;
	int i;

	if (!ctl->httpd)
		return;
	/* Let held polls that watch_stop() woke get their answers out. */
	fd = MHD_quiesce_daemon(ctl->httpd);
	for (i = 0; i < 200 && atomic_load(&ctl->metrics.resuming) > 0; ++i)
		usleep(10000);
	usleep(100000);
	MHD_stop_daemon(ctl->httpd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	ctl->httpd = NULL;
}

/* The bound port, for --listen 127.0.0.1:0. */
int http_port(struct controller *ctl)
{
	const union MHD_DaemonInfo *di;

	di = MHD_get_daemon_info(ctl->httpd, MHD_DAEMON_INFO_BIND_PORT);
	return di ? di->port : -1;
}

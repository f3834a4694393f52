/* The gateway's HTTP/1.1 reverse proxy. Each client connection is parsed
 * by llhttp (Debian's node-llhttp sources: the parser Node.js ships, so
 * the framing rules - chunked, Content-Length, upgrades, pipelining - are
 * the maintained ones), each request routed by its own Host, and its head
 * rewritten for the target: hop-by-hop headers dropped, X-Forwarded-For,
 * -Proto and -Host set. Bodies stream both ways as they come (re-chunked
 * when their length is not known), so server-sent events are not held
 * back; an Upgrade answered 101 turns the connection into a raw splice.
 * One request at a time per connection: a pipelined one waits, parsed no
 * further, until the response before it is out. A target connection
 * outlives its request in the pool (pool.c), for the next request to that
 * target from any client. Heads are kept as http-head.c says. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "llhttp.h"

#include "gateway/gateway.h"
#include "gateway/http-head.h"
#include "gateway/http.h"
#include "gateway/pool.h"
#include "gateway/io.h"
#include "gateway/tls.h"
#include "io/loop-http.h"
#include "io/loop.h"

enum {
	HIGH = 256 << 10,   /* output pending that stops reading its source */
	RBUF = 64 << 10,
	ACCEPTS = 64,
	FIRST_HEAD_S = 30,  /* for a new connection's first request head */
	IDLE_S = 75,        /* between requests on a kept-alive connection */
};

struct listener {
	struct gateway *g;
	int fd;
	bool tls;
};

struct gw_http {
	struct listener l[2]; /* http, https */
	struct hconn *list;
	struct gw_pool *pool; /* idle target connections */
	struct gateway *g;
	int https_port;       /* for redirects (0: none) */
	char rbuf[RBUF];
};

enum phase {
	P_HEAD,   /* reading a request */
	P_TUNNEL, /* a raw splice: after 101, or TLS passthrough */
	P_CLOSE,  /* writing out what is left, then closing */
};

struct hconn {
	struct gateway *g;
	struct hconn *prev, *next;
	struct gw_io cl, up;
	bool https;             /* the client came over TLS (terminated) */
	bool hello;             /* reading a ClientHello (on the https port) */
	bool up_connecting;
	bool up_reused;         /* from the pool: it may have been closed */
	bool socks_wait;        /* connecting through the node's SOCKS5 */
	struct gw_socks socks;
	bool up_tls;
	struct sockaddr_storage up_addr;
	llhttp_t req, resp;
	struct head rh, sh;
	struct gw_buf cin;      /* client bytes read, not parsed yet */
	struct gw_buf to_up, to_cl;
	enum phase phase;
	bool req_started, req_done, req_chunked, upgrade;
	bool resp_started, resp_done, resp_chunked, resp_final;
	bool client_keepalive, up_keepalive, aborted, cl_eof;
	uint64_t deadline, t_start;
	struct gw_rstats *st;
	unsigned served;        /* requests on this connection */
	char client_ip[48];
	/* For the access log */
	int status;
	uint64_t bytes_in, bytes_out;
	char method[16], host[128], path[256];
	char route[GW_ID_MAX + 1];
};

static llhttp_settings_t req_settings, resp_settings;

/* Connection lifetime */

static void conn_free(struct hconn *h)
{
	struct gw_http *s = h->g->http;

	if (h->cl.fd >= 0) {
		loop_del(h->g->loop, h->cl.fd);
		close(h->cl.fd);
	}
	if (h->up.fd >= 0) {
		loop_del(h->g->loop, h->up.fd);
		close(h->up.fd);
	}
	gw_io_tls_free(&h->cl);
	gw_io_tls_free(&h->up);
	if (h->st) {
		h->st->active--;
		gw_rstats_put(h->st);
	}
	gw_buf_free(&h->rh.text);
	gw_buf_free(&h->sh.text);
	gw_buf_free(&h->cin);
	gw_buf_free(&h->to_up);
	gw_buf_free(&h->to_cl);
	if (h->prev)
		h->prev->next = h->next;
	else
		s->list = h->next;
	if (h->next)
		h->next->prev = h->prev;
	free(h);
}

static void up_close(struct hconn *h)
{
	if (h->up.fd < 0)
		return;
	loop_del(h->g->loop, h->up.fd);
	close(h->up.fd);
	gw_io_tls_free(&h->up);
	h->up.fd = -1;
	h->up_connecting = h->up_reused = false;
	h->to_up.off = h->to_up.len = 0;
}

static void access_log(struct hconn *h)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	double ms;

	if (!h->g->access_log || !h->req_started)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	ms = (double)(clock_mono_ns() - h->t_start) / 1e6;
	fprintf(h->g->access_log,
		"%s.%03ldZ %s %s \"%s %s HTTP/%u.%u\" %d %llu %llu %.1fms %s\n",
		when, ts.tv_nsec / 1000000, h->client_ip,
		h->host[0] ? h->host : "-", h->method, h->path,
		llhttp_get_http_major(&h->req), llhttp_get_http_minor(&h->req),
		h->status, (unsigned long long)h->bytes_in,
		(unsigned long long)h->bytes_out, ms,
		h->route[0] ? h->route : "-");
}

/* The request is over (answered, or given up): counters and the log. */
static void request_end(struct hconn *h)
{
	if (!h->req_started)
		return;
	access_log(h);
	if (h->st) {
		h->st->status[h->status >= 100 && h->status < 600 ? h->status / 100 : 0]++;
		h->st->active--;
		gw_rstats_put(h->st);
		h->st = NULL;
	}
	h->req_started = false;
}

/* An answer of ours (no target's): the connection closes after it. */
static void answer(struct hconn *h, int code, const char *reason,
		   const char *msg, const char *location)
{
	size_t alen = 0;
	const char *accept = head_get(&h->rh, "accept", &alen);
	bool json = accept && memmem(accept, alen, "json", 4);
	char body[512];
	int n;

	if (h->resp_started) {
		/* Mid-response: all the client can be told is a cut. */
		h->phase = P_CLOSE;
		h->to_cl.off = h->to_cl.len = 0;
		h->aborted = true;
		request_end(h);
		return;
	}
	if (json)
		n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%d}\n",
			     msg, code);
	else
		n = snprintf(body, sizeof(body), "%d %s: %s\n", code, reason, msg);
	gw_buf_printf(&h->to_cl,
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
		      "%s%s%sConnection: close\r\n\r\n",
		      code, reason, json ? "application/json" : "text/plain; charset=utf-8",
		      n, location ? "Location: " : "", location ? location : "",
		      location ? "\r\n" : "");
	if (llhttp_get_method(&h->req) != HTTP_HEAD || !h->req_started)
		gw_buf_add(&h->to_cl, body, (size_t)n);
	h->status = code;
	h->bytes_out += h->to_cl.len;
	if (h->st) {
		h->st->bytes_out += h->to_cl.len;
		if (code == 502 || code == 504)
			h->st->upstream_errors++;
	}
	h->resp_started = true;
	h->phase = P_CLOSE;
	h->aborted = true;
	up_close(h);
	request_end(h);
}

/* Request parsing */

static struct hconn *of(llhttp_t *p)
{
	return p->data;
}

static int on_req_begin(llhttp_t *p)
{
	struct hconn *h = of(p);

	head_reset(&h->rh);
	h->req_started = true;
	h->req_done = h->req_chunked = h->upgrade = false;
	h->resp_started = h->resp_done = h->resp_chunked = h->resp_final = false;
	h->t_start = clock_mono_ns();
	h->deadline = h->t_start + FIRST_HEAD_S * 1000000000ull;
	h->status = 0;
	h->bytes_in = h->bytes_out = 0;
	h->host[0] = h->route[0] = '\0';
	snprintf(h->path, sizeof(h->path), "-");
	snprintf(h->method, sizeof(h->method), "-");
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct hconn *h = of(p);

	if (!h->rh.first_len)
		h->rh.first = (uint32_t)h->rh.text.len;
	h->rh.first_len += (uint32_t)n;
	return head_add(&h->rh, at, n);
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
	struct hconn *h = of(p);

	if (!h->sh.first_len)
		h->sh.first = (uint32_t)h->sh.text.len;
	h->sh.first_len += (uint32_t)n;
	return head_add(&h->sh, at, n);
}

static struct head *head_of(llhttp_t *p)
{
	return llhttp_get_type(p) == HTTP_REQUEST ? &of(p)->rh : &of(p)->sh;
}

static int on_field(llhttp_t *p, const char *at, size_t n)
{
	struct head *hd = head_of(p);

	if (!hd->field_open) {
		if (hd->count >= FIELDS_MAX) {
			hd->too_big = true;
			return -1;
		}
		hd->f[hd->count].n = (uint32_t)hd->text.len;
		hd->f[hd->count].nl = 0;
		hd->f[hd->count].v = (uint32_t)hd->text.len;
		hd->f[hd->count].vl = 0;
		hd->field_open = true;
	}
	hd->f[hd->count].nl += (uint32_t)n;
	return head_add(hd, at, n);
}

static int on_value(llhttp_t *p, const char *at, size_t n)
{
	struct head *hd = head_of(p);

	if (!hd->value_open) {
		hd->f[hd->count].v = (uint32_t)hd->text.len;
		hd->value_open = true;
	}
	hd->f[hd->count].vl += (uint32_t)n;
	return head_add(hd, at, n);
}

static int on_value_done(llhttp_t *p)
{
	struct head *hd = head_of(p);

	if (hd->field_open)
		hd->count++;
	hd->field_open = hd->value_open = false;
	return 0;
}


static int up_start(struct hconn *h, const struct sockaddr_storage *target,
		    bool tls, bool pool);

/* The request's head as the target gets it, from the parsed one. */
static void req_head(struct hconn *h)
{
	struct head *rh = &h->rh;
	size_t hl = 0, cl = 0, ul = 0;
	const char *host = head_get(rh, "host", &hl);
	const char *conn = head_get(rh, "connection", &cl);
	const char *upg = head_get(rh, "upgrade", &ul);
	const char *url = rh->text.p + rh->text.off + rh->first;
	unsigned i;

	gw_buf_printf(&h->to_up, "%s ", h->method);
	gw_buf_add(&h->to_up, url, rh->first_len);
	gw_buf_printf(&h->to_up, " HTTP/1.1\r\n");
	for (i = 0; i < rh->count; ++i) {
		if (head_hop_by_hop(rh, i, conn, cl))
			continue;
		if (h->req_chunked && head_is(rh, i, "content-length"))
			continue;
		gw_buf_add(&h->to_up, head_name(rh, i), rh->f[i].nl);
		gw_buf_add(&h->to_up, ": ", 2);
		gw_buf_add(&h->to_up, head_value(rh, i), rh->f[i].vl);
		gw_buf_add(&h->to_up, "\r\n", 2);
	}
	gw_buf_printf(&h->to_up, "X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\n",
		      h->client_ip, h->https ? "https" : "http");
	if (host) {
		gw_buf_add(&h->to_up, "X-Forwarded-Host: ", 18);
		gw_buf_add(&h->to_up, host, hl);
		gw_buf_add(&h->to_up, "\r\n", 2);
	}
	if (h->upgrade) {
		gw_buf_add(&h->to_up, "Connection: Upgrade\r\nUpgrade: ", 30);
		gw_buf_add(&h->to_up, upg, ul);
		gw_buf_add(&h->to_up, "\r\n", 2);
	} else {
		gw_buf_printf(&h->to_up, "Connection: keep-alive\r\n");
	}
	if (h->req_chunked)
		gw_buf_printf(&h->to_up, "Transfer-Encoding: chunked\r\n");
	gw_buf_add(&h->to_up, "\r\n", 2);
}


/* The head is in: route it and write it for the target. */
static int on_req_headers(llhttp_t *p)
{
	struct hconn *h = of(p);
	struct gateway *g = h->g;
	struct head *rh = &h->rh;
	size_t hl = 0, ul = 0;
	const char *host = head_get(rh, "host", &hl);
	const char *upg = head_get(rh, "upgrade", &ul);
	const char *url = rh->text.p + rh->text.off + rh->first;
	struct gw_route *r;

	snprintf(h->method, sizeof(h->method), "%s",
		 llhttp_method_name(llhttp_get_method(p)));
	head_printable(h->path, sizeof(h->path), url, rh->first_len);
	if (host)
		head_printable(h->host, sizeof(h->host), host, hl);
	h->client_keepalive = llhttp_should_keep_alive(p);
	if (llhttp_get_method(p) == HTTP_CONNECT) {
		answer(h, 405, "Method Not Allowed", "CONNECT is not served here", NULL);
		return -1;
	}
	r = gw_route_find(g, host ? host : "", host ? hl : 0);
	if (!r) {
		answer(h, 404, "Not Found", "no route for this host", NULL);
		return -1;
	}
	snprintf(h->route, sizeof(h->route), "%s", r->id);
	h->st = r->st;
	h->st->refs++;
	h->st->active++;
	h->st->requests++;
	if (r->redirect_https && !h->https) {
		char loc[GW_HOST_MAX + 300], port[8] = "";
		size_t n = strcspn(h->host, ":");

		if (g->http->https_port && g->http->https_port != 443)
			snprintf(port, sizeof(port), ":%d", g->http->https_port);
		snprintf(loc, sizeof(loc), "https://%.*s%s%.*s", (int)n, h->host,
			 port, (int)rh->first_len, url);
		answer(h, 308, "Permanent Redirect", "use https", loc);
		return -1;
	}
	h->upgrade = llhttp_get_upgrade(p) && upg;
	h->req_chunked = p->flags & F_CHUNKED;
	up_close(h); /* a request's target connection comes from the pool */
	if (up_start(h, &r->target, r->target_tls, true) < 0) {
		answer(h, 502, "Bad Gateway", "the target cannot be reached", NULL);
		return -1;
	}
	llhttp_init(&h->resp, HTTP_RESPONSE, &resp_settings);
	h->resp.data = h;
	head_reset(&h->sh);

	req_head(h);
	h->bytes_in += rh->text.len;
	h->st->bytes_in += rh->text.len;
	h->deadline = clock_mono_ns() +
		(uint64_t)(h->up_connecting ? g->connect_timeout_s
					    : g->upstream_timeout_s) * 1000000000ull;
	return 0;
}

static int on_req_body(llhttp_t *p, const char *at, size_t n)
{
	struct hconn *h = of(p);

	if (h->aborted)
		return 0;
	if (h->req_chunked)
		gw_buf_printf(&h->to_up, "%zx\r\n", n);
	gw_buf_add(&h->to_up, at, n);
	if (h->req_chunked)
		gw_buf_add(&h->to_up, "\r\n", 2);
	h->bytes_in += n;
	h->st->bytes_in += n;
	/* An upload may take long; silence may not. */
	if (!h->up_connecting)
		h->deadline = clock_mono_ns() +
			(uint64_t)h->g->upstream_timeout_s * 1000000000ull;
	return 0;
}

static int on_req_done(llhttp_t *p)
{
	struct hconn *h = of(p);

	if (h->req_chunked && !h->aborted)
		gw_buf_add(&h->to_up, "0\r\n\r\n", 5);
	h->req_done = true;
	if (!h->up_connecting && !h->resp_started)
		h->deadline = clock_mono_ns() +
			(uint64_t)h->g->upstream_timeout_s * 1000000000ull;
	/* A pipelined request waits for this one's response. An upgrade
	 * stops the parser by itself. */
	return h->upgrade ? 0 : HPE_PAUSED;
}

/* Response parsing */

static int on_resp_begin(llhttp_t *p)
{
	head_reset(&of(p)->sh);
	return 0;
}

static int on_resp_headers(llhttp_t *p)
{
	struct hconn *h = of(p);
	struct head *sh = &h->sh;
	int code = llhttp_get_status_code(p);
	size_t cl = 0, ul = 0;
	const char *conn = head_get(sh, "connection", &cl);
	const char *upg = head_get(sh, "upgrade", &ul);
	bool head_req = llhttp_get_method(&h->req) == HTTP_HEAD;
	bool no_body = head_req || code < 200 || code == 204 || code == 304;
	bool v11 = llhttp_get_http_major(&h->req) == 1 &&
		   llhttp_get_http_minor(&h->req) >= 1;
	size_t start = h->to_cl.len;
	unsigned i;

	h->deadline = 0;
	gw_buf_printf(&h->to_cl, "HTTP/1.1 %d ", code);
	gw_buf_add(&h->to_cl, sh->text.p + sh->text.off + sh->first, sh->first_len);
	gw_buf_add(&h->to_cl, "\r\n", 2);
	for (i = 0; i < sh->count; ++i) {
		if (head_hop_by_hop(sh, i, conn, cl) && !head_is(sh, i, "x-forwarded-for") &&
		    !head_is(sh, i, "x-forwarded-proto") && !head_is(sh, i, "x-forwarded-host"))
			continue;
		if ((p->flags & F_CHUNKED) && head_is(sh, i, "content-length"))
			continue;
		gw_buf_add(&h->to_cl, head_name(sh, i), sh->f[i].nl);
		gw_buf_add(&h->to_cl, ": ", 2);
		gw_buf_add(&h->to_cl, head_value(sh, i), sh->f[i].vl);
		gw_buf_add(&h->to_cl, "\r\n", 2);
	}
	if (code == 101) {
		if (!h->upgrade || !upg) {
			answer(h, 502, "Bad Gateway", "the target switched protocols unasked", NULL);
			return -1;
		}
		gw_buf_add(&h->to_cl, "Connection: Upgrade\r\nUpgrade: ", 30);
		gw_buf_add(&h->to_cl, upg, ul);
		gw_buf_add(&h->to_cl, "\r\n\r\n", 4);
	} else if (code < 200) {
		gw_buf_add(&h->to_cl, "\r\n", 2);
	} else {
		h->resp_final = true;
		h->status = code;
		if (!no_body && !(p->flags & F_CONTENT_LENGTH)) {
			if (v11) {
				h->resp_chunked = true;
				gw_buf_printf(&h->to_cl, "Transfer-Encoding: chunked\r\n");
			} else {
				h->client_keepalive = false; /* ends at close */
			}
		}
		if (!h->req_done || h->upgrade)
			h->client_keepalive = false;
		gw_buf_printf(&h->to_cl, "Connection: %s\r\n\r\n",
			      h->client_keepalive ? "keep-alive" : "close");
	}
	h->resp_started = true;
	h->bytes_out += h->to_cl.len - start;
	h->st->bytes_out += h->to_cl.len - start;
	return head_req && code >= 200 ? 1 : 0;
}

static int on_resp_body(llhttp_t *p, const char *at, size_t n)
{
	struct hconn *h = of(p);

	if (h->resp_chunked)
		gw_buf_printf(&h->to_cl, "%zx\r\n", n);
	gw_buf_add(&h->to_cl, at, n);
	if (h->resp_chunked)
		gw_buf_add(&h->to_cl, "\r\n", 2);
	h->bytes_out += n;
	h->st->bytes_out += n;
	return 0;
}

static int on_resp_done(llhttp_t *p)
{
	struct hconn *h = of(p);

	if (!h->resp_final)
		return 0; /* 1xx: the real one follows */
	if (h->resp_chunked)
		gw_buf_add(&h->to_cl, "0\r\n\r\n", 5);
	h->resp_done = true;
	h->up_keepalive = llhttp_should_keep_alive(p);
	return HPE_PAUSED;
}

/* Target side */

static void on_up(struct loop *loop, int fd, unsigned events, void *arg);

/* The request is over and the target keeps the connection open: into the
 * pool with it (or closed, when it cannot be kept). */
static void up_release(struct hconn *h)
{
	if (h->up.fd < 0)
		return;
	if (!h->up_keepalive || h->up_connecting || h->up.ssl || h->to_up.len ||
	    gw_pool_put(h->g->http->pool, h->up.fd, &h->up_addr)) {
		up_close(h);
		return;
	}
	h->up.fd = -1;
	h->up_reused = false;
}


static int up_start(struct hconn *h, const struct sockaddr_storage *target,
		    bool tls, bool pool)
{
	int fd = tls || !pool ? -1 : gw_pool_take(h->g->http->pool, target);

	h->up_reused = fd >= 0;
	h->up_tls = tls;
	h->up_addr = *target;
	if (h->up_reused) {
		/* Still in the loop, waiting for reads: ours now. */
		h->up.fd = fd;
		h->up_connecting = false;
		loop_rebind(h->g->loop, fd, on_up, h);
		return 0;
	}
	fd = gw_connect(h->g->socks.ss_family ? &h->g->socks : target);
	if (fd < 0)
		return fd;
	h->up.fd = fd;
	h->up_connecting = true;
	h->socks_wait = h->g->socks.ss_family != 0;
	memset(&h->socks, 0, sizeof(h->socks));
	if (tls && gw_io_tls_client(&h->up, gw_tls_client_ctx(h->g), NULL)) {
		close(fd);
		h->up.fd = -1;
		return -ENOMEM;
	}
	if (loop_add(h->g->loop, fd, LOOP_WRITE, on_up, h) < 0) {
		gw_io_tls_free(&h->up);
		close(fd);
		h->up.fd = -1;
		return -ENOMEM;
	}
	return 0;
}

/* The target ended or failed. */
static void up_gone(struct hconn *h, bool eof)
{
	if (h->phase == P_TUNNEL) {
		h->phase = P_CLOSE;
		up_close(h);
		return;
	}
	if (!h->req_started) {
		up_close(h);
		return;
	}
	/* A kept connection the target had closed as we took it: the
	 * request went nowhere, so a body-less one is sent again on a new
	 * connection (what nginx does for idempotent requests). */
	if (h->up_reused && !h->resp_started && h->req_done && !h->upgrade &&
	    !(h->req.flags & (F_CHUNKED | F_CONTENT_LENGTH))) {
		struct sockaddr_storage t = h->up_addr;
		bool tls = h->up_tls;

		up_close(h);
		if (up_start(h, &t, tls, false) == 0) {
			req_head(h);
			return;
		}
	}
	if (eof && h->resp_started && !h->resp_done &&
	    llhttp_finish(&h->resp) == HPE_OK && h->resp_done) {
		up_close(h); /* a body that ends at close */
		h->up_keepalive = false;
		return;
	}
	if (!h->resp_started) {
		answer(h, 502, "Bad Gateway",
		       eof ? "the target closed the connection"
			   : "the target refused or reset the connection", NULL);
		return;
	}
	if (!h->resp_done) {
		if (h->st)
			h->st->upstream_errors++;
		answer(h, 502, "Bad Gateway", "the target's response was cut", NULL);
	}
	up_close(h);
}

/* Feeds the response parser; false when the connection is over. */
static void up_data(struct hconn *h, const char *d, size_t n)
{
	llhttp_errno_t e;
	size_t used;

	if (h->phase == P_TUNNEL) {
		gw_buf_add(&h->to_cl, d, n);
		h->bytes_out += n;
		if (h->st)
			h->st->bytes_out += n;
		return;
	}
	if (!h->req_started || h->resp_done) {
		up_close(h); /* bytes nobody asked for */
		return;
	}
	e = llhttp_execute(&h->resp, d, n);
	if (h->aborted)
		return;
	if (e == HPE_OK)
		return;
	used = (size_t)(llhttp_get_error_pos(&h->resp) - d);
	if (e == HPE_PAUSED_UPGRADE && h->upgrade) {
		/* 101: what follows is the new protocol, both ways. */
		h->phase = P_TUNNEL;
		h->deadline = 0;
		gw_buf_add(&h->to_cl, d + used, n - used);
		gw_buf_add(&h->to_up, h->cin.p + h->cin.off, h->cin.len);
		gw_buf_drop(&h->cin, h->cin.len);
		return;
	}
	if (e == HPE_PAUSED) {
		if (used < n)
			h->up_keepalive = false; /* bytes after the response */
		return;
	}
	if (h->st)
		h->st->upstream_errors++;
	answer(h, 502, "Bad Gateway", "the target's response is not HTTP/1.1", NULL);
}

/* Client side */

static void parse_client(struct hconn *h)
{
	llhttp_errno_t e;
	size_t used;
	const char *d = h->cin.p + h->cin.off;
	size_t n = h->cin.len;

	if (!n || h->req_done || h->aborted || h->phase != P_HEAD)
		return;
	if (llhttp_get_errno(&h->req) == HPE_PAUSED)
		llhttp_resume(&h->req);
	e = llhttp_execute(&h->req, d, n);
	if (h->aborted)
		return;
	if (e == HPE_OK) {
		gw_buf_drop(&h->cin, n);
		return;
	}
	used = (size_t)(llhttp_get_error_pos(&h->req) - d);
	if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		gw_buf_drop(&h->cin, used); /* the rest waits */
		return;
	}
	if (h->rh.too_big)
		answer(h, 431, "Request Header Fields Too Large",
		       "the request head is over 64 KiB or 128 fields", NULL);
	else
		answer(h, 400, "Bad Request", llhttp_errno_name(e), NULL);
}

static bool want_client(const struct hconn *h)
{
	if (h->phase == P_CLOSE || h->cl_eof)
		return false;
	if (h->hello)
		return true;
	if (h->to_up.len >= HIGH)
		return false;
	/* While a response is pending, a little more is read (a pipelined
	 * request, or the end of the stream): fewer epoll changes per
	 * request. */
	return h->phase == P_TUNNEL ||
	       (h->cin.len < (h->req_done ? RBUF : HIGH));
}

static bool want_up(const struct hconn *h)
{
	if (h->up.fd < 0 || h->up_connecting || h->to_cl.len >= HIGH)
		return false;
	return h->phase == P_TUNNEL ||
	       (h->phase == P_HEAD && h->req_started && !h->resp_done);
}

static void rearm(struct hconn *h)
{
	unsigned ev = 0;

	if (want_client(h))
		ev |= LOOP_READ;
	if (h->to_cl.len || gw_io_pending(&h->cl))
		ev |= LOOP_WRITE;
	loop_mod(h->g->loop, h->cl.fd, ev);
	if (h->up.fd < 0)
		return;
	if (h->up_connecting) {
		loop_mod(h->g->loop, h->up.fd,
			 h->socks_wait && h->socks.sent ? LOOP_READ : LOOP_WRITE);
		return;
	}
	ev = want_up(h) || h->up.wants_read ? LOOP_READ : 0;
	if ((h->to_up.len && !h->up.wants_read) || gw_io_pending(&h->up))
		ev |= LOOP_WRITE;
	loop_mod(h->g->loop, h->up.fd, ev);
}

/* Writes what is pending; false when the client is gone. */
static bool flush(struct hconn *h)
{
	ssize_t n;

	while (h->up.fd >= 0 && !h->up_connecting && h->to_up.len) {
		n = gw_io_send(&h->up, h->to_up.p + h->to_up.off, h->to_up.len);
		if (n == -EAGAIN || n == -EINTR)
			break;
		if (n < 0) {
			up_gone(h, false);
			break;
		}
		gw_buf_drop(&h->to_up, (size_t)n);
	}
	if (h->up.fd >= 0 && !h->up_connecting && h->up.ssl)
		gw_io_flush(&h->up);
	while (h->to_cl.len) {
		n = gw_io_send(&h->cl, h->to_cl.p + h->to_cl.off, h->to_cl.len);
		if (n == -EAGAIN || n == -EINTR)
			break;
		if (n < 0)
			return false;
		gw_buf_drop(&h->to_cl, (size_t)n);
	}
	n = gw_io_flush(&h->cl);
	return n >= 0 || n == -EAGAIN || n == -EINTR;
}

/* After a response went out: the next request, or the end. */
static bool next_request(struct hconn *h)
{
	if (h->phase != P_HEAD || !h->req_started || !h->resp_done ||
	    !h->req_done || h->to_cl.len)
		return false;
	request_end(h);
	h->served++;
	up_release(h);
	if (!h->client_keepalive) {
		h->phase = P_CLOSE;
		return false;
	}
	h->req_done = false;
	h->resp_done = false;
	h->resp_started = false;
	h->deadline = clock_mono_ns() + IDLE_S * 1000000000ull;
	return true;
}

static void step(struct hconn *h, unsigned cl_ev, unsigned up_ev)
{
	struct gw_http *s = h->g->http;
	ssize_t n;
	int rounds = 0;

	if ((cl_ev & LOOP_READ) && want_client(h)) {
again:
		n = gw_io_recv(&h->cl, s->rbuf, sizeof(s->rbuf));
		if (n > 0) {
			if (h->hello) {
				gw_buf_add(&h->cin, s->rbuf, (size_t)n);
				if (gw_tls_hello(h) < 0) {
					conn_free(h);
					return;
				}
				/* Terminated: the hello is TLS's now, and its
				 * answer must go out before the client says
				 * more. */
				if (!h->hello && h->cl.ssl)
					goto again;
			} else if (h->phase == P_TUNNEL) {
				gw_buf_add(&h->to_up, s->rbuf, (size_t)n);
				h->bytes_in += (uint64_t)n;
				if (h->st)
					h->st->bytes_in += (uint64_t)n;
			} else {
				gw_buf_add(&h->cin, s->rbuf, (size_t)n);
			}
		} else if (n == 0 && h->phase == P_HEAD && h->req_started &&
			   h->req_done && !h->resp_done) {
			/* Half-closed after its request: answer, then close. */
			h->cl_eof = true;
			h->client_keepalive = false;
		} else if (n == 0 || (n != -EAGAIN && n != -EINTR)) {
			h->cl_eof = true;
			if (h->phase != P_TUNNEL || n < 0 || !h->to_up.len) {
				request_end(h);
				conn_free(h);
				return;
			}
		}
	}
	if ((up_ev & LOOP_READ) && want_up(h)) {
		n = gw_io_recv(&h->up, s->rbuf, sizeof(s->rbuf));
		if (n > 0)
			up_data(h, s->rbuf, (size_t)n);
		else if (n == 0 || (n != -EAGAIN && n != -EINTR))
			up_gone(h, n == 0);
	}
	do {
		parse_client(h);
		if (!flush(h)) {
			request_end(h);
			conn_free(h);
			return;
		}
	} while (next_request(h) && ++rounds < 8);
	if (h->phase == P_CLOSE && !h->to_cl.len && !gw_io_pending(&h->cl)) {
		conn_free(h);
		return;
	}
	if (h->cl_eof && h->phase == P_TUNNEL && !h->to_up.len) {
		conn_free(h);
		return;
	}
	rearm(h);
}

static void on_client(struct loop *loop, int fd, unsigned events, void *arg)
{
	step(arg, events ? events : LOOP_READ, 0);
}

static void on_up(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct hconn *h = arg;

	if (h->up_connecting) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (!soerr && h->socks_wait) {
			int r = gw_socks_step(fd, &h->socks, &h->up_addr);

			if (r == 0) {
				rearm(h);
				return;
			}
			if (r < 0)
				soerr = -r;
			h->socks_wait = false;
		}
		h->up_connecting = false;
		if (soerr) {
			up_gone(h, false);
			step(h, 0, 0);
			return;
		}
		if (h->phase == P_HEAD && h->req_started && !h->resp_started)
			h->deadline = clock_mono_ns() +
				(uint64_t)h->g->upstream_timeout_s * 1000000000ull;
		if (h->up.ssl)
			gw_io_flush(&h->up);
	}
	step(h, 0, events);
}

/* Called by tls.c once a ClientHello is read: terminate (ctx) or pass
 * through to target. The hello's bytes are in h->cin. */
int gw_http_hello_done(struct hconn *h, struct ssl_ctx_st *ctx,
		       struct gw_route *pass)
{
	int ret;

	h->hello = false;
	if (pass) {
		snprintf(h->route, sizeof(h->route), "%s", pass->id);
		h->st = pass->st;
		h->st->refs++;
		h->st->active++;
		h->st->requests++;
		h->t_start = clock_mono_ns();
		ret = up_start(h, &pass->target, false, false);
		if (ret < 0)
			return ret;
		h->phase = P_TUNNEL;
		h->deadline = 0;
		h->bytes_in = h->cin.len;
		h->st->bytes_in += h->cin.len;
		gw_buf_add(&h->to_up, h->cin.p + h->cin.off, h->cin.len);
		gw_buf_drop(&h->cin, h->cin.len);
		return 0;
	}
	ret = gw_io_tls_server(&h->cl, ctx, h->cin.p + h->cin.off, h->cin.len);
	gw_buf_drop(&h->cin, h->cin.len);
	if (ret)
		return ret;
	h->https = true;
	/* The handshake goes on as the request is read. */
	return 0;
}

const char *gw_http_cin(struct hconn *h, size_t *len)
{
	*len = h->cin.len;
	return h->cin.p + h->cin.off;
}

struct gateway *gw_http_gateway(struct hconn *h)
{
	return h->g;
}

int gw_http_adopt(struct gateway *g, int fd, bool tls)
{
	struct gw_http *s = g->http;
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);
	struct hconn *h = calloc(1, sizeof(*h));

	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->g = g;
	h->cl.fd = fd;
	h->up.fd = -1;
	h->hello = tls;
	/* A response often goes out in pieces (head, then body as the target
	 * sends it): Nagle would hold each piece for the client's delayed
	 * ACK, 40 ms a request. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	getpeername(fd, (struct sockaddr *)&ss, &sl);
	gw_addr_str(&ss, h->client_ip, sizeof(h->client_ip));
	llhttp_init(&h->req, HTTP_REQUEST, &req_settings);
	h->req.data = h;
	h->deadline = clock_mono_ns() + FIRST_HEAD_S * 1000000000ull;
	if (loop_add(g->loop, fd, LOOP_READ, on_client, h) < 0) {
		close(fd);
		free(h);
		return -ENOMEM;
	}
	h->next = s->list;
	if (h->next)
		h->next->prev = h;
	s->list = h;
	return 0;
}

size_t gw_http_count(const struct gateway *g)
{
	const struct hconn *h;
	size_t n = 0;

	for (h = g->http ? g->http->list : NULL; h; h = h->next)
		n++;
	return n;
}

static void on_accept(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct listener *l = arg;
	int i, cfd;

	for (i = 0; i < ACCEPTS; ++i) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		gw_http_adopt(l->g, cfd, l->tls);
	}
}

void gw_http_tick(struct gateway *g)
{
	struct hconn *h, *next;
	uint64_t now = clock_mono_ns();

	if (g->access_log)
		fflush(g->access_log);
	if (!g->http)
		return;
	gw_pool_age(g->http->pool, now);
	for (h = g->http->list; h; h = next) {
		next = h->next;
		if (!h->deadline || now < h->deadline)
			continue;
		h->deadline = 0;
		if (h->phase == P_HEAD && h->req_started && !h->resp_started &&
		    h->req_done) {
			answer(h, 504, "Gateway Timeout",
			       h->up_connecting ? "the target did not accept the connection in time"
						: "the target did not answer in time", NULL);
			step(h, 0, 0);
		} else if (h->phase == P_HEAD && h->req_started && !h->resp_started) {
			answer(h, 408, "Request Timeout", "the request was not sent in time", NULL);
			step(h, 0, 0);
		} else if (!h->req_started || h->phase == P_CLOSE) {
			conn_free(h); /* idle, or not reading what we send */
		}
	}
}

static int listen_on(struct gateway *g, struct listener *l, const char *addr,
		     bool tls, char *err, size_t len)
{
	int ret;

	l->g = g;
	l->tls = tls;
	l->fd = -1;
	if (!addr || !*addr || !strcmp(addr, "off"))
		return 0;
	l->fd = loop_http_listen(addr, NULL, tls ? &g->http->https_port : NULL,
				 err, len);
	if (l->fd < 0)
		return l->fd;
	ret = loop_add(g->loop, l->fd, LOOP_READ, on_accept, l);
	if (ret < 0) {
		close(l->fd);
		l->fd = -1;
		snprintf(err, len, "%s: %s", addr, strerror(-ret));
	}
	return ret;
}

int gw_http_start(struct gateway *g, const char *http_addr,
		  const char *https_addr, char *err, size_t len)
{
	struct gw_http *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	llhttp_settings_init(&req_settings);
	req_settings.on_message_begin = on_req_begin;
	req_settings.on_url = on_url;
	req_settings.on_header_field = on_field;
	req_settings.on_header_value = on_value;
	req_settings.on_header_value_complete = on_value_done;
	req_settings.on_headers_complete = on_req_headers;
	req_settings.on_body = on_req_body;
	req_settings.on_message_complete = on_req_done;
	llhttp_settings_init(&resp_settings);
	resp_settings.on_message_begin = on_resp_begin;
	resp_settings.on_status = on_status;
	resp_settings.on_header_field = on_field;
	resp_settings.on_header_value = on_value;
	resp_settings.on_header_value_complete = on_value_done;
	resp_settings.on_headers_complete = on_resp_headers;
	resp_settings.on_body = on_resp_body;
	resp_settings.on_message_complete = on_resp_done;
	s->pool = gw_pool_new(g->loop);
	if (!s->pool) {
		free(s);
		return -ENOMEM;
	}
	g->http = s;
	s->g = g;
	s->l[0].fd = s->l[1].fd = -1;
	ret = listen_on(g, &s->l[0], http_addr, false, err, len);
	if (!ret)
		ret = listen_on(g, &s->l[1], https_addr, true, err, len);
	if (ret)
		gw_http_stop(g);
	return ret;
}

void gw_http_stop(struct gateway *g)
{
	struct gw_http *s = g->http;
	int i;

	if (!s)
		return;
	while (s->list)
		conn_free(s->list);
	gw_pool_free(s->pool);
	for (i = 0; i < 2; ++i)
		if (s->l[i].fd >= 0) {
			loop_del(g->loop, s->l[i].fd);
			close(s->l[i].fd);
		}
	free(s);
	g->http = NULL;
}

/* The edge agent's API, as its clients call it (JSON, X-Agent-Token):
 *   GET /health
 *   POST /http/routes {"route_id","hostname","target_url","entrypoint"?,
 *                      "certresolver"?}   GET /http/routes
 *   DELETE /http/routes/{route_id}
 *   POST /tcp/forwards {"forward_id","public_port","target_ip",
 *                       "target_port","proto"?}   GET /tcp/forwards
 *   DELETE /tcp/forwards/{forward_id}
 * A change is applied, then written to the state file, then answered;
 * when it cannot be (a port in use, the file not writable) nothing
 * changes. The server runs on the gateway's loop (io/loop-http.c), as
 * the status listener does: one thread, no locks. The write runs on a
 * thread of its own (persist.c): the connection waits, suspended, and the
 * proxy goes on serving meanwhile. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "gateway/gateway.h"
#include "io/body.h"
#include "io/loop-http.h"

enum { BODY_MAX = 64 << 10 };


enum undo {
	UNDO_NONE,
	UNDO_ADD_ROUTE,     /* remove the route undo_id */
	UNDO_ADD_FORWARD,   /* stop and remove the forward undo_id */
	UNDO_DEL_ROUTE,     /* put undo_route back */
	UNDO_DEL_FORWARD,   /* put undo_forward back, serving */
};

struct body {
	struct body_buf in;
	/* A change waiting for the state file (persist.c) */
	struct body *next;
	struct MHD_Connection *c;
	uint64_t seq;
	bool waiting, saved;
	int err;
	unsigned code;
	json_t *doc;
	enum undo undo;
	char undo_id[GW_ID_MAX + 1];
	struct gw_route undo_route;
	struct gw_forward undo_forward;
};

static struct body *waiting; /* suspended until their write is done */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code,
				 json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);
	struct MHD_Response *r;
	enum MHD_Result ret;

	json_decref(doc);
	if (!s)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned code,
			     const char *msg)
{
	return send_json(c, code, json_pack("{s:s}", "detail", msg));
}

static bool authorized(struct gateway *g, struct MHD_Connection *c)
{
	const char *h;

	if (!g->token)
		return true;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Agent-Token");
	return h && strlen(h) == strlen(g->token) &&
	       crypto_equal(h, g->token, strlen(h));
}

static long find_route(struct gateway *g, const char *id)
{
	size_t i;

	for (i = 0; i < g->n_routes; ++i)
		if (!strcmp(g->routes[i].id, id))
			return (long)i;
	return -1;
}

static long find_forward(struct gateway *g, const char *id)
{
	size_t i;

	for (i = 0; i < g->n_forwards; ++i)
		if (!strcmp(g->forwards[i].id, id))
			return (long)i;
	return -1;
}

/* Removing from the routes' and forwards' arrays, for the API's changes
 * and their undoing (adding: gw_route_push, gw_forward_push). */
static void remove_route(struct gateway *g, size_t i)
{
	gw_route_release(&g->routes[i]);
	memmove(&g->routes[i], &g->routes[i + 1],
		(g->n_routes - i - 1) * sizeof(*g->routes));
	g->n_routes--;
	gw_routes_changed(g);
}

/* Stops it serving too. */
static void remove_forward(struct gateway *g, size_t i)
{
	gw_forward_stop(g, &g->forwards[i]);
	memmove(&g->forwards[i], &g->forwards[i + 1],
		(g->n_forwards - i - 1) * sizeof(*g->forwards));
	g->n_forwards--;
}

static void undo(struct gateway *g, struct body *b)
{
	char err[160];
	long i;

	switch (b->undo) {
	case UNDO_ADD_ROUTE:
		i = find_route(g, b->undo_id);
		if (i >= 0)
			remove_route(g, (size_t)i);
		break;
	case UNDO_ADD_FORWARD:
		i = find_forward(g, b->undo_id);
		if (i >= 0)
			remove_forward(g, (size_t)i);
		break;
	case UNDO_DEL_ROUTE:
		b->undo_route.st = NULL;
		if (!gw_route_push(g, &b->undo_route))
			gw_routes_changed(g);
		break;
	case UNDO_DEL_FORWARD:
		b->undo_forward.listener = NULL;
		b->undo_forward.udp_listener = NULL;
		if (gw_forward_start(g, &b->undo_forward, err, sizeof(err)))
			fprintf(stderr, "spokewire gateway: forward %s not restored: %s\n",
				b->undo_forward.id, err);
		if (gw_forward_push(g, &b->undo_forward))
			gw_forward_stop(g, &b->undo_forward);
		break;
	case UNDO_NONE:
		break;
	}
	b->undo = UNDO_NONE;
}

/* The change in b is applied: its answer (code, doc) goes once the state
 * file has it. */
static enum MHD_Result persist_then_answer(struct gateway *g,
					   struct MHD_Connection *c,
					   struct body *b, unsigned code,
					   json_t *doc)
{
	b->seq = gw_persist_submit(g);
	if (!b->seq) {
		json_decref(doc);
		undo(g, b);
		return error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	b->c = c;
	b->code = code;
	b->doc = doc;
	b->waiting = true;
	b->next = waiting;
	waiting = b;
	MHD_suspend_connection(c);
	return MHD_YES;
}

void gw_api_saved(struct gateway *g, uint64_t seq, int err)
{
	struct body **pp = &waiting, *b;
	bool resumed = false;

	while ((b = *pp)) {
		if (b->seq > seq) {
			pp = &b->next;
			continue;
		}
		*pp = b->next;
		b->waiting = false;
		b->saved = true;
		b->err = err;
		MHD_resume_connection(b->c);
		resumed = true;
	}
	/* Driven from our loop, MHD takes a resumed connection up only when
	 * it runs: now, not at the next tick. */
	if (resumed)
		loop_http_tick(g->api);
}

/* Resumed: the write is done, or failed (then the change is undone, and
 * the state as it is now written again). */
static enum MHD_Result finish(struct gateway *g, struct MHD_Connection *c,
			      struct body *b)
{
	json_t *doc = b->doc;

	b->doc = NULL;
	b->saved = false;
	if (!b->err) {
		gw_traefik_write(g);
		return send_json(c, b->code, doc);
	}
	json_decref(doc);
	undo(g, b);
	gw_persist_submit(g);
	return error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		     "the state file could not be written");
}

static enum MHD_Result add_route(struct gateway *g, struct MHD_Connection *c,
				 json_t *in, struct body *b)
{
	struct gw_route r;
	const char *why = gw_route_parse(g, in, &r);
	size_t i;

	if (why)
		return error(c, MHD_HTTP_BAD_REQUEST, why);
	if (find_route(g, r.id) >= 0)
		return error(c, MHD_HTTP_CONFLICT, "route_id exists");
	for (i = 0; i < g->n_routes; ++i)
		if (!strcasecmp(g->routes[i].hostname, r.hostname))
			return error(c, MHD_HTTP_CONFLICT, "hostname has a route");
	if (g->n_routes >= GW_MAX_ROUTES)
		return error(c, MHD_HTTP_CONFLICT, "too many routes");
	if (gw_route_push(g, &r))
		return MHD_NO;
	if (gw_routes_changed(g)) {
		remove_route(g, g->n_routes - 1);
		return error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	b->undo = UNDO_ADD_ROUTE;
	snprintf(b->undo_id, sizeof(b->undo_id), "%s", r.id);
	return persist_then_answer(g, c, b, MHD_HTTP_CREATED, gw_route_json(&r));
}

static enum MHD_Result add_forward(struct gateway *g, struct MHD_Connection *c,
				   json_t *in, struct body *b)
{
	struct gw_forward f;
	const char *why = gw_forward_parse(g, in, &f);
	char err[160];
	size_t i;

	if (why)
		return error(c, MHD_HTTP_BAD_REQUEST, why);
	if (find_forward(g, f.id) >= 0)
		return error(c, MHD_HTTP_CONFLICT, "forward_id exists");
	for (i = 0; i < g->n_forwards; ++i)
		if (g->forwards[i].public_port == f.public_port &&
		    g->forwards[i].udp == f.udp)
			return error(c, MHD_HTTP_CONFLICT, "public_port has a forward");
	if (g->n_forwards >= GW_MAX_FORWARDS)
		return error(c, MHD_HTTP_CONFLICT, "too many forwards");
	if (gw_forward_start(g, &f, err, sizeof(err)))
		return error(c, MHD_HTTP_CONFLICT, err);
	if (gw_forward_push(g, &f)) {
		gw_forward_stop(g, &f);
		return MHD_NO;
	}
	b->undo = UNDO_ADD_FORWARD;
	snprintf(b->undo_id, sizeof(b->undo_id), "%s", f.id);
	return persist_then_answer(g, c, b, MHD_HTTP_CREATED, gw_forward_json(&f));
}

static enum MHD_Result route(struct gateway *g, struct MHD_Connection *c,
			     const char *method, const char *url,
			     struct body *b)
{
	json_error_t je;
	json_t *in, *a;
	long i;
	size_t k;

	if (!strcmp(url, "/health") && !strcmp(method, "GET"))
		return send_json(c, MHD_HTTP_OK, json_pack(
			"{s:s, s:I, s:I, s:I, s:I}", "status", "ok",
			"http_routes", (json_int_t)g->n_routes,
			"tcp_forwards", (json_int_t)g->n_forwards,
			"connections_active", (json_int_t)g->active,
			"connections_relayed", (json_int_t)g->relayed));
	if (!strcmp(url, "/metrics") && !strcmp(method, "GET")) {
		char *text = gw_metrics(g);
		struct MHD_Response *rs;
		enum MHD_Result ret;

		if (!text)
			return MHD_NO;
		rs = MHD_create_response_from_buffer(strlen(text), text,
						     MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(rs, "Content-Type",
					"text/plain; version=0.0.4");
		ret = MHD_queue_response(c, MHD_HTTP_OK, rs);
		MHD_destroy_response(rs);
		return ret;
	}
	if (!authorized(g, c))
		return error(c, MHD_HTTP_UNAUTHORIZED, "X-Agent-Token missing or wrong");
	if (!strcmp(url, "/status") && !strcmp(method, "GET"))
		return send_json(c, MHD_HTTP_OK, gw_status(g));
	if (!strcmp(url, "/http/routes") || !strcmp(url, "/tcp/forwards")) {
		bool routes = url[1] == 'h';

		if (!strcmp(method, "GET")) {
			a = json_array();
			for (k = 0; routes && k < g->n_routes; ++k)
				json_array_append_new(a, gw_route_json(&g->routes[k]));
			for (k = 0; !routes && k < g->n_forwards; ++k)
				json_array_append_new(a, gw_forward_json(&g->forwards[k]));
			return send_json(c, MHD_HTTP_OK, a);
		}
		if (strcmp(method, "POST"))
			return error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or POST");
		if (b->in.too_big)
			return error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body over 64 KiB");
		in = json_loadb(b->in.s ? b->in.s : "", b->in.len, 0, &je);
		if (!in)
			return error(c, MHD_HTTP_BAD_REQUEST, "malformed JSON");
		{
			enum MHD_Result r = routes ? add_route(g, c, in, b)
						   : add_forward(g, c, in, b);

			json_decref(in);
			return r;
		}
	}
	if (!strncmp(url, "/http/routes/", 13) && !strcmp(method, "DELETE")) {
		i = find_route(g, url + 13);
		if (i < 0)
			return error(c, MHD_HTTP_NOT_FOUND, "no such route");
		b->undo = UNDO_DEL_ROUTE;
		b->undo_route = g->routes[i];
		remove_route(g, (size_t)i);
		return persist_then_answer(g, c, b, MHD_HTTP_OK,
					   json_pack("{s:s}", "deleted", url + 13));
	}
	if (!strncmp(url, "/tcp/forwards/", 14) && !strcmp(method, "DELETE")) {
		i = find_forward(g, url + 14);
		if (i < 0)
			return error(c, MHD_HTTP_NOT_FOUND, "no such forward");
		b->undo = UNDO_DEL_FORWARD;
		b->undo_forward = g->forwards[i];
		remove_forward(g, (size_t)i);
		return persist_then_answer(g, c, b, MHD_HTTP_OK,
					   json_pack("{s:s}", "deleted", url + 14));
	}
	return error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **state)
{
	struct body *b = *state;

	if (!b) {
		*state = calloc(1, sizeof(*b));
		return *state ? MHD_YES : MHD_NO;
	}
	if (b->saved)
		return finish(cls, c, b);
	if (*upload_len) {
		if (body_add(&b->in, upload, *upload_len, BODY_MAX))
			return MHD_NO;
		*upload_len = 0;
		return MHD_YES;
	}
	return route(cls, c, method, url, b);
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
		    enum MHD_RequestTerminationCode why)
{
	struct body *b = *state, **pp;

	if (b && b->waiting) /* gone while its write ran */
		for (pp = &waiting; *pp; pp = &(*pp)->next)
			if (*pp == b) {
				*pp = b->next;
				break;
			}
	if (b) {
		json_decref(b->doc);
		body_free(&b->in);
	}
	free(b);
	*state = NULL;
}

int gw_api_start(struct gateway *g, const char *addr, char *err, size_t len)
{
	int fd, ret;

	if (strncmp(addr, "127.", 4) && strncmp(addr, "[::1]:", 6) && !g->token) {
		snprintf(err, len, "the API listens beyond loopback (%s) only with AGENT_TOKEN set",
			 addr);
		return -EPERM;
	}
	fd = loop_http_listen(addr, NULL, NULL, err, len);
	if (fd < 0)
		return fd;
	ret = loop_http_start(g->loop, fd, on_request, g, &(struct loop_http_opts){
			      .conn_limit = 64, .timeout_s = 30,
			      .conn_memory = 32 << 10, .done = on_done,
			      .suspend = true },
			      &g->api);
	if (ret < 0)
		snprintf(err, len, "the API server did not start: %s", strerror(-ret));
	return ret;
}

void gw_api_tick(struct gateway *g)
{
	loop_http_tick(g->api);
}

void gw_api_stop(struct gateway *g)
{
	loop_http_stop(g->api);
	g->api = NULL;
}

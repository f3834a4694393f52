/* The gateway's routing table: routes by hostname (sorted, searched per
 * request), the nearest wildcard, the default; each route's counters, and
 * their Prometheus text. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include "gateway/gateway.h"
#include "io/strbuf.h"
#include "uapi/uapi.h"

static const struct gateway *sort_g;

static int by_host(const void *a, const void *b)
{
	return strcasecmp(sort_g->routes[*(const size_t *)a].hostname,
			  sort_g->routes[*(const size_t *)b].hostname);
}

int gw_routes_changed(struct gateway *g)
{
	size_t *idx = NULL, i;

	for (i = 0; i < g->n_routes; ++i) {
		struct gw_route *r = &g->routes[i];

		if (r->st)
			continue;
		r->st = calloc(1, sizeof(*r->st));
		if (!r->st)
			return -ENOMEM;
		r->st->refs = 1;
		snprintf(r->st->id, sizeof(r->st->id), "%s", r->id);
	}
	if (g->n_routes) {
		idx = malloc(g->n_routes * sizeof(*idx));
		if (!idx)
			return -ENOMEM;
		for (i = 0; i < g->n_routes; ++i)
			idx[i] = i;
		sort_g = g;
		qsort(idx, g->n_routes, sizeof(*idx), by_host);
	}
	free(g->route_index);
	g->route_index = idx;
	return 0;
}

void gw_rstats_put(struct gw_rstats *st)
{
	if (st && !--st->refs)
		free(st);
}

void gw_route_release(struct gw_route *r)
{
	gw_rstats_put(r->st);
	r->st = NULL;
}

static struct gw_route *lookup(struct gateway *g, const char *name)
{
	size_t lo = 0, hi = g->n_routes;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct gw_route *r = &g->routes[g->route_index[mid]];
		int c = strcasecmp(name, r->hostname);

		if (!c)
			return r;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

struct gw_route *gw_route_find(struct gateway *g, const char *host, size_t len)
{
	char name[GW_HOST_MAX + 1], wild[GW_HOST_MAX + 2];
	struct gw_route *r;
	const char *dot;
	size_t i;

	if (!g->route_index)
		return NULL;
	/* Host: name[:port]; "[v6]:port" has no route but the default. */
	for (i = 0; i < len && host[i] != ':'; ++i)
		;
	len = i;
	if (len && host[len - 1] == '.')
		len--; /* "example.com." */
	if (len && len <= GW_HOST_MAX && host[0] != '[') {
		for (i = 0; i < len; ++i)
			name[i] = (char)tolower((unsigned char)host[i]);
		name[len] = '\0';
		r = lookup(g, name);
		if (r)
			return r;
		/* a.b.example.com: *.b.example.com, then *.example.com, ... */
		for (dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.')) {
			wild[0] = '*';
			memcpy(wild + 1, dot, strlen(dot) + 1);
			r = lookup(g, wild);
			if (r)
				return r;
		}
	}
	return lookup(g, "*");
}

const char *gw_route_target(struct gw_route *r)
{
	const char *u = r->target_url, *host, *end, *port;
	char hb[64];
	unsigned long p;
	size_t hl;

	r->target_tls = !strncmp(u, "https://", 8);
	if (!r->target_tls && strncmp(u, "http://", 7))
		return "target_url: http://HOST:PORT or https://HOST:PORT";
	host = u + (r->target_tls ? 8 : 7);
	if (*host == '[') {
		end = strchr(host, ']');
		if (!end)
			return "target_url: no ']'";
		host++;
		port = end + 1;
	} else {
		end = host + strcspn(host, ":/?#");
		port = end;
	}
	hl = (size_t)(end - host);
	if (!hl || hl >= sizeof(hb))
		return "target_url: no host";
	memcpy(hb, host, hl);
	hb[hl] = '\0';
	p = r->target_tls ? 443 : 80;
	if (*port == ':') {
		char *e;

		p = strtoul(port + 1, &e, 10);
		if (e == port + 1 || p < 1 || p > 65535 || (*e && *e != '/'))
			return "target_url: the port must be 1-65535";
	}
	if (gw_sockaddr(&r->target, hb, (uint16_t)p))
		return "target_url: the host must be an IP address in the mesh";
	return NULL;
}

/* A label value as Prometheus reads it: \\, \" and \n escaped. Our ids
 * and hostnames have none of them, but the format is the format. */
static void label(struct strbuf *b, const char *s)
{
	for (; *s; ++s) {
		if (*s == '\\' || *s == '"')
			strbuf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			strbuf_printf(b, "\\n");
		else
			strbuf_printf(b, "%c", *s);
	}
}

char *gw_metrics(const struct gateway *g)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} m[] = {
		{ "spokewire_gateway_route_active_connections", "gauge",
		  "Client connections being served by the route now.",
		  offsetof(struct gw_rstats, active) },
		{ "spokewire_gateway_route_requests_total", "counter",
		  "Requests routed (HTTP) or connections passed through (TLS passthrough).",
		  offsetof(struct gw_rstats, requests) },
		{ "spokewire_gateway_route_received_bytes_total", "counter",
		  "Bytes from clients, request heads and bodies.",
		  offsetof(struct gw_rstats, bytes_in) },
		{ "spokewire_gateway_route_sent_bytes_total", "counter",
		  "Bytes to clients, response heads and bodies.",
		  offsetof(struct gw_rstats, bytes_out) },
		{ "spokewire_gateway_route_upstream_errors_total", "counter",
		  "Targets that refused, reset, timed out or sent a bad response.",
		  offsetof(struct gw_rstats, upstream_errors) },
	};
	struct strbuf b = { 0 };
	size_t i, k;
	int c;

	for (k = 0; k < sizeof(m) / sizeof(m[0]); ++k) {
		strbuf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", m[k].name,
			      m[k].help, m[k].name, m[k].type);
		for (i = 0; i < g->n_routes; ++i) {
			const struct gw_route *r = &g->routes[i];

			if (!r->st)
				continue;
			strbuf_printf(&b, "%s{route=\"", m[k].name);
			label(&b, r->id);
			strbuf_printf(&b, "\",host=\"");
			label(&b, r->hostname);
			strbuf_printf(&b, "\"} %llu\n", (unsigned long long)*(
				const uint64_t *)((const char *)r->st + m[k].off));
		}
	}
	strbuf_printf(&b, "# HELP spokewire_gateway_route_responses_total Responses by status class.\n"
		      "# TYPE spokewire_gateway_route_responses_total counter\n");
	for (i = 0; i < g->n_routes; ++i) {
		const struct gw_route *r = &g->routes[i];

		for (c = 1; r->st && c <= 5; ++c) {
			strbuf_printf(&b, "spokewire_gateway_route_responses_total{route=\"");
			label(&b, r->id);
			strbuf_printf(&b, "\",host=\"");
			label(&b, r->hostname);
			strbuf_printf(&b, "\",code=\"%dxx\"} %llu\n", c,
				      (unsigned long long)r->st->status[c]);
		}
	}
	strbuf_printf(&b, "# HELP spokewire_gateway_forward_connections_active TCP forward connections open now.\n"
		      "# TYPE spokewire_gateway_forward_connections_active gauge\n"
		      "spokewire_gateway_forward_connections_active %llu\n"
		      "# HELP spokewire_gateway_forward_connections_total TCP forward connections accepted.\n"
		      "# TYPE spokewire_gateway_forward_connections_total counter\n"
		      "spokewire_gateway_forward_connections_total %llu\n",
		      (unsigned long long)g->active, (unsigned long long)g->relayed);
	return strbuf_take(&b);
}

/* The interface's own status document (its daemon's "status=1"). */
static json_t *iface_status(const struct gateway *g)
{
	char *reply = NULL, *j, *nl;
	json_t *doc = NULL;
	int ret = uapi_client_call(g->wg_iface, "status=1\n\n", &reply);

	if (ret >= 0 && reply && (j = strstr(reply, "json="))) {
		j += 5;
		nl = strchr(j, '\n');
		if (nl)
			*nl = '\0';
		doc = json_loads(j, 0, NULL);
	}
	free(reply);
	return doc ? doc : json_pack("{s:s, s:s}", "interface", g->wg_iface,
				     "error", ret < 0 ? strerror(-ret)
						      : "no status from its daemon");
}

json_t *gw_status(const struct gateway *g)
{
	json_t *routes = json_array();
	size_t i;

	for (i = 0; i < g->n_routes; ++i) {
		const struct gw_route *r = &g->routes[i];
		const struct gw_rstats *st = r->st;

		if (!st)
			continue;
		json_array_append_new(routes, json_pack(
			"{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "route_id", r->id,
			"hostname", r->hostname, "target_url", r->target_url,
			"active", (json_int_t)st->active,
			"requests", (json_int_t)st->requests,
			"received_bytes", (json_int_t)st->bytes_in,
			"sent_bytes", (json_int_t)st->bytes_out,
			"upstream_errors", (json_int_t)st->upstream_errors));
	}
	return json_pack("{s:{s:I, s:I, s:I, s:I, s:s, s:o}, s:o}", "gateway",
			 "http_connections", (json_int_t)gw_http_count(g),
			 "forward_connections", (json_int_t)g->active,
			 "forward_connections_total", (json_int_t)g->relayed,
			 "tcp_forwards", (json_int_t)g->n_forwards,
			 "mode", g->socks.ss_family ? "userspace" : "tun",
			 "routes", routes, "mesh", iface_status(g));
}

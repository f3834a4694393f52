/* GET /health and GET /metrics (Prometheus text exposition format 0.0.4). */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/api.h"
#include "controller/store.h"

/* application/health+json, as every daemon's /health: pass while the
 * store answers (503 and fail when it does not), with the network and the
 * netmap version beside. */
int api_health(struct api_call *c)
{
	struct versions v;
	bool ok = !registry_versions(c->ctl, &v);

	c->content_type = "application/health+json";
	return api_json(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			json_pack("{s:s, s:s, s:{s:[{s:s, s:s, s:s}]}, s:s, s:s, s:I}",
				  "status", ok ? "pass" : "fail",
				  "serviceId", "spokewire-controller",
				  "checks", "store:connection", "status",
				  ok ? "pass" : "fail", "componentId",
				  c->ctl->store->desc, "output",
				  ok ? "the registry answers"
				     : "the registry does not answer",
				  "store", c->ctl->store->desc,
				  "network", c->ctl->net.text,
				  "netmap_version", (json_int_t)(ok ? v.all : -1)));
}

static void __attribute__((format(printf, 3, 4)))
add(char **buf, size_t *len, const char *fmt, ...)
{
	char line[512];
	char *nbuf;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!*buf || n < 0 || (size_t)n >= sizeof(line))
		return;
	nbuf = realloc(*buf, *len + (size_t)n + 1);
	if (!nbuf) {
		free(*buf);
		*buf = NULL;
		return;
	}
	memcpy(nbuf + *len, line, (size_t)n + 1);
	*buf = nbuf;
	*len += (size_t)n;
}

#define COUNTER(name, help, value)                                         \
	add(&buf, &len, "# HELP " name " " help "\n# TYPE " name              \
			" counter\n" name " %lu\n",                           \
	    (unsigned long)(value))
#define GAUGE(name, help, value)                                           \
	add(&buf, &len, "# HELP " name " " help "\n# TYPE " name " gauge\n" \
			name " %lld\n",                                        \
	    (long long)(value))

char *metrics_render(struct controller *ctl)
{
	struct metrics *m = &ctl->metrics;
	int64_t nodes = -1, users = -1, devices = -1;
	struct versions v = { -1, -1 };
	char *buf = calloc(1, 1);
	size_t len = 0;
	int i;

	registry_counts(ctl, &nodes, &users, &devices);
	registry_versions(ctl, &v);
	add(&buf, &len,
	    "# HELP spokewire_controller_http_responses_total Responses "
	    "sent, by status class.\n"
	    "# TYPE spokewire_controller_http_responses_total counter\n");
	for (i = 1; i <= 5; ++i)
		add(&buf, &len,
		    "spokewire_controller_http_responses_total{code=\"%dxx\"} "
		    "%lu\n",
		    i, (unsigned long)atomic_load(&m->requests[i]));
	COUNTER("spokewire_controller_joins_total",
		"Joins that created or changed a node.", m->joins);
	COUNTER("spokewire_controller_rejoins_total",
		"Joins that changed nothing (idempotent re-joins).",
		m->rejoins);
	COUNTER("spokewire_controller_devices_created_total",
		"User device configs handed out.", m->devices);
	COUNTER("spokewire_controller_auth_failures_total",
		"Requests refused for a bad or missing credential.",
		m->auth_failures);
	COUNTER("spokewire_controller_rate_limited_total",
		"Requests refused because their source failed auth too often.",
		m->rate_limited);
	GAUGE("spokewire_controller_netmap_waiters",
	      "GET /netmap requests being held.", m->waiters);
	GAUGE("spokewire_controller_nodes", "Registered hubs and spokes.",
	      nodes);
	GAUGE("spokewire_controller_users", "Registered users.", users);
	GAUGE("spokewire_controller_devices", "Registered user devices.",
	      devices);
	GAUGE("spokewire_controller_netmap_version",
	      "The netmap version hubs see.", v.all);
	return buf;
}

int api_metrics(struct api_call *c)
{
	c->raw = metrics_render(c->ctl);
	if (!c->raw)
		return api_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				 "out of memory");
	c->raw_len = strlen(c->raw);
	c->content_type = "text/plain; version=0.0.4; charset=utf-8";
	c->status = MHD_HTTP_OK;
	return 0;
}

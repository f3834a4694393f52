/* The gateway's routes and forwards: parsed from API bodies and checked,
 * kept in a JSON state file (written atomically before each answer,
 * restored at start; a corrupt one is kept aside, never taken for empty),
 * and, for users who keep Traefik, written as file-provider YAML. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf-value.h"
#include "gateway/gateway.h"
#include "gateway/io.h"
#include "io/file.h"
#include "io/strbuf.h"
#include "uapi/uapi.h"

enum { STATE_MAX = 16 << 20 };

json_t *gw_route_json(const struct gw_route *r)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "route_id", r->id,
			 "hostname", r->hostname, "target_url", r->target_url,
			 "entrypoint", r->entrypoint, "certresolver",
			 r->certresolver, "tls",
			 r->tls == GW_TLS_PASSTHROUGH ? "passthrough" : "terminate",
			 "redirect_https", r->redirect_https);
}

json_t *gw_forward_json(const struct gw_forward *f)
{
	return json_pack("{s:s, s:i, s:s, s:i, s:s, s:i, s:i, s:i}", "forward_id",
			 f->id, "public_port", f->public_port, "target_ip",
			 f->target_ip, "target_port", f->target_port, "proto",
			 f->udp ? "udp" : "tcp", "proxy_protocol",
			 f->proxy_protocol, "max_connections",
			 f->max_connections, "idle_timeout", f->idle_timeout_s);
}

/* A forward's options, with their defaults; NULL or why not. */
static const char *forward_options(json_t *in, struct gw_forward *f)
{
	json_t *pp = json_object_get(in, "proxy_protocol");
	json_t *mc = json_object_get(in, "max_connections");
	json_t *it = json_object_get(in, "idle_timeout");

	f->proxy_protocol = pp ? (uint8_t)json_integer_value(pp) : 0;
	if (pp && (!json_is_integer(pp) || json_integer_value(pp) < 0 ||
		   json_integer_value(pp) > 2))
		return "proxy_protocol: 0 (none), 1 or 2";
	if (f->proxy_protocol && f->udp)
		return "proxy_protocol: TCP forwards only";
	f->max_connections = mc ? (unsigned)json_integer_value(mc) : 4096;
	if (mc && (!json_is_integer(mc) || json_integer_value(mc) < 1 ||
		   json_integer_value(mc) > 65536))
		return "max_connections: 1-65536";
	f->idle_timeout_s = it ? (unsigned)json_integer_value(it)
			       : f->udp ? 60 : 3600;
	if (it && (!json_is_integer(it) || json_integer_value(it) < 1 ||
		   json_integer_value(it) > 86400 * 7))
		return "idle_timeout: seconds, 1-604800";
	return NULL;
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > GW_ID_MAX)
		return false;
	for (i = 0; i < n; ++i)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

/* RFC 1123 labels, optionally one leading "*." for a wildcard route. */
static bool valid_hostname(const char *s)
{
	size_t n = strlen(s), label = 0, i;

	if (!strcmp(s, "*"))
		return true; /* the default route */
	if (!strncmp(s, "*.", 2))
		s += 2, n -= 2;
	if (!n || n > GW_HOST_MAX || s[n - 1] == '.' || s[0] == '.')
		return false;
	for (i = 0; i < n; ++i) {
		if (s[i] == '.') {
			if (!label || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		if (!label && s[i] == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static const char *str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Only the keys we know, and of the right type. */
static const char *check_keys(json_t *in, const char *const *keys,
			      const char *types)
{
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(in))
		return "a JSON object expected";
	json_object_foreach(in, k, v) {
		for (i = 0; keys[i]; ++i)
			if (!strcmp(k, keys[i]))
				break;
		if (!keys[i])
			return "unknown field";
		if ((types[i] == 's' && !json_is_string(v)) ||
		    (types[i] == 'i' && !json_is_integer(v)) ||
		    (types[i] == 'b' && !json_is_boolean(v)))
			return types[i] == 's' ? "a field must be a string"
			     : types[i] == 'i' ? "a field must be an integer"
					       : "a field must be true or false";
	}
	return NULL;
}

int gw_sockaddr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		return inet_pton(AF_INET6, ip, &a->sin6_addr) == 1 ? 0 : -EINVAL;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -EINVAL;
	}
}

/* ip inside the mesh's networks (the interface's AllowedIPs). */
static bool in_mesh(const struct gateway *g, const char *ip)
{
	uint8_t a[16] = { 0 };
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(fam, ip, a) != 1)
		return false;
	return conf_prefix_match(g->mesh, g->n_mesh, fam, a);
}

/* The fields a route has beyond id, hostname and target_url; 0 or why
 * not. */
static const char *route_options(json_t *in, struct gw_route *r)
{
	const char *tls = str(in, "tls");

	r->tls = GW_TLS_TERMINATE;
	if (tls && !strcmp(tls, "passthrough"))
		r->tls = GW_TLS_PASSTHROUGH;
	else if (tls && strcmp(tls, "terminate"))
		return "tls: \"terminate\" or \"passthrough\"";
	r->redirect_https = json_is_true(json_object_get(in, "redirect_https"));
	if (r->redirect_https && r->tls == GW_TLS_PASSTHROUGH)
		return "redirect_https: the route passes TLS through; plain HTTP to it is not served";
	return NULL;
}

const char *gw_route_parse(struct gateway *g, json_t *in, struct gw_route *r)
{
	static const char *const keys[] = { "route_id", "hostname",
		"target_url", "entrypoint", "certresolver", "tls",
		"redirect_https", NULL };
	const char *why = check_keys(in, keys, "ssssssb"), *u;
	char ip[64];

	if (why)
		return why;
	memset(r, 0, sizeof(*r));
	if (!str(in, "route_id") || !valid_id(str(in, "route_id")))
		return "route_id: 1-64 of letters, digits, '-', '_', '.'";
	if (!str(in, "hostname") || !valid_hostname(str(in, "hostname")))
		return "hostname: not a host name";
	u = str(in, "target_url");
	if (!u || strlen(u) > GW_URL_MAX)
		return "target_url: http://HOST:PORT or https://HOST:PORT";
	snprintf(r->target_url, sizeof(r->target_url), "%s", u);
	why = gw_route_target(r);
	if (why)
		return why;
	why = route_options(in, r);
	if (why)
		return why;
	gw_mesh_refresh(g);
	gw_addr_str(&r->target, ip, sizeof(ip));
	if (!in_mesh(g, ip))
		return "target_url: the target must be an address inside the mesh";
	snprintf(r->id, sizeof(r->id), "%s", str(in, "route_id"));
	snprintf(r->hostname, sizeof(r->hostname), "%s", str(in, "hostname"));
	for (u = r->hostname; *u; ++u)
		r->hostname[u - r->hostname] = (char)tolower((unsigned char)*u);
	snprintf(r->entrypoint, sizeof(r->entrypoint), "%s",
		 str(in, "entrypoint") ? str(in, "entrypoint") : g->entrypoint);
	snprintf(r->certresolver, sizeof(r->certresolver), "%s",
		 str(in, "certresolver") ? str(in, "certresolver")
					 : g->certresolver);
	return NULL;
}

const char *gw_forward_parse(struct gateway *g, json_t *in,
			     struct gw_forward *f)
{
	static const char *const keys[] = { "forward_id", "public_port",
		"target_ip", "target_port", "proto", "proxy_protocol",
		"max_connections", "idle_timeout", NULL };
	const char *why = check_keys(in, keys, "sisisiii"), *proto;
	json_int_t pp = json_integer_value(json_object_get(in, "public_port"));
	json_int_t tp = json_integer_value(json_object_get(in, "target_port"));

	if (why)
		return why;
	memset(f, 0, sizeof(*f));
	if (!str(in, "forward_id") || !valid_id(str(in, "forward_id")))
		return "forward_id: 1-64 of letters, digits, '-', '_', '.'";
	if (pp < 1 || pp > 65535 || tp < 1 || tp > 65535)
		return "public_port and target_port: 1-65535";
	proto = str(in, "proto") ? str(in, "proto") : "tcp";
	if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return "proto: tcp or udp";
	f->udp = !strcmp(proto, "udp");
	if (f->udp && g->socks.ss_family)
		return "proto: a userspace-mode gateway reaches the mesh through SOCKS5, TCP only: UDP forwards need TUN mode";
	why = forward_options(in, f);
	if (why)
		return why;
	if (!str(in, "target_ip") || strlen(str(in, "target_ip")) >= sizeof(f->target_ip))
		return "target_ip: an address inside the mesh";
	gw_mesh_refresh(g);
	if (!in_mesh(g, str(in, "target_ip")))
		return "target_ip: the target must be an address inside the mesh";
	snprintf(f->id, sizeof(f->id), "%s", str(in, "forward_id"));
	snprintf(f->target_ip, sizeof(f->target_ip), "%s", str(in, "target_ip"));
	f->public_port = (uint16_t)pp;
	f->target_port = (uint16_t)tp;
	return NULL;
}

int gw_mesh_refresh(struct gateway *g)
{
	char *reply = NULL, *line, *save = NULL;
	struct conf_prefix *v = NULL, p;
	size_t n = 0;
	int ret;

	ret = uapi_client_call(g->wg_iface, "get=1\n\n", &reply);
	if (ret < 0) {
		free(reply);
		return ret;
	}
	for (line = strtok_r(reply, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct conf_prefix *nv;

		if (strncmp(line, "allowed_ip=", 11) ||
		    conf_parse_prefix(line + 11, &p))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n++] = p;
	}
	memzero(reply, strlen(reply));
	free(reply);
	free(g->mesh);
	g->mesh = v;
	g->n_mesh = n;
	return 0;
}

static json_t *state_json(const struct gateway *g)
{
	json_t *routes = json_array(), *fwds = json_array();
	size_t i;

	for (i = 0; i < g->n_routes; ++i)
		json_array_append_new(routes, gw_route_json(&g->routes[i]));
	for (i = 0; i < g->n_forwards; ++i)
		json_array_append_new(fwds, gw_forward_json(&g->forwards[i]));
	return json_pack("{s:i, s:o, s:o}", "version", 1, "http_routes",
			 routes, "tcp_forwards", fwds);
}

char *gw_state_text(const struct gateway *g)
{
	json_t *doc = state_json(g);
	char *s = json_dumps(doc, JSON_INDENT(2));

	json_decref(doc);
	return s;
}

int gw_route_push(struct gateway *g, const struct gw_route *r)
{
	struct gw_route *nr = realloc(g->routes, (g->n_routes + 1) * sizeof(*nr));

	if (!nr)
		return -ENOMEM;
	g->routes = nr;
	g->routes[g->n_routes++] = *r;
	return 0;
}

int gw_forward_push(struct gateway *g, const struct gw_forward *f)
{
	struct gw_forward *nf = realloc(g->forwards, (g->n_forwards + 1) * sizeof(*nf));

	if (!nf)
		return -ENOMEM;
	g->forwards = nf;
	g->forwards[g->n_forwards++] = *f;
	return 0;
}

/* Routes and forwards as a restart finds them: checked like API bodies,
 * except against the mesh (which may not be up yet). */
static int load_items(struct gateway *g, json_t *doc, char *err, size_t len)
{
	json_t *a, *v;
	size_t i;

	a = json_object_get(doc, "http_routes");
	json_array_foreach(a, i, v) {
		struct gw_route r = { 0 };

		if (!json_is_object(v) || !str(v, "route_id") ||
		    !str(v, "hostname") || !str(v, "target_url")) {
			snprintf(err, len, "http_routes[%zu] is not a route", i);
			return -1;
		}
		snprintf(r.id, sizeof(r.id), "%s", str(v, "route_id"));
		snprintf(r.hostname, sizeof(r.hostname), "%s", str(v, "hostname"));
		snprintf(r.target_url, sizeof(r.target_url), "%s", str(v, "target_url"));
		snprintf(r.entrypoint, sizeof(r.entrypoint), "%s",
			 str(v, "entrypoint") ? str(v, "entrypoint") : "");
		snprintf(r.certresolver, sizeof(r.certresolver), "%s",
			 str(v, "certresolver") ? str(v, "certresolver") : "");
		if (gw_route_target(&r) || route_options(v, &r)) {
			snprintf(err, len, "http_routes[%zu]: target_url or options are not valid", i);
			return -1;
		}
		if (gw_route_push(g, &r))
			return -1;
	}
	a = json_object_get(doc, "tcp_forwards");
	json_array_foreach(a, i, v) {
		struct gw_forward f = { 0 };
		json_int_t pp = json_integer_value(json_object_get(v, "public_port"));
		json_int_t tp = json_integer_value(json_object_get(v, "target_port"));

		if (!json_is_object(v) || !str(v, "forward_id") ||
		    !str(v, "target_ip") || pp < 1 || pp > 65535 || tp < 1 ||
		    tp > 65535) {
			snprintf(err, len, "tcp_forwards[%zu] is not a forward", i);
			return -1;
		}
		snprintf(f.id, sizeof(f.id), "%s", str(v, "forward_id"));
		snprintf(f.target_ip, sizeof(f.target_ip), "%s", str(v, "target_ip"));
		f.public_port = (uint16_t)pp;
		f.target_port = (uint16_t)tp;
		f.udp = str(v, "proto") && !strcmp(str(v, "proto"), "udp");
		if (forward_options(v, &f)) {
			snprintf(err, len, "tcp_forwards[%zu]: options are not valid", i);
			return -1;
		}
		if (gw_forward_push(g, &f))
			return -1;
	}
	return 0;
}

int gw_state_load(struct gateway *g, char *err, size_t len)
{
	char *text = NULL, bad[4200];
	json_error_t je;
	json_t *doc;
	size_t n;
	int ret;

	ret = file_read_all(g->state_path, STATE_MAX, &text, &n);
	if (ret == -ENOENT)
		return 0;
	if (ret) {
		snprintf(err, len, "%s: %s", g->state_path, strerror(-ret));
		return -1;
	}
	doc = json_loadb(text, n, 0, &je);
	free(text);
	if (!doc || !json_is_object(doc) ||
	    json_integer_value(json_object_get(doc, "version")) != 1 ||
	    load_items(g, doc, err, len)) {
		if (!doc)
			snprintf(err, len, "line %d: %s", je.line, je.text);
		else if (!err[0])
			snprintf(err, len, "not a gateway state (version 1)");
		json_decref(doc);
		snprintf(bad, sizeof(bad), "%s.bad", g->state_path);
		rename(g->state_path, bad);
		return -1;
	}
	json_decref(doc);
	return gw_routes_changed(g) ? -1 : 0;
}

/* A route's rule in Traefik v2's syntax. */
static void traefik_rule(struct strbuf *b, const struct gw_route *r)
{
	if (r->tls == GW_TLS_PASSTHROUGH)
		strbuf_printf(b, "HostSNI(`%s`)", strcmp(r->hostname, "*") ? r->hostname : "*");
	else if (!strcmp(r->hostname, "*"))
		strbuf_printf(b, "PathPrefix(`/`)");
	else if (!strncmp(r->hostname, "*.", 2))
		strbuf_printf(b, "HostRegexp(`{sub:[a-z0-9.-]+}.%s`)", r->hostname + 2);
	else
		strbuf_printf(b, "Host(`%s`)", r->hostname);
}

void gw_traefik_write(const struct gateway *g)
{
	struct strbuf b = { 0 };
	char path[4200], addr[64];
	size_t i;
	int pass;

	if (!g->traefik_dir[0])
		return;
	strbuf_printf(&b, "# written by spokewire gateway: its routes, for Traefik's file provider\n");
	for (pass = 0; pass < 2; ++pass) {
		size_t n = 0;

		for (i = 0; i < g->n_routes; ++i)
			n += (g->routes[i].tls == GW_TLS_PASSTHROUGH) == pass;
		if (!n)
			continue;
		strbuf_printf(&b, "%s:\n  routers:\n", pass ? "tcp" : "http");
		for (i = 0; i < g->n_routes; ++i) {
			const struct gw_route *r = &g->routes[i];

			if ((r->tls == GW_TLS_PASSTHROUGH) != pass)
				continue;
			strbuf_printf(&b, "    %s:\n      rule: \"", r->id);
			traefik_rule(&b, r);
			strbuf_printf(&b, "\"\n      service: %s\n", r->id);
			if (!strcmp(r->hostname, "*") && !pass)
				strbuf_printf(&b, "      priority: 1\n");
			if (r->entrypoint[0])
				strbuf_printf(&b, "      entryPoints: [\"%s\"]\n", r->entrypoint);
			if (pass)
				strbuf_printf(&b, "      tls:\n        passthrough: true\n");
			else if (r->certresolver[0])
				strbuf_printf(&b, "      tls:\n        certResolver: \"%s\"\n",
					      r->certresolver);
		}
		strbuf_printf(&b, "  services:\n");
		for (i = 0; i < g->n_routes; ++i) {
			const struct gw_route *r = &g->routes[i];

			if ((r->tls == GW_TLS_PASSTHROUGH) != pass)
				continue;
			if (pass) {
				char ip[48];
				uint16_t port = ntohs(r->target.ss_family == AF_INET6
					? ((const struct sockaddr_in6 *)&r->target)->sin6_port
					: ((const struct sockaddr_in *)&r->target)->sin_port);

				gw_addr_str(&r->target, ip, sizeof(ip));
				snprintf(addr, sizeof(addr), strchr(ip, ':') ? "[%s]:%u" : "%s:%u",
					 ip, port);
				strbuf_printf(&b, "    %s:\n      loadBalancer:\n        servers:\n          - address: \"%s\"\n",
					      r->id, addr);
			} else {
				strbuf_printf(&b, "    %s:\n      loadBalancer:\n        servers:\n          - url: \"%s\"\n",
					      r->id, r->target_url);
			}
		}
	}
	snprintf(path, sizeof(path), "%s/spokewire-routes.yml", g->traefik_dir);
	if (!b.failed && b.s)
		file_write_atomic(path, b.s, b.len, 0644);
	strbuf_free(&b);
}

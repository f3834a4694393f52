/* Topology files: parsing and checks, address assignment, and rendering of
 * each node's config and the summary. See topology.h. */
#include "conf/topology.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf-value.h"
#include "io/strbuf.h"

enum section {
	SEC_NONE,
	SEC_NETWORK,
	SEC_HUB,
	SEC_SPOKE,
};

enum {
	DEFAULT_KEEPALIVE = 25,
};

struct parser {
	struct topology *t;
	const char *file;
	int line;
	enum section sec;
	bool has_network, has_net;
	char *err;
};

static int __attribute__((format(printf, 2, 3)))
perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = conf_verr(p->err, p->file, p->line, fmt, ap);
	va_end(ap);
	return ret;
}

static bool valid_name(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (!n || n >= max)
		return false;
	for (i = 0; i < n; ++i) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		      (ch == '.' && i)))
			return false;
	}
	return true;
}

static uint32_t v4(const uint8_t ip[4])
{
	return (uint32_t)ip[0] << 24 | (uint32_t)ip[1] << 16 |
	       (uint32_t)ip[2] << 8 | ip[3];
}

static void put_v4(uint8_t ip[4], uint32_t a)
{
	ip[0] = (uint8_t)(a >> 24);
	ip[1] = (uint8_t)(a >> 16);
	ip[2] = (uint8_t)(a >> 8);
	ip[3] = (uint8_t)a;
}

static uint32_t mask4(unsigned cidr)
{
	return cidr ? ~0u << (32 - cidr) : 0;
}

/* A host address of the network: inside it, neither its first address nor
 * (below /31) its broadcast address. */
static bool host_of(const struct topology *t, uint32_t a)
{
	uint32_t m = mask4(t->net4.cidr), net = v4(t->net4.ip) & m;

	if ((a & m) != net)
		return false;
	if (t->net4.cidr >= 31)
		return true;
	return a != net && a != (net | ~m);
}

static struct topo_node *new_node(struct parser *p, bool hub)
{
	struct topology *t = p->t;
	struct topo_node *n;

	if (t->n >= TOPO_MAX_NODES)
		return NULL;
	n = realloc(t->nodes, (t->n + 1) * sizeof(*n));
	if (!n)
		return NULL;
	t->nodes = n;
	n = &t->nodes[t->n++];
	memset(n, 0, sizeof(*n));
	n->hub = hub;
	n->line = p->line;
	n->mode = CONF_MODE_TUN;
	snprintf(n->group, sizeof(n->group), "default");
	return n;
}

static struct topo_node *cur(struct parser *p)
{
	return &p->t->nodes[p->t->n - 1];
}

/* SpokeToSpoke = eu, na: spoke to spoke within those groups only, kept as
 * "eu, na" after checking the names. */
static int s2s_groups(struct parser *p, const char *val)
{
	struct topology *t = p->t;
	char buf[TOPO_SERVICES_MAX], *tok, *save = NULL;
	struct strbuf out = { 0 };
	int ret = 0;

	if (strlen(val) >= sizeof(buf))
		return perr(p, "SpokeToSpoke is too long");
	snprintf(buf, sizeof(buf), "%s", val);
	for (tok = strtok_r(buf, ",", &save); tok && !ret;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = conf_trim(tok);
		if (!valid_name(tok, TOPO_NAME_MAX))
			ret = perr(p, "SpokeToSpoke must be all, group, none or a list of groups, not '%s'",
				   val);
		else
			strbuf_printf(&out, "%s%s", out.len ? ", " : "", tok);
	}
	if (!ret && (out.failed || !out.len || out.len >= sizeof(t->s2s_groups)))
		ret = out.failed ? -ENOMEM
				 : perr(p, "SpokeToSpoke must be all, group, none or a list of groups, not '%s'", val);
	if (!ret) {
		snprintf(t->s2s_groups, sizeof(t->s2s_groups), "%s", out.s);
		t->s2s = TOPO_S2S_GROUP;
	}
	strbuf_free(&out);
	return ret;
}

static int parse_bool(struct parser *p, const char *key, const char *val,
		      bool *out)
{
	if (!strcasecmp(val, "yes") || !strcasecmp(val, "true"))
		*out = true;
	else if (!strcasecmp(val, "no") || !strcasecmp(val, "false"))
		*out = false;
	else
		return perr(p, "%s must be yes or no, not '%s'", key, val);
	return 0;
}

static int network_key(struct parser *p, const char *key, char *val)
{
	struct topology *t = p->t;
	uint64_t v;

	if (!strcasecmp(key, "Name")) {
		if (!valid_name(val, sizeof(t->name)))
			return perr(p, "invalid Name '%s' (letters, digits, '-', '_', '.'; at most %d)",
				    val, TOPO_NAME_MAX - 1);
		snprintf(t->name, sizeof(t->name), "%s", val);
		return 0;
	}
	if (!strcasecmp(key, "Address")) {
		char *save = NULL, *tok;

		for (tok = strtok_r(val, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			struct conf_prefix pf;

			tok = conf_trim(tok);
			if (conf_parse_prefix(tok, &pf) || !pf.has_cidr)
				return perr(p, "invalid Address '%s': a network with its length, as 10.50.0.0/16", tok);
			if (pf.family == AF_INET) {
				if (p->has_net)
					return perr(p, "Address has two IPv4 networks");
				if (pf.cidr > 30)
					return perr(p, "Address %s leaves no room for a hub and a spoke", tok);
				t->net4 = pf;
				p->has_net = true;
			} else {
				if (t->has_net6)
					return perr(p, "Address has two IPv6 networks");
				if (pf.cidr > 96)
					return perr(p, "the IPv6 prefix %s must be /96 or shorter", tok);
				t->net6 = pf;
				t->has_net6 = true;
			}
		}
		if (!p->has_net)
			return perr(p, "Address needs an IPv4 network (an IPv6 prefix may follow it)");
		return 0;
	}
	if (!strcasecmp(key, "ListenPort")) {
		if (conf_parse_u32(val, 65535, &v) || !v)
			return perr(p, "invalid ListenPort '%s'", val);
		t->listen_port = (uint16_t)v;
		return 0;
	}
	if (!strcasecmp(key, "PersistentKeepalive")) {
		if (!strcasecmp(val, "off")) {
			t->keepalive = 0;
			return 0;
		}
		if (conf_parse_u32(val, 65535, &v))
			return perr(p, "invalid PersistentKeepalive '%s'", val);
		t->keepalive = (uint16_t)v;
		return 0;
	}
	if (!strcasecmp(key, "SpokeToSpoke")) {
		t->s2s_line = p->line;
		if (!strcasecmp(val, "all"))
			t->s2s = TOPO_S2S_ALL;
		else if (!strcasecmp(val, "group"))
			t->s2s = TOPO_S2S_GROUP;
		else if (!strcasecmp(val, "none"))
			t->s2s = TOPO_S2S_NONE;
		else
			return s2s_groups(p, val);
		return 0;
	}
	if (!strcasecmp(key, "Interface")) {
		if (!valid_name(val, IFNAMSIZ))
			return perr(p, "invalid Interface '%s' (at most %d characters: letters, digits, '-', '_', '.')",
				    val, IFNAMSIZ - 1);
		snprintf(t->iface, sizeof(t->iface), "%s", val);
		return 0;
	}
	return perr(p, "unknown key '%s' in [Network] (Name, Address, ListenPort, PersistentKeepalive, SpokeToSpoke, Interface)", key);
}

static int add_expose(struct parser *p, struct topo_node *n, char *item)
{
	char *arrow = strstr(item, "->"), why[CONF_WHY_MAX];
	struct conf_hostport hp;
	struct topo_expose *e;
	uint64_t port;

	if (!arrow)
		return perr(p, "invalid Expose '%s': PORT -> HOST:PORT", item);
	*arrow = '\0';
	if (conf_parse_u32(conf_trim(item), 65535, &port) || !port)
		return perr(p, "invalid Expose port '%s'", conf_trim(item));
	arrow = conf_trim(arrow + 2);
	if (conf_parse_hostport(arrow, false, &hp, p->line, why))
		return perr(p, "invalid Expose target '%s': %s", arrow, why);
	e = realloc(n->exposes, (n->n_exposes + 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	n->exposes = e;
	e = &n->exposes[n->n_exposes++];
	e->port = (uint16_t)port;
	e->line = p->line;
	snprintf(e->target, sizeof(e->target), "%s", arrow);
	return 0;
}

/* Services = 5432/tcp, 8000/tcp: checked now, enforced by the firewall. */
static int check_services(struct parser *p, const char *val)
{
	char buf[TOPO_SERVICES_MAX], *save = NULL, *tok, *slash;
	uint64_t port;

	if (strlen(val) >= sizeof(buf))
		return perr(p, "Services is too long");
	snprintf(buf, sizeof(buf), "%s", val);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = conf_trim(tok);
		slash = strchr(tok, '/');
		if (slash)
			*slash++ = '\0';
		if (conf_parse_u32(tok, 65535, &port) || !port ||
		    (slash && strcasecmp(slash, "tcp") && strcasecmp(slash, "udp")))
			return perr(p, "invalid Services entry '%s%s%s': PORT/tcp or PORT/udp",
				    tok, slash ? "/" : "", slash ? slash : "");
	}
	return 0;
}

static int node_key(struct parser *p, const char *key, char *val)
{
	struct topo_node *n = cur(p);
	char why[CONF_WHY_MAX];
	struct conf_hostport hp;

	if (!strcasecmp(key, "Name")) {
		if (!valid_name(val, sizeof(n->name)))
			return perr(p, "invalid Name '%s' (letters, digits, '-', '_', '.'; at most %d)",
				    val, TOPO_NAME_MAX - 1);
		snprintf(n->name, sizeof(n->name), "%s", val);
		return 0;
	}
	if (!strcasecmp(key, "Address")) {
		struct conf_prefix pf;

		if (conf_parse_prefix(val, &pf) || pf.family != AF_INET)
			return perr(p, "invalid Address '%s': an IPv4 address of the network", val);
		if (pf.has_cidr && !n->hub && pf.cidr != 32)
			return perr(p, "a spoke's Address is one address (/32), not '%s'", val);
		memcpy(n->addr4, pf.ip, 4);
		n->cidr4 = pf.has_cidr ? pf.cidr : (n->hub ? 0 : 32);
		n->has_addr = true;
		n->addr_line = p->line;
		return 0;
	}
	if (!strcasecmp(key, "Mode")) {
		if (!strcasecmp(val, "tun"))
			n->mode = CONF_MODE_TUN;
		else if (!strcasecmp(val, "userspace"))
			n->mode = CONF_MODE_USERSPACE;
		else
			return perr(p, "Mode must be tun or userspace, not '%s'", val);
		return 0;
	}
	if (!strcasecmp(key, "Services")) {
		int ret = check_services(p, val);

		if (!ret)
			snprintf(n->services, sizeof(n->services), "%s", val);
		return ret;
	}
	if (n->hub && !strcasecmp(key, "Endpoint")) {
		if (conf_parse_hostport(val, false, &hp, p->line, why))
			return perr(p, "invalid Endpoint '%s': %s", val, why);
		snprintf(n->endpoint, sizeof(n->endpoint), "%s", val);
		return 0;
	}
	if (n->hub && !strcasecmp(key, "Expose")) {
		char *save = NULL, *tok;
		int ret;

		for (tok = strtok_r(val, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			ret = add_expose(p, n, conf_trim(tok));
			if (ret)
				return ret;
		}
		return 0;
	}
	if (n->hub && !strcasecmp(key, "HubOriginates"))
		return parse_bool(p, key, val, &n->hub_originates);
	if (!n->hub && !strcasecmp(key, "Group")) {
		if (!valid_name(val, sizeof(n->group)))
			return perr(p, "invalid Group '%s'", val);
		snprintf(n->group, sizeof(n->group), "%s", val);
		return 0;
	}
	if (n->hub)
		return perr(p, "unknown key '%s' in [Hub] (Name, Address, Endpoint, Mode, Expose, Services, HubOriginates)", key);
	return perr(p, "unknown key '%s' in [Spoke] (Name, Address, Group, Mode, Services)", key);
}

/* A finished [Hub] or [Spoke]. */
static int end_node(struct parser *p)
{
	struct topo_node *n;
	int line = p->line, ret = 0;

	if (p->sec != SEC_HUB && p->sec != SEC_SPOKE)
		return 0;
	n = cur(p);
	p->line = n->line;
	if (!n->name[0])
		ret = perr(p, "[%s] has no Name", n->hub ? "Hub" : "Spoke");
	else if (n->hub && !n->endpoint[0])
		ret = perr(p, "[Hub] %s has no Endpoint: the address and port spokes reach it at", n->name);
	p->line = line;
	return ret;
}

static int section_header(struct parser *p, const char *name)
{
	int ret = end_node(p);
	size_t i;

	if (ret)
		return ret;
	if (!strcasecmp(name, "Network")) {
		if (p->has_network)
			return perr(p, "a second [Network] section");
		p->has_network = true;
		p->sec = SEC_NETWORK;
		return 0;
	}
	if (!strcasecmp(name, "Hub") || !strcasecmp(name, "Spoke")) {
		bool hub = !strcasecmp(name, "Hub");

		for (i = 0; hub && i < p->t->n; ++i)
			if (p->t->nodes[i].hub)
				return perr(p, "a second [Hub] (the first is at line %d): one hub per network",
					    p->t->nodes[i].line);
		if (!new_node(p, hub))
			return p->t->n >= TOPO_MAX_NODES
				       ? perr(p, "more than %d nodes", TOPO_MAX_NODES)
				       : -ENOMEM;
		p->sec = hub ? SEC_HUB : SEC_SPOKE;
		return 0;
	}
	return perr(p, "unknown section [%s] (Network, Hub, Spoke)", name);
}

static int parse_line(void *ctx, char *line)
{
	struct parser *p = ctx;
	char why[CONF_WHY_MAX], *key = NULL, *val = NULL;
	int kind = conf_split_line(line, &key, &val, why);

	if (kind < 0)
		return perr(p, "%s", why);
	if (kind == CONF_LINE_SECTION)
		return section_header(p, key);
	if (kind == CONF_LINE_EMPTY)
		return 0;
	switch (p->sec) {
	case SEC_NONE:
		return perr(p, "'%s' outside of a section", key);
	case SEC_NETWORK:
		return network_key(p, key, val);
	default:
		return node_key(p, key, val);
	}
}

/* Whether group g is one SpokeToSpoke lets through ("" lets all). */
static bool s2s_lists(const struct topology *t, const char *g)
{
	char buf[TOPO_SERVICES_MAX], *tok, *save = NULL;

	if (!t->s2s_groups[0])
		return true;
	snprintf(buf, sizeof(buf), "%s", t->s2s_groups);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (!strcasecmp(conf_trim(tok), g))
			return true;
	return false;
}

/* Every group SpokeToSpoke names has a spoke. */
static int s2s_groups_used(struct parser *p)
{
	const struct topology *t = p->t;
	char buf[TOPO_SERVICES_MAX], *tok, *save = NULL;
	size_t i;

	snprintf(buf, sizeof(buf), "%s", t->s2s_groups);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = conf_trim(tok);
		for (i = 0; i < t->n; ++i)
			if (!t->nodes[i].hub &&
			    !strcasecmp(t->nodes[i].group, tok))
				break;
		if (i == t->n) {
			p->line = t->s2s_line;
			return perr(p, "SpokeToSpoke names the group '%s', which no spoke has", tok);
		}
	}
	return 0;
}

/* Whole-file checks: one hub, names unique, written addresses inside the
 * network and distinct, the groups SpokeToSpoke names in use. */
static int validate(struct parser *p)
{
	struct topology *t = p->t;
	size_t i, j, hub = t->n;

	p->line = 0;
	if (!p->has_network)
		return perr(p, "no [Network] section");
	if (!p->has_net)
		return perr(p, "[Network] has no Address (the overlay, as 10.50.0.0/16)");
	for (i = 0; i < t->n; ++i)
		if (t->nodes[i].hub)
			hub = i;
	if (hub == t->n)
		return perr(p, "no [Hub] section");
	if (hub) { /* the hub first */
		struct topo_node h = t->nodes[hub];

		memmove(&t->nodes[1], &t->nodes[0], hub * sizeof(h));
		t->nodes[0] = h;
	}
	for (i = 0; i < t->n; ++i) {
		struct topo_node *n = &t->nodes[i];

		for (j = 0; j < i; ++j) {
			struct topo_node *m = &t->nodes[j];

			p->line = n->line > m->line ? n->line : m->line;
			if (!strcasecmp(n->name, m->name))
				return perr(p, "the name '%s' is also used at line %d",
					    n->name, n->line > m->line ? m->line : n->line);
			if (n->has_addr && m->has_addr &&
			    !memcmp(n->addr4, m->addr4, 4)) {
				p->line = n->addr_line > m->addr_line
						  ? n->addr_line
						  : m->addr_line;
				return perr(p, "%s and %s both have the address %u.%u.%u.%u",
					    m->name, n->name, n->addr4[0], n->addr4[1],
					    n->addr4[2], n->addr4[3]);
			}
		}
		if (n->has_addr && !host_of(t, v4(n->addr4))) {
			p->line = n->addr_line;
			return perr(p, "%s's address %u.%u.%u.%u is not a host address of the network %u.%u.%u.%u/%u",
				    n->name, n->addr4[0], n->addr4[1], n->addr4[2],
				    n->addr4[3], t->net4.ip[0], t->net4.ip[1],
				    t->net4.ip[2], t->net4.ip[3], t->net4.cidr);
		}
		if (n->hub && n->has_addr && n->cidr4 &&
		    n->cidr4 < t->net4.cidr) {
			p->line = n->addr_line;
			return perr(p, "the hub's /%u is wider than the network's /%u",
				    n->cidr4, t->net4.cidr);
		}
	}
	return s2s_groups_used(p);
}

int topology_parse(struct topology *t, const char *file, const char *text,
		   size_t len, char *err)
{
	struct parser p = { .t = t, .file = file, .err = err };
	int ret;

	memset(t, 0, sizeof(*t));
	snprintf(t->file, sizeof(t->file), "%s", file);
	snprintf(t->iface, sizeof(t->iface), "wg0");
	t->keepalive = DEFAULT_KEEPALIVE;
	err[0] = '\0';
	ret = conf_each_line(file, text, len, &p.line, err, parse_line, &p);
	if (ret)
		goto out;
	ret = end_node(&p);
	if (!ret)
		ret = validate(&p);
out:
	if (ret) {
		if (ret == -ENOMEM && !err[0])
			snprintf(err, CONF_ERR_MAX, "%s: out of memory", file);
		topology_free(t);
	}
	return ret;
}

/* a belongs to a node whose address is settled already. */
static bool addr_taken(const struct topology *t, uint32_t a, const bool *done)
{
	size_t i;

	for (i = 0; i < t->n; ++i)
		if (done[i] && v4(t->nodes[i].addr4) == a)
			return true;
	return false;
}

int topology_assign(struct topology *t, char *err)
{
	uint32_t m = mask4(t->net4.cidr), net = v4(t->net4.ip) & m, a;
	bool *done = calloc(t->n ? t->n : 1, sizeof(*done));
	struct topo_node *hub = &t->nodes[0];
	size_t i;

	if (!done)
		return -ENOMEM;
	/* The written addresses first, then the hub's default, then those a
	 * previous run gave, then the lowest free ones in file order. */
	for (i = 0; i < t->n; ++i)
		done[i] = t->nodes[i].has_addr;
	if (!hub->has_addr) {
		a = net + 1;
		while (addr_taken(t, a, done))
			a++;
		put_v4(hub->addr4, a);
		done[0] = true;
	}
	if (!hub->cidr4)
		hub->cidr4 = t->net4.cidr;
	for (i = 1; i < t->n; ++i) {
		struct topo_node *n = &t->nodes[i];

		if (done[i] || !n->has_prev_addr)
			continue;
		a = v4(n->prev_addr4);
		if (host_of(t, a) && !addr_taken(t, a, done)) {
			memcpy(n->addr4, n->prev_addr4, 4);
			done[i] = true;
		}
	}
	for (i = 1; i < t->n; ++i) {
		struct topo_node *n = &t->nodes[i];

		n->cidr4 = 32;
		if (done[i])
			continue;
		for (a = net + 1; host_of(t, a); ++a)
			if (!addr_taken(t, a, done))
				break;
		if (!host_of(t, a)) {
			free(done);
			snprintf(err, CONF_ERR_MAX, "%s:%d: no free address left in %u.%u.%u.%u/%u for %s",
				 t->file, n->line, t->net4.ip[0], t->net4.ip[1],
				 t->net4.ip[2], t->net4.ip[3], t->net4.cidr,
				 n->name);
			return -EINVAL;
		}
		put_v4(n->addr4, a);
		done[i] = true;
	}
	free(done);
	return 0;
}

/* ---------------------------------------------------------------- output */

/* The node's IPv6 address: the network's prefix with the IPv4 address's
 * offset in the IPv4 network as its last 32 bits. */
static void addr6_of(const struct topology *t, const struct topo_node *n,
		     uint8_t out[16])
{
	uint32_t off = v4(n->addr4) & ~mask4(t->net4.cidr);

	memcpy(out, t->net6.ip, 16);
	out[12] |= (uint8_t)(off >> 24);
	out[13] |= (uint8_t)(off >> 16);
	out[14] |= (uint8_t)(off >> 8);
	out[15] |= (uint8_t)off;
}

static void put_addrs(struct strbuf *b, const struct topology *t,
		      const struct topo_node *n, bool own)
{
	char s6[INET6_ADDRSTRLEN];
	uint8_t a6[16];

	strbuf_printf(b, "%u.%u.%u.%u/%u", n->addr4[0], n->addr4[1], n->addr4[2],
		  n->addr4[3], own ? n->cidr4 : 32);
	if (!t->has_net6)
		return;
	addr6_of(t, n, a6);
	inet_ntop(AF_INET6, a6, s6, sizeof(s6));
	strbuf_printf(b, ", %s/%u", s6, own && n->hub ? t->net6.cidr : 128);
}

static void put_network(struct strbuf *b, const struct topology *t)
{
	char s6[INET6_ADDRSTRLEN];

	strbuf_printf(b, "%u.%u.%u.%u/%u", t->net4.ip[0], t->net4.ip[1],
		  t->net4.ip[2], t->net4.ip[3], t->net4.cidr);
	if (!t->has_net6)
		return;
	inet_ntop(AF_INET6, t->net6.ip, s6, sizeof(s6));
	strbuf_printf(b, ", %s/%u", s6, t->net6.cidr);
}

/* The hub routes per SpokeToSpoke and, unless told otherwise, never opens
 * connections towards the spokes; any node may limit what reaches it
 * through the overlay to its Services. */
static void put_policy(struct strbuf *b, const struct topology *t,
		       const struct topo_node *n)
{
	static const char *const s2s[] = { "all", "group", "none" };
	size_t j;

	if (!n->hub && !n->services[0])
		return;
	strbuf_printf(b, "\n[Policy]\n");
	if (n->hub) {
		strbuf_printf(b, "SpokeToSpoke = %s\n", s2s[t->s2s]);
		if (t->s2s == TOPO_S2S_GROUP) {
			bool any = false;

			/* Spokes of groups SpokeToSpoke does not list get
			 * none: the hub's policy lets them reach no spoke. */
			for (j = 1; j < t->n; ++j) {
				if (!s2s_lists(t, t->nodes[j].group))
					continue;
				strbuf_printf(b, "%s%s:%s",
					      any ? ", " : "Group = ",
					      t->nodes[j].name, t->nodes[j].group);
				any = true;
			}
			if (any)
				strbuf_printf(b, "\n");
		}
		strbuf_printf(b, "HubOriginates = %s\n",
			  n->hub_originates ? "yes" : "no");
	}
	if (n->services[0])
		strbuf_printf(b, "Services = %s\n", n->services);
}

char *topology_render(const struct topology *t, size_t i)
{
	const struct topo_node *n = &t->nodes[i], *hub = &t->nodes[0];
	char key[KEY_B64_LEN + 1];
	const char *base;
	struct strbuf b = { 0 };
	size_t j;

	base = strrchr(t->file, '/');
	strbuf_printf(&b, "# %s in %s, written by `spokewire topology %s`:\n"
		      "# edit that file and run it again rather than this one.\n",
		  n->name, t->name[0] ? t->name : "the network",
		  base ? base + 1 : t->file);
	key_to_base64(key, n->private_key);
	strbuf_printf(&b, "[Interface]\nPrivateKey = %s\nAddress = ", key);
	memzero(key, sizeof(key));
	put_addrs(&b, t, n, true);
	strbuf_printf(&b, "\n");
	if (t->listen_port)
		strbuf_printf(&b, "ListenPort = %u\n", t->listen_port);
	if (n->mode == CONF_MODE_USERSPACE)
		strbuf_printf(&b, "Mode = userspace\n");
	for (j = 0; n->hub && j < n->n_exposes; ++j)
		strbuf_printf(&b, "\n[Expose]\nListen = %u\nTarget = %s\n",
			  n->exposes[j].port, n->exposes[j].target);
	put_policy(&b, t, n);
	if (!n->hub) {
		key_to_base64(key, hub->public_key);
		strbuf_printf(&b, "\n# friendly_name = %s\n[Peer]\nPublicKey = %s\n"
			      "Endpoint = %s\nAllowedIPs = ",
			  hub->name, key, hub->endpoint);
		put_network(&b, t);
		strbuf_printf(&b, "\n");
		if (t->keepalive)
			strbuf_printf(&b, "PersistentKeepalive = %u\n",
				  t->keepalive);
		return strbuf_take(&b);
	}
	for (j = 1; j < t->n; ++j) {
		key_to_base64(key, t->nodes[j].public_key);
		strbuf_printf(&b, "\n# friendly_name = %s\n[Peer]\nPublicKey = %s\nAllowedIPs = ",
			  t->nodes[j].name, key);
		put_addrs(&b, t, &t->nodes[j], false);
		strbuf_printf(&b, "\n");
	}
	return strbuf_take(&b);
}

char *topology_summary(const struct topology *t)
{
	struct strbuf b = { 0 };
	char key[KEY_B64_LEN + 1], addr[32];
	int wname = 4, wgroup = 5, len;
	size_t i;

	for (i = 0; i < t->n; ++i) {
		len = (int)strlen(t->nodes[i].name);
		wname = len > wname ? len : wname;
		len = (int)strlen(t->nodes[i].group);
		wgroup = len > wgroup ? len : wgroup;
	}
	strbuf_printf(&b, "# %s: ", t->name[0] ? t->name : "network");
	put_network(&b, t);
	strbuf_printf(&b, ", hub '%s' at %s, interface %s, spoke to spoke: %s\n",
		  t->nodes[0].name, t->nodes[0].endpoint, t->iface,
		  t->s2s == TOPO_S2S_ALL	? "all"
		  : t->s2s == TOPO_S2S_GROUP ? "group"
					     : "none");
	strbuf_printf(&b, "%-*s  %-5s  %-15s  %-9s  %-*s  %s\n", wname, "NAME",
		  "ROLE", "ADDRESS", "MODE", wgroup, "GROUP", "PUBLIC KEY");
	for (i = 0; i < t->n; ++i) {
		const struct topo_node *n = &t->nodes[i];

		snprintf(addr, sizeof(addr), "%u.%u.%u.%u", n->addr4[0],
			 n->addr4[1], n->addr4[2], n->addr4[3]);
		key_to_base64(key, n->public_key);
		strbuf_printf(&b, "%-*s  %-5s  %-15s  %-9s  %-*s  %s\n", wname,
			  n->name, n->hub ? "hub" : "spoke", addr,
			  n->mode == CONF_MODE_USERSPACE ? "userspace" : "tun",
			  wgroup, n->hub ? "-" : n->group, key);
	}
	return strbuf_take(&b);
}

int topology_find(const struct topology *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; ++i)
		if (!strcasecmp(t->nodes[i].name, name))
			return (int)i;
	return -1;
}

void topology_free(struct topology *t)
{
	size_t i;

	for (i = 0; i < t->n; ++i)
		free(t->nodes[i].exposes);
	if (t->nodes)
		memzero(t->nodes, t->n * sizeof(*t->nodes));
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}

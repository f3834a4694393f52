/* The config file parser: wg-quick's [Interface]/[Peer] plus [Forward],
 * [Expose], [Proxy] and [Egress]. Every error names file:line. */
#include "conf/conf.h"
#include "conf/conf-value.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum section {
	SEC_NONE,
	SEC_INTERFACE,
	SEC_PEER,
	SEC_FORWARD,
	SEC_EXPOSE,
	SEC_PROXY,
	SEC_EGRESS,
	SEC_POLICY,
};

enum {
	CONF_MAX_BYTES = 16 << 20,
	LIST_MAX = 1 << 20, /* entries in any one list */
};

struct parser {
	struct conf *c;
	const char *file;
	int line;
	enum section sec;
	char pending_name[CONF_NAME_MAX]; /* friendly_name for the next [Peer] */
	char *err;
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
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

static void __attribute__((format(printf, 2, 3)))
pwarn(struct parser *p, const char *fmt, ...)
{
	char msg[CONF_ERR_MAX];
	int n;
	va_list ap;

	if (!p->warn)
		return;
	n = snprintf(msg, sizeof(msg), "%s:%d: ", p->file, p->line);
	if (n < 0 || n >= (int)sizeof(msg))
		return;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	p->warn(p->warn_ctx, msg);
}

/* Grows *arr (n elements of size elem) by one zeroed element. */
static void *push(void **arr, size_t *n, size_t elem)
{
	void *a;

	if (*n >= LIST_MAX)
		return NULL;
	a = realloc(*arr, (*n + 1) * elem);
	if (!a)
		return NULL;
	*arr = a;
	memset((char *)a + *n * elem, 0, elem);
	return (char *)a + (*n)++ * elem;
}

/* Splits a comma-separated value; calls fn for each non-empty item. */
static int for_each_item(struct parser *p, char *val,
			 int (*fn)(struct parser *p, char *item, void *arg),
			 void *arg)
{
	char *save = NULL, *tok;
	int ret;

	for (tok = strtok_r(val, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = conf_trim(tok);
		if (!*tok)
			continue;
		ret = fn(p, tok, arg);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_key(struct parser *p, const char *key, const char *val,
		     uint8_t out[KEY_LEN])
{
	if (!key_from_base64(out, val))
		return perr(p, "%s is not a valid base64 key", key);
	return 0;
}

/* ---------------------------------------------------------------- lists */

static int add_prefix_item(struct parser *p, char *item, void *arg)
{
	void **lst = arg; /* { &arr, &n } */
	struct conf_prefix pf = { 0 }, *slot;

	if (conf_parse_prefix(item, &pf))
		return perr(p, "invalid address or prefix '%s'", item);
	slot = push(lst[0], lst[1], sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	*slot = pf;
	return 0;
}

static int add_prefixes(struct parser *p, char *val,
			struct conf_prefix **arr, size_t *n)
{
	void *lst[2] = { arr, n };

	return for_each_item(p, val, add_prefix_item, lst);
}

static int add_string(struct conf_strings *s, const char *val)
{
	char **slot = push((void **)&s->v, &s->n, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	*slot = strdup(val);
	return *slot ? 0 : -ENOMEM;
}

static int add_dns_item(struct parser *p, char *item, void *arg)
{
	return add_string(arg, item);
}

/* ---------------------------------------------------------------- sections */

static int interface_key(struct parser *p, const char *key, char *val)
{
	struct conf *c = p->c;
	uint64_t v;

	if (!strcasecmp(key, "PrivateKey")) {
		c->has_private_key = true;
		return parse_key(p, key, val, c->private_key);
	}
	if (!strcasecmp(key, "ListenPort")) {
		if (conf_parse_u32(val, 65535, &v))
			return perr(p, "invalid ListenPort '%s'", val);
		c->has_listen_port = true;
		c->listen_port = (uint16_t)v;
		return 0;
	}
	if (!strcasecmp(key, "FwMark")) {
		if (!strcasecmp(val, "off")) {
			c->fwmark = 0;
			return 0;
		}
		if (conf_parse_mark(val, &c->fwmark))
			return perr(p, "invalid FwMark '%s'", val);
		return 0;
	}
	if (!strcasecmp(key, "MTU")) {
		if (conf_parse_u32(val, 65535, &v) || v < 576)
			return perr(p, "invalid MTU '%s' (576..65535)", val);
		c->mtu = (unsigned)v;
		return 0;
	}
	if (!strcasecmp(key, "Address"))
		return add_prefixes(p, val, &c->addrs, &c->n_addrs);
	if (!strcasecmp(key, "DNS")) {
		pwarn(p, "DNS is not applied by spokewire; ignored");
		return for_each_item(p, val, add_dns_item, &c->dns);
	}
	if (!strcasecmp(key, "Mode")) {
		if (!strcasecmp(val, "tun"))
			c->mode = CONF_MODE_TUN;
		else if (!strcasecmp(val, "userspace"))
			c->mode = CONF_MODE_USERSPACE;
		else
			return perr(p, "invalid Mode '%s' (tun or userspace)",
				    val);
		return 0;
	}
	if (!strcasecmp(key, "Table")) {
		if (strlen(val) >= sizeof(c->table))
			return perr(p, "invalid Table '%s'", val);
		strcpy(c->table, val);
		return 0;
	}
	if (!strcasecmp(key, "PreUp"))
		return add_string(&c->pre_up, val);
	if (!strcasecmp(key, "PostUp"))
		return add_string(&c->post_up, val);
	if (!strcasecmp(key, "PreDown"))
		return add_string(&c->pre_down, val);
	if (!strcasecmp(key, "PostDown"))
		return add_string(&c->post_down, val);
	if (!strcasecmp(key, "Status")) {
		if (strlen(val) >= sizeof(c->status) || !val[0])
			return perr(p, "invalid Status '%s' (ADDR:PORT, [ADDR]:PORT or PORT)", val);
		strcpy(c->status, val);
		return 0;
	}
	if (!strcasecmp(key, "StatusToken")) {
		if (strlen(val) >= sizeof(c->status_token) || strlen(val) < 16)
			return perr(p, "StatusToken must be 16 to %zu characters",
				    sizeof(c->status_token) - 1);
		strcpy(c->status_token, val);
		return 0;
	}
	if (!strcasecmp(key, "HealthHandshakeAge")) {
		if (conf_parse_u32(val, 86400, &v) || v < 1)
			return perr(p, "invalid HealthHandshakeAge '%s' (seconds, 1 to 86400)", val);
		c->health_age = (unsigned)v;
		return 0;
	}
	if (!strcasecmp(key, "HealthPeers")) {
		if (strlen(val) >= sizeof(c->health_peers_raw))
			return perr(p, "HealthPeers is too long");
		strcpy(c->health_peers_raw, val);
		c->health_peers_line = p->line;
		return 0;
	}
	if (!strcasecmp(key, "SaveConfig")) {
		if (!strcasecmp(val, "true"))
			c->save_config = true;
		else if (strcasecmp(val, "false"))
			return perr(p, "invalid SaveConfig '%s'", val);
		if (c->save_config)
			pwarn(p, "SaveConfig is not supported; ignored");
		return 0;
	}
	return perr(p, "unknown key '%s' in [Interface]", key);
}

static int peer_key(struct parser *p, const char *key, char *val)
{
	struct conf_peer *peer = &p->c->peers[p->c->n_peers - 1];
	char why[CONF_WHY_MAX];
	uint64_t v;

	if (!strcasecmp(key, "PublicKey"))
		return parse_key(p, key, val, peer->public_key);
	if (!strcasecmp(key, "PresharedKey")) {
		peer->has_psk = true;
		return parse_key(p, key, val, peer->psk);
	}
	if (!strcasecmp(key, "Endpoint")) {
		if (conf_parse_hostport(val, false, &peer->endpoint, p->line,
					why))
			return perr(p, "invalid Endpoint '%s': %s", val, why);
		peer->has_endpoint = true;
		return 0;
	}
	if (!strcasecmp(key, "AllowedIPs"))
		return add_prefixes(p, val, &peer->allowed, &peer->n_allowed);
	if (!strcasecmp(key, "PersistentKeepalive")) {
		if (!strcasecmp(val, "off")) {
			peer->keepalive = 0;
			return 0;
		}
		if (conf_parse_u32(val, 65535, &v))
			return perr(p, "invalid PersistentKeepalive '%s'", val);
		peer->keepalive = (uint16_t)v;
		return 0;
	}
	return perr(p, "unknown key '%s' in [Peer]", key);
}

static int forward_key(struct parser *p, const char *key, char *val)
{
	struct conf_forward *f = &p->c->forwards[p->c->n_forwards - 1];
	char why[CONF_WHY_MAX];

	if (!strcasecmp(key, "Listen")) {
		if (conf_parse_hostport(val, true, &f->listen, p->line, why))
			return perr(p, "invalid Listen '%s': %s", val, why);
		if (f->listen.host[0] && !f->listen.resolved)
			return perr(p, "invalid Listen '%s': a host address, not a name",
				    val);
		return 0;
	}
	if (!strcasecmp(key, "Target")) {
		if (conf_parse_hostport(val, false, &f->target, p->line, why))
			return perr(p, "invalid Target '%s': %s", val, why);
		if (!f->target.resolved)
			return perr(p, "invalid Target '%s': an overlay address, not a name",
				    val);
		return 0;
	}
	if (!strcasecmp(key, "Protocol")) {
		if (!strcasecmp(val, "tcp"))
			f->proto = CONF_PROTO_TCP;
		else if (!strcasecmp(val, "udp"))
			f->proto = CONF_PROTO_UDP;
		else
			return perr(p, "invalid Protocol '%s' (tcp or udp)",
				    val);
		return 0;
	}
	return perr(p, "unknown key '%s' in [Forward]", key);
}

static int expose_key(struct parser *p, const char *key, char *val)
{
	struct conf_expose *e = &p->c->exposes[p->c->n_exposes - 1];
	char why[CONF_WHY_MAX];

	if (!strcasecmp(key, "Listen")) {
		if (conf_parse_hostport(val, true, &e->listen, p->line, why))
			return perr(p, "invalid Listen '%s': %s", val, why);
		if (e->listen.host[0] && !e->listen.resolved)
			return perr(p, "invalid Listen '%s': an overlay address, not a name",
				    val);
		return 0;
	}
	if (!strcasecmp(key, "Target")) {
		if (conf_parse_hostport(val, false, &e->target, p->line, why))
			return perr(p, "invalid Target '%s': %s", val, why);
		return 0;
	}
	return perr(p, "unknown key '%s' in [Expose]", key);
}

static int proxy_key(struct parser *p, const char *key, char *val)
{
	struct conf *c = p->c;
	struct conf_hostport *hp;
	char why[CONF_WHY_MAX];

	if (!strcasecmp(key, "Socks5")) {
		hp = &c->socks5;
		c->has_socks5 = true;
	} else if (!strcasecmp(key, "Http")) {
		hp = &c->http;
		c->has_http = true;
	} else {
		return perr(p, "unknown key '%s' in [Proxy]", key);
	}
	if (conf_parse_hostport(val, true, hp, p->line, why))
		return perr(p, "invalid %s '%s': %s", key, val, why);
	if (hp->host[0] && !hp->resolved)
		return perr(p, "invalid %s '%s': a host address, not a name",
			    key, val);
	return 0;
}

static int egress_key(struct parser *p, const char *key, char *val)
{
	struct conf *c = p->c;

	if (!strcasecmp(key, "Allow"))
		return add_prefixes(p, val, &c->allow, &c->n_allow);
	if (!strcasecmp(key, "Deny"))
		return add_prefixes(p, val, &c->deny, &c->n_deny);
	if (!strcasecmp(key, "DenyWith")) {
		if (!strcasecmp(val, "rst"))
			c->egress_deny_rst = true;
		else if (strcasecmp(val, "icmp"))
			return perr(p, "DenyWith must be icmp (admin-prohibited, as a router) or rst (a refused connection), not '%s'",
				    val);
		return 0;
	}
	return perr(p, "unknown key '%s' in [Egress] (Allow, Deny, DenyWith)", key);
}

static int add_service_item(struct parser *p, char *item, void *arg)
{
	struct conf_policy *pol = arg;
	struct conf_service *s;
	char *slash = strchr(item, '/');
	uint64_t port;

	if (slash)
		*slash++ = '\0';
	if (conf_parse_u32(conf_trim(item), 65535, &port) || !port ||
	    (slash && strcasecmp(conf_trim(slash), "tcp") &&
	     strcasecmp(conf_trim(slash), "udp")))
		return perr(p, "invalid Services entry '%s%s%s': PORT/tcp or PORT/udp",
			    item, slash ? "/" : "", slash ? slash : "");
	s = push((void **)&pol->services, &pol->n_services, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->port = (uint16_t)port;
	s->proto = slash && !strcasecmp(conf_trim(slash), "udp")
			   ? CONF_PROTO_UDP
			   : CONF_PROTO_TCP;
	return 0;
}

static int add_group_item(struct parser *p, char *item, void *arg)
{
	struct conf_policy *pol = arg;
	char *colon = strrchr(item, ':'), *peer, *group;
	size_t i;

	if (!colon)
		return perr(p, "invalid Group entry '%s': PEER:GROUP, PEER a friendly_name or public key", item);
	*colon = '\0';
	peer = conf_trim(item);
	group = conf_trim(colon + 1);
	if (!*peer || !*group || strlen(peer) >= sizeof(pol->groups[0].peer) ||
	    strlen(group) >= sizeof(pol->groups[0].group))
		return perr(p, "invalid Group entry '%s:%s'", peer, group);
	for (i = 0; i < pol->n_groups; ++i)
		if (!strcasecmp(pol->groups[i].peer, peer))
			return perr(p, "Group names '%s' twice", peer);
	if (!push((void **)&pol->groups, &pol->n_groups,
		  sizeof(pol->groups[0])))
		return -ENOMEM;
	i = pol->n_groups - 1;
	snprintf(pol->groups[i].peer, sizeof(pol->groups[i].peer), "%s", peer);
	snprintf(pol->groups[i].group, sizeof(pol->groups[i].group), "%s",
		 group);
	pol->groups[i].line = p->line;
	return 0;
}

static int policy_key(struct parser *p, const char *key, char *val)
{
	struct conf_policy *pol = &p->c->policy;

	if (!strcasecmp(key, "SpokeToSpoke")) {
		pol->routes = true;
		if (!strcasecmp(val, "all"))
			pol->s2s = CONF_S2S_ALL;
		else if (!strcasecmp(val, "group"))
			pol->s2s = CONF_S2S_GROUP;
		else if (!strcasecmp(val, "none"))
			pol->s2s = CONF_S2S_NONE;
		else
			return perr(p, "SpokeToSpoke must be all, group or none, not '%s'", val);
		return 0;
	}
	if (!strcasecmp(key, "HubOriginates")) {
		if (!strcasecmp(val, "yes") || !strcasecmp(val, "true"))
			pol->hub_originates = true;
		else if (!strcasecmp(val, "no") || !strcasecmp(val, "false"))
			pol->hub_originates = false;
		else
			return perr(p, "HubOriginates must be yes or no, not '%s'", val);
		return 0;
	}
	if (!strcasecmp(key, "Services"))
		return for_each_item(p, val, add_service_item, pol);
	if (!strcasecmp(key, "Group"))
		return for_each_item(p, val, add_group_item, pol);
	return perr(p, "unknown key '%s' in [Policy] (SpokeToSpoke, Group, HubOriginates, Services)", key);
}

/* Checks a finished section (called at the next header and at the end). */
static int end_section(struct parser *p)
{
	struct conf *c = p->c;

	switch (p->sec) {
	case SEC_PEER:
		if (crypto_is_zero(c->peers[c->n_peers - 1].public_key, KEY_LEN))
			return perr(p, "[Peer] from line %d has no PublicKey",
				    c->peers[c->n_peers - 1].line);
		break;
	case SEC_FORWARD: {
		struct conf_forward *f = &c->forwards[c->n_forwards - 1];

		if (!f->listen.port || !f->target.port)
			return perr(p, "[Forward] from line %d needs Listen and Target",
				    f->line);
		break;
	}
	case SEC_EXPOSE: {
		struct conf_expose *e = &c->exposes[c->n_exposes - 1];

		if (!e->listen.port || !e->target.port)
			return perr(p, "[Expose] from line %d needs Listen and Target",
				    e->line);
		break;
	}
	default:
		break;
	}
	return 0;
}

static int section_header(struct parser *p, const char *name)
{
	struct conf *c = p->c;
	int ret = end_section(p);

	if (ret)
		return ret;
	if (!strcasecmp(name, "Interface")) {
		p->sec = SEC_INTERFACE;
	} else if (!strcasecmp(name, "Peer")) {
		struct conf_peer *peer = push((void **)&c->peers, &c->n_peers,
					      sizeof(*peer));

		if (!peer)
			return -ENOMEM;
		peer->line = p->line;
		snprintf(peer->name, sizeof(peer->name), "%s", p->pending_name);
		p->sec = SEC_PEER;
	} else if (!strcasecmp(name, "Forward")) {
		struct conf_forward *f = push((void **)&c->forwards,
					      &c->n_forwards, sizeof(*f));

		if (!f)
			return -ENOMEM;
		f->line = p->line;
		p->sec = SEC_FORWARD;
	} else if (!strcasecmp(name, "Expose")) {
		struct conf_expose *e = push((void **)&c->exposes,
					     &c->n_exposes, sizeof(*e));

		if (!e)
			return -ENOMEM;
		e->line = p->line;
		p->sec = SEC_EXPOSE;
	} else if (!strcasecmp(name, "Proxy")) {
		p->sec = SEC_PROXY;
	} else if (!strcasecmp(name, "Egress")) {
		c->has_egress = true;
		p->sec = SEC_EGRESS;
	} else if (!strcasecmp(name, "Policy")) {
		if (c->policy.present)
			return perr(p, "a second [Policy] section (the first is at line %d)",
				    c->policy.line);
		c->policy.present = true;
		c->policy.hub_originates = true;
		c->policy.line = p->line;
		p->sec = SEC_POLICY;
	} else {
		return perr(p, "unknown section [%s]", name);
	}
	return 0;
}

/* "# friendly_name = NAME" (the convention Prometheus exporters read)
 * names the [Peer] that follows. */
static void note_friendly_name(struct parser *p, const char *comment)
{
	char buf[128], *eq, *key;

	snprintf(buf, sizeof(buf), "%s", comment + 1);
	eq = strchr(buf, '=');
	if (!eq)
		return;
	*eq = '\0';
	key = conf_trim(buf);
	if (strcasecmp(key, "friendly_name"))
		return;
	snprintf(p->pending_name, sizeof(p->pending_name), "%s",
		 conf_trim(eq + 1));
}

static int parse_line(void *ctx, char *line)
{
	struct parser *p = ctx;
	char why[CONF_WHY_MAX], *key = NULL, *val = NULL;
	int kind, ret;

	line = conf_trim(line);
	if (line[0] == '#')
		note_friendly_name(p, line);
	kind = conf_split_line(line, &key, &val, why);
	if (kind < 0)
		return perr(p, "%s", why);
	if (kind == CONF_LINE_EMPTY)
		return 0;
	if (kind == CONF_LINE_SECTION) {
		ret = section_header(p, key);
		p->pending_name[0] = '\0';
		return ret;
	}
	switch (p->sec) {
	case SEC_NONE:
		return perr(p, "'%s' outside of a section", key);
	case SEC_INTERFACE:
		return interface_key(p, key, val);
	case SEC_PEER:
		return peer_key(p, key, val);
	case SEC_FORWARD:
		return forward_key(p, key, val);
	case SEC_EXPOSE:
		return expose_key(p, key, val);
	case SEC_PROXY:
		return proxy_key(p, key, val);
	case SEC_EGRESS:
		return egress_key(p, key, val);
	case SEC_POLICY:
		return policy_key(p, key, val);
	}
	return -EINVAL;
}

static bool has_key_equal(const uint8_t *a, const uint8_t *b)
{
	return crypto_equal(a, b, KEY_LEN);
}

/* In userspace mode a [Forward] connects from our first overlay address of
 * its Target's family: without one, every connection would fail. */
static int check_forward_family(struct parser *p,
				const struct conf_forward *f)
{
	const struct conf *c = p->c;
	int family = f->target.addr.sa.sa_family;
	size_t i;

	for (i = 0; i < c->n_addrs; ++i)
		if (c->addrs[i].family == family)
			return 0;
	p->line = f->line;
	return perr(p, "[Forward] Target %s%s%s:%u is IPv%c but Address has no IPv%c address",
		    family == AF_INET6 ? "[" : "", f->target.host,
		    family == AF_INET6 ? "]" : "", f->target.port,
		    family == AF_INET6 ? '6' : '4',
		    family == AF_INET6 ? '6' : '4');
}

/* The peer a name or public key means, or -1. */
static long find_peer(const struct conf *c, const char *who)
{
	uint8_t key[KEY_LEN];
	bool is_key = key_from_base64(key, who);
	size_t j;

	for (j = 0; j < c->n_peers; ++j)
		if ((is_key && crypto_equal(key, c->peers[j].public_key, KEY_LEN)) ||
		    (c->peers[j].name[0] && !strcasecmp(c->peers[j].name, who)))
			return (long)j;
	return -1;
}

/* [Policy] Group entries name peers by friendly_name or public key. */
static int resolve_groups(struct parser *p)
{
	struct conf *c = p->c;
	struct conf_policy *pol = &c->policy;
	size_t i;
	long j;

	for (i = 0; i < pol->n_groups; ++i) {
		j = find_peer(c, pol->groups[i].peer);
		if (j < 0) {
			p->line = pol->groups[i].line;
			return perr(p, "Group names '%s', which is no peer's friendly_name or public key",
				    pol->groups[i].peer);
		}
		snprintf(c->peers[j].group, sizeof(c->peers[j].group), "%s",
			 pol->groups[i].group);
	}
	/* In userspace mode Services adds nothing: the stack answers only
	 * the [Expose] ports. */
	return 0;
}

/* HealthPeers = NAME-or-KEY, ...: the peers whose silence /health
 * reports, beside those with a keepalive. */
static int resolve_health_peers(struct parser *p)
{
	struct conf *c = p->c;
	char buf[sizeof(c->health_peers_raw)], *tok, *save = NULL;
	long j;

	snprintf(buf, sizeof(buf), "%s", c->health_peers_raw);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t *n;

		tok = conf_trim(tok);
		if (!tok[0])
			continue;
		j = find_peer(c, tok);
		if (j < 0) {
			p->line = c->health_peers_line;
			return perr(p, "HealthPeers names '%s', which is no peer's friendly_name or public key",
				    tok);
		}
		n = realloc(c->health_peers,
			    (c->n_health_peers + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->health_peers = n;
		n[c->n_health_peers++] = (size_t)j;
	}
	return 0;
}

/* Whole-file checks after the last line. */
static int validate(struct parser *p)
{
	struct conf *c = p->c;
	size_t i, j;

	p->line = 0;
	if (!c->has_private_key)
		return perr(p, "[Interface] has no PrivateKey");
	for (i = 0; i < c->n_peers; ++i)
		for (j = 0; j < i; ++j)
			if (has_key_equal(c->peers[i].public_key,
					  c->peers[j].public_key)) {
				p->line = c->peers[i].line;
				return perr(p, "peer repeats the PublicKey of line %d",
					    c->peers[j].line);
			}
	if (c->mode == CONF_MODE_TUN) {
		if (c->n_forwards) {
			p->line = c->forwards[0].line;
			return perr(p, "[Forward] needs Mode = userspace");
		}
		if (c->has_socks5 || c->has_http) {
			p->line = c->has_socks5 ? c->socks5.line : c->http.line;
			return perr(p, "[Proxy] needs Mode = userspace");
		}
	} else {
		if (c->fwmark)
			return perr(p, "FwMark needs Mode = tun (it takes CAP_NET_ADMIN)");
		if (c->pre_up.n || c->post_up.n || c->pre_down.n ||
		    c->post_down.n || c->table[0])
			pwarn(p, "Table and Pre/PostUp/Down hooks apply to Mode = tun only; ignored");
		for (i = 0; c->n_addrs && i < c->n_forwards; ++i) {
			int ret = check_forward_family(p, &c->forwards[i]);

			if (ret)
				return ret;
		}
	}
	if (c->has_egress && !c->n_allow) {
		p->line = 0;
		return perr(p, "[Egress] needs at least one Allow");
	}
	if (resolve_groups(p))
		return -EINVAL;
	return resolve_health_peers(p);
}

int conf_parse(struct conf *c, const char *file, const char *text, size_t len,
	       char *err, void (*warn)(void *ctx, const char *msg),
	       void *warn_ctx)
{
	struct parser p = {
		.c = c, .file = file, .err = err, .warn = warn,
		.warn_ctx = warn_ctx,
	};
	int ret;

	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	ret = conf_each_line(file, text, len, &p.line, err, parse_line, &p);
	if (ret)
		goto out;
	ret = end_section(&p);
	if (!ret)
		ret = validate(&p);
out:
	if (ret == -ENOMEM)
		snprintf(err, CONF_ERR_MAX, "%s: out of memory", file);
	if (ret)
		conf_free(c);
	return ret;
}

int conf_ifname(const char *path, char out[IFNAMSIZ])
{
	const char *base = strrchr(path, '/');
	size_t n, i;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n <= 5 || strcmp(base + n - 5, ".conf"))
		return -EINVAL;
	n -= 5;
	if (n >= IFNAMSIZ)
		return -EINVAL;
	for (i = 0; i < n; ++i)
		if (!isalnum((unsigned char)base[i]) &&
		    !strchr("_=+.-", base[i]))
			return -EINVAL;
	memcpy(out, base, n);
	out[n] = '\0';
	return 0;
}

int conf_load(struct conf *c, const char *path, char *err,
	      void (*warn)(void *ctx, const char *msg), void *warn_ctx)
{
	char name[IFNAMSIZ], msg[CONF_ERR_MAX];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	memset(c, 0, sizeof(*c));
	if (conf_ifname(path, name)) {
		snprintf(err, CONF_ERR_MAX,
			 "%s: the file name must be INTERFACE.conf with a valid "
			 "interface name (at most %d characters)",
			 path, IFNAMSIZ - 1);
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, CONF_ERR_MAX, "%s: %s", path, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (st.st_size > CONF_MAX_BYTES) {
		close(fd);
		snprintf(err, CONF_ERR_MAX, "%s: file too large", path);
		return -EFBIG;
	}
	if ((st.st_mode & 0077) && warn) {
		snprintf(msg, sizeof(msg),
			 "%s: warning: the file is readable by others (it holds a private key)",
			 path);
		warn(warn_ctx, msg);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	ret = conf_parse(c, path, buf, len, err, warn, warn_ctx);
	memzero(buf, len);
	free(buf);
	if (!ret) {
		memcpy(c->ifname, name, sizeof(name));
		c->path = realpath(path, NULL);
	}
	return ret;
}

static void free_strings(struct conf_strings *s)
{
	size_t i;

	for (i = 0; i < s->n; ++i)
		free(s->v[i]);
	free(s->v);
}

void conf_free(struct conf *c)
{
	size_t i;

	for (i = 0; i < c->n_peers; ++i)
		free(c->peers[i].allowed);
	if (c->peers)
		memzero(c->peers, c->n_peers * sizeof(*c->peers));
	free(c->peers);
	free(c->addrs);
	free(c->forwards);
	free(c->exposes);
	free(c->allow);
	free(c->deny);
	free(c->policy.services);
	free(c->policy.groups);
	free(c->health_peers);
	free(c->path);
	free_strings(&c->dns);
	free_strings(&c->pre_up);
	free_strings(&c->post_up);
	free_strings(&c->pre_down);
	free_strings(&c->post_down);
	memzero(c, sizeof(*c));
}


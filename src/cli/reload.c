/* `spokewire reload CONF`: an edited config applied to the interface that
 * `up CONF` started, without a restart. The WireGuard settings go through
 * the UAPI socket as a diff against what the device runs, so a peer that
 * did not change keeps its session (and whatever endpoint it roamed to);
 * in TUN mode routes follow and the nftables table ([Expose], [Policy]) is
 * replaced in one transaction. An invalid config changes nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "io/strbuf.h"
#include "node/node.h"
#include "uapi/uapi.h"

/* The get reply's lines that a set request also has: parsed by the set
 * parser, they are the device's configuration. */
static bool settable(const char *line)
{
	static const char *const keys[] = {
		"private_key=", "listen_port=", "fwmark=", "public_key=",
		"preshared_key=", "endpoint=", "persistent_keepalive_interval=",
		"allowed_ip=",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); ++i)
		if (!strncmp(line, keys[i], strlen(keys[i])))
			return true;
	return false;
}

static int running_config(const char *ifname, struct uapi_config *cur)
{
	struct strbuf b = { 0 };
	char *reply = NULL, *line, *save = NULL;
	int ret;

	ret = uapi_client_call(ifname, "get=1\n\n", &reply);
	if (ret < 0) {
		free(reply);
		return ret;
	}
	for (line = strtok_r(reply, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (settable(line))
			strbuf_printf(&b, "%s\n", line);
	memzero(reply, strlen(reply) + 1);
	free(reply);
	if (b.failed) {
		strbuf_free(&b);
		return -ENOMEM;
	}
	ret = uapi_parse_set(b.s ? b.s : "", b.len, cur);
	strbuf_free(&b);
	return ret;
}

static bool same_prefix(const struct uapi_allowedip *a,
			const struct conf_prefix *p)
{
	return a->family == p->family && a->cidr == p->cidr &&
	       !memcmp(&a->ip6, p->ip, p->family == AF_INET ? 4 : 16);
}

static bool has_prefix(const struct uapi_peer *u, const struct conf_prefix *p)
{
	size_t i;

	for (i = 0; i < u->n_allowedips; ++i)
		if (same_prefix(&u->allowedips[i], p))
			return true;
	return false;
}

static bool in_conf(const struct conf_peer *cp, const struct uapi_allowedip *a)
{
	size_t i;

	for (i = 0; i < cp->n_allowed; ++i)
		if (same_prefix(a, &cp->allowed[i]))
			return true;
	return false;
}

/* A route to delete: a prefix the running peer had and the config drops. */
static int note_gone(struct conf_prefix **gone, size_t *n,
		     const struct uapi_allowedip *a)
{
	struct conf_prefix *g = realloc(*gone, (*n + 1) * sizeof(*g));

	if (!g)
		return -ENOMEM;
	*gone = g;
	g = &g[(*n)++];
	memset(g, 0, sizeof(*g));
	g->family = a->family;
	g->cidr = a->cidr;
	g->has_cidr = true;
	memcpy(g->ip, &a->ip6, a->family == AF_INET ? 4 : 16);
	return 0;
}

static void put_key(struct strbuf *b, const char *name, const uint8_t *k)
{
	char hex[KEY_HEX_LEN + 1];

	key_to_hex(hex, k);
	strbuf_printf(b, "%s=%s\n", name, hex);
	memzero(hex, sizeof(hex));
}

static void put_peer(struct strbuf *b, const struct conf_peer *cp,
		     bool update, bool endpoint)
{
	char buf[64];
	size_t i;

	put_key(b, "public_key", cp->public_key);
	if (update)
		strbuf_printf(b, "update_only=true\n");
	if (cp->has_psk)
		put_key(b, "preshared_key", cp->psk);
	else
		strbuf_printf(b, "preshared_key=%064d\n", 0);
	if (endpoint && cp->has_endpoint && cp->endpoint.resolved) {
		const struct conf_hostport *e = &cp->endpoint;
		char ip[INET6_ADDRSTRLEN];

		if (e->addr.sa.sa_family == AF_INET6)
			strbuf_printf(b, "endpoint=[%s]:%u\n",
				      inet_ntop(AF_INET6, &e->addr.in6.sin6_addr,
						ip, sizeof(ip)),
				      ntohs(e->addr.in6.sin6_port));
		else
			strbuf_printf(b, "endpoint=%s:%u\n",
				      inet_ntop(AF_INET, &e->addr.in4.sin_addr,
						ip, sizeof(ip)),
				      ntohs(e->addr.in4.sin_port));
	}
	strbuf_printf(b, "persistent_keepalive_interval=%u\n"
			 "replace_allowed_ips=true\n", cp->keepalive);
	for (i = 0; i < cp->n_allowed; ++i)
		strbuf_printf(b, "allowed_ip=%s\n",
			      conf_prefix_str(&cp->allowed[i], buf, sizeof(buf)));
}

/* The reply's "message=" line, or "". */
static const char *reply_message(char *reply)
{
	char *m = reply ? strstr(reply, "message=") : NULL, *nl;

	if (!m)
		return "";
	m += 8;
	nl = strchr(m, '\n');
	if (nl)
		*nl = '\0';
	return m;
}

/* Userspace mode: the daemon re-reads the file for its [Policy],
 * [Forward] and [Expose]; what it did goes into done (len bytes). */
static int reload_userspace(const struct conf *c, const char *path,
			    char *done, size_t len)
{
	char *abs = realpath(path, NULL), *reply = NULL;
	struct strbuf req = { 0 };
	const char *msg;
	int ret;

	if (!abs) {
		ret = -errno;
		fprintf(stderr, "%s: %s: %s\n", prog_name, path, strerror(-ret));
		return ret;
	}
	strbuf_printf(&req, "reload=1\nconfig=%s\n\n", abs);
	ret = req.failed ? -ENOMEM : uapi_client_call(c->ifname, req.s, &reply);
	msg = reply_message(reply);
	if (ret < 0)
		fprintf(stderr, "%s: %s did not take %s: %s%s; its peers are updated\n",
			prog_name, c->ifname, abs, msg[0] ? msg : strerror(-ret),
			ret == -EACCES ? " (the daemon's user must be able to read the file)" : "");
	else
		snprintf(done, len, "; %s", msg);
	free(reply);
	strbuf_free(&req);
	free(abs);
	return ret < 0 ? ret : 0;
}

int cmd_reload(int argc, char *argv[])
{
	char err[CONF_ERR_MAX], *reply = NULL, done[600] = "";
	struct uapi_config cur = { 0 };
	struct conf_prefix *gone = NULL;
	size_t i, j, n_gone = 0, added = 0, removed = 0, changed = 0;
	struct strbuf req = { 0 };
	uint8_t priv[KEY_LEN];
	struct conf c;
	int ret, rc = 1;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "Usage: %s reload CONF\n\n"
			"Applies an edited CONF to the interface `%s up CONF` started:\n"
			"peers added, removed or changed (the others keep their sessions);\n"
			"in TUN mode routes and the nftables table ([Expose], [Policy]);\n"
			"in userspace mode the daemon re-reads CONF (its user must be\n"
			"able to read the file) for its [Policy], [Forward] and [Expose]:\n"
			"new ones open, removed ones close (connections already relayed\n"
			"carry on), a changed Target takes the next connections. An\n"
			"invalid CONF, or a listener that cannot open, changes nothing.\n"
			"[Proxy], [Egress] and Address take a restart (down, then up).\n",
			prog_name, prog_name);
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 1;
	}
	ret = conf_load(&c, argv[1], err, NULL, NULL);
	if (ret < 0) {
		fprintf(stderr, "%s: %s (nothing changed)\n", prog_name, err);
		return 1;
	}
	ret = conf_resolve(&c, argv[1], err);
	if (ret < 0) {
		fprintf(stderr, "%s: %s (nothing changed)\n", prog_name, err);
		conf_free(&c);
		return 1;
	}
	ret = running_config(c.ifname, &cur);
	if (ret < 0) {
		fprintf(stderr, "%s: %s is not running (%s): `%s up %s` first\n",
			prog_name, c.ifname, strerror(-ret), prog_name, argv[1]);
		goto out;
	}
	strbuf_printf(&req, "set=1\n");
	memcpy(priv, c.private_key, KEY_LEN); /* as wg setconf clamps */
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
	if (!crypto_equal(priv, cur.private_key, KEY_LEN))
		put_key(&req, "private_key", priv);
	memzero(priv, sizeof(priv));
	if (c.has_listen_port && c.listen_port != cur.listen_port)
		strbuf_printf(&req, "listen_port=%u\n", c.listen_port);
	/* Peers the config no longer has. */
	for (i = 0; i < cur.n_peers; ++i) {
		const struct uapi_peer *u = &cur.peers[i];

		for (j = 0; j < c.n_peers; ++j)
			if (crypto_equal(u->public_key, c.peers[j].public_key,
					 KEY_LEN))
				break;
		if (j < c.n_peers) {
			size_t k;

			for (k = 0; k < u->n_allowedips; ++k)
				if (!in_conf(&c.peers[j], &u->allowedips[k]) &&
				    note_gone(&gone, &n_gone, &u->allowedips[k]))
					goto oom;
			continue;
		}
		put_key(&req, "public_key", u->public_key);
		strbuf_printf(&req, "remove=true\n");
		for (j = 0; j < u->n_allowedips; ++j)
			if (note_gone(&gone, &n_gone, &u->allowedips[j]))
				goto oom;
		removed++;
	}
	/* New peers, and peers whose settings changed. */
	for (i = 0; i < c.n_peers; ++i) {
		const struct conf_peer *cp = &c.peers[i];
		const struct uapi_peer *u = NULL;
		uint8_t zero[KEY_LEN] = { 0 };
		bool differs;

		for (j = 0; j < cur.n_peers && !u; ++j)
			if (crypto_equal(cur.peers[j].public_key,
					 cp->public_key, KEY_LEN))
				u = &cur.peers[j];
		if (!u) {
			put_peer(&req, cp, false, true);
			added++;
			continue;
		}
		differs = u->persistent_keepalive_interval != cp->keepalive ||
			  u->n_allowedips != cp->n_allowed ||
			  !crypto_equal(u->has_preshared_key ? u->preshared_key
							     : zero,
					cp->has_psk ? cp->psk : zero, KEY_LEN);
		for (j = 0; !differs && j < cp->n_allowed; ++j)
			differs = !has_prefix(u, &cp->allowed[j]);
		if (!differs)
			continue;
		/* The endpoint it roamed to stays, unless it has none. */
		put_peer(&req, cp, true, !u->has_endpoint);
		changed++;
	}
	strbuf_printf(&req, "\n");
	if (req.failed)
		goto oom;
	if (strcmp(req.s, "set=1\n\n")) {
		ret = uapi_client_call(c.ifname, req.s, &reply);
		if (ret < 0) {
			fprintf(stderr, "%s: %s refused the change (%s); nothing else was touched\n",
				prog_name, c.ifname, strerror(-ret));
			goto out;
		}
	}
	if (c.mode == CONF_MODE_TUN) {
		ret = ifup_tun_refresh(&c, gone, n_gone, err);
		if (ret) {
			fprintf(stderr, "%s: %s: %s\n", prog_name, c.ifname, err);
			goto out;
		}
	} else {
		ret = reload_userspace(&c, argv[1], done, sizeof(done));
		if (ret)
			goto out;
	}
	printf("%s: %zu peers added, %zu removed, %zu changed, %zu unchanged (sessions kept)%s\n",
	       c.ifname, added, removed, changed,
	       c.n_peers - added - changed,
	       c.mode == CONF_MODE_TUN ? "; routes and nftables table updated"
				       : done);
	rc = 0;
	goto out;
oom:
	fprintf(stderr, "%s: out of memory\n", prog_name);
out:
	if (reply) {
		memzero(reply, strlen(reply));
		free(reply);
	}
	strbuf_free(&req);
	free(gone);
	uapi_config_free(&cur);
	conf_free(&c);
	return rc;
}

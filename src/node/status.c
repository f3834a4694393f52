/* `spokewire up`'s side of status: the peers' friendly names, /health's
 * rules, the node's identity, and the status listener. In userspace mode
 * a listener on the overlay is served through the stack: the HTTP server
 * listens on loopback and an [Expose] of ours joins the overlay port to
 * it. */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device/status.h"
#include "io/loop-http.h"
#include "node/node.h"
#include "relay/relay.h"

static void node_status_names(struct daemon *d, const struct conf *c)
{
	struct peer *peer;
	size_t i;

	for_each_peer(d->wg, peer)
		wg_peer_set_name(peer, "");
	for (i = 0; i < c->n_peers; ++i) {
		peer = wg_peer_lookup(d->wg, c->peers[i].public_key);
		if (peer)
			wg_peer_set_name(peer, c->peers[i].name);
	}
}

/* /health's rules and the node's identity, again on every reload. */
int node_status_rules(struct daemon *d, const struct conf *c)
{
	uint8_t (*keys)[32] = NULL;
	size_t i;

	node_status_names(d, c);
	if (c->n_health_peers) {
		keys = calloc(c->n_health_peers, sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		for (i = 0; i < c->n_health_peers; ++i)
			memcpy(keys[i], c->peers[c->health_peers[i]].public_key,
			       32);
	}
	free(d->status.health_peers);
	d->status.health_peers = keys;
	d->status.n_health_peers = c->n_health_peers;
	d->status.health_age_s = c->health_age ? c->health_age
					       : STATUS_HEALTH_AGE_S;
	d->status.role = c->policy.present && c->policy.routes ? "hub" : "node";
	if (!d->status.name[0] &&
	    gethostname(d->status.name, sizeof(d->status.name) - 1) < 0)
		snprintf(d->status.name, sizeof(d->status.name), "%s", c->ifname);
	if (c->path) {
		char *dir = strdup(c->path);

		if (dir)
			snprintf(d->status.data_dir, sizeof(d->status.data_dir),
				 "%s", dirname(dir));
		free(dir);
	}
	return 0;
}

/* Whether the listener's address is one of ours on the overlay (a bare
 * port is: all of them). */
static bool on_overlay(const struct conf *c, const struct sockaddr_storage *ss,
		       bool bare)
{
	const void *ip = ss->ss_family == AF_INET6
				 ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
				 : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	size_t i;

	if (bare)
		return true;
	for (i = 0; i < c->n_addrs; ++i)
		if (c->addrs[i].family == ss->ss_family &&
		    !memcmp(c->addrs[i].ip, ip, ss->ss_family == AF_INET ? 4 : 16))
			return true;
	return false;
}

static bool loopback(const struct sockaddr_storage *ss, bool bare)
{
	if (bare)
		return false;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
}

int node_status_listen(struct daemon *d, const struct conf *c,
		       struct relay *relay, char *err)
{
	struct sockaddr_in lo = { .sin_family = AF_INET };
	struct sockaddr_storage ss;
	bool bare, overlay;
	uint16_t want;
	int ret, fd, port = 0;

	if (!c->status[0])
		return 0;
	/* A bad address: the listener says so. */
	if (loop_http_parse_addr(c->status, &ss, &bare))
		return status_http_open(&d->status.http, d, c->status,
					c->status_token, err, CONF_ERR_MAX);
	overlay = on_overlay(c, &ss, bare);
	if (!c->status_token[0] && !loopback(&ss, bare) && !overlay)
		fprintf(stderr, "%s: warning: Status %s listens beyond loopback and the overlay without a StatusToken: whoever reaches it sees the peers\n",
			c->ifname, c->status);
	if (!relay || !overlay)
		return status_http_open(&d->status.http, d, c->status,
					c->status_token, err, CONF_ERR_MAX);
	/* Userspace mode, on the overlay: through the stack (sin_port and
	 * sin6_port sit in the same place). */
	want = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (!want) {
		snprintf(err, CONF_ERR_MAX, "invalid Status '%s'", c->status);
		return -EINVAL;
	}
	fd = loop_http_listen("127.0.0.1:0", NULL, &port, err, CONF_ERR_MAX);
	if (fd < 0)
		return fd;
	ret = status_http_open_fd(&d->status.http, d, fd, c->status_token,
				  err, CONF_ERR_MAX);
	if (ret < 0)
		return ret;
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lo.sin_port = htons((uint16_t)port);
	return relay_expose_pinned(relay, want, (struct sockaddr *)&lo, err);
}

int node_tun_reload(struct daemon *d, const char *path, char *msg, size_t len)
{
	char err[CONF_ERR_MAX];
	struct conf c;
	int ret;

	ret = conf_load(&c, path, err, NULL, NULL);
	if (ret) {
		snprintf(msg, len, "%s (nothing changed)", err);
		return ret;
	}
	ret = strcmp(c.ifname, d->ifname) ? -EINVAL : node_status_rules(d, &c);
	conf_free(&c);
	snprintf(msg, len, ret ? "%s is not this interface's config" : "names and health rules reloaded", path);
	return ret;
}

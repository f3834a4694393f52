/* Hub-and-spoke netmaps: a hub sees every spoke and device at its own
 * address; a spoke (or device) sees the hubs, the first of which carries
 * the whole network as allowed-IPs. (One prefix can belong to one
 * WireGuard peer only, so further hubs get just their own addresses.) */
#include "controller/netmap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/request.h"

static void fill_entry(const struct controller *ctl, const struct peer *self,
		       const struct peer *p, bool primary_hub,
		       struct netmap_entry *e)
{
	e->peer = p;
	e->endpoint = *p->endpoint ? p->endpoint : NULL;
	e->keepalive = 0;
	if (self->role == ROLE_DEVICE && primary_hub && ctl->exit) {
		/* Everything through the exit. */
		snprintf(e->allowed_ips, sizeof(e->allowed_ips),
			 "0.0.0.0/0, ::/0");
		if (!e->endpoint && *ctl->endpoint)
			e->endpoint = ctl->endpoint;
	} else if (self->role != ROLE_HUB && primary_hub) {
		network_cidrs(&ctl->net, e->allowed_ips,
			      sizeof(e->allowed_ips));
		if (!e->endpoint && *ctl->endpoint)
			e->endpoint = ctl->endpoint;
	} else {
		network_host_cidrs(&ctl->net, p->addr_index, e->allowed_ips,
				   sizeof(e->allowed_ips));
	}
	/* Whoever dials a hub keeps the path open through NAT. */
	if (p->role == ROLE_HUB)
		e->keepalive = HUB_KEEPALIVE;
}

int netmap_load(struct controller *ctl, const struct peer *self,
		struct netmap *nm)
{
	bool primary = true;
	int ret, i;

	memset(nm, 0, sizeof(*nm));
	ret = registry_netmap_rows(ctl, self, &nm->version, &nm->rows, &nm->n);
	if (ret)
		return ret;
	nm->entries = calloc(nm->n ? nm->n : 1, sizeof(*nm->entries));
	if (!nm->entries) {
		netmap_free(nm);
		return -ENOMEM;
	}
	for (i = 0; i < nm->n; ++i) {
		fill_entry(ctl, self, &nm->rows[i],
			   primary && nm->rows[i].role == ROLE_HUB,
			   &nm->entries[i]);
		if (nm->rows[i].role == ROLE_HUB)
			primary = false;
	}
	return 0;
}

void netmap_free(struct netmap *nm)
{
	free(nm->rows);
	free(nm->entries);
	memset(nm, 0, sizeof(*nm));
}

json_t *netmap_peers_json(const struct netmap *nm)
{
	json_t *list = json_array(), *ips, *o;
	char buf[sizeof(nm->entries[0].allowed_ips)], *tok, *save;
	int i;

	for (i = 0; i < nm->n; ++i) {
		const struct netmap_entry *e = &nm->entries[i];

		ips = json_array();
		snprintf(buf, sizeof(buf), "%s", e->allowed_ips);
		for (tok = strtok_r(buf, ", ", &save); tok;
		     tok = strtok_r(NULL, ", ", &save))
			json_array_append_new(ips, json_string(tok));
		o = json_pack("{s:s, s:s, s:s, s:o, s:i}", "node_id",
			      e->peer->id, "role", role_name(e->peer->role),
			      "public_key", e->peer->public_key, "allowed_ips",
			      ips, "persistent_keepalive", e->keepalive);
		json_object_set_new(o, "endpoint",
				    e->endpoint ? json_string(e->endpoint)
						: json_null());
		json_array_append_new(list, o);
	}
	return list;
}

struct text {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3)))
text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	size_t need;
	char *nbuf;
	int n;

	if (t->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	need = t->len + (size_t)n + 1;
	if (need > t->cap) {
		size_t cap = need * 2;

		/* Grow by copying so a key never sits in freed memory. */
		nbuf = malloc(cap);
		if (!nbuf) {
			t->failed = true;
			return;
		}
		if (t->buf) {
			memcpy(nbuf, t->buf, t->len + 1);
			memzero(t->buf, t->cap);
			free(t->buf);
		}
		t->buf = nbuf;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static const char *endpoint_port(const char *endpoint)
{
	const char *colon = endpoint ? strrchr(endpoint, ':') : NULL;

	return colon ? colon + 1 : NULL;
}

char *wgconf_render(const struct controller *ctl, const struct peer *self,
		    const struct netmap *nm, const char *private_key)
{
	char addrs[2 * ADDR_TEXT_LEN + 8];
	const char *port = NULL;
	struct text t = { 0 };
	int i;

	if (self->role == ROLE_HUB)
		network_host_in_net(&ctl->net, self->addr_index, addrs,
				    sizeof(addrs));
	else
		network_host_cidrs(&ctl->net, self->addr_index, addrs,
				   sizeof(addrs));
	text_add(&t, "# spokewire %s %s, network %s\n[Interface]\n",
		 role_name(self->role), self->id, ctl->net.text);
	if (private_key)
		text_add(&t, "PrivateKey = %s\n", private_key);
	else
		text_add(&t, "# PrivateKey = (the key of %s; never sent to "
			     "the controller)\n",
			 self->public_key);
	text_add(&t, "Address = %s\n", addrs);
	if (*self->endpoint)
		port = endpoint_port(self->endpoint);
	else if (self->role == ROLE_HUB && *ctl->endpoint)
		port = endpoint_port(ctl->endpoint);
	if (port)
		text_add(&t, "ListenPort = %s\n", port);
	if (self->role == ROLE_DEVICE && *ctl->dns)
		text_add(&t, "DNS = %s\n", ctl->dns);
	for (i = 0; i < nm->n; ++i) {
		const struct netmap_entry *e = &nm->entries[i];

		text_add(&t, "\n[Peer]\n# %s %s\nPublicKey = %s\n",
			 role_name(e->peer->role), e->peer->id,
			 e->peer->public_key);
		if (e->endpoint)
			text_add(&t, "Endpoint = %s\n", e->endpoint);
		text_add(&t, "AllowedIPs = %s\n", e->allowed_ips);
		if (e->keepalive)
			text_add(&t, "PersistentKeepalive = %d\n",
				 e->keepalive);
	}
	if (t.failed) {
		if (t.buf)
			memzero(t.buf, t.cap);
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

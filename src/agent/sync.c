/* The agent's device side: wg-quick (or `spokewire up`, for userspace mode
 * and --sections) brings the interface up once; after
 * that every netmap is applied through the UAPI socket (the cross-platform
 * protocol wg(8) speaks), as a diff, so a peer that did not change keeps
 * its session and whatever endpoint it roamed to. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "io/strbuf.h"
#include "uapi/uapi.h"

bool device_present(const char *iface)
{
	int fd = uapi_client_connect(iface);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

struct current_peer {
	char hex[KEY_HEX_LEN + 1];
	char endpoint[80];
	int keepalive;
	json_t *ips; /* array of strings */
};

/* The device's peers from a get reply. */
static int parse_get(char *reply, struct current_peer **out, size_t *n)
{
	struct current_peer *peers = NULL, *p = NULL, *np;
	char *line, *save, *eq;
	size_t count = 0;

	for (line = strtok_r(reply, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq++ = '\0';
		if (!strcmp(line, "public_key")) {
			np = realloc(peers, (count + 1) * sizeof(*peers));
			if (!np)
				goto fail;
			peers = np;
			p = &peers[count++];
			memset(p, 0, sizeof(*p));
			snprintf(p->hex, sizeof(p->hex), "%s", eq);
			p->ips = json_array();
		} else if (p && !strcmp(line, "endpoint")) {
			snprintf(p->endpoint, sizeof(p->endpoint), "%s", eq);
		} else if (p && !strcmp(line, "persistent_keepalive_interval")) {
			p->keepalive = atoi(eq);
		} else if (p && !strcmp(line, "allowed_ip")) {
			json_array_append_new(p->ips, json_string(eq));
		}
	}
	*out = peers;
	*n = count;
	return 0;
fail:
	while (count--)
		json_decref(peers[count].ips);
	free(peers);
	return -ENOMEM;
}

/* "host:port" to the numeric form UAPI takes; "" if it does not resolve. */
static void resolve(const char *endpoint, char *out, size_t len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res;
	char host[300], ip[64];
	const char *colon = strrchr(endpoint, ':');
	size_t hlen;

	out[0] = '\0';
	if (!colon)
		return;
	hlen = (size_t)(colon - endpoint);
	if (hlen >= sizeof(host))
		return;
	memcpy(host, endpoint, hlen);
	host[hlen] = '\0';
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	if (getaddrinfo(host, colon + 1, &hints, &res))
		return;
	if (!getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof(ip), NULL,
			 0, NI_NUMERICHOST))
		snprintf(out, len, res->ai_family == AF_INET6 ? "[%s]:%s" :
								"%s:%s",
			 ip, colon + 1);
	freeaddrinfo(res);
}

static bool same_ips(json_t *a, json_t *b)
{
	size_t i, j;
	json_t *x, *y;
	bool found;

	if (json_array_size(a) != json_array_size(b))
		return false;
	json_array_foreach(a, i, x) {
		found = false;
		json_array_foreach(b, j, y)
			if (json_equal(x, y))
				found = true;
		if (!found)
			return false;
	}
	return true;
}

static void add(struct strbuf *t, const char *key, const char *value)
{
	strbuf_printf(t, "%s=%s\n", key, value);
}

/* Appends the set lines for one desired peer; true if anything changes. */
static bool peer_lines(struct agent *a, struct strbuf *t, json_t *want,
		       const char *hex, struct current_peer *cur)
{
	const char *ep = json_string_value(json_object_get(want, "endpoint"));
	json_t *ips = json_object_get(want, "allowed_ips"), *ip;
	int ka = (int)json_integer_value(
		json_object_get(want, "persistent_keepalive"));
	const char *pub = json_string_value(json_object_get(want, "public_key"));
	char resolved[80] = "", num[16];
	const char *last;
	bool set_ep = false, set_ips, set_ka;
	size_t i;

	if (ep) {
		/* A registered endpoint is set when it is new to us, never
		 * over a roamed one we did not put there. */
		last = json_string_value(json_object_get(a->applied, pub));
		if (!cur || (!last && !cur->endpoint[0]) ||
		    (last && strcmp(last, ep))) {
			resolve(ep, resolved, sizeof(resolved));
			set_ep = resolved[0] &&
				 (!cur || strcmp(cur->endpoint, resolved));
			if (resolved[0])
				json_object_set_new(a->applied, pub,
						    json_string(ep));
		}
	}
	set_ips = !cur || !same_ips(cur->ips, ips);
	set_ka = !cur || cur->keepalive != ka;
	if (!set_ep && !set_ips && !set_ka)
		return false;
	add(t, "public_key", hex);
	if (set_ep)
		add(t, "endpoint", resolved);
	if (set_ka) {
		snprintf(num, sizeof(num), "%d", ka);
		add(t, "persistent_keepalive_interval", num);
	}
	if (set_ips) {
		add(t, "replace_allowed_ips", "true");
		json_array_foreach(ips, i, ip)
			if (json_is_string(ip))
				add(t, "allowed_ip", json_string_value(ip));
	}
	return true;
}

int device_sync(struct agent *a, json_t *peers)
{
	struct current_peer *cur = NULL;
	struct strbuf t = { 0 };
	char hex[KEY_HEX_LEN + 1], *reply = NULL;
	uint8_t key[KEY_LEN];
	size_t n = 0, i, j;
	bool changed = false, wanted;
	json_t *p;
	int ret;

	strbuf_printf(&t, "set=1\n");
	if (!a->applied)
		a->applied = json_object();
	ret = uapi_client_call(a->iface, "get=1\n\n", &reply);
	if (!ret)
		ret = parse_get(reply, &cur, &n);
	if (reply) {
		memzero(reply, strlen(reply));
		free(reply);
		reply = NULL;
	}
	if (ret)
		goto out;

	for (i = 0; i < n; ++i) {
		wanted = false;
		json_array_foreach(peers, j, p) {
			const char *pub = json_string_value(
				json_object_get(p, "public_key"));

			if (pub && key_from_base64(key, pub)) {
				key_to_hex(hex, key);
				if (!strcmp(hex, cur[i].hex))
					wanted = true;
			}
		}
		if (!wanted) {
			add(&t, "public_key", cur[i].hex);
			add(&t, "remove", "true");
			changed = true;
		}
	}
	json_array_foreach(peers, j, p) {
		const char *pub = json_string_value(
			json_object_get(p, "public_key"));
		struct current_peer *c = NULL;

		if (!pub || !key_from_base64(key, pub))
			continue;
		key_to_hex(hex, key);
		for (i = 0; i < n; ++i)
			if (!strcmp(cur[i].hex, hex))
				c = &cur[i];
		if (peer_lines(a, &t, p, hex, c))
			changed = true;
	}
	strbuf_printf(&t, "\n");
	if (t.failed) {
		ret = -ENOMEM;
		goto out;
	}
	if (changed) {
		ret = uapi_client_call(a->iface, t.s, &reply);
		free(reply);
		if (ret)
			fprintf(stderr, "join: %s: the device refused the "
					"peers (%s)\n",
				a->iface, strerror(-ret));
	}
out:
	for (i = 0; i < n; ++i)
		json_decref(cur[i].ips);
	free(cur);
	strbuf_free(&t);
	return ret;
}

int device_up(const struct agent *a)
{
	/* Our own sections or userspace mode: `spokewire up`, which knows
	 * them (and runs without root); else wg-quick. */
	bool ours = a->userspace || a->sections;
	char conf[4096];

	snprintf(conf, sizeof(conf), "%s/%s.conf", a->data_dir, a->iface);
	if (cli_spawn(ours ? NULL : "wg-quick",
		      (char *[]){ ours ? "spokewire" : "wg-quick", "up", conf,
				  NULL })) {
		fprintf(stderr, "join: %s up %s failed\n",
			ours ? "spokewire" : "wg-quick", conf);
		return -EIO;
	}
	return 0;
}

/* A node's view of the network: which peers it gets, with which allowed-IPs,
 * endpoint and keepalive (hub-and-spoke), as JSON and as a wg-quick config. */
#ifndef SPOKEWIRE_CONTROLLER_NETMAP_H
#define SPOKEWIRE_CONTROLLER_NETMAP_H

#include <jansson.h>

#include "controller/registry.h"

enum { HUB_KEEPALIVE = 25 };

struct netmap_entry {
	const struct peer *peer;
	char allowed_ips[2 * ADDR_TEXT_LEN + NETWORK_TEXT_LEN];
	const char *endpoint; /* NULL when unknown */
	int keepalive;
};

struct netmap {
	int64_t version;
	int n;
	struct peer *rows;
	struct netmap_entry *entries;
};

/* Loads self's view; the caller frees it with netmap_free(). */
int netmap_load(struct controller *ctl, const struct peer *self,
		struct netmap *nm);
void netmap_free(struct netmap *nm);

/* The "peers" array. Returns a new reference. */
json_t *netmap_peers_json(const struct netmap *nm);

/* A wg-quick config for self. With private_key NULL the PrivateKey line is
 * a comment for the agent to fill in. Returns malloc'd text the caller
 * owns (wipe it when it holds a key). */
char *wgconf_render(const struct controller *ctl, const struct peer *self,
		    const struct netmap *nm, const char *private_key);

/* QR codes of text (libqrencode): an SVG document, or ANSI colour blocks
 * for a terminal. Return malloc'd text the caller owns, or NULL. */
char *qr_svg(const char *text, size_t *len);
char *qr_ansi(const char *text, size_t *len);

#endif

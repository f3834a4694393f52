/* `spokewire join`: the node agent. It keeps a keypair and its node token
 * in a data directory, joins the controller, brings the interface up with
 * wg-quick, and applies every netmap change live over the UAPI socket. */
#ifndef SPOKEWIRE_AGENT_H
#define SPOKEWIRE_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/crypto.h"

enum {
	AGENT_ID_MAX = 64,
	AGENT_TOKEN_MAX = 256,
	AGENT_POLL_DEFAULT = 25,
};

struct agent {
	const char *controller; /* base URL, no trailing slash */
	const char *join_token; /* NULL after the first join, or never given */
	const char *node_id;
	const char *data_dir;
	const char *iface;
	const char *role;       /* NULL: the token's */
	const char *endpoint;   /* NULL: none */
	unsigned int poll;      /* seconds per long-poll */
	bool once;
	bool no_up;
	bool userspace;       /* --mode userspace */
	char *sections;       /* --sections FILE's text, or NULL */

	uint8_t private_key[KEY_LEN];
	char public_key[KEY_B64_LEN + 1];
	char node_token[AGENT_TOKEN_MAX + 1]; /* "" until joined */
	int64_t version;
	char *iface_section; /* the config's [Interface] part, with the key */
	json_t *applied;     /* public key -> endpoint we last set */
	volatile int *stop;
};

/* state.c: the data directory. */
int agent_load_key(struct agent *a);
int agent_load_state(struct agent *a);
int agent_save_state(const struct agent *a);
/* Writes D/IFACE.conf (0600, atomically) from the interface section and
 * a netmap's peers array. */
int agent_write_config(const struct agent *a, json_t *peers);

/* client.c: the controller's API over libcurl. Each returns the HTTP
 * status (0 for a transport failure) and, for 2xx, the parsed body in
 * *out, which the caller owns. */
int client_init(void);
void client_cleanup(void);
long client_join(struct agent *a, bool with_join_token, json_t **out);
long client_netmap(struct agent *a, json_t **out);

/* sync.c: the device, over /var/run/wireguard/IFACE.sock. */
bool device_present(const char *iface);
int device_up(const struct agent *a);
/* Makes the device's peers exactly the netmap's; touches only what
 * differs, so unchanged peers keep their sessions and roamed endpoints. */
int device_sync(struct agent *a, json_t *peers);

#endif

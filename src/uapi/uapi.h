/* The cross-platform userspace API (wireguard.com/xplatform): parsing a
 * "set=1" request into a whole configuration before anything is applied, and
 * formatting a "get=1" reply. The socket server is uapi-server.c. No device
 * state lives here: the daemon supplies get/set callbacks. */
#ifndef SPOKEWIRE_UAPI_H
#define SPOKEWIRE_UAPI_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "crypto/crypto.h"

struct uapi_allowedip {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t cidr;
	bool remove;    /* "allowed_ip=-a.b.c.d/n" (newer tools) */
	union {
		struct in_addr ip4;
		struct in6_addr ip6;
	};
};

union uapi_endpoint {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

struct uapi_peer {
	uint8_t public_key[KEY_LEN];
	bool remove, update_only, replace_allowed_ips;
	bool has_preshared_key; /* all-zero key clears it */
	uint8_t preshared_key[KEY_LEN];
	bool has_endpoint;
	union uapi_endpoint endpoint;
	bool has_persistent_keepalive;
	uint16_t persistent_keepalive_interval;
	struct uapi_allowedip *allowedips;
	size_t n_allowedips, cap_allowedips;
	/* get only */
	uint64_t last_handshake_sec, last_handshake_nsec;
	uint64_t rx_bytes, tx_bytes;
};

struct uapi_config {
	bool has_private_key; /* all-zero key removes it */
	uint8_t private_key[KEY_LEN];
	bool has_listen_port;
	uint16_t listen_port;
	bool has_fwmark;
	uint32_t fwmark;
	bool replace_peers;
	struct uapi_peer *peers;
	size_t n_peers, cap_peers;
};

/* Parses the key=value lines after "set=1\n" (up to, not including, the
 * blank line). Returns 0, or -EINVAL/-EPROTO/-ENOMEM with *out freed and
 * zeroed. Never applies anything. Errors are wireguard-go's: -EPROTO only
 * for a line without '=', -EINVAL for everything else (bad values, unknown
 * keys, peer keys before public_key). Nonzero private keys come back
 * clamped, as wireguard-go stores them. One public_key section may yield
 * several entries for the same key (replace_allowed_ips after allowed_ip
 * lines starts a new one); apply the entries in order. */
int uapi_parse_set(const char *text, size_t len, struct uapi_config *out);
/* Formats a get reply body (without the trailing "errno=0\n\n") into a
 * malloc'd string the caller frees; NULL on ENOMEM. Includes private and
 * preshared keys, as the protocol requires; the socket is root-only. */
char *uapi_format_get(const struct uapi_config *cfg, size_t *len);
/* Adds a peer / allowed IP to a config being built (for get). NULL/-ENOMEM.
 * The returned peer is zeroed and owned by cfg; it moves on the next add. */
struct uapi_peer *uapi_config_add_peer(struct uapi_config *cfg);
int uapi_peer_add_allowedip(struct uapi_peer *peer,
			    const struct uapi_allowedip *aip);
/* Wipes keys and frees the arrays; the struct itself stays the caller's. */
void uapi_config_free(struct uapi_config *cfg);

/* The server on /var/run/wireguard/IFACE.sock. */
struct loop;
struct uapi_handler {
	/* Fill cfg (zeroed on entry); 0 or -errno. */
	int (*get)(void *ctx, struct uapi_config *cfg);
	/* Apply atomically: on error nothing changed. 0 or -errno. */
	int (*set)(void *ctx, const struct uapi_config *cfg);
	/* Optional, ours: re-read what the UAPI does not carry from the
	 * config file at path ("reload=1\nconfig=PATH\n\n"). 0 or -errno;
	 * msg (len bytes, "" on entry) says what changed or why not, sent
	 * back as a "message=" line. */
	int (*reload)(void *ctx, const char *path, char *msg, size_t len);
	/* Optional, ours: "status=1\n\n" is answered with "json=" and this
	 * document on one line (malloc'd, NULL on ENOMEM). */
	char *(*status)(void *ctx);
	void *ctx;
};
struct uapi_server;
/* Creates the socket (dir 0755 as wireguard-go; socket 0600, wireguard-go's
 * is 0700) and registers it with loop. -EADDRINUSE if a live server answers
 * on the path; a stale socket is replaced. Replies carry "errno=-N" like
 * wireguard-go, which is what wg(8) turns into strerror(N). Returns 0 or
 * -errno; *out is owned by the caller (uapi_server_close). */
/* Client side (uapi-client.c): IFACE.sock in /var/run/wireguard, else in
 * our private directory, else in another user's (root asking about a
 * rootless daemon): a connected socket or -errno; and one call: req sent, the reply (up to its blank
 * line; a nonzero "errno=N" becomes -N, none -EPROTO) in *reply for the
 * caller to wipe and free: also when the reply carries an error, NULL
 * when there is no reply. */
int uapi_client_connect(const char *iface);
int uapi_client_call(const char *iface, const char *req, char **reply);

int uapi_server_open(struct uapi_server **out, const char *ifname,
		     struct loop *loop, const struct uapi_handler *handler);
/* Whether the socket had to go into uapi_private_dir(): /var/run/wireguard
 * was not writable for us. */
bool uapi_server_private(const struct uapi_server *srv);
/* The control socket's directory for a user that cannot write
 * /var/run/wireguard: $XDG_RUNTIME_DIR/spokewire, else
 * /tmp/spokewire-UID; create makes it (0700) and checks it is ours (a
 * directory, not a link, owned by us, 0700). 0 or -errno. */
enum { UAPI_PATH_MAX = 108 };
int uapi_private_dir(char *out, size_t len, bool create);
/* Unregisters, closes and unlinks the socket. */
void uapi_server_close(struct uapi_server *srv);
const char *uapi_server_path(const struct uapi_server *srv);

#endif

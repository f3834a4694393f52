/* Interface config files: wg-quick's format plus spokewire's [Forward],
 * [Expose], [Proxy] and [Egress] sections (see DESIGN.md). Parsing does no
 * I/O beyond reading the file and resolves no names: host names in
 * Endpoint/Target stay strings until conf_resolve(). */
#ifndef SPOKEWIRE_CONF_CONF_H
#define SPOKEWIRE_CONF_CONF_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "crypto/crypto.h"

enum conf_mode {
	CONF_MODE_TUN,
	CONF_MODE_USERSPACE,
};

enum conf_proto {
	CONF_PROTO_TCP,
	CONF_PROTO_UDP,
};

enum {
	CONF_HOST_MAX = 256,
	CONF_ERR_MAX = 512,
};

/* An address with a prefix length (Address, AllowedIPs, Allow, Deny). */
struct conf_prefix {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t cidr;
	bool has_cidr;  /* Address written without /len */
	uint8_t ip[16]; /* IPv4 in ip[0..3] */
};

/* HOST:PORT as written; addr is filled by conf_resolve() (or at parse time
 * when host is numeric: resolved is then true). */
struct conf_hostport {
	char host[CONF_HOST_MAX]; /* "" for a bare port */
	uint16_t port;
	bool resolved;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
	int line;
};

enum {
	CONF_NAME_MAX = 32,
};

struct conf_peer {
	char name[CONF_NAME_MAX];  /* "# friendly_name = NAME" before [Peer] */
	char group[CONF_NAME_MAX]; /* [Policy] Group; "" for none */
	uint8_t public_key[KEY_LEN];
	bool has_psk;
	uint8_t psk[KEY_LEN];
	bool has_endpoint;
	struct conf_hostport endpoint;
	struct conf_prefix *allowed;
	size_t n_allowed;
	uint16_t keepalive;
	int line;
};

struct conf_forward {
	struct conf_hostport listen; /* host side */
	struct conf_hostport target; /* overlay side, numeric */
	enum conf_proto proto;
	int line;
};

struct conf_expose {
	struct conf_hostport listen; /* host "" : our overlay addresses */
	struct conf_hostport target; /* host side, names allowed */
	int line;
};

enum conf_s2s {
	CONF_S2S_ALL,
	CONF_S2S_GROUP,
	CONF_S2S_NONE,
};

/* Services = PORT/PROTO: reachable through the interface, from the overlay
 * only. */
struct conf_service {
	uint16_t port;
	enum conf_proto proto;
};

/* [Policy] (hubs, and nodes with Services): what the interface lets
 * through. TUN mode: an nftables table (src/node/ifup.c). */
struct conf_policy {
	bool present;
	bool routes;               /* SpokeToSpoke given: we route */
	enum conf_s2s s2s;         /* peer to peer through us */
	bool hub_originates;       /* we may open connections to peers */
	struct conf_service *services;
	size_t n_services;
	struct {
		char peer[KEY_B64_LEN + 1]; /* friendly name or public key */
		char group[CONF_NAME_MAX];
		int line;
	} *groups;
	size_t n_groups;
	int line;
};

/* A string list (hooks, DNS). */
struct conf_strings {
	char **v;
	size_t n;
};

struct conf {
	char ifname[IFNAMSIZ];
	char *path; /* conf_load's file, absolute (NULL from conf_parse) */
	enum conf_mode mode;

	bool has_private_key;
	uint8_t private_key[KEY_LEN];
	bool has_listen_port;
	uint16_t listen_port;
	uint32_t fwmark;
	unsigned mtu; /* 0: default */
	struct conf_prefix *addrs;
	size_t n_addrs;
	struct conf_strings dns;
	char table[32]; /* "" default, "off", "auto" or a number */
	struct conf_strings pre_up, post_up, pre_down, post_down;
	bool save_config;

	struct conf_peer *peers;
	size_t n_peers;
	struct conf_forward *forwards;
	size_t n_forwards;
	struct conf_expose *exposes;
	size_t n_exposes;
	bool has_socks5, has_http;
	struct conf_hostport socks5, http;
	bool has_egress;
	bool egress_deny_rst; /* [Egress] DenyWith = rst (default icmp) */
	struct conf_prefix *allow, *deny;
	size_t n_allow, n_deny;
	struct conf_policy policy;

	/* The status listener (Status, StatusToken) and /health's rules
	 * (HealthHandshakeAge, HealthPeers: names or keys, resolved to the
	 * peers' indexes). */
	char status[CONF_HOST_MAX + 8];   /* "" : off */
	char status_token[128];
	unsigned health_age;              /* 0: the default */
	char health_peers_raw[512];
	int health_peers_line;
	size_t *health_peers;
	size_t n_health_peers;
};

/* Parses text (len bytes, need not be NUL-terminated) named file for error
 * messages. 0, or -EINVAL with "file:line: what" in err (CONF_ERR_MAX) and
 * *c freed; -ENOMEM. Warnings (ignored keys) go to warn when it is not
 * NULL, one "file:line: ..." per call. */
int conf_parse(struct conf *c, const char *file, const char *text, size_t len,
	       char *err, void (*warn)(void *ctx, const char *msg),
	       void *warn_ctx);
/* Reads and parses path; the interface name comes from the file name
 * (wg0.conf -> wg0). Key files must not be readable by others: a warning,
 * as wg-quick gives. Errors as conf_parse, plus -errno from reading. */
int conf_load(struct conf *c, const char *path, char *err,
	      void (*warn)(void *ctx, const char *msg), void *warn_ctx);
/* The interface name for path: 0 or -EINVAL (not NAME.conf, bad name). */
int conf_ifname(const char *path, char out[IFNAMSIZ]);
/* Resolves the host names left (peer endpoints, expose targets) with
 * getaddrinfo; blocking. 0 or -EINVAL with the failing one in err. */
int conf_resolve(struct conf *c, const char *file, char *err);
/* The same for the [Expose] targets only. */
int conf_resolve_exposes(struct conf *c, const char *file, char *err);
/* Wipes the keys and frees everything; *c is zeroed. */
void conf_free(struct conf *c);

/* Matching for [Egress]: true if ip (family AF_INET/AF_INET6) is inside
 * one of the n prefixes. */
bool conf_prefix_match(const struct conf_prefix *p, size_t n, int family,
		       const void *ip);
/* "10.0.0.0/8" into buf (64 bytes). */
const char *conf_prefix_str(const struct conf_prefix *p, char *buf,
			    size_t len);

#endif

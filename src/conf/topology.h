/* Topology files (`spokewire topology`): a hub-and-spoke network in one
 * file ([Network], one [Hub], any number of [Spoke] sections), from which
 * every node's config is rendered. Same syntax as the config files (keys
 * case-insensitive, # comments). Parsing, address assignment and rendering
 * do no I/O: the caller reads the file, supplies keys and the addresses a
 * previous run gave, and writes the results. */
#ifndef SPOKEWIRE_CONF_TOPOLOGY_H
#define SPOKEWIRE_CONF_TOPOLOGY_H

#include "conf/conf.h"

enum topo_s2s {
	TOPO_S2S_ALL,
	TOPO_S2S_GROUP,
	TOPO_S2S_NONE,
};

enum {
	TOPO_NAME_MAX = 32,       /* node, group and network names */
	TOPO_MAX_NODES = 4096,
	TOPO_ENDPOINT_MAX = CONF_HOST_MAX + 8,
	TOPO_SERVICES_MAX = 256,
};

/* Expose = PORT -> HOST:PORT on the hub: an [Expose] section. */
struct topo_expose {
	uint16_t port;
	char target[TOPO_ENDPOINT_MAX];
	int line;
};

struct topo_node {
	char name[TOPO_NAME_MAX];
	bool hub;
	int line;
	bool has_addr;              /* Address written in the file */
	uint8_t addr4[4];           /* the file's, or topology_assign()'s */
	uint8_t cidr4;              /* hub: as written or the network's; 32 */
	int addr_line;
	char group[TOPO_NAME_MAX];  /* "default" unless given */
	enum conf_mode mode;
	char endpoint[TOPO_ENDPOINT_MAX]; /* hub: HOST:PORT */
	struct topo_expose *exposes;
	size_t n_exposes;
	char services[TOPO_SERVICES_MAX]; /* as written, checked */
	bool hub_originates;
	/* Set by the caller before topology_assign() / topology_render(). */
	bool has_prev_addr;         /* the address a previous run gave it */
	uint8_t prev_addr4[4];
	uint8_t private_key[KEY_LEN];
	uint8_t public_key[KEY_LEN];
};

struct topology {
	char name[TOPO_NAME_MAX];
	struct conf_prefix net4;
	bool has_net6;
	struct conf_prefix net6;
	uint16_t listen_port;       /* 0: none (a random port) */
	uint16_t keepalive;         /* spokes' PersistentKeepalive, 0: off */
	enum topo_s2s s2s;
	/* SpokeToSpoke = GROUP, ...: TOPO_S2S_GROUP for these groups only
	 * (spokes of other groups reach no other spoke); "" for all groups. */
	char s2s_groups[TOPO_SERVICES_MAX];
	int s2s_line;
	char iface[IFNAMSIZ];       /* file and interface name on each node */
	struct topo_node *nodes;    /* the hub first, then the spokes in order */
	size_t n;
	char file[256];             /* for messages and the configs' header */
};

/* Parses and checks text (len bytes) named file. 0, or -EINVAL with
 * "file:line: what" in err (CONF_ERR_MAX), or -ENOMEM; *t is freed on
 * error. */
int topology_parse(struct topology *t, const char *file, const char *text,
		   size_t len, char *err);
/* Gives every spoke without an Address one: the one a previous run gave
 * it when that is still free and inside the network, else the lowest free
 * address. Adding a spoke therefore never renumbers the others. 0 or
 * -EINVAL with err (the network is full). */
int topology_assign(struct topology *t, char *err);
/* Node i's config in `spokewire up`'s format (it holds the private key:
 * the caller wipes and frees it), or NULL on ENOMEM. */
char *topology_render(const struct topology *t, size_t i);
/* summary.txt: one line per node (name, role, address, mode, group,
 * public key). The caller frees it; NULL on ENOMEM. */
char *topology_summary(const struct topology *t);
/* Index of the node called name, or -1. */
int topology_find(const struct topology *t, const char *name);
/* Frees everything and wipes the keys; *t is zeroed. */
void topology_free(struct topology *t);

#endif

/* The registry: tokens, users, nodes and devices in the store, one
 * transaction per operation. Functions return 0 or -errno with a message
 * for the client in *why: -EINVAL 400, -EPERM 401 (bad credential),
 * -EACCES 403, -ENOENT 404, -EEXIST/-ENOSPC 409, anything else 500. */
#ifndef SPOKEWIRE_CONTROLLER_REGISTRY_H
#define SPOKEWIRE_CONTROLLER_REGISTRY_H

#include <jansson.h>

#include "controller/controller.h"
#include "controller/request.h"

struct store_conn;
struct store_result;

/* A row of sw_peers: a joined node (hub, spoke) or a user's device. */
struct peer {
	char id[ID_MAX_LEN + 1];
	enum role role;
	char owner[ID_MAX_LEN + 1];
	char name[NAME_MAX_LEN + 1];
	char public_key[KEY_B64_LEN + 1];
	char endpoint[ENDPOINT_MAX_LEN + 1];
	int64_t addr_index;
	int64_t created_at;
	int64_t updated_at;
};

struct versions {
	int64_t all;  /* bumped by every netmap change: what hubs see */
	int64_t hubs; /* bumped when a hub changes: what spokes see */
};

/* Creates the schema, checks the network matches the store's, loads the
 * node-token secret and the master key hash. With master_key NULL and no
 * key in the store, one is generated into generated[] (else ""). */
int registry_init(struct controller *ctl, const char *master_key,
		  char generated[SECRET_TEXT_LEN + 1], const char **why);

int registry_versions(struct controller *ctl, struct versions *v);
int registry_counts(struct controller *ctl, int64_t *nodes, int64_t *users,
		    int64_t *devices);

/* Tokens (master only). */
int registry_token_create(struct controller *ctl,
			  const struct token_request *tr, json_t **out);
int registry_token_list(struct controller *ctl, json_t **out);
int registry_token_delete(struct controller *ctl, const char *id,
			  const char **why);

/* Users. registry_user_by_key() is the user-key check: 0 and the client id,
 * or -EPERM. */
int registry_user_create(struct controller *ctl, const char *client_id,
			 json_t **out, const char **why);
int registry_user_list(struct controller *ctl, json_t **out);
int registry_user_get(struct controller *ctl, const char *client_id,
		      json_t **out, const char **why);
int registry_user_delete(struct controller *ctl, const char *client_id,
			 const char **why);
int registry_user_by_key(struct controller *ctl, const char *key,
			 char client_id[ID_MAX_LEN + 1]);

/* Joining: with a join token (join_token non-NULL) a node joins or
 * re-joins; with its node token alone it may re-join or rotate its key. */
int registry_join(struct controller *ctl, const struct join_request *jr,
		  const char *join_token, const char *node_token,
		  struct peer *out, bool *changed, const char **why);
/* Allocates an address and records a user's device with public_key. */
int registry_device_create(struct controller *ctl, const char *client_id,
			   const char *name, const char *public_key,
			   struct peer *out, const char **why);

int registry_node_list(struct controller *ctl, json_t **out);
int registry_node_get(struct controller *ctl, const char *id, json_t **out,
		      const char **why);
int registry_node_delete(struct controller *ctl, const char *id,
			 const char **why);
/* 0 and the node owning this node token, or -EPERM. */
int registry_node_by_token(struct controller *ctl, const char *token,
			   struct peer *out);

/* The peers self sees (a hub: everyone else; anyone else: the hubs), in
 * address order, and the version they are at. The caller owns *peers
 * (free()). */
int registry_netmap_rows(struct controller *ctl, const struct peer *self,
			 int64_t *version, struct peer **peers, int *n);

/* JSON for a peer row, as GET /nodes shows it. */
json_t *peer_json(const struct controller *ctl, const struct peer *p);

/* registry.c helpers shared with registry-peers.c */
int registry_bump(struct controller *ctl, struct store_conn *c, bool hubs);
void peer_from_row(struct peer *p, const struct store_result *r, int row);
#define PEER_COLUMNS \
	"id, kind, owner, name, public_key, endpoint, addr_index, " \
	"created_at, updated_at"

#endif

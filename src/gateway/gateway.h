/* `spokewire gateway`: the public entrypoint into the mesh, managed by the
 * edge agent's API (the one Traefik and iptables stood behind). This first
 * part: the API on loopback (X-Agent-Token), the routes and forwards kept
 * in a state file written atomically before each answer and restored at
 * start, and TCP forwards served in this process (public port -> mesh
 * target, no DNAT). HTTP routes are kept, checked and (with --traefik-dir)
 * written as Traefik file-provider YAML; serving them here comes next.
 * state.c: the state and its file; fwd.c: TCP forwards; api.c: the API;
 * main.c: options, the mesh side, the loop. */
#ifndef SPOKEWIRE_GATEWAY_GATEWAY_H
#define SPOKEWIRE_GATEWAY_GATEWAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"

struct loop;
struct gw_listener;
struct loop_http;

enum {
	GW_ID_MAX = 64,
	GW_HOST_MAX = 253,
	GW_URL_MAX = 512,
	GW_MAX_ROUTES = 10000,
	GW_MAX_FORWARDS = 1000,
};

struct gw_route {
	char id[GW_ID_MAX + 1];
	char hostname[GW_HOST_MAX + 1];
	char target_url[GW_URL_MAX + 1];
	char entrypoint[64], certresolver[64];
};

struct gw_forward {
	char id[GW_ID_MAX + 1];
	uint16_t public_port;
	char target_ip[48];
	uint16_t target_port;
	bool udp;
	struct gw_listener *listener; /* fwd.c: serving it */
};

struct gateway {
	struct loop *loop;
	char state_path[4096];
	char traefik_dir[4096];      /* "" : no YAML */
	char wg_iface[16];
	const char *token;           /* X-Agent-Token, or NULL */
	const char *entrypoint, *certresolver; /* defaults for routes */
	struct gw_route *routes;
	size_t n_routes;
	struct gw_forward *forwards;
	size_t n_forwards;
	/* The mesh's networks (the interface's AllowedIPs), for targets. */
	struct conf_prefix *mesh;
	size_t n_mesh;
	struct loop_http *api;
	uint64_t relayed, active;
};

/* state.c */
/* Loads path: 0 (missing file: empty), or -1 with err (corrupt: the file
 * is kept as path.bad and nothing is served). */
int gw_state_load(struct gateway *g, char *err, size_t len);
/* Writes the state atomically (temp, fsync, rename); 0 or -errno. */
int gw_state_save(const struct gateway *g);
json_t *gw_route_json(const struct gw_route *r);
json_t *gw_forward_json(const struct gw_forward *f);
/* Checks and fills from an API body: NULL, or the reason for a 400. */
const char *gw_route_parse(struct gateway *g, json_t *in, struct gw_route *r);
const char *gw_forward_parse(struct gateway *g, json_t *in,
			     struct gw_forward *f);
/* Re-reads the mesh's networks from the interface (UAPI); 0 or -errno. */
int gw_mesh_refresh(struct gateway *g);
/* Traefik YAML for every route, when a directory was given. */
void gw_traefik_write(const struct gateway *g);

/* fwd.c: a forward's public listener, and its connections. 0 or -errno
 * with err (a port in use, or below 1024 without the right). */
int gw_forward_start(struct gateway *g, struct gw_forward *f, char *err,
		     size_t len);
void gw_forward_stop(struct gateway *g, struct gw_forward *f);

/* api.c: the agent API on 127.0.0.1:port (another address only with a
 * token). 0 or -errno with err. */
int gw_api_start(struct gateway *g, const char *addr, char *err, size_t len);
void gw_api_stop(struct gateway *g);
/* Its timeouts, from the loop's tick. */
void gw_api_tick(struct gateway *g);

#endif

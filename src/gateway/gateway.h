/* `spokewire gateway`: the public entrypoint into the mesh, managed by the
 * edge agent's API (the one Traefik and iptables stood behind), serving
 * everything in this one process.
 * state.c: routes and forwards, their state file (atomic, restored at
 * start), Traefik YAML; routes.c: the routing table and per-route
 * counters; http.c: the HTTP/1.1 proxy (llhttp), http-head.c its heads,
 * pool.c its idle target connections;
 * tls.c: SNI, certificates, passthrough; io.c: buffers and TLS over
 * memory BIOs; fwd.c / fwd-udp.c: TCP and UDP forwards; proxyproto.c: the
 * PROXY header; socks.c: targets through a userspace node's SOCKS5;
 * api.c: the agent API; main.c: options, the mesh side, the loop. */
#ifndef SPOKEWIRE_GATEWAY_GATEWAY_H
#define SPOKEWIRE_GATEWAY_GATEWAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

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

/* A route's counters, shared by the connections serving it: they outlive
 * the route's removal until the last of them is done (refs). */
struct gw_rstats {
	char id[GW_ID_MAX + 1];
	unsigned refs;
	uint64_t active, requests, bytes_in, bytes_out, upstream_errors;
	uint64_t status[6]; /* by class: [1] 1xx ... [5] 5xx, [0] other */
};

enum gw_tls_mode {
	GW_TLS_TERMINATE,   /* here, with --tls-dir/HOST.crt */
	GW_TLS_PASSTHROUGH, /* the ClientHello's bytes on to the target */
};

struct gw_route {
	char id[GW_ID_MAX + 1];
	char hostname[GW_HOST_MAX + 1]; /* "*.example.com", or "*": default */
	char target_url[GW_URL_MAX + 1];
	char entrypoint[64], certresolver[64];
	enum gw_tls_mode tls;
	bool redirect_https;  /* plain HTTP answered 308 to https:// */
	/* From target_url: */
	struct sockaddr_storage target;
	bool target_tls;      /* https:// */
	struct gw_rstats *st; /* owned: released by gw_route_release() */
};

struct gw_forward {
	char id[GW_ID_MAX + 1];
	uint16_t public_port;
	char target_ip[48];
	uint16_t target_port;
	bool udp;
	uint8_t proxy_protocol;   /* 0, 1 or 2: the PROXY header to the target */
	unsigned max_connections; /* at once (UDP: client addresses) */
	unsigned idle_timeout_s;  /* of silence both ways, then closed */
	struct gw_listener *listener; /* fwd.c: serving it */
	struct gw_udp *udp_listener;  /* fwd-udp.c */
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
	/* The HTTP(S) proxy (http.c) */
	size_t *route_index;         /* routes by hostname (routes.c) */
	struct gw_http *http;
	struct gw_tls *tls;          /* NULL: no --tls-dir */
	FILE *access_log;            /* NULL: none */
	unsigned upstream_timeout_s, connect_timeout_s;
	struct gw_persist *persist;  /* the state file's writer (persist.c) */
	/* Userspace mode: targets through this SOCKS5 proxy (family 0: no). */
	struct sockaddr_storage socks;
};

/* state.c */
/* Loads path: 0 (missing file: empty), or -1 with err (corrupt: the file
 * is kept as path.bad and nothing is served). */
int gw_state_load(struct gateway *g, char *err, size_t len);
/* The state file's text (persist.c writes it atomically: temp, fsync,
 * rename); the caller frees. NULL: out of memory. */
char *gw_state_text(const struct gateway *g);

/* persist.c: the state file written by a thread of its own, so the loop
 * never waits for an fsync. submit: a snapshot of g now, its sequence
 * number (0: out of memory); when it (or a newer one) is on disk,
 * gw_api_saved(g, seq, 0 or -errno) runs on the loop. */
int gw_persist_start(struct gateway *g);
uint64_t gw_persist_submit(struct gateway *g);
/* Writes what is pending, then stops. */
void gw_persist_stop(struct gateway *g);
/* Appends a copy to g's array; 0 or -ENOMEM. */
int gw_route_push(struct gateway *g, const struct gw_route *r);
int gw_forward_push(struct gateway *g, const struct gw_forward *f);
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

/* routes.c: the routing table. After any change to g->routes: */
int gw_routes_changed(struct gateway *g);
/* Before a route leaves g->routes: */
void gw_route_release(struct gw_route *r);
/* The route for a Host (any case, port ignored): exact, then the nearest
 * "*.domain", then "*". NULL: none. */
struct gw_route *gw_route_find(struct gateway *g, const char *host,
			       size_t len);
/* target_url into r->target; NULL or why not. */
const char *gw_route_target(struct gw_route *r);
void gw_rstats_put(struct gw_rstats *st);
/* GET /status: the gateway's routes and connections, and its mesh
 * interface's status document; a new reference. */
json_t *gw_status(const struct gateway *g);
/* Prometheus text for every route; the caller frees. */
char *gw_metrics(const struct gateway *g);

/* http.c: the proxy's public listeners (--http, --https), each connection
 * routed request by request. 0 or -errno with err. */
int gw_http_start(struct gateway *g, const char *http_addr,
		  const char *https_addr, char *err, size_t len);
void gw_http_stop(struct gateway *g);
/* Serves an accepted connection (fd owned from here on; tls: it starts
 * with a ClientHello). 0 or -errno. */
int gw_http_adopt(struct gateway *g, int fd, bool tls);
/* Connections being served. */
size_t gw_http_count(const struct gateway *g);
/* Timeouts, access log flush: from the loop's tick. */
void gw_http_tick(struct gateway *g);

/* fwd.c: a forward's public listener, and its connections. 0 or -errno
 * with err (a port in use, or below 1024 without the right). */
int gw_forward_start(struct gateway *g, struct gw_forward *f, char *err,
		     size_t len);
void gw_forward_stop(struct gateway *g, struct gw_forward *f);
/* Idle timeouts, from the loop's tick. */
void gw_forward_tick(struct gateway *g);

/* fwd-udp.c: the same for a UDP forward (a session per client address). */
int gw_udp_start(struct gateway *g, struct gw_forward *f, char *err,
		 size_t len);
void gw_udp_stop(struct gateway *g, struct gw_forward *f);
void gw_udp_tick(struct gateway *g, struct gw_forward *f);

/* socks.c: a target reached through the userspace node's SOCKS5 proxy. */
struct gw_socks {
	uint8_t buf[2 + 4 + 256 + 2];
	size_t have, need;
	bool sent;
};
/* On a connected socket to the proxy: 1 when the target is connected, 0
 * to wait for the socket to be readable, or -errno (-ECONNREFUSED, ...). */
int gw_socks_step(int fd, struct gw_socks *s,
		  const struct sockaddr_storage *target);

/* proxyproto.c: the PROXY protocol header (v1 text, v2 binary) telling a
 * target who the client is: src the client, dst the address it reached.
 * Its length, or 0 when out is too small. */
/* ss = the IPv4 or IPv6 address ip, port port; -EINVAL if ip is
 * neither. */
int gw_sockaddr(struct sockaddr_storage *ss, const char *ip, uint16_t port);
size_t gw_proxy_header(int version, const struct sockaddr_storage *src,
		       const struct sockaddr_storage *dst, uint8_t *out,
		       size_t len);

/* api.c: the agent API on 127.0.0.1:port (another address only with a
 * token). 0 or -errno with err. */
int gw_api_start(struct gateway *g, const char *addr, char *err, size_t len);
void gw_api_stop(struct gateway *g);
/* Its timeouts, from the loop's tick. */
void gw_api_tick(struct gateway *g);
/* Snapshots up to seq are written (err 0) or failed: their answers go. */
void gw_api_saved(struct gateway *g, uint64_t seq, int err);

#endif

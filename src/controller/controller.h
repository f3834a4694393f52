/* The controller daemon's shared state and the small interfaces between its
 * files: options (main.c), HTTP (http.c), credentials (auth.c), the netmap
 * long-poll (watch.c) and metrics (metrics.c). */
#ifndef SPOKEWIRE_CONTROLLER_H
#define SPOKEWIRE_CONTROLLER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/addr.h"
#include "crypto/crypto.h"

struct MHD_Daemon;
struct MHD_Connection;
struct store;
struct ratelimit;
struct watch;

enum {
	ID_MAX_LEN = 64,         /* node ids, client ids */
	ENDPOINT_MAX_LEN = 262,  /* [host]:port, host up to 253 */
	SECRET_TEXT_LEN = 68,    /* "swx_" + 64 hex */
	HASH_HEX_LEN = 64,
	BODY_LIMIT_DEFAULT = 64 * 1024,
	POLL_DEFAULT_SEC = 25,
	POLL_MAX_SEC = 120,
	AUTH_BURST_DEFAULT = 20, /* failed attempts before 429 */
	AUTH_RATE_DEFAULT = 1,   /* failed attempts forgiven per second */
	THREADS_DEFAULT = 4,
};

struct metrics {
	atomic_ulong requests[6]; /* by status class: 1xx..5xx, [0] other */
	atomic_ulong joins;
	atomic_ulong rejoins;
	atomic_ulong auth_failures;
	atomic_ulong rate_limited;
	atomic_ulong devices;
	atomic_long waiters;
	atomic_long resuming; /* woken, not yet answered */
};

struct controller {
	struct store *store;
	struct network net;
	char endpoint[ENDPOINT_MAX_LEN + 1]; /* hub's public endpoint */
	bool exit;       /* the hub is an exit: devices route everything */
	char dns[208];   /* device configs' DNS line, "" for none */
	uint8_t master_hash[HASH_LEN];
	uint8_t node_secret[KEY_LEN]; /* derives node tokens; in the store */
	size_t body_limit;
	unsigned int poll_default;
	unsigned int poll_max;
	unsigned int watch_interval_ms;
	struct ratelimit *rl;
	struct watch *watch;
	struct MHD_Daemon *httpd;
	struct metrics metrics;
};

/* auth.c: secrets are "swm_…" (master), "swu_…" (user), "swj_…" (join
 * token), "swn_…" (node token); the store holds only secret_hash(). */
void secret_generate(char out[SECRET_TEXT_LEN + 1], char kind);
void secret_hash(uint8_t out[HASH_LEN], const char *secret);
void secret_hash_hex(char out[HASH_HEX_LEN + 1], const char *secret);
void hex_encode(char *out, const uint8_t *in, size_t len);
bool __must_check hex_decode(uint8_t *out, size_t len, const char *in);
/* The node token is derived, so an identical re-join answers the same. */
void node_token_derive(const struct controller *ctl,
		       char out[SECRET_TEXT_LEN + 1], const char *node_id,
		       const char *public_key);
bool __must_check master_key_matches(const struct controller *ctl,
				     const char *key);

/* Failed-authentication rate limiting per source address: a token bucket
 * of `burst` failures refilled at `per_sec`. */
struct ratelimit *ratelimit_new(unsigned int burst, unsigned int per_sec);
void ratelimit_free(struct ratelimit *rl);
/* True while the source may still try. */
bool ratelimit_allowed(struct ratelimit *rl, const void *addr, size_t len);
void ratelimit_failed(struct ratelimit *rl, const void *addr, size_t len);

/* watch.c: held /netmap requests. */
int watch_start(struct controller *ctl);
/* Answers every held request; later ones are answered at once. */
void watch_stop(struct controller *ctl);
/* After http_stop(): nothing can reach the watch any more. */
void watch_free(struct controller *ctl);
/* A registry write changed the netmap: wake waiters now rather than at the
 * next poll of the store. */
void watch_notify(struct controller *ctl);

/* http.c */
int http_start(struct controller *ctl, const char *listen,
	       unsigned int threads);
void http_stop(struct controller *ctl);
/* The bound port (for --listen ADDR:0), or -1. */
int http_port(struct controller *ctl);

/* metrics.c */
char *metrics_render(struct controller *ctl);

/* "2026-01-02T03:04:05Z" */
void time_text(char out[32], int64_t t);

#endif

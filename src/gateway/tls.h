/* The gateway's TLS front: a ClientHello read for its server name (it may
 * span several records: post-quantum key shares make it ~2 KB), then the
 * connection terminated here with --tls-dir/HOST.crt and HOST.key (read
 * again when they change), or passed through to a route's target. */
#ifndef SPOKEWIRE_GATEWAY_TLS_H
#define SPOKEWIRE_GATEWAY_TLS_H

#include <stddef.h>
#include <stdint.h>

struct gateway;
struct hconn;
struct ssl_ctx_st;

enum { GW_HELLO_MAX = 64 << 10 };

/* 1: p holds a whole ClientHello (its server_name in sni, "" when it has
 * none); 0: more bytes are needed; -1: not a TLS ClientHello. */
int gw_hello_sni(const uint8_t *p, size_t n, char *sni, size_t len);

/* The TLS state for certificates in dir: 0 or -errno. */
int gw_tls_start(struct gateway *g, const char *dir);
void gw_tls_stop(struct gateway *g);
/* Reads the hello from h's input: 0 (wait for more, or handed over), or
 * -1: close the connection. */
int gw_tls_hello(struct hconn *h);
/* For https:// targets (not verified: they are inside the mesh). */
struct ssl_ctx_st *gw_tls_client_ctx(struct gateway *g);

#endif

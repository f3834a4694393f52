/* What the proxy's connections (http.c) offer the TLS front (tls.c). */
#ifndef SPOKEWIRE_GATEWAY_HTTP_H
#define SPOKEWIRE_GATEWAY_HTTP_H

#include <stddef.h>

struct hconn;
struct gw_route;
struct ssl_ctx_st;

/* The bytes read from the client so far (its ClientHello). */
const char *gw_http_cin(struct hconn *h, size_t *len);
struct gateway *gw_http_gateway(struct hconn *h);
/* The ClientHello is in: terminate TLS with ctx, or (pass != NULL) splice
 * the connection to that route's target. 0 or -errno (then close). */
int gw_http_hello_done(struct hconn *h, struct ssl_ctx_st *ctx,
		       struct gw_route *pass);

#endif

/* The gateway's TLS front (see tls.h): the ClientHello reader, the
 * certificates by host name, and the choice between terminating and
 * passing through. */
#include <errno.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/gateway.h"
#include "gateway/http.h"
#include "gateway/tls.h"
#include "io/loop.h"

enum {
	REC_HANDSHAKE = 22,
	HS_CLIENT_HELLO = 1,
	EXT_SERVER_NAME = 0,
	SNI_HOST_NAME = 0,
	RECHECK_NS = 1000000000, /* a certificate's files, at most this often */
};

struct cert {
	char name[GW_HOST_MAX + 3];
	SSL_CTX *ctx;            /* NULL: no such files (looked at `checked`) */
	struct timespec crt_mtime, key_mtime;
	uint64_t checked;
};

struct gw_tls {
	char dir[4096];          /* "" : terminate nothing */
	struct cert *certs;
	size_t n;
	SSL_CTX *client;
};

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* The server_name in a ClientHello's body (after the handshake header). */
static int hello_body(const uint8_t *p, size_t n, char *sni, size_t len)
{
	size_t i = 2 + 32, l, end;

	sni[0] = '\0';
	if (n < i + 1)
		return -1;
	i += 1 + p[i];                        /* session id */
	if (n < i + 2)
		return -1;
	i += 2 + be16(p + i);                 /* cipher suites */
	if (n < i + 1)
		return -1;
	i += 1 + p[i];                        /* compression methods */
	if (n < i + 2)
		return n == i ? 1 : -1;       /* no extensions at all */
	end = i + 2 + be16(p + i);
	if (end > n)
		return -1;
	for (i += 2; i + 4 <= end; i += 4 + l) {
		unsigned type = be16(p + i);
		size_t j, list_end;

		l = be16(p + i + 2);
		if (i + 4 + l > end)
			return -1;
		if (type != EXT_SERVER_NAME)
			continue;
		if (l < 2)
			return -1;
		list_end = i + 4 + 2 + be16(p + i + 4);
		if (list_end > i + 4 + l)
			return -1;
		for (j = i + 6; j + 3 <= list_end;) {
			size_t nl = be16(p + j + 1);

			if (j + 3 + nl > list_end)
				return -1;
			if (p[j] == SNI_HOST_NAME) {
				if (!nl || nl >= len || memchr(p + j + 3, 0, nl))
					return -1;
				memcpy(sni, p + j + 3, nl);
				sni[nl] = '\0';
				return 1;
			}
			j += 3 + nl;
		}
		return -1;
	}
	return 1;
}

int gw_hello_sni(const uint8_t *p, size_t n, char *sni, size_t len)
{
	static uint8_t hs[GW_HELLO_MAX];
	size_t off = 0, have = 0, need = 0;

	/* The handshake message may be cut into several records: join
	 * their payloads until it is whole. */
	while (off + 5 <= n) {
		size_t rl = be16(p + off + 3);

		if (p[off] != REC_HANDSHAKE || p[off + 1] != 3 || !rl ||
		    rl > 16384)
			return -1;
		if (off + 5 + rl > n)
			break;
		if (have + rl > sizeof(hs))
			return -1;
		memcpy(hs + have, p + off + 5, rl);
		have += rl;
		off += 5 + rl;
		if (have >= 4) {
			if (hs[0] != HS_CLIENT_HELLO)
				return -1;
			need = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
			if (need > sizeof(hs))
				return -1;
			if (have >= need)
				return hello_body(hs + 4, need - 4, sni, len);
		}
	}
	if (n >= 1 && p[0] != REC_HANDSHAKE)
		return -1;
	return n >= GW_HELLO_MAX ? -1 : 0;
}

static SSL_CTX *load(const char *crt, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static bool same(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* The context for name's files, loaded or reloaded when they changed. */
static SSL_CTX *cert_ctx(struct gw_tls *t, const char *name)
{
	char crt[4400], key[4400];
	struct stat sc, sk;
	struct cert *c = NULL, *nc;
	uint64_t now = clock_mono_ns();
	SSL_CTX *ctx;
	size_t i;

	if (!t->dir[0] || !*name || strchr(name, '/') || name[0] == '.')
		return NULL;
	for (i = 0; i < t->n; ++i)
		if (!strcasecmp(t->certs[i].name, name)) {
			c = &t->certs[i];
			break;
		}
	if (c && now - c->checked < RECHECK_NS)
		return c->ctx;
	if (!c) {
		nc = realloc(t->certs, (t->n + 1) * sizeof(*nc));
		if (!nc)
			return NULL;
		t->certs = nc;
		c = &t->certs[t->n++];
		memset(c, 0, sizeof(*c));
		snprintf(c->name, sizeof(c->name), "%s", name);
	}
	c->checked = now;
	snprintf(crt, sizeof(crt), "%s/%s.crt", t->dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", t->dir, name);
	if (stat(crt, &sc) || stat(key, &sk)) {
		if (c->ctx)
			SSL_CTX_free(c->ctx);
		c->ctx = NULL;
		return NULL;
	}
	if (c->ctx && same(sc.st_mtim, c->crt_mtime) && same(sk.st_mtim, c->key_mtime))
		return c->ctx;
	ctx = load(crt, key);
	if (!ctx) {
		/* A pair being rewritten, or broken: keep serving the last
		 * good one, and say so. */
		fprintf(stderr, "spokewire gateway: %s: the certificate or key cannot be used%s\n",
			crt, c->ctx ? "; still serving the previous one" : "");
		return c->ctx;
	}
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	c->ctx = ctx;
	c->crt_mtime = sc.st_mtim;
	c->key_mtime = sk.st_mtim;
	return ctx;
}

int gw_tls_start(struct gateway *g, const char *dir)
{
	struct gw_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	snprintf(t->dir, sizeof(t->dir), "%s", dir ? dir : "");
	g->tls = t;
	return 0;
}

void gw_tls_stop(struct gateway *g)
{
	struct gw_tls *t = g->tls;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; ++i)
		if (t->certs[i].ctx)
			SSL_CTX_free(t->certs[i].ctx);
	if (t->client)
		SSL_CTX_free(t->client);
	free(t->certs);
	free(t);
	g->tls = NULL;
}

struct ssl_ctx_st *gw_tls_client_ctx(struct gateway *g)
{
	struct gw_tls *t = g->tls;

	if (t && !t->client) {
		t->client = SSL_CTX_new(TLS_client_method());
		if (t->client)
			SSL_CTX_set_min_proto_version(t->client, TLS1_2_VERSION);
	}
	return t ? t->client : NULL;
}

int gw_tls_hello(struct hconn *h)
{
	struct gateway *g = gw_http_gateway(h);
	char sni[GW_HOST_MAX + 1];
	struct gw_route *r;
	SSL_CTX *ctx = NULL;
	size_t n;
	const char *d = gw_http_cin(h, &n);
	int ret = gw_hello_sni((const uint8_t *)d, n, sni, sizeof(sni));

	if (ret <= 0)
		return ret;
	r = gw_route_find(g, sni, strlen(sni));
	if (r && r->tls == GW_TLS_PASSTHROUGH)
		return gw_http_hello_done(h, NULL, r) ? -1 : 0;
	if (g->tls) {
		ctx = cert_ctx(g->tls, sni);
		if (!ctx && r)
			ctx = cert_ctx(g->tls, r->hostname); /* *.example.com */
		if (!ctx)
			ctx = cert_ctx(g->tls, "default");
	}
	if (!ctx)
		return -1; /* no certificate for it: the client sees a close */
	return gw_http_hello_done(h, ctx, NULL) ? -1 : 0;
}

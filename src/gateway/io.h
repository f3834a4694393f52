/* The gateway's byte plumbing: a growing output buffer, and one side of a
 * proxied connection (a socket, with TLS through memory BIOs when it is
 * terminated here or spoken to an https:// target). */
#ifndef SPOKEWIRE_GATEWAY_IO_H
#define SPOKEWIRE_GATEWAY_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct gw_buf {
	char *p;
	size_t off, len, cap; /* the bytes are p[off .. off + len) */
};

/* 0, or -ENOMEM (and nothing added). */
int gw_buf_add(struct gw_buf *b, const void *d, size_t n);
int gw_buf_printf(struct gw_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void gw_buf_drop(struct gw_buf *b, size_t n); /* n bytes from the front */
void gw_buf_free(struct gw_buf *b);

struct ssl_st;
struct ssl_ctx_st;
struct bio_st;

struct gw_io {
	int fd;                   /* -1: none */
	struct ssl_st *ssl;       /* NULL: plain */
	struct bio_st *rbio, *wbio;
	struct gw_buf tls_out;    /* ciphertext not yet sent */
	bool tls_eof;             /* the socket said EOF under TLS */
	bool wants_read;          /* TLS can write only after it reads */
};

/* TLS on io from here on: as a server with ctx (the bytes already read,
 * e.g. a ClientHello, in pre/n), or as a client sending sni. 0 or -errno. */
int gw_io_tls_server(struct gw_io *io, struct ssl_ctx_st *ctx,
		     const void *pre, size_t n);
int gw_io_tls_client(struct gw_io *io, struct ssl_ctx_st *ctx,
		     const char *sni);
/* > 0: bytes; 0: end of stream; -EAGAIN; -errno (-EPROTO: TLS failed). */
ssize_t gw_io_recv(struct gw_io *io, void *buf, size_t n);
/* Bytes taken (>= 0), -EAGAIN or -errno. */
ssize_t gw_io_send(struct gw_io *io, const void *buf, size_t n);
/* TLS output still to go to the socket (wait for LOOP_WRITE). */
bool gw_io_pending(const struct gw_io *io);
/* Sends pending TLS output; 0, -EAGAIN or -errno. */
int gw_io_flush(struct gw_io *io);
/* Frees TLS state; the fd is the caller's. */
void gw_io_tls_free(struct gw_io *io);

/* A non-blocking connect to ss: the fd (connecting), or -errno. */
int gw_connect(const struct sockaddr_storage *ss);
/* "1.2.3.4" or "2001:db8::1" (a v4-mapped address as v4). */
void gw_addr_str(const struct sockaddr_storage *ss, char *s, size_t len);

#endif

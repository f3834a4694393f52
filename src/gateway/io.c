/* Buffers and connection sides for the gateway's proxy (see io.h). TLS
 * runs over memory BIOs: the socket is ours, so bytes read before TLS
 * began (a ClientHello peeked for its SNI) are simply handed in first. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/io.h"

enum { TLS_CHUNK = 16 << 10 };

int gw_buf_add(struct gw_buf *b, const void *d, size_t n)
{
	if (!n)
		return 0;
	if (b->off + b->len + n > b->cap) {
		if (b->off) {
			memmove(b->p, b->p + b->off, b->len);
			b->off = 0;
		}
		if (b->len + n > b->cap) {
			size_t cap = b->cap ? b->cap : 4096;
			char *p;

			while (cap < b->len + n)
				cap *= 2;
			p = realloc(b->p, cap);
			if (!p)
				return -ENOMEM;
			b->p = p;
			b->cap = cap;
		}
	}
	memcpy(b->p + b->off + b->len, d, n);
	b->len += n;
	return 0;
}

int gw_buf_printf(struct gw_buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	return gw_buf_add(b, tmp, (size_t)n);
}

void gw_buf_drop(struct gw_buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
}

void gw_buf_free(struct gw_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int tls_begin(struct gw_io *io, struct ssl_ctx_st *ctx)
{
	io->ssl = SSL_new(ctx);
	io->rbio = BIO_new(BIO_s_mem());
	io->wbio = BIO_new(BIO_s_mem());
	if (!io->ssl || !io->rbio || !io->wbio) {
		BIO_free(io->rbio);
		BIO_free(io->wbio);
		SSL_free(io->ssl);
		io->ssl = NULL;
		io->rbio = io->wbio = NULL;
		return -ENOMEM;
	}
	SSL_set_bio(io->ssl, io->rbio, io->wbio); /* the SSL owns them now */
	return 0;
}

int gw_io_tls_server(struct gw_io *io, struct ssl_ctx_st *ctx,
		     const void *pre, size_t n)
{
	int ret = tls_begin(io, ctx);

	if (ret)
		return ret;
	SSL_set_accept_state(io->ssl);
	if (n && BIO_write(io->rbio, pre, (int)n) != (int)n)
		return -ENOMEM;
	return 0;
}

int gw_io_tls_client(struct gw_io *io, struct ssl_ctx_st *ctx, const char *sni)
{
	int ret = tls_begin(io, ctx);

	if (ret)
		return ret;
	SSL_set_connect_state(io->ssl);
	if (sni && *sni)
		SSL_set_tlsext_host_name(io->ssl, sni);
	return 0;
}

void gw_io_tls_free(struct gw_io *io)
{
	if (io->ssl)
		SSL_free(io->ssl);
	io->ssl = NULL;
	io->rbio = io->wbio = NULL;
	gw_buf_free(&io->tls_out);
}

/* Moves what TLS wrote into tls_out, then as much as the socket takes. */
int gw_io_flush(struct gw_io *io)
{
	char tmp[TLS_CHUNK];
	ssize_t n;
	int r;

	if (!io->ssl)
		return 0;
	while ((r = BIO_read(io->wbio, tmp, sizeof(tmp))) > 0)
		if (gw_buf_add(&io->tls_out, tmp, (size_t)r))
			return -ENOMEM;
	while (io->tls_out.len) {
		n = send(io->fd, io->tls_out.p + io->tls_out.off,
			 io->tls_out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		gw_buf_drop(&io->tls_out, (size_t)n);
	}
	return 0;
}

bool gw_io_pending(const struct gw_io *io)
{
	return io->ssl && (io->tls_out.len || BIO_ctrl_pending(io->wbio));
}

/* Feeds TLS what the socket has: > 0, 0 at EOF, or -errno. */
static ssize_t tls_fill(struct gw_io *io)
{
	char tmp[TLS_CHUNK];
	ssize_t n = recv(io->fd, tmp, sizeof(tmp), MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	if (n == 0) {
		io->tls_eof = true;
		return 0;
	}
	if (BIO_write(io->rbio, tmp, (int)n) != (int)n)
		return -ENOMEM;
	return n;
}

ssize_t gw_io_recv(struct gw_io *io, void *buf, size_t n)
{
	ssize_t got;
	int r, e;

	if (!io->ssl) {
		got = recv(io->fd, buf, n, MSG_DONTWAIT);
		return got < 0 ? -errno : got;
	}
	for (;;) {
		ERR_clear_error();
		r = SSL_read(io->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
		e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(io->ssl, r);
		/* A handshake writes as it reads. */
		if (gw_io_flush(io) == -ENOMEM)
			return -ENOMEM;
		if (r > 0 || SSL_is_init_finished(io->ssl))
			io->wants_read = false;
		if (r > 0)
			return r;
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e != SSL_ERROR_WANT_READ)
			return -EPROTO;
		if (io->tls_eof)
			return 0;
		got = tls_fill(io);
		if (got <= 0)
			return got == 0 ? 0 : got;
	}
}

ssize_t gw_io_send(struct gw_io *io, const void *buf, size_t n)
{
	ssize_t sent;
	int r, e, f;

	if (!io->ssl) {
		sent = send(io->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		return sent < 0 ? -errno : sent;
	}
	/* Ciphertext the socket has not taken yet stands for a full socket. */
	f = gw_io_flush(io);
	if (f < 0 && f != -EAGAIN)
		return f;
	if (io->tls_out.len >= TLS_CHUNK * 4)
		return -EAGAIN;
	if (n > TLS_CHUNK)
		n = TLS_CHUNK;
	ERR_clear_error();
	r = SSL_write(io->ssl, buf, (int)n);
	e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(io->ssl, r);
	f = gw_io_flush(io);
	if (f < 0 && f != -EAGAIN)
		return f;
	if (r > 0) {
		io->wants_read = false;
		return r;
	}
	if (e == SSL_ERROR_WANT_READ) {
		/* Still in the handshake: take in what the peer sent, and
		 * wait for it to be readable, not writable. */
		ssize_t got = tls_fill(io);

		io->wants_read = got <= 0;
		return got < 0 && got != -EAGAIN ? got : -EAGAIN;
	}
	return e == SSL_ERROR_WANT_WRITE ? -EAGAIN : -EPROTO;
}

int gw_connect(const struct sockaddr_storage *ss)
{
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)ss,
		    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					      : sizeof(struct sockaddr_in)) < 0 &&
	    errno != EINPROGRESS) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

void gw_addr_str(const struct sockaddr_storage *ss, char *s, size_t len)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;

	if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
		inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], s, (socklen_t)len);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &a6->sin6_addr, s, (socklen_t)len);
	else if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &a4->sin_addr, s, (socklen_t)len);
	else
		snprintf(s, len, "-");
}

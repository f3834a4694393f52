/* libssl, opened when the gateway first speaks TLS (libcrypto, which it
 * builds on, is linked: the data plane uses it). */
#include <openssl/ssl.h>

#include "lazy/lazy.h"

static struct lazy_lib lib = { "libssl.so.3", "libssl3", NULL };

LAZY_FN(lib, const SSL_METHOD *, TLS_server_method, (void), ())
LAZY_FN(lib, const SSL_METHOD *, TLS_client_method, (void), ())
LAZY_FN(lib, SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *m), (m))
LAZY_VOID(lib, SSL_CTX_free, (SSL_CTX *c), (c))
LAZY_FN(lib, long, SSL_CTX_ctrl, (SSL_CTX *c, int cmd, long l, void *p),
	(c, cmd, l, p))
LAZY_FN(lib, int, SSL_CTX_use_certificate_chain_file,
	(SSL_CTX *c, const char *f), (c, f))
LAZY_FN(lib, int, SSL_CTX_use_PrivateKey_file,
	(SSL_CTX *c, const char *f, int type), (c, f, type))
LAZY_FN(lib, int, SSL_CTX_check_private_key, (const SSL_CTX *c), (c))
LAZY_FN(lib, SSL *, SSL_new, (SSL_CTX *c), (c))
LAZY_VOID(lib, SSL_free, (SSL *s), (s))
LAZY_VOID(lib, SSL_set_bio, (SSL *s, BIO *r, BIO *w), (s, r, w))
LAZY_VOID(lib, SSL_set_accept_state, (SSL *s), (s))
LAZY_VOID(lib, SSL_set_connect_state, (SSL *s), (s))
LAZY_FN(lib, int, SSL_read, (SSL *s, void *b, int n), (s, b, n))
LAZY_FN(lib, int, SSL_write, (SSL *s, const void *b, int n), (s, b, n))
LAZY_FN(lib, int, SSL_get_error, (const SSL *s, int r), (s, r))
LAZY_FN(lib, long, SSL_ctrl, (SSL *s, int cmd, long l, void *p), (s, cmd, l, p))
LAZY_FN(lib, int, SSL_is_init_finished, (const SSL *s), (s))

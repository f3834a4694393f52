/* libFuzzer target for the UAPI set parser: anything it accepts must
 * format as a get reply that parses back to the same configuration. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "uapi/uapi.h"

/* Drops the lines only a get reply has, so it parses as a set body. */
static size_t strip_get_only(char *text, size_t len)
{
	static const char *const get_only[] = {
		"last_handshake_time_sec=", "last_handshake_time_nsec=",
		"tx_bytes=", "rx_bytes=",
	};
	size_t in = 0, out = 0, i;

	while (in < len) {
		char *nl = memchr(text + in, '\n', len - in);
		size_t line = nl ? (size_t)(nl - (text + in)) + 1 : len - in;
		int keep = 1;

		for (i = 0; i < sizeof(get_only) / sizeof(get_only[0]); ++i)
			if (!strncmp(text + in, get_only[i],
				     strlen(get_only[i])))
				keep = 0;
		if (keep) {
			memmove(text + out, text + in, line);
			out += line;
		}
		in += line;
	}
	return out;
}

static int same_endpoint(const union uapi_endpoint *a,
			 const union uapi_endpoint *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port &&
		       a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	return a->in6.sin6_port == b->in6.sin6_port &&
	       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
	       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16);
}

static void check_same(const struct uapi_config *a,
		       const struct uapi_config *b)
{
	static const uint8_t zero[KEY_LEN];
	size_t i, j;

	if (a->has_private_key && memcmp(a->private_key, zero, KEY_LEN)) {
		if (!b->has_private_key ||
		    memcmp(a->private_key, b->private_key, KEY_LEN))
			abort();
	} else if (b->has_private_key) {
		abort();
	}
	if ((a->has_listen_port && a->listen_port) !=
		    (b->has_listen_port && b->listen_port) ||
	    (b->has_listen_port && a->listen_port != b->listen_port))
		abort();
	if ((a->has_fwmark && a->fwmark) != (b->has_fwmark && b->fwmark) ||
	    (b->has_fwmark && a->fwmark != b->fwmark))
		abort();
	if (b->replace_peers || a->n_peers != b->n_peers)
		abort();
	for (i = 0; i < a->n_peers; ++i) {
		const struct uapi_peer *p = &a->peers[i], *q = &b->peers[i];

		if (memcmp(p->public_key, q->public_key, KEY_LEN))
			abort();
		if (!q->has_preshared_key ||
		    memcmp(p->has_preshared_key ? p->preshared_key : zero,
			   q->preshared_key, KEY_LEN))
			abort();
		if (p->has_endpoint != q->has_endpoint ||
		    (p->has_endpoint &&
		     !same_endpoint(&p->endpoint, &q->endpoint)))
			abort();
		if (!q->has_persistent_keepalive ||
		    p->persistent_keepalive_interval !=
			    q->persistent_keepalive_interval)
			abort();
		if (q->remove || q->update_only || q->replace_allowed_ips ||
		    p->n_allowedips != q->n_allowedips)
			abort();
		for (j = 0; j < p->n_allowedips; ++j) {
			const struct uapi_allowedip *x = &p->allowedips[j];
			const struct uapi_allowedip *y = &q->allowedips[j];

			if (x->family != y->family || x->cidr != y->cidr ||
			    x->remove != y->remove ||
			    memcmp(&x->ip6, &y->ip6,
				   x->family == AF_INET ? 4 : 16))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct uapi_config cfg, back;
	size_t len;
	char *text;

	if (!init) {
		if (crypto_init())
			abort();
		init = 1;
	}
	if (uapi_parse_set((const char *)data, size, &cfg)) {
		/* Freed and zeroed on error. */
		if (cfg.peers || cfg.n_peers || cfg.has_private_key)
			abort();
		return 0;
	}
	text = uapi_format_get(&cfg, &len);
	if (!text)
		abort();
	if (strlen(text) != len)
		abort();
	len = strip_get_only(text, len);
	if (uapi_parse_set(text, len, &back))
		abort();
	check_same(&cfg, &back);
	free(text);
	uapi_config_free(&back);
	uapi_config_free(&cfg);
	return 0;
}

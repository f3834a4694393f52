/* The UAPI text protocol: "set=1" bodies parsed into a whole struct
 * uapi_config before anything is applied, and "get=1" replies formatted from
 * one. Accepts and rejects exactly what wireguard-go's device/uapi.go does,
 * with the same errno for the same input. */
#include "uapi/uapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	/* Longest endpoint or prefix text worth looking at; anything longer is
	 * not an address. */
	ADDR_TEXT_MAX = INET6_ADDRSTRLEN + IF_NAMESIZE + 16,
	INITIAL_PEERS = 8,
	INITIAL_ALLOWEDIPS = 4,
};

/* Grows *arr (of elem-sized items) so that one more fits; doubling keeps a
 * 1,000-peer config linear. 0 or -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem,
		size_t initial)
{
	size_t new_cap;
	void *p;

	if (n < *cap)
		return 0;
	new_cap = *cap ? *cap * 2 : initial;
	if (new_cap < *cap || new_cap > SIZE_MAX / elem)
		return -ENOMEM;
	p = realloc(*arr, new_cap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = new_cap;
	return 0;
}

struct uapi_peer *uapi_config_add_peer(struct uapi_config *cfg)
{
	struct uapi_peer *peer;

	if (grow((void **)&cfg->peers, &cfg->cap_peers, cfg->n_peers,
		 sizeof(*cfg->peers), INITIAL_PEERS))
		return NULL;
	peer = &cfg->peers[cfg->n_peers++];
	memset(peer, 0, sizeof(*peer));
	return peer;
}

int uapi_peer_add_allowedip(struct uapi_peer *peer,
			    const struct uapi_allowedip *aip)
{
	int ret;

	ret = grow((void **)&peer->allowedips, &peer->cap_allowedips,
		   peer->n_allowedips, sizeof(*peer->allowedips),
		   INITIAL_ALLOWEDIPS);
	if (ret)
		return ret;
	peer->allowedips[peer->n_allowedips++] = *aip;
	return 0;
}

void uapi_config_free(struct uapi_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_peers; ++i)
		free(cfg->peers[i].allowedips);
	if (cfg->peers)
		memzero(cfg->peers, cfg->cap_peers * sizeof(*cfg->peers));
	free(cfg->peers);
	memzero(cfg, sizeof(*cfg));
}

/* Value parsers. Each takes the raw (not NUL-terminated) value, which may
 * hold any byte, and returns 0 or -EINVAL. */

/* strconv.ParseUint(s, 10, bits): digits only, leading zeros allowed. */
static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (!len)
		return -EINVAL;
	for (i = 0; i < len; ++i) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (n > (max - d) / 10)
			return -EINVAL;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/* Exactly 64 hex digits (either case, as Go's hex.DecodeString takes). */
static int parse_key(const char *s, size_t len, uint8_t key[KEY_LEN])
{
	char buf[KEY_HEX_LEN + 1];
	int ret = 0;

	if (len != KEY_HEX_LEN)
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!key_from_hex(key, buf))
		ret = -EINVAL;
	memzero(buf, sizeof(buf));
	return ret;
}

static bool is_value(const char *s, size_t len, const char *want)
{
	return len == strlen(want) && !memcmp(s, want, len);
}

/* Copies a value into a C string for inet_pton; rejects embedded NULs. */
static int to_cstr(char *buf, size_t size, const char *s, size_t len)
{
	if (len >= size || memchr(s, '\0', len))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

/* An IPv6 zone: a decimal index or an interface name. */
static int parse_zone(const char *zone, uint32_t *scope_id)
{
	uint64_t n;
	unsigned idx;

	if (!*zone)
		return -EINVAL;
	if (!parse_uint(zone, strlen(zone), UINT32_MAX, &n)) {
		*scope_id = (uint32_t)n;
		return 0;
	}
	if (strlen(zone) >= IF_NAMESIZE)
		return -EINVAL;
	idx = if_nametoindex(zone);
	if (!idx)
		return -EINVAL;
	*scope_id = idx;
	return 0;
}

/* netip.ParseAddrPort: "a.b.c.d:port" or "[v6%zone]:port", numeric only. */
static int parse_endpoint(const char *s, size_t len, union uapi_endpoint *ep)
{
	char buf[ADDR_TEXT_MAX];
	char *host, *colon, *zone;
	uint64_t port;
	size_t host_len;

	if (to_cstr(buf, sizeof(buf), s, len))
		return -EINVAL;
	colon = strrchr(buf, ':');
	if (!colon || colon == buf)
		return -EINVAL;
	*colon = '\0';
	if (parse_uint(colon + 1, strlen(colon + 1), UINT16_MAX, &port))
		return -EINVAL;
	host = buf;
	host_len = (size_t)(colon - buf);
	memset(ep, 0, sizeof(*ep));
	if (host[0] != '[') {
		/* Unbracketed must be IPv4 (Go: "IPv6 addresses must be
		 * surrounded by square brackets"). */
		if (inet_pton(AF_INET, host, &ep->in4.sin_addr) != 1)
			return -EINVAL;
		ep->in4.sin_family = AF_INET;
		ep->in4.sin_port = htons((uint16_t)port);
		return 0;
	}
	if (host_len < 2 || host[host_len - 1] != ']')
		return -EINVAL;
	host[host_len - 1] = '\0';
	host++;
	zone = strchr(host, '%');
	if (zone) {
		*zone++ = '\0';
		if (parse_zone(zone, &ep->in6.sin6_scope_id))
			return -EINVAL;
	}
	if (inet_pton(AF_INET6, host, &ep->in6.sin6_addr) != 1)
		return -EINVAL;
	ep->in6.sin6_family = AF_INET6;
	ep->in6.sin6_port = htons((uint16_t)port);
	return 0;
}

/* netip.ParsePrefix, plus the "-" removal prefix of newer tools. Host bits
 * are kept as sent; the allowed-IPs table masks them. */
static int parse_allowedip(const char *s, size_t len,
			   struct uapi_allowedip *aip)
{
	char buf[ADDR_TEXT_MAX];
	char *slash, *bits;
	uint64_t cidr;
	size_t bits_len;

	memset(aip, 0, sizeof(*aip));
	if (len && s[0] == '-') {
		aip->remove = true;
		s++;
		len--;
	}
	if (to_cstr(buf, sizeof(buf), s, len))
		return -EINVAL;
	slash = strrchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	bits = slash + 1;
	bits_len = strlen(bits);
	/* Go refuses signs and leading zeros here. */
	if (bits_len > 1 && (bits[0] < '1' || bits[0] > '9'))
		return -EINVAL;
	if (strchr(buf, ':')) {
		if (inet_pton(AF_INET6, buf, &aip->ip6) != 1)
			return -EINVAL;
		aip->family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, buf, &aip->ip4) != 1)
			return -EINVAL;
		aip->family = AF_INET;
	}
	if (parse_uint(bits, bits_len, aip->family == AF_INET ? 32 : 128,
		       &cidr))
		return -EINVAL;
	aip->cidr = (uint8_t)cidr;
	return 0;
}

/* The set being parsed. A "public_key=" line opens a section; the section
 * can span several entries (see replace_allowed_ips) that the daemon applies
 * in order, which keeps wireguard-go's line-by-line semantics. */
struct parser {
	struct uapi_config *cfg;
	bool in_peer;
	bool removed;	/* "remove=true" seen: the rest of the section is inert */
	size_t section; /* first entry of the current section */
};

static struct uapi_peer *cur_peer(struct parser *p)
{
	return &p->cfg->peers[p->cfg->n_peers - 1];
}

static int device_line(struct parser *p, const char *key, size_t klen,
		       const char *val, size_t vlen)
{
	struct uapi_config *cfg = p->cfg;
	uint64_t n;

	if (is_value(key, klen, "private_key")) {
		if (parse_key(val, vlen, cfg->private_key))
			return -EINVAL;
		/* FromMaybeZeroHex: clamp unless it is the zero key. */
		if (!crypto_is_zero(cfg->private_key, KEY_LEN)) {
			cfg->private_key[0] &= 248;
			cfg->private_key[31] = (cfg->private_key[31] & 127) | 64;
		}
		cfg->has_private_key = true;
	} else if (is_value(key, klen, "listen_port")) {
		if (parse_uint(val, vlen, UINT16_MAX, &n))
			return -EINVAL;
		cfg->listen_port = (uint16_t)n;
		cfg->has_listen_port = true;
	} else if (is_value(key, klen, "fwmark")) {
		if (parse_uint(val, vlen, UINT32_MAX, &n))
			return -EINVAL;
		cfg->fwmark = (uint32_t)n;
		cfg->has_fwmark = true;
	} else if (is_value(key, klen, "replace_peers")) {
		if (!is_value(val, vlen, "true"))
			return -EINVAL;
		cfg->replace_peers = true;
	} else {
		/* Includes peer keys before any public_key. */
		return -EINVAL;
	}
	return 0;
}

static int public_key_line(struct parser *p, const char *val, size_t vlen)
{
	uint8_t key[KEY_LEN];
	struct uapi_peer *peer;

	if (parse_key(val, vlen, key))
		return -EINVAL;
	peer = uapi_config_add_peer(p->cfg);
	if (!peer) {
		memzero(key, sizeof(key));
		return -ENOMEM;
	}
	memcpy(peer->public_key, key, KEY_LEN);
	memzero(key, sizeof(key));
	p->in_peer = true;
	p->removed = false;
	p->section = p->cfg->n_peers - 1;
	return 0;
}

/* wireguard-go removes allowed IPs at the replace_allowed_ips line, so any
 * added before it in the same section are applied first, in an entry of
 * their own. */
static int replace_allowed_ips(struct parser *p)
{
	struct uapi_peer *peer = cur_peer(p), *next;
	uint8_t key[KEY_LEN];
	bool update_only;

	if (!peer->n_allowedips) {
		peer->replace_allowed_ips = true;
		return 0;
	}
	memcpy(key, peer->public_key, KEY_LEN);
	update_only = peer->update_only;
	next = uapi_config_add_peer(p->cfg);
	if (!next)
		return -ENOMEM;
	memcpy(next->public_key, key, KEY_LEN);
	next->update_only = update_only;
	next->replace_allowed_ips = true;
	return 0;
}

static int peer_line(struct parser *p, const char *key, size_t klen,
		     const char *val, size_t vlen)
{
	struct uapi_peer *peer = cur_peer(p);
	struct uapi_allowedip aip;
	union uapi_endpoint ep;
	uint8_t psk[KEY_LEN];
	uint64_t n;
	size_t i;

	if (is_value(key, klen, "update_only")) {
		if (!is_value(val, vlen, "true"))
			return -EINVAL;
		/* Retroactive in wireguard-go: a peer the section created is
		 * deleted again, so the whole section is update-only. */
		for (i = p->section; i < p->cfg->n_peers; ++i)
			p->cfg->peers[i].update_only = true;
	} else if (is_value(key, klen, "remove")) {
		if (!is_value(val, vlen, "true"))
			return -EINVAL;
		peer->remove = true;
		p->removed = true;
	} else if (is_value(key, klen, "preshared_key")) {
		if (parse_key(val, vlen, psk))
			return -EINVAL;
		if (!p->removed) {
			memcpy(peer->preshared_key, psk, KEY_LEN);
			peer->has_preshared_key = true;
		}
		memzero(psk, sizeof(psk));
	} else if (is_value(key, klen, "endpoint")) {
		if (parse_endpoint(val, vlen, &ep))
			return -EINVAL;
		if (!p->removed) {
			peer->endpoint = ep;
			peer->has_endpoint = true;
		}
	} else if (is_value(key, klen, "persistent_keepalive_interval")) {
		if (parse_uint(val, vlen, UINT16_MAX, &n))
			return -EINVAL;
		if (!p->removed) {
			peer->persistent_keepalive_interval = (uint16_t)n;
			peer->has_persistent_keepalive = true;
		}
	} else if (is_value(key, klen, "replace_allowed_ips")) {
		if (!is_value(val, vlen, "true"))
			return -EINVAL;
		if (!p->removed)
			return replace_allowed_ips(p);
	} else if (is_value(key, klen, "allowed_ip")) {
		if (parse_allowedip(val, vlen, &aip))
			return -EINVAL;
		if (!p->removed)
			return uapi_peer_add_allowedip(peer, &aip);
	} else if (is_value(key, klen, "protocol_version")) {
		if (!is_value(val, vlen, "1"))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	return 0;
}

static int parse_line(struct parser *p, const char *line, size_t len)
{
	const char *eq = memchr(line, '=', len);
	size_t klen;

	if (!eq)
		return -EPROTO;
	klen = (size_t)(eq - line);
	if (is_value(line, klen, "public_key"))
		return public_key_line(p, eq + 1, len - klen - 1);
	if (p->in_peer)
		return peer_line(p, line, klen, eq + 1, len - klen - 1);
	return device_line(p, line, klen, eq + 1, len - klen - 1);
}

int uapi_parse_set(const char *text, size_t len, struct uapi_config *out)
{
	struct parser p = { .cfg = out };
	size_t pos = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - line) : len - pos;

		pos += line_len + (nl ? 1 : 0);
		/* bufio.ScanLines drops a trailing CR. */
		if (line_len && line[line_len - 1] == '\r')
			line_len--;
		/* A blank line ends the operation. */
		if (!line_len)
			break;
		ret = parse_line(&p, line, line_len);
		if (ret)
			break;
	}
	if (ret)
		uapi_config_free(out);
	return ret;
}

/* A growing output buffer that wipes what it leaves behind (it holds keys). */
struct outbuf {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void out_reserve(struct outbuf *o, size_t more)
{
	size_t cap = o->cap ? o->cap : 4096;
	char *p;

	if (o->oom || o->len + more < o->cap)
		return;
	while (cap <= o->len + more) {
		if (cap > SIZE_MAX / 2) {
			o->oom = true;
			return;
		}
		cap *= 2;
	}
	p = malloc(cap);
	if (!p) {
		o->oom = true;
		return;
	}
	if (o->buf) {
		memcpy(p, o->buf, o->len);
		memzero(o->buf, o->cap);
		free(o->buf);
	}
	o->buf = p;
	o->cap = cap;
}

static void __attribute__((format(printf, 2, 3)))
out_printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->oom = true;
		return;
	}
	out_reserve(o, (size_t)n + 1);
	if (o->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

static void out_key(struct outbuf *o, const char *name,
		    const uint8_t key[KEY_LEN])
{
	char hex[KEY_HEX_LEN + 1];

	key_to_hex(hex, key);
	out_printf(o, "%s=%s\n", name, hex);
	memzero(hex, sizeof(hex));
}

static void out_endpoint(struct outbuf *o, const union uapi_endpoint *ep)
{
	char ip[INET6_ADDRSTRLEN], zone[IF_NAMESIZE + 12] = "";
	char ifname[IF_NAMESIZE];

	if (ep->sa.sa_family == AF_INET) {
		if (!inet_ntop(AF_INET, &ep->in4.sin_addr, ip, sizeof(ip)))
			return;
		out_printf(o, "endpoint=%s:%u\n", ip, ntohs(ep->in4.sin_port));
	} else if (ep->sa.sa_family == AF_INET6) {
		if (!inet_ntop(AF_INET6, &ep->in6.sin6_addr, ip, sizeof(ip)))
			return;
		if (ep->in6.sin6_scope_id) {
			if (if_indextoname(ep->in6.sin6_scope_id, ifname))
				snprintf(zone, sizeof(zone), "%%%s", ifname);
			else
				snprintf(zone, sizeof(zone), "%%%u",
					 ep->in6.sin6_scope_id);
		}
		out_printf(o, "endpoint=[%s%s]:%u\n", ip, zone,
			   ntohs(ep->in6.sin6_port));
	}
}

static void out_allowedip(struct outbuf *o, const struct uapi_allowedip *aip)
{
	char ip[INET6_ADDRSTRLEN];

	if (aip->family != AF_INET && aip->family != AF_INET6)
		return;
	if (!inet_ntop(aip->family, &aip->ip6, ip, sizeof(ip)))
		return;
	out_printf(o, "allowed_ip=%s%s/%u\n", aip->remove ? "-" : "", ip,
		   aip->cidr);
}

char *uapi_format_get(const struct uapi_config *cfg, size_t *len)
{
	struct outbuf o = { 0 };
	size_t i, j;

	/* Same keys, same order as wireguard-go's IpcGetOperation. */
	out_reserve(&o, 256 + cfg->n_peers * 512);
	if (o.buf)
		o.buf[0] = '\0';
	if (cfg->has_private_key && !crypto_is_zero(cfg->private_key, KEY_LEN))
		out_key(&o, "private_key", cfg->private_key);
	if (cfg->has_listen_port && cfg->listen_port)
		out_printf(&o, "listen_port=%u\n", cfg->listen_port);
	if (cfg->has_fwmark && cfg->fwmark)
		out_printf(&o, "fwmark=%u\n", cfg->fwmark);
	for (i = 0; i < cfg->n_peers; ++i) {
		const struct uapi_peer *peer = &cfg->peers[i];

		out_key(&o, "public_key", peer->public_key);
		out_key(&o, "preshared_key", peer->preshared_key);
		out_printf(&o, "protocol_version=1\n");
		if (peer->has_endpoint)
			out_endpoint(&o, &peer->endpoint);
		out_printf(&o, "last_handshake_time_sec=%llu\n",
			   (unsigned long long)peer->last_handshake_sec);
		out_printf(&o, "last_handshake_time_nsec=%llu\n",
			   (unsigned long long)peer->last_handshake_nsec);
		out_printf(&o, "tx_bytes=%llu\n",
			   (unsigned long long)peer->tx_bytes);
		out_printf(&o, "rx_bytes=%llu\n",
			   (unsigned long long)peer->rx_bytes);
		out_printf(&o, "persistent_keepalive_interval=%u\n",
			   peer->persistent_keepalive_interval);
		for (j = 0; j < peer->n_allowedips; ++j)
			out_allowedip(&o, &peer->allowedips[j]);
	}
	if (o.oom) {
		if (o.buf) {
			memzero(o.buf, o.cap);
			free(o.buf);
		}
		return NULL;
	}
	if (len)
		*len = o.len;
	return o.buf;
}

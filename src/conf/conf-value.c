/* Config values: numbers, IP addresses, prefixes, host:port endpoints,
 * and matching addresses against prefix lists. */
#include "conf/conf-value.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_base(const char *s, int base, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isxdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Decimal, leading zeros included (a port "05432" is 5432, as wg(8) and
 * getaddrinfo read it, not octal). */
int conf_parse_u32(const char *s, uint64_t max, uint64_t *out)
{
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	return parse_base(s, 10, max, out);
}

/* wg(8)'s fwmark: hexadecimal after 0x, else decimal. */
int conf_parse_mark(const char *s, uint32_t *out)
{
	uint64_t v;
	int ret;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		ret = parse_base(s, 16, UINT32_MAX, &v);
	else
		ret = conf_parse_u32(s, UINT32_MAX, &v);
	if (!ret)
		*out = (uint32_t)v;
	return ret;
}

int conf_parse_ip(const char *s, uint8_t *family, uint8_t ip[16])
{
	memset(ip, 0, 16);
	if (inet_pton(AF_INET, s, ip) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int conf_parse_prefix(const char *s, struct conf_prefix *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t cidr;
	unsigned max;

	if (alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (conf_parse_ip(buf, &out->family, out->ip))
		return -EINVAL;
	max = out->family == AF_INET ? 32 : 128;
	out->has_cidr = slash != NULL;
	if (!slash) {
		out->cidr = (uint8_t)max;
		return 0;
	}
	if (conf_parse_u32(slash + 1, max, &cidr))
		return -EINVAL;
	out->cidr = (uint8_t)cidr;
	return 0;
}

static void set_addr(struct conf_hostport *hp, uint8_t family,
		     const uint8_t ip[16])
{
	memset(&hp->addr, 0, sizeof(hp->addr));
	if (family == AF_INET) {
		hp->addr.in4.sin_family = AF_INET;
		hp->addr.in4.sin_port = htons(hp->port);
		memcpy(&hp->addr.in4.sin_addr, ip, 4);
	} else {
		hp->addr.in6.sin6_family = AF_INET6;
		hp->addr.in6.sin6_port = htons(hp->port);
		memcpy(&hp->addr.in6.sin6_addr, ip, 16);
	}
	hp->resolved = true;
}

/* An IPv6 address written without brackets ("fd50::1:80"): the fix to
 * suggest when the text splits into an address and a port at its last
 * colon. */
static void why_brackets(const char *s, char *why)
{
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN];
	uint8_t family, ip[16];
	uint64_t v;
	size_t hlen = (size_t)(colon - s);

	if (hlen < sizeof(host)) {
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (!conf_parse_ip(host, &family, ip) && family == AF_INET6 &&
		    !conf_parse_u32(colon + 1, 65535, &v) && v) {
			snprintf(why, CONF_WHY_MAX,
				 "an IPv6 address needs brackets, as in [%s]:%s",
				 host, colon + 1);
			return;
		}
	}
	snprintf(why, CONF_WHY_MAX,
		 "an IPv6 address needs brackets: [ADDR]:PORT");
}

int conf_parse_hostport(const char *s, bool bare_port,
			struct conf_hostport *hp, int line, char *why)
{
	const char *colon, *host = s, *port;
	size_t hlen;
	uint64_t v;
	uint8_t family, ip[16];

	hp->line = line;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close) {
			snprintf(why, CONF_WHY_MAX, "no ']' after '['");
			return -EINVAL;
		}
		if (close[1] != ':') {
			snprintf(why, CONF_WHY_MAX, "%s after ']'",
				 close[1] ? "expected ':PORT'" : "no ':PORT'");
			return -EINVAL;
		}
		host = s + 1;
		hlen = (size_t)(close - host);
		port = close + 2;
		if (!hlen) {
			snprintf(why, CONF_WHY_MAX, "no address in '[]'");
			return -EINVAL;
		}
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			if (!bare_port) {
				snprintf(why, CONF_WHY_MAX, "no ':PORT'");
				return -EINVAL;
			}
			hlen = 0;
			port = s;
		} else {
			if (strchr(s, ':') != colon) {
				why_brackets(s, why);
				return -EINVAL;
			}
			hlen = (size_t)(colon - s);
			port = colon + 1;
		}
	}
	if (hlen >= sizeof(hp->host)) {
		snprintf(why, CONF_WHY_MAX, "host name too long");
		return -EINVAL;
	}
	if (conf_parse_u32(port, 65535, &v) || !v) {
		snprintf(why, CONF_WHY_MAX, "port '%.16s' is not 1..65535", port);
		return -EINVAL;
	}
	memcpy(hp->host, host, hlen);
	hp->host[hlen] = '\0';
	hp->port = (uint16_t)v;
	if (!hlen)
		return 0;
	if (!conf_parse_ip(hp->host, &family, ip)) {
		set_addr(hp, family, ip);
	} else if (s[0] == '[') {
		snprintf(why, CONF_WHY_MAX, "'%.64s' is not an IPv6 address%s",
			 hp->host,
			 strchr(hp->host, '%') ? " (zone indexes are not supported)"
					       : "");
		return -EINVAL;
	}
	return 0;
}

bool conf_prefix_match(const struct conf_prefix *p, size_t n, int family,
		       const void *ip)
{
	const uint8_t *a = ip;
	size_t i;

	for (i = 0; i < n; ++i, ++p) {
		unsigned bits = p->cidr, full = bits / 8, rem = bits % 8;

		if (p->family != family)
			continue;
		if (memcmp(p->ip, a, full))
			continue;
		if (rem && ((p->ip[full] ^ a[full]) & (0xff << (8 - rem))))
			continue;
		return true;
	}
	return false;
}

const char *conf_prefix_str(const struct conf_prefix *p, char *buf,
			    size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->ip, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, p->cidr);
	return buf;
}

char *conf_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int conf_split_line(char *line, char **a, char **b, char *why)
{
	char *hash = strchr(line, '#'), *eq;

	if (hash)
		*hash = '\0';
	line = conf_trim(line);
	if (!*line)
		return CONF_LINE_EMPTY;
	if (line[0] == '[') {
		size_t n = strlen(line);

		if (line[n - 1] != ']') {
			snprintf(why, CONF_WHY_MAX,
				 "malformed section header '%.100s'", line);
			return -EINVAL;
		}
		line[n - 1] = '\0';
		*a = conf_trim(line + 1);
		return CONF_LINE_SECTION;
	}
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(why, CONF_WHY_MAX, "expected KEY = VALUE, got '%.90s'",
			 line);
		return -EINVAL;
	}
	*eq = '\0';
	*a = conf_trim(line);
	*b = conf_trim(eq + 1);
	if (!**a) {
		snprintf(why, CONF_WHY_MAX, "missing key before '='");
		return -EINVAL;
	}
	return CONF_LINE_KEY;
}

int conf_verr(char *err, const char *file, int line, const char *fmt,
	      va_list ap)
{
	int n = snprintf(err, CONF_ERR_MAX, "%s:%d: ", file, line);

	if (n < 0 || n >= CONF_ERR_MAX)
		return -EINVAL;
	vsnprintf(err + n, CONF_ERR_MAX - (size_t)n, fmt, ap);
	return -EINVAL;
}

int conf_each_line(const char *file, const char *text, size_t len,
		   int *line, char *err, int (*fn)(void *ctx, char *line),
		   void *ctx)
{
	char buf[CONF_LINE_MAX + 1];
	size_t pos = 0, n;
	const char *nl;
	int ret = 0;

	while (!ret && pos < len) {
		nl = memchr(text + pos, '\n', len - pos);
		n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		++*line;
		if (n > CONF_LINE_MAX) {
			ret = -EINVAL;
			snprintf(err, CONF_ERR_MAX, "%s:%d: line longer than %d bytes",
				 file, *line, CONF_LINE_MAX);
			break;
		}
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		pos += n + 1;
		if (strlen(buf) != n) {
			ret = -EINVAL;
			snprintf(err, CONF_ERR_MAX, "%s:%d: NUL byte in line",
				 file, *line);
			break;
		}
		ret = fn(ctx, buf);
	}
	memzero(buf, sizeof(buf));
	return ret;
}

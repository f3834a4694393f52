/* The PROXY protocol header (haproxy's proxy-protocol.txt, versions 1 and
 * 2) a TCP forward sends first, so the target sees the client's address
 * instead of ours. Dual-stack listeners see IPv4 clients as ::ffff:a.b.c.d:
 * those are written as the IPv4 addresses they are. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "gateway/gateway.h"

static const uint8_t v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

enum {
	V2_PROXY = 0x21,   /* version 2, command PROXY */
	V2_TCP4 = 0x11,
	V2_TCP6 = 0x21,
	V2_UNSPEC = 0x00,
};

/* Family, address bytes and port of ss, a v4-mapped address as IPv4. */
static int unpack(const struct sockaddr_storage *ss, uint8_t addr[16],
		  uint16_t *port)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;

	if (ss->ss_family == AF_INET) {
		memcpy(addr, &a4->sin_addr, 4);
		*port = ntohs(a4->sin_port);
		return AF_INET;
	}
	if (ss->ss_family != AF_INET6)
		return 0;
	*port = ntohs(a6->sin6_port);
	if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
		memcpy(addr, &a6->sin6_addr.s6_addr[12], 4);
		return AF_INET;
	}
	memcpy(addr, &a6->sin6_addr, 16);
	return AF_INET6;
}

size_t gw_proxy_header(int version, const struct sockaddr_storage *src,
		       const struct sockaddr_storage *dst, uint8_t *out,
		       size_t len)
{
	uint8_t sa[16], da[16];
	uint16_t sp = 0, dp = 0;
	int sf = unpack(src, sa, &sp), df = unpack(dst, da, &dp);
	bool known = sf && sf == df;
	size_t alen = !known ? 0 : sf == AF_INET ? 12 : 36, n;

	if (version == 1) {
		char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
		int w;

		if (!known) {
			w = snprintf((char *)out, len, "PROXY UNKNOWN\r\n");
		} else {
			inet_ntop(sf, sa, s, sizeof(s));
			inet_ntop(df, da, d, sizeof(d));
			w = snprintf((char *)out, len, "PROXY %s %s %s %u %u\r\n",
				     sf == AF_INET ? "TCP4" : "TCP6", s, d, sp, dp);
		}
		return w < 0 || (size_t)w >= len ? 0 : (size_t)w;
	}
	n = sizeof(v2_sig) + 4 + alen;
	if (version != 2 || len < n)
		return 0;
	memcpy(out, v2_sig, sizeof(v2_sig));
	out[12] = V2_PROXY;
	out[13] = !known ? V2_UNSPEC : sf == AF_INET ? V2_TCP4 : V2_TCP6;
	out[14] = (uint8_t)(alen >> 8);
	out[15] = (uint8_t)alen;
	if (known) {
		size_t al = sf == AF_INET ? 4 : 16;
		uint8_t *p = out + 16;

		memcpy(p, sa, al);
		memcpy(p + al, da, al);
		p[2 * al] = (uint8_t)(sp >> 8);
		p[2 * al + 1] = (uint8_t)sp;
		p[2 * al + 2] = (uint8_t)(dp >> 8);
		p[2 * al + 3] = (uint8_t)dp;
	}
	return n;
}

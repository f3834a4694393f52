/* IPv6 (RFC 8200): header and extension-header walk on input, header
 * construction on output. Fragments are dropped, as for IPv4. */
#include "netstack/stack.h"

#include <netinet/in.h>
#include <string.h>

static bool addr_is_special(const uint8_t *a)
{
	static const uint8_t zero[16];

	/* Multicast, unspecified, loopback. */
	if (a[0] == 0xff)
		return true;
	if (!memcmp(a, zero, 15) && (a[15] == 0 || a[15] == 1))
		return true;
	return false;
}

int ipv6_parse(struct netstack *st, uint8_t *p, uint32_t len,
	       struct ip_info *info)
{
	uint32_t plen, off = IPV6_HDR_LEN, end;
	uint8_t nh;
	int hops = 0;

	if (len < IPV6_HDR_LEN)
		return -1;
	plen = (uint32_t)p[4] << 8 | p[5];
	end = IPV6_HDR_LEN + plen;
	if (end > len)
		return -1;
	if (addr_is_special(p + 8) || addr_is_special(p + 24))
		return -1;
	nh = p[6];
	/* Skip hop-by-hop, routing and destination options headers. */
	while (nh == 0 || nh == 43 || nh == 60) {
		uint32_t elen;

		if (off + 8 > end || ++hops > 8)
			return -1;
		elen = ((uint32_t)p[off + 1] + 1) * 8;
		if (off + elen > end)
			return -1;
		nh = p[off];
		off += elen;
	}
	if (nh == 44) /* fragment */
		return -1;
	info->family = AF_INET6;
	info->proto = nh;
	info->src = p + 8;
	info->dst = p + 24;
	info->l4 = p + off;
	info->l4len = end - off;
	info->ip = p;
	info->iplen = end;
	info->dst_ours = stack_is_ours(st, AF_INET6, p + 24);
	return 0;
}

void ipv6_build(uint8_t *h, const uint8_t *src, const uint8_t *dst,
		uint8_t proto, uint32_t l4len)
{
	h[0] = 0x60;
	h[1] = h[2] = h[3] = 0;
	h[4] = (uint8_t)(l4len >> 8);
	h[5] = (uint8_t)l4len;
	h[6] = proto;
	h[7] = IP_TTL_DEFAULT;
	memcpy(h + 8, src, 16);
	memcpy(h + 24, dst, 16);
}

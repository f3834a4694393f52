/* IPv4 (RFC 791): header validation on input, header construction on
 * output. Fragments are dropped: the tunnel MTU is known and our segments
 * and datagrams are sized to it. */
#include "netstack/stack.h"

#include <netinet/in.h>
#include <string.h>

static bool addr_is_special(const uint8_t *a)
{
	/* Multicast, broadcast, "this network", loopback. */
	return a[0] >= 224 || a[0] == 0 || a[0] == 127;
}

int ipv4_parse(struct netstack *st, uint8_t *p, uint32_t len,
	       struct ip_info *info)
{
	uint32_t hl, tot;
	uint16_t frag;

	if (len < IPV4_HDR_LEN)
		return -1;
	hl = (uint32_t)(p[0] & 0x0f) * 4;
	tot = (uint32_t)p[2] << 8 | p[3];
	if (hl < IPV4_HDR_LEN || tot < hl || tot > len)
		return -1;
	if (ns_csum_fold(ns_csum_partial(p, hl, 0)) != 0) {
		st->stats.ip_bad_csum++;
		return -1;
	}
	frag = (uint16_t)((p[6] & 0x3f) << 8 | p[7]); /* MF + offset */
	if (frag)
		return -1;
	if (addr_is_special(p + 16) || addr_is_special(p + 12))
		return -1;
	info->family = AF_INET;
	info->proto = p[9];
	info->src = p + 12;
	info->dst = p + 16;
	info->l4 = p + hl;
	info->l4len = tot - hl;
	info->ip = p;
	info->iplen = tot;
	info->dst_ours = stack_is_ours(st, AF_INET, p + 16);
	return 0;
}

void ipv4_build(struct netstack *st, uint8_t *h, const uint8_t *src,
		const uint8_t *dst, uint8_t proto, uint32_t l4len)
{
	uint32_t tot = IPV4_HDR_LEN + l4len;
	uint16_t id = st->ip_id++, sum;

	h[0] = 0x45;
	h[1] = 0;
	h[2] = (uint8_t)(tot >> 8);
	h[3] = (uint8_t)tot;
	h[4] = (uint8_t)(id >> 8);
	h[5] = (uint8_t)id;
	h[6] = 0x40; /* DF */
	h[7] = 0;
	h[8] = IP_TTL_DEFAULT;
	h[9] = proto;
	h[10] = h[11] = 0;
	memcpy(h + 12, src, 4);
	memcpy(h + 16, dst, 4);
	sum = ns_csum_fold(ns_csum_partial(h, IPV4_HDR_LEN, 0));
	memcpy(h + 10, &sum, 2);
}

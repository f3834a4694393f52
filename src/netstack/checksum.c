/* The Internet checksum (RFC 1071) and the TCP/UDP pseudo-headers of
 * RFC 9293 3.1 and RFC 8200 8.1. */
#include "netstack/stack.h"

#include <string.h>

#include "io/csum.h"

uint32_t ns_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	return csum_add(sum, buf, len);
}

uint16_t ns_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t ns_csum_pseudo(int family, const uint8_t *src, const uint8_t *dst,
		     uint8_t proto, uint32_t len)
{
	size_t alen = ip_alen(family);
	uint8_t tail[8] = { 0 };
	uint32_t sum;

	sum = ns_csum_partial(src, alen, 0);
	sum = ns_csum_partial(dst, alen, sum);
	if (family == AF_INET6) {
		tail[0] = (uint8_t)(len >> 24);
		tail[1] = (uint8_t)(len >> 16);
		tail[2] = (uint8_t)(len >> 8);
		tail[3] = (uint8_t)len;
		tail[7] = proto;
		return ns_csum_partial(tail, 8, sum);
	}
	tail[1] = proto;
	tail[2] = (uint8_t)(len >> 8);
	tail[3] = (uint8_t)len;
	return ns_csum_partial(tail, 4, sum);
}

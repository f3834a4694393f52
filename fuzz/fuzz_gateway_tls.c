/* libFuzzer target for the gateway's ClientHello reader (records joined,
 * the server_name found) and its PROXY protocol header writer (addresses
 * from the input, every family). */
#include <arpa/inet.h>
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "gateway/gateway.h"
#include "gateway/tls.h"

static void proxy(const uint8_t *d, size_t n)
{
	struct sockaddr_storage a = { 0 }, b = { 0 };
	uint8_t out[232];
	size_t len;
	int v;

	if (n < 2 + 2 * sizeof(struct sockaddr_in6))
		return;
	memcpy(&a, d + 2, sizeof(struct sockaddr_in6));
	memcpy(&b, d + 2 + sizeof(struct sockaddr_in6), sizeof(struct sockaddr_in6));
	a.ss_family = d[0] & 1 ? AF_INET6 : d[0] & 2 ? AF_INET : d[0];
	b.ss_family = d[1] & 1 ? AF_INET6 : d[1] & 2 ? AF_INET : d[1];
	for (v = 1; v <= 2; ++v) {
		len = gw_proxy_header(v, &a, &b, out, (size_t)(d[0] >> 2) + 16);
		assert(len <= (size_t)(d[0] >> 2) + 16);
		if (v == 1 && len)
			assert(len <= 107 && !memcmp(out, "PROXY ", 6) &&
			       out[len - 2] == '\r' && out[len - 1] == '\n');
		if (v == 2 && len)
			assert(len == 16 + ((size_t)out[14] << 8 | out[15]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char sni[256];
	int r;

	if (!size)
		return 0;
	if (data[0] == 'P') {
		proxy(data + 1, size - 1);
		return 0;
	}
	r = gw_hello_sni(data, size, sni, sizeof(sni));
	assert(r >= -1 && r <= 1);
	if (r == 1)
		assert(strlen(sni) < sizeof(sni));
	return 0;
}

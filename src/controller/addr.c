/* Overlay network prefixes and host-index arithmetic. The store allocates
 * indices; this file only turns them into addresses. */
#include "controller/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_prefix(struct network *net, const char *s, size_t n)
{
	char buf[NETWORK_TEXT_LEN];
	char *slash, *end;
	unsigned long len;
	uint8_t a6[16];
	struct in_addr a4;
	unsigned int i;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (!slash || !slash[1])
		return -EINVAL;
	*slash = '\0';
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (*end || errno || slash[1] < '0' || slash[1] > '9')
		return -EINVAL;

	if (inet_pton(AF_INET, buf, &a4) == 1) {
		uint32_t host;

		/* /31 and /32 leave no room for hosts; below /8 is a typo. */
		if (net->has4 || len < 8 || len > 30)
			return -EINVAL;
		host = ntohl(a4.s_addr);
		if (host & ((1u << (32 - len)) - 1))
			return -EINVAL;
		net->has4 = true;
		net->base4 = host;
		net->len4 = len;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, a6) == 1) {
		if (net->has6 || len < 16 || len > 124)
			return -EINVAL;
		for (i = len; i < 128; ++i)
			if (a6[i / 8] & (0x80 >> (i % 8)))
				return -EINVAL;
		net->has6 = true;
		memcpy(net->base6, a6, 16);
		net->len6 = len;
		return 0;
	}
	return -EINVAL;
}

int network_parse(struct network *net, const char *spec)
{
	const char *p = spec, *comma;
	int64_t max4 = NETWORK_MAX_INDEX, max6 = NETWORK_MAX_INDEX;
	char b[INET6_ADDRSTRLEN];
	struct in_addr a4;
	size_t n;
	int ret;

	memset(net, 0, sizeof(*net));
	for (;;) {
		while (*p == ' ')
			++p;
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		while (n && p[n - 1] == ' ')
			--n;
		ret = parse_prefix(net, p, n);
		if (ret)
			return ret;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (net->has4 && ((int64_t)1 << (32 - net->len4)) - 2 < max4)
		max4 = ((int64_t)1 << (32 - net->len4)) - 2;
	if (net->has6 && 128 - net->len6 < 31)
		max6 = ((int64_t)1 << (128 - net->len6)) - 1;
	net->max_index = max4 < max6 ? max4 : max6;

	net->text[0] = '\0';
	if (net->has4) {
		a4.s_addr = htonl(net->base4);
		inet_ntop(AF_INET, &a4, b, sizeof(b));
		snprintf(net->text, sizeof(net->text), "%s/%u", b, net->len4);
	}
	if (net->has6) {
		n = strlen(net->text);
		inet_ntop(AF_INET6, net->base6, b, sizeof(b));
		snprintf(net->text + n, sizeof(net->text) - n, "%s%s/%u",
			 n ? "," : "", b, net->len6);
	}
	return 0;
}

int network_host(const struct network *net, int64_t index,
		 char v4[ADDR_TEXT_LEN], char v6[ADDR_TEXT_LEN])
{
	uint8_t a6[16];
	struct in_addr a4;
	uint64_t carry;
	int i;

	v4[0] = v6[0] = '\0';
	if (index < 1 || index > net->max_index)
		return -ERANGE;
	if (net->has4) {
		a4.s_addr = htonl(net->base4 + (uint32_t)index);
		inet_ntop(AF_INET, &a4, v4, ADDR_TEXT_LEN);
	}
	if (net->has6) {
		memcpy(a6, net->base6, 16);
		carry = (uint64_t)index;
		for (i = 15; i >= 0 && carry; --i) {
			carry += a6[i];
			a6[i] = carry & 0xff;
			carry >>= 8;
		}
		inet_ntop(AF_INET6, a6, v6, ADDR_TEXT_LEN);
	}
	return 0;
}

int network_host_cidrs(const struct network *net, int64_t index, char *out,
		       size_t len)
{
	char v4[ADDR_TEXT_LEN], v6[ADDR_TEXT_LEN];
	int ret = network_host(net, index, v4, v6);

	if (ret)
		return ret;
	snprintf(out, len, "%s%s%s%s%s", v4, *v4 ? "/32" : "",
		 *v4 && *v6 ? ", " : "", v6, *v6 ? "/128" : "");
	return 0;
}

int network_host_in_net(const struct network *net, int64_t index, char *out,
			size_t len)
{
	char v4[ADDR_TEXT_LEN], v6[ADDR_TEXT_LEN], l4[8] = "", l6[8] = "";
	int ret = network_host(net, index, v4, v6);

	if (ret)
		return ret;
	if (*v4)
		snprintf(l4, sizeof(l4), "/%u", net->len4);
	if (*v6)
		snprintf(l6, sizeof(l6), "/%u", net->len6);
	snprintf(out, len, "%s%s%s%s%s", v4, l4, *v4 && *v6 ? ", " : "", v6,
		 l6);
	return 0;
}

void network_cidrs(const struct network *net, char *out, size_t len)
{
	const char *comma = strchr(net->text, ',');

	if (comma)
		snprintf(out, len, "%.*s, %s", (int)(comma - net->text),
			 net->text, comma + 1);
	else
		snprintf(out, len, "%s", net->text);
}

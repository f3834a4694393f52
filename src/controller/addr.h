/* The overlay network a controller hands addresses out of: an IPv4 prefix,
 * an IPv6 prefix or both, and the mapping from a host index to addresses. */
#ifndef SPOKEWIRE_CONTROLLER_ADDR_H
#define SPOKEWIRE_CONTROLLER_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	NETWORK_TEXT_LEN = 112,
	ADDR_TEXT_LEN = 48, /* INET6_ADDRSTRLEN plus a prefix length */
	/* Bound on a v6-only pool, so indices fit every column type. */
	NETWORK_MAX_INDEX = 1 << 30,
};

struct network {
	bool has4;
	bool has6;
	uint32_t base4; /* host order */
	unsigned int len4;
	uint8_t base6[16];
	unsigned int len6;
	/* Host indices 1..max_index are usable (index 0 is the network
	 * address; the v4 broadcast address is never handed out). */
	int64_t max_index;
	char text[NETWORK_TEXT_LEN]; /* canonical: "10.50.0.0/16,fd50::/64" */
};

/* "10.50.0.0/16", "fd50::/64" or both, comma separated. 0 or -EINVAL. */
int network_parse(struct network *net, const char *spec);

/* The host's addresses without prefix length; a family the network lacks
 * yields "". -ERANGE if index is outside 1..max_index. */
int network_host(const struct network *net, int64_t index,
		 char v4[ADDR_TEXT_LEN], char v6[ADDR_TEXT_LEN]);

/* "10.50.0.7/32, fd50::7/128": a host's allowed-IPs / wg-quick Address. */
int network_host_cidrs(const struct network *net, int64_t index, char *out,
		       size_t len);

/* "10.50.0.1/16, fd50::1/64": a hub's interface addresses, whose connected
 * routes carry the whole network into its interface. */
int network_host_in_net(const struct network *net, int64_t index, char *out,
			size_t len);

/* "10.50.0.0/16, fd50::/64": what a spoke routes to its hub. */
void network_cidrs(const struct network *net, char *out, size_t len);

#endif

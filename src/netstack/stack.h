/* Internals shared by the netstack files: the stack object, the parsed view
 * of an inbound IP packet, and the IP/ICMP/UDP entry points. Not for users
 * of the stack (they include netstack.h). */
#ifndef SPOKEWIRE_NETSTACK_STACK_H
#define SPOKEWIRE_NETSTACK_STACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "netstack/netstack.h"
#include "netstack/tcp.h"

enum {
	NETSTACK_MAX_ADDRS = 16,
	IPV4_HDR_LEN = 20,
	IPV6_HDR_LEN = 40,
	IP_TTL_DEFAULT = 64,
	IPPROTO_ICMPV6_ = 58,
	MTU_MIN = 576,
	MTU_MAX = PKTBUF_SIZE - PKTBUF_HEADROOM,
	ICMP_ERR_RATE = 200,     /* ICMP errors per second */
	UDP_HASH_SIZE = 256,
};

#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull

/* One inbound packet, parsed: addresses point into the packet. */
struct ip_info {
	uint16_t family;
	uint8_t proto;
	const uint8_t *src, *dst;  /* 4 or 16 bytes */
	uint8_t *l4;
	uint32_t l4len;
	const uint8_t *ip;         /* the whole packet, for ICMP quotes */
	uint32_t iplen;
	bool dst_ours;
};

struct udp_table {
	struct netstack_udp *port_hash[UDP_HASH_SIZE];
	struct netstack_udp *any_port; /* sockets bound to port 0 */
	unsigned count;
};

struct netstack {
	const struct netstack_ops *ops;
	void *ctx;
	struct pktpool *pool;
	struct netstack_config cfg;
	uint64_t now;

	struct {
		uint16_t family;
		uint8_t ip[16];
	} addrs[NETSTACK_MAX_ADDRS];
	unsigned naddrs;

	uint16_t ip_id;
	uint8_t hash_key[16];  /* connection table */
	uint8_t isn_key[16];   /* RFC 6528 F() */
	uint8_t ts_key[16];    /* per-connection timestamp offsets */

	/* ICMP error rate limit: tokens refilled from the clock. */
	uint64_t icmp_refill;
	uint32_t icmp_tokens;

	struct tcp_stack tcp;
	struct udp_table udp;
	struct netstack_echo *echo;  /* echo requests to other addresses */
	struct netstack_stats stats;
	uint64_t next_watchdog;      /* tcp_watchdog, once a second */
};

static inline size_t ip_alen(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

/* checksum.c: the Internet checksum (RFC 1071). */
uint32_t ns_csum_partial(const void *buf, size_t len, uint32_t sum);
uint16_t ns_csum_fold(uint32_t sum);
uint32_t ns_csum_pseudo(int family, const uint8_t *src, const uint8_t *dst,
		     uint8_t proto, uint32_t len);

/* stack.c */
bool stack_is_ours(const struct netstack *st, int family, const uint8_t *ip);
/* Our first address of family, or NULL. */
const uint8_t *stack_first_addr(const struct netstack *st, int family);
/* A buffer for an outbound packet of family: returns the L4 area (after room
 * for the IP header) and the pktbuf in *pbp, or NULL when the pool is dry. */
uint8_t *stack_pkt_alloc(struct netstack *st, int family, struct pktbuf **pbp);
/* Prepends the IP header to an L4 payload of l4len bytes built in a
 * stack_pkt_alloc() buffer and hands the packet to ops->output. */
void stack_ip_output(struct netstack *st, struct pktbuf *pb, int family,
		     const uint8_t *src, const uint8_t *dst, uint8_t proto,
		     uint32_t l4len);
/* Token bucket for ICMP errors; true when one may be sent. */
bool stack_icmp_allowed(struct netstack *st);

/* ip.c / ipv6.c: parse and validate; 0 or -1 (drop). */
int ipv4_parse(struct netstack *st, uint8_t *pkt, uint32_t len,
	       struct ip_info *info);
int ipv6_parse(struct netstack *st, uint8_t *pkt, uint32_t len,
	       struct ip_info *info);
void ipv4_build(struct netstack *st, uint8_t *hdr, const uint8_t *src,
		const uint8_t *dst, uint8_t proto, uint32_t l4len);
void ipv6_build(uint8_t *hdr, const uint8_t *src, const uint8_t *dst,
		uint8_t proto, uint32_t l4len);

/* icmp.c */
enum netstack_verdict icmp_input(struct netstack *st, struct ip_info *in);
enum netstack_verdict icmp6_input(struct netstack *st, struct ip_info *in);
/* Sends an unreachable (how: a NETSTACK_REFUSE_* code; RST means port
 * unreachable) quoting the packet in info. 0, -EAGAIN (rate limit),
 * -ENOBUFS. */
int icmp_send_unreach(struct netstack *st, const struct ip_info *info,
		      enum netstack_accept how);
/* The same for a packet that is gone: quotes an IP header src -> dst of
 * proto rebuilt around the first 8 bytes of its L4 header. Also -EINVAL. */
int icmp_send_unreach_rebuilt(struct netstack *st, int family,
			      const uint8_t *src, const uint8_t *dst,
			      uint8_t proto, const uint8_t l4[8],
			      enum netstack_accept how);
void icmp_free_all(struct netstack *st);

/* udp.c */
enum netstack_verdict udp_input(struct netstack *st, struct ip_info *in);
void udp_icmp_error(struct netstack *st, int family, const uint8_t *src,
		    const uint8_t *dst, const uint8_t *udp, uint32_t len,
		    int err);
void udp_free_all(struct netstack *st);

#endif

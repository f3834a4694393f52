/* Shared by the [Egress] files: egress.c (the decision, TCP, setup),
 * egress-udp.c (UDP flows) and egress-ping.c (ICMP echo flows). Each UDP
 * or echo flow is one host socket connected to the real destination, kept
 * in a bounded flowtab. */
#ifndef SPOKEWIRE_RELAY_EGRESS_H
#define SPOKEWIRE_RELAY_EGRESS_H

#include <stdbool.h>

#include "relay/flowtab.h"
#include "relay/internal.h"

enum {
	/* Each flow holds a descriptor: at most these many, and at most a
	 * share of RLIMIT_NOFILE (1/4 UDP, 1/16 echo; up raises it to the
	 * hard limit) so TCP relays keep theirs. A full descriptor table
	 * also evicts the longest idle flow. */
	EGRESS_UDP_FLOWS = 4096,
	EGRESS_UDP_FD_SHARE = 4,
	EGRESS_PING_FLOWS = 1024,
	EGRESS_PING_FD_SHARE = 16,
	EGRESS_FLOWS_MIN = 16,
	EGRESS_DGRAM_MAX = 65536,
	EGRESS_READS = 64,        /* datagrams per host socket event */
};

/* conntrack's defaults: nf_conntrack_udp_timeout (30 s) for flows without
 * a reply or over within 2 s (a DNS exchange), udp_timeout_stream (120 s,
 * RFC 4787 REQ-5's 2-minute floor for NAT mappings) for the rest, and
 * nf_conntrack_icmp_timeout (30 s) for echo. */
#define EGRESS_UDP_IDLE_NS (30ULL * 1000000000)
#define EGRESS_UDP_STREAM_IDLE_NS (120ULL * 1000000000)
#define EGRESS_PING_IDLE_NS (30ULL * 1000000000)

struct egress {
	struct relay *r;
	struct netstack_listener *l;
	struct conf_prefix *allow, *deny, *ours;
	size_t n_allow, n_deny, n_ours;
	struct netstack_udp *u;       /* transparent, any port */
	struct flowtab udp;
	struct netstack_echo *echo;
	struct flowtab ping;
	bool ping_off_logged;         /* "ping sockets not permitted" said */
	bool deny_rst;                /* denied TCP gets a reset, not ICMP */
	uint8_t *buf;                 /* one datagram read from the host */
};

/* What [Egress] says about a destination: NETSTACK_ACCEPT,
 * NETSTACK_REFUSE_RST for our own addresses (a closed port: the stack
 * answers for them), NETSTACK_REFUSE_PROHIBITED outside Allow or inside
 * Deny. what ("tcp", "udp", "ping") is for the log. */
enum netstack_accept egress_check(struct egress *e,
				  const struct netstack_addr *dst,
				  const char *what);
/* A new non-blocking host socket with ICMP errors queued (IP_RECVERR:
 * egress_host_error reads them). When descriptors run out, the longest
 * idle flow of t makes room. The fd or -errno. */
int egress_host_socket(struct flowtab *t, int family, int type, int proto);
/* Connects fd to dst and puts a new flow peer -> dst holding it in t and
 * on the loop (handler gets the flow). NULL on failure, fd closed and
 * *how set to the refusal that tells the peer why. */
struct flow *egress_flow_open(struct egress *e, struct flowtab *t,
			      const struct netstack_addr *peer,
			      const struct netstack_addr *dst, int fd,
			      void (*handler)(struct loop *loop, int fd,
					      unsigned events, void *arg),
			      enum netstack_accept *how);
/* The refusal that tells a peer why the host could not reach a
 * destination (err: an errno). */
enum netstack_accept egress_refusal(int err);
/* Drains fd's error queue: the refusal to relay for the last ICMP error
 * in it (NETSTACK_ACCEPT: none), and the start of the datagram it quotes
 * (up to 8 bytes) in quote. */
enum netstack_accept egress_host_error(int fd, uint8_t quote[8]);
/* max, or less when the descriptor limit is low (1/share of it). */
unsigned egress_flow_limit(unsigned max, unsigned share);
/* Closes a flow's host socket (the flowtabs' release(), ctx e). */
void egress_flow_close(void *ctx, struct flow *f);

int egress_udp_init(struct egress *e, char *err);
void egress_udp_free(struct egress *e);
int egress_ping_init(struct egress *e, char *err);
void egress_ping_free(struct egress *e);

#endif

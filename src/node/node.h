/* `spokewire up`'s daemons. Userspace mode (node.c): the device daemon with
 * the netstack as its inner side and the relays on host sockets. TUN mode
 * (ifup.c): the device daemon plus addresses, routes and nftables rules,
 * as wg-quick sets them up. Both load WireGuard settings with
 * node_apply_wg(). */
#ifndef SPOKEWIRE_NODE_NODE_H
#define SPOKEWIRE_NODE_NODE_H

#include "conf/conf.h"
#include "device/daemon.h"

struct netstack;
struct relay;

struct node {
	struct daemon d;
	struct netstack *st;
	struct relay *relay;
	int timer_fd;
	uint64_t timer_at;  /* armed deadline, mono ns (0: none) */
	uint64_t timer_arms; /* timerfd_settime calls that took */
	uint64_t next_relay_tick;

	/* [Egress]: our own stack's connections to where no peer is (the
	 * [Proxy] of an exit) loop back into it and leave through [Egress]. */
	bool egress;
	struct pktbuf *hairpin_head, *hairpin_tail;

	/* route.c: [Policy] in userspace mode */
	bool routes;        /* SpokeToSpoke given: peer to peer through us */
	enum conf_s2s s2s;
	bool no_originate;  /* HubOriginates = no */
	uint64_t last_refusal_log;
	struct {
		uint64_t routed, routed_bytes, refused, ttl_exceeded;
		uint64_t open_refused;
	} route_stats;
};

/* Private key, listen port, fwmark and peers from c, applied to a running
 * device. 0 or -errno. */
int node_apply_wg(struct daemon *d, const struct conf *c);

/* Userspace mode: sets up everything that can fail for outside reasons
 * (UDP port, UAPI socket, host listeners) before any fork. 0 or -errno with
 * a message in err (CONF_ERR_MAX). n is torn down by node_teardown() also
 * after an error. */
int node_setup(struct node *n, const struct conf *c, int verbose, char *err);
/* route.c: c's [Policy] for the running node (group tags on the peers by
 * public key; peers added later have none). */
void node_policy_apply(struct node *n, const struct conf *c);
/* An IPv4 or IPv6 packet's destination address (and *family), or NULL. */
const uint8_t *node_pkt_dst(struct pktbuf *pb, int *family);
/* A decrypted packet from a peer: true if it was for another peer and
 * taken (sent on, or refused with an ICMP error); false: the stack's. */
bool node_route(struct node *n, struct pktbuf *pb);
/* After the peers changed: connections whose remote no peer covers now
 * reset (RST, relay closed); how many. */
size_t node_reset_orphans(struct node *n);
/* The stack's ops->may_open: false for a peer's address under
 * HubOriginates = no (logged, at most once per 10 s). */
struct netstack_addr;
bool node_may_open(struct node *n, const struct netstack_addr *dst);

/* status.c: the peers' friendly names (for messages and /status), /health's
 * rules and the node's name, role and data directory (0 or -ENOMEM); the
 * Status listener (relay: userspace mode's, where an overlay address is
 * served through the stack; NULL in TUN mode). */
int node_status_rules(struct daemon *d, const struct conf *c);
int node_status_listen(struct daemon *d, const struct conf *c,
		       struct relay *relay, char *err);
/* TUN mode's daemon reload: names and health rules from path. */
int node_tun_reload(struct daemon *d, const char *path, char *msg,
		    size_t len);

/* Runs until SIGTERM/SIGINT; 0 or -errno. */
int node_run(struct node *n);
void node_teardown(struct node *n);

/* TUN mode, after daemon_setup() and node_apply_wg(): PreUp hooks,
 * addresses, MTU, link up, routes for AllowedIPs, [Expose] as an nftables
 * table of our own, PostUp hooks (wg-quick's order). Runs ip(8) and nft(8).
 * 0 or -errno with a message in err. */
int ifup_tun(const struct conf *c, char *err);
/* TUN mode, after `reload` applied an edited config to the running device:
 * routes for the AllowedIPs in gone (n_gone, peers or prefixes dropped)
 * deleted, routes for every peer's AllowedIPs made, the nftables table
 * replaced in one transaction (or deleted when nothing needs it). 0 or
 * -errno with a message in err. */
int ifup_tun_refresh(const struct conf *c, const struct conf_prefix *gone,
		     size_t n_gone, char *err);
/* The nftables script `up` loads for c in TUN mode ([Expose], [Policy]):
 * the table declared, deleted and defined, for `nft -f`. 0 or -ENOMEM. */
struct strbuf;
int ifup_nft_ruleset(const struct conf *c, struct strbuf *r);
/* Undoes what the device's exit does not: the nftables table, and runs the
 * PreDown (before) or PostDown (after) hooks. */
void ifup_tun_predown(const struct conf *c);
void ifup_tun_postdown(const struct conf *c);

#endif

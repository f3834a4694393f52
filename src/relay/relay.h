/* Userspace mode's relays between the embedded TCP/IP stack and host
 * sockets: [Forward] (host -> overlay, TCP and UDP), [Expose] (overlay ->
 * host), [Proxy] (SOCKS5 and HTTP into the overlay) and [Egress] (an exit
 * node for peers). Everything runs on the daemon's event loop; only name
 * resolution for SOCKS5/HTTP proxying happens on a helper thread. */
#ifndef SPOKEWIRE_RELAY_RELAY_H
#define SPOKEWIRE_RELAY_RELAY_H

#include <stdint.h>

struct loop;
struct netstack;
struct conf;
struct relay;

/* Returns a relay the caller owns (relay_free), or NULL on ENOMEM. loop and
 * st are borrowed and must outlive it. */
struct relay *relay_new(struct loop *loop, struct netstack *st, int verbose);
/* Opens the host listeners and stack listeners that c asks for. Host
 * sockets are bound here, so a port in use fails now with a message in err
 * (CONF_ERR_MAX). 0 or -errno. */
int relay_configure(struct relay *r, const struct conf *c, char *err);
/* What relay_reconfigure did. */
struct relay_changes {
	size_t forwards_added, forwards_removed, forwards_changed;
	size_t exposes_added, exposes_removed, exposes_changed;
};
/* Applies c's [Forward] and [Expose] sections to a running relay (after
 * `spokewire reload`): ones with a new Listen are opened, ones gone are
 * closed (connections they relayed carry on), ones whose Target changed
 * send new connections there. All or nothing: if a new listener cannot
 * open, nothing changes and err says why. [Proxy] and [Egress] are not
 * re-read. 0 or -errno. */
int relay_reconfigure(struct relay *r, const struct conf *c,
		      struct relay_changes *ch, char *err);
/* An [Expose] of our own on every overlay address's port, to target (the
 * status listener on loopback); reloads keep it. 0 or -errno with err. */
struct sockaddr;
int relay_expose_pinned(struct relay *r, uint16_t port,
			const struct sockaddr *target, char *err);
/* Starts the resolver thread (after any fork). 0 or -errno. */
int relay_start(struct relay *r);
/* Once a second: expires idle UDP mappings and egress flows. */
void relay_tick(struct relay *r, uint64_t now_ns);
/* Closes every relayed connection and listener. */
void relay_free(struct relay *r);

struct relay_stats {
	uint64_t splices, splices_active;
	uint64_t forward_accepted, expose_accepted, expose_failed;
	uint64_t socks_requests, http_requests, proxy_failed;
	/* [Egress] TCP: connections allowed, denied, failed on the host. */
	uint64_t egress_allowed, egress_denied, egress_failed;
	/* [Egress] UDP: flows opened, open now, evicted for room, idled
	 * out; datagrams denied, or failed to open a flow; datagrams relayed
	 * out and back, dropped (a full socket or pool); ICMP errors from
	 * the far side relayed to the peer. */
	uint64_t egress_udp_flows, egress_udp_active, egress_udp_evicted;
	uint64_t egress_udp_expired, egress_udp_denied, egress_udp_failed;
	uint64_t egress_udp_tx, egress_udp_rx, egress_udp_drops;
	uint64_t egress_udp_errors;
	/* [Egress] ICMP echo, the same; ping_off: refused because the
	 * kernel does not let us open ping sockets (ping_group_range). */
	uint64_t egress_ping_flows, egress_ping_active, egress_ping_denied;
	uint64_t egress_ping_failed, egress_ping_off, egress_ping_tx;
	uint64_t egress_ping_rx, egress_ping_drops, egress_ping_errors;
	uint64_t udp_mappings;
};
void relay_get_stats(const struct relay *r, struct relay_stats *s);

#endif

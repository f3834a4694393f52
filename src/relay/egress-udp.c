/* [Egress] UDP: a transparent any-port stack socket takes datagrams to any
 * destination. Each flow (peer address:port, destination address:port) is
 * one host UDP socket connected to the destination: answers come back
 * from the destination only, and go into the overlay with the destination
 * as their source. An ICMP error the host receives for a flow (port
 * unreachable, ...) is relayed to the peer, so a closed port fails fast
 * through the exit as it would directly. No allocation per datagram. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "io/loop.h"
#include "relay/egress.h"

static void on_host_readable(struct loop *loop, int fd, unsigned events,
			     void *arg)
{
	struct flow *f = arg;
	struct egress *e = f->t->ctx;
	struct relay *r = e->r;
	uint64_t now = clock_mono_ns();
	enum netstack_accept how;
	uint8_t quote[8];
	ssize_t n;
	int i;

	relay_clock(r);
	how = egress_host_error(fd, quote);
	if (how != NETSTACK_ACCEPT) {
		r->stats.egress_udp_errors++;
		netstack_udp_refuse(e->u, &f->peer, &f->dst, how);
	}
	for (i = 0; i < EGRESS_READS; ++i) {
		n = recv(fd, e->buf, EGRESS_DGRAM_MAX, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			continue; /* a pending ICMP error: relayed above */
		}
		flowtab_touch(&e->udp, f, now, true);
		if (netstack_udp_sendto(e->u, &f->dst, &f->peer, e->buf,
					(size_t)n) < 0)
			r->stats.egress_udp_drops++;
		else
			r->stats.egress_udp_rx++;
	}
}

static enum netstack_accept on_datagram(void *ctx, struct netstack_udp *u,
					const struct netstack_addr *src,
					const struct netstack_addr *dst,
					const uint8_t *data, size_t len)
{
	struct egress *e = ctx;
	struct relay *r = e->r;
	struct flow *f = flowtab_find(&e->udp, src, dst);
	enum netstack_accept how;
	int fd, tries;

	if (!f) {
		how = egress_check(e, dst, "udp");
		if (how == NETSTACK_REFUSE_PROHIBITED)
			r->stats.egress_udp_denied++;
		if (how != NETSTACK_ACCEPT)
			return how;
		fd = egress_host_socket(&e->udp, dst->family, SOCK_DGRAM, 0);
		if (fd < 0)
			how = egress_refusal(-fd);
		else
			f = egress_flow_open(e, &e->udp, src, dst, fd,
					     on_host_readable, &how);
		if (!f) {
			char a[64];

			r->stats.egress_udp_failed++;
			relay_log(r, "egress udp to %s: no host socket",
				  netstack_addr_str(dst, a, sizeof(a)));
			return how;
		}
	}
	flowtab_touch(&e->udp, f, clock_mono_ns(), false);
	/* A send may first report an ICMP error pending on the socket
	 * (already relayed from the error queue): then once more. */
	for (tries = 0; tries < 2; ++tries) {
		if (send(f->fd, data, len, MSG_DONTWAIT) >= 0) {
			r->stats.egress_udp_tx++;
			return NETSTACK_ACCEPT;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS || errno == EMSGSIZE)
			break;
	}
	r->stats.egress_udp_drops++; /* a full socket drops, as UDP does */
	return NETSTACK_ACCEPT;
}

static const struct netstack_udp_ops udp_ops = { .recv = on_datagram };

int egress_udp_init(struct egress *e, char *err)
{
	struct netstack_addr any = { .family = AF_UNSPEC };
	int ret;

	ret = flowtab_init(&e->udp,
			   egress_flow_limit(EGRESS_UDP_FLOWS,
					     EGRESS_UDP_FD_SHARE),
			   EGRESS_UDP_IDLE_NS, EGRESS_UDP_STREAM_IDLE_NS,
			   egress_flow_close, e);
	if (ret < 0)
		return ret;
	ret = netstack_udp_open(e->r->st, &any, NETSTACK_TRANSPARENT, &udp_ops,
				e, &e->u);
	if (ret < 0) {
		snprintf(err, CONF_ERR_MAX, "[Egress]: cannot bind UDP: %s",
			 strerror(-ret));
		return ret;
	}
	return 0;
}

void egress_udp_free(struct egress *e)
{
	flowtab_destroy(&e->udp);
	netstack_udp_close(e->u);
	e->u = NULL;
}

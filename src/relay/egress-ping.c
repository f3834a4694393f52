/* [Egress] ICMP echo: requests to other destinations are sent from the
 * host with unprivileged ICMP "ping" sockets (SOCK_DGRAM, IPPROTO_ICMP /
 * IPPROTO_ICMPV6), one per flow (peer address and echo identifier,
 * destination), so the real destination answers. The kernel puts its own
 * identifier on what a ping socket sends and hands it only the replies
 * that carry it; the reply goes back to the peer with the peer's
 * identifier and the destination as its source. Our own addresses never
 * get here: the stack answers them.
 *
 * Ping sockets need the daemon's group inside net.ipv4.ping_group_range
 * (per network namespace; it covers ICMPv6 too). Without it we say so
 * once, and refuse echo requests with ICMP administratively prohibited,
 * so a ping fails at once instead of timing out. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/loop.h"
#include "relay/egress.h"

enum {
	ICMP_ECHO_ = 8,
	ICMP_ECHOREPLY_ = 0,
	ICMP6_ECHO_REQUEST_ = 128,
	ICMP6_ECHO_REPLY_ = 129,
	ECHO_HDR_LEN = 8,
};

static int ping_proto(int family)
{
	return family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
}

static void log_ping_off(struct egress *e, int err)
{
	char range[64] = "?", *p;
	unsigned gid = (unsigned)getegid();
	FILE *fp;

	if (e->ping_off_logged)
		return;
	e->ping_off_logged = true;
	fp = fopen("/proc/sys/net/ipv4/ping_group_range", "re");
	if (fp) {
		if (fgets(range, sizeof(range), fp))
			range[strcspn(range, "\n")] = 0;
		for (p = range; *p; ++p)
			if (*p == '\t')
				*p = ' ';
		fclose(fp);
	}
	fprintf(stderr,
		"[Egress]: ping through this exit is off: the kernel refuses "
		"ICMP echo sockets to group %u (%s; net.ipv4.ping_group_range "
		"is \"%s\" in this network namespace). Echo requests to other "
		"hosts get ICMP administratively prohibited until it allows "
		"us, e.g. sysctl -w net.ipv4.ping_group_range=\"%u %u\"\n",
		gid, strerror(err), range, gid, gid);
}

static void on_host_readable(struct loop *loop, int fd, unsigned events,
			     void *arg)
{
	struct flow *f = arg;
	struct egress *e = f->t->ctx;
	struct relay *r = e->r;
	uint8_t type = f->dst.family == AF_INET6 ? ICMP6_ECHO_REPLY_
						 : ICMP_ECHOREPLY_;
	enum netstack_accept how;
	uint8_t quote[8];
	const uint8_t *p = e->buf;
	ssize_t n;
	int i;

	relay_clock(r);
	how = egress_host_error(fd, quote);
	if (how != NETSTACK_ACCEPT) {
		/* quote: the echo header we sent, the kernel's id in it. */
		r->stats.egress_ping_errors++;
		netstack_echo_refuse(e->echo, &f->peer, &f->dst, f->peer.port,
				     (uint16_t)(quote[6] << 8 | quote[7]), how);
	}
	for (i = 0; i < EGRESS_READS; ++i) {
		n = recv(fd, e->buf, EGRESS_DGRAM_MAX, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			continue;
		}
		if (n < ECHO_HDR_LEN || p[0] != type)
			continue;
		flowtab_touch(&e->ping, f, clock_mono_ns(), true);
		if (netstack_echo_reply(e->echo, &f->dst, &f->peer,
					f->peer.port,
					(uint16_t)(p[6] << 8 | p[7]),
					p + ECHO_HDR_LEN,
					(size_t)n - ECHO_HDR_LEN) < 0)
			r->stats.egress_ping_drops++;
		else
			r->stats.egress_ping_rx++;
	}
}

static enum netstack_accept on_request(void *ctx, struct netstack_echo *echo,
				       const struct netstack_addr *src,
				       const struct netstack_addr *dst,
				       uint16_t id, uint16_t seq,
				       const uint8_t *data, size_t len)
{
	struct egress *e = ctx;
	struct relay *r = e->r;
	struct netstack_addr peer = *src;
	enum netstack_accept how;
	struct flow *f;
	uint8_t *p = e->buf;
	int fd;

	peer.port = id;
	f = flowtab_find(&e->ping, &peer, dst);
	if (!f) {
		how = egress_check(e, dst, "ping");
		if (how == NETSTACK_REFUSE_PROHIBITED)
			r->stats.egress_ping_denied++;
		if (how != NETSTACK_ACCEPT)
			return how;
		fd = egress_host_socket(&e->ping, dst->family, SOCK_DGRAM,
					ping_proto(dst->family));
		if (fd == -EACCES || fd == -EPERM) {
			r->stats.egress_ping_off++;
			log_ping_off(e, -fd);
			return NETSTACK_REFUSE_PROHIBITED;
		}
		if (fd < 0)
			how = egress_refusal(-fd);
		else
			f = egress_flow_open(e, &e->ping, &peer, dst, fd,
					     on_host_readable, &how);
		if (!f) {
			r->stats.egress_ping_failed++;
			return how;
		}
		if (e->ping_off_logged) {
			e->ping_off_logged = false;
			fprintf(stderr, "[Egress]: ping through this exit is "
					"on again\n");
		}
	}
	flowtab_touch(&e->ping, f, clock_mono_ns(), false);
	if (len > EGRESS_DGRAM_MAX - ECHO_HDR_LEN)
		return NETSTACK_REFUSE_DROP;
	/* The kernel sets the identifier and the checksum. */
	memset(p, 0, ECHO_HDR_LEN);
	p[0] = dst->family == AF_INET6 ? ICMP6_ECHO_REQUEST_ : ICMP_ECHO_;
	p[6] = (uint8_t)(seq >> 8);
	p[7] = (uint8_t)seq;
	memcpy(p + ECHO_HDR_LEN, data, len);
	if (send(f->fd, p, ECHO_HDR_LEN + len, MSG_DONTWAIT) < 0)
		r->stats.egress_ping_drops++;
	else
		r->stats.egress_ping_tx++;
	return NETSTACK_ACCEPT;
}

static const struct netstack_echo_ops echo_ops = { .request = on_request };

/* Whether the kernel lets us open ping sockets: said at start, so whoever
 * runs `up` sees it; requests check again (the sysctl may change). */
static void probe(struct egress *e)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);

	if (fd >= 0)
		close(fd);
	else if (errno == EACCES || errno == EPERM)
		log_ping_off(e, errno);
}

int egress_ping_init(struct egress *e, char *err)
{
	int ret;

	ret = flowtab_init(&e->ping,
			   egress_flow_limit(EGRESS_PING_FLOWS,
					     EGRESS_PING_FD_SHARE),
			   EGRESS_PING_IDLE_NS, EGRESS_PING_IDLE_NS,
			   egress_flow_close, e);
	if (ret < 0)
		return ret;
	ret = netstack_echo_open(e->r->st, &echo_ops, e, &e->echo);
	if (ret < 0) {
		snprintf(err, CONF_ERR_MAX, "[Egress]: cannot take echo "
			 "requests: %s", strerror(-ret));
		return ret;
	}
	probe(e);
	return 0;
}

void egress_ping_free(struct egress *e)
{
	flowtab_destroy(&e->ping);
	netstack_echo_close(e->echo);
	e->echo = NULL;
}

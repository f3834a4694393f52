/* Userspace mode: the device daemon whose inner side is our TCP/IP stack.
 * Decrypted packets go into netstack_input(); the stack's output goes to
 * wg_send(); the relays join stack sockets to host sockets. The stack's
 * timers run from a timerfd armed at netstack_next_timer(). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "io/loop.h"
#include "netstack/netstack.h"
#include "node/node.h"
#include "relay/relay.h"
#include "uapi/uapi.h"

enum {
	TIMER_SLACK_NS = 1000000,       /* timers late by up to 1 ms */
	RELAY_TICK_NS = 1000000000,
};

/* Keeps the timerfd armed at the earliest of the stack's next deadline and
 * the next relay tick. Called after every batch, so it must be cheap when
 * nothing moved: it re-arms only when the deadline comes earlier than the
 * armed one by more than the slack (or nothing is armed). A deadline is
 * recorded only once the kernel took it: one that could not be armed
 * (no timerfd yet) must not hide every later one. */
static void arm_timer(struct node *n)
{
	uint64_t at = netstack_next_timer(n->st);
	struct itimerspec its = { 0 };
	uint64_t now;

	if (n->timer_fd < 0)
		return;
	if (at > n->next_relay_tick)
		at = n->next_relay_tick;
	if (n->timer_at && at + TIMER_SLACK_NS >= n->timer_at)
		return;
	now = clock_mono_ns();
	if (at <= now)
		at = now + 1;
	its.it_value.tv_sec = (time_t)(at / 1000000000);
	its.it_value.tv_nsec = (long)(at % 1000000000);
	if (timerfd_settime(n->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return;
	n->timer_at = at;
	n->timer_arms++;
}

static void on_timer(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct node *n = arg;
	uint64_t v, now = clock_mono_ns();

	if (read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
		return;
	n->timer_at = 0;
	netstack_set_clock(n->st, now);
	netstack_tick(n->st);
	if (now >= n->next_relay_tick) {
		n->next_relay_tick = now + RELAY_TICK_NS;
		relay_tick(n->relay, now);
	}
	/* The idle hook flushes and re-arms. */
}

static void inner_deliver(void *ctx, struct pktbuf *pb)
{
	struct node *n = ctx;

	if (node_route(n, pb))
		return;
	netstack_set_clock(n->st, clock_mono_ns());
	netstack_input(n->st, pb);
}

static void hairpin_drain(struct node *n);

static void inner_flush(void *ctx)
{
	struct node *n = ctx;

	if (!n->st)
		return; /* teardown after a failed setup */
	netstack_set_clock(n->st, clock_mono_ns());
	netstack_flush(n->st);
	hairpin_drain(n);
	arm_timer(n);
}

/* SIGUSR1, and at exit when verbose. */
static void report_tcp(const struct node *n)
{
	struct netstack_stats s;

	netstack_get_stats(n->st, &s);
	fprintf(stderr, "%s: tcp: %llu segments out, %llu retransmitted "
		"(%llu fast recoveries, %llu timeouts, %llu tail probes), "
		"%llu stalls\n", n->d.ifname,
		(unsigned long long)s.tcp_out,
		(unsigned long long)s.tcp_retransmits,
		(unsigned long long)s.tcp_fast_retransmits,
		(unsigned long long)s.tcp_rto_expired,
		(unsigned long long)s.tcp_tail_loss_probes,
		(unsigned long long)s.tcp_stalls);
	if (n->routes)
		fprintf(stderr, "%s: routed: %llu packets (%llu bytes), %llu "
			"refused by policy, %llu TTL exceeded\n", n->d.ifname,
			(unsigned long long)n->route_stats.routed,
			(unsigned long long)n->route_stats.routed_bytes,
			(unsigned long long)n->route_stats.refused,
			(unsigned long long)n->route_stats.ttl_exceeded);
	if (n->no_originate)
		fprintf(stderr, "%s: refused to open: %llu (HubOriginates = no)\n",
			n->d.ifname,
			(unsigned long long)n->route_stats.open_refused);
}

static void report_conn(void *ctx, const struct netstack_tcp *c)
{
	const struct node *n = ctx;
	struct netstack_tcp_info i;
	char a[64], b[64];

	netstack_tcp_get_info(c, &i);
	fprintf(stderr, "%s: tcp conn %s -> %s %s cwnd %u rate %llu "
		"bw %llu srtt %u us rto %u ms wnd %u sent %llu acked %llu "
		"received %llu retransmits %u sacked %u lost %u\n",
		n->d.ifname,
		netstack_addr_str(netstack_tcp_local(c), a, sizeof(a)),
		netstack_addr_str(netstack_tcp_remote(c), b, sizeof(b)),
		netstack_tcp_state_name(i.state), i.cwnd,
		(unsigned long long)i.pacing_rate,
		(unsigned long long)i.delivery_rate, i.srtt_us, i.rto_ms,
		i.snd_wnd, (unsigned long long)i.bytes_sent,
		(unsigned long long)i.bytes_acked,
		(unsigned long long)i.bytes_received, i.retransmits,
		i.sacked_bytes, i.lost_bytes);
}

/* SIGUSR1: the counters, then a line per connection (as ss -ti would). */
static void inner_report(void *ctx)
{
	struct node *n = ctx;

	report_tcp(n);
	netstack_tcp_foreach(n->st, report_conn, n);
}

/* `spokewire reload` after its UAPI set: the [Policy], [Forward] and
 * [Expose]. The command checked the file; if it cannot be read here, or a
 * new listener cannot open, nothing changes. */
static int inner_reload(void *ctx, const char *path, char *msg, size_t len)
{
	struct node *n = ctx;
	struct relay_changes ch;
	char err[CONF_ERR_MAX];
	struct conf c;
	int ret;

	ret = conf_load(&c, path, err, NULL, NULL);
	if (!ret)
		ret = conf_resolve_exposes(&c, path, err);
	if (!ret && (strcmp(c.ifname, n->d.ifname) ||
		     c.mode != CONF_MODE_USERSPACE)) {
		snprintf(err, sizeof(err), "%s is not this interface's config",
			 path);
		ret = -EINVAL;
	}
	if (!ret)
		ret = relay_reconfigure(n->relay, &c, &ch, err);
	if (ret) {
		snprintf(msg, len, "%s (nothing changed)", err);
		fprintf(stderr, "%s: reload: %s\n", n->d.ifname, msg);
		conf_free(&c);
		return ret;
	}
	node_policy_apply(n, &c);
	node_status_rules(&n->d, &c);
	conf_free(&c);
	snprintf(msg, len, "policy reloaded; [Forward] %zu added, %zu removed, "
		 "%zu retargeted; [Expose] %zu added, %zu removed, %zu "
		 "retargeted", ch.forwards_added, ch.forwards_removed,
		 ch.forwards_changed, ch.exposes_added, ch.exposes_removed,
		 ch.exposes_changed);
	fprintf(stderr, "%s: reloaded %s: %s\n", n->d.ifname, path, msg);
	return 0;
}

/* /status: the stack's and the relays' figures. */
static void inner_status(void *ctx, json_t *obj)
{
	struct node *n = ctx;
	struct netstack_stats s;
	struct relay_stats r;

	netstack_get_stats(n->st, &s);
	relay_get_stats(n->relay, &r);
	json_object_set_new(obj, "stack", json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"tcp_conns", (json_int_t)s.tcp_conns,
		"tcp_time_wait", (json_int_t)s.tcp_time_wait,
		"tcp_conns_opened", (json_int_t)s.tcp_conns_opened,
		"tcp_segments_out", (json_int_t)s.tcp_out,
		"tcp_retransmits", (json_int_t)s.tcp_retransmits,
		"tcp_timeouts", (json_int_t)s.tcp_rto_expired,
		"tcp_stalls", (json_int_t)s.tcp_stalls,
		"mem_used", (json_int_t)s.mem_used,
		"mem_peak", (json_int_t)s.mem_peak,
		"ip_in", (json_int_t)s.ip_in, "ip_out", (json_int_t)s.ip_out,
		"ip_no_buffer", (json_int_t)s.ip_no_buffer));
	json_object_set_new(obj, "relay", json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"splices", (json_int_t)r.splices,
		"splices_active", (json_int_t)r.splices_active,
		"forward_accepted", (json_int_t)r.forward_accepted,
		"expose_accepted", (json_int_t)r.expose_accepted,
		"expose_failed", (json_int_t)r.expose_failed,
		"socks_requests", (json_int_t)r.socks_requests,
		"http_requests", (json_int_t)r.http_requests,
		"proxy_failed", (json_int_t)r.proxy_failed,
		"egress_allowed", (json_int_t)r.egress_allowed,
		"egress_denied", (json_int_t)r.egress_denied,
		"udp_mappings", (json_int_t)r.udp_mappings,
		"routed_packets", (json_int_t)n->route_stats.routed,
		"routing_refused", (json_int_t)n->route_stats.refused));
}

/* /health: the packet pool: when every buffer is out, the stack can
 * neither answer nor send. */
static bool inner_health(void *ctx, json_t *checks)
{
	struct node *n = ctx;
	const struct pktpool *p = &n->d.pool;
	bool out = !p->nfree && p->total >= p->max;

	json_object_set_new(checks, "stack:memory", json_pack("[{s:s, s:I, s:s}]",
		"status", out ? "fail" : "pass",
		"observedValue", (json_int_t)(p->total - p->nfree),
		"output", out ? "every packet buffer is in use" : "packet buffers in use"));
	return out;
}

static void inner_peers_changed(void *ctx)
{
	struct node *n = ctx;
	size_t k;

	netstack_set_clock(n->st, clock_mono_ns());
	k = node_reset_orphans(n);
	if (k)
		fprintf(stderr, "%s: %zu connection%s of a removed peer reset\n",
			n->d.ifname, k, k == 1 ? "" : "s");
}

static const struct daemon_inner node_inner = {
	.peers_changed = inner_peers_changed,
	.status = inner_status,
	.health = inner_health,
	.deliver = inner_deliver,
	.flush = inner_flush,
	.report = inner_report,
	.reload = inner_reload,
};

static void stack_output(void *ctx, struct pktbuf *pb)
{
	struct node *n = ctx;
	const uint8_t *dst;
	int family;

	/* Back into the stack, after this call: what it sends itself (the
	 * answers of [Egress] to an exit's own [Proxy]), and an exit's own
	 * connections to where no peer is, for [Egress] to take. */
	if ((dst = node_pkt_dst(pb, &family)) &&
	    (netstack_is_local(n->st, family, dst) ||
	     (n->egress &&
	      !allowedips_lookup(&n->d.wg->allowedips, family, dst)))) {
		pb->next = NULL;
		if (n->hairpin_tail)
			n->hairpin_tail->next = pb;
		else
			n->hairpin_head = pb;
		n->hairpin_tail = pb;
		return;
	}
	wg_send(n->d.wg, pb);
}

/* Feeds the looped-back packets to the stack (which may loop back more:
 * a few rounds, then the rest waits for the next flush). */
static void hairpin_drain(struct node *n)
{
	int round;

	for (round = 0; round < 8 && n->hairpin_head; ++round) {
		struct pktbuf *pb = n->hairpin_head;

		n->hairpin_head = n->hairpin_tail = NULL;
		while (pb) {
			struct pktbuf *next = pb->next;

			pb->next = NULL;
			netstack_input(n->st, pb);
			pb = next;
		}
		netstack_flush(n->st);
	}
}

/* Not gated on verbose: the stack reports what should never happen. */
static void stack_log(void *ctx, const char *msg)
{
	struct node *n = ctx;

	fprintf(stderr, "%s: %s\n", n->d.ifname, msg);
}

static bool stack_may_open(void *ctx, const struct netstack_addr *dst)
{
	return node_may_open(ctx, dst);
}

static const struct netstack_ops node_stack_ops = {
	.output = stack_output,
	.log = stack_log,
	.may_open = stack_may_open,
};

int node_setup(struct node *n, const struct conf *c, int verbose, char *err)
{
	struct netstack_config cfg;
	unsigned mtu = c->mtu ? c->mtu : DEFAULT_MTU;
	size_t i;
	int ret;

	memset(n, 0, sizeof(*n));
	n->timer_fd = -1;
	ret = daemon_setup_inner(&n->d, c->ifname, &node_inner, n);
	if (ret < 0) {
		snprintf(err, CONF_ERR_MAX, "cannot set up %s: %s%s", c->ifname,
			 strerror(-ret),
			 ret == -EADDRINUSE ? " (already up?)" : "");
		return ret;
	}
	n->d.verbose = verbose;
	n->d.wg->mtu = mtu;
	if (uapi_server_private(n->d.uapi))
		fprintf(stderr, "%s: control socket at %s: /var/run/wireguard is not writable for us, so wg(8) will not find it; `spokewire status`, `reload` and `down` will\n",
			c->ifname, uapi_server_path(n->d.uapi));
	/* The timer exists before anything can flush the stack: applying
	 * ListenPort rebinds the UDP socket, which flushes and arms it. */
	n->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_NONBLOCK | TFD_CLOEXEC);
	if (n->timer_fd < 0)
		return -errno;
	ret = loop_add(n->d.loop, n->timer_fd, LOOP_READ, on_timer, n);
	if (ret < 0) {
		close(n->timer_fd);
		n->timer_fd = -1;
		return ret;
	}
	n->next_relay_tick = clock_mono_ns() + RELAY_TICK_NS;

	netstack_config_default(&cfg);
	cfg.mtu = mtu;
	n->st = netstack_new(&cfg, &node_stack_ops, n, &n->d.pool);
	if (!n->st)
		return -ENOMEM;
	netstack_set_clock(n->st, clock_mono_ns());
	for (i = 0; i < c->n_addrs; ++i) {
		ret = netstack_add_addr(n->st, c->addrs[i].family,
					c->addrs[i].ip);
		if (ret < 0 && ret != -EEXIST) {
			snprintf(err, CONF_ERR_MAX, "Address: %s",
				 strerror(-ret));
			return ret;
		}
	}
	ret = node_apply_wg(&n->d, c);
	if (ret < 0) {
		snprintf(err, CONF_ERR_MAX, "cannot configure %s: %s",
			 c->ifname, strerror(-ret));
		return ret;
	}
	node_policy_apply(n, c);
	n->egress = c->has_egress;
	n->relay = relay_new(n->d.loop, n->st, verbose);
	if (!n->relay)
		return -ENOMEM;
	ret = relay_configure(n->relay, c, err);
	if (ret < 0)
		return ret;
	ret = node_status_rules(&n->d, c);
	if (ret < 0)
		return ret;
	return node_status_listen(&n->d, c, n->relay, err);
}

int node_run(struct node *n)
{
	int ret = relay_start(n->relay);

	if (ret < 0)
		return ret;
	arm_timer(n);
	ret = daemon_run(&n->d);
	if (n->d.verbose)
		report_tcp(n);
	return ret;
}

void node_teardown(struct node *n)
{
	/* Relays first (they hold stack sockets), then the device (its last
	 * flush still reaches the stack), then the stack. */
	relay_free(n->relay);
	n->relay = NULL;
	if (n->timer_fd >= 0) {
		if (n->d.loop)
			loop_del(n->d.loop, n->timer_fd);
		close(n->timer_fd);
	}
	n->timer_fd = -1;
	while (n->hairpin_head) {
		struct pktbuf *pb = n->hairpin_head;

		n->hairpin_head = pb->next;
		pktpool_put(&n->d.pool, pb);
	}
	n->hairpin_tail = NULL;
	daemon_teardown(&n->d);
	netstack_free(n->st);
	n->st = NULL;
}

/* netstack-harness (build/.../netstack-harness, a test tool, not shipped):
 * binds the netstack to an existing TUN device so the Linux kernel's TCP is
 * its peer.
 * It serves sink/source/echo ports, opens connections to the kernel side,
 * hashes every byte (SHA-256), can drop, reorder and delay packets between
 * TUN and stack (or relay between two TUNs), and prints one line per
 * finished connection plus stack counters. Options and the event loop live
 * here. Used by tests/net/t_netstack*.sh and bench/netstack.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "harness.h"

static void on_tick(struct loop *loop, void *arg)
{
	struct harness *h = arg;

	struct hconn *hc, *next;

	harness_release(h);
	netstack_tick(h->st);
	/* Paused sinks resume reading here once their pause is over. */
	for (hc = h->conns; hc; hc = next) {
		next = hc->next;
		if (hc->paused && clock_mono_ns() >= hc->pause_until)
			hconn_drain(hc);
	}
}

static void on_idle(struct loop *loop, void *arg)
{
	struct harness *h = arg;

	netstack_set_clock(h->st, clock_mono_ns());
	netstack_flush(h->st);
	harness_release(h);
}

/* SIGTERM/SIGINT through a pipe: the crypto layer may run threads that
 * do not block signals, so signalfd would miss them. */
static int sig_pipe[2] = { -1, -1 };

static void on_sigterm(int sig)
{
	ssize_t n = write(sig_pipe[1], "x", 1);

	(void)n;
}

static void on_signal(struct loop *loop, int fd, unsigned events, void *arg)
{
	char buf[16];

	if (read(fd, buf, sizeof(buf)) > 0)
		loop_stop(loop);
}

static int parse_ip(const char *s, struct netstack_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->ip) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->ip) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -1;
}

/* "IP:PORT" or "[IP6]:PORT". */
static int parse_endpoint(const char *s, struct netstack_addr *a)
{
	char buf[80], *colon;

	snprintf(buf, sizeof(buf), "%s", s);
	if (buf[0] == '[') {
		colon = strstr(buf, "]:");
		if (!colon)
			return -1;
		*colon = '\0';
		if (parse_ip(buf + 1, a))
			return -1;
		a->port = (uint16_t)atoi(colon + 2);
		return 0;
	}
	colon = strrchr(buf, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	if (parse_ip(buf, a))
		return -1;
	a->port = (uint16_t)atoi(colon + 1);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: netstack-harness --tun NAME --addr IP [--addr IP6]\n"
		"  [--mtu N] [--loss PCT] [--reorder PCT] [--delay-ms MS]\n"
		"  [--seed N] [--relay TUN2]\n"
		"  [--rx-queue BYTES --rx-rate-mbit N [--rx-burst-ms MS]]\n"
		"  [--no-sack] [--no-wscale] [--no-ts] [--cc cubic|newreno|bbr]\n"
		"  [--rbuf-max BYTES] [--sbuf-max BYTES]\n"
		"  [--sink PORT] [--source PORT:BYTES] [--echo PORT]\n"
		"  [--sink-pause PORT --pause-after BYTES --pause-ms MS]\n"
		"  [--udp-echo PORT]\n"
		"  [--connect IP:PORT:BYTES [--count N]] [--exit-after N]\n");
}

static int add_service(struct harness *h, enum mode mode, const char *arg)
{
	struct service *s;
	char *colon;

	if (h->nsvc == MAX_SERVICES)
		return -1;
	s = &h->svc[h->nsvc++];
	s->h = h;
	s->mode = mode;
	s->port = (uint16_t)strtoul(arg, &colon, 10);
	if (*colon == ':')
		s->bytes = strtoull(colon + 1, NULL, 10);
	return s->port ? 0 : -1;
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "tun", required_argument, NULL, 't' },
		{ "addr", required_argument, NULL, 'a' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "loss", required_argument, NULL, 'l' },
		{ "reorder", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 'S' },
		{ "no-sack", no_argument, NULL, 1 },
		{ "no-wscale", no_argument, NULL, 2 },
		{ "no-ts", no_argument, NULL, 3 },
		{ "cc", required_argument, NULL, 4 },
		{ "rbuf-max", required_argument, NULL, 5 },
		{ "sbuf-max", required_argument, NULL, 6 },
		{ "sink", required_argument, NULL, 7 },
		{ "source", required_argument, NULL, 8 },
		{ "echo", required_argument, NULL, 9 },
		{ "pause-after", required_argument, NULL, 10 },
		{ "pause-ms", required_argument, NULL, 11 },
		{ "udp-echo", required_argument, NULL, 12 },
		{ "connect", required_argument, NULL, 13 },
		{ "count", required_argument, NULL, 14 },
		{ "exit-after", required_argument, NULL, 15 },
		{ "sink-pause", required_argument, NULL, 16 },
		{ "delay-ms", required_argument, NULL, 17 },
		{ "relay", required_argument, NULL, 18 },
		{ "rx-queue", required_argument, NULL, 19 },
		{ "rx-rate-mbit", required_argument, NULL, 20 },
		{ "rx-burst-ms", required_argument, NULL, 21 },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct netstack_config cfg;
	struct harness *h = calloc(1, sizeof(*h));
	const char *tun = NULL, *relay = NULL;
	struct netstack_addr a;
	struct sigaction sa;
	unsigned i;
	int opt, ret = 1;
	char *p;

	if (!h || crypto_init())
		return 1;
	h->tun_fd = h->sig_fd = h->relay_fd = -1;
	netstack_config_default(&cfg);
	h->rng = 0x9e3779b97f4a7c15ull;
	h->connect_count = 1;
	h->rx_burst_ns = 1000000;
	while ((opt = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			tun = optarg;
			break;
		case 'a':
			if (parse_ip(optarg, &a)) {
				fprintf(stderr, "bad address %s\n", optarg);
				return 1;
			}
			if (!h->st) {
				/* addresses wait for the stack */
			}
			break;
		case 'm':
			cfg.mtu = (unsigned)atoi(optarg);
			break;
		case 'l':
			h->loss_ppm = (uint32_t)(strtod(optarg, NULL) * 10000);
			break;
		case 'r':
			h->reorder_ppm = (uint32_t)(strtod(optarg, NULL) * 10000);
			break;
		case 'S':
			h->rng = strtoull(optarg, NULL, 0) | 1;
			break;
		case 1:
			cfg.no_sack = true;
			break;
		case 2:
			cfg.no_wscale = true;
			break;
		case 3:
			cfg.no_timestamps = true;
			break;
		case 4:
			if (!strcmp(optarg, "newreno"))
				cfg.cc = NETSTACK_CC_NEWRENO;
			else if (!strcmp(optarg, "bbr"))
				cfg.cc = NETSTACK_CC_BBR;
			else if (!strcmp(optarg, "cubic"))
				cfg.cc = NETSTACK_CC_CUBIC;
			else {
				usage();
				return 1;
			}
			break;
		case 5:
			cfg.tcp_rbuf_max = strtoull(optarg, NULL, 0);
			break;
		case 6:
			cfg.tcp_sbuf_max = strtoull(optarg, NULL, 0);
			break;
		case 7:
		case 8:
		case 9:
			if (add_service(h, opt == 7   ? MODE_SINK
					    : opt == 8 ? MODE_SOURCE
						   : MODE_ECHO,
					optarg)) {
				usage();
				return 1;
			}
			break;
		case 10:
			h->pause_after = strtoull(optarg, NULL, 0);
			break;
		case 11:
			h->pause_ms = strtoull(optarg, NULL, 0);
			break;
		case 12:
			if (add_service(h, MODE_ECHO, optarg)) {
				usage();
				return 1;
			}
			h->svc[h->nsvc - 1].bytes = UINT64_MAX; /* marks UDP */
			break;
		case 13:
			p = strrchr(optarg, ':');
			if (!p) {
				usage();
				return 1;
			}
			*p = '\0';
			if (parse_endpoint(optarg, &h->connect_to)) {
				usage();
				return 1;
			}
			h->connect_bytes = strtoull(p + 1, NULL, 0);
			break;
		case 14:
			h->connect_count = (unsigned)atoi(optarg);
			break;
		case 15:
			h->exit_after = (unsigned)atoi(optarg);
			break;
		case 16:
			if (add_service(h, MODE_SINK, optarg)) {
				usage();
				return 1;
			}
			h->svc[h->nsvc - 1].pause = true;
			break;
		case 17:
			/* One way: half the round trip it adds. */
			h->delay_ns = (uint64_t)(strtod(optarg, NULL) * 1e6);
			break;
		case 19:
			h->rx_limit = strtoull(optarg, NULL, 0);
			break;
		case 20:
			h->rx_rate = strtoull(optarg, NULL, 0) * 1000000 / 8;
			break;
		case 21:
			h->rx_burst_ns = strtoull(optarg, NULL, 0) * 1000000;
			break;
		case 18:
			relay = optarg;
			break;
		case 'v':
			h->verbose = true;
			break;
		default:
			usage();
			return 1;
		}
	}
	if (!tun) {
		usage();
		return 1;
	}
	if (harness_make_pattern() < 0) {
		free(h);
		return 1;
	}
	pktpool_init(&h->pool, POOL_BUFFERS);
	h->st = netstack_new(&cfg, &harness_ops, h, &h->pool);
	h->loop = loop_new();
	if (!h->st || !h->loop) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	/* Second pass for the addresses, now that the stack exists. */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "v", opts, NULL)) != -1)
		if (opt == 'a' && !parse_ip(optarg, &a))
			netstack_add_addr(h->st, a.family, a.ip);
	h->tun_fd = harness_tun_attach(tun);
	if (h->tun_fd < 0) {
		fprintf(stderr, "TUN %s: %s\n", tun, strerror(-h->tun_fd));
		goto out;
	}
	if (relay) {
		/* Relay mode: TUN to TUN through the path, no stack. */
		h->relay_fd = harness_tun_attach(relay);
		if (h->relay_fd < 0) {
			fprintf(stderr, "TUN %s: %s\n", relay,
				strerror(-h->relay_fd));
			goto out;
		}
	}
	netstack_set_clock(h->st, clock_mono_ns());
	for (i = 0; i < h->nsvc; ++i) {
		struct netstack_addr any = { .family = AF_UNSPEC };

		any.port = h->svc[i].port;
		if (h->svc[i].bytes == UINT64_MAX) {
			ret = netstack_udp_open(h->st, &any, 0, &harness_udp_echo_ops,
						h, &h->udp_echo);
		} else {
			ret = netstack_tcp_listen(h->st, &any, 0, &harness_svc_ops,
						  &h->svc[i], &h->svc[i].l);
		}
		if (ret) {
			fprintf(stderr, "listen %u: %s\n", h->svc[i].port,
				strerror(-ret));
			ret = 1;
			goto out;
		}
	}
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		perror("pipe");
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigterm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	h->sig_fd = sig_pipe[0];
	loop_add(h->loop, h->sig_fd, LOOP_READ, on_signal, h);
	loop_add(h->loop, h->tun_fd, LOOP_READ, harness_on_tun, h);
	if (h->relay_fd >= 0)
		loop_add(h->loop, h->relay_fd, LOOP_READ, harness_on_relay_tun, h);
	loop_set_tick(h->loop, 1, on_tick, h);
	loop_set_idle(h->loop, on_idle, h);
	if (h->connect_to.family) {
		for (i = 0; i < h->connect_count; ++i) {
			struct netstack_tcp *c;
			struct hconn *hc = hconn_new(h, NULL, MODE_CONNECT,
						     h->connect_bytes);

			ret = netstack_tcp_connect(h->st, NULL, &h->connect_to,
						   &harness_conn_ops, hc, &c);
			if (ret) {
				fprintf(stderr, "connect: %s\n",
					strerror(-ret));
				ret = 1;
				goto out;
			}
			hc->c = c;
		}
	}
	printf("READY\n");
	fflush(stdout);
	ret = loop_run(h->loop) ? 1 : 0;
	harness_print_stats(h);
out:
	while (h->conns)
		hconn_free(h->conns);
	if (h->st)
		netstack_free(h->st);
	if (h->loop)
		loop_free(h->loop);
	if (h->tun_fd >= 0)
		close(h->tun_fd);
	if (h->relay_fd >= 0)
		close(h->relay_fd);
	for (i = 0; i < 2; ++i) {
		pktpool_put(&h->pool, h->held[i]);
		while (h->dq[i].head != h->dq[i].tail) {
			pktpool_put(&h->pool, h->dq[i].ring[h->dq[i].head].pb);
			h->dq[i].head = (h->dq[i].head + 1) % DELAY_SLOTS;
		}
	}
	if (sig_pipe[0] >= 0) {
		close(sig_pipe[0]);
		close(sig_pipe[1]);
	}
	pktpool_destroy(&h->pool);
	harness_free_pattern();
	free(h);
	return ret;
}

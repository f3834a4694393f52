/* `spokewire netstack-harness`: a test tool (not in --help) that binds the
 * netstack to an existing TUN device so the Linux kernel's TCP is its peer.
 * It serves sink/source/echo ports, opens connections to the kernel side,
 * hashes every byte (SHA-256), can drop and reorder packets between TUN and
 * stack, and prints one line per finished connection plus stack counters.
 * Used by tests/net/t_netstack*.sh and bench/netstack.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/cli.h"
#include "crypto/crypto.h"
#include "io/loop.h"
#include "netstack/netstack.h"

enum {
	MAX_SERVICES = 16,
	PATTERN_LEN = 1 << 20,
	TUN_BATCH = 64,
	POOL_BUFFERS = 16384,
};

enum mode {
	MODE_SINK,
	MODE_SOURCE,
	MODE_ECHO,
	MODE_CONNECT,
};

static const char *const mode_names[] = { "sink", "source", "echo",
					  "connect" };

struct service {
	enum mode mode;
	uint16_t port;
	bool pause;   /* a sink that stops reading for a while */
	uint64_t bytes;
	struct netstack_listener *l;
};

struct hconn {
	struct hconn *prev, *next;
	struct harness *h;
	struct netstack_tcp *c;
	enum mode mode;
	unsigned id;
	uint64_t to_send, sent, received;
	uint64_t t_start;
	EVP_MD_CTX *tx, *rx;
	bool eof, shut, done;
	bool pause, paused;
	uint64_t pause_until;
	uint8_t snd_ws, rcv_ws;
	bool sack, ts;
};

enum {
	DIR_IN,  /* kernel -> stack */
	DIR_OUT, /* stack -> kernel */
	DELAY_SLOTS = 32768,
};

struct delay_queue {
	struct {
		uint64_t at;
		struct pktbuf *pb;
	} ring[DELAY_SLOTS];
	unsigned head, tail;
};

struct harness {
	struct loop *loop;
	struct netstack *st;
	struct pktpool pool;
	int tun_fd, sig_fd;
	struct service svc[MAX_SERVICES];
	unsigned nsvc;
	struct netstack_addr connect_to;
	uint64_t connect_bytes;
	unsigned connect_count;
	uint64_t pause_after, pause_ms;
	uint32_t loss_ppm, reorder_ppm;
	uint64_t rng;
	struct pktbuf *held[2];       /* reordering: one packet held */
	uint64_t held_at[2];
	struct delay_queue dq[2];
	uint64_t delay_ns;
	int relay_fd;
	unsigned next_id, finished, exit_after, live;
	uint64_t dropped[2], reordered, tun_write_errors;
	struct netstack_udp *udp_echo;
	struct hconn *conns;
	bool verbose;
};

static uint8_t *pattern;

/* The deterministic stream: a 1 MiB block of SHA-256 counter output, each
 * 1 MiB block stamped with its index (tests/netstack/peer.py matches). */
static void make_pattern(void)
{
	uint8_t ctr[13] = "spokewire";
	unsigned i, len;

	pattern = malloc(PATTERN_LEN);
	for (i = 0; i < PATTERN_LEN / 32; ++i) {
		ctr[9] = (uint8_t)(i >> 24);
		ctr[10] = (uint8_t)(i >> 16);
		ctr[11] = (uint8_t)(i >> 8);
		ctr[12] = (uint8_t)i;
		EVP_Digest(ctr, sizeof(ctr), pattern + 32 * i, &len,
			   EVP_sha256(), NULL);
	}
}

static void stream_fill(uint8_t *dst, uint64_t off, size_t len)
{
	while (len) {
		uint64_t block = off / PATTERN_LEN;
		size_t within = (size_t)(off % PATTERN_LEN);
		size_t n = PATTERN_LEN - within;

		if (n > len)
			n = len;
		memcpy(dst, pattern + within, n);
		/* Stamp the block index little-endian over its first bytes. */
		for (size_t i = within; i < 8 && i < within + n; ++i)
			dst[i - within] = (uint8_t)(block >> (8 * i));
		dst += n;
		off += n;
		len -= n;
	}
}

static uint64_t rnd(struct harness *h)
{
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return h->rng;
}

static bool chance(struct harness *h, uint32_t ppm)
{
	return ppm && rnd(h) % 1000000 < ppm;
}

static void hex(const uint8_t *d, unsigned n, char *out)
{
	unsigned i;

	for (i = 0; i < n; ++i)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void print_stats(struct harness *h)
{
	struct netstack_stats s;

	netstack_get_stats(h->st, &s);
	printf("STATS tcp_in=%llu tcp_out=%llu retransmits=%llu "
	       "lost_retransmits=%llu tlp=%llu fast_recoveries=%llu rto=%llu "
	       "ooo=%llu dup=%llu sack_in=%llu "
	       "rst_sent=%llu zero_win_sent=%llu persist_probes=%llu "
	       "conns=%llu time_wait=%llu opened=%llu closed=%llu "
	       "mem_peak=%llu echo_replies=%llu unreach_sent=%llu "
	       "no_buffer=%llu dropped_in=%llu dropped_out=%llu "
	       "reordered=%llu\n",
	       (unsigned long long)s.tcp_in, (unsigned long long)s.tcp_out,
	       (unsigned long long)s.tcp_retransmits,
	       (unsigned long long)s.tcp_lost_retransmits,
	       (unsigned long long)s.tcp_tail_loss_probes,
	       (unsigned long long)s.tcp_fast_retransmits,
	       (unsigned long long)s.tcp_rto_expired,
	       (unsigned long long)s.tcp_ooo_segments,
	       (unsigned long long)s.tcp_dup_segments,
	       (unsigned long long)s.tcp_sack_blocks_in,
	       (unsigned long long)s.tcp_rst_sent,
	       (unsigned long long)s.tcp_zero_window_sent,
	       (unsigned long long)s.tcp_persist_probes,
	       (unsigned long long)s.tcp_conns,
	       (unsigned long long)s.tcp_time_wait,
	       (unsigned long long)s.tcp_conns_opened,
	       (unsigned long long)s.tcp_conns_closed,
	       (unsigned long long)s.mem_peak,
	       (unsigned long long)s.icmp_echo_replies,
	       (unsigned long long)s.icmp_unreach_sent,
	       (unsigned long long)s.ip_no_buffer,
	       (unsigned long long)h->dropped[DIR_IN],
	       (unsigned long long)h->dropped[DIR_OUT],
	       (unsigned long long)h->reordered);
	fflush(stdout);
}

/* ---------------------------------------------------------------- TUN */

static int tun_attach(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd, ret;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static void tun_write(struct harness *h, int fd, struct pktbuf *pb)
{
	if (write(fd, pkt_data(pb), pb->len) < 0)
		h->tun_write_errors++;
	pktpool_put(&h->pool, pb);
}

/* Past the filter: into the stack (or the other TUN when relaying), or
 * out to the kernel. */
static void deliver(struct harness *h, int dir, struct pktbuf *pb)
{
	if (dir == DIR_OUT)
		tun_write(h, h->tun_fd, pb);
	else if (h->relay_fd >= 0)
		tun_write(h, h->relay_fd, pb);
	else
		netstack_input(h->st, pb);
}

static void release(struct harness *h)
{
	uint64_t now = clock_mono_ns();
	int dir;

	netstack_set_clock(h->st, now);
	for (dir = 0; dir < 2; ++dir) {
		struct delay_queue *q = &h->dq[dir];

		/* A held packet goes after the next one, or after 1 ms. */
		if (h->held[dir] && now - h->held_at[dir] > 1000000) {
			struct pktbuf *pb = h->held[dir];

			h->held[dir] = NULL;
			deliver(h, dir, pb);
		}

		while (q->head != q->tail && q->ring[q->head].at <= now) {
			struct pktbuf *pb = q->ring[q->head].pb;

			q->head = (q->head + 1) % DELAY_SLOTS;
			deliver(h, dir, pb);
		}
	}
}

/* The emulated path between the kernel and the stack: loss, reordering
 * (one packet held back behind the next), fixed one-way delay. */
static void path(struct harness *h, int dir, struct pktbuf *pb)
{
	struct delay_queue *q = &h->dq[dir];

	if (chance(h, h->loss_ppm)) {
		h->dropped[dir]++;
		pktpool_put(&h->pool, pb);
		return;
	}
	if (!h->held[dir] && chance(h, h->reorder_ppm)) {
		h->held[dir] = pb;
		h->held_at[dir] = clock_mono_ns();
		h->reordered++;
		return;
	}
	for (;;) {
		if (!h->delay_ns) {
			deliver(h, dir, pb);
		} else if ((q->tail + 1) % DELAY_SLOTS == q->head) {
			h->dropped[dir]++; /* queue full */
			pktpool_put(&h->pool, pb);
		} else {
			q->ring[q->tail].at = clock_mono_ns() + h->delay_ns;
			q->ring[q->tail].pb = pb;
			q->tail = (q->tail + 1) % DELAY_SLOTS;
		}
		if (!h->held[dir] || pb == h->held[dir])
			break;
		pb = h->held[dir];
		h->held[dir] = NULL;
	}
}

/* Stack output, through the path, to the kernel. */
static void op_output(void *ctx, struct pktbuf *pb)
{
	path(ctx, DIR_OUT, pb);
}

static const struct netstack_ops harness_ops = { op_output };

static void read_tun(struct harness *h, int fd, int dir)
{
	struct pktbuf *pb;
	ssize_t n;
	int i;

	netstack_set_clock(h->st, clock_mono_ns());
	for (i = 0; i < TUN_BATCH; ++i) {
		pb = pktpool_get(&h->pool);
		if (!pb)
			break;
		n = read(fd, pkt_data(pb), PKTBUF_SIZE - PKTBUF_HEADROOM);
		if (n <= 0) {
			pktpool_put(&h->pool, pb);
			break;
		}
		pb->len = (uint32_t)n;
		path(h, dir, pb);
	}
	release(h);
}

static void on_tun(struct loop *loop, int fd, unsigned events, void *arg)
{
	read_tun(arg, fd, DIR_IN);
}

static void on_relay_tun(struct loop *loop, int fd, unsigned events,
			 void *arg)
{
	read_tun(arg, fd, DIR_OUT);
}

/* ---------------------------------------------------------------- TCP */

static void hconn_free(struct hconn *hc)
{
	struct harness *h = hc->h;

	if (hc->prev)
		hc->prev->next = hc->next;
	else
		h->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	EVP_MD_CTX_free(hc->rx);
	EVP_MD_CTX_free(hc->tx);
	h->live--;
	free(hc);
}

static void conn_finish(struct hconn *hc, int err)
{
	struct harness *h = hc->h;
	uint8_t rx[32], tx[32];
	char rxh[65], txh[65], ra[64];
	unsigned len;

	if (hc->done)
		return;
	hc->done = true;
	EVP_DigestFinal_ex(hc->rx, rx, &len);
	EVP_DigestFinal_ex(hc->tx, tx, &len);
	hex(rx, 32, rxh);
	hex(tx, 32, txh);
	printf("CONN id=%u mode=%s remote=%s rx_bytes=%llu rx_sha256=%s "
	       "tx_bytes=%llu tx_sha256=%s err=%d wscale=%d,%d sack=%d ts=%d "
	       "ms=%llu\n",
	       hc->id, mode_names[hc->mode],
	       netstack_addr_str(netstack_tcp_remote(hc->c), ra, sizeof(ra)),
	       (unsigned long long)hc->received, rxh,
	       (unsigned long long)hc->sent, txh, err,
	       hc->snd_ws == 0xff ? -1 : hc->snd_ws,
	       hc->rcv_ws == 0xff ? -1 : hc->rcv_ws, hc->sack, hc->ts,
	       (unsigned long long)((clock_mono_ns() - hc->t_start) /
				    1000000));
	netstack_tcp_close(hc->c);
	h->finished++;
	print_stats(h);
	hconn_free(hc);
	if (h->exit_after && h->finished >= h->exit_after)
		loop_stop(h->loop);
}

static void pump_source(struct hconn *hc)
{
	struct iovec iov[16];
	uint64_t left;
	size_t total;
	int n, i;

	while (hc->sent < hc->to_send) {
		n = netstack_tcp_send_reserve(hc->c, iov, 16);
		if (n <= 0)
			return;
		left = hc->to_send - hc->sent;
		total = 0;
		for (i = 0; i < n && left; ++i) {
			size_t k = iov[i].iov_len < left ? iov[i].iov_len
							 : (size_t)left;

			stream_fill(iov[i].iov_base, hc->sent + total, k);
			EVP_DigestUpdate(hc->tx, iov[i].iov_base, k);
			total += k;
			left -= k;
		}
		if (netstack_tcp_send_commit(hc->c, total) < 0)
			return;
		hc->sent += total;
	}
	if (!hc->shut) {
		hc->shut = true;
		netstack_tcp_shutdown(hc->c);
	}
}

static void pump_echo(struct hconn *hc)
{
	struct iovec iov[16];
	ssize_t w;
	size_t used = 0;
	int n, i;

	n = netstack_tcp_recv_peek(hc->c, iov, 16);
	for (i = 0; i < n; ++i) {
		w = netstack_tcp_send(hc->c, iov[i].iov_base, iov[i].iov_len);
		if (w <= 0)
			break;
		EVP_DigestUpdate(hc->rx, iov[i].iov_base, (size_t)w);
		EVP_DigestUpdate(hc->tx, iov[i].iov_base, (size_t)w);
		used += (size_t)w;
		if ((size_t)w < iov[i].iov_len)
			break;
	}
	netstack_tcp_recv_consume(hc->c, used);
	hc->received += used;
	hc->sent += used;
	if (netstack_tcp_eof(hc->c) && !hc->shut) {
		hc->shut = true;
		hc->eof = true;
		netstack_tcp_shutdown(hc->c);
	}
}

static void drain(struct hconn *hc)
{
	struct harness *h = hc->h;
	struct iovec iov[16];
	size_t used = 0;
	int n, i;

	if (hc->paused) {
		if (clock_mono_ns() < hc->pause_until)
			return;
		hc->paused = false;
	}
	for (;;) {
		n = netstack_tcp_recv_peek(hc->c, iov, 16);
		if (n <= 0)
			break;
		used = 0;
		for (i = 0; i < n; ++i) {
			EVP_DigestUpdate(hc->rx, iov[i].iov_base,
					 iov[i].iov_len);
			used += iov[i].iov_len;
		}
		/* Zero-window test: stop reading for a while, once. */
		if (hc->pause && h->pause_after &&
		    hc->received < h->pause_after &&
		    hc->received + used >= h->pause_after) {
			hc->paused = true;
			hc->pause_until = clock_mono_ns() +
					  h->pause_ms * 1000000ull;
		}
		netstack_tcp_recv_consume(hc->c, used);
		hc->received += used;
		if (hc->paused)
			return;
	}
	if (netstack_tcp_eof(hc->c) && !hc->eof) {
		hc->eof = true;
		if (hc->mode == MODE_SINK && !hc->shut) {
			hc->shut = true;
			netstack_tcp_shutdown(hc->c);
		}
	}
}

static void hc_readable(void *ctx, struct netstack_tcp *c)
{
	struct hconn *hc = ctx;

	if (hc->mode == MODE_ECHO)
		pump_echo(hc);
	else
		drain(hc);
}

static void hc_writable(void *ctx, struct netstack_tcp *c)
{
	struct hconn *hc = ctx;

	if (hc->mode == MODE_ECHO)
		pump_echo(hc);
	else if (hc->mode == MODE_SOURCE || hc->mode == MODE_CONNECT)
		pump_source(hc);
}

static void hc_connected(void *ctx, struct netstack_tcp *c)
{
	struct hconn *hc = ctx;
	struct netstack_tcp_info info;

	hc->t_start = clock_mono_ns();
	netstack_tcp_get_info(c, &info);
	hc->snd_ws = info.snd_wscale;
	hc->rcv_ws = info.rcv_wscale;
	hc->sack = info.sack;
	hc->ts = info.timestamps;
	if (hc->mode == MODE_SOURCE || hc->mode == MODE_CONNECT)
		pump_source(hc);
}

static void hc_closed(void *ctx, struct netstack_tcp *c, int err)
{
	struct hconn *hc = ctx;

	if (!err)
		hc_readable(ctx, c); /* whatever is left */
	conn_finish(hc, err);
}

static const struct netstack_tcp_ops hconn_ops = {
	.connected = hc_connected,
	.readable = hc_readable,
	.writable = hc_writable,
	.closed = hc_closed,
};

static struct hconn *hconn_new(struct harness *h, struct netstack_tcp *c,
			       enum mode mode, uint64_t bytes)
{
	struct hconn *hc = calloc(1, sizeof(*hc));

	if (!hc)
		return NULL;
	hc->h = h;
	hc->c = c;
	hc->mode = mode;
	hc->to_send = bytes;
	hc->id = h->next_id++;
	hc->rx = EVP_MD_CTX_new();
	hc->tx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(hc->rx, EVP_sha256(), NULL);
	EVP_DigestInit_ex(hc->tx, EVP_sha256(), NULL);
	h->live++;
	hc->next = h->conns;
	if (h->conns)
		h->conns->prev = hc;
	h->conns = hc;
	return hc;
}

static struct harness *the_harness;

static enum netstack_accept svc_syn(void *ctx, struct netstack_listener *l,
				    struct netstack_tcp *c)
{
	struct service *svc = ctx;
	/* A source of 0 bytes sends until the peer goes away. */
	struct hconn *hc = hconn_new(the_harness, c, svc->mode,
				     svc->mode == MODE_SOURCE && !svc->bytes
					     ? UINT64_MAX
					     : svc->bytes);

	if (!hc)
		return NETSTACK_REFUSE_RST;
	hc->pause = svc->pause;
	netstack_tcp_set_ops(c, &hconn_ops, hc);
	return NETSTACK_ACCEPT;
}

static const struct netstack_listener_ops svc_ops = { .syn = svc_syn };

/* ---------------------------------------------------------------- UDP */

static void udp_echo_recv(void *ctx, struct netstack_udp *u,
			  const struct netstack_addr *src,
			  const struct netstack_addr *dst, const uint8_t *data,
			  size_t len)
{
	netstack_udp_sendto(u, dst, src, data, len);
}

static const struct netstack_udp_ops udp_echo_ops = { .recv = udp_echo_recv };

/* ---------------------------------------------------------------- loop */

static void on_tick(struct loop *loop, void *arg)
{
	struct harness *h = arg;

	struct hconn *hc, *next;

	release(h);
	netstack_tick(h->st);
	/* Paused sinks resume reading here once their pause is over. */
	for (hc = h->conns; hc; hc = next) {
		next = hc->next;
		if (hc->paused && clock_mono_ns() >= hc->pause_until)
			drain(hc);
	}
}

static void on_idle(struct loop *loop, void *arg)
{
	struct harness *h = arg;

	netstack_set_clock(h->st, clock_mono_ns());
	netstack_flush(h->st);
	release(h);
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
		"Usage: %s netstack-harness --tun NAME --addr IP [--addr IP6]\n"
		"  [--mtu N] [--loss PCT] [--reorder PCT] [--delay-ms MS]\n"
		"  [--seed N] [--relay TUN2]\n"
		"  [--no-sack] [--no-wscale] [--no-ts] [--cc cubic|newreno|bbr]\n"
		"  [--rbuf-max BYTES] [--sbuf-max BYTES]\n"
		"  [--sink PORT] [--source PORT:BYTES] [--echo PORT]\n"
		"  [--sink-pause PORT --pause-after BYTES --pause-ms MS]\n"
		"  [--udp-echo PORT]\n"
		"  [--connect IP:PORT:BYTES [--count N]] [--exit-after N]\n",
		prog_name);
}

static int add_service(struct harness *h, enum mode mode, const char *arg)
{
	struct service *s;
	char *colon;

	if (h->nsvc == MAX_SERVICES)
		return -1;
	s = &h->svc[h->nsvc++];
	s->mode = mode;
	s->port = (uint16_t)strtoul(arg, &colon, 10);
	if (*colon == ':')
		s->bytes = strtoull(colon + 1, NULL, 10);
	return s->port ? 0 : -1;
}

int cmd_netstack_harness(int argc, char *argv[])
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

	if (!h)
		return 1;
	h->tun_fd = h->sig_fd = h->relay_fd = -1;
	netstack_config_default(&cfg);
	h->rng = 0x9e3779b97f4a7c15ull;
	h->connect_count = 1;
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
	make_pattern();
	the_harness = h;
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
	h->tun_fd = tun_attach(tun);
	if (h->tun_fd < 0) {
		fprintf(stderr, "TUN %s: %s\n", tun, strerror(-h->tun_fd));
		goto out;
	}
	if (relay) {
		/* Relay mode: TUN to TUN through the path, no stack. */
		h->relay_fd = tun_attach(relay);
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
			ret = netstack_udp_open(h->st, &any, 0, &udp_echo_ops,
						h, &h->udp_echo);
		} else {
			ret = netstack_tcp_listen(h->st, &any, 0, &svc_ops,
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
	loop_add(h->loop, h->tun_fd, LOOP_READ, on_tun, h);
	if (h->relay_fd >= 0)
		loop_add(h->loop, h->relay_fd, LOOP_READ, on_relay_tun, h);
	loop_set_tick(h->loop, 1, on_tick, h);
	loop_set_idle(h->loop, on_idle, h);
	if (h->connect_to.family) {
		for (i = 0; i < h->connect_count; ++i) {
			struct netstack_tcp *c;
			struct hconn *hc = hconn_new(h, NULL, MODE_CONNECT,
						     h->connect_bytes);

			ret = netstack_tcp_connect(h->st, NULL, &h->connect_to,
						   &hconn_ops, hc, &c);
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
	print_stats(h);
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
	free(pattern);
	free(h);
	return ret;
}

/* netstack pure logic: the Internet checksum, sequence arithmetic, the
 * SACK range sets against a bitmap reference, the RFC 6675 scoreboard
 * (IsLost, NextSeg, pipe), CUBIC's window curve, ICMP/UDP between two
 * stacks, and the egress hooks: per-datagram verdicts of a transparent UDP
 * socket and the echo handler. */
#include "unit.h"

#include "netstack/stack.h"
#include "netstack_sim.h"

static void test_checksum(void)
{
	/* RFC 1071 4.1's example: sum 0xddf2, checksum ~ = 0x220d. */
	static const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03,
				     0xf4, 0xf5, 0xf6, 0xf7 };
	uint8_t odd[3] = { 0x12, 0x34, 0x56 };
	uint16_t c = ns_csum_fold(ns_csum_partial(b, sizeof(b), 0));
	uint8_t *p = (uint8_t *)&c;

	CHECK(p[0] == 0x22 && p[1] == 0x0d);
	/* Odd length: the last byte is the high half of a word. */
	c = ns_csum_fold(ns_csum_partial(odd, 3, 0));
	CHECK(p[0] == (uint8_t)~(0x12 + 0x56) && p[1] == (uint8_t)~0x34);
	/* A packet with its checksum in place sums to zero. */
	{
		uint8_t pkt[20] = { 0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6,
				    0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };
		uint16_t s = ns_csum_fold(ns_csum_partial(pkt, 20, 0));

		memcpy(pkt + 10, &s, 2);
		CHECK(ns_csum_fold(ns_csum_partial(pkt, 20, 0)) == 0);
	}
}

static void test_seq_arith(void)
{
	CHECK(SEQ_LT(1, 2));
	CHECK(SEQ_LT(0xfffffff0u, 0x10));
	CHECK(SEQ_GT(0x10, 0xfffffff0u));
	CHECK(SEQ_LEQ(5, 5) && SEQ_GEQ(5, 5));
	CHECK(!SEQ_LT(0x7ffffff0u + 4, 4));
	CHECK(SEQ_MAX(0xfffffff0u, 0x10) == 0x10);
	CHECK(SEQ_MIN(0xfffffff0u, 0x10) == 0xfffffff0u);
}

static void test_ranges_reference(void)
{
	enum { SPAN = 4096 };
	static bool bit[SPAN];
	struct seq_ranges s = { 0 };
	uint32_t base = 0xfffff000u, rng = 1, i, j, k;
	uint32_t trimmed = 0;
	int round;

	memset(bit, 0, sizeof(bit));
	for (round = 0; round < 3000; ++round) {
		uint32_t a, len, covered = 0, added = 0;
		int64_t r;

		rng = rng * 1103515245 + 12345;
		a = (rng >> 8) % (SPAN - 64);
		len = 1 + (rng >> 20) % 60;
		for (i = a; i < a + len; ++i)
			added += !bit[i];
		r = seq_ranges_add(&s, base + a, base + a + len);
		if (r < 0)
			continue; /* full: nothing recorded */
		for (i = a; i < a + len; ++i)
			bit[i] = true;
		CHECK(r == added);
		if (round % 500 == 499) {
			/* Cumulative ACK moves up. */
			uint32_t t = trimmed + 300, dropped = 0;

			for (i = 0; i < t; ++i)
				dropped += bit[i], bit[i] = false;
			CHECK(seq_ranges_trim(&s, base + t) == dropped);
			trimmed = t;
		}
		/* Ranges sorted, disjoint, not touching, matching bits. */
		for (k = 0; k < s.n; ++k) {
			CHECK(SEQ_LT(s.r[k].start, s.r[k].end));
			if (k)
				CHECK(SEQ_LT(s.r[k - 1].end, s.r[k].start));
		}
		for (j = 0; j < 8; ++j) {
			uint32_t x = (rng >> j) % (SPAN - 100), y = x + 97;

			covered = 0;
			for (i = x; i < y; ++i)
				covered += bit[i];
			CHECK(seq_ranges_covered(&s, base + x, base + y) ==
			      covered);
		}
	}
	seq_ranges_free(&s);
}

/* A bare connection block for scoreboard and CC arithmetic. */
static struct netstack_tcp *bare_conn(struct netstack *st)
{
	struct netstack_tcp *c = calloc(1, sizeof(*c));

	c->st = st;
	c->mss = 1000;
	c->snd_una = 100000;
	c->snd_nxt = 110000;
	c->lost_mark = c->high_rxt = c->snd_una;
	tcp_cc_init(c);
	return c;
}

static void sack(struct netstack_tcp *c, uint32_t a, uint32_t b)
{
	struct tcp_opts o = { 0 };

	o.nsack = 1;
	o.sack[0].start = a;
	o.sack[0].end = b;
	tcp_sack_update(c, &o);
}

static void test_sack_scoreboard(void)
{
	struct netstack *st = netstack_new(NULL, &sim_ops, NULL, NULL);
	struct netstack_tcp *c = bare_conn(st);
	uint32_t start, len;

	/* Segments 0..9 of 1000 bytes in flight; 1 and 2 SACKed: not
	 * enough for IsLost (needs > 2 * SMSS above). */
	sack(c, 101000, 103000);
	CHECK(c->sacked_bytes == 2000);
	CHECK(tcp_sack_lost_high(c) == c->snd_una);
	CHECK(!tcp_sack_next_hole(c, c->snd_una, 1000, &start, &len));
	CHECK(tcp_pipe(c) == 10000 - 2000);
	/* Segment 4 SACKed too: 3 segments above 0 -> segment 0 lost. */
	sack(c, 104000, 105000);
	CHECK(tcp_sack_lost_high(c) == 101000);
	CHECK(tcp_sack_next_hole(c, c->snd_una, 1000, &start, &len));
	CHECK(start == 100000 && len == 1000);
	/* pipe: 10 out - 3 SACKed - 1 lost. */
	CHECK(tcp_pipe(c) == 6000);
	/* Retransmitting it counts it in the pipe again (RFC 6675). */
	c->high_rxt = 101000;
	CHECK(tcp_pipe(c) == 7000);
	CHECK(!tcp_sack_next_hole(c, c->high_rxt, 1000, &start, &len));
	/* More SACKs: segment 3 becomes lost as well (6, 7 above it). */
	sack(c, 106000, 108000);
	CHECK(tcp_sack_lost_high(c) == 104000);
	CHECK(tcp_sack_next_hole(c, c->high_rxt, 1000, &start, &len));
	CHECK(start == 103000 && len == 1000);
	/* A cumulative ACK past the first ranges trims the board. */
	c->snd_una = 105000;
	c->sacked_bytes -= seq_ranges_trim(&c->sacked, c->snd_una);
	CHECK(c->sacked_bytes == 2000);
	CHECK(c->sacked.n == 1);
	/* A timeout marks everything lost. */
	c->lost_mark = c->snd_nxt;
	c->high_rxt = c->snd_una;
	CHECK(tcp_pipe(c) == 0);
	CHECK(tcp_sack_next_hole(c, c->snd_una, 1000, &start, &len));
	CHECK(start == 105000 && len == 1000);
	seq_ranges_free(&c->sacked);
	free(c);
	netstack_free(st);
}

static void test_cubic_growth(void)
{
	struct netstack_config cfg;
	struct netstack *st;
	struct netstack_tcp *c;
	uint64_t t0;
	double k;
	int rtt;

	netstack_config_default(&cfg);
	cfg.cc = NETSTACK_CC_CUBIC;
	st = netstack_new(&cfg, &sim_ops, NULL, NULL);
	REQUIRE(st);
	c = bare_conn(st);
	netstack_set_clock(st, 1000 * SIM_SEC);
	c->srtt_us = 100000;
	c->cwnd_limited = true;
	/* Slow start doubles per RTT of ACKs. */
	tcp_cc_on_ack(c, c->cc.cwnd);
	CHECK(c->cc.cwnd == 2 * TCP_INIT_CWND * 1000);
	/* A loss at 100 segments: beta 0.7, W_max 100. */
	c->cc.cwnd = 100000;
	c->snd_nxt = c->snd_una + 100000;
	tcp_cc_on_loss(c);
	CHECK(c->cc.cwnd == 70000 && c->cc.ssthresh == 70000);
	CHECK(c->cc.w_max == 100000);
	/* Congestion avoidance, one window of ACKs per 100 ms RTT: the
	 * window returns to W_max at K = cbrt(W_max * 0.3 / C) = 4.22 s. */
	k = 4.217;
	t0 = 1000 * SIM_SEC;
	for (rtt = 0; rtt < 80; ++rtt) {
		uint32_t acked = 0, cw = c->cc.cwnd;

		netstack_set_clock(st, t0 + (uint64_t)rtt * 100 * SIM_MS);
		while (acked < cw) {
			tcp_cc_on_ack(c, 1000);
			acked += 1000;
		}
		if (rtt == 20) /* 2 s: concave region, below W_max */
			CHECK(c->cc.cwnd > 80000 && c->cc.cwnd < 100000);
		if (rtt == (int)(k * 10)) /* plateau near W_max */
			CHECK(c->cc.cwnd > 95000 && c->cc.cwnd < 106000);
	}
	/* 8 s: convex region, well above W_max (W(t) = C(t-K)^3 + W_max). */
	CHECK(c->cc.cwnd > 120000);
	/* Fast convergence: a loss below W_max lowers W_max further. */
	c->cc.cwnd = 90000;
	c->cc.w_max = 100000;
	tcp_cc_on_loss(c);
	CHECK(c->cc.w_max == 76500);
	/* Timeout: one segment. */
	c->rexmt_count = 1;
	tcp_cc_on_rto(c);
	CHECK(c->cc.cwnd == 1000);
	free(c);
	netstack_free(st);
}

static void test_newreno_growth(void)
{
	struct netstack_config cfg;
	struct netstack *st;
	struct netstack_tcp *c;
	int i;

	netstack_config_default(&cfg);
	cfg.cc = NETSTACK_CC_NEWRENO;
	st = netstack_new(&cfg, &sim_ops, NULL, NULL);
	c = bare_conn(st);
	c->cwnd_limited = true;
	c->cc.cwnd = 20000;
	c->cc.ssthresh = 20000;
	/* One MSS per window of ACKs. */
	for (i = 0; i < 20; ++i)
		tcp_cc_on_ack(c, 1000);
	CHECK(c->cc.cwnd >= 20900 && c->cc.cwnd <= 21000);
	/* Loss: half the flight size. */
	c->snd_nxt = c->snd_una + 30000;
	tcp_cc_on_loss(c);
	CHECK(c->cc.cwnd == 15000);
	/* Not cwnd-limited: no growth (RFC 7661). */
	c->cwnd_limited = false;
	tcp_cc_on_ack(c, 10000);
	CHECK(c->cc.cwnd == 15000);
	free(c);
	netstack_free(st);
}

static int udp_got;
static int udp_err;
static struct netstack_addr udp_err_remote;
/* What udp_recv answers; the last datagram's addresses. */
static enum netstack_accept udp_verdict;
static struct netstack_addr udp_src, udp_dst;

static enum netstack_accept udp_recv(void *ctx, struct netstack_udp *u,
				     const struct netstack_addr *src,
				     const struct netstack_addr *dst,
				     const uint8_t *data, size_t len)
{
	udp_got++;
	udp_src = *src;
	udp_dst = *dst;
	if (udp_verdict != NETSTACK_ACCEPT)
		return udp_verdict;
	if (len == 5 && !memcmp(data, "hello", 5))
		netstack_udp_sendto(u, dst, src, "world", 5);
	return NETSTACK_ACCEPT;
}

static void udp_error(void *ctx, struct netstack_udp *u,
		      const struct netstack_addr *remote, int err)
{
	udp_err = err;
	udp_err_remote = *remote;
}

static const struct netstack_udp_ops udp_ops = { udp_recv, udp_error };

static void test_udp_icmp(void)
{
	struct sim sim;
	struct netstack_udp *srv, *cli, *any;
	struct netstack_addr a, b, x;
	struct netstack_stats st;
	int family;

	sim_init(&sim, NULL);
	for (family = AF_INET; family; family = family == AF_INET ? AF_INET6
								  : 0) {
		udp_got = 0;
		udp_err = 0;
		sim_addr(&a, 1, family, 53);
		REQUIRE(netstack_udp_open(sim.st[1], &a, 0, &udp_ops, NULL,
					  &srv) == 0);
		sim_addr(&b, 0, family, 0);
		REQUIRE(netstack_udp_open(sim.st[0], &b, 0, &udp_ops, NULL,
					  &cli) == 0);
		CHECK(netstack_udp_local(cli)->port != 0);
		CHECK(netstack_udp_sendto(cli, NULL, &a, "hello", 5) == 0);
		sim_run(&sim, sim.now + SIM_SEC, NULL, NULL);
		CHECK(udp_got == 2); /* request at srv, reply at cli */
		/* Closed port: ICMP port unreachable back to the sender. */
		a.port = 54;
		CHECK(netstack_udp_sendto(cli, NULL, &a, "x", 1) == 0);
		sim_run(&sim, sim.now + SIM_SEC, NULL, NULL);
		CHECK(udp_err == -ECONNREFUSED);
		/* Too big for the MTU: no fragmentation. */
		{
			static uint8_t big[2000];

			CHECK(netstack_udp_sendto(cli, NULL, &a, big,
						  sizeof(big)) == -EMSGSIZE);
		}
		netstack_udp_close(cli);
		netstack_udp_close(srv);
	}
	/* A transparent any-port socket sees traffic for other addresses;
	 * a plain any-address one does not. */
	memset(&x, 0, sizeof(x));
	x.family = AF_UNSPEC;
	REQUIRE(netstack_udp_open(sim.st[1], &x, NETSTACK_TRANSPARENT,
				  &udp_ops, NULL, &any) == 0);
	sim_addr(&b, 0, AF_INET, 0);
	REQUIRE(netstack_udp_open(sim.st[0], &b, 0, &udp_ops, NULL, &cli) ==
		0);
	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	a.ip[0] = 192;
	a.ip[1] = 0;
	a.ip[2] = 2;
	a.ip[3] = 7;
	a.port = 9999;
	udp_got = 0;
	CHECK(netstack_udp_sendto(cli, NULL, &a, "hello", 5) == 0);
	sim_run(&sim, sim.now + SIM_SEC, NULL, NULL);
	CHECK(udp_got == 2); /* the reply comes from 192.0.2.7 */
	netstack_udp_close(any);
	netstack_udp_close(cli);
	netstack_get_stats(sim.st[1], &st);
	CHECK(st.icmp_unreach_sent == 2);
	sim_free(&sim);
}

/* A transparent socket decides per datagram (egress): accepted ones are
 * taken, refused ones answered with the ICMP error asked for, and a
 * datagram taken can be refused afterwards (the real destination's
 * error, relayed). Our own closed ports keep their port unreachable. */
static void test_udp_transparent_verdicts(void)
{
	static const struct {
		enum netstack_accept how;
		int err;
	} cases[] = {
		{ NETSTACK_REFUSE_PROHIBITED, -EHOSTUNREACH },
		{ NETSTACK_REFUSE_RST, -ECONNREFUSED },
		{ NETSTACK_REFUSE_NET_UNREACH, -ENETUNREACH },
		{ NETSTACK_REFUSE_DROP, 0 },
	};
	struct sim sim;
	struct netstack_udp *any, *cli;
	struct netstack_addr a, b, x;
	struct netstack_stats st;
	int family;
	size_t i;

	sim_init(&sim, NULL);
	memset(&x, 0, sizeof(x));
	x.family = AF_UNSPEC;
	REQUIRE(netstack_udp_open(sim.st[1], &x, NETSTACK_TRANSPARENT,
				  &udp_ops, NULL, &any) == 0);
	for (family = AF_INET; family; family = family == AF_INET ? AF_INET6
								  : 0) {
		sim_addr(&b, 0, family, 0);
		REQUIRE(netstack_udp_open(sim.st[0], &b, 0, &udp_ops, NULL,
					  &cli) == 0);
		memset(&a, 0, sizeof(a));
		a.family = (uint16_t)family;
		a.ip[0] = family == AF_INET ? 192 : 0x20;
		a.ip[1] = family == AF_INET ? 0 : 0x01;
		a.ip[2] = family == AF_INET ? 2 : 0x0d;
		a.ip[3] = family == AF_INET ? 7 : 0xb8;
		a.port = 53;
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
			udp_got = udp_err = 0;
			udp_verdict = cases[i].how;
			CHECK(netstack_udp_sendto(cli, NULL, &a, "q", 1) == 0);
			sim_run(&sim, sim.now + SIM_SEC, NULL, NULL);
			CHECK(udp_got == 1);
			CHECK(udp_err == cases[i].err);
			if (cases[i].err)
				CHECK(!memcmp(&udp_err_remote, &a, sizeof(a)));
		}
		/* Taken, then refused from the real destination's answer:
		 * port unreachable comes from that destination. */
		udp_got = udp_err = 0;
		udp_verdict = NETSTACK_ACCEPT;
		CHECK(netstack_udp_sendto(cli, NULL, &a, "q", 1) == 0);
		sim_run(&sim, sim.now + SIM_SEC, NULL, NULL);
		CHECK(udp_got == 1 && udp_err == 0);
		CHECK(udp_dst.port == 53);
		CHECK(udp_src.port == netstack_udp_local(cli)->port);
		CHECK(netstack_udp_refuse(any, &udp_src, &udp_dst,
					  NETSTACK_REFUSE_RST) == 0);
		sim_run(&sim, sim.now + SIM_SEC, NULL, NULL);
		CHECK(udp_err == -ECONNREFUSED);
		CHECK(!memcmp(&udp_err_remote, &a, sizeof(a)));
		udp_err = 0;
		CHECK(netstack_udp_refuse(any, &udp_src, &udp_dst,
					  NETSTACK_REFUSE_HOST_UNREACH) == 0);
		sim_run(&sim, sim.now + SIM_SEC, NULL, NULL);
		CHECK(udp_err == -EHOSTUNREACH);
		/* Our own address, closed port: the egress socket gets it
		 * and refuses as a closed port. */
		udp_got = udp_err = 0;
		udp_verdict = NETSTACK_REFUSE_RST;
		sim_addr(&a, 1, family, 4242);
		CHECK(netstack_udp_sendto(cli, NULL, &a, "q", 1) == 0);
		sim_run(&sim, sim.now + SIM_SEC, NULL, NULL);
		CHECK(udp_got == 1);
		CHECK(udp_err == -ECONNREFUSED);
		netstack_udp_close(cli);
	}
	udp_verdict = NETSTACK_ACCEPT;
	netstack_get_stats(sim.st[1], &st);
	CHECK(st.udp_refused == 10);
	CHECK(st.udp_in == 2);
	netstack_udp_close(any);
	sim_free(&sim);
}

static int echo_got;
static enum netstack_accept echo_verdict;
static struct netstack_addr echo_src, echo_dst;
static uint16_t echo_id, echo_seq;
static uint8_t echo_data[64];
static size_t echo_len;

static enum netstack_accept echo_request(void *ctx, struct netstack_echo *e,
					 const struct netstack_addr *src,
					 const struct netstack_addr *dst,
					 uint16_t id, uint16_t seq,
					 const uint8_t *data, size_t len)
{
	echo_got++;
	echo_src = *src;
	echo_dst = *dst;
	echo_id = id;
	echo_seq = seq;
	echo_len = len < sizeof(echo_data) ? len : sizeof(echo_data);
	memcpy(echo_data, data, echo_len);
	return echo_verdict;
}

static const struct netstack_echo_ops echo_ops = { echo_request };

/* An echo request of family from 10.0.0.1 / fd00::1 to dst (4 or 16
 * bytes) with id 0x1234, seq 7 and payload "ping!", checksums right. */
static void feed_echo(struct sim *sim, int family, const uint8_t *dst)
{
	static const uint8_t a6[16] = { 0xfd, [15] = 1 };
	struct pktbuf *pb = pktpool_get(&sim->pool);
	uint8_t *p = pkt_data(pb), *l4;
	uint32_t hl = family == AF_INET6 ? 40 : 20, sum = 0;
	uint16_t c;

	memset(p, 0, hl + 13);
	if (family == AF_INET6) {
		p[0] = 0x60;
		p[5] = 13;
		p[6] = 58;
		p[7] = 64;
		memcpy(p + 8, a6, 16);
		memcpy(p + 24, dst, 16);
	} else {
		p[0] = 0x45;
		p[3] = 20 + 13;
		p[8] = 64;
		p[9] = 1;
		p[12] = 10;
		p[15] = 1;
		memcpy(p + 16, dst, 4);
		c = ns_csum_fold(ns_csum_partial(p, 20, 0));
		memcpy(p + 10, &c, 2);
	}
	l4 = p + hl;
	l4[0] = family == AF_INET6 ? 128 : 8;
	l4[4] = 0x12;
	l4[5] = 0x34;
	l4[7] = 7;
	memcpy(l4 + 8, "ping!", 5);
	if (family == AF_INET6)
		sum = ns_csum_pseudo(AF_INET6, p + 8, p + 24, 58, 13);
	c = ns_csum_fold(ns_csum_partial(l4, 13, sum));
	memcpy(l4 + 2, &c, 2);
	pb->len = hl + 13;
	netstack_input(sim->st[1], pb);
}

/* The packet the stack sent last: its ICMP part, checksum verified. */
static const uint8_t *sent_icmp(struct sim *sim, int family, uint32_t *len)
{
	const uint8_t *p;
	uint32_t hl = family == AF_INET6 ? 40 : 20, sum = 0;

	if (!sim->tail)
		return NULL;
	p = pkt_data(sim->tail->pb);
	*len = sim->tail->pb->len - hl;
	if (family == AF_INET6)
		sum = ns_csum_pseudo(AF_INET6, p + 8, p + 24, 58, *len);
	if (ns_csum_fold(ns_csum_partial(p + hl, *len, sum)) != 0)
		return NULL;
	return p + hl;
}

static void test_echo_handler(void)
{
	uint8_t other4[4] = { 192, 0, 2, 7 };
	uint8_t other6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 };
	uint8_t ours4[4] = { 10, 0, 0, 2 };
	uint8_t ours6[16] = { 0xfd, [15] = 2 };
	struct netstack_echo *e, *e2;
	struct sim_pkt *last;
	struct netstack_stats st;
	struct sim sim;
	const uint8_t *icmp, *other;
	uint32_t len, hl;
	int family;

	sim_init(&sim, NULL);
	/* No handler: dropped, as before. */
	feed_echo(&sim, AF_INET, other4);
	CHECK(!sim.head);
	REQUIRE(netstack_echo_open(sim.st[1], &echo_ops, NULL, &e) == 0);
	CHECK(netstack_echo_open(sim.st[1], &echo_ops, NULL, &e2) ==
	      -EADDRINUSE);
	for (family = AF_INET; family; family = family == AF_INET ? AF_INET6
								  : 0) {
		bool v6 = family == AF_INET6;

		other = v6 ? other6 : other4;
		hl = v6 ? 40 : 20;
		/* Taken by the handler with the request's fields... */
		echo_got = 0;
		echo_verdict = NETSTACK_ACCEPT;
		last = sim.tail;
		feed_echo(&sim, family, other);
		CHECK(echo_got == 1);
		CHECK(echo_id == 0x1234 && echo_seq == 7);
		CHECK(echo_len == 5 && !memcmp(echo_data, "ping!", 5));
		CHECK(echo_src.family == family && echo_dst.family == family);
		CHECK(!memcmp(echo_dst.ip, other, v6 ? 16 : 4));
		CHECK(sim.tail == last); /* nothing sent yet */
		/* ...and answered later as the destination. */
		CHECK(netstack_echo_reply(e, &echo_dst, &echo_src, echo_id,
					  echo_seq, "ping!", 5) == 0);
		icmp = sent_icmp(&sim, family, &len);
		REQUIRE(icmp);
		CHECK(icmp[0] == (v6 ? 129 : 0) && len == 13);
		CHECK(icmp[4] == 0x12 && icmp[5] == 0x34 && icmp[7] == 7);
		CHECK(!memcmp(icmp + 8, "ping!", 5));
		CHECK(!memcmp(pkt_data(sim.tail->pb) + (v6 ? 8 : 12), other,
			      v6 ? 16 : 4));
		/* Refused: administratively prohibited, quoting it. */
		echo_verdict = NETSTACK_REFUSE_PROHIBITED;
		feed_echo(&sim, family, other);
		icmp = sent_icmp(&sim, family, &len);
		REQUIRE(icmp);
		CHECK(icmp[0] == (v6 ? 1 : 3) && icmp[1] == (v6 ? 1 : 13));
		CHECK(len == 8 + hl + 13);
		CHECK(icmp[8 + hl] == (v6 ? 128 : 8));
		/* Refused after the fact: host unreachable, quoting the id. */
		CHECK(netstack_echo_refuse(e, &echo_src, &echo_dst, 0x1234, 7,
					   NETSTACK_REFUSE_HOST_UNREACH) == 0);
		icmp = sent_icmp(&sim, family, &len);
		REQUIRE(icmp);
		CHECK(icmp[0] == (v6 ? 1 : 3) && icmp[1] == (v6 ? 3 : 1));
		CHECK(len == 8 + hl + 8);
		CHECK(icmp[8 + hl] == (v6 ? 128 : 8));
		CHECK(icmp[8 + hl + 4] == 0x12 && icmp[8 + hl + 5] == 0x34);
		CHECK(!memcmp(icmp + 8 + (v6 ? 24 : 16), other, v6 ? 16 : 4));
		/* Our own address: the stack answers, not the handler. */
		echo_got = 0;
		feed_echo(&sim, family, v6 ? ours6 : ours4);
		CHECK(echo_got == 0);
		icmp = sent_icmp(&sim, family, &len);
		REQUIRE(icmp);
		CHECK(icmp[0] == (v6 ? 129 : 0));
	}
	netstack_get_stats(sim.st[1], &st);
	CHECK(st.icmp_echo_passed == 4);
	netstack_echo_close(e);
	echo_got = 0;
	feed_echo(&sim, AF_INET, other4);
	CHECK(echo_got == 0);
	/* Freed with the stack when left open. */
	REQUIRE(netstack_echo_open(sim.st[1], &echo_ops, NULL, &e) == 0);
	sim_free(&sim);
}

static void test_ping(void)
{
	static const uint8_t echo[] = {
		0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1,
		10, 0, 0, 2, 8, 0, 0, 0, 0x12, 0x34, 0, 1,
	};
	struct sim sim;
	struct netstack_stats st;
	struct pktbuf *pb;
	uint8_t pkt[28];
	uint16_t c;

	sim_init(&sim, NULL);
	memcpy(pkt, echo, sizeof(pkt));
	c = ns_csum_fold(ns_csum_partial(pkt, 20, 0));
	memcpy(pkt + 10, &c, 2);
	c = ns_csum_fold(ns_csum_partial(pkt + 20, 8, 0));
	memcpy(pkt + 22, &c, 2);
	pb = pktpool_get(&sim.pool);
	memcpy(pkt_data(pb), pkt, sizeof(pkt));
	pb->len = sizeof(pkt);
	CHECK(netstack_input(sim.st[1], pb) == NETSTACK_PKT_OK);
	netstack_get_stats(sim.st[1], &st);
	CHECK(st.icmp_echo_replies == 1);
	/* The reply went out towards 10.0.0.1, an echo reply. */
	REQUIRE(sim.head);
	CHECK(pkt_data(sim.head->pb)[20] == 0);
	CHECK(!memcmp(pkt_data(sim.head->pb) + 16, pkt + 12, 4));
	/* A bad checksum is dropped. */
	pb = pktpool_get(&sim.pool);
	memcpy(pkt_data(pb), pkt, sizeof(pkt));
	pkt_data(pb)[27] ^= 1;
	pb->len = sizeof(pkt);
	CHECK(netstack_input(sim.st[1], pb) == NETSTACK_PKT_DROP);
	sim_free(&sim);
}

int main(void)
{
	RUN(test_checksum);
	RUN(test_seq_arith);
	RUN(test_ranges_reference);
	RUN(test_sack_scoreboard);
	RUN(test_cubic_growth);
	RUN(test_newreno_growth);
	RUN(test_udp_icmp);
	RUN(test_udp_transparent_verdicts);
	RUN(test_echo_handler);
	RUN(test_ping);
	return unit_done();
}

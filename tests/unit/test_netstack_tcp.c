/* TCP between two netstacks over a simulated link on a fake clock:
 * handshake, transfer, half-close, loss recovery, RTO backoff, TIME-WAIT,
 * keepalive, zero window, resets, deferred accept, large windows. */
#include "unit.h"

#include "crypto/crypto.h"
#include "netstack/stack.h"

#include "netstack_sim.h"


struct pair {
	struct sim sim;
	struct server sv;
	struct app srv[4];
	struct app cli;
	struct netstack_listener *l;
};

static void pair_setup_decision(struct pair *p,
				const struct netstack_config *cfg, int family,
				enum netstack_accept decision)
{
	struct netstack_addr la, ra;

	memset(p, 0, sizeof(*p));
	sim_init(&p->sim, cfg);
	p->sv.apps = p->srv;
	p->sv.napps = 4;
	p->sv.decision = decision;
	p->sv.proto.reading = true;
	p->sv.proto.seed = 2;
	p->sv.proto.peer_seed = 1;
	sim_addr(&la, 1, AF_UNSPEC, 80);
	memset(la.ip, 0, 16);
	netstack_tcp_listen(p->sim.st[1], &la, 0, &server_ops, &p->sv, &p->l);
	p->cli.reading = true;
	p->cli.seed = 1;
	p->cli.peer_seed = 2;
	sim_addr(&ra, 1, family, 80);
	if (netstack_tcp_connect(p->sim.st[0], NULL, &ra, &app_ops, &p->cli,
				 &p->cli.c))
		p->cli.c = NULL;
}

static void pair_setup(struct pair *p, const struct netstack_config *cfg,
		       int family)
{
	pair_setup_decision(p, cfg, family, NETSTACK_ACCEPT);
}

static void pair_free(struct pair *p)
{
	sim_free(&p->sim);
}

static bool cli_connected(void *arg);

/* A pair with delay_ns each way, run until the handshake is done. */
static bool pair_connected(struct pair *p, uint64_t delay_ns)
{
	pair_setup(p, NULL, AF_INET);
	p->sim.delay_ns = delay_ns;
	sim_run(&p->sim, p->sim.now + 5 * SIM_SEC, cli_connected, p);
	return p->cli.connected;
}

/* Closes both ends' handles and frees the pair. */
static void pair_close(struct pair *p)
{
	netstack_tcp_close(p->cli.c);
	netstack_tcp_close(p->srv[0].c);
	pair_free(p);
}

static bool cli_connected(void *arg)
{
	struct pair *p = arg;

	return p->cli.connected && p->sv.next > 0 && p->srv[0].connected;
}

static bool transfer_done(void *arg)
{
	struct pair *p = arg;

	return p->srv[0].received == p->cli.to_send &&
	       p->cli.received == p->srv[0].to_send;
}

static bool both_closed(void *arg)
{
	struct pair *p = arg;

	return p->cli.closed && p->srv[0].closed;
}

static void test_handshake(void)
{
	struct pair p;
	struct netstack_tcp_info info;

	pair_setup(&p, NULL, AF_INET);
	REQUIRE(p.cli.c);
	sim_run(&p.sim, p.sim.now + 5 * SIM_SEC, cli_connected, &p);
	CHECK(p.cli.connected);
	REQUIRE(p.sv.next == 1);
	CHECK(p.srv[0].connected);
	netstack_tcp_get_info(p.cli.c, &info);
	CHECK(info.state == NETSTACK_TCP_ESTABLISHED);
	CHECK(info.sack);
	CHECK(info.timestamps);
	CHECK(info.snd_wscale != 0xff && info.rcv_wscale == 10);
	CHECK(info.mss == 1420 - 40 - 12);
	netstack_tcp_get_info(p.srv[0].c, &info);
	CHECK(info.state == NETSTACK_TCP_ESTABLISHED);
	netstack_tcp_close(p.cli.c);
	netstack_tcp_close(p.srv[0].c);
	pair_free(&p);
}

static void run_transfer_cfg(const struct netstack_config *cfg, int family,
			     uint64_t bytes, uint64_t delay_ns, uint64_t rate,
			     uint32_t loss_ppm, uint64_t limit_s,
			     struct netstack_stats *stats_out, uint64_t *took)
{
	struct pair p;
	uint64_t start;

	pair_setup(&p, cfg, family);
	p.sim.delay_ns = delay_ns;
	p.sim.rate_bps = rate;
	p.sim.queue_ns = rate ? 2 * delay_ns + 10 * SIM_MS : 0;
	p.sim.loss_ppm = loss_ppm;
	p.cli.to_send = bytes;
	p.cli.shutdown_after = true;
	p.sv.proto.to_send = bytes;
	p.sv.proto.shutdown_after = true;
	REQUIRE(p.cli.c);
	sim_run(&p.sim, p.sim.now + 10 * SIM_SEC, cli_connected, &p);
	REQUIRE(p.sv.next == 1);
	start = p.sim.now;
	sim_run(&p.sim, p.sim.now + limit_s * SIM_SEC, transfer_done, &p);
	if (took)
		*took = p.sim.now - start;
	CHECK(p.srv[0].received == bytes);
	CHECK(p.cli.received == bytes);
	CHECK(!p.srv[0].bad && !p.cli.bad);
	sim_run(&p.sim, p.sim.now + 30 * SIM_SEC, both_closed, &p);
	CHECK(p.cli.eof && p.srv[0].eof);
	CHECK(p.cli.closed && p.cli.err == 0);
	CHECK(p.srv[0].closed && p.srv[0].err == 0);
	if (stats_out)
		netstack_get_stats(p.sim.st[0], stats_out);
	netstack_tcp_close(p.cli.c);
	netstack_tcp_close(p.srv[0].c);
	pair_free(&p);
}

static void run_transfer(int family, uint64_t bytes, uint64_t delay_ns,
			 uint64_t rate, uint32_t loss_ppm, uint64_t limit_s,
			 struct netstack_stats *stats_out, uint64_t *took)
{
	run_transfer_cfg(NULL, family, bytes, delay_ns, rate, loss_ppm,
			 limit_s, stats_out, took);
}

static void test_transfer_v4(void)
{
	run_transfer(AF_INET, 4 << 20, SIM_MS, 0, 0, 60, NULL, NULL);
}

static void test_transfer_v6(void)
{
	run_transfer(AF_INET6, 1 << 20, SIM_MS, 0, 0, 60, NULL, NULL);
}

static void test_loss_recovery(void)
{
	struct netstack_stats st;
	uint64_t took;

	/* 1% loss both ways, 20 ms RTT, 100 Mbit/s bottleneck. */
	run_transfer(AF_INET, 16 << 20, 10 * SIM_MS, 100000000, 10000, 120,
		     &st, &took);
	CHECK(st.tcp_fast_retransmits > 10);
	CHECK(st.tcp_sack_blocks_in > 10);
	CHECK(st.tcp_retransmits > 0);
	printf("INFO: 16 MiB each way at 1%% loss, 20 ms RTT, 100 Mbit/s: "
	       "%.2f s, %llu fast recoveries, %llu RTOs, %llu retransmits\n",
	       took / 1e9, (unsigned long long)st.tcp_fast_retransmits,
	       (unsigned long long)st.tcp_rto_expired,
	       (unsigned long long)st.tcp_retransmits);
}

static void test_loss_cubic_vs_bbr(void)
{
	struct netstack_config cfg;
	struct netstack_stats st;
	uint64_t t_cubic, t_newreno, t_bbr;

	/* 1% random loss, 40 ms RTT, no bottleneck queue: a loss-based
	 * window stays small, the model-based one does not. */
	netstack_config_default(&cfg);
	cfg.cc = NETSTACK_CC_CUBIC;
	run_transfer_cfg(&cfg, AF_INET, 4 << 20, 20 * SIM_MS, 0, 10000, 300,
			 &st, &t_cubic);
	cfg.cc = NETSTACK_CC_NEWRENO;
	run_transfer_cfg(&cfg, AF_INET, 4 << 20, 20 * SIM_MS, 0, 10000, 300,
			 &st, &t_newreno);
	cfg.cc = NETSTACK_CC_BBR;
	run_transfer_cfg(&cfg, AF_INET, 4 << 20, 20 * SIM_MS, 0, 10000, 300,
			 &st, &t_bbr);
	printf("INFO: 4 MiB each way at 1%% loss, 40 ms RTT: cubic %.2f s, "
	       "newreno %.2f s, bbr %.2f s (%llu lost retransmissions)\n",
	       t_cubic / 1e9, t_newreno / 1e9, t_bbr / 1e9,
	       (unsigned long long)st.tcp_lost_retransmits);
	CHECK(t_bbr * 3 < t_cubic);
}

/* A tunnel with 5% random loss each way and 40 ms RTT: the model-based
 * window must not collapse to what a loss-based one would (Mathis: about
 * 1.5 Mbit/s here). */
static void test_loss5(void)
{
	struct netstack_stats st;
	uint64_t took;
	double mbit;

	run_transfer(AF_INET, 16 << 20, 20 * SIM_MS, 200000000, 50000, 300,
		     &st, &took);
	mbit = (16.0 * 8 * (1 << 20)) / (took / 1e9) / 1e6;
	printf("INFO: 16 MiB each way at 5%% loss, 40 ms RTT, 200 Mbit/s: "
	       "%.2f s, %.0f Mbit/s, %llu RTOs, %llu retransmits\n",
	       took / 1e9, mbit, (unsigned long long)st.tcp_rto_expired,
	       (unsigned long long)st.tcp_retransmits);
	CHECK(mbit > 40);
}

static void test_large_window(void)
{
	uint64_t took;
	double mbit;

	/* 50 ms RTT at 1 Gbit/s: a 64 KiB window would give ~10 Mbit/s. */
	run_transfer(AF_INET, 64 << 20, 25 * SIM_MS, 1000000000, 0, 120, NULL,
		     &took);
	mbit = (64.0 * 8 * (1 << 20)) / (took / 1e9) / 1e6;
	printf("INFO: 64 MiB each way, 50 ms RTT, 1 Gbit/s: %.2f s, "
	       "%.0f Mbit/s\n", took / 1e9, mbit);
	CHECK(mbit > 200);
}

static bool cli_closed(void *arg)
{
	return ((struct pair *)arg)->cli.closed;
}

static void test_rst_closed_port(void)
{
	struct pair p;
	struct netstack_addr ra;
	struct netstack_stats st;

	pair_setup(&p, NULL, AF_INET);
	netstack_tcp_abort(p.cli.c);
	sim_addr(&ra, 1, AF_INET, 81);
	p.cli.c = NULL;
	REQUIRE(netstack_tcp_connect(p.sim.st[0], NULL, &ra, &app_ops, &p.cli,
				     &p.cli.c) == 0);
	sim_run(&p.sim, p.sim.now + 5 * SIM_SEC, cli_closed, &p);
	CHECK(p.cli.closed && p.cli.err == -ECONNREFUSED);
	netstack_get_stats(p.sim.st[1], &st);
	CHECK(st.tcp_rst_sent >= 1);
	CHECK(netstack_tcp_send(p.cli.c, "x", 1) == -ECONNREFUSED);
	netstack_tcp_close(p.cli.c);
	pair_free(&p);
}

static bool drop_all_from_0(struct sim *s, int from, const uint8_t *pkt,
			    uint32_t len)
{
	return from == 0 && s->drop_ctx;
}

static uint64_t rexmt_times[32];
static int nrexmt;

static bool record_data_from_0(struct sim *s, int from, const uint8_t *pkt,
			       uint32_t len)
{
	if (from == 0 && len > 52 && nrexmt < 32)
		rexmt_times[nrexmt++] = s->now;
	return from == 0 && s->drop_ctx;
}

static void test_rto_backoff(void)
{
	struct pair p;
	int i;

	REQUIRE(pair_connected(&p, 5 * SIM_MS));
	p.sim.drop = record_data_from_0;
	p.sim.drop_ctx = &p;
	nrexmt = 0;
	p.cli.to_send = 1000;
	app_pump(&p.cli);
	sim_run(&p.sim, p.sim.now + 30 * SIM_SEC, NULL, NULL);
	REQUIRE(nrexmt >= 7);
	/* A tail loss probe after ~2 SRTT (+ the delayed-ACK allowance for
	 * a single segment), then the RTO at the 200 ms floor (10 ms RTT),
	 * then doubling (RFC 6298 5.5). */
	CHECK(rexmt_times[1] - rexmt_times[0] >= 20 * SIM_MS);
	CHECK(rexmt_times[1] - rexmt_times[0] < 100 * SIM_MS);
	CHECK(rexmt_times[2] - rexmt_times[1] >= 200 * SIM_MS);
	CHECK(rexmt_times[2] - rexmt_times[1] < 260 * SIM_MS);
	for (i = 4; i < 7; ++i) {
		uint64_t a = rexmt_times[i - 1] - rexmt_times[i - 2];
		uint64_t b = rexmt_times[i] - rexmt_times[i - 1];

		CHECK(b >= 2 * a - SIM_MS && b <= 2 * a + SIM_MS);
	}
	/* Let it through: the data arrives, the backoff resets. */
	p.sim.drop_ctx = NULL;
	sim_run(&p.sim, p.sim.now + 60 * SIM_SEC, NULL, NULL);
	CHECK(p.srv[0].received == 1000);
	CHECK(!p.cli.closed);
	pair_close(&p);
}

/* Finding 2 of issue 12: an RTO after SACK recovery that sends nothing.
 * Ten segments go out; the first is lost twice (its fast retransmission
 * too) and the last three once, so the receiver SACKs 1..6 and nothing
 * above (a tail loss probe is lost too). At the timeout everything not SACKed must count as lost (RFC 6675
 * 5.1); counting the unSACKed tail as still in flight left a pipe larger
 * than the one-segment window, and the connection sent nothing, RTO after
 * RTO. */
struct tail_drop {
	uint32_t iss, seg;
	uint64_t tail_until;  /* the tail is lost until then */
	uint8_t sent[16];
};

static bool drop_head_and_tail(struct sim *s, int from, const uint8_t *pkt,
			       uint32_t len)
{
	struct tail_drop *t = s->drop_ctx;
	uint32_t ihl, doff, seq, dlen, idx;
	const uint8_t *th;

	if (from != 0 || len < 40)
		return false;
	ihl = (pkt[0] & 15u) * 4;
	th = pkt + ihl;
	doff = (th[12] >> 4) * 4u;
	seq = (uint32_t)th[4] << 24 | (uint32_t)th[5] << 16 |
	      (uint32_t)th[6] << 8 | th[7];
	dlen = len - ihl - doff;
	if (!dlen)
		return false;
	if (!t->seg)
		t->seg = dlen;
	idx = (seq - t->iss - 1) / t->seg;
	if (idx >= 16)
		return false;
	t->sent[idx]++;
	return (idx == 0 && t->sent[idx] <= 2) ||
	       (idx >= 7 && idx <= 9 && s->now < t->tail_until);
}

static void test_rto_after_sack(void)
{
	struct netstack_tcp_info info;
	struct netstack_stats st;
	struct tail_drop t = { 0 };
	struct pair p;

	REQUIRE(pair_connected(&p, 5 * SIM_MS));
	p.sim.drop = drop_head_and_tail;
	p.sim.drop_ctx = &t;
	netstack_tcp_get_info(p.cli.c, &info);
	t.iss = p.cli.c->iss;
	t.tail_until = p.sim.now + 150 * SIM_MS; /* the RTO is >= 200 ms */
	p.cli.to_send = 10ull * info.mss;
	app_pump(&p.cli);
	sim_run(&p.sim, p.sim.now + 5 * SIM_SEC, transfer_done, &p);
	netstack_get_stats(p.sim.st[0], &st);
	CHECK(t.sent[0] == 3 && t.sent[9] >= 2);
	CHECK(p.srv[0].received == p.cli.to_send);
	CHECK(!p.srv[0].bad);
	/* One timeout recovers everything: the next would come 400 ms on. */
	CHECK(st.tcp_rto_expired == 1);
	CHECK(st.tcp_stalls == 0);
	pair_close(&p);
}

/* The watchdog: data outstanding and no timer run (an embedder whose timer
 * died, finding 1 of issue 12) is counted once and logged with the
 * connection's state, from netstack_flush alone. */
static void test_stall_watchdog(void)
{
	struct netstack_stats st;
	struct pair p;
	int i;

	REQUIRE(pair_connected(&p, 5 * SIM_MS));
	p.sim.drop = drop_all_from_0;
	p.sim.drop_ctx = &p;
	p.cli.to_send = 4000;
	app_pump(&p.cli);
	netstack_flush(p.sim.st[0]);
	sim_log_lines = 0;
	for (i = 0; i < 50; ++i) {
		p.sim.now += 100 * SIM_MS;
		sim_set_clock(&p.sim);
		netstack_flush(p.sim.st[0]);
	}
	netstack_get_stats(p.sim.st[0], &st);
	CHECK(st.tcp_stalls == 1);
	CHECK(sim_log_lines == 1);
	CHECK(strstr(sim_log_last, "stalled 10.0.0.1:") != NULL);
	CHECK(strstr(sim_log_last, "ESTABLISHED") != NULL);
	/* Timers back: the RTO resends, and that ends the episode. */
	p.sim.drop_ctx = NULL;
	sim_run(&p.sim, p.sim.now + 5 * SIM_SEC, NULL, NULL);
	CHECK(p.srv[0].received == 4000);
	netstack_get_stats(p.sim.st[0], &st);
	CHECK(st.tcp_stalls == 1);
	pair_close(&p);
}

/* An application that wrote a little at a time for a while (rounds limited
 * by the application, at a few KB/s) and then a lot: the model must not
 * have learnt the application's rate as the path's and pace the burst at
 * it (seen as an echo that stopped sending for minutes in t_netstack). */
static void test_app_limited_then_bulk(void)
{
	struct netstack_stats st;
	struct pair p;
	uint64_t start;
	int i;

	REQUIRE(pair_connected(&p, SIM_MS / 2));
	for (i = 0; i < 60; ++i) {
		p.cli.to_send += 100;
		app_pump(&p.cli);
		sim_run(&p.sim, p.sim.now + 50 * SIM_MS, NULL, NULL);
	}
	REQUIRE(p.srv[0].received == p.cli.to_send);
	start = p.sim.now;
	p.cli.to_send += 4 << 20;
	app_pump(&p.cli);
	sim_run(&p.sim, p.sim.now + 20 * SIM_SEC, transfer_done, &p);
	CHECK(p.srv[0].received == p.cli.to_send);
	/* 4 MiB over a 1 ms RTT without a bottleneck: well under a second. */
	CHECK(p.sim.now - start < SIM_SEC);
	netstack_get_stats(p.sim.st[0], &st);
	CHECK(st.tcp_stalls == 0);
	pair_close(&p);
}

static void test_time_wait(void)
{
	struct netstack_config cfg;
	struct netstack_stats st;
	struct pair p;

	netstack_config_default(&cfg);
	cfg.time_wait_ms = 2000;
	pair_setup(&p, &cfg, AF_INET);
	p.cli.to_send = 5000;
	p.cli.shutdown_after = true;
	p.sv.proto.to_send = 7000;
	sim_run(&p.sim, p.sim.now + 5 * SIM_SEC, NULL, NULL);
	REQUIRE(p.sv.next == 1);
	CHECK(p.srv[0].eof);
	/* The server closes second: a passive close, no TIME-WAIT. */
	netstack_tcp_shutdown(p.srv[0].c);
	sim_run(&p.sim, p.sim.now + 5 * SIM_SEC, both_closed, &p);
	CHECK(p.cli.closed && p.srv[0].closed);
	CHECK(p.cli.received == 7000 && p.srv[0].received == 5000);
	/* The client closed first: it holds TIME-WAIT, the server not. */
	netstack_get_stats(p.sim.st[0], &st);
	CHECK(st.tcp_time_wait == 1);
	netstack_get_stats(p.sim.st[1], &st);
	CHECK(st.tcp_time_wait == 0 && st.tcp_conns == 0);
	netstack_tcp_close(p.cli.c);
	netstack_tcp_close(p.srv[0].c);
	sim_run(&p.sim, p.sim.now + 1 * SIM_SEC, NULL, NULL);
	netstack_get_stats(p.sim.st[0], &st);
	CHECK(st.tcp_time_wait == 1);
	sim_run(&p.sim, p.sim.now + 2 * SIM_SEC, NULL, NULL);
	netstack_get_stats(p.sim.st[0], &st);
	CHECK(st.tcp_time_wait == 0 && st.tcp_conns == 0);
	CHECK(st.mem_used == 0);
	pair_free(&p);
}

static void test_half_close(void)
{
	struct pair p;

	pair_setup(&p, NULL, AF_INET);
	/* Client sends and half-closes; server keeps sending after EOF. */
	p.cli.to_send = 100000;
	p.cli.shutdown_after = true;
	sim_run(&p.sim, p.sim.now + 5 * SIM_SEC, NULL, NULL);
	REQUIRE(p.sv.next == 1);
	CHECK(p.srv[0].eof && p.srv[0].received == 100000);
	CHECK(netstack_tcp_send(p.cli.c, "x", 1) == -EPIPE);
	p.srv[0].to_send = 300000;
	p.srv[0].shutdown_after = true;
	app_pump(&p.srv[0]);
	sim_run(&p.sim, p.sim.now + 5 * SIM_SEC, both_closed, &p);
	CHECK(p.cli.received == 300000 && !p.cli.bad);
	CHECK(p.cli.eof && p.cli.closed && p.cli.err == 0);
	netstack_tcp_close(p.cli.c);
	netstack_tcp_close(p.srv[0].c);
	pair_free(&p);
}

static void test_keepalive(void)
{
	struct netstack_config cfg;
	struct netstack_stats st;
	struct pair p;

	netstack_config_default(&cfg);
	cfg.keepalive_idle_ms = 1000;
	cfg.keepalive_intvl_ms = 500;
	cfg.keepalive_cnt = 3;
	pair_setup(&p, &cfg, AF_INET);
	sim_run(&p.sim, p.sim.now + 5 * SIM_SEC, cli_connected, &p);
	REQUIRE(p.cli.connected);
	netstack_tcp_set_keepalive(p.cli.c, true);
	/* A live peer answers the probes: nothing happens. */
	sim_run(&p.sim, p.sim.now + 10 * SIM_SEC, NULL, NULL);
	netstack_get_stats(p.sim.st[0], &st);
	CHECK(st.tcp_keepalive_probes >= 5);
	CHECK(!p.cli.closed);
	/* The peer vanishes: idle + 3 probes, then ETIMEDOUT. */
	p.sim.drop = drop_all_from_0;
	p.sim.drop_ctx = &p;
	sim_run(&p.sim, p.sim.now + 10 * SIM_SEC, cli_closed, &p);
	CHECK(p.cli.closed && p.cli.err == -ETIMEDOUT);
	netstack_tcp_close(p.cli.c);
	netstack_tcp_abort(p.srv[0].c);
	pair_free(&p);
}

static void test_zero_window(void)
{
	struct netstack_config cfg;
	struct netstack_stats st;
	struct pair p;

	netstack_config_default(&cfg);
	cfg.tcp_rbuf_max = 256 << 10;
	cfg.tcp_buf_initial = 64 << 10;
	pair_setup(&p, &cfg, AF_INET);
	p.sim.delay_ns = 5 * SIM_MS;
	p.sv.proto.reading = false;
	p.cli.to_send = 4 << 20;
	p.cli.shutdown_after = true;
	sim_run(&p.sim, p.sim.now + 20 * SIM_SEC, NULL, NULL);
	REQUIRE(p.sv.next == 1);
	/* The server's buffer is full, the client's too: both bounded. */
	CHECK(netstack_tcp_recv_avail(p.srv[0].c) <= (256 << 10));
	CHECK(p.cli.sent < p.cli.to_send);
	netstack_get_stats(p.sim.st[1], &st);
	CHECK(st.tcp_zero_window_sent > 0);
	netstack_get_stats(p.sim.st[0], &st);
	CHECK(st.tcp_persist_probes >= 3);
	CHECK(!p.cli.closed);
	/* The reader wakes up: everything arrives. */
	p.srv[0].reading = true;
	app_read(&p.srv[0]);
	sim_run(&p.sim, p.sim.now + 60 * SIM_SEC, NULL, NULL);
	CHECK(p.srv[0].received == p.cli.to_send && !p.srv[0].bad);
	CHECK(p.srv[0].eof);
	netstack_tcp_close(p.cli.c);
	netstack_tcp_close(p.srv[0].c);
	pair_free(&p);
}

static void test_defer_accept(void)
{
	struct pair p;
	struct netstack_addr ra;

	pair_setup_decision(&p, NULL, AF_INET, NETSTACK_DEFER);
	sim_addr(&ra, 1, AF_INET, 80);
	sim_run(&p.sim, p.sim.now + 2 * SIM_SEC, NULL, NULL);
	REQUIRE(p.sv.deferred);
	CHECK(!p.cli.connected && !p.cli.closed);
	CHECK(netstack_tcp_accept(p.sv.deferred) == 0);
	sim_run(&p.sim, p.sim.now + 2 * SIM_SEC, cli_connected, &p);
	CHECK(p.cli.connected && p.srv[0].connected);
	netstack_tcp_abort(p.cli.c);
	sim_run(&p.sim, p.sim.now + SIM_SEC, NULL, NULL);
	CHECK(p.srv[0].closed && p.srv[0].err == -ECONNRESET);
	netstack_tcp_close(p.srv[0].c);

	/* Deferred, then refused with a reset or ICMP. */
	memset(&p.cli, 0, sizeof(p.cli));
	p.sv.deferred = NULL;
	p.sv.next = 0;
	REQUIRE(netstack_tcp_connect(p.sim.st[0], NULL, &ra, &app_ops, &p.cli,
				     &p.cli.c) == 0);
	sim_run(&p.sim, p.sim.now + SIM_SEC, NULL, NULL);
	REQUIRE(p.sv.deferred);
	CHECK(netstack_tcp_refuse(p.sv.deferred, NETSTACK_REFUSE_RST) == 0);
	sim_run(&p.sim, p.sim.now + SIM_SEC, cli_closed, &p);
	CHECK(p.cli.closed && p.cli.err == -ECONNREFUSED);
	netstack_tcp_close(p.cli.c);

	memset(&p.cli, 0, sizeof(p.cli));
	p.sv.decision = NETSTACK_REFUSE_PROHIBITED;
	REQUIRE(netstack_tcp_connect(p.sim.st[0], NULL, &ra, &app_ops, &p.cli,
				     &p.cli.c) == 0);
	sim_run(&p.sim, p.sim.now + SIM_SEC, cli_closed, &p);
	CHECK(p.cli.closed && p.cli.err == -EHOSTUNREACH);
	netstack_tcp_close(p.cli.c);
	pair_free(&p);
}

static void test_send_before_connected(void)
{
	struct pair p;
	ssize_t n;

	/* A relay writes what its host socket gave it before the overlay
	 * connection is up: it is queued and sent after the handshake. */
	pair_setup(&p, NULL, AF_INET);
	p.sim.delay_ns = 20 * SIM_MS;
	REQUIRE(p.cli.c);
	n = netstack_tcp_send(p.cli.c, "early", 5);
	CHECK(n == 5);
	CHECK(netstack_tcp_shutdown(p.cli.c) == 0);
	sim_run(&p.sim, p.sim.now + 2 * SIM_SEC, NULL, NULL);
	REQUIRE(p.sv.next == 1);
	CHECK(p.srv[0].eof);
	CHECK(p.srv[0].received == 5);
	netstack_tcp_close(p.cli.c);
	netstack_tcp_close(p.srv[0].c);
	pair_free(&p);
}

static int small_segments;

static bool count_small(struct sim *s, int from, const uint8_t *pkt,
			uint32_t len)
{
	uint32_t hl = (uint32_t)(pkt[32] >> 4) * 4;

	if (from == 0 && len > 20 + hl && len - 20 - hl < 100)
		small_segments++;
	return false;
}

static void test_nagle(void)
{
	struct pair p;
	int i, with = 0, without = 0;
	uint64_t early[2] = { 0, 0 };

	for (i = 0; i < 2; ++i) {
		pair_setup(&p, NULL, AF_INET);
		p.sim.delay_ns = 20 * SIM_MS;
		sim_run(&p.sim, p.sim.now + SIM_SEC, cli_connected, &p);
		REQUIRE(p.cli.connected);
		netstack_tcp_set_nagle(p.cli.c, i == 1);
		p.sim.drop = count_small;
		small_segments = 0;
		/* 50 tiny writes within one RTT. */
		for (int k = 0; k < 50; ++k)
			netstack_tcp_send(p.cli.c, "0123456789", 10);
		/* Half an RTT and a little: what went out without waiting
		 * for an ACK has arrived. */
		sim_run(&p.sim, p.sim.now + 25 * SIM_MS, NULL, NULL);
		early[i] = p.srv[0].received;
		sim_run(&p.sim, p.sim.now + SIM_SEC, NULL, NULL);
		CHECK(p.srv[0].received == 500);
		if (i == 0)
			without = small_segments;
		else
			with = small_segments;
		netstack_tcp_close(p.cli.c);
		netstack_tcp_close(p.srv[0].c);
		pair_free(&p);
	}
	/* Without Nagle nothing waits for an ACK: the writes leave at once
	 * as segments of their own, as far as the pacing rate's burst
	 * allows, and the rest a moment later merged. With Nagle one goes
	 * out and the rest wait for its ACK and leave together. */
	CHECK(early[0] == 500);
	CHECK(without >= 10);
	CHECK(early[1] == 10);
	CHECK(with <= 2);
}

static bool too_big(struct sim *s, int from, const uint8_t *pkt,
		    uint32_t len)
{
	return from == 0 && len > 1000 && s->drop_ctx;
}

static void test_pmtu(void)
{
	struct pair p;
	struct netstack_tcp_info info;
	uint8_t icmp[28 + 60] = { 3, 4, 0, 0, 0, 0, 0x03, 0xe8 }; /* 1000 */
	struct pktbuf *pb;
	uint8_t *q;
	uint16_t c;

	pair_setup(&p, NULL, AF_INET);
	sim_run(&p.sim, p.sim.now + SIM_SEC, cli_connected, &p);
	REQUIRE(p.cli.connected);
	/* Big segments vanish on the path; the router says "frag needed,
	 * MTU 1000" quoting one. */
	p.sim.drop = too_big;
	p.sim.drop_ctx = &p;
	p.cli.to_send = 100000;
	app_pump(&p.cli);
	REQUIRE(p.sim.sent[0] > 0);
	pb = pktpool_get(&p.sim.pool);
	q = pkt_data(pb);
	memset(q, 0, 20);
	q[0] = 0x45;
	q[8] = 64;
	q[9] = 1;
	q[12] = 10;
	q[15] = 9; /* a router */
	q[16] = 10;
	q[19] = 1;
	/* Quote: our IP header and TCP header (ports, seq = snd_una). */
	memcpy(icmp + 8, (uint8_t[]){ 0x45, 0, 0x05, 0x8c, 0, 0, 0x40, 0,
				      64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 },
	       20);
	icmp[28] = (uint8_t)(netstack_tcp_local(p.cli.c)->port >> 8);
	icmp[29] = (uint8_t)netstack_tcp_local(p.cli.c)->port;
	icmp[30] = 0;
	icmp[31] = 80;
	icmp[32] = (uint8_t)(p.cli.c->snd_una >> 24);
	icmp[33] = (uint8_t)(p.cli.c->snd_una >> 16);
	icmp[34] = (uint8_t)(p.cli.c->snd_una >> 8);
	icmp[35] = (uint8_t)p.cli.c->snd_una;
	c = ns_csum_fold(ns_csum_partial(icmp, 48, 0));
	memcpy(icmp + 2, &c, 2);
	memcpy(q + 20, icmp, 48);
	q[3] = 68;
	c = ns_csum_fold(ns_csum_partial(q, 20, 0));
	memcpy(q + 10, &c, 2);
	pb->len = 68;
	CHECK(netstack_input(p.sim.st[0], pb) == NETSTACK_PKT_OK);
	netstack_tcp_get_info(p.cli.c, &info);
	CHECK(info.mss == 1000 - 40 - 12);
	sim_run(&p.sim, p.sim.now + 10 * SIM_SEC, NULL, NULL);
	CHECK(p.srv[0].received == 100000 && !p.srv[0].bad);
	netstack_tcp_close(p.cli.c);
	netstack_tcp_close(p.srv[0].c);
	pair_free(&p);
}

static void test_memory_limit(void)
{
	enum { N = 8 };
	struct netstack_config cfg;
	struct netstack_stats st0, st1;
	struct sim sim;
	struct server sv = { 0 };
	struct netstack_listener *l;
	struct netstack_addr la, ra;
	struct app srv[N], cli[N];
	int i, ok = 0;

	/* Eight bulk flows each way through stacks allowed 1 MiB of buffers
	 * in all: windows shrink, nothing is lost, the limit holds. */
	netstack_config_default(&cfg);
	cfg.mem_limit = 1 << 20;
	sim_init(&sim, &cfg);
	sim.delay_ns = 5 * SIM_MS;
	memset(srv, 0, sizeof(srv));
	memset(cli, 0, sizeof(cli));
	sv.apps = srv;
	sv.napps = N;
	sv.proto.reading = true;
	sv.proto.seed = 5;
	sv.proto.peer_seed = 4;
	sv.proto.to_send = 2 << 20;
	sv.proto.shutdown_after = true;
	sim_addr(&la, 1, AF_INET, 80);
	netstack_tcp_listen(sim.st[1], &la, 0, &server_ops, &sv, &l);
	sim_addr(&ra, 1, AF_INET, 80);
	for (i = 0; i < N; ++i) {
		cli[i].reading = true;
		cli[i].seed = 4;
		cli[i].peer_seed = 5;
		cli[i].to_send = 2 << 20;
		cli[i].shutdown_after = true;
		REQUIRE(netstack_tcp_connect(sim.st[0], NULL, &ra, &app_ops,
					     &cli[i], &cli[i].c) == 0);
	}
	sim_run(&sim, sim.now + 120 * SIM_SEC, NULL, NULL);
	for (i = 0; i < N; ++i)
		ok += srv[i].received == (2 << 20) && !srv[i].bad &&
		      cli[i].received == (2 << 20) && !cli[i].bad;
	CHECK(ok == N);
	netstack_get_stats(sim.st[0], &st0);
	netstack_get_stats(sim.st[1], &st1);
	CHECK(st0.mem_peak <= cfg.mem_limit && st1.mem_peak <= cfg.mem_limit);
	CHECK(st0.mem_used == 0 && st1.mem_used == 0);
	printf("INFO: 8 x 2 MiB each way under a 1 MiB limit: %d/%d complete, "
	       "peak %llu / %llu bytes\n", ok, N,
	       (unsigned long long)st0.mem_peak,
	       (unsigned long long)st1.mem_peak);
	for (i = 0; i < N; ++i) {
		netstack_tcp_close(cli[i].c);
		netstack_tcp_close(srv[i].c);
	}
	netstack_listener_close(l);
	sim_free(&sim);
}

static enum netstack_accept egress_syn(void *ctx, struct netstack_listener *l,
				       struct netstack_tcp *c)
{
	struct app *a = ctx;
	const struct netstack_addr *dst = netstack_tcp_local(c);

	switch (dst->port) {
	case 443:
		a->c = c;
		netstack_tcp_set_ops(c, &app_ops, a);
		return NETSTACK_ACCEPT;
	case 25:
		return NETSTACK_REFUSE_PROHIBITED;
	case 23:
		return NETSTACK_REFUSE_NET_UNREACH;
	default:
		return NETSTACK_REFUSE_RST;
	}
}

static const struct netstack_listener_ops egress_ops = { .syn = egress_syn };

static void test_egress_listener(void)
{
	static const uint16_t ports[] = { 443, 25, 23, 22 };
	static const int want[] = { 0, -EHOSTUNREACH, -ENETUNREACH,
				    -ECONNREFUSED };
	struct netstack_listener *any, *plain;
	struct netstack_addr a = { 0 }, dst = { 0 };
	struct app cli[4], srv;
	struct sim sim;
	unsigned i;

	/* An exit node: a transparent any-port listener terminates
	 * connections to any destination and decides per SYN. */
	sim_init(&sim, NULL);
	memset(cli, 0, sizeof(cli));
	memset(&srv, 0, sizeof(srv));
	srv.reading = true;
	srv.peer_seed = 3;
	a.family = AF_UNSPEC;
	REQUIRE(netstack_tcp_listen(sim.st[1], &a, NETSTACK_TRANSPARENT,
				    &egress_ops, &srv, &any) == 0);
	/* A plain any-address listener does not take foreign traffic. */
	a.port = 8080;
	REQUIRE(netstack_tcp_listen(sim.st[1], &a, 0, &egress_ops, &srv,
				    &plain) == 0);
	dst.family = AF_INET;
	dst.ip[0] = 192;
	dst.ip[2] = 2;
	dst.ip[3] = 7;
	for (i = 0; i < 4; ++i) {
		dst.port = ports[i];
		cli[i].seed = 3;
		cli[i].to_send = 10000;
		cli[i].shutdown_after = true;
		REQUIRE(netstack_tcp_connect(sim.st[0], NULL, &dst, &app_ops,
					     &cli[i], &cli[i].c) == 0);
	}
	sim_run(&sim, sim.now + 3 * SIM_SEC, NULL, NULL);
	CHECK(cli[0].connected && !cli[0].closed);
	REQUIRE(srv.c);
	CHECK(netstack_tcp_local(srv.c)->port == 443);
	CHECK(!memcmp(netstack_tcp_local(srv.c)->ip, dst.ip, 4));
	CHECK(srv.received == 10000 && srv.eof && !srv.bad);
	for (i = 1; i < 4; ++i)
		CHECK(cli[i].closed && cli[i].err == want[i]);
	/* With the transparent listener gone, port 8080 on a foreign
	 * address finds only the plain any-address listener, which stays
	 * out of it: no answer at all. */
	memset(&cli[3], 0, sizeof(cli[3]));
	dst.port = 8080;
	REQUIRE(netstack_tcp_connect(sim.st[0], NULL, &dst, &app_ops, &cli[3],
				     &cli[3].c) == 0);
	netstack_listener_close(any);
	sim_run(&sim, sim.now + 3 * SIM_SEC, NULL, NULL);
	CHECK(!cli[3].connected && !cli[3].closed); /* silence: no taker */
	for (i = 0; i < 4; ++i)
		netstack_tcp_close(cli[i].c);
	netstack_tcp_close(srv.c);
	netstack_listener_close(plain);
	sim_free(&sim);
}

/* The tuple tcp_conn.c hashes for RFC 6528 ISNs. */
struct isn_tuple {
	uint8_t lip[16], rip[16];
	uint16_t lport, rport, family;
};

static void test_sequence_wrap(void)
{
	struct netstack_addr la, ra, local;
	struct isn_tuple t;
	struct pair p;
	uint32_t f;

	/* Choose the clock so that the client's ISN sits 1 MiB below 2^32:
	 * 4 MiB of data with 1% loss (SACK ranges, retransmissions) then
	 * cross the wrap. */
	memset(&p, 0, sizeof(p));
	sim_init(&p.sim, NULL);
	p.sv.apps = p.srv;
	p.sv.napps = 4;
	p.sv.decision = NETSTACK_ACCEPT;
	p.sv.proto.reading = true;
	p.sv.proto.peer_seed = 1;
	p.sv.proto.seed = 2;
	p.sv.proto.to_send = 4 << 20;
	p.sv.proto.shutdown_after = true;
	sim_addr(&la, 1, AF_INET, 80);
	netstack_tcp_listen(p.sim.st[1], &la, 0, &server_ops, &p.sv, &p.l);
	sim_addr(&ra, 1, AF_INET, 80);
	sim_addr(&local, 0, AF_INET, 40000);
	memset(&t, 0, sizeof(t));
	memcpy(t.lip, local.ip, 16);
	memcpy(t.rip, ra.ip, 16);
	t.lport = local.port;
	t.rport = ra.port;
	t.family = AF_INET;
	f = (uint32_t)siphash_u64(p.sim.st[0]->isn_key, &t, sizeof(t));
	/* ISN = F + now / 4 us: pick now (well after the start) for
	 * F + now/4000 = 2^32 - 1 MiB (mod 2^32). */
	p.sim.now = (uint64_t)((uint32_t)(0u - (1u << 20) - f)) * 4000 +
		    (1ull << 32) * 4000;
	sim_set_clock(&p.sim);
	p.sim.delay_ns = 5 * SIM_MS;
	p.sim.loss_ppm = 10000;
	p.cli.reading = true;
	p.cli.seed = 1;
	p.cli.peer_seed = 2;
	p.cli.to_send = 4 << 20;
	p.cli.shutdown_after = true;
	REQUIRE(netstack_tcp_connect(p.sim.st[0], &local, &ra, &app_ops,
				     &p.cli, &p.cli.c) == 0);
	CHECK(p.cli.c->iss == 0u - (1u << 20));
	sim_run(&p.sim, p.sim.now + 60 * SIM_SEC, both_closed, &p);
	CHECK(p.srv[0].received == (4u << 20) && !p.srv[0].bad);
	CHECK(p.cli.received == (4u << 20) && !p.cli.bad);
	CHECK(p.cli.closed && p.cli.err == 0);
	CHECK(SEQ_LT(p.cli.c->snd_una, 0x10000000u) ||
	      p.cli.c->state == NETSTACK_TCP_CLOSED);
	netstack_tcp_close(p.cli.c);
	netstack_tcp_close(p.srv[0].c);
	pair_free(&p);
}

static void test_many_connections(void)
{
	enum { N = 2000 };
	struct netstack_config cfg;
	struct netstack_stats st;
	struct sim sim;
	struct server sv = { 0 };
	struct netstack_listener *l;
	struct netstack_addr la, ra;
	struct app *srv = calloc(N, sizeof(*srv));
	struct app *cli = calloc(N, sizeof(*cli));
	int i, ok = 0, okc = 0;

	netstack_config_default(&cfg);
	sim_init(&sim, &cfg);
	sv.apps = srv;
	sv.napps = N;
	sv.decision = NETSTACK_ACCEPT;
	sv.proto.reading = true;
	sv.proto.seed = 9;
	sv.proto.peer_seed = 8;
	sv.proto.to_send = 1000;
	sim_addr(&la, 1, AF_INET, 443);
	netstack_tcp_listen(sim.st[1], &la, 0, &server_ops, &sv, &l);
	sim_addr(&ra, 1, AF_INET, 443);
	for (i = 0; i < N; ++i) {
		cli[i].reading = true;
		cli[i].seed = 8;
		cli[i].peer_seed = 9;
		cli[i].to_send = 2000;
		REQUIRE(netstack_tcp_connect(sim.st[0], NULL, &ra, &app_ops,
					     &cli[i], &cli[i].c) == 0);
	}
	sim_run(&sim, sim.now + 10 * SIM_SEC, NULL, NULL);
	for (i = 0; i < N; ++i) {
		ok += cli[i].received == 1000 && !cli[i].bad;
		okc += srv[i].received == 2000 && !srv[i].bad;
	}
	CHECK(ok == N && okc == N);
	netstack_get_stats(sim.st[1], &st);
	CHECK(st.tcp_conns == N);
	/* Idle: no buffer memory held. */
	CHECK(st.mem_used == 0);
	CHECK(sizeof(struct netstack_tcp *) && st.mem_used / N < 16384);
	for (i = 0; i < N; ++i) {
		netstack_tcp_close(cli[i].c);
		netstack_tcp_close(srv[i].c);
	}
	netstack_listener_close(l);
	sim_free(&sim);
	free(srv);
	free(cli);
}

int main(void)
{
	RUN(test_handshake);
	RUN(test_transfer_v4);
	RUN(test_transfer_v6);
	RUN(test_half_close);
	RUN(test_rst_closed_port);
	RUN(test_rto_backoff);
	RUN(test_rto_after_sack);
	RUN(test_stall_watchdog);
	RUN(test_app_limited_then_bulk);
	RUN(test_time_wait);
	RUN(test_keepalive);
	RUN(test_zero_window);
	RUN(test_defer_accept);
	RUN(test_send_before_connected);
	RUN(test_nagle);
	RUN(test_pmtu);
	RUN(test_memory_limit);
	RUN(test_sequence_wrap);
	RUN(test_egress_listener);
	RUN(test_many_connections);
	RUN(test_loss_recovery);
	RUN(test_loss_cubic_vs_bbr);
	RUN(test_loss5);
	RUN(test_large_window);
	return unit_done();
}

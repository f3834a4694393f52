/* TCP between two netstacks over a simulated link on a fake clock:
 * handshake, transfer, half-close, loss recovery, RTO backoff, TIME-WAIT,
 * keepalive, zero window, resets, deferred accept, large windows. */
#include "unit.h"

#include "netstack_sim.h"


struct pair {
	struct sim sim;
	struct server sv;
	struct app srv[4];
	struct app cli;
	struct netstack_listener *l;
};

static void pair_setup(struct pair *p, const struct netstack_config *cfg,
		       int family)
{
	struct netstack_addr la, ra;

	memset(p, 0, sizeof(*p));
	sim_init(&p->sim, cfg);
	p->sv.apps = p->srv;
	p->sv.napps = 4;
	p->sv.decision = NETSTACK_ACCEPT;
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

static void pair_free(struct pair *p)
{
	sim_free(&p->sim);
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

static void run_transfer(int family, uint64_t bytes, uint64_t delay_ns,
			 uint64_t rate, uint32_t loss_ppm, uint64_t limit_s,
			 struct netstack_stats *stats_out, uint64_t *took)
{
	struct pair p;
	uint64_t start;

	pair_setup(&p, NULL, family);
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

static void test_transfer_v4(void)
{
	run_transfer(AF_INET, 4 << 20, SIM_MS, 0, 0, 60, NULL, NULL);
}

static void test_transfer_v6(void)
{
	run_transfer(AF_INET6, 1 << 20, SIM_MS, 0, 0, 60, NULL, NULL);
}

int main(void)
{
	RUN(test_handshake);
	RUN(test_transfer_v4);
	RUN(test_transfer_v6);
	return unit_done();
}

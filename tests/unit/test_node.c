/* The userspace node's stack timer (src/node/node.c): armed whenever the
 * stack has a deadline, also when ListenPort made setup rebind the UDP
 * socket (which flushes the stack before the old code had a timerfd), and
 * not re-armed on every idle pass. Needs root for /var/run/wireguard. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "conf/conf.h"
#include "io/loop.h"
#include "netstack/netstack.h"
#include "node/node.h"

/* ns until the timerfd fires; 0 when it is not armed. */
static uint64_t timer_left(const struct node *n)
{
	struct itimerspec its;

	if (timerfd_gettime(n->timer_fd, &its) < 0)
		return 0;
	return (uint64_t)its.it_value.tv_sec * 1000000000ull +
	       (uint64_t)its.it_value.tv_nsec;
}

static int setup(struct node *n, struct conf *c, const char *extra)
{
	char text[512], err[CONF_ERR_MAX];
	int ret;

	snprintf(text, sizeof(text),
		 "[Interface]\n"
		 "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
		 "Address = 10.77.0.1/24\n"
		 "Mode = userspace\n"
		 "%s",
		 extra);
	memset(c, 0, sizeof(*c));
	ret = conf_parse(c, "unit.conf", text, strlen(text), err, NULL, NULL);
	if (ret < 0) {
		fprintf(stderr, "  conf: %s\n", err);
		return ret;
	}
	snprintf(c->ifname, sizeof(c->ifname), "swtnode%d", (int)getpid());
	mkdir("/var/run/wireguard", 0755);
	ret = node_setup(n, c, 0, err);
	if (ret < 0)
		fprintf(stderr, "  node_setup: %s\n", err);
	return ret;
}

static void check_timer_follows_stack(const char *extra)
{
	struct netstack_addr dst = { .family = AF_INET, .port = 5432,
				     .ip = { 10, 77, 0, 2 } };
	struct netstack_tcp *t = NULL;
	struct node n;
	struct conf c;
	uint64_t next, left, arms;
	int i;

	if (setup(&n, &c, extra) < 0) {
		CHECK(0);
		goto out;
	}
	CHECK(n.timer_fd >= 0);
	/* Whatever setup recorded as armed is armed. */
	CHECK(!n.timer_at || timer_left(&n) > 0);
	/* A connection's SYN leaves a retransmission deadline: after the
	 * batch's flush the timerfd fires no later than it (+ the slack). */
	CHECK(netstack_tcp_connect(n.st, NULL, &dst, NULL, NULL, &t) == 0);
	datapath_flush(&n.d);
	next = netstack_next_timer(n.st);
	REQUIRE(next != UINT64_MAX);
	left = timer_left(&n);
	CHECK(left > 0);
	CHECK(clock_mono_ns() + left <= next + 1000000);
	/* Idle passes with nothing new do not touch the timerfd. */
	arms = n.timer_arms;
	for (i = 0; i < 100; ++i)
		datapath_flush(&n.d);
	CHECK(n.timer_arms == arms);
	netstack_tcp_abort(t);
out:
	node_teardown(&n);
	conf_free(&c);
}

static void test_timer_with_listen_port(void)
{
	check_timer_follows_stack("ListenPort = 0\n");
}

static void test_timer_with_fixed_listen_port(void)
{
	char extra[64];

	/* A port of its own, as wg-quick configs have it. */
	snprintf(extra, sizeof(extra), "ListenPort = %d\n",
		 40000 + (int)(getpid() % 20000));
	check_timer_follows_stack(extra);
}

static void test_timer_without_listen_port(void)
{
	check_timer_follows_stack("");
}

int main(void)
{
	RUN(test_timer_with_listen_port);
	RUN(test_timer_with_fixed_listen_port);
	RUN(test_timer_without_listen_port);
	return unit_done();
}

/* Topology files (src/conf/topology.c): parsing, the errors with their
 * file:line, address assignment that never renumbers, and rendered configs
 * that `spokewire up`'s parser loads. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/topology.h"
#include "crypto/crypto.h"

static const char base[] =
	"[Network]\n"
	"Name = edgeproxy\n"
	"Address = 10.50.0.0/16, fd50::/64\n"
	"ListenPort = 51820\n"
	"\n"
	"[Hub]\n"
	"Name = hub\n"
	"Address = 10.50.0.1/24\n"
	"Endpoint = 54.171.48.207:51820\n"
	"Expose = 5432 -> 172.31.3.134:5432, 6379 -> db.internal:6379\n"
	"\n"
	"[Spoke]\n"
	"Name = gru\n"
	"Address = 10.50.1.1\n"
	"Group = sa\n"
	"Mode = userspace\n"
	"Services = 5432/tcp, 8000/tcp\n"
	"\n"
	"[Spoke]\n"
	"Name = iad\n";

static int parse(struct topology *t, const char *text, char *err)
{
	return topology_parse(t, "t.topology", text, strlen(text), err);
}

static void keys(struct topology *t)
{
	size_t i;

	for (i = 0; i < t->n; ++i) {
		curve25519_generate_secret(t->nodes[i].private_key);
		if (!curve25519_public(t->nodes[i].public_key,
				       t->nodes[i].private_key))
			CHECK(0);
	}
}

static void test_parse_and_render(void)
{
	char err[CONF_ERR_MAX], *hub, *gru, *sum;
	struct topology t;
	struct conf c;

	REQUIRE(parse(&t, base, err) == 0);
	CHECK(t.n == 3);
	CHECK(t.nodes[0].hub && !strcmp(t.nodes[0].name, "hub"));
	CHECK(t.nodes[0].n_exposes == 2);
	CHECK(t.keepalive == 25 && !strcmp(t.iface, "wg0"));
	keys(&t);
	REQUIRE(topology_assign(&t, err) == 0);
	/* iad was left to us: the lowest free address (the hub has .1). */
	CHECK(!memcmp(t.nodes[2].addr4, "\x0a\x32\x00\x02", 4));
	hub = topology_render(&t, 0);
	gru = topology_render(&t, 1);
	sum = topology_summary(&t);
	REQUIRE(hub && gru && sum);
	CHECK(strstr(hub, "Address = 10.50.0.1/24, fd50::1/64\n") != NULL);
	CHECK(strstr(hub, "# friendly_name = gru\n[Peer]\n") != NULL);
	CHECK(strstr(hub, "AllowedIPs = 10.50.1.1/32, fd50::101/128\n") != NULL);
	CHECK(strstr(hub, "[Expose]\nListen = 6379\nTarget = db.internal:6379\n") != NULL);
	CHECK(strstr(gru, "Mode = userspace\n") != NULL);
	CHECK(strstr(gru, "Endpoint = 54.171.48.207:51820\nAllowedIPs = 10.50.0.0/16, fd50::/64\nPersistentKeepalive = 25\n") != NULL);
	CHECK(strstr(sum, "gru   spoke  10.50.1.1") != NULL);
	/* What `spokewire up` reads. */
	REQUIRE(conf_parse(&c, "hub.conf", hub, strlen(hub), err, NULL, NULL) == 0);
	CHECK(c.n_peers == 2 && c.n_exposes == 2 && c.listen_port == 51820);
	CHECK(!memcmp(c.private_key, t.nodes[0].private_key, KEY_LEN));
	CHECK(!memcmp(c.peers[0].public_key, t.nodes[1].public_key, KEY_LEN));
	conf_free(&c);
	REQUIRE(conf_parse(&c, "gru.conf", gru, strlen(gru), err, NULL, NULL) == 0);
	CHECK(c.mode == CONF_MODE_USERSPACE && c.n_peers == 1);
	CHECK(c.peers[0].keepalive == 25 && c.peers[0].n_allowed == 2);
	conf_free(&c);
	memzero(hub, strlen(hub));
	memzero(gru, strlen(gru));
	free(hub);
	free(gru);
	free(sum);
	topology_free(&t);
}

/* A spoke keeps the address an earlier run gave it when one is added in
 * front of it; a full network is an error naming the spoke. */
static void test_assign_stable(void)
{
	char err[CONF_ERR_MAX], text[1024];
	struct topology t;

	snprintf(text, sizeof(text), "%s\n[Spoke]\nName = new\n", base);
	REQUIRE(parse(&t, text, err) == 0);
	/* iad had .2 from the earlier run; the new spoke comes before it in
	 * assignment order only by file order, which must not matter. */
	t.nodes[3].has_prev_addr = false;
	t.nodes[2].has_prev_addr = true;
	memcpy(t.nodes[2].prev_addr4, "\x0a\x32\x00\x02", 4);
	REQUIRE(topology_assign(&t, err) == 0);
	CHECK(!memcmp(t.nodes[2].addr4, "\x0a\x32\x00\x02", 4));
	CHECK(!memcmp(t.nodes[3].addr4, "\x0a\x32\x00\x03", 4));
	topology_free(&t);

	/* A previous address now taken by a written one is given up. */
	snprintf(text, sizeof(text), "%s\n[Spoke]\nName = pin\nAddress = 10.50.0.2\n", base);
	REQUIRE(parse(&t, text, err) == 0);
	t.nodes[2].has_prev_addr = true;
	memcpy(t.nodes[2].prev_addr4, "\x0a\x32\x00\x02", 4);
	REQUIRE(topology_assign(&t, err) == 0);
	CHECK(!memcmp(t.nodes[2].addr4, "\x0a\x32\x00\x03", 4));
	topology_free(&t);

	REQUIRE(parse(&t,
		      "[Network]\nAddress = 10.9.0.0/30\n"
		      "[Hub]\nName = h\nEndpoint = 1.2.3.4:51820\n"
		      "[Spoke]\nName = a\n[Spoke]\nName = b\n",
		      err) == 0);
	CHECK(topology_assign(&t, err) == -EINVAL);
	CHECK(strstr(err, "t.topology:8: no free address left in 10.9.0.0/30 for b") != NULL);
	topology_free(&t);
}

static void expect_error(const char *text, const char *want)
{
	char err[CONF_ERR_MAX];
	struct topology t;

	if (parse(&t, text, err) != -EINVAL || !strstr(err, want)) {
		fprintf(stderr, "  want '%s', got '%s'\n", want, err);
		CHECK(0);
	}
}

#define NET "[Network]\nAddress = 10.50.0.0/16\n"
#define HUB "[Hub]\nName = hub\nEndpoint = 1.2.3.4:51820\n"

static void test_errors(void)
{
	expect_error(HUB, "t.topology:0: no [Network] section");
	expect_error(NET "[Spoke]\nName = a\n", "t.topology:0: no [Hub] section");
	expect_error(NET HUB HUB, "t.topology:6: a second [Hub] (the first is at line 3)");
	expect_error(NET "[Hub]\nName = hub\n[Spoke]\nName = a\n",
		     "t.topology:3: [Hub] hub has no Endpoint");
	expect_error(NET HUB "[Spoke]\nGroup = x\n", "t.topology:6: [Spoke] has no Name");
	expect_error(NET HUB "[Spoke]\nName = a\n[Spoke]\nName = A\n",
		     "t.topology:8: the name 'A' is also used at line 6");
	expect_error(NET HUB "[Spoke]\nName = a\nAddress = 10.51.0.1\n",
		     "t.topology:8: a's address 10.51.0.1 is not a host address of the network 10.50.0.0/16");
	expect_error(NET HUB "[Spoke]\nName = a\nAddress = 10.50.0.0\n",
		     "is not a host address");
	expect_error(NET HUB "[Spoke]\nName = a\nAddress = 10.50.0.9\n"
			     "[Spoke]\nName = b\nAddress = 10.50.0.9\n",
		     "t.topology:11: a and b both have the address 10.50.0.9");
	expect_error(NET HUB "[Spoke]\nName = a\nColour = red\n",
		     "t.topology:8: unknown key 'Colour' in [Spoke]");
	expect_error(NET HUB "[Spoke]\nName = a\nEndpoint = 1.2.3.4:1\n",
		     "unknown key 'Endpoint' in [Spoke]");
	expect_error(NET HUB "[Router]\n", "t.topology:6: unknown section [Router]");
	expect_error(NET HUB "[Spoke]\nName = a b\n", "t.topology:7: invalid Name 'a b'");
	expect_error(NET HUB "[Spoke]\nName = a\nMode = kernel\n",
		     "Mode must be tun or userspace");
	expect_error(NET HUB "[Spoke]\nName = a\nServices = 80/sctp\n",
		     "invalid Services entry '80/sctp'");
	expect_error(NET HUB "[Spoke]\nName = a\nAddress = 10.50.1.0/24\n",
		     "a spoke's Address is one address (/32)");
	expect_error("[Network]\nAddress = 10.50.0.1\n" HUB,
		     "t.topology:2: invalid Address '10.50.0.1'");
	expect_error("[Network]\nAddress = 10.50.0.0/16\nInterface = a-very-long-name0\n",
		     "invalid Interface");
	expect_error(NET "[Hub]\nName = hub\nEndpoint = 1.2.3.4:51820\nExpose = 5432\n",
		     "t.topology:6: invalid Expose '5432'");
	expect_error(NET "[Hub]\nName = hub\nAddress = 10.50.0.1/8\nEndpoint = 1.2.3.4:1\n",
		     "the hub's /8 is wider than the network's /16");
	expect_error("Name = x\n", "t.topology:1: 'Name' outside of a section");
}

int main(void)
{
	RUN(test_parse_and_render);
	RUN(test_assign_stable);
	RUN(test_errors);
	return unit_done();
}

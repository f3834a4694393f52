/* Config file parser: wg-quick files, spokewire's sections, file:line
 * errors, interface names from file names, egress prefix matching. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "conf/conf.h"
#include "crypto/crypto.h"

#define KEY_A "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
#define KEY_B "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define KEY_C "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="

static char err[CONF_ERR_MAX];
static int nwarn;

static void on_warn(void *ctx, const char *msg)
{
	nwarn++;
}

static int parse(struct conf *c, const char *text)
{
	return conf_parse(c, "t.conf", text, strlen(text), err, on_warn, NULL);
}

static void test_full(void)
{
	static const char text[] =
		"# comment\n"
		"[Interface]\n"
		"PrivateKey = " KEY_A "\n"
		"Address = 10.50.3.10/32, fd50::3:10/128\n"
		"ListenPort = 51820\n"
		"Mode = userspace   # inline comment\n"
		"MTU = 1380\n"
		"DNS = 1.1.1.1\n"
		"\n"
		"[Peer]\n"
		"PublicKey = " KEY_B "\n"
		"PresharedKey = " KEY_C "\n"
		"Endpoint = hub.example.net:51820\n"
		"AllowedIPs = 10.50.0.0/16, fd50::/64\n"
		"AllowedIPs = 172.31.0.0/16\n"
		"PersistentKeepalive = 25\n"
		"[Forward]\n"
		"Listen = 127.0.0.1:15432\n"
		"Target = 10.50.0.1:5432\n"
		"[Forward]\n"
		"Listen = 5353\n"
		"Target = [fd50::1]:53\n"
		"Protocol = udp\n"
		"[Expose]\n"
		"Listen = 5432\n"
		"Target = db.internal:5432\n"
		"[Proxy]\n"
		"Socks5 = 127.0.0.1:1080\n"
		"Http = [::1]:3128\n"
		"[Egress]\n"
		"Allow = 0.0.0.0/0, ::/0\n"
		"Deny = 169.254.0.0/16\n";
	struct conf c;
	uint8_t ip[4] = { 169, 254, 1, 2 }, ip2[4] = { 8, 8, 8, 8 };

	nwarn = 0;
	REQUIRE(parse(&c, text) == 0);
	CHECK(nwarn == 1); /* DNS */
	CHECK(c.mode == CONF_MODE_USERSPACE);
	CHECK(c.has_listen_port && c.listen_port == 51820);
	CHECK(c.mtu == 1380);
	CHECK(c.n_addrs == 2 && c.addrs[1].family == AF_INET6 &&
	      c.addrs[1].cidr == 128);
	REQUIRE(c.n_peers == 1);
	CHECK(c.peers[0].has_psk);
	CHECK(c.peers[0].n_allowed == 3);
	CHECK(c.peers[0].keepalive == 25);
	CHECK(c.peers[0].has_endpoint && !c.peers[0].endpoint.resolved);
	CHECK(!strcmp(c.peers[0].endpoint.host, "hub.example.net"));
	REQUIRE(c.n_forwards == 2);
	CHECK(c.forwards[0].proto == CONF_PROTO_TCP);
	CHECK(c.forwards[0].listen.addr.in4.sin_port == htons(15432));
	CHECK(c.forwards[1].proto == CONF_PROTO_UDP);
	CHECK(c.forwards[1].listen.host[0] == '\0');
	CHECK(c.forwards[1].target.addr.sa.sa_family == AF_INET6);
	REQUIRE(c.n_exposes == 1);
	CHECK(c.exposes[0].listen.port == 5432);
	CHECK(!c.exposes[0].target.resolved);
	CHECK(c.has_socks5 && c.has_http);
	CHECK(c.http.addr.sa.sa_family == AF_INET6);
	CHECK(c.has_egress && c.n_allow == 2 && c.n_deny == 1);
	CHECK(conf_prefix_match(c.deny, c.n_deny, AF_INET, ip));
	CHECK(!conf_prefix_match(c.deny, c.n_deny, AF_INET, ip2));
	CHECK(conf_prefix_match(c.allow, c.n_allow, AF_INET, ip2));
	conf_free(&c);
}

/* in6 is the IPv6 address text at port. */
static bool is_v6(const struct conf_hostport *hp, const char *text,
		  uint16_t port)
{
	struct in6_addr want;

	return hp->resolved && hp->addr.sa.sa_family == AF_INET6 &&
	       inet_pton(AF_INET6, text, &want) == 1 &&
	       !memcmp(&hp->addr.in6.sin6_addr, &want, sizeof(want)) &&
	       hp->addr.in6.sin6_port == htons(port) && hp->port == port;
}

static void test_v6_forms(void)
{
	static const char text[] =
		"[Interface]\n"
		"PrivateKey = " KEY_A "\n"
		"Address = 10.50.3.10/32, fd50::3:10/64\n"
		"Mode = userspace\n"
		"[Peer]\n"
		"PublicKey = " KEY_B "\n"
		"Endpoint = [2001:db8::1]:51820\n"
		"AllowedIPs = fd50::/64, ::/0\n"
		"[Forward]\n"
		"Listen = [::1]:5432\n"
		"Target = [fd50::2]:80\n"
		"[Forward]\n"
		"Listen = 127.0.0.1:5433\n"
		"Target = [FD50:0::2]:53\n"
		"Protocol = udp\n"
		"[Forward]\n"
		"Listen = [::]:5434\n"
		"Target = 10.50.0.1:80\n"
		"[Expose]\n"
		"Listen = [fd50::3:10]:8080\n"
		"Target = [fd00:200:2::2]:80\n"
		"[Proxy]\n"
		"Socks5 = [::1]:1080\n"
		"Http = [::]:3128\n"
		"[Egress]\n"
		"Allow = fd00::/8\n"
		"Deny = fd00:200:2::3/128\n";
	struct conf c;
	struct in6_addr a;

	REQUIRE(parse(&c, text) == 0);
	CHECK(c.n_addrs == 2 && c.addrs[1].family == AF_INET6 &&
	      c.addrs[1].cidr == 64);
	CHECK(is_v6(&c.peers[0].endpoint, "2001:db8::1", 51820));
	CHECK(c.peers[0].n_allowed == 2 && c.peers[0].allowed[1].cidr == 0);
	REQUIRE(c.n_forwards == 3);
	CHECK(is_v6(&c.forwards[0].listen, "::1", 5432));
	CHECK(!strcmp(c.forwards[0].listen.host, "::1"));
	CHECK(is_v6(&c.forwards[0].target, "fd50::2", 80));
	CHECK(c.forwards[1].listen.addr.sa.sa_family == AF_INET);
	CHECK(is_v6(&c.forwards[1].target, "fd50::2", 53));
	CHECK(c.forwards[1].proto == CONF_PROTO_UDP);
	CHECK(is_v6(&c.forwards[2].listen, "::", 5434));
	CHECK(c.forwards[2].target.addr.sa.sa_family == AF_INET &&
	      c.forwards[2].target.port == 80);
	REQUIRE(c.n_exposes == 1);
	CHECK(is_v6(&c.exposes[0].listen, "fd50::3:10", 8080));
	CHECK(is_v6(&c.exposes[0].target, "fd00:200:2::2", 80));
	CHECK(is_v6(&c.socks5, "::1", 1080));
	CHECK(is_v6(&c.http, "::", 3128));
	REQUIRE(c.n_allow == 1 && c.n_deny == 1);
	inet_pton(AF_INET6, "fd00:200:2::3", &a);
	CHECK(conf_prefix_match(c.deny, c.n_deny, AF_INET6, &a));
	CHECK(conf_prefix_match(c.allow, c.n_allow, AF_INET6, &a));
	CHECK(!conf_prefix_match(c.allow, c.n_allow, AF_INET, &a));
	inet_pton(AF_INET6, "fd00:200:2::4", &a);
	CHECK(!conf_prefix_match(c.deny, c.n_deny, AF_INET6, &a));
	inet_pton(AF_INET6, "fe80::1", &a);
	CHECK(!conf_prefix_match(c.allow, c.n_allow, AF_INET6, &a));
	conf_free(&c);
}

struct bad_case {
	const char *text;
	int line;
	const char *what;
};

static void test_errors(void)
{
	static const struct bad_case cases[] = {
		{ "PrivateKey = " KEY_A "\n", 1, "outside of a section" },
		{ "[Interface]\nPrivateKey = nope\n", 2, "base64" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nListenPort = 70000\n", 3,
		  "ListenPort" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nAddress = 10.0.0.1/33\n", 3,
		  "10.0.0.1/33" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nBogus = 1\n", 3,
		  "unknown key 'Bogus'" },
		{ "[Interface]\nPrivateKey = " KEY_A "\n[Peer]\nEndpoint = x\n", 4,
		  "Endpoint" },
		{ "[Interface]\nPrivateKey = " KEY_A "\n[Peer]\nAllowedIPs = 1.2.3.4\n", 4,
		  "no PublicKey" },
		{ "[Interface]\nPrivateKey = " KEY_A "\n[Nope]\n", 3,
		  "unknown section" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nMode = tap\n", 3, "Mode" },
		{ "[Interface]\nPrivateKey = " KEY_A "\n[Forward]\nListen = 1\nTarget = 10.0.0.1:1\n",
		  3, "userspace" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nMode = userspace\n[Forward]\nListen = 1\nTarget = host:1\n",
		  6, "Target" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nMode = userspace\n[Forward]\nListen = 1\n",
		  5, "needs Listen and Target" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nMode = userspace\n[Forward]\nListen = 1\nTarget = 10.0.0.1:1\nProtocol = sctp\n",
		  7, "Protocol" },
		{ "[Interface]\nPrivateKey = " KEY_A "\n[Peer]\nPublicKey = " KEY_B
		  "\n[Peer]\nPublicKey = " KEY_B "\n", 5, "repeats" },
		{ "[Interface]\nListenPort = 1\n", 0, "no PrivateKey" },
		{ "[Interface\n", 1, "malformed" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nMode = userspace\nFwMark = 1\n", 0,
		  "FwMark" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nMode = userspace\nAddress = 10.50.0.2/32\n"
		  "[Forward]\nListen = 1\nTarget = 10.50.0.1:1\n"
		  "[Forward]\nListen = 2\nTarget = [fd50::1]:80\n", 8,
		  "[Forward] Target [fd50::1]:80 is IPv6 but Address has no IPv6 address" },
		{ "[Interface]\nPrivateKey = " KEY_A "\nMode = userspace\nAddress = fd50::2/64\n"
		  "[Forward]\nListen = [::1]:1\nTarget = 10.50.0.1:5432\nProtocol = udp\n", 5,
		  "[Forward] Target 10.50.0.1:5432 is IPv4 but Address has no IPv4 address" },
	};
	struct conf c;
	char want[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
		int ret = parse(&c, cases[i].text);

		snprintf(want, sizeof(want), "t.conf:%d: ", cases[i].line);
		if (ret != -EINVAL || strncmp(err, want, strlen(want)) ||
		    !strstr(err, cases[i].what)) {
			fprintf(stderr, "  case %zu: ret %d err '%s'\n", i, ret,
				err);
			unit_fail("error names file:line and the problem",
				  __FILE__, __LINE__);
		}
	}
}

/* Numbers are decimal even with leading zeros, as wg(8) reads them; only
 * FwMark takes 0x. */
static void test_numbers(void)
{
	static const char text[] =
		"[Interface]\n"
		"PrivateKey = " KEY_A "\n"
		"ListenPort = 01234\n"
		"FwMark = 010\n"
		"MTU = 01380\n"
		"[Peer]\n"
		"PublicKey = " KEY_B "\n"
		"Endpoint = [fd00::2]:051820\n"
		"PersistentKeepalive = 025\n";
	static const char *const bad[] = {
		"ListenPort = 0x10", "ListenPort = 1e3", "MTU = 0x500",
		"FwMark = 0x", "FwMark = 0xg", "FwMark = 0x100000000",
		"FwMark = -1", "FwMark = 0x0x10",
	};
	char t[256];
	struct conf c;
	size_t i;

	REQUIRE(parse(&c, text) == 0);
	CHECK(c.listen_port == 1234);
	CHECK(c.fwmark == 10);
	CHECK(c.mtu == 1380);
	CHECK(c.peers[0].endpoint.port == 51820);
	CHECK(c.peers[0].keepalive == 25);
	conf_free(&c);
	snprintf(t, sizeof(t), "[Interface]\nPrivateKey = %s\nMode = userspace\n"
		 "[Forward]\nListen = [::1]:05432\nTarget = [fd50::2]:080\n",
		 KEY_A);
	REQUIRE(parse(&c, t) == 0);
	CHECK(c.forwards[0].listen.port == 5432 &&
	      c.forwards[0].listen.addr.in6.sin6_port == htons(5432));
	CHECK(c.forwards[0].target.port == 80 &&
	      c.forwards[0].target.addr.in6.sin6_port == htons(80));
	conf_free(&c);
	snprintf(t, sizeof(t), "[Interface]\nPrivateKey = %s\nFwMark = 0xCA6c\n",
		 KEY_A);
	REQUIRE(parse(&c, t) == 0);
	CHECK(c.fwmark == 0xca6c);
	conf_free(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		snprintf(t, sizeof(t), "[Interface]\nPrivateKey = %s\n%s\n",
			 KEY_A, bad[i]);
		if (parse(&c, t) != -EINVAL || !strstr(err, "t.conf:3: ")) {
			fprintf(stderr, "  '%s' accepted\n", bad[i]);
			unit_fail("bad number refused", __FILE__, __LINE__);
		}
	}
}

/* Bad host:port forms: the error names the key, the value and what is
 * wrong with it. */
static void test_hostport_errors(void)
{
	static const struct {
		const char *section, *line, *what;
	} cases[] = {
		{ "Forward", "Target = fd50::2:80",
		  "invalid Target 'fd50::2:80': an IPv6 address needs brackets, as in [fd50::2]:80" },
		{ "Forward", "Listen = ::1:5432",
		  "invalid Listen '::1:5432': an IPv6 address needs brackets, as in [::1]:5432" },
		{ "Forward", "Target = fd50::2",
		  "invalid Target 'fd50::2': an IPv6 address needs brackets: [ADDR]:PORT" },
		{ "Forward", "Target = [fd50::2]",
		  "invalid Target '[fd50::2]': no ':PORT' after ']'" },
		{ "Forward", "Target = [fd50::2]80",
		  "invalid Target '[fd50::2]80': expected ':PORT' after ']'" },
		{ "Forward", "Target = [fd50::2:80",
		  "invalid Target '[fd50::2:80': no ']' after '['" },
		{ "Forward", "Target = []:80", "no address in '[]'" },
		{ "Forward", "Target = [fd50::2]:", "port '' is not 1..65535" },
		{ "Forward", "Target = [fd50::2]:0", "port '0' is not 1..65535" },
		{ "Forward", "Listen = [::1]:65536", "port '65536' is not 1..65535" },
		{ "Forward", "Listen = [::1]:80x", "port '80x' is not 1..65535" },
		{ "Forward", "Target = [db.internal]:80",
		  "'db.internal' is not an IPv6 address" },
		{ "Forward", "Target = [fe80::1%eth0]:80",
		  "'fe80::1%eth0' is not an IPv6 address (zone indexes are not supported)" },
		{ "Forward", "Target = db.internal:80",
		  "invalid Target 'db.internal:80': an overlay address, not a name" },
		{ "Forward", "Listen = localhost:80",
		  "invalid Listen 'localhost:80': a host address, not a name" },
		{ "Expose", "Target = fd00::5:5432",
		  "invalid Target 'fd00::5:5432': an IPv6 address needs brackets, as in [fd00::5]:5432" },
		{ "Expose", "Listen = fd50::2:5432",
		  "invalid Listen 'fd50::2:5432': an IPv6 address needs brackets, as in [fd50::2]:5432" },
		{ "Expose", "Listen = [overlay]:5432",
		  "'overlay' is not an IPv6 address" },
		{ "Proxy", "Socks5 = ::1:1080",
		  "invalid Socks5 '::1:1080': an IPv6 address needs brackets, as in [::1]:1080" },
		{ "Proxy", "Http = [::1]",
		  "invalid Http '[::1]': no ':PORT' after ']'" },
		{ "Peer", "Endpoint = 2001:db8::1:51820",
		  "invalid Endpoint '2001:db8::1:51820': an IPv6 address needs brackets, as in [2001:db8::1]:51820" },
		{ "Peer", "Endpoint = hub.example.net",
		  "invalid Endpoint 'hub.example.net': no ':PORT'" },
	};
	char t[512];
	struct conf c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
		snprintf(t, sizeof(t),
			 "[Interface]\nPrivateKey = %s\nMode = userspace\n[%s]\n%s\n",
			 KEY_A, cases[i].section, cases[i].line);
		if (parse(&c, t) != -EINVAL || strncmp(err, "t.conf:5: ", 10) ||
		    !strstr(err, cases[i].what)) {
			fprintf(stderr, "  '%s': '%s'\n", cases[i].line, err);
			unit_fail("clear host:port error", __FILE__, __LINE__);
		}
	}
}

/* [Policy]: peers named by their friendly_name comment or public key. */
static void test_policy(void)
{
	static const char text[] =
		"[Interface]\n"
		"PrivateKey = " KEY_A "\n"
		"[Policy]\n"
		"SpokeToSpoke = group\n"
		"Group = gru:sa, " KEY_C ":eu\n"
		"HubOriginates = no\n"
		"Services = 5432/tcp, 53/udp, 8000\n"
		"#   friendly_name =   gru  \n"
		"[Peer]\n"
		"PublicKey = " KEY_B "\n"
		"# friendly_name = other\n"
		"# a comment in between keeps the name\n"
		"\n"
		"[Peer]\n"
		"PublicKey = " KEY_C "\n";
	struct conf c;

	REQUIRE(parse(&c, text) == 0);
	CHECK(c.policy.present && c.policy.routes);
	CHECK(c.policy.s2s == CONF_S2S_GROUP && !c.policy.hub_originates);
	REQUIRE(c.policy.n_services == 3);
	CHECK(c.policy.services[1].port == 53 &&
	      c.policy.services[1].proto == CONF_PROTO_UDP);
	CHECK(c.policy.services[2].proto == CONF_PROTO_TCP);
	CHECK(!strcmp(c.peers[0].name, "gru") && !strcmp(c.peers[0].group, "sa"));
	CHECK(!strcmp(c.peers[1].name, "other") && !strcmp(c.peers[1].group, "eu"));
	conf_free(&c);

	CHECK(parse(&c, "[Interface]\nPrivateKey = " KEY_A "\n[Policy]\nGroup = nobody:x\n") == -EINVAL);
	CHECK(strstr(err, "t.conf:4: Group names 'nobody', which is no peer's friendly_name or public key") != NULL);
	CHECK(parse(&c, "[Interface]\nPrivateKey = " KEY_A "\n[Policy]\nServices = 80/icmp\n") == -EINVAL);
	CHECK(strstr(err, "t.conf:4: invalid Services entry '80/icmp'") != NULL);
	CHECK(parse(&c, "[Interface]\nPrivateKey = " KEY_A "\n[Policy]\n[Policy]\n") == -EINVAL);
	CHECK(strstr(err, "t.conf:4: a second [Policy] section (the first is at line 3)") != NULL);
	CHECK(parse(&c, "[Interface]\nPrivateKey = " KEY_A "\n[Policy]\nRoute = x\n") == -EINVAL);
	CHECK(strstr(err, "unknown key 'Route' in [Policy]") != NULL);
	/* Without [Policy]: nothing filtered, the hub may originate. */
	REQUIRE(parse(&c, "[Interface]\nPrivateKey = " KEY_A "\n") == 0);
	CHECK(!c.policy.present);
	conf_free(&c);
}

static void test_ifname(void)
{
	char name[IFNAMSIZ];

	CHECK(conf_ifname("/etc/wireguard/wg0.conf", name) == 0);
	CHECK(!strcmp(name, "wg0"));
	CHECK(conf_ifname("spoke-a.conf", name) == 0);
	CHECK(conf_ifname("/x/.conf", name) == -EINVAL);
	CHECK(conf_ifname("/x/wg0.cfg", name) == -EINVAL);
	CHECK(conf_ifname("/x/abcdefghijklmnop.conf", name) == -EINVAL);
	CHECK(conf_ifname("/x/a b.conf", name) == -EINVAL);
}

static void test_wgquick_compat(void)
{
	/* A wg-quick file with hooks and case-insensitive keys. */
	static const char text[] =
		"[interface]\n"
		"privatekey=" KEY_A "\n"
		"Address = 10.0.0.1/24\n"
		"Address = fd00::1/64\n"
		"Table = off\n"
		"PostUp = iptables -A FORWARD -i %i -j ACCEPT\n"
		"PostDown = iptables -D FORWARD -i %i -j ACCEPT\n"
		"FwMark = 0x1234\n"
		"SaveConfig = false\n"
		"[peer]\n"
		"publickey=" KEY_B "\n"
		"endpoint=[fd00::2]:51820\n"
		"persistentkeepalive = off\n";
	struct conf c;

	REQUIRE(parse(&c, text) == 0);
	CHECK(c.mode == CONF_MODE_TUN);
	CHECK(c.n_addrs == 2);
	CHECK(!strcmp(c.table, "off"));
	CHECK(c.post_up.n == 1 && c.post_down.n == 1);
	CHECK(c.fwmark == 0x1234);
	CHECK(c.peers[0].endpoint.resolved &&
	      c.peers[0].endpoint.addr.sa.sa_family == AF_INET6);
	CHECK(c.peers[0].n_allowed == 0);
	conf_free(&c);
}

int main(void)
{
	crypto_init();
	RUN(test_full);
	RUN(test_v6_forms);
	RUN(test_errors);
	RUN(test_numbers);
	RUN(test_hostport_errors);
	RUN(test_policy);
	RUN(test_ifname);
	RUN(test_wgquick_compat);
	return unit_done();
}

/* UAPI: every set key, the errno wireguard-go gives for bad input, a
 * 1,000-peer format/parse round trip, and the socket server end to end. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "io/loop.h"
#include "uapi/uapi.h"

#define K1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define K2 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define K3 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define KZ "0000000000000000000000000000000000000000000000000000000000000000"
#define PEER "public_key=" K2 "\n"

static int parse(const char *text, struct uapi_config *cfg)
{
	return uapi_parse_set(text, strlen(text), cfg);
}

static bool key_is(const uint8_t key[KEY_LEN], const char *hex)
{
	char buf[KEY_HEX_LEN + 1];

	key_to_hex(buf, key);
	return !strcmp(buf, hex);
}

static bool aip_is(const struct uapi_allowedip *aip, const char *text)
{
	char ip[INET6_ADDRSTRLEN], buf[80];

	inet_ntop(aip->family, &aip->ip6, ip, sizeof(ip));
	snprintf(buf, sizeof(buf), "%s%s/%u", aip->remove ? "-" : "", ip,
		 aip->cidr);
	return !strcmp(buf, text);
}

static void test_device_keys(void)
{
	struct uapi_config cfg;

	REQUIRE(parse("private_key=" K1 "\nlisten_port=51820\n"
		      "fwmark=4294967295\nreplace_peers=true\n", &cfg) == 0);
	CHECK(cfg.has_private_key);
	/* Clamped, as wireguard-go stores and reports it. */
	CHECK(key_is(cfg.private_key, "0023456789abcdef0123456789abcdef"
				      "0123456789abcdef0123456789abcd6f"));
	CHECK(cfg.has_listen_port && cfg.listen_port == 51820);
	CHECK(cfg.has_fwmark && cfg.fwmark == 4294967295u);
	CHECK(cfg.replace_peers);
	CHECK(cfg.n_peers == 0);
	uapi_config_free(&cfg);

	/* Zero key (remove it), port 0, fwmark 0, leading zeros, uppercase
	 * hex: all accepted by wireguard-go. */
	REQUIRE(parse("private_key=" KZ "\nlisten_port=000080\nfwmark=0\n",
		      &cfg) == 0);
	CHECK(cfg.has_private_key && crypto_is_zero(cfg.private_key, KEY_LEN));
	CHECK(cfg.listen_port == 80);
	CHECK(cfg.has_fwmark && cfg.fwmark == 0);
	CHECK(!cfg.replace_peers);
	uapi_config_free(&cfg);
	REQUIRE(parse("private_key=FEDCBA9876543210FEDCBA9876543210"
		      "FEDCBA9876543210FEDCBA9876543210\n", &cfg) == 0);
	CHECK(key_is(cfg.private_key, "f8dcba9876543210fedcba9876543210"
				      "fedcba9876543210fedcba9876543250"));
	uapi_config_free(&cfg);

	/* Later lines win; an empty request is a valid no-op. */
	REQUIRE(parse("listen_port=1\nlisten_port=2\n", &cfg) == 0);
	CHECK(cfg.listen_port == 2);
	uapi_config_free(&cfg);
	REQUIRE(parse("", &cfg) == 0);
	CHECK(!cfg.has_private_key && !cfg.has_listen_port && !cfg.n_peers);
	uapi_config_free(&cfg);
}

static void test_peer_keys(void)
{
	struct uapi_config cfg;
	struct uapi_peer *p;

	REQUIRE(parse(PEER "protocol_version=1\n"
			   "preshared_key=" K3 "\n"
			   "endpoint=192.0.2.1:51820\n"
			   "persistent_keepalive_interval=25\n"
			   "replace_allowed_ips=true\n"
			   "allowed_ip=10.0.0.0/8\n"
			   "allowed_ip=2001:db8::1/128\n"
			   "allowed_ip=-192.168.0.0/16\n"
			   "allowed_ip=::/0\n"
			   "public_key=" K1 "\n"
			   "update_only=true\n"
			   "preshared_key=" KZ "\n"
			   "persistent_keepalive_interval=0\n"
			   "public_key=" K3 "\n"
			   "remove=true\n", &cfg) == 0);
	REQUIRE(cfg.n_peers == 3);
	p = &cfg.peers[0];
	CHECK(key_is(p->public_key, K2));
	CHECK(!p->remove && !p->update_only && p->replace_allowed_ips);
	CHECK(p->has_preshared_key && key_is(p->preshared_key, K3));
	CHECK(p->has_endpoint && p->endpoint.sa.sa_family == AF_INET);
	CHECK(p->endpoint.in4.sin_addr.s_addr == htonl(0xc0000201));
	CHECK(ntohs(p->endpoint.in4.sin_port) == 51820);
	CHECK(p->has_persistent_keepalive &&
	      p->persistent_keepalive_interval == 25);
	REQUIRE(p->n_allowedips == 4);
	CHECK(aip_is(&p->allowedips[0], "10.0.0.0/8"));
	CHECK(aip_is(&p->allowedips[1], "2001:db8::1/128"));
	CHECK(aip_is(&p->allowedips[2], "-192.168.0.0/16"));
	CHECK(p->allowedips[2].remove && p->allowedips[2].family == AF_INET);
	CHECK(aip_is(&p->allowedips[3], "::/0"));
	p = &cfg.peers[1];
	CHECK(key_is(p->public_key, K1));
	CHECK(p->update_only && !p->remove && !p->replace_allowed_ips);
	CHECK(p->has_preshared_key && crypto_is_zero(p->preshared_key,
						     KEY_LEN));
	CHECK(p->has_persistent_keepalive &&
	      p->persistent_keepalive_interval == 0);
	CHECK(!p->has_endpoint && !p->n_allowedips);
	p = &cfg.peers[2];
	CHECK(key_is(p->public_key, K3) && p->remove);
	uapi_config_free(&cfg);

	/* Host bits are kept; the table masks them (wireguard-go's get then
	 * prints 10.0.0.0/8). */
	REQUIRE(parse(PEER "allowed_ip=10.1.2.3/8\nallowed_ip=1.2.3.4/0\n"
			   "allowed_ip=::ffff:1.2.3.4/96\n", &cfg) == 0);
	CHECK(aip_is(&cfg.peers[0].allowedips[0], "10.1.2.3/8"));
	CHECK(aip_is(&cfg.peers[0].allowedips[1], "1.2.3.4/0"));
	CHECK(cfg.peers[0].allowedips[2].family == AF_INET6);
	uapi_config_free(&cfg);
}

static void test_endpoints(void)
{
	static const struct {
		const char *text;
		int family;
		const char *addr;
		unsigned port;
		bool scope_lo;
	} good[] = {
		{ "1.2.3.4:0", AF_INET, "1.2.3.4", 0, false },
		{ "255.255.255.255:65535", AF_INET, "255.255.255.255", 65535,
		  false },
		{ "[::1]:51820", AF_INET6, "::1", 51820, false },
		{ "[::1]:01", AF_INET6, "::1", 1, false },
		{ "[2001:db8::1]:443", AF_INET6, "2001:db8::1", 443, false },
		{ "[1:2:3:4:5:6:7:8]:1", AF_INET6, "1:2:3:4:5:6:7:8", 1,
		  false },
		{ "[FE80::A]:1", AF_INET6, "fe80::a", 1, false },
		{ "[::ffff:1.2.3.4]:7", AF_INET6, "::ffff:1.2.3.4", 7, false },
		{ "[fe80::1%lo]:51820", AF_INET6, "fe80::1", 51820, true },
	};
	static const char *const bad[] = {
		"", "1.2.3.4", "1.2.3.4:", ":51820", "1.2.3.4:65536",
		"1.2.3.4:-1", "1.2.3.4:+1", "1.2.3.4: 1", "01.2.3.4:1",
		"1.2.3.256:1", "1.2.3:1", "[::1]", "::1:51820", "[1.2.3.4]:1",
		"[]:1", "[::1:1", "[::1]x:1", "example.com:1",
		"[1:2:3:4:5:6:7::8]:1", "[::12345]:1", "[fe80::1%]:1",
		"1.2.3.4%lo:1", "[fe80::1%no-such-if0]:1",
		"[fe80::1%4294967296]:1", "[::1]:1\x01",
	};
	struct uapi_config cfg;
	char text[128], ip[INET6_ADDRSTRLEN];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); ++i) {
		const union uapi_endpoint *ep;

		snprintf(text, sizeof(text), PEER "endpoint=%s\n",
			 good[i].text);
		REQUIRE(parse(text, &cfg) == 0);
		ep = &cfg.peers[0].endpoint;
		CHECK(cfg.peers[0].has_endpoint);
		CHECK(ep->sa.sa_family == good[i].family);
		if (good[i].family == AF_INET) {
			inet_ntop(AF_INET, &ep->in4.sin_addr, ip, sizeof(ip));
			CHECK(ntohs(ep->in4.sin_port) == good[i].port);
		} else {
			inet_ntop(AF_INET6, &ep->in6.sin6_addr, ip,
				  sizeof(ip));
			CHECK(ntohs(ep->in6.sin6_port) == good[i].port);
			CHECK(ep->in6.sin6_scope_id ==
			      (good[i].scope_lo ? if_nametoindex("lo") : 0));
		}
		CHECK(!strcmp(ip, good[i].addr));
		uapi_config_free(&cfg);
	}
	REQUIRE(parse(PEER "endpoint=[fe80::1%7]:1\n", &cfg) == 0);
	CHECK(cfg.peers[0].endpoint.in6.sin6_scope_id == 7);
	uapi_config_free(&cfg);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		snprintf(text, sizeof(text), PEER "endpoint=%s\n", bad[i]);
		if (parse(text, &cfg) != -EINVAL) {
			fprintf(stderr, "  endpoint %s accepted\n", bad[i]);
			CHECK(!"bad endpoint accepted");
		}
		CHECK(cfg.n_peers == 0 && !cfg.peers);
	}
}

/* Checked against wireguard-go 0.0.20220316 over its socket, except the
 * prefix lengths with a sign or leading zeros that Go >= 1.22 rejects
 * (golang/go#63850) and the "-" removal form of newer wireguard-go. */
static const struct {
	const char *text;
	int err;
} bad_input[] = {
	{ "private_key\n", -EPROTO },
	{ PEER "nothing\n", -EPROTO },
	{ "foo", -EPROTO },
	{ "listen_port=1\nfoo\n", -EPROTO },
	{ "=\n", -EINVAL },
	{ "=x\n", -EINVAL },
	{ "foo=bar\n", -EINVAL },
	{ "Private_key=" K1 "\n", -EINVAL },
	{ "private_key =" K1 "\n", -EINVAL },
	{ "private_key=\n", -EINVAL },
	{ "private_key=0123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcde\n", -EINVAL },
	{ "private_key=" K1 "0\n", -EINVAL },
	{ "private_key=" K1 "00\n", -EINVAL },
	{ "private_key=0123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdzz\n", -EINVAL },
	{ "private_key= 123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdef\n", -EINVAL },
	{ "listen_port=65536\n", -EINVAL },
	{ "listen_port=-1\n", -EINVAL },
	{ "listen_port=+1\n", -EINVAL },
	{ "listen_port=\n", -EINVAL },
	{ "listen_port= 1\n", -EINVAL },
	{ "listen_port=1 \n", -EINVAL },
	{ "listen_port=0x10\n", -EINVAL },
	{ "listen_port=1_0\n", -EINVAL },
	{ "listen_port=99999999999999999999999\n", -EINVAL },
	{ "listen_port=1\r\r\n", -EINVAL },
	{ "listen_port=1=2\n", -EINVAL },
	{ "fwmark=4294967296\n", -EINVAL },
	{ "fwmark=-0\n", -EINVAL },
	{ "replace_peers=false\n", -EINVAL },
	{ "replace_peers=TRUE\n", -EINVAL },
	{ "replace_peers=\n", -EINVAL },
	/* Peer keys before any public_key. */
	{ "remove=true\n", -EINVAL },
	{ "allowed_ip=1.2.3.4/32\n", -EINVAL },
	{ "protocol_version=1\n", -EINVAL },
	{ "endpoint=1.2.3.4:5\n", -EINVAL },
	{ "preshared_key=" K1 "\n", -EINVAL },
	{ "public_key=" K1 "0\n", -EINVAL },
	{ "public_key=\n", -EINVAL },
	{ "public_key=0123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdeg\n", -EINVAL },
	/* Device keys inside a peer. */
	{ PEER "listen_port=1\n", -EINVAL },
	{ PEER "private_key=" K1 "\n", -EINVAL },
	{ PEER "fwmark=1\n", -EINVAL },
	{ PEER "replace_peers=true\n", -EINVAL },
	{ PEER "foo=bar\n", -EINVAL },
	{ PEER "remove=false\n", -EINVAL },
	{ PEER "remove=1\n", -EINVAL },
	{ PEER "update_only=True\n", -EINVAL },
	{ PEER "replace_allowed_ips=false\n", -EINVAL },
	{ PEER "preshared_key=x\n", -EINVAL },
	{ PEER "preshared_key=" K1 "a\n", -EINVAL },
	{ PEER "persistent_keepalive_interval=65536\n", -EINVAL },
	{ PEER "persistent_keepalive_interval=\n", -EINVAL },
	{ PEER "persistent_keepalive_interval=-1\n", -EINVAL },
	{ PEER "protocol_version=2\n", -EINVAL },
	{ PEER "protocol_version=01\n", -EINVAL },
	{ PEER "protocol_version=\n", -EINVAL },
	{ PEER "allowed_ip=1.2.3.4/33\n", -EINVAL },
	{ PEER "allowed_ip=::1/129\n", -EINVAL },
	{ PEER "allowed_ip=1.2.3.4/-8\n", -EINVAL },
	{ PEER "allowed_ip=1.2.3.4/+8\n", -EINVAL },
	{ PEER "allowed_ip=1.2.3.4/08\n", -EINVAL },
	{ PEER "allowed_ip=1.2.3.4/00\n", -EINVAL },
	{ PEER "allowed_ip=1.2.3.4/0x8\n", -EINVAL },
	{ PEER "allowed_ip=1.2.3.4/\n", -EINVAL },
	{ PEER "allowed_ip=1.2.3.4\n", -EINVAL },
	{ PEER "allowed_ip=/8\n", -EINVAL },
	{ PEER "allowed_ip=1.2.3.4/32/32\n", -EINVAL },
	{ PEER "allowed_ip=fe80::1%lo/64\n", -EINVAL },
	{ PEER "allowed_ip=01.2.3.4/32\n", -EINVAL },
	{ PEER "allowed_ip=-\n", -EINVAL },
	{ PEER "allowed_ip=--1.2.3.4/32\n", -EINVAL },
	{ PEER "allowed_ip=+1.2.3.4/32\n", -EINVAL },
	{ PEER "allowed_ip=\n", -EINVAL },
	/* Errors after good lines, and after remove (still validated). */
	{ PEER "allowed_ip=1.2.3.4/32\nallowed_ip=x\n", -EINVAL },
	{ PEER "remove=true\nallowed_ip=x\n", -EINVAL },
	{ PEER "remove=true\nendpoint=x\n", -EINVAL },
	{ PEER "public_key=" K1 "\npublic_key=" K1 "x\n", -EINVAL },
};

static void test_bad_input(void)
{
	struct uapi_config cfg;
	size_t i;

	for (i = 0; i < sizeof(bad_input) / sizeof(bad_input[0]); ++i) {
		int ret = parse(bad_input[i].text, &cfg);

		if (ret != bad_input[i].err) {
			fprintf(stderr, "  %zu: got %d want %d for \"%s\"\n",
				i, ret, bad_input[i].err, bad_input[i].text);
			CHECK(!"wrong errno");
		}
		/* Freed and zeroed; ASan's leak check covers the rest. */
		CHECK(!cfg.peers && !cfg.n_peers && !cfg.has_private_key);
	}
}

#define NUL_CASE(lit) { lit, sizeof(lit) - 1 }
static void test_embedded_nul(void)
{
	static const struct {
		const char *text;
		size_t len;
	} cases[] = {
		NUL_CASE("listen_port=1\0"),
		NUL_CASE("listen_port=1\0\n"),
		NUL_CASE("public_key=" K1 "\0\n"),
		NUL_CASE("\0=1\n"),
		NUL_CASE("listen_port\0=1\n"),
		NUL_CASE("replace_peers=true\0\n"),
		NUL_CASE(PEER "endpoint=1.2.3.4:5\0\n"),
		NUL_CASE(PEER "endpoint=1.2.3.4\0:5\n"),
		NUL_CASE(PEER "allowed_ip=1.2.3.4/3\0\n"),
		NUL_CASE(PEER "allowed_ip=1.2.3.4\0/3\n"),
		NUL_CASE(PEER "preshared_key=" K1 "\0\n"),
	};
	struct uapi_config cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
		CHECK(uapi_parse_set(cases[i].text, cases[i].len, &cfg) ==
		      -EINVAL);
		CHECK(!cfg.peers);
	}
}

static void test_framing(void)
{
	struct uapi_config cfg;

	/* CRLF works (bufio.ScanLines drops the CR), the last line needs no
	 * newline, and a blank line ends the operation. */
	REQUIRE(parse("listen_port=1\r\n" PEER "allowed_ip=1.2.3.4/32\r\n",
		      &cfg) == 0);
	CHECK(cfg.listen_port == 1 && cfg.peers[0].n_allowedips == 1);
	uapi_config_free(&cfg);
	REQUIRE(parse("listen_port=7", &cfg) == 0);
	CHECK(cfg.listen_port == 7);
	uapi_config_free(&cfg);
	REQUIRE(parse("listen_port=1\n\nfoo\n", &cfg) == 0);
	CHECK(cfg.listen_port == 1);
	uapi_config_free(&cfg);
	REQUIRE(parse("listen_port=1\n\r\nfoo\n", &cfg) == 0);
	uapi_config_free(&cfg);
}

static void test_sections(void)
{
	struct uapi_config cfg;
	struct uapi_peer *p;

	/* Duplicate public keys stay separate entries, in order. */
	REQUIRE(parse(PEER "allowed_ip=1.0.0.0/8\n"
			   "public_key=" K1 "\n"
		      PEER "allowed_ip=2.0.0.0/8\n", &cfg) == 0);
	REQUIRE(cfg.n_peers == 3);
	CHECK(key_is(cfg.peers[0].public_key, K2));
	CHECK(key_is(cfg.peers[1].public_key, K1));
	CHECK(key_is(cfg.peers[2].public_key, K2));
	CHECK(aip_is(&cfg.peers[2].allowedips[0], "2.0.0.0/8"));
	uapi_config_free(&cfg);

	/* replace_allowed_ips after allowed_ip lines removes those too in
	 * wireguard-go: they become an entry applied before the replace. */
	REQUIRE(parse(PEER "update_only=true\nallowed_ip=1.0.0.0/8\n"
			   "replace_allowed_ips=true\n"
			   "allowed_ip=2.0.0.0/8\n", &cfg) == 0);
	REQUIRE(cfg.n_peers == 2);
	p = cfg.peers;
	CHECK(key_is(p[0].public_key, K2) && key_is(p[1].public_key, K2));
	CHECK(!p[0].replace_allowed_ips && p[1].replace_allowed_ips);
	CHECK(p[0].update_only && p[1].update_only);
	CHECK(p[0].n_allowedips == 1 && aip_is(&p[0].allowedips[0],
					       "1.0.0.0/8"));
	CHECK(p[1].n_allowedips == 1 && aip_is(&p[1].allowedips[0],
					       "2.0.0.0/8"));
	uapi_config_free(&cfg);

	/* update_only late in a section applies to all of it: wireguard-go
	 * deletes a peer the section created. */
	REQUIRE(parse(PEER "allowed_ip=1.0.0.0/8\nreplace_allowed_ips=true\n"
			   "update_only=true\n", &cfg) == 0);
	REQUIRE(cfg.n_peers == 2);
	CHECK(cfg.peers[0].update_only && cfg.peers[1].update_only);
	uapi_config_free(&cfg);

	/* After remove the rest of the section is inert but validated. */
	REQUIRE(parse(PEER "remove=true\nallowed_ip=1.0.0.0/8\n"
			   "endpoint=1.2.3.4:5\nreplace_allowed_ips=true\n"
			   "persistent_keepalive_interval=5\n"
			   "preshared_key=" K1 "\n", &cfg) == 0);
	REQUIRE(cfg.n_peers == 1);
	p = cfg.peers;
	CHECK(p->remove && !p->n_allowedips && !p->has_endpoint &&
	      !p->replace_allowed_ips && !p->has_persistent_keepalive &&
	      !p->has_preshared_key);
	uapi_config_free(&cfg);
}

static void test_format_get(void)
{
	struct uapi_config cfg = { 0 };
	struct uapi_allowedip aip = { .family = AF_INET, .cidr = 8 };
	struct uapi_peer *p;
	size_t len;
	char *out;
	static const char want[] =
		"private_key=" K1 "\n"
		"listen_port=51820\n"
		"fwmark=3\n"
		"public_key=" K2 "\n"
		"preshared_key=" KZ "\n"
		"protocol_version=1\n"
		"endpoint=[2001:db8::1]:443\n"
		"last_handshake_time_sec=1700000000\n"
		"last_handshake_time_nsec=123\n"
		"tx_bytes=18446744073709551615\n"
		"rx_bytes=5\n"
		"persistent_keepalive_interval=25\n"
		"allowed_ip=10.0.0.0/8\n"
		"allowed_ip=2001:db8::/32\n"
		"public_key=" K3 "\n"
		"preshared_key=" K1 "\n"
		"protocol_version=1\n"
		"endpoint=192.0.2.1:1\n"
		"last_handshake_time_sec=0\n"
		"last_handshake_time_nsec=0\n"
		"tx_bytes=0\n"
		"rx_bytes=0\n"
		"persistent_keepalive_interval=0\n";

	cfg.has_private_key = true;
	CHECK(key_from_hex(cfg.private_key, K1));
	cfg.has_listen_port = true;
	cfg.listen_port = 51820;
	cfg.has_fwmark = true;
	cfg.fwmark = 3;
	p = uapi_config_add_peer(&cfg);
	REQUIRE(p);
	CHECK(key_from_hex(p->public_key, K2));
	p->has_endpoint = true;
	p->endpoint.in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &p->endpoint.in6.sin6_addr);
	p->endpoint.in6.sin6_port = htons(443);
	p->last_handshake_sec = 1700000000;
	p->last_handshake_nsec = 123;
	p->tx_bytes = UINT64_MAX;
	p->rx_bytes = 5;
	p->persistent_keepalive_interval = 25;
	inet_pton(AF_INET, "10.0.0.0", &aip.ip4);
	CHECK(uapi_peer_add_allowedip(p, &aip) == 0);
	aip.family = AF_INET6;
	aip.cidr = 32;
	inet_pton(AF_INET6, "2001:db8::", &aip.ip6);
	CHECK(uapi_peer_add_allowedip(p, &aip) == 0);
	p = uapi_config_add_peer(&cfg);
	REQUIRE(p);
	CHECK(key_from_hex(p->public_key, K3));
	p->has_preshared_key = true;
	CHECK(key_from_hex(p->preshared_key, K1));
	p->has_endpoint = true;
	p->endpoint.in4.sin_family = AF_INET;
	p->endpoint.in4.sin_addr.s_addr = htonl(0xc0000201);
	p->endpoint.in4.sin_port = htons(1);

	out = uapi_format_get(&cfg, &len);
	REQUIRE(out);
	CHECK(len == strlen(want) && !strcmp(out, want));
	if (strcmp(out, want))
		fprintf(stderr, "%s", out);
	free(out);

	/* Zero key, port and fwmark are left out, like wireguard-go. */
	memset(cfg.private_key, 0, KEY_LEN);
	cfg.listen_port = 0;
	cfg.fwmark = 0;
	cfg.peers[0].endpoint.in6.sin6_scope_id = if_nametoindex("lo");
	out = uapi_format_get(&cfg, &len);
	REQUIRE(out);
	CHECK(!strncmp(out, "public_key=", 11));
	CHECK(strstr(out, "endpoint=[2001:db8::1%lo]:443\n"));
	free(out);
	uapi_config_free(&cfg);

	out = uapi_format_get(&cfg, &len);
	REQUIRE(out);
	CHECK(len == 0 && !*out);
	free(out);
}

/* Drops the get-only lines so a get reply parses as a set. */
static size_t strip_get_only(char *text, size_t len)
{
	static const char *const get_only[] = {
		"last_handshake_time_sec=", "last_handshake_time_nsec=",
		"tx_bytes=", "rx_bytes=",
	};
	size_t in = 0, out = 0, i;

	while (in < len) {
		char *nl = memchr(text + in, '\n', len - in);
		size_t line = nl ? (size_t)(nl - (text + in)) + 1 : len - in;
		bool keep = true;

		for (i = 0; i < sizeof(get_only) / sizeof(get_only[0]); ++i)
			if (!strncmp(text + in, get_only[i],
				     strlen(get_only[i])))
				keep = false;
		if (keep) {
			memmove(text + out, text + in, line);
			out += line;
		}
		in += line;
	}
	return out;
}

static void random_allowedip(struct uapi_allowedip *aip)
{
	memset(aip, 0, sizeof(*aip));
	if (random_uniform(2)) {
		aip->family = AF_INET;
		aip->cidr = (uint8_t)random_uniform(33);
		random_bytes(&aip->ip4, sizeof(aip->ip4));
	} else {
		aip->family = AF_INET6;
		aip->cidr = (uint8_t)random_uniform(129);
		random_bytes(&aip->ip6, sizeof(aip->ip6));
	}
}

static void build_random_config(struct uapi_config *cfg, size_t n_peers,
				size_t n_aips)
{
	size_t i, j;

	memset(cfg, 0, sizeof(*cfg));
	cfg->has_private_key = true;
	curve25519_generate_secret(cfg->private_key);
	cfg->has_listen_port = true;
	cfg->listen_port = (uint16_t)(1 + random_uniform(65535));
	cfg->has_fwmark = true;
	cfg->fwmark = random_u32() | 1;
	for (i = 0; i < n_peers; ++i) {
		struct uapi_peer *p = uapi_config_add_peer(cfg);

		if (!p)
			abort();
		random_bytes(p->public_key, KEY_LEN);
		if (random_uniform(2)) {
			p->has_preshared_key = true;
			random_bytes(p->preshared_key, KEY_LEN);
		}
		if (random_uniform(3)) {
			p->has_endpoint = true;
			if (random_uniform(2)) {
				p->endpoint.in4.sin_family = AF_INET;
				random_bytes(&p->endpoint.in4.sin_addr, 4);
				p->endpoint.in4.sin_port =
					(uint16_t)random_u32();
			} else {
				p->endpoint.in6.sin6_family = AF_INET6;
				random_bytes(&p->endpoint.in6.sin6_addr, 16);
				p->endpoint.in6.sin6_port =
					(uint16_t)random_u32();
			}
		}
		p->has_persistent_keepalive = true;
		p->persistent_keepalive_interval = (uint16_t)random_u32();
		p->last_handshake_sec = random_u32();
		p->last_handshake_nsec = random_uniform(1000000000);
		p->tx_bytes = ((uint64_t)random_u32() << 32) | random_u32();
		p->rx_bytes = random_u32();
		for (j = 0; j < n_aips; ++j) {
			struct uapi_allowedip aip;

			random_allowedip(&aip);
			if (uapi_peer_add_allowedip(p, &aip))
				abort();
		}
	}
}

static bool same_endpoint(const union uapi_endpoint *a,
			  const union uapi_endpoint *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port &&
		       a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	return a->in6.sin6_port == b->in6.sin6_port &&
	       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
	       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16);
}

static bool same_allowedip(const struct uapi_allowedip *a,
			   const struct uapi_allowedip *b)
{
	return a->family == b->family && a->cidr == b->cidr &&
	       a->remove == b->remove &&
	       !memcmp(&a->ip6, &b->ip6, a->family == AF_INET ? 4 : 16);
}

static void test_roundtrip_big(void)
{
	struct uapi_config cfg, back;
	uint64_t start, fmt_ns, parse_ns;
	size_t len, i, j, bad = 0;
	char *text;

	build_random_config(&cfg, 1000, 4);
	start = clock_mono_ns();
	text = uapi_format_get(&cfg, &len);
	fmt_ns = clock_mono_ns() - start;
	REQUIRE(text);
	CHECK(strlen(text) == len);
	len = strip_get_only(text, len);
	start = clock_mono_ns();
	CHECK(uapi_parse_set(text, len, &back) == 0);
	parse_ns = clock_mono_ns() - start;
	printf("  1000 peers x 4 allowed IPs: %zu bytes, format %.1f ms, "
	       "parse %.1f ms\n", len, fmt_ns / 1e6, parse_ns / 1e6);
	/* Generous even under ASan; quadratic behaviour would blow it. */
	CHECK(fmt_ns < 2000000000ULL && parse_ns < 2000000000ULL);

	CHECK(back.has_private_key &&
	      !memcmp(back.private_key, cfg.private_key, KEY_LEN));
	CHECK(back.has_listen_port && back.listen_port == cfg.listen_port);
	CHECK(back.has_fwmark && back.fwmark == cfg.fwmark);
	CHECK(back.n_peers == cfg.n_peers);
	for (i = 0; i < cfg.n_peers && i < back.n_peers; ++i) {
		const struct uapi_peer *a = &cfg.peers[i], *b = &back.peers[i];
		uint8_t psk[KEY_LEN] = { 0 };

		if (a->has_preshared_key)
			memcpy(psk, a->preshared_key, KEY_LEN);
		bad += memcmp(a->public_key, b->public_key, KEY_LEN) != 0;
		bad += !b->has_preshared_key ||
		       memcmp(psk, b->preshared_key, KEY_LEN);
		bad += a->has_endpoint != b->has_endpoint;
		if (a->has_endpoint && b->has_endpoint)
			bad += !same_endpoint(&a->endpoint, &b->endpoint);
		bad += !b->has_persistent_keepalive ||
		       a->persistent_keepalive_interval !=
			       b->persistent_keepalive_interval;
		bad += a->n_allowedips != b->n_allowedips;
		for (j = 0; j < a->n_allowedips && j < b->n_allowedips; ++j)
			bad += !same_allowedip(&a->allowedips[j],
					       &b->allowedips[j]);
		bad += b->remove || b->update_only || b->replace_allowed_ips;
	}
	CHECK(bad == 0);
	memzero(text, len);
	free(text);
	uapi_config_free(&cfg);
	uapi_config_free(&back);
}

/* The server end to end: a client thread talks to the socket while this
 * thread runs the loop with a fake device behind the handler. */
struct fake_dev {
	struct uapi_config state;
	int sets, gets;
	char reloaded[64]; /* the path of the last reload */
};

static int fake_reload(void *ctx, const char *path, char *msg, size_t len)
{
	struct fake_dev *dev = ctx;

	if (!strcmp(path, "/unreadable")) {
		snprintf(msg, len, "cannot read %s", path);
		return -EACCES;
	}
	snprintf(dev->reloaded, sizeof(dev->reloaded), "%s", path);
	return 0;
}

static int fake_get(void *ctx, struct uapi_config *cfg)
{
	struct fake_dev *dev = ctx;
	size_t i;

	dev->gets++;
	if (dev->state.fwmark == 666)
		return -EIO;
	*cfg = dev->state;
	cfg->peers = NULL;
	cfg->n_peers = cfg->cap_peers = 0;
	for (i = 0; i < dev->state.n_peers; ++i) {
		struct uapi_peer *p = uapi_config_add_peer(cfg);
		const struct uapi_peer *src = &dev->state.peers[i];
		size_t j;

		if (!p)
			return -ENOMEM;
		memcpy(p->public_key, src->public_key, KEY_LEN);
		p->endpoint = src->endpoint;
		p->has_endpoint = src->has_endpoint;
		for (j = 0; j < src->n_allowedips; ++j)
			if (uapi_peer_add_allowedip(p, &src->allowedips[j]))
				return -ENOMEM;
	}
	return 0;
}

/* Applies device keys and replaces the peer list (enough for a test). */
static int fake_set(void *ctx, const struct uapi_config *cfg)
{
	struct fake_dev *dev = ctx;
	size_t i, j;

	dev->sets++;
	if (cfg->has_listen_port && cfg->listen_port == 1)
		return -EADDRINUSE;
	if (cfg->has_private_key)
		memcpy(dev->state.private_key, cfg->private_key, KEY_LEN);
	dev->state.has_private_key |= cfg->has_private_key;
	if (cfg->has_listen_port) {
		dev->state.has_listen_port = true;
		dev->state.listen_port = cfg->listen_port;
	}
	if (cfg->has_fwmark) {
		dev->state.has_fwmark = true;
		dev->state.fwmark = cfg->fwmark;
	}
	if (!cfg->n_peers)
		return 0;
	for (i = 0; i < dev->state.n_peers; ++i)
		free(dev->state.peers[i].allowedips);
	dev->state.n_peers = 0;
	for (i = 0; i < cfg->n_peers; ++i) {
		struct uapi_peer *p = uapi_config_add_peer(&dev->state);

		if (!p)
			return -ENOMEM;
		memcpy(p->public_key, cfg->peers[i].public_key, KEY_LEN);
		p->endpoint = cfg->peers[i].endpoint;
		p->has_endpoint = cfg->peers[i].has_endpoint;
		for (j = 0; j < cfg->peers[i].n_allowedips; ++j)
			if (uapi_peer_add_allowedip(
				    p, &cfg->peers[i].allowedips[j]))
				return -ENOMEM;
	}
	return 0;
}

struct client {
	char path[108];
	char ifname[IFNAMSIZ];
	atomic_bool done;
};

static int client_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 20 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static bool send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

/* Reads one reply (up to and including the first blank line) into a
 * malloc'd string; NULL on EOF/timeout before it. Byte-at-a-time is fine
 * for tests and leaves pipelined replies in the socket. */
static char *read_reply(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	while (buf) {
		if (len + 1 >= cap) {
			char *p = realloc(buf, cap *= 2);

			if (!p)
				break;
			buf = p;
		}
		if (recv(fd, buf + len, 1, 0) != 1)
			break;
		len++;
		buf[len] = '\0';
		if (len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n')
			return buf;
	}
	free(buf);
	return NULL;
}

static bool reply_is(int fd, const char *want)
{
	char *got = read_reply(fd);
	bool ok = got && !strcmp(got, want);

	if (!ok)
		fprintf(stderr, "  reply \"%s\", want \"%s\"\n",
			got ? got : "(none)", want);
	free(got);
	return ok;
}

/* The server hung up (ECONNRESET if it left input unread). */
static bool at_eof(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, 0);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static char *big_set_request(size_t n_peers, size_t *len)
{
	struct uapi_config cfg;
	char *body, *req;
	size_t blen;

	build_random_config(&cfg, n_peers, 4);
	cfg.listen_port = 2;
	body = uapi_format_get(&cfg, &blen);
	uapi_config_free(&cfg);
	if (!body)
		return NULL;
	blen = strip_get_only(body, blen);
	req = malloc(blen + 16);
	if (req) {
		memcpy(req, "set=1\n", 6);
		memcpy(req + 6, body, blen);
		memcpy(req + 6 + blen, "\n", 1);
		*len = blen + 7;
	}
	free(body);
	return req;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	const char *small;
	char *got, *req;
	size_t len, i;
	int fd;

	fd = client_connect(cl->path);
	if (fd < 0) {
		CHECK(!"connect");
		goto out;
	}
	/* Several requests on one connection. */
	CHECK(send_str(fd, "set=1\nprivate_key=" K1 "\nlisten_port=51820\n"
			   PEER "endpoint=[::1]:5\nallowed_ip=10.0.0.0/8\n\n"));
	CHECK(reply_is(fd, "errno=0\n\n"));
	CHECK(send_str(fd, "get=1\n\n"));
	got = read_reply(fd);
	CHECK(got && !strcmp(got,
		"private_key=0023456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcd6f\n"
		"listen_port=51820\n"
		"public_key=" K2 "\n"
		"preshared_key=" KZ "\n"
		"protocol_version=1\n"
		"endpoint=[::1]:5\n"
		"last_handshake_time_sec=0\n"
		"last_handshake_time_nsec=0\n"
		"tx_bytes=0\n"
		"rx_bytes=0\n"
		"persistent_keepalive_interval=0\n"
		"allowed_ip=10.0.0.0/8\n"
		"errno=0\n\n"));
	free(got);
	/* Bad values: EINVAL / EPROTO, and the connection stays usable. */
	CHECK(send_str(fd, "set=1\nlisten_port=65536\n\n"));
	CHECK(reply_is(fd, "errno=-22\n\n"));
	CHECK(send_str(fd, "set=1\nbogus\n\n"));
	CHECK(reply_is(fd, "errno=-71\n\n"));
	/* The handler's own error goes back as is. */
	CHECK(send_str(fd, "set=1\nlisten_port=1\n\n"));
	CHECK(reply_is(fd, "errno=-98\n\n"));
	/* Pipelined, CRLF, and a stray byte after get=1 (wireguard-go:
	 * EINVAL, then carries on). */
	CHECK(send_str(fd, "get=1\nxset=1\nfwmark=9\r\n\r\nset=1\n\n"));
	CHECK(reply_is(fd, "errno=-22\n\n"));
	CHECK(reply_is(fd, "errno=0\n\n"));
	CHECK(reply_is(fd, "errno=0\n\n"));
	/* One byte at a time. */
	small = "set=1\nfwmark=10\n\n";
	for (i = 0; i < strlen(small); ++i) {
		CHECK(send_all(fd, small + i, 1));
		usleep(1000);
	}
	CHECK(reply_is(fd, "errno=0\n\n"));
	/* A get error: errno only. */
	CHECK(send_str(fd, "set=1\nfwmark=666\n\nget=1\n\n"));
	CHECK(reply_is(fd, "errno=0\n\n"));
	CHECK(reply_is(fd, "errno=-5\n\n"));
	CHECK(send_str(fd, "set=1\nfwmark=0\n\n"));
	CHECK(reply_is(fd, "errno=0\n\n"));
	/* Our reload: the path to the handler, its error back; a body
	 * without config= refused. */
	CHECK(send_str(fd, "reload=1\nconfig=/etc/wg0.conf\n\n"));
	CHECK(reply_is(fd, "errno=0\n\n"));
	CHECK(send_str(fd, "reload=1\nconfig=/unreadable\n\n"));
	CHECK(reply_is(fd, "message=cannot read /unreadable\nerrno=-13\n\n"));
	CHECK(send_str(fd, "reload=1\nfile=/x\n\n"));
	CHECK(reply_is(fd, "errno=-22\n\n"));
	CHECK(send_str(fd, "reload=1\nconfig=/a\nconfig=/b\n\n"));
	CHECK(reply_is(fd, "errno=-22\n\n"));
	/* Unknown operation: errno, then hang up. */
	CHECK(send_str(fd, "bogus=1\n\n"));
	CHECK(reply_is(fd, "errno=-71\n\n"));
	CHECK(at_eof(fd));
	close(fd);

	/* A set cut short by EOF is applied, as wireguard-go does. */
	fd = client_connect(cl->path);
	CHECK(fd >= 0);
	CHECK(send_str(fd, "set=1\nlisten_port=4242\n"));
	shutdown(fd, SHUT_WR);
	CHECK(reply_is(fd, "errno=0\n\n"));
	CHECK(at_eof(fd));
	close(fd);
	/* A partial get at EOF: no reply. */
	fd = client_connect(cl->path);
	CHECK(send_str(fd, "get=1\n"));
	shutdown(fd, SHUT_WR);
	CHECK(at_eof(fd));
	close(fd);
	/* Garbage without a newline. */
	fd = client_connect(cl->path);
	CHECK(send_str(fd, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	CHECK(reply_is(fd, "errno=-71\n\n"));
	CHECK(at_eof(fd));
	close(fd);

	/* 1,000 peers in, 1,000 peers out, through socket buffers. */
	req = big_set_request(1000, &len);
	CHECK(req);
	if (!req)
		goto out;
	fd = client_connect(cl->path);
	CHECK(send_all(fd, req, len));
	CHECK(reply_is(fd, "errno=0\n\n"));
	CHECK(send_str(fd, "get=1\n\n"));
	got = read_reply(fd);
	CHECK(got && strstr(got, "errno=0\n\n"));
	if (got) {
		size_t peers = 0;
		char *p = got;

		while ((p = strstr(p, "public_key=")) && ++peers)
			p++;
		CHECK(peers == 1000);
	}
	free(got);
	close(fd);
	free(req);

	/* Several clients at once, one of them idle. */
	{
		int idle = client_connect(cl->path), a, b;

		a = client_connect(cl->path);
		b = client_connect(cl->path);
		CHECK(send_str(idle, "set=1\n"));
		CHECK(send_str(a, "set=1\nfwmark=5\n\n"));
		CHECK(send_str(b, "set=1\nfwmark=6\n\n"));
		CHECK(reply_is(b, "errno=0\n\n"));
		CHECK(reply_is(a, "errno=0\n\n"));
		close(a);
		close(b);
		close(idle);
	}
out:
	atomic_store(&cl->done, true);
	return NULL;
}

struct run_state {
	atomic_bool *done;
	uint64_t deadline;
	bool timed_out;
};

static void stop_when_done(struct loop *loop, void *arg)
{
	struct run_state *rs = arg;

	if (atomic_load(rs->done))
		loop_stop(loop);
	if (clock_mono_ns() > rs->deadline) {
		rs->timed_out = true;
		loop_stop(loop);
	}
}

static void run_loop_until(struct loop *loop, atomic_bool *done)
{
	struct run_state rs = {
		.done = done,
		.deadline = clock_mono_ns() + 60000000000ULL,
	};

	loop_set_tick(loop, 5, stop_when_done, &rs);
	CHECK(loop_run(loop) == 0);
	CHECK(!rs.timed_out);
	loop_set_tick(loop, 0, NULL, NULL);
}

static void free_fake(struct fake_dev *dev)
{
	uapi_config_free(&dev->state);
}

static void test_server(void)
{
	struct fake_dev dev = { 0 };
	struct uapi_handler h = { .get = fake_get, .set = fake_set,
				  .reload = fake_reload, .ctx = &dev };
	struct uapi_server *srv, *srv2;
	struct client cl = { 0 };
	char path[sizeof(cl.path)];
	struct loop *loop;
	pthread_t thread;
	struct stat st;

	loop = loop_new();
	REQUIRE(loop);
	snprintf(cl.ifname, sizeof(cl.ifname), "swtest%d", (int)getpid());
	REQUIRE(uapi_server_open(&srv, cl.ifname, loop, &h) == 0);
	snprintf(cl.path, sizeof(cl.path), "%s", uapi_server_path(srv));
	snprintf(path, sizeof(path), "/var/run/wireguard/%s.sock", cl.ifname);
	CHECK(!strcmp(cl.path, path));
	REQUIRE(stat(cl.path, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK((st.st_mode & 0777) == 0600);
	REQUIRE(stat("/var/run/wireguard", &st) == 0);
	CHECK((st.st_mode & 0022) == 0);

	/* A live server owns the name. */
	CHECK(uapi_server_open(&srv2, cl.ifname, loop, &h) == -EADDRINUSE);
	CHECK(!srv2);
	CHECK(uapi_server_open(&srv2, "a/b", loop, &h) == -EINVAL);
	CHECK(uapi_server_open(&srv2, "", loop, &h) == -EINVAL);
	CHECK(uapi_server_open(&srv2, "0123456789abcdef", loop, &h) ==
	      -EINVAL);

	REQUIRE(pthread_create(&thread, NULL, client_main, &cl) == 0);
	run_loop_until(loop, &cl.done);
	pthread_join(thread, NULL);
	CHECK(dev.state.listen_port == 2);
	CHECK(dev.state.n_peers == 1000);
	CHECK(!strcmp(dev.reloaded, "/etc/wg0.conf"));

	uapi_server_close(srv);
	CHECK(stat(cl.path, &st) < 0 && errno == ENOENT);
	free_fake(&dev);
	loop_free(loop);
}

static void test_stale_socket(void)
{
	struct fake_dev dev = { 0 };
	struct uapi_handler h = { .get = fake_get, .set = fake_set, .ctx = &dev };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct uapi_server *srv;
	struct loop *loop;
	char ifname[IFNAMSIZ];
	struct stat st;
	int fd;

	loop = loop_new();
	REQUIRE(loop);
	snprintf(ifname, sizeof(ifname), "swstale%d", (int)getpid());
	snprintf(addr.sun_path, sizeof(addr.sun_path),
		 "/var/run/wireguard/%s.sock", ifname);
	mkdir("/var/run/wireguard", 0755);
	/* A socket file nobody listens on, as a crashed daemon leaves. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	REQUIRE(fd >= 0);
	unlink(addr.sun_path);
	REQUIRE(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	close(fd);
	REQUIRE(stat(addr.sun_path, &st) == 0);
	CHECK(uapi_server_open(&srv, ifname, loop, &h) == 0);
	if (srv)
		uapi_server_close(srv);
	CHECK(stat(addr.sun_path, &st) < 0);

	/* Not a socket: left alone. */
	fd = open(addr.sun_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	CHECK(uapi_server_open(&srv, ifname, loop, &h) == -EEXIST);
	unlink(addr.sun_path);
	loop_free(loop);
}

/* The real wg(8), if installed, against the server. */
struct wg_run {
	char cmd[256];
	char out[4096];
	int status;
	atomic_bool done;
};

static void *wg_main(void *arg)
{
	struct wg_run *r = arg;
	FILE *f = popen(r->cmd, "r");
	size_t n = 0;

	if (f) {
		n = fread(r->out, 1, sizeof(r->out) - 1, f);
		r->status = pclose(f);
	} else {
		r->status = -1;
	}
	r->out[n] = '\0';
	atomic_store(&r->done, true);
	return NULL;
}

static void run_wg(struct loop *loop, struct wg_run *r)
{
	pthread_t thread;

	atomic_store(&r->done, false);
	REQUIRE(pthread_create(&thread, NULL, wg_main, r) == 0);
	run_loop_until(loop, &r->done);
	pthread_join(thread, NULL);
}

static void test_wg_tool(void)
{
	struct fake_dev dev = { 0 };
	struct uapi_handler h = { .get = fake_get, .set = fake_set, .ctx = &dev };
	struct uapi_server *srv;
	struct wg_run r;
	struct loop *loop;
	char ifname[IFNAMSIZ];

	if (access("/usr/bin/wg", X_OK)) {
		printf("  (no /usr/bin/wg; skipped)\n");
		return;
	}
	loop = loop_new();
	REQUIRE(loop);
	snprintf(ifname, sizeof(ifname), "swwg%d", (int)getpid());
	REQUIRE(uapi_server_open(&srv, ifname, loop, &h) == 0);

	snprintf(r.cmd, sizeof(r.cmd),
		 "wg set %s listen-port 5555 peer "
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= "
		 "endpoint [2001:db8::1]:51820 allowed-ips 10.0.0.0/8,::/0 "
		 "2>&1", ifname);
	run_wg(loop, &r);
	CHECK(r.status == 0);
	CHECK(dev.sets == 1 && dev.state.listen_port == 5555);

	snprintf(r.cmd, sizeof(r.cmd), "wg show %s dump 2>&1", ifname);
	run_wg(loop, &r);
	CHECK(r.status == 0);
	CHECK(strstr(r.out, "\t5555\toff\n"));
	CHECK(strstr(r.out, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\t"
			    "(none)\t[2001:db8::1]:51820\t10.0.0.0/8,::/0\t"
			    "0\t0\t0\toff\n"));

	/* The daemon's -errno becomes wg's strerror. */
	snprintf(r.cmd, sizeof(r.cmd), "wg set %s listen-port 1 2>&1", ifname);
	run_wg(loop, &r);
	CHECK(r.status != 0);
	CHECK(strstr(r.out, "Unable to modify interface: "
			    "Address already in use"));
	if (!strstr(r.out, "Address already in use"))
		fprintf(stderr, "  wg said: %s", r.out);

	uapi_server_close(srv);
	free_fake(&dev);
	loop_free(loop);
}

int main(void)
{
	RUN(test_device_keys);
	RUN(test_peer_keys);
	RUN(test_endpoints);
	RUN(test_bad_input);
	RUN(test_embedded_nul);
	RUN(test_framing);
	RUN(test_sections);
	RUN(test_format_get);
	RUN(test_roundtrip_big);
	RUN(test_server);
	RUN(test_stale_socket);
	RUN(test_wg_tool);
	return unit_done();
}

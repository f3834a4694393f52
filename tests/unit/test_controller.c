/* Controller pieces without HTTP: network arithmetic, body parsers, node
 * tokens, the failed-auth rate limiter, and the registry on a real SQLite
 * file (allocation, exhaustion and reuse, rotation, netmaps, configs). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/netmap.h"
#include "controller/registry.h"
#include "controller/request.h"
#include "controller/store.h"
#include "unit.h"

static void test_network_parse(void)
{
	struct network n;
	char v4[ADDR_TEXT_LEN], v6[ADDR_TEXT_LEN], buf[128];

	REQUIRE(!network_parse(&n, "10.50.0.0/16, fd50::/64"));
	CHECK(n.has4 && n.has6);
	CHECK(!strcmp(n.text, "10.50.0.0/16,fd50::/64"));
	CHECK(n.max_index == 65534);
	CHECK(!network_host(&n, 1, v4, v6));
	CHECK(!strcmp(v4, "10.50.0.1") && !strcmp(v6, "fd50::1"));
	CHECK(!network_host(&n, 256, v4, v6));
	CHECK(!strcmp(v4, "10.50.1.0") && !strcmp(v6, "fd50::100"));
	CHECK(network_host(&n, 0, v4, v6) == -ERANGE);
	CHECK(network_host(&n, 65535, v4, v6) == -ERANGE);
	CHECK(!network_host_cidrs(&n, 7, buf, sizeof(buf)));
	CHECK(!strcmp(buf, "10.50.0.7/32, fd50::7/128"));
	network_cidrs(&n, buf, sizeof(buf));
	CHECK(!strcmp(buf, "10.50.0.0/16, fd50::/64"));

	REQUIRE(!network_parse(&n, "192.168.7.0/30"));
	CHECK(n.max_index == 2 && !n.has6);
	REQUIRE(!network_parse(&n, "fd00:1::/64"));
	CHECK(!n.has4 && n.max_index == NETWORK_MAX_INDEX);
	REQUIRE(!network_parse(&n, "fd00:1::/120"));
	CHECK(n.max_index == 255);

	CHECK(network_parse(&n, "10.50.0.1/16") == -EINVAL);
	CHECK(network_parse(&n, "10.50.0.0/31") == -EINVAL);
	CHECK(network_parse(&n, "10.50.0.0/") == -EINVAL);
	CHECK(network_parse(&n, "10.50.0.0/16x") == -EINVAL);
	CHECK(network_parse(&n, "10.50.0.0/16,10.60.0.0/16") == -EINVAL);
	CHECK(network_parse(&n, "") == -EINVAL);
	CHECK(network_parse(&n, "fd50::1/64") == -EINVAL);
	CHECK(network_parse(&n, "10.50.0.0/16,") == -EINVAL);
}

static void test_validators(void)
{
	CHECK(id_valid("spoke-1") && id_valid("a") && id_valid("A.b_c-9"));
	CHECK(!id_valid("") && !id_valid("-x") && !id_valid("a b") &&
	      !id_valid("../x") && !id_valid("a/b"));
	CHECK(id_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	CHECK(!id_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	CHECK(endpoint_valid("hub.example.net:51820"));
	CHECK(endpoint_valid("192.0.2.1:1") && endpoint_valid("[fd00::1]:51820"));
	CHECK(!endpoint_valid("hub") && !endpoint_valid("hub:") &&
	      !endpoint_valid("hub:0") && !endpoint_valid("hub:65536") &&
	      !endpoint_valid(":80") && !endpoint_valid("[]:80") &&
	      !endpoint_valid("a b:80") && !endpoint_valid("[fd00::1:80"));
}

static void test_parse_bodies(void)
{
	static const char join[] =
		"{\"node_id\":\"s1\",\"public_key\":"
		"\"kKa91NrgbP/vhoaBXVMONtLwlycMvbxPv124cwyE0wg=\","
		"\"role\":\"hub\",\"extra\":[1]}";
	struct join_request jr;
	struct token_request tr;
	struct user_request ur;
	struct device_request dr;
	const char *err = NULL;

	CHECK(!parse_join(join, strlen(join), &jr, &err));
	CHECK(!strcmp(jr.node_id, "s1") && jr.role == ROLE_HUB &&
	      !jr.endpoint[0]);
	CHECK(parse_join("{", 1, &jr, &err) == -EINVAL && err);
	CHECK(parse_join("", 0, &jr, &err) == -EINVAL);
	CHECK(!parse_token_request("", 0, &tr, &err));
	CHECK(tr.uses == 1 && tr.role == ROLE_SPOKE &&
	      tr.expires_in == TOKEN_EXPIRES_DEFAULT);
	CHECK(parse_token_request("{\"uses\":1.5}", 12, &tr, &err) == -EINVAL);
	CHECK(parse_token_request("{\"role\":\"device\"}", 17, &tr, &err) ==
	      -EINVAL);
	CHECK(!parse_user_request("{\"client_id\":\"bob\"}", 19, &ur, &err));
	CHECK(!strcmp(ur.client_id, "bob"));
	CHECK(parse_user_request("{\"client_id\":null}", 18, &ur, &err) ==
	      -EINVAL);
	CHECK(!parse_device_request("", 0, &dr, &err) && !dr.name[0]);
	CHECK(!parse_device_request("{\"name\":null}", 13, &dr, &err));
}

static void test_query_int(void)
{
	int64_t v;

	CHECK(!parse_query_int("25", 0, 120, &v) && v == 25);
	CHECK(parse_query_int("121", 0, 120, &v) == -EINVAL);
	CHECK(parse_query_int("-1", 0, 120, &v) == -EINVAL);
	CHECK(parse_query_int("", 0, 120, &v) == -EINVAL);
	CHECK(parse_query_int(" 5", 0, 120, &v) == -EINVAL);
	CHECK(parse_query_int("5x", 0, 120, &v) == -EINVAL);
	CHECK(parse_query_int("99999999999999999999", 0, INT64_MAX, &v) ==
	      -EINVAL);
}

static void test_secrets(void)
{
	struct controller ctl = { 0 };
	char a[SECRET_TEXT_LEN + 1], b[SECRET_TEXT_LEN + 1];
	uint8_t raw[8];

	secret_generate(a, 'u');
	secret_generate(b, 'u');
	CHECK(!strncmp(a, "swu_", 4) && strlen(a) == SECRET_TEXT_LEN);
	CHECK(strcmp(a, b));
	CHECK(hex_decode(raw, 8, "0011223344556677") && raw[7] == 0x77);
	CHECK(!hex_decode(raw, 8, "001122334455667") &&
	      !hex_decode(raw, 8, "00112233445566zz"));

	random_bytes(ctl.node_secret, sizeof(ctl.node_secret));
	node_token_derive(&ctl, a, "n1", "KEY1");
	node_token_derive(&ctl, b, "n1", "KEY1");
	CHECK(!strcmp(a, b) && !strncmp(a, "swn_", 4));
	node_token_derive(&ctl, b, "n1", "KEY2");
	CHECK(strcmp(a, b));
	node_token_derive(&ctl, b, "n", "1KEY1");
	CHECK(strcmp(a, b));

	secret_hash(ctl.master_hash, "the-master-key-123");
	CHECK(master_key_matches(&ctl, "the-master-key-123"));
	CHECK(!master_key_matches(&ctl, "the-master-key-12"));
}

static void test_ratelimit(void)
{
	struct ratelimit *rl = ratelimit_new(3, 0);
	uint8_t a[4] = { 10, 0, 0, 1 }, b[4] = { 10, 0, 0, 2 };
	int i;

	REQUIRE(rl);
	for (i = 0; i < 3; ++i) {
		CHECK(ratelimit_allowed(rl, a, 4));
		ratelimit_failed(rl, a, 4);
	}
	CHECK(!ratelimit_allowed(rl, a, 4));
	CHECK(ratelimit_allowed(rl, b, 4));
	ratelimit_free(rl);

	rl = ratelimit_new(1, 1000);
	ratelimit_failed(rl, a, 4);
	usleep(5000);
	CHECK(ratelimit_allowed(rl, a, 4));
	ratelimit_free(rl);
}

/* A registry on a temporary SQLite file over a /29: six host addresses. */
struct fixture {
	struct controller ctl;
	char dir[64];
	char url[128];
};

static bool fixture_open(struct fixture *f, const char *net)
{
	char generated[SECRET_TEXT_LEN + 1];
	const char *why;
	int err;

	memset(f, 0, sizeof(*f));
	strcpy(f->dir, "/tmp/swctl-unit.XXXXXX");
	if (!mkdtemp(f->dir))
		return false;
	snprintf(f->url, sizeof(f->url), "sqlite:%s/db", f->dir);
	if (network_parse(&f->ctl.net, net))
		return false;
	strcpy(f->ctl.endpoint, "hub.example:51820");
	f->ctl.store = store_open(f->url, 1, &err);
	if (!f->ctl.store)
		return false;
	if (registry_init(&f->ctl, "unit-test-master-key", generated, &why))
		return false;
	return !generated[0];
}

static void fixture_close(struct fixture *f)
{
	char path[128];

	store_close(f->ctl.store);
	snprintf(path, sizeof(path), "%s/db", f->dir);
	unlink(path);
	strcat(path, "-wal");
	unlink(path);
	snprintf(path, sizeof(path), "%s/db-shm", f->dir);
	unlink(path);
	rmdir(f->dir);
}

static char *make_token(struct fixture *f, enum role role, int64_t uses)
{
	struct token_request tr = { role, uses, 60 };
	json_t *o;
	char *tok;

	if (registry_token_create(&f->ctl, &tr, &o))
		return NULL;
	tok = strdup(json_string_value(json_object_get(o, "token")));
	json_decref(o);
	return tok;
}

static int do_join(struct fixture *f, const char *tok, const char *id,
		   struct peer *out, char key_out[KEY_B64_LEN + 1])
{
	struct join_request jr = { .role = ROLE_NONE };
	uint8_t key[KEY_LEN];
	const char *why;
	bool changed;

	random_bytes(key, sizeof(key));
	key_to_base64(jr.public_key, key);
	if (key_out)
		strcpy(key_out, jr.public_key);
	snprintf(jr.node_id, sizeof(jr.node_id), "%s", id);
	return registry_join(&f->ctl, &jr, tok, NULL, out, &changed, &why);
}

static void test_registry_allocation(void)
{
	struct fixture f;
	struct peer p;
	char *hub_tok, *tok, id[16];
	const char *why;
	int i;

	REQUIRE(fixture_open(&f, "10.9.0.0/29"));
	tok = make_token(&f, ROLE_SPOKE, 100);
	hub_tok = make_token(&f, ROLE_HUB, 1);
	REQUIRE(tok && hub_tok);
	/* Spokes start at .2: .1 waits for the first hub. */
	CHECK(!do_join(&f, tok, "s2", &p, NULL) && p.addr_index == 2);
	CHECK(!do_join(&f, hub_tok, "hub", &p, NULL) && p.addr_index == 1);
	CHECK(p.role == ROLE_HUB);
	for (i = 3; i <= 6; ++i) {
		snprintf(id, sizeof(id), "s%d", i);
		CHECK(!do_join(&f, tok, id, &p, NULL) && p.addr_index == i);
	}
	CHECK(do_join(&f, tok, "full", &p, NULL) == -ENOSPC);
	CHECK(!registry_node_delete(&f.ctl, "s4", &why));
	CHECK(registry_node_delete(&f.ctl, "s4", &why) == -ENOENT);
	CHECK(!do_join(&f, tok, "reuse", &p, NULL) && p.addr_index == 4);
	free(tok);
	free(hub_tok);
	fixture_close(&f);
}

static void test_registry_join_rules(void)
{
	char key[KEY_B64_LEN + 1], token[SECRET_TEXT_LEN + 1];
	struct join_request jr = { .role = ROLE_NONE };
	struct fixture f;
	struct peer p, q;
	const char *why;
	bool changed;
	char *tok;

	REQUIRE(fixture_open(&f, "10.9.0.0/24"));
	tok = make_token(&f, ROLE_SPOKE, 2);
	REQUIRE(tok);
	REQUIRE(!do_join(&f, tok, "a", &p, key));
	/* Identical re-joins neither change anything nor use the token. */
	strcpy(jr.node_id, "a");
	strcpy(jr.public_key, key);
	CHECK(!registry_join(&f.ctl, &jr, tok, NULL, &q, &changed, &why));
	CHECK(!changed && q.addr_index == p.addr_index);
	CHECK(!registry_join(&f.ctl, &jr, tok, NULL, &q, &changed, &why));
	CHECK(!do_join(&f, tok, "b", &q, NULL));
	CHECK(do_join(&f, tok, "c", &q, NULL) == -EACCES);
	/* Key rotation with the node token keeps the address. */
	node_token_derive(&f.ctl, token, "a", key);
	CHECK(!registry_node_by_token(&f.ctl, token, &q) &&
	      !strcmp(q.id, "a"));
	CHECK(do_join(&f, NULL, "zzz", &q, NULL) == -EPERM);
	CHECK(!do_join(&f, tok, "a", &q, key));
	CHECK(q.addr_index == p.addr_index && strcmp(q.public_key, jr.public_key));
	CHECK(registry_node_by_token(&f.ctl, token, &q) == -EPERM);
	CHECK(do_join(&f, "swj_nope", "d", &q, NULL) == -EPERM);
	free(tok);
	fixture_close(&f);
}

static void test_netmap_and_config(void)
{
	struct fixture f;
	struct peer hub, s1, s2, dev;
	char b64[KEY_B64_LEN + 1];
	uint8_t key[KEY_LEN];
	struct netmap nm;
	json_t *user;
	char *tok, *htok, *conf;
	const char *why;

	REQUIRE(fixture_open(&f, "10.9.0.0/24,fd09::/64"));
	tok = make_token(&f, ROLE_SPOKE, 5);
	htok = make_token(&f, ROLE_HUB, 1);
	REQUIRE(tok && htok);
	REQUIRE(!do_join(&f, htok, "hub", &hub, NULL));
	REQUIRE(!do_join(&f, tok, "s1", &s1, NULL));
	REQUIRE(!do_join(&f, tok, "s2", &s2, NULL));
	REQUIRE(!registry_user_create(&f.ctl, "alice", &user, &why));
	json_decref(user);
	CHECK(registry_device_create(&f.ctl, "alice", "phone", s1.public_key,
				     &dev, &why) == -EEXIST);
	random_bytes(key, sizeof(key));
	key_to_base64(b64, key);
	CHECK(!registry_device_create(&f.ctl, "alice", "phone", b64, &dev,
				      &why));
	CHECK(dev.addr_index == 4 && dev.role == ROLE_DEVICE);
	CHECK(registry_device_create(&f.ctl, "bob", "", b64, &dev, &why) ==
	      -ENOENT);

	REQUIRE(!netmap_load(&f.ctl, &hub, &nm));
	CHECK(nm.n == 3 && nm.entries[2].peer->role == ROLE_DEVICE);
	CHECK(!strcmp(nm.entries[0].peer->id, "s1"));
	CHECK(!strcmp(nm.entries[0].allowed_ips, "10.9.0.2/32, fd09::2/128"));
	CHECK(nm.entries[0].keepalive == 0);
	conf = wgconf_render(&f.ctl, &hub, &nm, NULL);
	REQUIRE(conf);
	CHECK(strstr(conf, "Address = 10.9.0.1/24, fd09::1/64\n"));
	CHECK(strstr(conf, "ListenPort = 51820\n"));
	CHECK(strstr(conf, "# PrivateKey"));
	free(conf);
	netmap_free(&nm);

	REQUIRE(!netmap_load(&f.ctl, &s1, &nm));
	CHECK(nm.n == 1 && nm.entries[0].peer->role == ROLE_HUB);
	CHECK(!strcmp(nm.entries[0].allowed_ips, "10.9.0.0/24, fd09::/64"));
	CHECK(!strcmp(nm.entries[0].endpoint, "hub.example:51820"));
	conf = wgconf_render(&f.ctl, &s1, &nm, "PRIVATE");
	REQUIRE(conf);
	CHECK(strstr(conf, "PrivateKey = PRIVATE\n"));
	CHECK(strstr(conf, "PersistentKeepalive = 25\n"));
	CHECK(!strstr(conf, "ListenPort"));
	free(conf);
	netmap_free(&nm);
	free(tok);
	free(htok);
	fixture_close(&f);
}

static void test_qr(void)
{
	size_t len = 0;
	char *s = qr_svg("[Interface]\nPrivateKey = x\n", &len);

	REQUIRE(s);
	CHECK(len == strlen(s) && strstr(s, "<svg") && strstr(s, "</svg>"));
	free(s);
	s = qr_ansi("hello", &len);
	REQUIRE(s);
	CHECK(strstr(s, "\033[40m  ") && strstr(s, "\033[0m\n"));
	free(s);
}

int main(void)
{
	RUN(test_network_parse);
	RUN(test_validators);
	RUN(test_parse_bodies);
	RUN(test_query_int);
	RUN(test_secrets);
	RUN(test_ratelimit);
	RUN(test_registry_allocation);
	RUN(test_registry_join_rules);
	RUN(test_netmap_and_config);
	RUN(test_qr);
	return unit_done();
}

/* MAC1, MAC2 and cookie replies (cookie.c) in isolation, with a fake clock. */
#include <arpa/inet.h>
#include <string.h>

#include "unit.h"
#include "wg/cookie.h"

static uint8_t responder_pub[32];
static struct cookie_checker checker;
static struct cookie cookie; /* the initiator's view of the responder */
static struct sockaddr_in src;

static void setup(void)
{
	uint8_t priv[32];

	curve25519_generate_secret(priv);
	CHECK(curve25519_public(responder_pub, priv));
	memset(&checker, 0, sizeof(checker));
	cookie_checker_precompute_device_keys(&checker, responder_pub);
	cookie_init(&cookie, responder_pub);
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_port = htons(4242);
	inet_pton(AF_INET, "198.51.100.7", &src.sin_addr);
}

static void make_msg(struct message_handshake_initiation *m, uint64_t now)
{
	random_bytes(m, sizeof(*m));
	m->header.type = 1;
	cookie_add_mac_to_packet(m, sizeof(*m), &cookie, now);
}

static void test_mac1(void)
{
	struct message_handshake_initiation m;
	uint8_t other_pub[32], other_priv[32];
	struct cookie wrong;

	setup();
	make_msg(&m, NS_PER_SEC);
	CHECK(crypto_is_zero(m.macs.mac2, COOKIE_LEN));
	CHECK(cookie_validate_packet(&checker, &m, sizeof(m),
				     (struct sockaddr *)&src, false,
				     NS_PER_SEC) == VALID_MAC_BUT_NO_COOKIE);
	m.encrypted_static[3] ^= 1;
	CHECK(cookie_validate_packet(&checker, &m, sizeof(m),
				     (struct sockaddr *)&src, false,
				     NS_PER_SEC) == INVALID_MAC);
	/* mac1 keyed for a different responder */
	curve25519_generate_secret(other_priv);
	CHECK(curve25519_public(other_pub, other_priv));
	cookie_init(&wrong, other_pub);
	random_bytes(&m, sizeof(m));
	cookie_add_mac_to_packet(&m, sizeof(m), &wrong, NS_PER_SEC);
	CHECK(cookie_validate_packet(&checker, &m, sizeof(m),
				     (struct sockaddr *)&src, false,
				     NS_PER_SEC) == INVALID_MAC);
}

static void test_cookie_round_trip(void)
{
	struct message_handshake_initiation m;
	struct message_handshake_cookie reply;
	uint64_t now = 10 * NS_PER_SEC;
	struct sockaddr_in other;

	setup();
	make_msg(&m, now);
	/* under load without mac2: the responder answers with a cookie */
	CHECK(cookie_validate_packet(&checker, &m, sizeof(m),
				     (struct sockaddr *)&src, true,
				     now) == VALID_MAC_BUT_NO_COOKIE);
	cookie_message_create(&reply, &checker, &m, sizeof(m), m.sender_index,
			      (struct sockaddr *)&src, now);
	CHECK(reply.header.type == MESSAGE_HANDSHAKE_COOKIE);
	CHECK(reply.receiver_index == m.sender_index);
	CHECK(cookie_message_consume(&reply, &cookie, now));
	CHECK(cookie.is_valid);
	/* a reply is accepted once: the mac1 it answers is spent */
	CHECK(!cookie_message_consume(&reply, &cookie, now));

	/* the retry carries mac2 and passes from the same source... */
	make_msg(&m, now);
	CHECK(!crypto_is_zero(m.macs.mac2, COOKIE_LEN));
	CHECK(cookie_validate_packet(&checker, &m, sizeof(m),
				     (struct sockaddr *)&src, true,
				     now) == VALID_MAC_WITH_COOKIE);
	/* ...but not from another address or port */
	other = src;
	other.sin_port = htons(4243);
	CHECK(cookie_validate_packet(&checker, &m, sizeof(m),
				     (struct sockaddr *)&other, true,
				     now) == VALID_MAC_BUT_NO_COOKIE);
}

static void test_cookie_reply_tampered(void)
{
	struct message_handshake_initiation m;
	struct message_handshake_cookie reply;

	setup();
	make_msg(&m, NS_PER_SEC);
	cookie_message_create(&reply, &checker, &m, sizeof(m), m.sender_index,
			      (struct sockaddr *)&src, NS_PER_SEC);
	reply.encrypted_cookie[0] ^= 1;
	CHECK(!cookie_message_consume(&reply, &cookie, NS_PER_SEC));
	CHECK(!cookie.is_valid);
	/* a reply bound to a mac1 we never sent */
	make_msg(&m, NS_PER_SEC);
	m.macs.mac1[0] ^= 1;
	cookie_message_create(&reply, &checker, &m, sizeof(m), m.sender_index,
			      (struct sockaddr *)&src, NS_PER_SEC);
	CHECK(!cookie_message_consume(&reply, &cookie, NS_PER_SEC));
}

static void test_cookie_expiry(void)
{
	struct message_handshake_initiation m;
	struct message_handshake_cookie reply;
	uint64_t now = 10 * NS_PER_SEC;

	setup();
	make_msg(&m, now);
	cookie_message_create(&reply, &checker, &m, sizeof(m), m.sender_index,
			      (struct sockaddr *)&src, now);
	CHECK(cookie_message_consume(&reply, &cookie, now));
	/* the initiator stops using it before the responder's secret rotates */
	now += (COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) * NS_PER_SEC;
	make_msg(&m, now);
	CHECK(crypto_is_zero(m.macs.mac2, COOKIE_LEN));
	/* and after two minutes the responder's secret has rotated */
	make_msg(&m, 10 * NS_PER_SEC);
	now = 10 * NS_PER_SEC + (COOKIE_SECRET_MAX_AGE + 1) * NS_PER_SEC;
	CHECK(cookie_validate_packet(&checker, &m, sizeof(m),
				     (struct sockaddr *)&src, true,
				     now) == VALID_MAC_BUT_NO_COOKIE);
}

int main(void)
{
	RUN(test_mac1);
	RUN(test_cookie_round_trip);
	RUN(test_cookie_reply_tampered);
	RUN(test_cookie_expiry);
	return unit_done();
}

/* MAC1/MAC2 computation and cookie replies (whitepaper 5.4.4, 5.4.7). */
#include "wg/cookie.h"

#include <endian.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t mac1_key_label[8] = "mac1----";
static const uint8_t cookie_key_label[8] = "cookie--";

static void precompute_key(uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			   const uint8_t pubkey[NOISE_PUBLIC_KEY_LEN],
			   const uint8_t label[8])
{
	blake2s_hash(key, label, 8, pubkey, NOISE_PUBLIC_KEY_LEN);
}

void cookie_checker_precompute_device_keys(struct cookie_checker *checker,
					   const uint8_t our_public[32])
{
	precompute_key(checker->cookie_encryption_key, our_public,
		       cookie_key_label);
	precompute_key(checker->message_mac1_key, our_public, mac1_key_label);
}

void cookie_checker_clear(struct cookie_checker *checker)
{
	memzero(checker, sizeof(*checker));
}

void cookie_init(struct cookie *cookie, const uint8_t peer_public[32])
{
	memset(cookie, 0, sizeof(*cookie));
	precompute_key(cookie->cookie_decryption_key, peer_public,
		       cookie_key_label);
	precompute_key(cookie->message_mac1_key, peer_public, mac1_key_label);
}

/* mac1 covers the message up to mac1; mac2 up to mac2. */
static void compute_mac1(uint8_t mac1[COOKIE_LEN], const void *msg,
			 size_t len, const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	blake2s_mac(mac1, COOKIE_LEN, key, NOISE_SYMMETRIC_KEY_LEN, msg,
		    len - sizeof(struct message_macs));
}

static void compute_mac2(uint8_t mac2[COOKIE_LEN], const void *msg,
			 size_t len, const uint8_t cookie[COOKIE_LEN])
{
	blake2s_mac(mac2, COOKIE_LEN, cookie, COOKIE_LEN, msg,
		    len - sizeof(struct message_macs) / 2);
}

static bool expired(uint64_t birthdate, uint64_t now, uint64_t seconds)
{
	return !birthdate || birthdate + seconds * NS_PER_SEC <= now;
}

/* cookie = MAC(R, source address and port), R rotated every two minutes. */
static void make_cookie(uint8_t cookie[COOKIE_LEN],
			struct cookie_checker *checker,
			const struct sockaddr *src, uint64_t now)
{
	uint8_t buf[18];
	size_t n = 0;

	if (expired(checker->secret_birthdate, now, COOKIE_SECRET_MAX_AGE)) {
		random_bytes(checker->secret, NOISE_HASH_LEN);
		checker->secret_birthdate = now;
	}
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const void *)src;

		memcpy(buf, &in4->sin_addr, 4);
		memcpy(buf + 4, &in4->sin_port, 2);
		n = 6;
	} else if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)src;

		memcpy(buf, &in6->sin6_addr, 16);
		memcpy(buf + 16, &in6->sin6_port, 2);
		n = 18;
	}
	blake2s_mac(cookie, COOKIE_LEN, checker->secret, NOISE_HASH_LEN, buf,
		    n);
}

enum cookie_mac_state cookie_validate_packet(struct cookie_checker *checker,
					     const void *msg, size_t len,
					     const struct sockaddr *src,
					     bool check_cookie, uint64_t now)
{
	const struct message_macs *macs =
		(const void *)((const uint8_t *)msg + len - sizeof(*macs));
	uint8_t computed[COOKIE_LEN], cookie[COOKIE_LEN];
	enum cookie_mac_state ret = INVALID_MAC;

	compute_mac1(computed, msg, len, checker->message_mac1_key);
	if (!crypto_equal(computed, macs->mac1, COOKIE_LEN))
		goto out;
	ret = VALID_MAC_BUT_NO_COOKIE;
	if (!check_cookie)
		goto out;
	make_cookie(cookie, checker, src, now);
	compute_mac2(computed, msg, len, cookie);
	if (!crypto_equal(computed, macs->mac2, COOKIE_LEN))
		goto out;
	ret = VALID_MAC_WITH_COOKIE;
out:
	memzero(cookie, sizeof(cookie));
	return ret;
}

void cookie_add_mac_to_packet(void *msg, size_t len, struct cookie *cookie,
			      uint64_t now)
{
	struct message_macs *macs =
		(void *)((uint8_t *)msg + len - sizeof(*macs));

	compute_mac1(macs->mac1, msg, len, cookie->message_mac1_key);
	memcpy(cookie->last_mac1_sent, macs->mac1, COOKIE_LEN);
	cookie->have_sent_mac1 = true;

	if (cookie->is_valid &&
	    !expired(cookie->birthdate, now,
		     COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY))
		compute_mac2(macs->mac2, msg, len, cookie->cookie);
	else
		memset(macs->mac2, 0, COOKIE_LEN);
}

void cookie_message_create(struct message_handshake_cookie *dst,
			   struct cookie_checker *checker, const void *msg,
			   size_t len, uint32_t index,
			   const struct sockaddr *src, uint64_t now)
{
	const struct message_macs *macs =
		(const void *)((const uint8_t *)msg + len - sizeof(*macs));
	uint8_t cookie[COOKIE_LEN];

	dst->header.type = htole32(MESSAGE_HANDSHAKE_COOKIE);
	dst->receiver_index = index;
	random_bytes(dst->nonce, COOKIE_NONCE_LEN);
	make_cookie(cookie, checker, src, now);
	xaead_encrypt(dst->encrypted_cookie, cookie, COOKIE_LEN, macs->mac1,
		      COOKIE_LEN, dst->nonce, checker->cookie_encryption_key);
	memzero(cookie, sizeof(cookie));
}

bool cookie_message_consume(const struct message_handshake_cookie *src,
			    struct cookie *cookie, uint64_t now)
{
	uint8_t value[COOKIE_LEN];

	if (!cookie->have_sent_mac1)
		return false;
	if (!xaead_decrypt(value, src->encrypted_cookie,
			   sizeof(src->encrypted_cookie),
			   cookie->last_mac1_sent, COOKIE_LEN, src->nonce,
			   cookie->cookie_decryption_key))
		return false;
	memcpy(cookie->cookie, value, COOKIE_LEN);
	cookie->birthdate = now;
	cookie->is_valid = true;
	cookie->have_sent_mac1 = false;
	memzero(value, sizeof(value));
	return true;
}

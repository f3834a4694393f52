/* MAC1/MAC2 and cookie replies (whitepaper 5.4.4, 5.4.7): DoS mitigation
 * that binds handshakes to a source address when the device is under load. */
#ifndef SPOKEWIRE_WG_COOKIE_H
#define SPOKEWIRE_WG_COOKIE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "wg/messages.h"

struct cookie_checker {
	uint8_t secret[NOISE_HASH_LEN];
	uint64_t secret_birthdate; /* monotonic ns; 0 = never */
	uint8_t cookie_encryption_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
};

/* Per peer: the cookie it last sent us, keys derived from its public key. */
struct cookie {
	uint64_t birthdate; /* monotonic ns */
	bool is_valid;
	uint8_t cookie[COOKIE_LEN];
	bool have_sent_mac1;
	uint8_t last_mac1_sent[COOKIE_LEN];
	uint8_t cookie_decryption_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
};

enum cookie_mac_state {
	INVALID_MAC,
	VALID_MAC_BUT_NO_COOKIE,
	VALID_MAC_WITH_COOKIE,
};

/* Keys for messages addressed to us (our public key) or to a peer. */
void cookie_checker_precompute_device_keys(struct cookie_checker *checker,
					   const uint8_t our_public[32]);
void cookie_checker_clear(struct cookie_checker *checker);
void cookie_init(struct cookie *cookie, const uint8_t peer_public[32]);

/* msg is a handshake message of len bytes ending in struct message_macs. */
enum cookie_mac_state cookie_validate_packet(struct cookie_checker *checker,
					     const void *msg, size_t len,
					     const struct sockaddr *src,
					     bool check_cookie, uint64_t now);
void cookie_add_mac_to_packet(void *msg, size_t len, struct cookie *cookie,
			      uint64_t now);
/* A cookie reply to the handshake message msg (whose sender index is index)
 * received from src. */
void cookie_message_create(struct message_handshake_cookie *dst,
			   struct cookie_checker *checker, const void *msg,
			   size_t len, uint32_t index,
			   const struct sockaddr *src, uint64_t now);
bool __must_check cookie_message_consume(
	const struct message_handshake_cookie *src, struct cookie *cookie,
	uint64_t now);

#endif

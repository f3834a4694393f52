/* WireGuard wire formats and protocol constants (whitepaper sections 5 and 6).
 * No other file holds a protocol number. */
#ifndef SPOKEWIRE_WG_MESSAGES_H
#define SPOKEWIRE_WG_MESSAGES_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"

#define NS_PER_SEC 1000000000ULL
#define NS_PER_MS 1000000ULL

enum noise_lengths {
	NOISE_PUBLIC_KEY_LEN = 32,
	NOISE_SYMMETRIC_KEY_LEN = 32,
	NOISE_TIMESTAMP_LEN = 12,
	NOISE_AUTHTAG_LEN = 16,
	NOISE_HASH_LEN = 32,
};

#define noise_encrypted_len(plain_len) ((plain_len) + NOISE_AUTHTAG_LEN)

enum cookie_values {
	COOKIE_SECRET_MAX_AGE = 2 * 60,
	COOKIE_SECRET_LATENCY = 5,
	COOKIE_NONCE_LEN = 24,
	COOKIE_LEN = 16,
};

/* Seconds, except where the name says otherwise. */
enum counter_values {
	COUNTER_BITS_TOTAL = 8192,
	COUNTER_REDUNDANT_BITS = 64,
	COUNTER_WINDOW_SIZE = COUNTER_BITS_TOTAL - COUNTER_REDUNDANT_BITS,
};

#define REKEY_AFTER_MESSAGES (1ULL << 60)
#define REJECT_AFTER_MESSAGES (UINT64_MAX - COUNTER_WINDOW_SIZE - 1)

enum limits {
	REKEY_TIMEOUT = 5,
	REKEY_TIMEOUT_JITTER_MAX_MS = 334,
	REKEY_AFTER_TIME = 120,
	REKEY_ATTEMPT_TIME = 90,
	REJECT_AFTER_TIME = 180,
	INITIATIONS_PER_SECOND = 50,
	MAX_PEERS_PER_DEVICE = 1U << 20,
	KEEPALIVE_TIMEOUT = 10,
	MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT,
	MAX_STAGED_PACKETS = 128,
	MAX_QUEUED_INCOMING_HANDSHAKES = 4096,
	/* Handshake messages per second above which we are "under load" and
	 * demand cookies (wireguard-go uses queue depth; we have no queue). */
	UNDER_LOAD_HANDSHAKES_PER_SEC = 512,
	UNDER_LOAD_AFTER_TIME = 1,
};

enum message_type {
	MESSAGE_INVALID = 0,
	MESSAGE_HANDSHAKE_INITIATION = 1,
	MESSAGE_HANDSHAKE_RESPONSE = 2,
	MESSAGE_HANDSHAKE_COOKIE = 3,
	MESSAGE_DATA = 4,
};

/* All fields little-endian on the wire; type is one byte plus three zeros. */
struct message_header {
	uint32_t type;
} __attribute__((packed));

/* The type of the message at p (at least a header's length). */
static inline uint32_t message_type(const void *p)
{
	uint32_t type;

	memcpy(&type, p, sizeof(type));
	return le32toh(type);
}

struct message_macs {
	uint8_t mac1[COOKIE_LEN];
	uint8_t mac2[COOKIE_LEN];
} __attribute__((packed));

struct message_handshake_initiation {
	struct message_header header;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_static[noise_encrypted_len(NOISE_PUBLIC_KEY_LEN)];
	uint8_t encrypted_timestamp[noise_encrypted_len(NOISE_TIMESTAMP_LEN)];
	struct message_macs macs;
} __attribute__((packed));

struct message_handshake_response {
	struct message_header header;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_nothing[noise_encrypted_len(0)];
	struct message_macs macs;
} __attribute__((packed));

struct message_handshake_cookie {
	struct message_header header;
	uint32_t receiver_index;
	uint8_t nonce[COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[noise_encrypted_len(COOKIE_LEN)];
} __attribute__((packed));

struct message_data {
	struct message_header header;
	uint32_t key_idx;
	uint64_t counter;
	uint8_t encrypted_data[];
} __attribute__((packed));

_Static_assert(sizeof(struct message_handshake_initiation) == 148, "init");
_Static_assert(sizeof(struct message_handshake_response) == 92, "resp");
_Static_assert(sizeof(struct message_handshake_cookie) == 64, "cookie");
_Static_assert(sizeof(struct message_data) == 16, "data");

#define message_data_len(plain_len) \
	(noise_encrypted_len(plain_len) + sizeof(struct message_data))

enum message_alignments {
	MESSAGE_PADDING_MULTIPLE = 16,
	MESSAGE_MINIMUM_LENGTH = message_data_len(0),
};

/* Outer headers WireGuard's overhead is computed against. */
enum {
	DEFAULT_MTU = 1420,
	MAX_INNER_PACKET = 65535,
	WG_OVERHEAD = message_data_len(0), /* 32 */
};

#endif

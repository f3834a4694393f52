/* Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (whitepaper 5.4):
 * handshake state, session keypairs and their rotation. No I/O; times come
 * from the device (wg->now, wg->now_real). */
#ifndef SPOKEWIRE_WG_NOISE_H
#define SPOKEWIRE_WG_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "wg/index.h"
#include "wg/diag.h"
#include "wg/messages.h"
#include "wg/replay.h"

struct peer;
struct wg_device;

struct noise_keypair {
	struct index_entry entry;
	uint8_t send_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t recv_key[NOISE_SYMMETRIC_KEY_LEN];
	uint64_t send_counter; /* next nonce */
	struct replay_counter recv_counter;
	uint64_t birthdate; /* monotonic ns */
	uint32_t remote_index;
	bool is_initiator;
	bool valid; /* cleared when expired early */
};

struct noise_keypairs {
	struct noise_keypair *current, *previous, *next;
};

struct noise_static_identity {
	uint8_t static_public[NOISE_PUBLIC_KEY_LEN];
	uint8_t static_private[NOISE_PUBLIC_KEY_LEN];
	bool has_identity;
};

enum noise_handshake_state {
	HANDSHAKE_ZEROED,
	HANDSHAKE_CREATED_INITIATION,
	HANDSHAKE_CONSUMED_INITIATION,
	HANDSHAKE_CREATED_RESPONSE,
	HANDSHAKE_CONSUMED_RESPONSE,
};

struct noise_handshake {
	struct index_entry entry;
	enum noise_handshake_state state;
	uint64_t last_initiation_consumption; /* monotonic ns */
	uint8_t ephemeral_private[NOISE_PUBLIC_KEY_LEN];
	uint8_t remote_static[NOISE_PUBLIC_KEY_LEN];
	uint8_t remote_ephemeral[NOISE_PUBLIC_KEY_LEN];
	/* DH(S_priv, S_pub_peer), zero if the peer's key is low order. */
	uint8_t precomputed_static_static[NOISE_PUBLIC_KEY_LEN];
	uint8_t preshared_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t chaining_key[NOISE_HASH_LEN];
	uint8_t latest_timestamp[NOISE_TIMESTAMP_LEN];
	uint32_t remote_index;
};

void noise_init(void);
/* Tests only: when set, supplies ephemeral private keys instead of the RNG,
 * so a handshake can be checked against a fixed vector. */
extern void (*noise_test_ephemeral)(uint8_t out[NOISE_PUBLIC_KEY_LEN]);
void noise_handshake_init(struct noise_handshake *hs, struct peer *peer,
			  const uint8_t peer_public[NOISE_PUBLIC_KEY_LEN],
			  const uint8_t psk[NOISE_SYMMETRIC_KEY_LEN]);
/* Recomputes DH(S_priv, S_pub_peer) after the device key changed. */
void noise_precompute_static_static(struct peer *peer);
void noise_handshake_clear(struct peer *peer);
void noise_keypairs_clear(struct peer *peer);
/* Marks current and next unusable for sending (e.g. after a key change). */
void noise_expire_current_peer_keypairs(struct peer *peer);

bool __must_check noise_handshake_create_initiation(
	struct message_handshake_initiation *dst, struct peer *peer);
/* Returns the peer the initiation authenticates as (borrowed), or NULL.
 * A refused initiation says why (see diag.h) through *why when it is not
 * NULL: WG_DIAG_UNKNOWN_PEER with the sender's static key in stranger,
 * WG_DIAG_STALE_TIMESTAMP with the peer in *peer_out; WG_DIAG_COUNT for a
 * message that did not decrypt. */
struct peer *noise_handshake_consume_initiation(
	const struct message_handshake_initiation *src, struct wg_device *wg,
	enum wg_diag *why, uint8_t stranger[NOISE_PUBLIC_KEY_LEN],
	struct peer **peer_out);
bool __must_check noise_handshake_create_response(
	struct message_handshake_response *dst, struct peer *peer);
struct peer *noise_handshake_consume_response(
	const struct message_handshake_response *src, struct wg_device *wg);
/* Derives transport keys from a finished handshake and installs them. */
bool __must_check noise_handshake_begin_session(struct peer *peer);
/* Called for every authenticated data packet: confirms a responder's "next"
 * keypair. True if it rotated. */
bool noise_received_with_keypair(struct peer *peer,
				 struct noise_keypair *keypair);

/* Symmetric-state steps, exposed for the known-answer test. */
void noise_mix_hash(uint8_t hash[NOISE_HASH_LEN], const void *src, size_t len);
void noise_mix_psk(uint8_t chaining_key[NOISE_HASH_LEN],
		   uint8_t hash[NOISE_HASH_LEN],
		   uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
		   const uint8_t psk[NOISE_SYMMETRIC_KEY_LEN]);
bool __must_check noise_mix_dh(uint8_t chaining_key[NOISE_HASH_LEN],
			       uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			       const uint8_t priv[NOISE_PUBLIC_KEY_LEN],
			       const uint8_t pub[NOISE_PUBLIC_KEY_LEN]);
void noise_encrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			    uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			    uint8_t hash[NOISE_HASH_LEN]);
bool __must_check noise_decrypt_and_hash(uint8_t *dst, const uint8_t *src,
					 size_t len,
					 uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
					 uint8_t hash[NOISE_HASH_LEN]);
void noise_tai64n_now(uint8_t out[NOISE_TIMESTAMP_LEN], uint64_t real_ns);

#endif

/* Noise_IKpsk2 handshake and keypair rotation (whitepaper 5.4, the Linux
 * driver's noise.c). Steps are labelled with their Noise tokens. */
#include "wg/noise.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "wg/peer.h"
#include "wg/wg.h"

static const uint8_t handshake_name[37] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const uint8_t identifier_name[34] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
static uint8_t handshake_init_hash[NOISE_HASH_LEN];
static uint8_t handshake_init_chaining_key[NOISE_HASH_LEN];
void (*noise_test_ephemeral)(uint8_t out[NOISE_PUBLIC_KEY_LEN]);

static void generate_ephemeral(uint8_t out[NOISE_PUBLIC_KEY_LEN])
{
	if (noise_test_ephemeral)
		noise_test_ephemeral(out);
	else
		curve25519_generate_secret(out);
}

void noise_init(void)
{
	blake2s_hash(handshake_init_chaining_key, handshake_name,
		     sizeof(handshake_name), NULL, 0);
	blake2s_hash(handshake_init_hash, handshake_init_chaining_key,
		     NOISE_HASH_LEN, identifier_name, sizeof(identifier_name));
}

void noise_mix_hash(uint8_t hash[NOISE_HASH_LEN], const void *src, size_t len)
{
	blake2s_hash(hash, hash, NOISE_HASH_LEN, src, len);
}

void noise_mix_psk(uint8_t chaining_key[NOISE_HASH_LEN],
		   uint8_t hash[NOISE_HASH_LEN],
		   uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
		   const uint8_t psk[NOISE_SYMMETRIC_KEY_LEN])
{
	uint8_t temp_hash[NOISE_HASH_LEN];

	kdf(chaining_key, temp_hash, key, chaining_key, psk,
	    NOISE_SYMMETRIC_KEY_LEN);
	noise_mix_hash(hash, temp_hash, NOISE_HASH_LEN);
	memzero(temp_hash, sizeof(temp_hash));
}

bool noise_mix_dh(uint8_t chaining_key[NOISE_HASH_LEN],
		  uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
		  const uint8_t priv[NOISE_PUBLIC_KEY_LEN],
		  const uint8_t pub[NOISE_PUBLIC_KEY_LEN])
{
	uint8_t dh[NOISE_PUBLIC_KEY_LEN];

	if (!curve25519_dh(dh, priv, pub))
		return false;
	kdf(chaining_key, key, NULL, chaining_key, dh, NOISE_PUBLIC_KEY_LEN);
	memzero(dh, sizeof(dh));
	return true;
}

static bool __must_check mix_precomputed_dh(uint8_t chaining_key[NOISE_HASH_LEN],
					    uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
					    const uint8_t precomputed[NOISE_PUBLIC_KEY_LEN])
{
	if (crypto_is_zero(precomputed, NOISE_PUBLIC_KEY_LEN))
		return false;
	kdf(chaining_key, key, NULL, chaining_key, precomputed,
	    NOISE_PUBLIC_KEY_LEN);
	return true;
}

void noise_encrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			    uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			    uint8_t hash[NOISE_HASH_LEN])
{
	aead_encrypt(dst, src, len, hash, NOISE_HASH_LEN, 0, key);
	noise_mix_hash(hash, dst, noise_encrypted_len(len));
}

bool noise_decrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			    uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			    uint8_t hash[NOISE_HASH_LEN])
{
	if (!aead_decrypt(dst, src, len, hash, NOISE_HASH_LEN, 0, key))
		return false;
	noise_mix_hash(hash, src, len);
	return true;
}

static void handshake_init(uint8_t chaining_key[NOISE_HASH_LEN],
			   uint8_t hash[NOISE_HASH_LEN],
			   const uint8_t remote_static[NOISE_PUBLIC_KEY_LEN])
{
	memcpy(hash, handshake_init_hash, NOISE_HASH_LEN);
	memcpy(chaining_key, handshake_init_chaining_key, NOISE_HASH_LEN);
	noise_mix_hash(hash, remote_static, NOISE_PUBLIC_KEY_LEN);
}

static void message_ephemeral(uint8_t dst[NOISE_PUBLIC_KEY_LEN],
			      const uint8_t src[NOISE_PUBLIC_KEY_LEN],
			      uint8_t chaining_key[NOISE_HASH_LEN],
			      uint8_t hash[NOISE_HASH_LEN])
{
	if (dst != src)
		memcpy(dst, src, NOISE_PUBLIC_KEY_LEN);
	noise_mix_hash(hash, src, NOISE_PUBLIC_KEY_LEN);
	kdf(chaining_key, NULL, NULL, chaining_key, src, NOISE_PUBLIC_KEY_LEN);
}

/* The "e" token of a message we write: a fresh ephemeral, mixed in. */
static bool __must_check send_ephemeral(uint8_t dst[NOISE_PUBLIC_KEY_LEN],
					struct noise_handshake *hs)
{
	generate_ephemeral(hs->ephemeral_private);
	if (!curve25519_public(dst, hs->ephemeral_private))
		return false;
	message_ephemeral(dst, dst, hs->chaining_key, hs->hash);
	return true;
}

void noise_tai64n_now(uint8_t out[NOISE_TIMESTAMP_LEN], uint64_t real_ns)
{
	uint64_t sec = real_ns / NS_PER_SEC;
	uint32_t nsec = (uint32_t)(real_ns % NS_PER_SEC);

	/* Round down so the timestamp does not leak a fine-grained clock;
	 * still fine enough for INITIATIONS_PER_SECOND. */
	nsec &= ~((1u << 24) - 1);
	sec = htobe64(0x400000000000000aULL + sec);
	nsec = htobe32(nsec);
	memcpy(out, &sec, 8);
	memcpy(out + 8, &nsec, 4);
}

void noise_handshake_init(struct noise_handshake *hs, struct peer *peer,
			  const uint8_t peer_public[NOISE_PUBLIC_KEY_LEN],
			  const uint8_t psk[NOISE_SYMMETRIC_KEY_LEN])
{
	memset(hs, 0, sizeof(*hs));
	hs->entry.type = INDEX_HANDSHAKE;
	hs->entry.peer = peer;
	memcpy(hs->remote_static, peer_public, NOISE_PUBLIC_KEY_LEN);
	if (psk)
		memcpy(hs->preshared_key, psk, NOISE_SYMMETRIC_KEY_LEN);
	noise_precompute_static_static(peer);
}

void noise_precompute_static_static(struct peer *peer)
{
	struct noise_handshake *hs = &peer->handshake;
	const struct noise_static_identity *id = &peer->wg->identity;

	if (!id->has_identity ||
	    !curve25519_dh(hs->precomputed_static_static, id->static_private,
			   hs->remote_static))
		memzero(hs->precomputed_static_static, NOISE_PUBLIC_KEY_LEN);
}

static void handshake_zero(struct noise_handshake *hs)
{
	memzero(hs->ephemeral_private, NOISE_PUBLIC_KEY_LEN);
	memzero(hs->remote_ephemeral, NOISE_PUBLIC_KEY_LEN);
	memzero(hs->hash, NOISE_HASH_LEN);
	memzero(hs->chaining_key, NOISE_HASH_LEN);
	hs->remote_index = 0;
	hs->state = HANDSHAKE_ZEROED;
}

void noise_handshake_clear(struct peer *peer)
{
	index_remove(&peer->wg->index, &peer->handshake.entry);
	handshake_zero(&peer->handshake);
}

static void keypair_free(struct wg_device *wg, struct noise_keypair *kp)
{
	if (!kp)
		return;
	index_remove(&wg->index, &kp->entry);
	memzero(kp, sizeof(*kp));
	free(kp);
}

void noise_keypairs_clear(struct peer *peer)
{
	struct noise_keypairs *kps = &peer->keypairs;

	keypair_free(peer->wg, kps->previous);
	keypair_free(peer->wg, kps->current);
	keypair_free(peer->wg, kps->next);
	kps->previous = kps->current = kps->next = NULL;
}

void noise_expire_current_peer_keypairs(struct peer *peer)
{
	noise_handshake_clear(peer);
	peer->last_sent_handshake = 0;
	if (peer->keypairs.next)
		peer->keypairs.next->valid = false;
	if (peer->keypairs.current)
		peer->keypairs.current->valid = false;
}

bool noise_handshake_create_initiation(struct message_handshake_initiation *dst,
				       struct peer *peer)
{
	struct noise_handshake *hs = &peer->handshake;
	struct wg_device *wg = peer->wg;
	uint8_t timestamp[NOISE_TIMESTAMP_LEN];
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	bool ret = false;

	if (!wg->identity.has_identity ||
	    crypto_is_zero(hs->precomputed_static_static, NOISE_PUBLIC_KEY_LEN))
		return false;

	dst->header.type = htole32(MESSAGE_HANDSHAKE_INITIATION);
	handshake_init(hs->chaining_key, hs->hash, hs->remote_static);

	/* e */
	if (!send_ephemeral(dst->unencrypted_ephemeral, hs))
		goto out;

	/* es */
	if (!noise_mix_dh(hs->chaining_key, key, hs->ephemeral_private,
			  hs->remote_static))
		goto out;

	/* s */
	noise_encrypt_and_hash(dst->encrypted_static,
			       wg->identity.static_public,
			       NOISE_PUBLIC_KEY_LEN, key, hs->hash);

	/* ss */
	if (!mix_precomputed_dh(hs->chaining_key, key,
				hs->precomputed_static_static))
		goto out;

	/* {t} */
	noise_tai64n_now(timestamp, wg->now_real);
	noise_encrypt_and_hash(dst->encrypted_timestamp, timestamp,
			       NOISE_TIMESTAMP_LEN, key, hs->hash);

	dst->sender_index = htole32(index_insert(&wg->index, &hs->entry));
	hs->state = HANDSHAKE_CREATED_INITIATION;
	ret = true;
out:
	memzero(key, sizeof(key));
	if (!ret)
		handshake_zero(hs);
	return ret;
}

struct peer *noise_handshake_consume_initiation(
	const struct message_handshake_initiation *src, struct wg_device *wg,
	enum wg_diag *why, uint8_t stranger[NOISE_PUBLIC_KEY_LEN],
	struct peer **peer_out)
{
	uint8_t s[NOISE_PUBLIC_KEY_LEN], e[NOISE_PUBLIC_KEY_LEN];
	uint8_t t[NOISE_TIMESTAMP_LEN];
	uint8_t hash[NOISE_HASH_LEN], chaining_key[NOISE_HASH_LEN];
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	struct noise_handshake *hs;
	struct peer *peer = NULL, *ret = NULL;
	bool replay_attack, flood_attack;

	if (!wg->identity.has_identity)
		goto out;

	handshake_init(chaining_key, hash, wg->identity.static_public);

	/* e */
	message_ephemeral(e, src->unencrypted_ephemeral, chaining_key, hash);

	/* es */
	if (!noise_mix_dh(chaining_key, key, wg->identity.static_private, e))
		goto out;

	/* s */
	if (!noise_decrypt_and_hash(s, src->encrypted_static,
				    sizeof(src->encrypted_static), key, hash))
		goto out;

	peer = wg_peer_lookup(wg, s);
	if (!peer) {
		if (why) {
			*why = WG_DIAG_UNKNOWN_PEER;
			memcpy(stranger, s, NOISE_PUBLIC_KEY_LEN);
		}
		goto out;
	}
	hs = &peer->handshake;

	/* ss */
	if (!mix_precomputed_dh(chaining_key, key,
				hs->precomputed_static_static))
		goto out;

	/* {t} */
	if (!noise_decrypt_and_hash(t, src->encrypted_timestamp,
				    sizeof(src->encrypted_timestamp), key,
				    hash))
		goto out;

	replay_attack = memcmp(t, hs->latest_timestamp,
			       NOISE_TIMESTAMP_LEN) <= 0;
	flood_attack = hs->last_initiation_consumption &&
		       hs->last_initiation_consumption +
				       NS_PER_SEC / INITIATIONS_PER_SECOND >
			       wg->now;
	if (replay_attack || flood_attack) {
		/* A flood is initiations faster than 50 a second: a
		 * replay of fresh ones, in effect. */
		if (why) {
			*why = WG_DIAG_STALE_TIMESTAMP;
			*peer_out = peer;
		}
		goto out;
	}

	/* Success: commit to the peer's handshake state. */
	memcpy(hs->remote_ephemeral, e, NOISE_PUBLIC_KEY_LEN);
	memcpy(hs->latest_timestamp, t, NOISE_TIMESTAMP_LEN);
	memcpy(hs->hash, hash, NOISE_HASH_LEN);
	memcpy(hs->chaining_key, chaining_key, NOISE_HASH_LEN);
	hs->remote_index = le32toh(src->sender_index);
	hs->last_initiation_consumption = wg->now;
	hs->state = HANDSHAKE_CONSUMED_INITIATION;
	ret = peer;
out:
	memzero(key, sizeof(key));
	memzero(hash, sizeof(hash));
	memzero(chaining_key, sizeof(chaining_key));
	return ret;
}

bool noise_handshake_create_response(struct message_handshake_response *dst,
				     struct peer *peer)
{
	struct noise_handshake *hs = &peer->handshake;
	struct wg_device *wg = peer->wg;
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	bool ret = false;

	if (hs->state != HANDSHAKE_CONSUMED_INITIATION)
		goto out;

	dst->header.type = htole32(MESSAGE_HANDSHAKE_RESPONSE);
	dst->receiver_index = htole32(hs->remote_index);

	/* e */
	if (!send_ephemeral(dst->unencrypted_ephemeral, hs))
		goto out;

	/* ee */
	if (!noise_mix_dh(hs->chaining_key, NULL, hs->ephemeral_private,
			  hs->remote_ephemeral))
		goto out;

	/* se */
	if (!noise_mix_dh(hs->chaining_key, NULL, hs->ephemeral_private,
			  hs->remote_static))
		goto out;

	/* psk */
	noise_mix_psk(hs->chaining_key, hs->hash, key, hs->preshared_key);

	/* {} */
	noise_encrypt_and_hash(dst->encrypted_nothing, NULL, 0, key, hs->hash);

	dst->sender_index = htole32(index_insert(&wg->index, &hs->entry));
	hs->state = HANDSHAKE_CREATED_RESPONSE;
	ret = true;
out:
	memzero(key, sizeof(key));
	return ret;
}

struct peer *noise_handshake_consume_response(
	const struct message_handshake_response *src, struct wg_device *wg)
{
	uint8_t e[NOISE_PUBLIC_KEY_LEN];
	uint8_t hash[NOISE_HASH_LEN], chaining_key[NOISE_HASH_LEN];
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	struct index_entry *entry;
	struct noise_handshake *hs;
	struct peer *ret = NULL;

	if (!wg->identity.has_identity)
		goto out;
	entry = index_lookup(&wg->index, le32toh(src->receiver_index),
			     INDEX_HANDSHAKE);
	if (!entry)
		goto out;
	hs = &entry->peer->handshake;
	if (hs->state != HANDSHAKE_CREATED_INITIATION)
		goto out;
	memcpy(hash, hs->hash, NOISE_HASH_LEN);
	memcpy(chaining_key, hs->chaining_key, NOISE_HASH_LEN);

	/* e */
	message_ephemeral(e, src->unencrypted_ephemeral, chaining_key, hash);

	/* ee */
	if (!noise_mix_dh(chaining_key, NULL, hs->ephemeral_private, e))
		goto out;

	/* se */
	if (!noise_mix_dh(chaining_key, NULL, wg->identity.static_private, e))
		goto out;

	/* psk */
	noise_mix_psk(chaining_key, hash, key, hs->preshared_key);

	/* {} */
	if (!noise_decrypt_and_hash(NULL, src->encrypted_nothing,
				    sizeof(src->encrypted_nothing), key, hash))
		goto out;

	memcpy(hs->remote_ephemeral, e, NOISE_PUBLIC_KEY_LEN);
	memcpy(hs->hash, hash, NOISE_HASH_LEN);
	memcpy(hs->chaining_key, chaining_key, NOISE_HASH_LEN);
	hs->remote_index = le32toh(src->sender_index);
	hs->state = HANDSHAKE_CONSUMED_RESPONSE;
	ret = entry->peer;
out:
	memzero(key, sizeof(key));
	memzero(hash, sizeof(hash));
	memzero(chaining_key, sizeof(chaining_key));
	return ret;
}

static void add_new_keypair(struct peer *peer, struct noise_keypair *new)
{
	struct noise_keypairs *kps = &peer->keypairs;
	struct noise_keypair *previous = kps->previous, *next = kps->next,
			     *current = kps->current;

	if (new->is_initiator) {
		/* We initiated: the new session is confirmed, so it becomes
		 * current at once. An unconfirmed next is kept as previous so
		 * its in-flight packets still decrypt. */
		if (next) {
			kps->next = NULL;
			kps->previous = next;
			keypair_free(peer->wg, current);
		} else {
			kps->previous = current;
		}
		keypair_free(peer->wg, previous);
		kps->current = new;
	} else {
		/* We responded: wait for the initiator's first data packet
		 * before using it (noise_received_with_keypair). */
		kps->next = new;
		keypair_free(peer->wg, next);
		kps->previous = NULL;
		keypair_free(peer->wg, previous);
	}
}

bool noise_handshake_begin_session(struct peer *peer)
{
	struct noise_handshake *hs = &peer->handshake;
	struct noise_keypair *kp;

	if (hs->state != HANDSHAKE_CREATED_RESPONSE &&
	    hs->state != HANDSHAKE_CONSUMED_RESPONSE)
		return false;
	kp = calloc(1, sizeof(*kp));
	if (!kp)
		return false;
	kp->entry.type = INDEX_KEYPAIR;
	kp->entry.peer = peer;
	kp->is_initiator = hs->state == HANDSHAKE_CONSUMED_RESPONSE;
	kp->birthdate = peer->wg->now;
	kp->remote_index = hs->remote_index;
	kp->valid = true;
	replay_init(&kp->recv_counter);
	if (kp->is_initiator)
		kdf(kp->send_key, kp->recv_key, NULL, hs->chaining_key, NULL, 0);
	else
		kdf(kp->recv_key, kp->send_key, NULL, hs->chaining_key, NULL, 0);
	index_replace(&peer->wg->index, &hs->entry, &kp->entry);
	handshake_zero(hs);
	add_new_keypair(peer, kp);
	return true;
}

bool noise_received_with_keypair(struct peer *peer,
				 struct noise_keypair *keypair)
{
	struct noise_keypairs *kps = &peer->keypairs;
	struct noise_keypair *old;

	if (keypair != kps->next)
		return false;
	old = kps->previous;
	kps->previous = kps->current;
	kps->current = kps->next;
	kps->next = NULL;
	keypair_free(peer->wg, old);
	return true;
}

/* Thin wrappers over libsodium (X25519, ChaCha20-Poly1305, XChaCha20-Poly1305)
 * and libb2 (BLAKE2s), plus the HMAC/HKDF construction WireGuard builds on them. */
#ifndef SPOKEWIRE_CRYPTO_H
#define SPOKEWIRE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define __must_check __attribute__((warn_unused_result))

enum {
	KEY_LEN = 32,
	HASH_LEN = 32,
	BLAKE2S_BLOCK_LEN = 64,
	AEAD_TAG_LEN = 16,
	AEAD_LEAD = 64, /* see aead_seal_lent */
	AEAD_TRAIL = 64,
	XAEAD_NONCE_LEN = 24,
	KEY_B64_LEN = 44, /* without the NUL */
	KEY_HEX_LEN = 64,
};

int crypto_init(void);

/* BLAKE2s-256 over the concatenation of up to two buffers (b may be NULL). */
void blake2s_hash(uint8_t out[HASH_LEN], const void *a, size_t alen,
		  const void *b, size_t blen);
/* Keyed BLAKE2s with an outlen-byte result: WireGuard's MAC(). */
void blake2s_mac(uint8_t *out, size_t outlen, const uint8_t *key,
		 size_t keylen, const void *in, size_t inlen);

struct hash_state {
	/* Opaque storage for libb2's blake2s_state. */
	_Alignas(64) uint8_t opaque[256];
};
void hash_init(struct hash_state *ctx, size_t outlen);
void hash_update(struct hash_state *ctx, const void *in, size_t len);
void hash_final(struct hash_state *ctx, uint8_t *out, size_t outlen);

void hmac_blake2s(uint8_t out[HASH_LEN], const uint8_t *key, size_t keylen,
		  const void *in, size_t inlen);
/* HKDF (WireGuard's KDF_n): first, second, third may be NULL to stop early. */
void kdf(uint8_t *first, uint8_t *second, uint8_t *third,
	 const uint8_t chaining_key[HASH_LEN], const void *data, size_t len);

void curve25519_generate_secret(uint8_t secret[KEY_LEN]);
/* Public key from a (clamped on use) private key; false for the zero key. */
bool __must_check curve25519_public(uint8_t pub[KEY_LEN],
				    const uint8_t secret[KEY_LEN]);
/* The same key by libsodium's X25519 ladder (the reference for tests and
 * the bench; curve25519_public falls back to it). */
bool __must_check curve25519_public_ladder(uint8_t pub[KEY_LEN],
					   const uint8_t secret[KEY_LEN]);
/* False if the result is all zero (low-order point). */
bool __must_check curve25519_dh(uint8_t out[KEY_LEN],
				const uint8_t secret[KEY_LEN],
				const uint8_t pub[KEY_LEN]);

/* ChaCha20-Poly1305 (IETF) with WireGuard's 64-bit little-endian counter nonce.
 * dst may equal src; dst has room for srclen + AEAD_TAG_LEN. */
void aead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		  const uint8_t *ad, size_t adlen, uint64_t nonce,
		  const uint8_t key[KEY_LEN]);
/* The data path's AEAD: aead_encrypt and aead_decrypt without additional
 * data, faster because the caller lends the AEAD_LEAD bytes before the
 * data and the AEAD_TRAIL bytes after it as scratch. What was in them is
 * put back, except where the tag goes.
 * Seal, in place: p has len bytes, then room for the tag. */
void aead_seal_lent(uint8_t *p, size_t len, uint64_t nonce,
		    const uint8_t key[KEY_LEN]);
/* Open src (srclen bytes, the tag included) into dst, which must not
 * overlap it: besides dst's lent bytes, the AEAD_LEAD bytes before src and
 * the AEAD_TRAIL after src's plaintext length must be readable. On
 * failure dst's srclen - AEAD_TAG_LEN bytes are zero. */
bool __must_check aead_open_lent(uint8_t *dst, const uint8_t *src,
				 size_t srclen, uint64_t nonce,
				 const uint8_t key[KEY_LEN]);
/* srclen includes the tag; writes srclen - AEAD_TAG_LEN bytes on success. */
bool __must_check aead_decrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
			       const uint8_t *ad, size_t adlen, uint64_t nonce,
			       const uint8_t key[KEY_LEN]);
void xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		   const uint8_t *ad, size_t adlen,
		   const uint8_t nonce[XAEAD_NONCE_LEN],
		   const uint8_t key[KEY_LEN]);
bool __must_check xaead_decrypt(uint8_t *dst, const uint8_t *src,
				size_t srclen, const uint8_t *ad, size_t adlen,
				const uint8_t nonce[XAEAD_NONCE_LEN],
				const uint8_t key[KEY_LEN]);

/* SipHash-2-4 of in under a 16-byte key (hash-table keying, not a MAC). */
uint64_t siphash_u64(const uint8_t key[16], const void *in, size_t len);

/* random.c: the kernel's random bytes, fetched in batches (fork-safe). */
void random_bytes(void *buf, size_t len);
uint32_t random_u32(void);
uint32_t random_uniform(uint32_t upper);

void memzero(void *p, size_t len);
/* Constant time; true when equal. */
bool __must_check crypto_equal(const void *a, const void *b, size_t len);
bool crypto_is_zero(const void *p, size_t len);

/* Base64 / hex of 32-byte keys, constant time. out has KEY_B64_LEN+1 or
 * KEY_HEX_LEN+1 bytes. Decoders reject anything but a canonical key. */
void key_to_base64(char out[KEY_B64_LEN + 1], const uint8_t key[KEY_LEN]);
bool __must_check key_from_base64(uint8_t key[KEY_LEN], const char *in);
void key_to_hex(char out[KEY_HEX_LEN + 1], const uint8_t key[KEY_LEN]);
bool __must_check key_from_hex(uint8_t key[KEY_LEN], const char *in);

#endif

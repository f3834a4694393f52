/* Crypto wrappers: every primitive comes from libsodium or libb2; only the
 * HMAC/HKDF construction (RFC 2104/5869 over BLAKE2s) is composed here. */
#include "crypto/crypto.h"

#include <blake2.h>
#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(struct hash_state) >= sizeof(blake2s_state),
	       "blake2s_ctx too small");

int crypto_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void hash_init(struct hash_state *ctx, size_t outlen)
{
	blake2s_init((blake2s_state *)ctx, outlen);
}

void hash_update(struct hash_state *ctx, const void *in, size_t len)
{
	blake2s_update((blake2s_state *)ctx, in, len);
}

void hash_final(struct hash_state *ctx, uint8_t *out, size_t outlen)
{
	blake2s_final((blake2s_state *)ctx, out, outlen);
	memzero(ctx, sizeof(*ctx));
}

void blake2s_hash(uint8_t out[HASH_LEN], const void *a, size_t alen,
		  const void *b, size_t blen)
{
	blake2s_state s;

	blake2s_init(&s, HASH_LEN);
	blake2s_update(&s, a, alen);
	if (b)
		blake2s_update(&s, b, blen);
	blake2s_final(&s, out, HASH_LEN);
}

void blake2s_mac(uint8_t *out, size_t outlen, const uint8_t *key,
		 size_t keylen, const void *in, size_t inlen)
{
	blake2s_state s;

	blake2s_init_key(&s, outlen, key, keylen);
	blake2s_update(&s, in, inlen);
	blake2s_final(&s, out, outlen);
	memzero(&s, sizeof(s));
}

void hmac_blake2s(uint8_t out[HASH_LEN], const uint8_t *key, size_t keylen,
		  const void *in, size_t inlen)
{
	uint8_t x_key[BLAKE2S_BLOCK_LEN] = { 0 };
	uint8_t i_hash[HASH_LEN];
	blake2s_state s;
	int i;

	if (keylen > BLAKE2S_BLOCK_LEN)
		blake2s_hash(x_key, key, keylen, NULL, 0);
	else
		memcpy(x_key, key, keylen);

	for (i = 0; i < BLAKE2S_BLOCK_LEN; ++i)
		x_key[i] ^= 0x36;
	blake2s_init(&s, HASH_LEN);
	blake2s_update(&s, x_key, BLAKE2S_BLOCK_LEN);
	blake2s_update(&s, in, inlen);
	blake2s_final(&s, i_hash, HASH_LEN);

	for (i = 0; i < BLAKE2S_BLOCK_LEN; ++i)
		x_key[i] ^= 0x5c ^ 0x36;
	blake2s_init(&s, HASH_LEN);
	blake2s_update(&s, x_key, BLAKE2S_BLOCK_LEN);
	blake2s_update(&s, i_hash, HASH_LEN);
	blake2s_final(&s, out, HASH_LEN);

	memzero(x_key, sizeof(x_key));
	memzero(i_hash, sizeof(i_hash));
	memzero(&s, sizeof(s));
}

void kdf(uint8_t *first, uint8_t *second, uint8_t *third,
	 const uint8_t chaining_key[HASH_LEN], const void *data, size_t len)
{
	uint8_t secret[HASH_LEN], output[HASH_LEN + 1];

	/* Extract: secret = HMAC(C, data). */
	hmac_blake2s(secret, chaining_key, HASH_LEN, data, len);
	if (!first)
		goto out;
	/* Expand: T1 = HMAC(secret, 0x1), Tn = HMAC(secret, Tn-1 || n). */
	output[0] = 1;
	hmac_blake2s(output, secret, HASH_LEN, output, 1);
	memcpy(first, output, HASH_LEN);
	if (!second)
		goto out;
	output[HASH_LEN] = 2;
	hmac_blake2s(output, secret, HASH_LEN, output, HASH_LEN + 1);
	memcpy(second, output, HASH_LEN);
	if (!third)
		goto out;
	output[HASH_LEN] = 3;
	hmac_blake2s(output, secret, HASH_LEN, output, HASH_LEN + 1);
	memcpy(third, output, HASH_LEN);
out:
	memzero(secret, sizeof(secret));
	memzero(output, sizeof(output));
}

void curve25519_generate_secret(uint8_t secret[KEY_LEN])
{
	randombytes_buf(secret, KEY_LEN);
	secret[0] &= 248;
	secret[31] = (secret[31] & 127) | 64;
}

bool curve25519_public(uint8_t pub[KEY_LEN], const uint8_t secret[KEY_LEN])
{
	if (crypto_is_zero(secret, KEY_LEN))
		return false;
	return crypto_scalarmult_curve25519_base(pub, secret) == 0;
}

bool curve25519_dh(uint8_t out[KEY_LEN], const uint8_t secret[KEY_LEN],
		   const uint8_t pub[KEY_LEN])
{
	/* libsodium clamps the scalar and fails on an all-zero result, which is
	 * what a low-order public key produces. */
	if (crypto_scalarmult_curve25519(out, secret, pub) != 0) {
		memzero(out, KEY_LEN);
		return false;
	}
	return true;
}

static void le64_nonce(uint8_t n[12], uint64_t nonce)
{
	int i;

	memset(n, 0, 4);
	for (i = 0; i < 8; ++i)
		n[4 + i] = (uint8_t)(nonce >> (8 * i));
}

void aead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		  const uint8_t *ad, size_t adlen, uint64_t nonce,
		  const uint8_t key[KEY_LEN])
{
	uint8_t n[12];

	le64_nonce(n, nonce);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		dst, dst + srclen, NULL, src, srclen, ad, adlen, NULL, n, key);
}

bool aead_decrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		  const uint8_t *ad, size_t adlen, uint64_t nonce,
		  const uint8_t key[KEY_LEN])
{
	uint8_t n[12];

	if (srclen < AEAD_TAG_LEN)
		return false;
	le64_nonce(n, nonce);
	return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		       dst, NULL, src, srclen - AEAD_TAG_LEN,
		       src + srclen - AEAD_TAG_LEN, ad, adlen, n, key) == 0;
}

void xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		   const uint8_t *ad, size_t adlen,
		   const uint8_t nonce[XAEAD_NONCE_LEN],
		   const uint8_t key[KEY_LEN])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
		dst, dst + srclen, NULL, src, srclen, ad, adlen, NULL, nonce,
		key);
}

bool xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		   const uint8_t *ad, size_t adlen,
		   const uint8_t nonce[XAEAD_NONCE_LEN],
		   const uint8_t key[KEY_LEN])
{
	if (srclen < AEAD_TAG_LEN)
		return false;
	return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
		       dst, NULL, src, srclen - AEAD_TAG_LEN,
		       src + srclen - AEAD_TAG_LEN, ad, adlen, nonce,
		       key) == 0;
}

uint64_t siphash_u64(const uint8_t key[16], const void *in, size_t len)
{
	uint8_t out[crypto_shorthash_siphash24_BYTES];
	uint64_t v = 0;
	int i;

	_Static_assert(crypto_shorthash_siphash24_KEYBYTES == 16, "key");
	crypto_shorthash_siphash24(out, in, len, key);
	for (i = (int)sizeof(out) - 1; i >= 0; --i)
		v = (v << 8) | out[i];
	return v;
}

void random_bytes(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

uint32_t random_u32(void)
{
	return randombytes_random();
}

uint32_t random_uniform(uint32_t upper)
{
	return randombytes_uniform(upper);
}

void memzero(void *p, size_t len)
{
	sodium_memzero(p, len);
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

bool crypto_is_zero(const void *p, size_t len)
{
	return sodium_is_zero(p, len);
}

void key_to_base64(char out[KEY_B64_LEN + 1], const uint8_t key[KEY_LEN])
{
	sodium_bin2base64(out, KEY_B64_LEN + 1, key, KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

bool key_from_base64(uint8_t key[KEY_LEN], const char *in)
{
	size_t len = 0;
	const char *end = NULL;

	if (strlen(in) != KEY_B64_LEN || in[KEY_B64_LEN - 1] != '=')
		return false;
	if (sodium_base642bin(key, KEY_LEN, in, KEY_B64_LEN, NULL, &len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != KEY_LEN || *end) {
		memzero(key, KEY_LEN);
		return false;
	}
	return true;
}

void key_to_hex(char out[KEY_HEX_LEN + 1], const uint8_t key[KEY_LEN])
{
	sodium_bin2hex(out, KEY_HEX_LEN + 1, key, KEY_LEN);
}

bool key_from_hex(uint8_t key[KEY_LEN], const char *in)
{
	size_t len = 0;
	const char *end = NULL;

	if (strlen(in) != KEY_HEX_LEN)
		return false;
	if (sodium_hex2bin(key, KEY_LEN, in, KEY_HEX_LEN, NULL, &len, &end) !=
		    0 ||
	    len != KEY_LEN || *end) {
		memzero(key, KEY_LEN);
		return false;
	}
	return true;
}

/* Crypto wrappers: every primitive comes from a library; only the HMAC/HKDF
 * construction (RFC 2104/5869 over BLAKE2s) is composed here. X25519 and
 * XChaCha20-Poly1305 are libsodium's, BLAKE2s is libb2's, and the data-path
 * ChaCha20-Poly1305 is OpenSSL 3's for full-sized packets: measured here on
 * 1,420 bytes it runs about 1.4x libsodium's, which is most of the
 * per-packet cost once syscalls are batched; small packets take libsodium's
 * (AEAD_SMALL). */
#include "crypto/crypto.h"

#include <blake2.h>
#include <gmp.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Cipher contexts per thread (EVP contexts are not shareable), one per
 * direction, each remembering the key it holds: consecutive packets of a
 * session then only set the nonce, which saves about a fifth of the cost
 * of a 1,420-byte packet (OpenSSL's key setup goes through its parameter
 * machinery). The thread key only exists to free the contexts, and wipe
 * the remembered keys, when the thread exits. */
struct aead_thread {
	EVP_CIPHER_CTX *ctx[2]; /* [0] decrypt, [1] encrypt */
	uint8_t key[2][KEY_LEN];
	bool keyed[2];
};
static __thread struct aead_thread *aead_state;
static pthread_key_t aead_state_key;
static pthread_once_t aead_state_once = PTHREAD_ONCE_INIT;

static void free_aead_state(void *p)
{
	struct aead_thread *t = p;

	EVP_CIPHER_CTX_free(t->ctx[0]);
	EVP_CIPHER_CTX_free(t->ctx[1]);
	memzero(t, sizeof(*t));
	free(t);
}

static void make_aead_state_key(void)
{
	if (pthread_key_create(&aead_state_key, free_aead_state))
		abort();
}

/* Constant time, without a branch per byte: libsodium's sodium_memcmp
 * goes byte by byte through a volatile and cost ~1% of a daemon's CPU
 * here, asked once per packet. */
static bool same_key(const uint8_t a[KEY_LEN], const uint8_t b[KEY_LEN])
{
	uint64_t x, y, diff = 0;
	size_t i;

	for (i = 0; i < KEY_LEN; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		diff |= x ^ y;
	}
	return diff == 0;
}

/* The thread's context for direction enc, keyed with key and the nonce n.
 * Only allocation failure inside OpenSSL can fail this; a packet sent
 * without its tag would be worse than stopping. */
static EVP_CIPHER_CTX *aead_ctx(int enc, const uint8_t key[KEY_LEN],
				const uint8_t n[12])
{
	struct aead_thread *t = aead_state;
	bool same;

	if (!t) {
		pthread_once(&aead_state_once, make_aead_state_key);
		t = calloc(1, sizeof(*t));
		if (!t)
			abort();
		t->ctx[0] = EVP_CIPHER_CTX_new();
		t->ctx[1] = EVP_CIPHER_CTX_new();
		if (!t->ctx[0] || !t->ctx[1] ||
		    EVP_DecryptInit_ex(t->ctx[0], EVP_chacha20_poly1305(), NULL,
				       NULL, NULL) != 1 ||
		    EVP_EncryptInit_ex(t->ctx[1], EVP_chacha20_poly1305(), NULL,
				       NULL, NULL) != 1)
			abort();
		pthread_setspecific(aead_state_key, t);
		aead_state = t;
	}
	same = t->keyed[enc] && same_key(t->key[enc], key);
	if (EVP_CipherInit_ex(t->ctx[enc], NULL, NULL, same ? NULL : key, n,
			      enc) != 1)
		abort();
	if (!same) {
		memcpy(t->key[enc], key, KEY_LEN);
		t->keyed[enc] = true;
	}
	return t->ctx[enc];
}

static bool aead_tag(EVP_CIPHER_CTX *ctx, uint8_t tag[AEAD_TAG_LEN], bool set)
{
	OSSL_PARAM p[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						  tag, AEAD_TAG_LEN),
		OSSL_PARAM_construct_end(),
	};

	return (set ? EVP_CIPHER_CTX_set_params(ctx, p)
		    : EVP_CIPHER_CTX_get_params(ctx, p)) == 1;
}

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
	random_bytes(secret, KEY_LEN);
	secret[0] &= 248;
	secret[31] = (secret[31] & 127) | 64;
}

/* Edwards y (libsodium's encoding: little-endian, x's sign in the top bit)
 * to Montgomery u = (1 + y) / (1 - y) mod 2^255 - 19, the birational map
 * RFC 7748 section 4.1 gives. Variable time, which is safe because the
 * input is a public key: anyone who sees u on the wire can compute y. */
static bool edwards_y_to_montgomery_u(uint8_t u[KEY_LEN],
				      const uint8_t ed[KEY_LEN])
{
	uint8_t y_le[KEY_LEN];
	mpz_t p, y, num, den;
	size_t n = 0;
	bool ok;

	memcpy(y_le, ed, KEY_LEN);
	y_le[31] &= 127;
	mpz_inits(p, y, num, den, NULL);
	mpz_ui_pow_ui(p, 2, 255);
	mpz_sub_ui(p, p, 19);
	mpz_import(y, KEY_LEN, -1, 1, 0, 0, y_le);
	mpz_add_ui(num, y, 1);
	mpz_ui_sub(den, 1, y);
	mpz_mod(den, den, p);
	ok = mpz_invert(den, den, p) != 0; /* 0 only for y = 1, the identity */
	if (ok) {
		mpz_mul(num, num, den);
		mpz_mod(num, num, p);
		memset(u, 0, KEY_LEN);
		mpz_export(u, &n, -1, 1, 0, 0, num);
	}
	mpz_clears(p, y, num, den, NULL);
	return ok;
}

/* The public key of a secret. On x86-64 libsodium computes X25519 of the
 * base point with the same Montgomery ladder as any other point; its
 * fixed-base Ed25519 multiplication (a precomputed table) followed by the
 * birational map gives the same u about 1.4x faster (bench-handshake times
 * both), and a fresh ephemeral is a quarter of a responder's X25519 work.
 * Both paths clamp the scalar the same way; any failure falls back to the
 * ladder, and test_crypto checks the two agree on random secrets. */
bool curve25519_public(uint8_t pub[KEY_LEN], const uint8_t secret[KEY_LEN])
{
	uint8_t ed[KEY_LEN];

	if (crypto_is_zero(secret, KEY_LEN))
		return false;
	if (crypto_scalarmult_ed25519_base(ed, secret) == 0 &&
	    edwards_y_to_montgomery_u(pub, ed))
		return true;
	return curve25519_public_ladder(pub, secret);
}

bool curve25519_public_ladder(uint8_t pub[KEY_LEN],
			      const uint8_t secret[KEY_LEN])
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

/* Below this many bytes the data path's AEAD is libsodium's: OpenSSL's
 * EVP layers cost more than the cipher on a small packet (32 bytes: 480
 * ns against 350), and far more with cold caches, which is every packet
 * after a quiet spell: a ping's 84 bytes took 20 us to seal, 11 us with
 * libsodium. From about 512 bytes up OpenSSL's ChaCha20 is the faster
 * (1,420 bytes: 1.2 us against 1.7). */
enum { AEAD_SMALL = 512 };

void aead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		  const uint8_t *ad, size_t adlen, uint64_t nonce,
		  const uint8_t key[KEY_LEN])
{
	EVP_CIPHER_CTX *ctx;
	uint8_t n[12];
	int outl;

	le64_nonce(n, nonce);
	if (srclen < AEAD_SMALL) {
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			dst, dst + srclen, NULL, src, srclen, ad, adlen, NULL,
			n, key);
		return;
	}
	ctx = aead_ctx(1, key, n);
	if ((adlen && EVP_EncryptUpdate(ctx, NULL, &outl, ad, (int)adlen) != 1) ||
	    (srclen && EVP_EncryptUpdate(ctx, dst, &outl, src, (int)srclen) != 1) ||
	    EVP_EncryptFinal_ex(ctx, dst + srclen, &outl) != 1 ||
	    !aead_tag(ctx, dst + srclen, false))
		abort();
}

bool aead_decrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		  const uint8_t *ad, size_t adlen, uint64_t nonce,
		  const uint8_t key[KEY_LEN])
{
	EVP_CIPHER_CTX *ctx;
	uint8_t n[12], tag[AEAD_TAG_LEN], scratch[1];
	size_t len;
	int outl;

	if (srclen < AEAD_TAG_LEN)
		return false;
	len = srclen - AEAD_TAG_LEN;
	memcpy(tag, src + len, AEAD_TAG_LEN);
	le64_nonce(n, nonce);
	if (len < AEAD_SMALL) /* checks the tag before it writes dst */
		return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
			       dst, NULL, src, len, tag, ad, adlen, n, key) == 0;
	ctx = aead_ctx(0, key, n);
	if ((adlen && EVP_DecryptUpdate(ctx, NULL, &outl, ad, (int)adlen) != 1) ||
	    (len && EVP_DecryptUpdate(ctx, dst, &outl, src, (int)len) != 1) ||
	    !aead_tag(ctx, tag, true))
		return false;
	/* Final writes nothing for a stream cipher; the tag check is its
	 * result. On failure dst holds unauthenticated bytes: wipe them. */
	if (EVP_DecryptFinal_ex(ctx, len ? dst + len : scratch, &outl) != 1) {
		if (len && dst)
			memzero(dst, len);
		return false;
	}
	return true;
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

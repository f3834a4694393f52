/* Crypto wrappers: every primitive comes from a library; only two
 * constructions are composed here: HMAC/HKDF (RFC 2104/5869) over BLAKE2s,
 * and the data path's ChaCha20-Poly1305 (RFC 8439 section 2.8) from
 * OpenSSL 3's ChaCha20 and Poly1305. X25519 and XChaCha20-Poly1305 are
 * libsodium's, BLAKE2s is libb2's.
 *
 * Why the data path composes its AEAD: OpenSSL's ChaCha20 (AVX-512 here)
 * is the fastest on offer, 1.7x libsodium's on 1,420 bytes, but its
 * EVP_chacha20_poly1305 spends half of a full-sized packet's time around
 * the cipher: the nonce set through the parameter machinery, the one-block
 * Poly1305 key run through the short-input code path, the tag fetched
 * through parameters. Driving EVP_chacha20 and EVP_MAC Poly1305 directly,
 * and drawing the key block and the packet's keystream in one call when
 * the caller lends 64 bytes before and after the data, took a 1,420-byte
 * seal from 969 ns to 835 here, 672 with clear_upper() below (bench/aead.c
 * times them). Small
 * packets (AEAD_SMALL) take libsodium's one-call AEAD, cheaper than any
 * EVP call. test_crypto checks both against libsodium's AEAD and RFC 8439's
 * vector. */
#include "crypto/crypto.h"

#include <blake2.h>
#include <gmp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Per thread (EVP contexts are not shareable): a ChaCha20 context per
 * direction, each remembering the key it holds, so consecutive packets of
 * a session only set the nonce; and one Poly1305 context. The thread key
 * only exists to free them, and wipe the remembered keys, when the thread
 * exits. */
struct aead_thread {
	EVP_CIPHER_CTX *ctx[2]; /* [0] open, [1] seal */
	EVP_MAC_CTX *mac;
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
	EVP_MAC_CTX_free(t->mac);
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

static struct aead_thread *aead_thread(void)
{
	struct aead_thread *t = aead_state;
	EVP_MAC *poly;

	if (t)
		return t;
	pthread_once(&aead_state_once, make_aead_state_key);
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->ctx[0] = EVP_CIPHER_CTX_new();
	t->ctx[1] = EVP_CIPHER_CTX_new();
	poly = EVP_MAC_fetch(NULL, "POLY1305", NULL);
	t->mac = poly ? EVP_MAC_CTX_new(poly) : NULL;
	EVP_MAC_free(poly); /* the context holds its own reference */
	if (!t->ctx[0] || !t->ctx[1] || !t->mac ||
	    EVP_EncryptInit_ex(t->ctx[0], EVP_chacha20(), NULL, NULL, NULL) != 1 ||
	    EVP_EncryptInit_ex(t->ctx[1], EVP_chacha20(), NULL, NULL, NULL) != 1)
		abort();
	pthread_setspecific(aead_state_key, t);
	aead_state = t;
	return t;
}

/* The thread's ChaCha20 for direction dir, keyed with key, at block 0 of
 * the nonce n (OpenSSL's 16-byte IV: the 32-bit block counter, little
 * endian, then the 96-bit nonce). Only allocation failure inside OpenSSL
 * can fail this; a packet sent without its tag would be worse than
 * stopping. */
static EVP_CIPHER_CTX *chacha_at(struct aead_thread *t, int dir,
				 const uint8_t key[KEY_LEN],
				 const uint8_t n[12])
{
	uint8_t iv[16] = { 0 };
	bool same = t->keyed[dir] && same_key(t->key[dir], key);

	memcpy(iv + 4, n, 12);
	if (EVP_CipherInit_ex(t->ctx[dir], NULL, NULL, same ? NULL : key, iv,
			      1) != 1)
		abort();
	if (!same) {
		memcpy(t->key[dir], key, KEY_LEN);
		t->keyed[dir] = true;
	}
	return t->ctx[dir];
}

/* XORs len bytes of keystream into in, written to out; the context's
 * block counter moves on (a length that is not a multiple of 64 ends the
 * useful stream). */
static void chacha_xor(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in,
		       size_t len)
{
	if (len && EVP_Cipher(c, out, in, (unsigned)len) <= 0)
		abort();
}

static void poly_update(EVP_MAC_CTX *m, const uint8_t *p, size_t len)
{
	static const uint8_t zeros[16];

	if (len && EVP_MAC_update(m, p, len) != 1)
		abort();
	if (len % 16 && EVP_MAC_update(m, zeros, 16 - len % 16) != 1)
		abort();
}

/* OpenSSL's AVX-512 Poly1305 returns with the vector registers' upper
 * halves in use (no vzeroupper), and every SSE instruction after it, in
 * libcrypto, libc or ours, then pays for the mixed state until something
 * clears it: bench-aead's 1,420-byte seal went from 835 ns to 672 with
 * one vzeroupper after the last Poly1305 block. Only where the CPU (and
 * the kernel) have AVX: the instruction does not exist without. */
static inline void clear_upper(void)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx"))
		__asm__ volatile("vzeroupper" ::: "memory");
#endif
}

/* RFC 8439's tag: Poly1305 under the one-time key otk over ad, ct (each
 * padded to 16 bytes) and their two lengths, 64-bit little endian. */
static void poly_tag(struct aead_thread *t, uint8_t tag[AEAD_TAG_LEN],
		     const uint8_t otk[32], const uint8_t *ad, size_t adlen,
		     const uint8_t *ct, size_t len)
{
	uint8_t lens[16];
	size_t outl = 0;
	int i;

	for (i = 0; i < 8; ++i) {
		lens[i] = (uint8_t)((uint64_t)adlen >> (8 * i));
		lens[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (EVP_MAC_init(t->mac, otk, 32, NULL) != 1)
		abort();
	poly_update(t->mac, ad, adlen);
	poly_update(t->mac, ct, len);
	if (EVP_MAC_update(t->mac, lens, sizeof(lens)) != 1)
		abort();
	clear_upper();
	if (EVP_MAC_final(t->mac, tag, &outl, AEAD_TAG_LEN) != 1 ||
	    outl != AEAD_TAG_LEN)
		abort();
}

/* Block 0 of c's stream, whose first 32 bytes are the Poly1305 key, when
 * it is drawn in a call of its own. */
static void poly_key_block(EVP_CIPHER_CTX *c, uint8_t block0[64])
{
	static const uint8_t zeros[64];

	chacha_xor(c, block0, zeros, 64);
}

/* Equal in constant time (16 bytes). */
static bool same_tag(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, AEAD_TAG_LEN) == 0;
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
 * libsodium. From about 512 bytes up OpenSSL's ChaCha20 is the faster. */
enum { AEAD_SMALL = 512 };

void aead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		  const uint8_t *ad, size_t adlen, uint64_t nonce,
		  const uint8_t key[KEY_LEN])
{
	struct aead_thread *t;
	EVP_CIPHER_CTX *c;
	uint8_t n[12], block0[64];

	le64_nonce(n, nonce);
	if (srclen < AEAD_SMALL) {
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			dst, dst + srclen, NULL, src, srclen, ad, adlen, NULL,
			n, key);
		return;
	}
	t = aead_thread();
	c = chacha_at(t, 1, key, n);
	poly_key_block(c, block0);
	chacha_xor(c, dst, src, srclen);
	poly_tag(t, dst + srclen, block0, ad, adlen, dst, srclen);
	memzero(block0, sizeof(block0));
}

/* The length ChaCha20 is asked for when the caller lends the bytes after
 * the data: whole blocks. OpenSSL draws a trailing partial block through
 * a call of its own on its short-input path, about a tenth of a 1,420-byte
 * seal. */
static size_t whole_blocks(size_t len)
{
	return (len + 63) & ~(size_t)63;
}

void aead_seal_lent(uint8_t *p, size_t len, uint64_t nonce,
		    const uint8_t key[KEY_LEN])
{
	struct aead_thread *t;
	uint8_t n[12], lead[AEAD_LEAD], trail[AEAD_TRAIL], otk[32];
	size_t run;

	if (len < AEAD_SMALL) {
		aead_encrypt(p, p, len, NULL, 0, nonce, key);
		return;
	}
	/* Block 0 (the Poly1305 key) and the packet's blocks in one
	 * ChaCha20 call: the cipher's wide path draws 16 blocks at a time,
	 * so the extra block is nearly free where a call of its own costs
	 * a seventh of the seal. */
	le64_nonce(n, nonce);
	t = aead_thread();
	run = whole_blocks(AEAD_LEAD + len);
	memcpy(lead, p - AEAD_LEAD, AEAD_LEAD);
	memcpy(trail, p + len, AEAD_TRAIL);
	memset(p - AEAD_LEAD, 0, AEAD_LEAD);
	chacha_xor(chacha_at(t, 1, key, n), p - AEAD_LEAD, p - AEAD_LEAD, run);
	memcpy(otk, p - AEAD_LEAD, sizeof(otk));
	memcpy(p - AEAD_LEAD, lead, AEAD_LEAD);
	memcpy(p + len, trail, AEAD_TRAIL);
	poly_tag(t, p + len, otk, NULL, 0, p, len);
	memzero(otk, sizeof(otk));
}

bool aead_open_lent(uint8_t *dst, const uint8_t *src, size_t srclen,
		    uint64_t nonce, const uint8_t key[KEY_LEN])
{
	struct aead_thread *t;
	uint8_t n[12], lead[AEAD_LEAD], trail[AEAD_TRAIL], otk[32], tag[16];
	size_t len, run, i;

	if (srclen < AEAD_TAG_LEN)
		return false;
	len = srclen - AEAD_TAG_LEN;
	if (len < AEAD_SMALL)
		return aead_decrypt(dst, src, srclen, NULL, 0, nonce, key);
	/* One ChaCha20 call from the lead before src to dst's: what it
	 * wrote over the lead, XORed with what was there, is block 0's
	 * keystream, the Poly1305 key. The tag is checked on src, which
	 * this does not change; dst is wiped if it does not match. */
	le64_nonce(n, nonce);
	t = aead_thread();
	run = whole_blocks(AEAD_LEAD + len);
	memcpy(lead, dst - AEAD_LEAD, AEAD_LEAD);
	memcpy(trail, dst + len, AEAD_TRAIL);
	chacha_xor(chacha_at(t, 0, key, n), dst - AEAD_LEAD, src - AEAD_LEAD,
		   run);
	for (i = 0; i < sizeof(otk); ++i)
		otk[i] = dst[i - AEAD_LEAD] ^ src[i - AEAD_LEAD];
	memcpy(dst - AEAD_LEAD, lead, AEAD_LEAD);
	memcpy(dst + len, trail, AEAD_TRAIL);
	poly_tag(t, tag, otk, NULL, 0, src, len);
	memzero(otk, sizeof(otk));
	if (same_tag(tag, src + len))
		return true;
	memzero(dst, len);
	return false;
}

bool aead_decrypt(uint8_t *dst, const uint8_t *src, size_t srclen,
		  const uint8_t *ad, size_t adlen, uint64_t nonce,
		  const uint8_t key[KEY_LEN])
{
	struct aead_thread *t;
	EVP_CIPHER_CTX *c;
	uint8_t n[12], tag[AEAD_TAG_LEN], block0[64];
	size_t len;
	bool ok;

	if (srclen < AEAD_TAG_LEN)
		return false;
	len = srclen - AEAD_TAG_LEN;
	le64_nonce(n, nonce);
	if (len < AEAD_SMALL) /* checks the tag before it writes dst */
		return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
			       dst, NULL, src, len, src + len, ad, adlen, n,
			       key) == 0;
	/* The tag is checked on the ciphertext before anything is
	 * decrypted: a forgery never reaches dst. */
	t = aead_thread();
	c = chacha_at(t, 0, key, n);
	poly_key_block(c, block0);
	poly_tag(t, tag, block0, ad, adlen, src, len);
	memzero(block0, sizeof(block0));
	ok = same_tag(tag, src + len);
	if (ok)
		chacha_xor(c, dst, src, len);
	return ok;
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

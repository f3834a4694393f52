/* The data path's AEAD per packet, on one core: our seal (in place, with
 * the lent lead; without it), our open, and in the same run the two
 * one-call alternatives it was chosen over: OpenSSL's
 * EVP_chacha20_poly1305 (nonce set per packet, tag through parameters)
 * and libsodium's. Medians of 5 runs. Usage: bench-aead [BYTES] */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"

enum { RUNS = 5, PACKETS = 200000, MAX = 9000 };

static uint8_t key[KEY_LEN];
static uint8_t area[AEAD_LEAD + MAX + AEAD_TAG_LEN];
static uint8_t *const p = area + AEAD_LEAD;
static EVP_CIPHER_CTX *evp;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void nonce12(uint8_t n[12], uint64_t c)
{
	int i;

	memset(n, 0, 4);
	for (i = 0; i < 8; ++i)
		n[4 + i] = (uint8_t)(c >> (8 * i));
}

static void seal_lent(size_t len, uint64_t c)
{
	aead_seal_lent(p, len, c, key);
}

static void seal(size_t len, uint64_t c)
{
	aead_encrypt(p, p, len, NULL, 0, c, key);
}

/* A seal and the open of what it sealed, in place. */
static void seal_open(size_t len, uint64_t c)
{
	aead_encrypt(p, p, len, NULL, 0, c, key);
	if (!aead_decrypt(p, p, len + AEAD_TAG_LEN, NULL, 0, c, key))
		abort();
}

static void seal_evp(size_t len, uint64_t c)
{
	uint8_t n[12];
	int outl;
	OSSL_PARAM prm[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						  p + len, AEAD_TAG_LEN),
		OSSL_PARAM_construct_end(),
	};

	nonce12(n, c);
	if (EVP_CipherInit_ex(evp, NULL, NULL, NULL, n, 1) != 1 ||
	    EVP_EncryptUpdate(evp, p, &outl, p, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(evp, p + len, &outl) != 1 ||
	    EVP_CIPHER_CTX_get_params(evp, prm) != 1)
		abort();
}

static void seal_sodium(size_t len, uint64_t c)
{
	uint8_t n[12];

	nonce12(n, c);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		p, p + len, NULL, p, len, NULL, 0, NULL, n, key);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double time_ns(void (*f)(size_t, uint64_t), size_t len)
{
	double runs[RUNS], t;
	int r, i;

	for (i = 0; i < PACKETS / 10; ++i)
		f(len, (uint64_t)i);
	for (r = 0; r < RUNS; ++r) {
		t = now();
		for (i = 0; i < PACKETS; ++i)
			f(len, (uint64_t)i);
		runs[r] = (now() - t) / PACKETS * 1e9;
	}
	qsort(runs, RUNS, sizeof(runs[0]), cmp);
	return runs[RUNS / 2];
}

int main(int argc, char **argv)
{
	size_t len = argc > 1 ? strtoul(argv[1], NULL, 10) : 1420;
	double ref, lent;

	if (len > MAX || crypto_init() < 0)
		return 2;
	random_bytes(key, sizeof(key));
	random_bytes(area, sizeof(area));
	evp = EVP_CIPHER_CTX_new();
	if (!evp || EVP_EncryptInit_ex(evp, EVP_chacha20_poly1305(), NULL, key,
				       NULL) != 1)
		return 1;
	ref = time_ns(seal_evp, len);
	printf("ChaCha20-Poly1305 on %zu bytes, ns per packet (1 core, median of %d x %d):\n",
	       len, RUNS, PACKETS);
	printf("  EVP_chacha20_poly1305 seal   %7.1f\n", ref);
	printf("  libsodium seal               %7.1f\n", time_ns(seal_sodium, len));
	printf("  aead_encrypt                 %7.1f\n", time_ns(seal, len));
	lent = time_ns(seal_lent, len);
	printf("  aead_seal_lent (data path)   %7.1f  (%.2f of EVP_chacha20_poly1305)\n",
	       lent, lent / ref);
	printf("  aead_decrypt + aead_encrypt  %7.1f\n", time_ns(seal_open, len));
	EVP_CIPHER_CTX_free(evp);
	return 0;
}

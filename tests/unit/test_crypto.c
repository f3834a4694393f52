/* Known answers for the crypto layer: BLAKE2s (RFC 7693, blake2s-kat), HMAC
 * and KDF over it, ChaCha20-Poly1305 (RFC 8439 A.5), XChaCha20-Poly1305
 * (draft-irtf-cfrg-xchacha A.3.1), X25519 (RFC 7748) and key encodings.
 * Vectors not from a document were computed with python3's hashlib/hmac and
 * the `cryptography` package, never with this code. */
#include "unit.h"

#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/crypto.h"

/* Test-local hex decoding, so that no expectation goes through the
 * key_from_hex() under test. */
static size_t unhex(uint8_t *out, size_t max, const char *hex)
{
	size_t n = 0;
	unsigned int v;

	while (hex[0] && hex[1] && n < max) {
		if (sscanf(hex, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

static bool eq_hex(const uint8_t *got, size_t len, const char *hex)
{
	uint8_t want[512];

	if (strlen(hex) != 2 * len || len > sizeof(want) ||
	    unhex(want, sizeof(want), hex) != len)
		return false;
	return memcmp(got, want, len) == 0;
}

static void fill_range(uint8_t *p, size_t len, uint8_t start)
{
	size_t i;

	for (i = 0; i < len; ++i)
		p[i] = (uint8_t)(start + i);
}

static void test_blake2s_hash(void)
{
	uint8_t out[HASH_LEN], ref[HASH_LEN], in[512];
	struct hash_state st;
	size_t split, i;

	/* RFC 7693 appendix B, and the empty message. */
	blake2s_hash(out, "abc", 3, NULL, 0);
	CHECK(eq_hex(out, HASH_LEN, "508c5e8c327c14e2e1a72ba34eeb452f"
				    "37458b209ed63a294d999b4c86675982"));
	blake2s_hash(out, "", 0, NULL, 0);
	CHECK(eq_hex(out, HASH_LEN, "69217a3079908094e11121d042354a7c"
				    "1f55b6482ca1a51e1b250dfd1ed0eef9"));

	/* Two buffers hash as their concatenation, wherever the split. */
	for (i = 0; i < sizeof(in); ++i)
		in[i] = (uint8_t)i;
	blake2s_hash(ref, in, sizeof(in), NULL, 0);
	CHECK(eq_hex(ref, HASH_LEN, "aeb5499d81f14cb10c2539411cbe3e71"
				    "167293458543bfa4ca1f9584625fd4c6"));
	for (split = 0; split <= sizeof(in); split += 37) {
		blake2s_hash(out, in, split, in + split, sizeof(in) - split);
		CHECK(!memcmp(out, ref, HASH_LEN));
	}
	blake2s_hash(out, in, 64, in + 64, sizeof(in) - 64);
	CHECK(!memcmp(out, ref, HASH_LEN));

	/* And the streaming interface agrees in odd-sized pieces. */
	hash_init(&st, HASH_LEN);
	for (i = 0; i < sizeof(in); i += 13)
		hash_update(&st, in + i,
			    sizeof(in) - i < 13 ? sizeof(in) - i : 13);
	hash_final(&st, out, HASH_LEN);
	CHECK(!memcmp(out, ref, HASH_LEN));
}

static void test_blake2s_keyed(void)
{
	/* blake2s-kat.txt keyed vectors: key 00..1f, input 00..(n-1). */
	static const struct {
		size_t len;
		const char *hash;
	} kat[] = {
		{ 0, "48a8997da407876b3d79c0d92325ad3b"
		     "89cbb754d86ab71aee047ad345fd2c49" },
		{ 1, "40d15fee7c328830166ac3f918650f80"
		     "7e7e01e177258cdc0a39b11f598066f1" },
		{ 2, "6bb71300644cd3991b26ccd4d274acd1"
		     "adeab8b1d7914546c1198bbe9fc9d803" },
		{ 3, "1d220dbe2ee134661fdf6d9e74b41704"
		     "710556f2f6e5a091b227697445dbea6b" },
		{ 64, "8975b0577fd35566d750b362b0897a26"
		      "c399136df07bababbde6203ff2954ed4" },
		{ 65, "21fe0ceb0052be7fb0f004187cacd7de"
		      "67fa6eb0938d927677f2398c132317a8" },
		{ 255, "3fb735061abc519dfe979e54c1ee5bfa"
		       "d0a9d858b3315bad34bde999efd724dd" },
	};
	uint8_t key[32], in[255], out[HASH_LEN];
	size_t i;

	fill_range(key, sizeof(key), 0);
	fill_range(in, sizeof(in), 0);
	for (i = 0; i < sizeof(kat) / sizeof(kat[0]); ++i) {
		blake2s_mac(out, HASH_LEN, key, sizeof(key), in, kat[i].len);
		CHECK(eq_hex(out, HASH_LEN, kat[i].hash));
	}

	/* A 16-byte output is its own parameter block, not a truncation:
	 * WireGuard's mac1/mac2 (python: blake2s(digest_size=16, key=...)). */
	blake2s_mac(out, 16, key, 32, in, 100);
	CHECK(eq_hex(out, 16, "0b67d33f8b859c3157fbabd9e6e47ed0"));
	blake2s_mac(out, 16, key, 16, in, 7);
	CHECK(eq_hex(out, 16, "9aebc2b78b00ebc1034f99bcfd48790d"));
}

static void test_hmac_blake2s(void)
{
	static const char fox[] = "The quick brown fox jumps over the lazy dog";
	uint8_t key[100], in[200], out[HASH_LEN];

	fill_range(in, sizeof(in), 0);
	fill_range(key, sizeof(key), 0);
	hmac_blake2s(out, key, 32, fox, strlen(fox));
	CHECK(eq_hex(out, HASH_LEN, "f4660dee21c6a48e2a3d695ceedc2669"
				    "3e37b64b5ac5227476578517ee87fe6d"));
	/* A key longer than a block is hashed first. */
	hmac_blake2s(out, key, 100, in, 200);
	CHECK(eq_hex(out, HASH_LEN, "c4c95271905c6f69c1dd7c6fbc0cb373"
				    "5457a660ccc2c4370f28825e7abef5af"));
	/* Exactly a block, and an empty message. */
	hmac_blake2s(out, key, 64, "", 0);
	CHECK(eq_hex(out, HASH_LEN, "4a4f8f181c931253202b2d7a77e2a612"
				    "f65580f4b0d56108f7f275f22b63ae00"));
}

static void test_kdf(void)
{
	uint8_t ck[HASH_LEN], data[32], t1[HASH_LEN], t2[HASH_LEN];
	uint8_t t3[HASH_LEN], only[HASH_LEN];

	fill_range(ck, sizeof(ck), 0);
	fill_range(data, sizeof(data), 1);

	kdf(t1, t2, t3, ck, "", 0);
	CHECK(eq_hex(t1, HASH_LEN, "7a38c34bf2b8738d7374ca77c44ecb30"
				   "9a11d2b2528304fa86052c365e722624"));
	CHECK(eq_hex(t2, HASH_LEN, "1a17621f346abdc520746a9fb64d8eb0"
				   "3231d674fc15687537b0780fd9c060fd"));
	CHECK(eq_hex(t3, HASH_LEN, "4eaf02809ac4b930ef63479de62275f1"
				   "c55656e61f78a3cc653c18a2223d6c5f"));

	kdf(t1, t2, t3, ck, data, sizeof(data));
	CHECK(eq_hex(t1, HASH_LEN, "fd45a5544a211dedef51489683615d42"
				   "23b8daf4e379df06b14f6e1255dad1cc"));
	CHECK(eq_hex(t2, HASH_LEN, "e4e2b615024540867cb90ea4ee1a391d"
				   "8c5b962cf13a449ea630b076530f6ad4"));
	CHECK(eq_hex(t3, HASH_LEN, "b3c5036db2722cb8303cca1319504b25"
				   "1ae6a9d4bf9590256457689f80fadb74"));

	/* Stopping early yields the same prefix of outputs. */
	memset(only, 0, sizeof(only));
	kdf(only, NULL, NULL, ck, data, sizeof(data));
	CHECK(!memcmp(only, t1, HASH_LEN));
	memset(t3, 0xaa, sizeof(t3));
	kdf(t1, t2, NULL, ck, data, sizeof(data));
	CHECK(eq_hex(t2, HASH_LEN, "e4e2b615024540867cb90ea4ee1a391d"
				   "8c5b962cf13a449ea630b076530f6ad4"));
	CHECK(t3[0] == 0xaa && t3[31] == 0xaa);
	kdf(NULL, NULL, NULL, ck, data, sizeof(data));
}

/* The handshake's first two values, Ci and Hi (whitepaper 5.4.2). */
static void test_noise_construction(void)
{
	static const char construction[] =
		"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
	static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
	uint8_t c[HASH_LEN], h[HASH_LEN];

	blake2s_hash(c, construction, strlen(construction), NULL, 0);
	CHECK(eq_hex(c, HASH_LEN, "60e26daef327efc02ec335e2a025d2d0"
				  "16eb4206f87277f52d38d1988b78cd36"));
	blake2s_hash(h, c, HASH_LEN, identifier, strlen(identifier));
	CHECK(eq_hex(h, HASH_LEN, "2211b361081ac566691243db458ad532"
				  "2d9c6c662293e8b70ee19c65ba079ef3"));
}

/* RFC 8439 appendix A.5: its nonce 00000000 0102030405060708 is exactly
 * WireGuard's layout, 4 zero bytes then a little-endian 64-bit counter. */
static const char a5_key[] =
	"1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0";
static const uint64_t a5_nonce = 0x0807060504030201ULL;
static const char a5_ad[] = "f33388860000000000004e91";
static const char a5_plain[] =
	"Internet-Drafts are draft documents valid for a maximum of six "
	"months and may be updated, replaced, or obsoleted by other "
	"documents at any time. It is inappropriate to use Internet-Drafts "
	"as reference material or to cite them other than as "
	"/\xe2\x80\x9cwork in progress./\xe2\x80\x9d";
static const char a5_sealed[] =
	"64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
	"4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
	"332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
	"9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
	"b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
	"af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
	"0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
	"49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
	"a6ad5cb4022b02709b"
	"eead9d67890cbb22392336fea1851f38";

static void test_aead_rfc8439(void)
{
	uint8_t key[KEY_LEN], ad[12], sealed[512], buf[512];
	size_t plen = strlen(a5_plain), slen;

	REQUIRE(plen == 265);
	REQUIRE(unhex(key, sizeof(key), a5_key) == KEY_LEN);
	REQUIRE(unhex(ad, sizeof(ad), a5_ad) == sizeof(ad));
	slen = unhex(sealed, sizeof(sealed), a5_sealed);
	REQUIRE(slen == plen + AEAD_TAG_LEN);

	CHECK(aead_decrypt(buf, sealed, slen, ad, sizeof(ad), a5_nonce, key));
	CHECK(!memcmp(buf, a5_plain, plen));

	aead_encrypt(buf, (const uint8_t *)a5_plain, plen, ad, sizeof(ad),
		     a5_nonce, key);
	CHECK(!memcmp(buf, sealed, slen));

	/* In place, both ways. */
	memcpy(buf, a5_plain, plen);
	aead_encrypt(buf, buf, plen, ad, sizeof(ad), a5_nonce, key);
	CHECK(!memcmp(buf, sealed, slen));
	CHECK(aead_decrypt(buf, buf, slen, ad, sizeof(ad), a5_nonce, key));
	CHECK(!memcmp(buf, a5_plain, plen));
}

static void test_aead_nonce_layout(void)
{
	uint8_t key[KEY_LEN], in[64], out[64 + AEAD_TAG_LEN];

	fill_range(key, sizeof(key), 0);
	fill_range(in, sizeof(in), 0);
	/* Every byte of the counter distinct, to catch a byte-order slip. */
	aead_encrypt(out, in, sizeof(in), NULL, 0, 0xfedcba9876543210ULL, key);
	CHECK(eq_hex(out, sizeof(out),
		     "792b727c85254c92cb9a7f91b24fc9f5d8b2dc920372eab1a38786c4"
		     "a9d81a888120e5d72f62707c098e9eb6e29dbb6cdefa719532a4b384"
		     "34792318b25b567a256439829c87d2113db62d6a03e3152c"));
	/* A keepalive: nothing but a tag. */
	aead_encrypt(out, in, 0, NULL, 0, 0, key);
	CHECK(eq_hex(out, AEAD_TAG_LEN, "10324f800a160bd9a1794255be7ec29d"));
	CHECK(aead_decrypt(in, out, AEAD_TAG_LEN, NULL, 0, 0, key));
}

/* The data path's contexts remember their key: interleave three keys,
 * both directions, random nonces, lengths (0 included, small packets on
 * libsodium and large ones on OpenSSL) and ADs, with forged packets in
 * between, and check every result against libsodium's ChaCha20-Poly1305. */
static void test_aead_key_reuse(void)
{
	uint8_t keys[3][KEY_LEN], ad[16], pt[1500], ct[1500 + AEAD_TAG_LEN];
	uint8_t ref[1500 + AEAD_TAG_LEN], out[1500], n[12] = { 0 };
	unsigned long long rlen;
	int i, bad_enc = 0, bad_dec = 0, forged_ok = 0;

	random_bytes(keys, sizeof(keys));
	for (i = 0; i < 3000; ++i) {
		const uint8_t *key = keys[random_uniform(3)];
		uint64_t nonce = ((uint64_t)random_u32() << 32) | random_u32();
		size_t len = random_uniform(sizeof(pt) + 1);
		size_t adlen = random_uniform(sizeof(ad) + 1);
		int j;

		random_bytes(pt, len);
		random_bytes(ad, adlen);
		for (j = 0; j < 8; ++j)
			n[4 + j] = (uint8_t)(nonce >> (8 * j));
		aead_encrypt(ct, pt, len, ad, adlen, nonce, key);
		crypto_aead_chacha20poly1305_ietf_encrypt(
			ref, &rlen, pt, len, adlen ? ad : NULL, adlen, NULL, n,
			key);
		if (rlen != len + AEAD_TAG_LEN || memcmp(ct, ref, rlen))
			++bad_enc;
		if (i % 5 == 0) { /* a forgery, then the real one */
			ct[random_uniform((uint32_t)(len + AEAD_TAG_LEN))] ^= 4;
			if (aead_decrypt(out, ct, len + AEAD_TAG_LEN, ad, adlen,
					 nonce, key))
				++forged_ok;
			memcpy(ct, ref, rlen);
		}
		if (!aead_decrypt(out, ct, len + AEAD_TAG_LEN, ad, adlen, nonce,
				  key) ||
		    memcmp(out, pt, len))
			++bad_dec;
	}
	CHECK(bad_enc == 0);
	CHECK(bad_dec == 0);
	CHECK(forged_ok == 0);
}

/* The data path's AEAD borrows the AEAD_LEAD bytes before the data and
 * the AEAD_TRAIL after it: the seal's output is libsodium's, the open
 * (from one buffer into another) gives the plaintext back, and the lent
 * bytes come back as they were, except the tag. A forgery is refused and
 * its plaintext buffer is zero. The buffers are exactly what the contract
 * asks for, so ASan would see a read or write beyond it. */
static void test_aead_lent(void)
{
	enum { MAX = 1500 };
	uint8_t key[KEY_LEN], pt[MAX], ref[MAX + AEAD_TAG_LEN], n[12] = { 0 };
	uint8_t *a = malloc(AEAD_LEAD + MAX + AEAD_TRAIL);
	uint8_t *b = malloc(AEAD_LEAD + MAX + AEAD_TRAIL);
	uint8_t *ka = malloc(AEAD_LEAD + MAX + AEAD_TRAIL);
	uint8_t *kb = malloc(AEAD_LEAD + MAX + AEAD_TRAIL);
	unsigned long long rlen;
	int i, bad = 0, moved = 0, bad_open = 0, forged_ok = 0, not_wiped = 0;

	REQUIRE(a && b && ka && kb);
	random_bytes(key, sizeof(key));
	for (i = 0; i < 2000; ++i) {
		uint64_t nonce = ((uint64_t)random_u32() << 32) | random_u32();
		size_t len = i < 5 ? (size_t[]){ 511, 512, 513, 1420, MAX - AEAD_TAG_LEN }[i]
				   : random_uniform(MAX - AEAD_TAG_LEN + 1);
		size_t all = AEAD_LEAD + len + AEAD_TAG_LEN + AEAD_TRAIL;
		/* Both buffers end where the contract ends. */
		uint8_t *pa = a + (AEAD_LEAD + MAX + AEAD_TRAIL) - all;
		uint8_t *pb = b + (AEAD_LEAD + MAX + AEAD_TRAIL) - all;
		int j;

		random_bytes(pa, all);
		random_bytes(pb, all);
		memcpy(ka, pa, all);
		memcpy(kb, pb, all);
		random_bytes(pt, len);
		memcpy(pa + AEAD_LEAD, pt, len);
		for (j = 0; j < 8; ++j)
			n[4 + j] = (uint8_t)(nonce >> (8 * j));
		aead_seal_lent(pa + AEAD_LEAD, len, nonce, key);
		crypto_aead_chacha20poly1305_ietf_encrypt(ref, &rlen, pt, len,
							  NULL, 0, NULL, n, key);
		bad += memcmp(pa + AEAD_LEAD, ref, rlen) != 0;
		moved += memcmp(pa, ka, AEAD_LEAD) != 0;
		moved += memcmp(pa + AEAD_LEAD + rlen, ka + AEAD_LEAD + rlen,
				all - AEAD_LEAD - rlen) != 0;
		if (i % 4 == 0) {
			pa[AEAD_LEAD + random_uniform((uint32_t)rlen)] ^= 0x20;
			if (aead_open_lent(pb + AEAD_LEAD, pa + AEAD_LEAD, rlen,
					   nonce, key))
				++forged_ok;
			for (j = 0; j < (int)len; ++j)
				not_wiped += pb[AEAD_LEAD + j] != 0;
			continue;
		}
		if (!aead_open_lent(pb + AEAD_LEAD, pa + AEAD_LEAD, rlen, nonce,
				    key) ||
		    memcmp(pb + AEAD_LEAD, pt, len))
			++bad_open;
		moved += memcmp(pb, kb, AEAD_LEAD) != 0;
		moved += memcmp(pb + AEAD_LEAD + len, kb + AEAD_LEAD + len,
				all - AEAD_LEAD - len) != 0;
		/* In place, aead_decrypt opens it too. */
		if (!aead_decrypt(pa + AEAD_LEAD, pa + AEAD_LEAD, rlen, NULL, 0,
				  nonce, key) ||
		    memcmp(pa + AEAD_LEAD, pt, len))
			++bad_open;
	}
	CHECK(bad == 0);
	CHECK(moved == 0);
	CHECK(bad_open == 0);
	CHECK(forged_ok == 0);
	CHECK(not_wiped == 0);
	free(a);
	free(b);
	free(ka);
	free(kb);
}

static void test_aead_tamper(void)
{
	uint8_t key[KEY_LEN], ad[12], sealed[512], buf[512];
	size_t slen, i;

	REQUIRE(unhex(key, sizeof(key), a5_key) == KEY_LEN);
	REQUIRE(unhex(ad, sizeof(ad), a5_ad) == sizeof(ad));
	slen = unhex(sealed, sizeof(sealed), a5_sealed);
	REQUIRE(slen > AEAD_TAG_LEN);

	/* Any flipped bit, in ciphertext or tag, is caught. */
	for (i = 0; i < slen; i += 7) {
		sealed[i] ^= 1 << (i % 8);
		CHECK(!aead_decrypt(buf, sealed, slen, ad, sizeof(ad),
				    a5_nonce, key));
		sealed[i] ^= 1 << (i % 8);
	}
	sealed[slen - 1] ^= 0x80;
	CHECK(!aead_decrypt(buf, sealed, slen, ad, sizeof(ad), a5_nonce, key));
	sealed[slen - 1] ^= 0x80;

	ad[11] ^= 1;
	CHECK(!aead_decrypt(buf, sealed, slen, ad, sizeof(ad), a5_nonce, key));
	ad[11] ^= 1;
	CHECK(!aead_decrypt(buf, sealed, slen, ad, sizeof(ad) - 1, a5_nonce,
			    key));
	CHECK(!aead_decrypt(buf, sealed, slen, ad, sizeof(ad), a5_nonce + 1,
			    key));
	CHECK(!aead_decrypt(buf, sealed, slen, ad, sizeof(ad),
			    a5_nonce ^ (1ULL << 63), key));
	key[0] ^= 1;
	CHECK(!aead_decrypt(buf, sealed, slen, ad, sizeof(ad), a5_nonce, key));
	key[0] ^= 1;
	/* Truncated: shorter than a tag, or missing a byte. */
	CHECK(!aead_decrypt(buf, sealed, AEAD_TAG_LEN - 1, ad, sizeof(ad),
			    a5_nonce, key));
	CHECK(!aead_decrypt(buf, sealed, 0, ad, sizeof(ad), a5_nonce, key));
	CHECK(!aead_decrypt(buf, sealed, slen - 1, ad, sizeof(ad), a5_nonce,
			    key));
	/* And untouched, it still opens. */
	CHECK(aead_decrypt(buf, sealed, slen, ad, sizeof(ad), a5_nonce, key));
}

/* draft-irtf-cfrg-xchacha-03 appendix A.3.1. */
static void test_xaead(void)
{
	static const char plain[] =
		"Ladies and Gentlemen of the class of '99: If I could offer "
		"you only one tip for the future, sunscreen would be it.";
	static const char sealed_hex[] =
		"bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c2139"
		"6cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e"
		"1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2"
		"383565d3fff921f9664c97637da9768812f615c68b13b52e"
		"c0875924c1c7987947deafd8780acf49";
	uint8_t key[KEY_LEN], nonce[XAEAD_NONCE_LEN], ad[12];
	uint8_t sealed[256], buf[256];
	size_t plen = strlen(plain), slen, i;

	fill_range(key, sizeof(key), 0x80);
	fill_range(nonce, sizeof(nonce), 0x40);
	REQUIRE(unhex(ad, sizeof(ad), "50515253c0c1c2c3c4c5c6c7") == 12);
	slen = unhex(sealed, sizeof(sealed), sealed_hex);
	REQUIRE(slen == plen + AEAD_TAG_LEN);

	xaead_encrypt(buf, (const uint8_t *)plain, plen, ad, sizeof(ad), nonce,
		      key);
	CHECK(!memcmp(buf, sealed, slen));
	memset(buf, 0, sizeof(buf));
	CHECK(xaead_decrypt(buf, sealed, slen, ad, sizeof(ad), nonce, key));
	CHECK(!memcmp(buf, plain, plen));

	/* The cookie reply's shape: 16 bytes under a random nonce, in place. */
	random_bytes(nonce, sizeof(nonce));
	random_bytes(key, sizeof(key));
	fill_range(buf, 16, 0);
	xaead_encrypt(buf, buf, 16, ad, sizeof(ad), nonce, key);
	CHECK(xaead_decrypt(buf, buf, 16 + AEAD_TAG_LEN, ad, sizeof(ad),
			    nonce, key));
	for (i = 0; i < 16; ++i)
		CHECK(buf[i] == i);

	/* Tampering anywhere is rejected. */
	for (i = 0; i < slen; i += 5) {
		sealed[i] ^= 0x10;
		CHECK(!xaead_decrypt(buf, sealed, slen, ad, sizeof(ad), nonce,
				     key));
		sealed[i] ^= 0x10;
	}
	fill_range(key, sizeof(key), 0x80);
	fill_range(nonce, sizeof(nonce), 0x40);
	CHECK(xaead_decrypt(buf, sealed, slen, ad, sizeof(ad), nonce, key));
	nonce[23] ^= 1;
	CHECK(!xaead_decrypt(buf, sealed, slen, ad, sizeof(ad), nonce, key));
	nonce[23] ^= 1;
	nonce[0] ^= 1; /* the HChaCha20 half */
	CHECK(!xaead_decrypt(buf, sealed, slen, ad, sizeof(ad), nonce, key));
	nonce[0] ^= 1;
	ad[0] ^= 1;
	CHECK(!xaead_decrypt(buf, sealed, slen, ad, sizeof(ad), nonce, key));
	ad[0] ^= 1;
	CHECK(!xaead_decrypt(buf, sealed, AEAD_TAG_LEN - 1, ad, sizeof(ad),
			     nonce, key));
}

static void test_x25519_rfc7748(void)
{
	uint8_t a[KEY_LEN], b[KEY_LEN], pub_a[KEY_LEN], pub_b[KEY_LEN];
	uint8_t s1[KEY_LEN], s2[KEY_LEN], zero[KEY_LEN] = { 0 };
	uint8_t scalar[KEY_LEN], u[KEY_LEN];
	int i;

	/* Section 6.1. */
	REQUIRE(unhex(a, KEY_LEN, "77076d0a7318a57d3c16c17251b26645"
				  "df4c2f87ebc0992ab177fba51db92c2a") ==
		KEY_LEN);
	REQUIRE(unhex(b, KEY_LEN, "5dab087e624a8a4b79e17f8b83800ee6"
				  "6f3bb1292618b6fd1c2f8b27ff88e0eb") ==
		KEY_LEN);
	CHECK(curve25519_public(pub_a, a));
	CHECK(eq_hex(pub_a, KEY_LEN, "8520f0098930a754748b7ddcb43ef75a"
				     "0dbf3a0d26381af4eba4a98eaa9b4e6a"));
	CHECK(curve25519_public(pub_b, b));
	CHECK(eq_hex(pub_b, KEY_LEN, "de9edb7d7b7dc1b4d35b61c2ece43537"
				     "3f8343c85b78674dadfc7e146f882b4f"));
	CHECK(curve25519_dh(s1, a, pub_b));
	CHECK(curve25519_dh(s2, b, pub_a));
	CHECK(eq_hex(s1, KEY_LEN, "4a5d9d5ba4ce2de1728e3bf480350f25"
				  "e07e21c947d19e3376f09b3c1e161742"));
	CHECK(!memcmp(s1, s2, KEY_LEN));

	/* Section 5.2, first vector: an unclamped scalar, clamped on use. */
	REQUIRE(unhex(scalar, KEY_LEN, "a546e36bf0527c9d3b16154b82465edd"
				       "62144c0ac1fc5a18506a2244ba449ac4") ==
		KEY_LEN);
	REQUIRE(unhex(u, KEY_LEN, "e6db6867583030db3594c1a424b15f7c"
				  "726624ec26b3353b10a903a6d0ab1c4c") ==
		KEY_LEN);
	CHECK(curve25519_dh(s1, scalar, u));
	CHECK(eq_hex(s1, KEY_LEN, "c3da55379de9c6908e94ea4df28d084f"
				  "32eccf03491c71f754b4075577a28552"));

	/* The zero private key has no public key. */
	CHECK(!curve25519_public(pub_a, zero));

	/* Fresh secrets come out clamped and agree. */
	for (i = 0; i < 8; ++i) {
		curve25519_generate_secret(a);
		curve25519_generate_secret(b);
		CHECK((a[0] & 7) == 0 && (a[31] & 0x80) == 0 &&
		      (a[31] & 0x40));
		CHECK(curve25519_public(pub_a, a));
		CHECK(curve25519_public(pub_b, b));
		CHECK(curve25519_dh(s1, a, pub_b));
		CHECK(curve25519_dh(s2, b, pub_a));
		CHECK(!memcmp(s1, s2, KEY_LEN));
	}
}

/* Points of order 1, 2, 4 and 8 (the list behind the Linux selftest's
 * "public key = 0/1/..." cases and libsodium's blocklist), and the same
 * with the ignored top bit set. Each makes the shared secret all zero. */
static const char *const low_order[] = {
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"0100000000000000000000000000000000000000000000000000000000000080",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
};

/* curve25519_public (fixed-base Ed25519 + the birational map) against the
 * plain X25519 ladder: random secrets, unclamped ones (the top bit set,
 * the low bits set), and the edge scalars. */
static void test_x25519_public_paths(void)
{
	uint8_t s[KEY_LEN], fast[KEY_LEN], ladder[KEY_LEN];
	int i, bad = 0;

	for (i = 0; i < 20000; ++i) {
		random_bytes(s, KEY_LEN);
		if (i % 3 == 0)
			curve25519_generate_secret(s);
		if (!curve25519_public(fast, s) ||
		    !curve25519_public_ladder(ladder, s) ||
		    memcmp(fast, ladder, KEY_LEN))
			++bad;
	}
	CHECK(bad == 0);
	memset(s, 0xff, KEY_LEN); /* clamps to the largest scalar */
	CHECK(curve25519_public(fast, s) && curve25519_public_ladder(ladder, s) &&
	      !memcmp(fast, ladder, KEY_LEN));
	memset(s, 0, KEY_LEN);
	s[0] = 1; /* clamps to 2^254 */
	CHECK(curve25519_public(fast, s) && curve25519_public_ladder(ladder, s) &&
	      !memcmp(fast, ladder, KEY_LEN));
	memset(s, 0, KEY_LEN);
	CHECK(!curve25519_public(fast, s) && !curve25519_public_ladder(ladder, s));
}

static void test_x25519_low_order(void)
{
	uint8_t secret[KEY_LEN], point[KEY_LEN], out[KEY_LEN];
	size_t i;
	int k;

	for (i = 0; i < sizeof(low_order) / sizeof(low_order[0]); ++i) {
		REQUIRE(unhex(point, KEY_LEN, low_order[i]) == KEY_LEN);
		for (k = 0; k < 3; ++k) {
			if (k == 0)
				fill_range(secret, KEY_LEN, 1);
			else
				curve25519_generate_secret(secret);
			memset(out, 0x55, sizeof(out));
			if (curve25519_dh(out, secret, point)) {
				fprintf(stderr, "  accepted %s\n",
					low_order[i]);
				CHECK(!"low-order point accepted");
			}
			CHECK(crypto_is_zero(out, KEY_LEN));
		}
	}
}

static void test_base64(void)
{
	static const struct {
		const char *hex, *b64;
	} known[] = {
		{ "0000000000000000000000000000000000000000000000000000000000000000",
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" },
		{ "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		  "//////////////////////////////////////////8=" },
		{ "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		  "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=" },
	};
	static const char *const bad[] = {
		"",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		" AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAA!AAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAA=AAAAAAAAAAAAAAAAAAAAA=",
		/* URL-safe alphabet */
		"__________________________________________8=",
		"-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		/* non-canonical: bits past the key in the last character */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAC=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD=",
		"//////////////////////////////////////////9=",
		"//////////////////////////////////////////+=",
		"//////////////////////////////////////////==",
	};
	uint8_t key[KEY_LEN], want[KEY_LEN], back[KEY_LEN];
	char b64[KEY_B64_LEN + 1];
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); ++i) {
		REQUIRE(unhex(want, KEY_LEN, known[i].hex) == KEY_LEN);
		key_to_base64(b64, want);
		CHECK(!strcmp(b64, known[i].b64));
		CHECK(key_from_base64(key, known[i].b64));
		CHECK(!memcmp(key, want, KEY_LEN));
	}
	/* The lowest canonical neighbour of the non-canonical cases. */
	CHECK(key_from_base64(key,
			      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE="));
	CHECK(crypto_is_zero(key, KEY_LEN - 1) && key[KEY_LEN - 1] == 0x01);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		memset(key, 0x55, sizeof(key));
		if (key_from_base64(key, bad[i])) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(!"bad base64 accepted");
		}
	}

	for (i = 0; i < 200; ++i) {
		random_bytes(want, KEY_LEN);
		key_to_base64(b64, want);
		CHECK(strlen(b64) == KEY_B64_LEN);
		CHECK(b64[KEY_B64_LEN - 1] == '=');
		CHECK(key_from_base64(back, b64));
		CHECK(!memcmp(back, want, KEY_LEN));
	}
}

static void test_hex(void)
{
	static const char *const bad[] = {
		"",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
		"0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		" 00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"000102030405060708090a0b0c0d0e0f:01112131415161718191a1b1c1d1e1f",
	};
	uint8_t key[KEY_LEN], want[KEY_LEN], back[KEY_LEN];
	char hex[KEY_HEX_LEN + 1];
	size_t i;

	fill_range(want, KEY_LEN, 0);
	key_to_hex(hex, want);
	CHECK(!strcmp(hex, "000102030405060708090a0b0c0d0e0f"
			   "101112131415161718191a1b1c1d1e1f"));
	CHECK(key_from_hex(key, hex));
	CHECK(!memcmp(key, want, KEY_LEN));
	/* wg(8) takes either case. */
	CHECK(key_from_hex(key, "000102030405060708090A0B0C0D0E0F"
				"101112131415161718191A1B1C1D1E1F"));
	CHECK(!memcmp(key, want, KEY_LEN));

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		if (key_from_hex(key, bad[i])) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(!"bad hex accepted");
		}
	}

	for (i = 0; i < 200; ++i) {
		random_bytes(want, KEY_LEN);
		key_to_hex(hex, want);
		CHECK(strlen(hex) == KEY_HEX_LEN);
		CHECK(key_from_hex(back, hex));
		CHECK(!memcmp(back, want, KEY_LEN));
	}
}

static void test_siphash(void)
{
	/* The SipHash paper's appendix A: key 00..0f, input 00..0e. */
	uint8_t key[16], in[15];

	fill_range(key, sizeof(key), 0);
	fill_range(in, sizeof(in), 0);
	CHECK(siphash_u64(key, in, 15) == 0xa129ca6149be45e5ULL);
	CHECK(siphash_u64(key, in, 0) == 0x726fdb47dd0e0e31ULL);
}

static void test_equal_and_zero(void)
{
	uint8_t a[KEY_LEN], b[KEY_LEN];

	fill_range(a, KEY_LEN, 3);
	memcpy(b, a, KEY_LEN);
	CHECK(crypto_equal(a, b, KEY_LEN));
	b[KEY_LEN - 1] ^= 1;
	CHECK(!crypto_equal(a, b, KEY_LEN));
	memset(a, 0, KEY_LEN);
	CHECK(crypto_is_zero(a, KEY_LEN));
	a[17] = 1;
	CHECK(!crypto_is_zero(a, KEY_LEN));
	memzero(a, KEY_LEN);
	CHECK(crypto_is_zero(a, KEY_LEN));
}

/* random.c hands out batched kernel bytes: draws differ, and a forked
 * child does not repeat what its parent draws next (the batch is copied
 * into the child unless the page is wiped on fork). */
static void test_random_batches(void)
{
	uint8_t a[32], b[32], zero[32] = { 0 }, child[32];
	int fds[2], st;
	pid_t pid;
	unsigned i, same = 0;

	random_bytes(a, sizeof(a));
	random_bytes(b, sizeof(b));
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK(memcmp(a, zero, sizeof(a)) != 0);
	for (i = 0; i < 1000; ++i)
		same += random_u32() == random_u32();
	CHECK(same < 2);
	/* random_uniform: in range, every value seen, no bias to speak of */
	{
		unsigned seen[10] = { 0 }, bad = 0;

		for (i = 0; i < 10000; ++i) {
			uint32_t v = random_uniform(10);

			if (v >= 10)
				bad++;
			else
				seen[v]++;
		}
		CHECK(bad == 0);
		for (i = 0; i < 10; ++i)
			CHECK(seen[i] > 800 && seen[i] < 1200);
		CHECK(random_uniform(1) == 0);
	}
	REQUIRE(pipe(fds) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		random_bytes(child, sizeof(child));
		_exit(write(fds[1], child, sizeof(child)) == sizeof(child) ? 0 : 1);
	}
	random_bytes(a, sizeof(a));
	CHECK(read(fds[0], child, sizeof(child)) == sizeof(child));
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st));
	CHECK(memcmp(a, child, sizeof(a)) != 0);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	RUN(test_blake2s_hash);
	RUN(test_blake2s_keyed);
	RUN(test_hmac_blake2s);
	RUN(test_kdf);
	RUN(test_noise_construction);
	RUN(test_aead_rfc8439);
	RUN(test_aead_nonce_layout);
	RUN(test_aead_key_reuse);
	RUN(test_aead_lent);
	RUN(test_aead_tamper);
	RUN(test_xaead);
	RUN(test_x25519_rfc7748);
	RUN(test_x25519_public_paths);
	RUN(test_x25519_low_order);
	RUN(test_base64);
	RUN(test_hex);
	RUN(test_siphash);
	RUN(test_equal_and_zero);
	RUN(test_random_batches);
	return unit_done();
}

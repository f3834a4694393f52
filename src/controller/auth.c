/* Credentials: generating and hashing API keys and tokens, the derived node
 * token, the master key check, and per-source rate limiting of failures. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/controller.h"

/* Domain separation: a stored hash is never a hash used anywhere else. */
#define SECRET_HASH_LABEL "spokewire controller secret v1"
#define NODE_TOKEN_LABEL "spokewire node token v1"

void hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; ++i) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool hex_decode(uint8_t *out, size_t len, const char *in)
{
	size_t i;
	int hi, lo;

	if (strlen(in) != 2 * len)
		return false;
	for (i = 0; i < len; ++i) {
		hi = hex_nibble(in[2 * i]);
		lo = hex_nibble(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

void secret_generate(char out[SECRET_TEXT_LEN + 1], char kind)
{
	uint8_t raw[32];

	random_bytes(raw, sizeof(raw));
	out[0] = 's';
	out[1] = 'w';
	out[2] = kind;
	out[3] = '_';
	hex_encode(out + 4, raw, sizeof(raw));
	memzero(raw, sizeof(raw));
}

void secret_hash(uint8_t out[HASH_LEN], const char *secret)
{
	blake2s_hash(out, SECRET_HASH_LABEL, sizeof(SECRET_HASH_LABEL),
		     secret, strlen(secret));
}

void secret_hash_hex(char out[HASH_HEX_LEN + 1], const char *secret)
{
	uint8_t h[HASH_LEN];

	secret_hash(h, secret);
	hex_encode(out, h, sizeof(h));
}

void node_token_derive(const struct controller *ctl,
		       char out[SECRET_TEXT_LEN + 1], const char *node_id,
		       const char *public_key)
{
	struct hash_state st;
	uint8_t mac[32];

	/* MAC(secret, label || node_id || NUL || public_key) */
	blake2s_mac(mac, sizeof(mac), ctl->node_secret, KEY_LEN,
		    NODE_TOKEN_LABEL, sizeof(NODE_TOKEN_LABEL));
	hash_init(&st, sizeof(mac));
	hash_update(&st, mac, sizeof(mac));
	hash_update(&st, node_id, strlen(node_id) + 1);
	hash_update(&st, public_key, strlen(public_key));
	hash_final(&st, mac, sizeof(mac));
	memcpy(out, "swn_", 4);
	hex_encode(out + 4, mac, sizeof(mac));
	memzero(mac, sizeof(mac));
}

bool master_key_matches(const struct controller *ctl, const char *key)
{
	uint8_t h[HASH_LEN];
	bool ok;

	secret_hash(h, key);
	ok = crypto_equal(h, ctl->master_hash, HASH_LEN);
	memzero(h, sizeof(h));
	return ok;
}

void time_text(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A small open-addressed table of sources; when a probe window is full the
 * stalest entry goes, which at worst forgives that source early. */
enum { RL_SLOTS = 4096, RL_PROBE = 8, RL_ADDR_LEN = 16 };

struct rl_entry {
	uint8_t addr[RL_ADDR_LEN];
	uint64_t last_ns;
	double tokens;
	bool used;
};

struct ratelimit {
	pthread_mutex_t lock;
	double burst;
	double per_sec;
	uint8_t key[16];
	struct rl_entry slots[RL_SLOTS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct ratelimit *ratelimit_new(unsigned int burst, unsigned int per_sec)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	pthread_mutex_init(&rl->lock, NULL);
	rl->burst = burst;
	rl->per_sec = per_sec;
	random_bytes(rl->key, sizeof(rl->key));
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* Called with the lock held; refills the bucket. */
static struct rl_entry *lookup(struct ratelimit *rl, const void *addr,
			       size_t len, bool create)
{
	uint8_t key[RL_ADDR_LEN] = { 0 };
	struct rl_entry *e, *oldest = NULL;
	uint64_t now = now_ns();
	uint32_t h;
	unsigned int i;

	memcpy(key, addr, len < RL_ADDR_LEN ? len : RL_ADDR_LEN);
	blake2s_mac((uint8_t *)&h, sizeof(h), rl->key, sizeof(rl->key), key,
		    sizeof(key));
	for (i = 0; i < RL_PROBE; ++i) {
		e = &rl->slots[(h + i) % RL_SLOTS];
		if (e->used && !memcmp(e->addr, key, sizeof(key))) {
			e->tokens += (double)(now - e->last_ns) / 1e9 *
				     rl->per_sec;
			if (e->tokens > rl->burst)
				e->tokens = rl->burst;
			e->last_ns = now;
			return e;
		}
		if (!oldest || !e->used ||
		    (oldest->used && e->last_ns < oldest->last_ns))
			oldest = e;
	}
	if (!create)
		return NULL;
	memcpy(oldest->addr, key, sizeof(key));
	oldest->used = true;
	oldest->tokens = rl->burst;
	oldest->last_ns = now;
	return oldest;
}

bool ratelimit_allowed(struct ratelimit *rl, const void *addr, size_t len)
{
	struct rl_entry *e;
	bool ok;

	pthread_mutex_lock(&rl->lock);
	e = lookup(rl, addr, len, false);
	ok = !e || e->tokens >= 1.0;
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

void ratelimit_failed(struct ratelimit *rl, const void *addr, size_t len)
{
	struct rl_entry *e;

	pthread_mutex_lock(&rl->lock);
	e = lookup(rl, addr, len, true);
	e->tokens -= 1.0;
	if (e->tokens < 0)
		e->tokens = 0;
	pthread_mutex_unlock(&rl->lock);
}

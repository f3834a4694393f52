/* Random bytes from the kernel's generator (getrandom, through libsodium),
 * fetched RANDOM_REFILL bytes at a time: a responder handshake takes 36
 * (its ephemeral secret, its index), and one getrandom() per draw was about
 * 2% of a handshake on this VM; the rekey timer's jitter draws once per
 * packet sent after a quiet spell. The buffer is one page marked
 * MADV_WIPEONFORK, so a forked child finds it empty and refills instead of
 * repeating its parent's bytes; bytes are wiped as they are handed out, so
 * what stays in memory is only what has not been used yet. Where the kernel
 * refuses the advice every draw goes to the kernel. */
#include "crypto/crypto.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <sys/mman.h>

enum { RANDOM_PAGE = 4096, RANDOM_REFILL = 1024, RANDOM_MAX_DRAW = 64 };

struct random_pool {
	size_t avail; /* unused bytes at the end of buf; 0 after a fork */
	uint8_t buf[RANDOM_REFILL];
};

_Static_assert(sizeof(struct random_pool) <= RANDOM_PAGE, "one page");

static struct random_pool *pool;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void lock(void)
{
	pthread_mutex_lock(&pool_lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&pool_lock);
}

static void pool_setup(void)
{
	void *p = mmap(NULL, RANDOM_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	if (madvise(p, RANDOM_PAGE, MADV_WIPEONFORK) != 0 ||
	    madvise(p, RANDOM_PAGE, MADV_DONTDUMP) != 0) {
		munmap(p, RANDOM_PAGE);
		return;
	}
	/* A fork while another thread draws must not leave the child's
	 * lock held. */
	if (pthread_atfork(lock, unlock, unlock) != 0) {
		munmap(p, RANDOM_PAGE);
		return;
	}
	pool = p;
}

void random_bytes(void *buf, size_t len)
{
	uint8_t *src;

	pthread_once(&pool_once, pool_setup);
	if (!pool || len > RANDOM_MAX_DRAW) {
		randombytes_buf(buf, len);
		return;
	}
	lock();
	if (pool->avail < len) {
		randombytes_buf(pool->buf, sizeof(pool->buf));
		pool->avail = sizeof(pool->buf);
	}
	src = pool->buf + sizeof(pool->buf) - pool->avail;
	memcpy(buf, src, len);
	sodium_memzero(src, len);
	pool->avail -= len;
	unlock();
}

uint32_t random_u32(void)
{
	uint32_t v;

	random_bytes(&v, sizeof(v));
	return v;
}

/* Uniform in [0, upper) without modulo bias: draws below 2^32 mod upper
 * are rejected, as libsodium's randombytes_uniform does. */
uint32_t random_uniform(uint32_t upper)
{
	uint32_t min, r;

	if (upper < 2)
		return 0;
	min = (1U + ~upper) % upper;
	do
		r = random_u32();
	while (r < min);
	return r % upper;
}

/* The packet buffer pool: grows in chunks up to a ceiling, never shrinks. */
#include "wg/packet.h"

#include <stdlib.h>
#include <string.h>

void pktpool_init(struct pktpool *pool, size_t max_buffers)
{
	memset(pool, 0, sizeof(*pool));
	pool->max = max_buffers;
}

void pktpool_destroy(struct pktpool *pool)
{
	size_t i;

	for (i = 0; i < pool->nchunks; ++i)
		free(pool->chunks[i]);
	free(pool->chunks);
	memset(pool, 0, sizeof(*pool));
}

static int grow(struct pktpool *pool)
{
	struct pktbuf *chunk;
	void **chunks;

	if (pool->total + PKTBUF_CHUNK > pool->max)
		return -1;
	chunks = realloc(pool->chunks, (pool->nchunks + 1) * sizeof(*chunks));
	if (!chunks)
		return -1;
	pool->chunks = chunks;
	chunk = malloc(PKTBUF_CHUNK * sizeof(*chunk));
	if (!chunk)
		return -1;
	pool->chunks[pool->nchunks++] = chunk;
	/* Handed out from the front as needed, so untouched buffers cost no
	 * memory (a device with one quiet peer uses a few pages, not 1 MiB). */
	pool->carve = chunk;
	pool->ncarve = PKTBUF_CHUNK;
	pool->nfree += PKTBUF_CHUNK;
	pool->total += PKTBUF_CHUNK;
	return 0;
}

struct pktbuf *pktpool_get(struct pktpool *pool)
{
	struct pktbuf *pb;

	if (!pool->free && !pool->ncarve && grow(pool) < 0)
		return NULL;
	if (pool->free) {
		pb = pool->free;
		pool->free = pb->next;
	} else {
		pb = pool->carve++;
		pool->ncarve--;
	}
	pool->nfree--;
	pb->next = NULL;
	pb->off = PKTBUF_HEADROOM;
	pb->len = 0;
	pb->cb.ext = NULL;
	return pb;
}

void pktpool_put(struct pktpool *pool, struct pktbuf *pb)
{
	if (!pb)
		return;
	pb->next = pool->free;
	pool->free = pb;
	pool->nfree++;
}

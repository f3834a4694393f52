/* Send and receive buffers: byte streams in fixed chunks on a ring of
 * slots, so a buffer grows to many megabytes without copying, frees chunks
 * as data is acknowledged or read, and takes out-of-order data at its
 * offset. All chunks count against the stack's memory limit. */
#include "netstack/stack.h"

#include <stdlib.h>
#include <string.h>

static size_t share(const struct netstack *st, unsigned pct)
{
	size_t lim = st->cfg.mem_limit / 100 * pct;

	return st->tcp.mem_used >= lim ? 0 : lim - st->tcp.mem_used;
}

size_t tcp_mem_avail(const struct netstack *st)
{
	return share(st, 100);
}

size_t tcp_mem_avail_send(const struct netstack *st)
{
	return share(st, TCP_MEM_SEND_PCT);
}

void tcp_mem_wait(struct netstack_tcp *c)
{
	if (!tcp_list_linked(&c->mem_node))
		tcp_list_add_tail(&c->st->tcp.mem_wait, &c->mem_node);
}

static uint8_t *chunk_get(struct netstack *st, unsigned pct)
{
	struct tcp_stack *t = &st->tcp;
	uint8_t *p;

	if (share(st, pct) < TCP_BUF_CHUNK)
		return NULL;
	if (t->chunk_cache) {
		p = t->chunk_cache;
		memcpy(&t->chunk_cache, p, sizeof(void *));
		t->chunk_cache_n--;
	} else {
		p = malloc(TCP_BUF_CHUNK);
		if (!p)
			return NULL;
	}
	t->mem_used += TCP_BUF_CHUNK;
	if (t->mem_used > t->mem_peak)
		t->mem_peak = t->mem_used;
	return p;
}

static void chunk_put(struct netstack *st, uint8_t *p)
{
	struct tcp_stack *t = &st->tcp;

	t->mem_used -= TCP_BUF_CHUNK;
	if (t->chunk_cache_n < TCP_CHUNK_CACHE) {
		memcpy(p, &t->chunk_cache, sizeof(void *));
		t->chunk_cache = p;
		t->chunk_cache_n++;
	} else {
		free(p);
	}
	/* Wake senders that stopped for memory once some is back. */
	while (!tcp_list_empty(&t->mem_wait) &&
	       share(st, TCP_MEM_SEND_PCT) >= 4 * TCP_BUF_CHUNK) {
		struct netstack_tcp *c = tcp_container_of(
			t->mem_wait.next, struct netstack_tcp, mem_node);

		tcp_list_del(&c->mem_node);
		c->want_writable = false;
		tcp_event(c, TEV_WRITABLE);
	}
}

void tcp_buf_init(struct tcp_buf *b, uint32_t max, bool send)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
	b->send = send;
}

void tcp_buf_free(struct netstack *st, struct tcp_buf *b)
{
	uint32_t i;

	for (i = 0; i < b->nslots; ++i)
		if (b->slots[i])
			chunk_put(st, b->slots[i]);
	free(b->slots);
	b->slots = NULL;
	b->nslots = b->first = b->start = b->len = 0;
}

static unsigned pct_for(const struct tcp_buf *b, uint32_t off)
{
	if (b->send)
		return TCP_MEM_SEND_PCT;
	return off > b->len ? TCP_MEM_OOO_PCT : 100;
}

/* Makes sure slots cover offsets [0, end). */
static int reserve_slots(struct tcp_buf *b, uint32_t end)
{
	uint64_t need = ((uint64_t)b->start + end + TCP_BUF_CHUNK - 1) /
			TCP_BUF_CHUNK;
	uint32_t n = b->nslots ? b->nslots : 4, i;
	uint8_t **slots;

	if (need <= b->nslots)
		return 0;
	while (n < need)
		n *= 2;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -1;
	for (i = 0; i < b->nslots; ++i)
		slots[i] = b->slots[(b->first + i) & (b->nslots - 1)];
	free(b->slots);
	b->slots = slots;
	b->nslots = n;
	b->first = 0;
	return 0;
}

static inline uint8_t **slot_of(const struct tcp_buf *b, uint32_t off,
				uint32_t *within)
{
	uint64_t pos = (uint64_t)b->start + off;

	*within = (uint32_t)(pos % TCP_BUF_CHUNK);
	return &b->slots[(b->first + pos / TCP_BUF_CHUNK) & (b->nslots - 1)];
}

int tcp_buf_iov(struct netstack *st, struct tcp_buf *b, uint32_t off,
		uint32_t len, struct iovec *iov, int max, bool alloc)
{
	uint32_t within, n;
	uint8_t **slot;
	int cnt = 0;

	if (!len)
		return 0;
	if (alloc && reserve_slots(b, off + len) < 0)
		return 0;
	if ((uint64_t)b->start + off + len >
	    (uint64_t)b->nslots * TCP_BUF_CHUNK)
		return 0;
	while (len && cnt < max) {
		slot = slot_of(b, off, &within);
		if (!*slot) {
			if (!alloc)
				break;
			*slot = chunk_get(st, pct_for(b, off));
			if (!*slot)
				break;
		}
		n = TCP_BUF_CHUNK - within;
		if (n > len)
			n = len;
		iov[cnt].iov_base = *slot + within;
		iov[cnt].iov_len = n;
		cnt++;
		off += n;
		len -= n;
	}
	return cnt;
}

uint32_t tcp_buf_write(struct netstack *st, struct tcp_buf *b, uint32_t off,
		       const void *data, uint32_t len)
{
	struct iovec iov[8];
	const uint8_t *p = data;
	uint32_t done = 0;
	int n, i;

	while (done < len) {
		n = tcp_buf_iov(st, b, off + done, len - done, iov, 8, true);
		if (!n)
			break;
		for (i = 0; i < n; ++i) {
			memcpy(iov[i].iov_base, p + done, iov[i].iov_len);
			done += (uint32_t)iov[i].iov_len;
		}
	}
	return done;
}

void tcp_buf_read(const struct tcp_buf *b, uint32_t off, void *dst,
		  uint32_t len)
{
	uint8_t *d = dst;
	uint32_t within, n;
	uint8_t **slot;

	while (len) {
		slot = slot_of(b, off, &within);
		n = TCP_BUF_CHUNK - within;
		if (n > len)
			n = len;
		memcpy(d, *slot + within, n);
		d += n;
		off += n;
		len -= n;
	}
}

void tcp_buf_consume(struct netstack *st, struct tcp_buf *b, uint32_t len)
{
	uint32_t mask = b->nslots - 1;

	if (len > b->len)
		len = b->len;
	b->len -= len;
	if (!b->nslots)
		return;
	b->start += len;
	while (b->start >= TCP_BUF_CHUNK) {
		if (b->slots[b->first]) {
			chunk_put(st, b->slots[b->first]);
			b->slots[b->first] = NULL;
		}
		b->first = (b->first + 1) & mask;
		b->start -= TCP_BUF_CHUNK;
	}
}

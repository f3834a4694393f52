/* The gateway's pool of idle target connections (see pool.h). */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/pool.h"
#include "io/loop.h"

enum {
	POOL_MAX = 1024,    /* kept at once, all targets */
	POOL_IDLE_S = 30,   /* how long one is kept */
};

struct pooled {
	struct gw_pool *p;
	struct pooled *prev, *next;
	int fd;
	struct sockaddr_storage addr;
	uint64_t since;
};

struct gw_pool {
	struct loop *loop;
	struct pooled *head, *tail; /* newest first */
	size_t n;
};

static bool same_addr(const struct sockaddr_storage *a,
		      const struct sockaddr_storage *b)
{
	return a->ss_family == b->ss_family &&
	       !memcmp(a, b, a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in));
}

static void unlink_entry(struct pooled *e)
{
	struct gw_pool *p = e->p;

	if (e->prev)
		e->prev->next = e->next;
	else
		p->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		p->tail = e->prev;
	p->n--;
}

static void drop(struct pooled *e)
{
	loop_del(e->p->loop, e->fd);
	close(e->fd);
	unlink_entry(e);
	free(e);
}

/* An idle target connection spoke or closed: it is of no use now. */
static void on_pooled(struct loop *loop, int fd, unsigned events, void *arg)
{
	drop(arg);
}

struct gw_pool *gw_pool_new(struct loop *loop)
{
	struct gw_pool *p = calloc(1, sizeof(*p));

	if (p)
		p->loop = loop;
	return p;
}

void gw_pool_free(struct gw_pool *p)
{
	if (!p)
		return;
	while (p->head)
		drop(p->head);
	free(p);
}

int gw_pool_put(struct gw_pool *p, int fd, const struct sockaddr_storage *target)
{
	struct pooled *e;

	if (p->n >= POOL_MAX || !(e = calloc(1, sizeof(*e))))
		return -1;
	if (loop_rebind(p->loop, fd, on_pooled, e) < 0 ||
	    loop_mod(p->loop, fd, LOOP_READ) < 0) {
		free(e);
		return -1;
	}
	e->p = p;
	e->fd = fd;
	e->addr = *target;
	e->since = clock_mono_ns();
	e->next = p->head;
	if (e->next)
		e->next->prev = e;
	else
		p->tail = e;
	p->head = e;
	p->n++;
	return 0;
}

int gw_pool_take(struct gw_pool *p, const struct sockaddr_storage *target)
{
	struct pooled *e;
	int fd;

	for (e = p->head; e; e = e->next)
		if (same_addr(&e->addr, target))
			break;
	if (!e)
		return -1;
	fd = e->fd;
	unlink_entry(e);
	free(e);
	return fd;
}

void gw_pool_age(struct gw_pool *p, uint64_t now_ns)
{
	while (p->tail && now_ns - p->tail->since >= POOL_IDLE_S * 1000000000ull)
		drop(p->tail);
}

/* Batch worker pool: a generation counter wakes the threads, an atomic
 * cursor hands out chunks, a countdown tells the caller the batch is done.
 * Small batches run inline: waking a thread costs more than it saves. */
#include "io/workers.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

enum {
	CHUNK = 8,          /* items taken at a time */
	INLINE_BELOW = 24,  /* batches smaller than this skip the threads */
	SPIN_ROUNDS = 2000, /* polls before a thread sleeps */
};

struct workers {
	pthread_t *threads;
	unsigned nthreads;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	/* the current batch */
	void **items;
	void (*fn)(void *);
	unsigned n;
	atomic_uint cursor;
	atomic_uint active; /* threads still working on this batch */
	atomic_ulong generation;
	bool stop;
};

static void drain(struct workers *w)
{
	unsigned i, end;

	for (;;) {
		i = atomic_fetch_add(&w->cursor, CHUNK);
		if (i >= w->n)
			return;
		end = i + CHUNK < w->n ? i + CHUNK : w->n;
		for (; i < end; ++i)
			w->fn(w->items[i]);
	}
}

static void *thread_main(void *arg)
{
	struct workers *w = arg;
	unsigned long seen = 0;

	for (;;) {
		unsigned long gen = atomic_load(&w->generation);
		int spins;

		for (spins = 0; gen == seen && spins < SPIN_ROUNDS; ++spins)
			gen = atomic_load(&w->generation);
		if (gen == seen) {
			pthread_mutex_lock(&w->lock);
			while (!w->stop &&
			       (gen = atomic_load(&w->generation)) == seen)
				pthread_cond_wait(&w->wake, &w->lock);
			pthread_mutex_unlock(&w->lock);
		}
		if (w->stop)
			return NULL;
		seen = gen;
		drain(w);
		atomic_fetch_sub(&w->active, 1);
	}
}

struct workers *workers_new(unsigned nthreads)
{
	struct workers *w = calloc(1, sizeof(*w));
	unsigned i;

	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	if (nthreads) {
		w->threads = calloc(nthreads, sizeof(*w->threads));
		if (!w->threads)
			goto err;
	}
	for (i = 0; i < nthreads; ++i) {
		if (pthread_create(&w->threads[i], NULL, thread_main, w))
			break;
		w->nthreads++;
	}
	return w;
err:
	free(w);
	return NULL;
}

void workers_free(struct workers *w)
{
	unsigned i;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	atomic_fetch_add(&w->generation, 1);
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->nthreads; ++i)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	free(w->threads);
	free(w);
}

unsigned workers_count(const struct workers *w)
{
	return w ? w->nthreads : 0;
}

void workers_run(struct workers *w, void **items, unsigned n,
		 void (*fn)(void *item))
{
	unsigned i;

	if (!w || !w->nthreads || n < INLINE_BELOW) {
		for (i = 0; i < n; ++i)
			fn(items[i]);
		return;
	}
	w->items = items;
	w->fn = fn;
	w->n = n;
	atomic_store(&w->cursor, 0);
	atomic_store(&w->active, w->nthreads);
	pthread_mutex_lock(&w->lock);
	atomic_fetch_add(&w->generation, 1);
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	drain(w);
	/* The batch is done when every thread has left drain(). A thread
	 * that is not running yet holds us up: give it the CPU. */
	for (i = 0; atomic_load(&w->active); ++i)
		if (i > SPIN_ROUNDS)
			sched_yield();
}

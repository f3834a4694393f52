/* A small pool of threads that run one function over a batch of items and
 * return when the batch is done; the calling thread takes a share. Used to
 * spread per-packet crypto over cores while all bookkeeping stays on the
 * calling thread. */
#ifndef SPOKEWIRE_IO_WORKERS_H
#define SPOKEWIRE_IO_WORKERS_H

struct workers;

/* nthreads extra threads (0: everything runs on the caller). Returns a pool
 * the caller owns (workers_free), or NULL. */
struct workers *workers_new(unsigned nthreads);
void workers_free(struct workers *w);
unsigned workers_count(const struct workers *w);
/* fn(items[i]) for every i, in any order, on any of the threads. */
void workers_run(struct workers *w, void **items, unsigned n,
		 void (*fn)(void *item));

#endif

/* Single-threaded event loop over file descriptors plus one periodic tick
 * (redis ae.c in miniature). Backends: loop-epoll.c. */
#ifndef SPOKEWIRE_IO_LOOP_H
#define SPOKEWIRE_IO_LOOP_H

#include <stdint.h>

enum {
	LOOP_READ = 1,
	LOOP_WRITE = 2,
};

struct loop;
typedef void (*loop_fd_fn)(struct loop *loop, int fd, unsigned events,
			   void *arg);
typedef void (*loop_tick_fn)(struct loop *loop, void *arg);

/* Returns a loop the caller owns (loop_free), or NULL. */
struct loop *loop_new(void);
void loop_free(struct loop *loop);
/* 0 or -errno. fn is called with the ready LOOP_* events. */
int loop_add(struct loop *loop, int fd, unsigned events, loop_fd_fn fn,
	     void *arg);
int loop_mod(struct loop *loop, int fd, unsigned events);
/* Another handler for fd, its events kept (no syscall). 0 or -ENOENT. */
int loop_rebind(struct loop *loop, int fd, loop_fd_fn fn, void *arg);
int loop_del(struct loop *loop, int fd);
/* fn runs about every interval_ms; one tick per loop. */
void loop_set_tick(struct loop *loop, unsigned interval_ms, loop_tick_fn fn,
		   void *arg);
/* fn runs after each round of ready events (flush batched output there). */
void loop_set_idle(struct loop *loop, loop_tick_fn fn, void *arg);
/* After a wakeup that ends at least 1 ms of sleep, poll for up to ns before
 * sleeping again (0: never), spending at most 5% of the time that way. */
void loop_set_spin(struct loop *loop, uint64_t ns);
/* Runs until loop_stop(); returns 0 or -errno. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds. */
uint64_t clock_mono_ns(void);
uint64_t clock_real_ns(void);

#endif

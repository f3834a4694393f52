/* epoll backend of loop.h. Handlers live in a table indexed by fd. */
#include "io/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct handler {
	loop_fd_fn fn;
	void *arg;
	unsigned events;
};

struct loop {
	int epfd;
	bool stop;
	struct handler *handlers;
	int nhandlers;
	unsigned tick_ms;
	loop_tick_fn tick_fn, idle_fn;
	void *tick_arg, *idle_arg;
	uint64_t next_tick;
	/* Polling after an idle wakeup (loop_set_spin). */
	uint64_t spin_ns, spin_until, spin_credit, spin_credit_at;
};

uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t clock_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	close(loop->epfd);
	free(loop->handlers);
	free(loop);
}

static uint32_t to_epoll(unsigned events)
{
	return ((events & LOOP_READ) ? EPOLLIN : 0) |
	       ((events & LOOP_WRITE) ? EPOLLOUT : 0);
}

int loop_add(struct loop *loop, int fd, unsigned events, loop_fd_fn fn,
	     void *arg)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.fd = fd };

	if (fd < 0)
		return -EBADF;
	if (fd >= loop->nhandlers) {
		int n = fd + 64;
		struct handler *h = realloc(loop->handlers, n * sizeof(*h));

		if (!h)
			return -ENOMEM;
		memset(h + loop->nhandlers, 0,
		       (n - loop->nhandlers) * sizeof(*h));
		loop->handlers = h;
		loop->nhandlers = n;
	}
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	loop->handlers[fd] = (struct handler){ fn, arg, events };
	return 0;
}

int loop_rebind(struct loop *loop, int fd, loop_fd_fn fn, void *arg)
{
	if (fd < 0 || fd >= loop->nhandlers || !loop->handlers[fd].fn)
		return -ENOENT;
	loop->handlers[fd].fn = fn;
	loop->handlers[fd].arg = arg;
	return 0;
}

int loop_mod(struct loop *loop, int fd, unsigned events)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.fd = fd };

	if (fd < 0 || fd >= loop->nhandlers || !loop->handlers[fd].fn)
		return -ENOENT;
	if (loop->handlers[fd].events == events)
		return 0;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	loop->handlers[fd].events = events;
	return 0;
}

int loop_del(struct loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->nhandlers || !loop->handlers[fd].fn)
		return -ENOENT;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->handlers[fd] = (struct handler){ 0 };
	return 0;
}

void loop_set_tick(struct loop *loop, unsigned interval_ms, loop_tick_fn fn,
		   void *arg)
{
	loop->tick_ms = interval_ms;
	loop->tick_fn = fn;
	loop->tick_arg = arg;
	loop->next_tick = clock_mono_ns() + interval_ms * 1000000ULL;
}

void loop_set_idle(struct loop *loop, loop_tick_fn fn, void *arg)
{
	loop->idle_fn = fn;
	loop->idle_arg = arg;
}

void loop_set_spin(struct loop *loop, uint64_t ns)
{
	loop->spin_ns = ns;
	loop->spin_credit = ns;
	loop->spin_credit_at = clock_mono_ns();
}

/* A wakeup after a quiet spell is likely the start of an exchange (a ping,
 * a request) whose answer comes back within a round trip: keep polling for
 * a while instead of sleeping, which saves a wakeup (tens of microseconds
 * on a VM) per round trip. Busy loops never spin (their waits are short),
 * and the time spent spinning is capped at 1/SPIN_SHARE of the wall clock. */
enum { SPIN_IDLE_NS = 1000000, SPIN_SHARE = 20 };

static void spin_after_wait(struct loop *loop, uint64_t before, uint64_t after,
			    int n)
{
	loop->spin_credit += (after - loop->spin_credit_at) / SPIN_SHARE;
	loop->spin_credit_at = after;
	if (loop->spin_credit > loop->spin_ns)
		loop->spin_credit = loop->spin_ns;
	if (n <= 0 || after - before < SPIN_IDLE_NS)
		return;
	loop->spin_until = after + loop->spin_credit;
	loop->spin_credit = 0;
}

void loop_stop(struct loop *loop)
{
	loop->stop = true;
}

int loop_run(struct loop *loop)
{
	struct epoll_event evs[64];

	loop->stop = false;
	while (!loop->stop) {
		int timeout = -1, n, i;
		uint64_t now = clock_mono_ns();
		bool spinning;

		if (loop->tick_fn) {
			if (now >= loop->next_tick) {
				loop->next_tick = now + loop->tick_ms * 1000000ULL;
				loop->tick_fn(loop, loop->tick_arg);
				if (loop->idle_fn)
					loop->idle_fn(loop, loop->idle_arg);
				continue;
			}
			timeout = (int)((loop->next_tick - now) / 1000000ULL) + 1;
		}
		spinning = loop->spin_until > now;
		if (spinning)
			timeout = 0;
		n = epoll_wait(loop->epfd, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (spinning && !n) {
			/* Nothing yet: the CPU to whoever else wants it on
			 * this core (often the peer we wait for), then poll
			 * again. Yielding before the poll cost a round of
			 * switches when the answer was already there. */
			sched_yield();
			continue;
		}
		if (timeout != 0 && loop->spin_ns) /* no clock read otherwise */
			spin_after_wait(loop, now, clock_mono_ns(), n);
		for (i = 0; i < n; ++i) {
			int fd = evs[i].data.fd;
			unsigned events = 0;
			struct handler *h;

			if (fd >= loop->nhandlers || !loop->handlers[fd].fn)
				continue;
			h = &loop->handlers[fd];
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				events |= LOOP_READ;
			if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				events |= LOOP_WRITE;
			h->fn(loop, fd, events & (h->events | LOOP_READ),
			      h->arg);
			if (loop->stop)
				break;
		}
		if (loop->idle_fn)
			loop->idle_fn(loop, loop->idle_arg);
	}
	return 0;
}

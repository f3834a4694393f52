/* Long-polled GET /netmap: a request whose version is current is suspended
 * (it holds no thread) and resumed by this file's thread when the store's
 * version passes it or its timeout runs out. The thread re-reads the
 * versions when this controller writes (watch_notify) and, while anyone
 * waits, every watch_interval_ms: that is how changes made by another
 * controller on the same PostgreSQL reach our waiters. */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "controller/registry.h"
#include "controller/watch.h"

struct watch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct waiter head; /* circular list; head.next is the oldest */
	struct versions seen;
	bool dirty;
	bool stopping;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t watch_now_ms(void)
{
	return now_ms();
}

static bool passed(const struct waiter *w, const struct versions *v)
{
	return (w->hub ? v->all : v->hubs) > w->since;
}

/* Lock held. */
static void wake(struct controller *ctl, struct waiter *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->queued = false;
	atomic_fetch_sub(&ctl->metrics.waiters, 1);
	atomic_fetch_add(&ctl->metrics.resuming, 1);
	MHD_resume_connection(w->conn);
}

static void *watch_thread(void *arg)
{
	struct controller *ctl = arg;
	struct watch *wt = ctl->watch;
	struct waiter *w, *next;
	struct versions v;
	struct timespec ts;
	uint64_t now, until;

	pthread_mutex_lock(&wt->lock);
	while (!wt->stopping) {
		now = now_ms();
		until = now + ctl->watch_interval_ms;
		for (w = wt->head.next; w != &wt->head; w = w->next)
			if (w->deadline_ms < until)
				until = w->deadline_ms;
		if (!wt->dirty && until > now) {
			ts.tv_sec = (time_t)(until / 1000);
			ts.tv_nsec = (long)(until % 1000) * 1000000;
			pthread_cond_timedwait(&wt->cond, &wt->lock, &ts);
		}
		if (wt->stopping)
			break;
		if (wt->head.next == &wt->head && !wt->dirty)
			continue;
		wt->dirty = false;
		pthread_mutex_unlock(&wt->lock);
		if (registry_versions(ctl, &v))
			v = wt->seen;
		pthread_mutex_lock(&wt->lock);
		wt->seen = v;
		now = now_ms();
		for (w = wt->head.next; w != &wt->head; w = next) {
			next = w->next;
			if (passed(w, &v) || w->deadline_ms <= now)
				wake(ctl, w);
		}
	}
	while (wt->head.next != &wt->head)
		wake(ctl, wt->head.next);
	pthread_mutex_unlock(&wt->lock);
	return NULL;
}

int watch_start(struct controller *ctl)
{
	struct watch *wt = calloc(1, sizeof(*wt));
	pthread_condattr_t attr;
	int ret;

	if (!wt)
		return -ENOMEM;
	pthread_mutex_init(&wt->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wt->cond, &attr);
	pthread_condattr_destroy(&attr);
	wt->head.next = wt->head.prev = &wt->head;
	registry_versions(ctl, &wt->seen);
	ctl->watch = wt;
	ret = pthread_create(&wt->thread, NULL, watch_thread, ctl);
	if (ret) {
		ctl->watch = NULL;
		pthread_cond_destroy(&wt->cond);
		pthread_mutex_destroy(&wt->lock);
		free(wt);
		return -ret;
	}
	return 0;
}

void watch_stop(struct controller *ctl)
{
	struct watch *wt = ctl->watch;

	if (!wt)
		return;
	pthread_mutex_lock(&wt->lock);
	wt->stopping = true;
	pthread_cond_signal(&wt->cond);
	pthread_mutex_unlock(&wt->lock);
	pthread_join(wt->thread, NULL);
}

void watch_free(struct controller *ctl)
{
	struct watch *wt = ctl->watch;

	if (!wt)
		return;
	pthread_cond_destroy(&wt->cond);
	pthread_mutex_destroy(&wt->lock);
	free(wt);
	ctl->watch = NULL;
}

void watch_notify(struct controller *ctl)
{
	struct watch *wt = ctl->watch;

	if (!wt)
		return;
	pthread_mutex_lock(&wt->lock);
	wt->dirty = true;
	pthread_cond_signal(&wt->cond);
	pthread_mutex_unlock(&wt->lock);
}

bool watch_wait(struct controller *ctl, struct waiter *w)
{
	struct watch *wt = ctl->watch;
	bool suspended = false;

	if (!wt)
		return false;
	pthread_mutex_lock(&wt->lock);
	/* A change the caller's read missed may already have been seen. */
	if (!wt->stopping && !passed(w, &wt->seen)) {
		w->prev = wt->head.prev;
		w->next = &wt->head;
		wt->head.prev->next = w;
		wt->head.prev = w;
		w->queued = true;
		atomic_fetch_add(&ctl->metrics.waiters, 1);
		/* Under the lock, so the thread cannot resume us first. */
		MHD_suspend_connection(w->conn);
		pthread_cond_signal(&wt->cond);
		suspended = true;
	}
	pthread_mutex_unlock(&wt->lock);
	return suspended;
}

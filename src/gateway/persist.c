/* The state file written off the loop: a change is applied in memory at
 * once, its snapshot handed to a writer thread (temp, fsync, rename), and
 * the API's answer waits for that write while the proxy goes on serving;
 * an fsync takes milliseconds, and the loop is everyone's. Snapshots that
 * queue while a write runs are coalesced: the newest covers the others. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "io/file.h"
#include "io/loop.h"

struct gw_persist {
	struct gateway *g;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *pending;          /* the newest snapshot not yet written */
	uint64_t pending_seq, submitted, done_seq;
	int done_err;           /* of the write that reached done_seq */
	bool stop;
	int efd;                /* written when a write completes */
	char path[4096];
};

static void *writer(void *arg)
{
	struct gw_persist *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		char *text;
		uint64_t seq;
		int ret;

		while (!p->pending && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->pending)
			break;
		text = p->pending;
		seq = p->pending_seq;
		p->pending = NULL;
		pthread_mutex_unlock(&p->mu);
		ret = file_write_atomic(p->path, text, strlen(text), 0600);
		free(text);
		pthread_mutex_lock(&p->mu);
		p->done_seq = seq;
		p->done_err = ret;
		if (write(p->efd, &(uint64_t){ 1 }, 8) < 0) {
			/* the counter is full: the loop is reading it */
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void on_done(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct gw_persist *p = arg;
	uint64_t n, seq;
	int err;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&p->mu);
	seq = p->done_seq;
	err = p->done_err;
	pthread_mutex_unlock(&p->mu);
	gw_api_saved(p->g, seq, err);
}

int gw_persist_start(struct gateway *g)
{
	struct gw_persist *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	p->g = g;
	snprintf(p->path, sizeof(p->path), "%s", g->state_path);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		ret = -errno;
		free(p);
		return ret;
	}
	ret = loop_add(g->loop, p->efd, LOOP_READ, on_done, p);
	if (!ret) {
		/* The writer takes no signal: SIGTERM is the loop's (signalfd),
		 * and would kill the process unhandled here. */
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		ret = -pthread_create(&p->thread, NULL, writer, p);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (ret) {
		loop_del(g->loop, p->efd);
		close(p->efd);
		free(p);
		return ret;
	}
	g->persist = p;
	return 0;
}

uint64_t gw_persist_submit(struct gateway *g)
{
	struct gw_persist *p = g->persist;
	char *text = gw_state_text(g);
	uint64_t seq;

	if (!text)
		return 0;
	pthread_mutex_lock(&p->mu);
	free(p->pending);
	p->pending = text;
	seq = p->pending_seq = ++p->submitted;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return seq;
}

void gw_persist_stop(struct gateway *g)
{
	struct gw_persist *p = g->persist;

	if (!p)
		return;
	/* What was submitted is written before we go. */
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	on_done(g->loop, p->efd, LOOP_READ, p);
	loop_del(g->loop, p->efd);
	close(p->efd);
	free(p->pending);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
	g->persist = NULL;
}

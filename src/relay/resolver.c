/* Name resolution for the proxies without blocking the loop: one helper
 * thread runs getaddrinfo() over a queue; finished requests come back
 * through an eventfd and their callbacks run on the loop. A cancelled
 * request is still resolved, then dropped. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io/loop.h"
#include "relay/internal.h"

struct resolve_req {
	struct resolve_req *next;
	char host[CONF_HOST_MAX];
	uint16_t port;
	void (*done)(void *ctx, int err, const struct sockaddr_storage *addrs,
		     size_t n);
	void *ctx;
	bool cancelled; /* loop thread only */
	int err;
	size_t naddrs;
	struct sockaddr_storage addrs[RESOLVE_ADDRS_MAX];
};

struct resolver {
	struct loop *loop;
	int efd;
	pthread_t thread;
	bool started, stopping;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: waiting requests (FIFO) and finished ones. */
	struct resolve_req *todo_head, *todo_tail, *finished;
};

static void resolve_one(struct resolve_req *req)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8];
	int ret;

	snprintf(port, sizeof(port), "%u", req->port);
	ret = getaddrinfo(req->host, port, &hints, &res);
	if (ret) {
		req->err = ret == EAI_NONAME || ret == EAI_NODATA ? -ENOENT
								  : -EHOSTUNREACH;
		return;
	}
	/* Every family: which one can be reached is the caller's to say (a
	 * userspace node reaches only the families of its overlay
	 * addresses, whatever the host has). */
	req->naddrs = 0;
	for (ai = res; ai && req->naddrs < RESOLVE_ADDRS_MAX; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(req->addrs[0]))
			continue;
		memcpy(&req->addrs[req->naddrs++], ai->ai_addr, ai->ai_addrlen);
	}
	req->err = req->naddrs ? 0 : -ENOENT;
	freeaddrinfo(res);
}

static void *thread_main(void *arg)
{
	struct resolver *res = arg;
	struct resolve_req *req;
	uint64_t one = 1;

	pthread_mutex_lock(&res->lock);
	for (;;) {
		while (!res->todo_head && !res->stopping)
			pthread_cond_wait(&res->cond, &res->lock);
		if (res->stopping)
			break;
		req = res->todo_head;
		res->todo_head = req->next;
		if (!res->todo_head)
			res->todo_tail = NULL;
		pthread_mutex_unlock(&res->lock);
		resolve_one(req);
		pthread_mutex_lock(&res->lock);
		req->next = res->finished;
		res->finished = req;
		if (write(res->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow in practice. */
		}
	}
	pthread_mutex_unlock(&res->lock);
	return NULL;
}

static void on_event(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct resolver *res = arg;
	struct resolve_req *req, *next, *rev = NULL;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&res->lock);
	req = res->finished;
	res->finished = NULL;
	pthread_mutex_unlock(&res->lock);
	for (; req; req = next) { /* back into request order */
		next = req->next;
		req->next = rev;
		rev = req;
	}
	for (req = rev; req; req = next) {
		next = req->next;
		if (!req->cancelled)
			req->done(req->ctx, req->err, req->addrs,
				  req->err ? 0 : req->naddrs);
		free(req);
	}
}

struct resolver *resolver_new(struct loop *loop)
{
	struct resolver *res = calloc(1, sizeof(*res));

	if (!res)
		return NULL;
	res->loop = loop;
	res->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (res->efd < 0 || loop_add(loop, res->efd, LOOP_READ, on_event, res)) {
		if (res->efd >= 0)
			close(res->efd);
		free(res);
		return NULL;
	}
	pthread_mutex_init(&res->lock, NULL);
	pthread_cond_init(&res->cond, NULL);
	return res;
}

int resolver_start(struct resolver *res)
{
	sigset_t all, old;
	int ret;

	/* The thread inherits a full mask: signals stay the loop's (its
	 * signalfd), never a default action on this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&res->thread, NULL, thread_main, res);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (ret)
		return -ret;
	res->started = true;
	return 0;
}

struct resolve_req *resolve_start(struct resolver *res, const char *host,
				  uint16_t port,
				  void (*done)(void *ctx, int err,
					       const struct sockaddr_storage *addrs,
					       size_t n),
				  void *ctx)
{
	struct resolve_req *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	snprintf(req->host, sizeof(req->host), "%s", host);
	req->port = port;
	req->done = done;
	req->ctx = ctx;
	pthread_mutex_lock(&res->lock);
	if (res->todo_tail)
		res->todo_tail->next = req;
	else
		res->todo_head = req;
	res->todo_tail = req;
	pthread_cond_signal(&res->cond);
	pthread_mutex_unlock(&res->lock);
	return req;
}

void resolve_cancel(struct resolve_req *req)
{
	req->cancelled = true;
}

static void free_list(struct resolve_req *req)
{
	struct resolve_req *next;

	for (; req; req = next) {
		next = req->next;
		free(req);
	}
}

void resolver_free(struct resolver *res)
{
	if (!res)
		return;
	if (res->started) {
		pthread_mutex_lock(&res->lock);
		res->stopping = true;
		pthread_cond_signal(&res->cond);
		pthread_mutex_unlock(&res->lock);
		/* A getaddrinfo() in progress finishes first (its timeout). */
		pthread_join(res->thread, NULL);
	}
	free_list(res->todo_head);
	free_list(res->finished);
	loop_del(res->loop, res->efd);
	close(res->efd);
	pthread_mutex_destroy(&res->lock);
	pthread_cond_destroy(&res->cond);
	free(res);
}

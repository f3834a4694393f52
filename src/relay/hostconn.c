/* Non-blocking connects from the host side ([Expose], [Egress]): the
 * result comes back on the loop when the socket turns writable. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/loop.h"
#include "relay/internal.h"

struct host_connect {
	struct relay *r;
	int fd;
	void (*done)(void *ctx, int fd, int err);
	void *ctx;
};

static void on_writable(struct loop *loop, int fd, unsigned events,
			void *arg)
{
	struct host_connect *hc = arg;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	relay_clock(hc->r);
	loop_del(loop, fd);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		close(fd);
		hc->done(hc->ctx, -1, -soerr);
	} else {
		hc->done(hc->ctx, fd, 0);
	}
	free(hc);
}

struct host_connect *host_connect_start(struct relay *r,
					const struct sockaddr *sa,
					void (*done)(void *ctx, int fd, int err),
					void *ctx, int *err)
{
	struct host_connect *hc;
	int fd, one = 1, ret;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, sa, relay_sockaddr_len(sa)) < 0 &&
	    errno != EINPROGRESS) {
		*err = -errno;
		close(fd);
		return NULL;
	}
	hc = calloc(1, sizeof(*hc));
	if (!hc) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	hc->r = r;
	hc->fd = fd;
	hc->done = done;
	hc->ctx = ctx;
	ret = loop_add(r->loop, fd, LOOP_WRITE, on_writable, hc);
	if (ret < 0) {
		close(fd);
		free(hc);
		*err = ret;
		return NULL;
	}
	return hc;
}

void host_connect_cancel(struct host_connect *hc)
{
	loop_del(hc->r->loop, hc->fd);
	close(hc->fd);
	free(hc);
}

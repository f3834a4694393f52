/* libmicrohttpd on our event loop (see loop-http.h). */
#include "io/loop-http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/loop.h"

struct loop_http {
	struct loop *loop;
	struct MHD_Daemon *mhd;
	int epoll_fd;
};

/* "ADDR:PORT", "[V6]:PORT" or "PORT" into sa; *bare for a bare port. */
int loop_http_parse_addr(const char *addr, struct sockaddr_storage *ss,
			 bool *bare)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char *end;
	unsigned long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	*bare = !colon;
	port = strtoul(colon ? colon + 1 : addr, &end, 10);
	if (*end || (!port && !colon) || port > 65535)
		return -EINVAL;
	if (!colon) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return 0;
	}
	hl = (size_t)(colon - addr);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1
			       ? 0
			       : -EINVAL;
	}
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &in4->sin_addr) == 1 ? 0 : -EINVAL;
}

int loop_http_listen(const char *addr, const char *ifname, int *port,
		       char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool bare;
	int fd, one = 1, ret;

	ret = loop_http_parse_addr(addr, &ss, &bare);
	if (ret) {
		snprintf(err, errlen, "Status '%s': ADDR:PORT, [ADDR]:PORT or PORT", addr);
		return ret;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* A bare port: every address of the overlay interface, and no
	 * other (the status-page deployment's "port 8000 on the VPN"). */
	if (bare && ifname &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
		       (socklen_t)strlen(ifname) + 1) < 0)
		goto fail;
	len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
				       : sizeof(struct sockaddr_in);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0)
		goto fail;
	if (port) {
		len = sizeof(ss);
		getsockname(fd, (struct sockaddr *)&ss, &len);
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
fail:
	ret = -errno;
	snprintf(err, errlen, "Status %s%s%s: cannot listen: %s", addr,
		 bare && ifname ? " on " : "", bare && ifname ? ifname : "",
		 strerror(-ret));
	if (fd >= 0)
		close(fd);
	return ret;
}

/* MHD_run, again while MHD says it has work left that no fd will wake it
 * for (a resumed connection's next request, already read). */
static void run(struct loop_http *s)
{
	MHD_UNSIGNED_LONG_LONG ms;
	int i;

	MHD_run(s->mhd);
	for (i = 0; i < 8 && MHD_get_timeout(s->mhd, &ms) == MHD_YES && !ms; ++i)
		MHD_run(s->mhd);
}

static void on_ready(struct loop *loop, int fd, unsigned events, void *arg)
{
	run(arg);
}

int loop_http_start(struct loop *loop, int fd, MHD_AccessHandlerCallback h,
		    void *cls, const struct loop_http_opts *o,
		    struct loop_http **out)
{
	struct loop_http *s = calloc(1, sizeof(*s));
	const union MHD_DaemonInfo *info;
	int ret;

	*out = NULL;
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->loop = loop;
	s->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			(o->suspend ? MHD_ALLOW_SUSPEND_RESUME : 0), 0, NULL, NULL, h, cls,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, o->conn_limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->conn_memory,
		MHD_OPTION_NOTIFY_COMPLETED, o->done, NULL,
		MHD_OPTION_END);
	if (!s->mhd) {
		close(fd);
		free(s);
		return -ENOMEM;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	s->epoll_fd = info ? info->epoll_fd : -1;
	ret = s->epoll_fd < 0 ? -EINVAL
			      : loop_add(loop, s->epoll_fd, LOOP_READ, on_ready, s);
	if (ret < 0) {
		MHD_stop_daemon(s->mhd);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void loop_http_tick(struct loop_http *s)
{
	if (s)
		run(s);
}

void loop_http_stop(struct loop_http *s)
{
	if (!s)
		return;
	loop_del(s->loop, s->epoll_fd);
	MHD_stop_daemon(s->mhd);
	free(s);
}

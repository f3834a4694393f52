/* The client side of the UAPI socket, as wg(8) speaks it: one request, the
 * reply up to its blank line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "uapi/uapi.h"

#define WG_RUN_DIR "/var/run/wireguard"

enum { UAPI_REPLY_MAX = 16 << 20 };

int uapi_client_connect(const char *iface)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (snprintf(sun.sun_path, sizeof(sun.sun_path), WG_RUN_DIR "/%s.sock",
		     iface) >= (int)sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* The reply's "errno=N" (wireguard-go writes -N) as -errno; -EPROTO if
 * there is none. */
static int reply_errno(const char *buf)
{
	const char *e = strstr(buf, "errno=");
	long v;

	if (!e)
		return -EPROTO;
	v = strtol(e + 6, NULL, 10);
	if (v < -4095 || v > 4095)
		return -EPROTO;
	return v < 0 ? (int)v : -(int)v;
}

int uapi_client_call(const char *iface, const char *req, char **reply)
{
	size_t len = 0, cap = 4096, off = 0, n_req = strlen(req);
	char *buf = NULL, *nbuf;
	ssize_t n;
	int fd, ret = 0;

	fd = uapi_client_connect(iface);
	if (fd < 0)
		return fd;
	while (off < n_req) {
		n = write(fd, req + off, n_req - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		off += (size_t)n;
	}
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= UAPI_REPLY_MAX) {
				ret = -EMSGSIZE;
				goto out;
			}
			nbuf = malloc(cap * 2);
			if (!nbuf) {
				ret = -ENOMEM;
				goto out;
			}
			memcpy(nbuf, buf, len);
			/* get replies carry the private key */
			memzero(buf, cap);
			free(buf);
			buf = nbuf;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (n == 0 || (len >= 2 && !strcmp(buf + len - 2, "\n\n")) ||
		    !strcmp(buf, "\n"))
			break;
	}
	ret = reply_errno(buf);
	close(fd);
	*reply = buf; /* also with the reply's error: it may say more */
	return ret;
out:
	close(fd);
	if (ret && buf) {
		memzero(buf, cap);
		free(buf);
		buf = NULL;
	}
	*reply = buf;
	return ret;
}


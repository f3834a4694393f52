/* The client side of the UAPI socket, as wg(8) speaks it: one request, the
 * reply up to its blank line. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "uapi/uapi.h"

#define WG_RUN_DIR "/var/run/wireguard"

enum { UAPI_REPLY_MAX = 16 << 20 };

int uapi_private_dir(char *out, size_t len, bool create)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (xdg && xdg[0] == '/')
		n = snprintf(out, len, "%s/spokewire", xdg);
	else
		n = snprintf(out, len, "/tmp/spokewire-%u", (unsigned)getuid());
	if (n < 0 || (size_t)n >= len || (size_t)n + 20 > UAPI_PATH_MAX)
		return -ENAMETOOLONG;
	if (!create)
		return 0;
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* /tmp is everyone's: only a directory of ours, for us alone. */
	if (lstat(out, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 0077))
		return -EPERM;
	return 0;
}

static int connect_path(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ret;

	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >=
	    (int)sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int uapi_client_connect(const char *iface)
{
	static const char *const others[] = { "/run/user/*/spokewire",
					      "/tmp/spokewire-*" };
	char path[UAPI_PATH_MAX + 32], dir[UAPI_PATH_MAX];
	int fd, first;
	size_t i, k;

	if (!iface[0] || strchr(iface, '/') || strchr(iface, '*') ||
	    strchr(iface, '?') || strchr(iface, '['))
		return -EINVAL;
	snprintf(path, sizeof(path), WG_RUN_DIR "/%s.sock", iface);
	first = fd = connect_path(path);
	if (fd != -ENOENT)
		return fd;
	if (!uapi_private_dir(dir, sizeof(dir), false)) {
		snprintf(path, sizeof(path), "%s/%s.sock", dir, iface);
		fd = connect_path(path);
		if (fd != -ENOENT)
			return fd;
	}
	for (i = 0; i < sizeof(others) / sizeof(others[0]); ++i) {
		glob_t g;

		snprintf(path, sizeof(path), "%s/%s.sock", others[i], iface);
		if (glob(path, 0, NULL, &g))
			continue;
		for (k = 0; k < g.gl_pathc; ++k) {
			fd = connect_path(g.gl_pathv[k]);
			if (fd >= 0)
				break;
		}
		globfree(&g);
		if (fd >= 0)
			return fd;
	}
	return first;
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


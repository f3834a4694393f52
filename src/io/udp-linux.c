/* Socket setup for udp.h: dual sockets, large buffers, fwmark, UDP GRO. */
#include "io/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <unistd.h>

enum {
	SOCKET_BUFFER = 16 << 20,
	PORT_RETRIES = 100,
};

static void set_buffers(int fd)
{
	int sz = SOCKET_BUFFER;

	/* FORCE works as root past rmem_max; fall back silently. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int open_one(int family, uint16_t port, uint32_t fwmark,
		    uint16_t *bound, bool *gro)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr = { 0 };
	socklen_t len;
	int fd, one = 1, ret;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons(port);
		len = sizeof(addr.in6);
	} else {
		addr.in4.sin_family = AF_INET;
		addr.in4.sin_port = htons(port);
		len = sizeof(addr.in4);
	}
	if (fwmark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0)
		goto err;
	set_buffers(fd);
	*gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	/* Each datagram's local address, so replies leave from the address
	 * the peer dialled (a multi-homed host's secondary, another link's). */
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	else
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	if (bind(fd, &addr.sa, len) < 0)
		goto err;
	if (getsockname(fd, &addr.sa, &len) < 0)
		goto err;
	*bound = ntohs(family == AF_INET6 ? addr.in6.sin6_port
					  : addr.in4.sin_port);
	return fd;
err:
	ret = -errno;
	close(fd);
	return ret;
}

int udp_open(struct udp_socks *s, uint16_t port, uint32_t fwmark)
{
	int tries, fd4, fd6;
	uint16_t bound4 = 0, bound6 = 0;
	bool gro4 = false, gro6 = false;

	for (tries = 0; tries < PORT_RETRIES; ++tries) {
		fd4 = open_one(AF_INET, port, fwmark, &bound4, &gro4);
		if (fd4 < 0 && fd4 != -EAFNOSUPPORT)
			return fd4;
		fd6 = open_one(AF_INET6, fd4 >= 0 ? bound4 : port, fwmark,
			       &bound6, &gro6);
		if (fd6 == -EADDRINUSE && !port && fd4 >= 0) {
			close(fd4);
			continue; /* the random port is taken for IPv6 */
		}
		if (fd6 < 0 && fd6 != -EAFNOSUPPORT) {
			if (fd4 >= 0)
				close(fd4);
			return fd6;
		}
		if (fd4 < 0 && fd6 < 0)
			return -EAFNOSUPPORT;
		s->fd4 = fd4;
		s->fd6 = fd6;
		s->port = fd4 >= 0 ? bound4 : bound6;
		s->fwmark = fwmark;
		s->gro = (fd4 < 0 || gro4) && (fd6 < 0 || gro6);
		return 0;
	}
	return -EADDRINUSE;
}

void udp_close(struct udp_socks *s)
{
	if (s->fd4 >= 0)
		close(s->fd4);
	if (s->fd6 >= 0)
		close(s->fd6);
	s->fd4 = s->fd6 = -1;
}

int udp_set_fwmark(struct udp_socks *s, uint32_t fwmark)
{
	int fds[2] = { s->fd4, s->fd6 }, i;

	for (i = 0; i < 2; ++i)
		if (fds[i] >= 0 && setsockopt(fds[i], SOL_SOCKET, SO_MARK,
					      &fwmark, sizeof(fwmark)) < 0)
			return -errno;
	s->fwmark = fwmark;
	return 0;
}

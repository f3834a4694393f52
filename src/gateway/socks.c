/* In userspace mode the mesh is inside `spokewire up`'s own TCP/IP stack,
 * not the kernel's: the gateway reaches a target through the node's SOCKS5
 * proxy on loopback ([Proxy] Socks5 in its config; RFC 1928, no
 * authentication, CONNECT only). The exchange runs on the non-blocking
 * socket after its connect completes; nothing else is sent until the
 * proxy says the target answered. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "gateway/gateway.h"

enum {
	SOCKS_VER = 5,
	SOCKS_NO_AUTH = 0,
	SOCKS_CONNECT = 1,
	ATYP_IPV4 = 1,
	ATYP_NAME = 3,
	ATYP_IPV6 = 4,
};

/* The proxy's reply code as the errno a direct connect would give. */
static int reply_errno(uint8_t rep)
{
	switch (rep) {
	case 2: return -EACCES;       /* not allowed by ruleset */
	case 3: return -ENETUNREACH;
	case 4: return -EHOSTUNREACH;
	case 5: return -ECONNREFUSED;
	case 6: return -ETIMEDOUT;    /* TTL expired */
	default: return -EPROTO;
	}
}

int gw_socks_step(int fd, struct gw_socks *s, const struct sockaddr_storage *target)
{
	ssize_t n;

	if (!s->sent) {
		uint8_t req[3 + 4 + 16 + 2], *p = req;

		*p++ = SOCKS_VER, *p++ = 1, *p++ = SOCKS_NO_AUTH;
		*p++ = SOCKS_VER, *p++ = SOCKS_CONNECT, *p++ = 0;
		if (target->ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const void *)target;

			*p++ = ATYP_IPV6;
			memcpy(p, &a->sin6_addr, 16), p += 16;
			memcpy(p, &a->sin6_port, 2), p += 2;
		} else {
			const struct sockaddr_in *a = (const void *)target;

			*p++ = ATYP_IPV4;
			memcpy(p, &a->sin_addr, 4), p += 4;
			memcpy(p, &a->sin_port, 2), p += 2;
		}
		/* Fits any socket buffer: all of it goes, or an error. */
		n = send(fd, req, (size_t)(p - req), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n != p - req)
			return n < 0 ? -errno : -EPROTO;
		s->sent = true;
		s->need = 2 + 5; /* the method reply, the reply's first 5 */
	}
	while (s->have < s->need) {
		n = recv(fd, s->buf + s->have, s->need - s->have, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		s->have += (size_t)n;
		if (s->have == 7 && s->need == 7) {
			if (s->buf[0] != SOCKS_VER || s->buf[1] != SOCKS_NO_AUTH ||
			    s->buf[2] != SOCKS_VER)
				return -EPROTO;
			if (s->buf[3])
				return reply_errno(s->buf[3]);
			/* The bound address's length, then the port. */
			s->need = 2 + 4 + (s->buf[5] == ATYP_IPV4 ? 4
					   : s->buf[5] == ATYP_IPV6 ? 16
					   : s->buf[5] == ATYP_NAME ? 1u + s->buf[6]
								    : 0) + 2;
			if (s->need == 2 + 4 + 2)
				return -EPROTO;
		}
	}
	return 1;
}

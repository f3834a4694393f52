/* The device's UDP sockets: one IPv4 and one IPv6 (v6only) socket on the same
 * port, batched with recvmmsg/sendmmsg. Backend: udp-linux.c. */
#ifndef SPOKEWIRE_IO_UDP_H
#define SPOKEWIRE_IO_UDP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct udp_socks {
	int fd4, fd6;
	uint16_t port;
	uint32_t fwmark;
	bool gro; /* UDP_GRO accepted: reads may hold several datagrams */
};

/* Binds both families to port (0: a random port free in both). 0 or -errno;
 * on error *s is untouched. */
int udp_open(struct udp_socks *s, uint16_t port, uint32_t fwmark);
void udp_close(struct udp_socks *s);
int udp_set_fwmark(struct udp_socks *s, uint32_t fwmark);

#endif

/* The device daemon: one WireGuard interface over a TUN device and UDP
 * sockets, configured through the UAPI socket. */
#ifndef SPOKEWIRE_DEVICE_DAEMON_H
#define SPOKEWIRE_DEVICE_DAEMON_H

#include <net/if.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "io/udp.h"
#include "wg/wg.h"

struct loop;
struct uapi_server;
struct uapi_config;

enum {
	BATCH = 64,
	POOL_MAX_BUFFERS = 8192,
	TICK_MS = 100,
};

struct tx_slot {
	struct pktbuf *pb;
	union endpoint ep;
};

struct daemon {
	char ifname[IFNAMSIZ];
	int tun_fd;
	struct udp_socks udp;
	struct loop *loop;
	struct uapi_server *uapi;
	struct pktpool pool;
	struct wg_device *wg;
	int signal_fd;
	int verbose;
	unsigned ticks;

	struct tx_slot tx[BATCH];
	unsigned ntx;
	struct pktbuf *rx[BATCH];
	uint64_t tun_write_errors;
};

/* Creates the TUN device and UAPI socket (before daemonising, so callers
 * that configure right after we return find them). 0 or -errno. */
int daemon_setup(struct daemon *d, const char *ifname);
/* Runs the event loop until the interface is deleted or a signal arrives. */
int daemon_run(struct daemon *d);
void daemon_teardown(struct daemon *d);

/* apply.c: UAPI get/set against the running device. */
int daemon_uapi_get(void *ctx, struct uapi_config *cfg);
int daemon_uapi_set(void *ctx, const struct uapi_config *cfg);
int daemon_udp_open(struct daemon *d, uint16_t port, uint32_t fwmark);

void daemon_log(const struct daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

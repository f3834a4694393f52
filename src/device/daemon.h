/* The device daemon: one WireGuard interface over a TUN device and UDP
 * sockets, configured through the UAPI socket. */
#ifndef SPOKEWIRE_DEVICE_DAEMON_H
#define SPOKEWIRE_DEVICE_DAEMON_H

#include <net/if.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <jansson.h>

#include "io/udp.h"
#include "wg/wg.h"

struct loop;
struct uapi_server;
struct workers;
struct uapi_config;
struct status_http;

/* What status.c needs beyond the device: set by the command that runs
 * the daemon (all optional). */
struct daemon_status {
	char name[64];          /* node name ("" : the interface's) */
	const char *role;       /* "device", "node", "hub", "agent" */
	char data_dir[256];     /* the disk figure's directory */
	unsigned health_age_s;  /* HealthHandshakeAge (180) */
	uint8_t (*health_peers)[32]; /* HealthPeers' public keys */
	size_t n_health_peers;
	uint64_t started_real_ns, started_mono_ns;
	uint64_t tun_gone_at;   /* mono ns: the TUN vanished, we linger */
	struct status_http *http;
};

enum {
	TX_BATCH = 512,        /* outer datagrams queued before a flush */
	TUN_BATCH = 512,       /* inner packets queued for the TUN */
	RX_MSGS = 16,          /* recvmmsg messages, each up to 64 KiB (GRO) */
	RX_BUF = 65536 + 256,
	TUN_READS = 16,        /* TUN reads per readiness event */
	HELD_TAILS = 64,       /* fragment tails held to a read batch's end */
	FRAG_WAIT = 64,        /* received fragments kept for the next batch */
	POOL_MAX_BUFFERS = 16384,
	TUN_TXQUEUELEN = 16384,
	TICK_MS = 100,
	STATUS_LINGER_S = 30,
	/* A live session rekeys within 120 s and dies at 180 s. */
	STATUS_HEALTH_AGE_S = 180,  /* a vanished TUN reported before we exit */
};

/* The inner side of the device when it is not a TUN: where decrypted
 * packets go (userspace mode: the netstack). Outbound inner packets enter
 * through wg_send() from the inner side's own events. */
struct daemon_inner {
	/* A decrypted, checked inner packet; ownership passes. */
	void (*deliver)(void *ctx, struct pktbuf *pb);
	/* After each batch, before the queued datagrams are sent: output
	 * deferred during the batch (it may call wg_send()). */
	void (*flush)(void *ctx);
	/* SIGUSR1: counters to stderr. May be NULL. */
	void (*report)(void *ctx);
	/* /status: the inner side's figures added to obj ("stack",
	 * "relay"). May be NULL. */
	void (*status)(void *ctx, json_t *obj);
	/* After a UAPI set: peers or their AllowedIPs may be gone. May be
	 * NULL. */
	void (*peers_changed)(void *ctx);
	/* /health: its checks added to checks; true if one fails. May be
	 * NULL. */
	bool (*health)(void *ctx, json_t *checks);
	/* `spokewire reload`: what the UAPI does not carry, re-read from the
	 * config file at path; msg (len bytes) says what changed or why not.
	 * May be NULL (-EOPNOTSUPP). 0 or -errno. */
	int (*reload)(void *ctx, const char *path, char *msg, size_t len);
};

struct tx_slot {
	struct pktbuf *pb;
	union endpoint ep; /* to; from is pb->cb.src */
};

struct daemon {
	char ifname[IFNAMSIZ];
	int tun_fd; /* -1 with an inner side */
	int tun_ifindex;  /* in our namespace; 0 once it moved elsewhere */
	int link_fd;      /* rtnetlink link events, -1 if none */
	const struct daemon_inner *inner;
	void *inner_ctx;
	struct udp_socks udp;
	struct loop *loop;
	struct uapi_server *uapi;
	struct pktpool pool;
	struct wg_device *wg;
	int signal_fd;
	int verbose;
	struct daemon_status status;
	/* `reload` for a daemon without an inner side (TUN-mode `up`): the
	 * config's friendly names. May be NULL. */
	int (*reload)(struct daemon *d, const char *path, char *msg,
		      size_t len);
	unsigned ticks;

	bool tun_offload; /* TSO in, GRO-coalesced writes out */
	bool tun_uso;     /* the same for UDP */
	bool udp_gso;     /* UDP_SEGMENT sends, until the kernel refuses */
	struct workers *workers; /* crypto fan-out; see datapath_init */
	uint8_t *tun_rbuf;
	uint8_t *rx_bufs; /* RX_MSGS * RX_BUF */

	struct tx_slot tx[TX_BATCH];
	unsigned ntx;
	struct pktbuf *tun_out[TUN_BATCH];
	unsigned ntun_out;
	struct pktbuf *held[HELD_TAILS];
	unsigned nheld;
	struct pktbuf *frag_wait[FRAG_WAIT]; /* see defrag4_unfinished */
	unsigned nfrag_wait, frag_wait_tick;

	struct {
		uint64_t tun_write_errors, udp_send_errors, tun_read_drops;
		uint64_t gso_sends, gro_reads, tun_coalesced, tun_writes;
		uint64_t tun_defrag; /* fragments joined before the TUN */
		uint64_t frag_waits; /* fragments kept for the next batch */
		uint64_t src_forgotten; /* local addresses that stopped working */
	} stats;
};

/* Creates the TUN device and UAPI socket (before daemonising, so callers
 * that configure right after we return find them). 0 or -errno. */
int daemon_setup(struct daemon *d, const char *ifname);
/* The same without a TUN: inner packets go to inner (borrowed, with ctx). */
int daemon_setup_inner(struct daemon *d, const char *ifname,
		       const struct daemon_inner *inner, void *ctx);
/* Runs the event loop until the interface is deleted or a signal arrives. */
int daemon_run(struct daemon *d);
void daemon_teardown(struct daemon *d);

/* The TUN went away: stop now, or, when a status listener may be asked,
 * report fail for STATUS_LINGER_S first. */
void daemon_tun_gone(struct daemon *d);
/* Gives the protocol core the time before it handles a batch. */
void daemon_update_clock(struct daemon *d);

/* datapath.c */
extern const struct wg_ops daemon_wg_ops;
int datapath_init(struct daemon *d);
int datapath_start_workers(struct daemon *d);
void datapath_free(struct daemon *d);
void datapath_on_tun(struct loop *loop, int fd, unsigned events, void *arg);
void datapath_on_udp(struct loop *loop, int fd, unsigned events, void *arg);
/* Sends queued datagrams and writes queued inner packets. */
void datapath_flush(struct daemon *d);
/* Writes the fragments kept for a next batch that has not come since the
 * last tick. */
void datapath_flush_waiting(struct daemon *d);

/* apply.c: UAPI get/set against the running device. */
int daemon_uapi_get(void *ctx, struct uapi_config *cfg);
int daemon_uapi_set(void *ctx, const struct uapi_config *cfg);
int daemon_udp_open(struct daemon *d, uint16_t port, uint32_t fwmark);

void daemon_log(const struct daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

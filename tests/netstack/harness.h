/* Internals of `spokewire netstack-harness` (a test tool): the emulated
 * path between TUN and stack in netstack-harness-path.c, the sink, source,
 * echo and connect applications in netstack-harness-apps.c, options and the
 * event loop in netstack-harness.c. */
#ifndef SPOKEWIRE_CLI_NETSTACK_HARNESS_H
#define SPOKEWIRE_CLI_NETSTACK_HARNESS_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/loop.h"
#include "netstack/netstack.h"

enum {
	MAX_SERVICES = 16,
	PATTERN_LEN = 1 << 20,
	TUN_BATCH = 64,
	POOL_BUFFERS = 16384,
};

enum mode {
	MODE_SINK,
	MODE_SOURCE,
	MODE_ECHO,
	MODE_CONNECT,
};

struct service {
	struct harness *h;
	enum mode mode;
	uint16_t port;
	bool pause;   /* a sink that stops reading for a while */
	uint64_t bytes;
	struct netstack_listener *l;
};

struct hconn {
	struct hconn *prev, *next;
	struct harness *h;
	struct netstack_tcp *c;
	enum mode mode;
	unsigned id;
	uint64_t to_send, sent, received;
	uint64_t t_start;
	EVP_MD_CTX *tx, *rx;
	bool eof, shut, done;
	bool pause, paused;
	uint64_t pause_until;
	uint8_t snd_ws, rcv_ws;
	bool sack, ts;
};

enum {
	DIR_IN,  /* kernel -> stack */
	DIR_OUT, /* stack -> kernel */
	DELAY_SLOTS = 32768,
};

struct delay_queue {
	struct {
		uint64_t at;
		struct pktbuf *pb;
	} ring[DELAY_SLOTS];
	unsigned head, tail;
};

struct harness {
	struct loop *loop;
	struct netstack *st;
	struct pktpool pool;
	int tun_fd, sig_fd;
	struct service svc[MAX_SERVICES];
	unsigned nsvc;
	struct netstack_addr connect_to;
	uint64_t connect_bytes;
	unsigned connect_count;
	uint64_t pause_after, pause_ms;
	uint32_t loss_ppm, reorder_ppm;
	uint64_t rng;
	struct pktbuf *held[2];       /* reordering: one packet held */
	uint64_t held_at[2];
	struct delay_queue dq[2];
	uint64_t delay_ns;
	/* A slow receiver in front of the kernel (stack -> kernel): a queue
	 * of at most rx_limit bytes, drained rx_rate bytes/s in bursts of
	 * rx_burst_ns, dropping what arrives when it is full: a UDP socket
	 * with a small buffer and a reader that comes by now and then (as
	 * wireguard-go's 208 KiB default). */
	struct delay_queue rxq;
	uint64_t rx_limit, rx_queued, rx_rate, rx_burst_ns, rx_next;
	uint64_t rx_drops;
	int relay_fd;
	unsigned next_id, finished, exit_after, live;
	uint64_t dropped[2], reordered, tun_write_errors;
	struct netstack_udp *udp_echo;
	struct hconn *conns;
	bool verbose;
};

/* netstack-harness-path.c */
extern const struct netstack_ops harness_ops;
/* A non-blocking fd attached to the existing TUN name, or -errno. */
int harness_tun_attach(const char *name);
/* A packet onto the path in direction dir (ownership passes). */
void harness_path(struct harness *h, int dir, struct pktbuf *pb);
/* Delivers delayed and held packets that are due. */
void harness_release(struct harness *h);
void harness_on_tun(struct loop *loop, int fd, unsigned events, void *arg);
void harness_on_relay_tun(struct loop *loop, int fd, unsigned events,
			  void *arg);

/* netstack-harness-apps.c */
extern const struct netstack_listener_ops harness_svc_ops;
extern const struct netstack_udp_ops harness_udp_echo_ops;
extern const struct netstack_tcp_ops harness_conn_ops;
int harness_make_pattern(void);
void harness_free_pattern(void);
void harness_print_stats(struct harness *h);
/* A connection record owned by h (hconn_free, or its end). */
struct hconn *hconn_new(struct harness *h, struct netstack_tcp *c,
			enum mode mode, uint64_t bytes);
void hconn_free(struct hconn *hc);
/* Resumes a paused sink. */
void hconn_drain(struct hconn *hc);

#endif

/* spokewire's TCP/IP stack for userspace mode: IPv4/IPv6, ICMP echo, UDP and
 * TCP (RFC 9293 with window scaling, timestamps, SACK, CUBIC) terminating the
 * tunnel's inner traffic so the daemon can relay it over host sockets.
 *
 * Like the WireGuard core it does no I/O and reads no clock. The embedder
 *   - feeds inbound IP packets with netstack_input() (ownership passes),
 *   - receives outbound IP packets through netstack_ops.output() (ownership
 *     passes; buffers come from the pktpool given to netstack_new()),
 *   - sets the time with netstack_set_clock() before each batch of calls,
 *   - calls netstack_flush() after each batch of input (the event loop's idle
 *     hook): ACKs and window updates are coalesced until then,
 *   - calls netstack_tick() when netstack_next_timer() is due (or every few
 *     milliseconds; timers are late by at most the tick interval).
 * Everything runs on the caller's thread: no locks, no threads.
 *
 * Callbacks (connected, readable, writable, closed, syn, udp recv, echo
 * request) are never made from inside an API call the application itself
 * made, except where noted; they may call any netstack function, including
 * close and abort.
 *
 * Handles: a struct netstack_tcp stays valid until the application calls
 * netstack_tcp_close() or netstack_tcp_abort() on it, even after closed()
 * reported the end of the connection. After close/abort no callback is made
 * for it. The same holds for listeners and UDP sockets with their close
 * functions. netstack_free() releases everything without callbacks.
 *
 * Errors are 0 or -errno. Backpressure is explicit both ways: send accepts
 * only what fits the (autotuned, memory-limited) send buffer, recv drains a
 * receive buffer whose advertised window shrinks while the application does
 * not read. Nothing queues without bound. Send buffers get at most 75% of
 * mem_limit, so received data always finds memory; a send cut short by the
 * limit gets writable() when memory frees.
 *
 * Embedding in the device (userspace mode), one stack per interface:
 *   wg_ops.deliver(pb)       -> netstack_input(st, pb)
 *   netstack_ops.output(pb)  -> wg_send(wg, pb)
 *   loop idle hook           -> netstack_flush(st)
 *   loop tick (1-10 ms), or a timer at netstack_next_timer()
 *                            -> netstack_set_clock(); netstack_tick(st)
 * A relay pairs a struct netstack_tcp with a host socket: readable() ->
 * recv_peek/writev/recv_consume as far as the socket takes it (stop, and
 * resume on the socket's POLLOUT: our window closes meanwhile); the
 * socket's POLLIN -> send or send_reserve/readv/send_commit while there is
 * send space (stop, resume on writable()); EOF either way -> shutdown(). */
#ifndef SPOKEWIRE_NETSTACK_H
#define SPOKEWIRE_NETSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "wg/packet.h"

struct netstack;
struct netstack_tcp;      /* one TCP connection */
struct netstack_listener; /* a listening TCP socket */
struct netstack_udp;      /* a UDP socket */

/* An address and port. family is AF_INET or AF_INET6; for binds and
 * listens AF_UNSPEC means either family. In binds an all-zero ip means any
 * of our addresses (any address at all with NETSTACK_TRANSPARENT) and port
 * 0 any port. IPv4 uses ip[0..3]. Ports are in host byte order. */
struct netstack_addr {
	uint16_t family;
	uint16_t port;
	uint8_t ip[16];
};

struct sockaddr;
/* Conversions to and from socket addresses. to_sockaddr returns the length
 * written (sockaddr_in or sockaddr_in6), from_sockaddr 0 or -EAFNOSUPPORT. */
size_t netstack_addr_to_sockaddr(const struct netstack_addr *a,
				 struct sockaddr *sa);
int netstack_addr_from_sockaddr(struct netstack_addr *a,
				const struct sockaddr *sa);
/* "10.0.0.1:80" / "[fd00::1]:80" into buf (at least 64 bytes). */
const char *netstack_addr_str(const struct netstack_addr *a, char *buf,
			      size_t len);

enum netstack_cc {
	NETSTACK_CC_CUBIC,
	NETSTACK_CC_NEWRENO,
	/* Model-based, after BBR: paces the window to the measured
	 * bottleneck bandwidth and minimum RTT, and does not back off on
	 * random loss (lossy tunnels). */
	NETSTACK_CC_BBR,
};

struct netstack_config {
	unsigned mtu;            /* tunnel MTU; MSS = mtu - 40 (v4) / 60 (v6) */
	size_t mem_limit;        /* all TCP buffers of the stack together */
	size_t tcp_rbuf_max;     /* per-connection receive buffer ceiling */
	size_t tcp_sbuf_max;     /* per-connection send buffer ceiling */
	size_t tcp_buf_initial;  /* both buffers start here and autotune up */
	enum netstack_cc cc;
	unsigned max_conns;      /* TCP connections, TIME-WAIT included */
	unsigned syn_backlog;    /* half-open + deferred per listener */
	uint32_t keepalive_idle_ms, keepalive_intvl_ms, keepalive_cnt;
	uint32_t time_wait_ms;   /* 2 * MSL */
	/* Test knobs: leave out options from our SYNs (the peer's are
	 * honoured only when both sides offer them). */
	bool no_sack, no_wscale, no_timestamps;
};

/* Defaults: mtu 1420, mem_limit 256 MiB, buffers 64 KiB growing to 32 MiB,
 * NETSTACK_CC_BBR (tunnels lose packets that no queue dropped: a loss-based
 * window collapses at 1% loss), 65536 connections, backlog 1024, keepalive
 * 7200 s / 75 s / 9, TIME-WAIT 60 s. */
void netstack_config_default(struct netstack_config *cfg);

struct netstack_ops {
	/* An outbound IP packet at pkt_data(pb), pb->len bytes, with at least
	 * PKTBUF_HEADROOM of headroom. Ownership of pb passes to the callee. */
	void (*output)(void *ctx, struct pktbuf *pb);
	/* Optional: one line about something that should not happen (a
	 * stalled connection), for the embedder's log. */
	void (*log)(void *ctx, const char *msg);
	/* Optional: may we open towards dst? Asked by netstack_tcp_connect()
	 * and by a send from a UDP socket bound to an ephemeral port (a
	 * client's); false fails them with -EACCES. The policy of a node that
	 * answers its peers but never opens towards them. */
	bool (*may_open)(void *ctx, const struct netstack_addr *dst);
};

/* Returns a stack the caller owns (netstack_free), or NULL on ENOMEM.
 * cfg NULL: defaults. pool is borrowed and must outlive the stack. */
struct netstack *netstack_new(const struct netstack_config *cfg,
			      const struct netstack_ops *ops, void *ctx,
			      struct pktpool *pool);
/* Frees every socket and buffer; no callbacks, nothing sent. */
void netstack_free(struct netstack *st);

/* Our addresses (family AF_INET/AF_INET6, ip 4 or 16 bytes): echo replies,
 * RSTs for closed ports and specific binds need them. 0, -EEXIST, -ENOENT,
 * -ENOSPC. */
int netstack_add_addr(struct netstack *st, int family, const void *ip);
int netstack_del_addr(struct netstack *st, int family, const void *ip);
/* Tunnel MTU for new connections (576..PKTBUF_SIZE - PKTBUF_HEADROOM). */
int netstack_set_mtu(struct netstack *st, unsigned mtu);

/* Whether ip (4 or 16 bytes) is one of our addresses. */
bool netstack_is_local(const struct netstack *st, int family, const void *ip);

/* For a router beside the stack (a node routing between its peers): the
 * ICMP(v6) error a router sends about the IP packet ip (len bytes), from
 * our first address of its family to its source, quoting it; rate limited
 * with the stack's own errors. Never about an ICMP error, a later fragment
 * or a multicast source (RFC 1812 4.3.2.7). 0, -EINVAL (not answerable),
 * -EADDRNOTAVAIL (no address of the family), -EAGAIN (rate limit),
 * -ENOBUFS. */
enum netstack_icmp_error {
	NETSTACK_ICMP_PROHIBITED,   /* destination unreachable: admin */
	NETSTACK_ICMP_TTL_EXCEEDED, /* time exceeded in transit */
};
int netstack_icmp_error(struct netstack *st, const uint8_t *ip, size_t len,
			enum netstack_icmp_error why);

/* Monotonic time in nanoseconds; never goes backwards. */
void netstack_set_clock(struct netstack *st, uint64_t mono_ns);

enum netstack_verdict {
	NETSTACK_PKT_OK,      /* consumed by a socket, or answered */
	NETSTACK_PKT_DROP,    /* malformed, bad checksum, or no taker */
};
/* One inbound IP packet. Takes ownership of pb. Socket callbacks run from
 * here. */
enum netstack_verdict netstack_input(struct netstack *st, struct pktbuf *pb);
/* Sends the ACKs and window updates deferred during the last batch. */
void netstack_flush(struct netstack *st);
/* Runs expired timers (retransmission, delayed ACK, persist, keepalive,
 * TIME-WAIT). */
void netstack_tick(struct netstack *st);
/* The earliest timer deadline in mono ns, or UINT64_MAX. */
uint64_t netstack_next_timer(const struct netstack *st);

struct netstack_stats {
	uint64_t ip_in, ip_out, ip_in_drops, ip_bad_csum, ip_no_buffer;
	uint64_t icmp_echo_replies, icmp_unreach_sent, icmp_in_errors;
	uint64_t icmp_echo_passed;  /* requests handed to the echo handler */
	uint64_t udp_in, udp_out, udp_no_port, udp_refused;
	uint64_t tcp_in, tcp_out, tcp_retransmits, tcp_fast_retransmits;
	uint64_t tcp_rto_expired, tcp_ooo_segments, tcp_dup_segments;
	uint64_t tcp_lost_retransmits, tcp_tail_loss_probes;
	uint64_t tcp_stalls;  /* data outstanding, nothing sent for 2 RTOs */
	uint64_t tcp_sack_blocks_in, tcp_rst_sent, tcp_rst_in;
	uint64_t tcp_zero_window_sent, tcp_persist_probes;
	uint64_t tcp_keepalive_probes, tcp_syn_refused, tcp_syn_dropped;
	uint64_t tcp_conns_opened, tcp_conns_closed;
	uint64_t tcp_conns, tcp_time_wait; /* current */
	uint64_t mem_used, mem_peak;       /* TCP buffer bytes */
};
void netstack_get_stats(const struct netstack *st, struct netstack_stats *s);

/* ------------------------------------------------------------------ TCP */

struct netstack_tcp_ops {
	/* Active open, or a passive one after the handshake completed. */
	void (*connected)(void *ctx, struct netstack_tcp *c);
	/* New in-order data, or the peer's FIN (recv then returns 0). */
	void (*readable)(void *ctx, struct netstack_tcp *c);
	/* Send space opened after a send/send_reserve came up short. */
	void (*writable)(void *ctx, struct netstack_tcp *c);
	/* The connection is over: 0 after an orderly close of both
	 * directions, else -ECONNRESET, -ECONNREFUSED, -ETIMEDOUT,
	 * -EHOSTUNREACH, -ENETUNREACH, -ECONNABORTED. The handle stays valid
	 * (recv/send return the error) until close/abort. */
	void (*closed)(void *ctx, struct netstack_tcp *c, int err);
};

/* What a listener does with a SYN. */
enum netstack_accept {
	NETSTACK_ACCEPT,          /* answer with SYN-ACK now */
	NETSTACK_DEFER,           /* hold it; netstack_tcp_accept/_refuse */
	NETSTACK_REFUSE_RST,      /* reset, as for a closed port */
	NETSTACK_REFUSE_PROHIBITED, /* ICMP(v6) administratively prohibited */
	NETSTACK_REFUSE_HOST_UNREACH, /* ICMP(v6) host/address unreachable */
	NETSTACK_REFUSE_NET_UNREACH,  /* ICMP(v6) network/no route */
	NETSTACK_REFUSE_PORT_UNREACH, /* ICMP(v6) port unreachable */
	NETSTACK_REFUSE_DROP,     /* silence */
};

struct netstack_listener_ops {
	/* A new SYN for a connection c (addresses via netstack_tcp_local/
	 * remote). On NETSTACK_ACCEPT or NETSTACK_DEFER the application owns
	 * c and sets its ops with netstack_tcp_set_ops() (connected() follows
	 * once the handshake completes); on a refusal the stack frees c when
	 * the callback returns. A NULL syn accepts everything, and c is then
	 * handed over by accepted(). */
	enum netstack_accept (*syn)(void *ctx, struct netstack_listener *l,
				    struct netstack_tcp *c);
	/* Only when syn is NULL: an established connection now owned by the
	 * application. */
	void (*accepted)(void *ctx, struct netstack_listener *l,
			 struct netstack_tcp *c);
};

/* Bind flags for listeners and UDP sockets. */
enum {
	/* Also take traffic addressed to addresses that are not ours: an
	 * exit node (egress) terminating connections to any destination. */
	NETSTACK_TRANSPARENT = 1,
};

/* Listen on local: one address and port, any address (ip all zero) on one
 * port, or any address and any port (port 0, for egress with
 * NETSTACK_TRANSPARENT). The most specific listener wins: address before
 * any-address, port before any-port, ours before transparent. *out is owned
 * by the caller (netstack_listener_close). 0, -EADDRINUSE, -EINVAL,
 * -ENOMEM. */
int netstack_tcp_listen(struct netstack *st, const struct netstack_addr *local,
			unsigned flags, const struct netstack_listener_ops *ops,
			void *ctx, struct netstack_listener **out);
/* Stops listening; established and half-open connections are unaffected
 * (the half-open ones finish into nothing and are reset). */
void netstack_listener_close(struct netstack_listener *l);

/* Active open to remote. local NULL, or with port 0 or ip zero: our first
 * address of remote's family and an ephemeral port. *out is owned by the
 * caller; connected() or closed(err) follows. 0, -EADDRNOTAVAIL,
 * -EADDRINUSE, -ENOBUFS (connection limit), -ENOMEM, -EACCES (refused by
 * ops->may_open). */
int netstack_tcp_connect(struct netstack *st, const struct netstack_addr *local,
			 const struct netstack_addr *remote,
			 const struct netstack_tcp_ops *ops, void *ctx,
			 struct netstack_tcp **out);
/* A deferred SYN (NETSTACK_DEFER): answer it now, or refuse it. Refusing
 * frees c. 0 or -EINVAL if c is not deferred. A deferred SYN not decided in
 * 60 s is reset and reported with closed(-ETIMEDOUT). */
int netstack_tcp_accept(struct netstack_tcp *c);
int netstack_tcp_refuse(struct netstack_tcp *c, enum netstack_accept how);

void netstack_tcp_set_ops(struct netstack_tcp *c,
			  const struct netstack_tcp_ops *ops, void *ctx);
void *netstack_tcp_ctx(const struct netstack_tcp *c);
const struct netstack_addr *netstack_tcp_local(const struct netstack_tcp *c);
const struct netstack_addr *netstack_tcp_remote(const struct netstack_tcp *c);

/* Copies up to len bytes into the send buffer: the count accepted (0 when
 * the buffer is full: writable() follows), or -EPIPE after shutdown/close,
 * or the connection's error. Data may be queued before connected(). */
ssize_t netstack_tcp_send(struct netstack_tcp *c, const void *buf, size_t len);
/* Zero-copy variant: up to iovcnt spans of free send-buffer space (returns
 * how many, 0 when full), then commit how many bytes were written there.
 * Reserving allocates buffer memory: commit 0 when nothing was written, so
 * an idle connection's empty send buffer is released. */
int netstack_tcp_send_reserve(struct netstack_tcp *c, struct iovec *iov,
			      int iovcnt);
int netstack_tcp_send_commit(struct netstack_tcp *c, size_t len);
/* Bytes send would accept now. */
size_t netstack_tcp_send_space(const struct netstack_tcp *c);

/* Up to len bytes of in-order data: the count, 0 at end of stream (peer's
 * FIN), -EAGAIN when nothing is buffered, or the connection's error. */
ssize_t netstack_tcp_recv(struct netstack_tcp *c, void *buf, size_t len);
/* Zero-copy variant: the buffered data as up to iovcnt spans (returns how
 * many; 0 when empty), then consume how many bytes were used. */
int netstack_tcp_recv_peek(struct netstack_tcp *c, struct iovec *iov,
			   int iovcnt);
void netstack_tcp_recv_consume(struct netstack_tcp *c, size_t len);
size_t netstack_tcp_recv_avail(const struct netstack_tcp *c);
/* True once the peer's FIN was received and all data before it read. */
bool netstack_tcp_eof(const struct netstack_tcp *c);

/* Half-close: FIN after the queued data; receiving goes on. 0 or -ENOTCONN. */
int netstack_tcp_shutdown(struct netstack_tcp *c);
/* Releases the handle. Queued data is still delivered and the connection
 * closes in the background (FIN, TIME-WAIT); unread received data makes it
 * a reset, as on Linux. */
void netstack_tcp_close(struct netstack_tcp *c);
/* Releases the handle and resets the connection. */
void netstack_tcp_abort(struct netstack_tcp *c);
/* Ends the connection now without releasing the handle: RST to the peer
 * and closed(err) to the owner, as when the peer resets. For a peer that
 * is gone (a revoked user): its relayed connections must not hang on. */
void netstack_tcp_reset(struct netstack_tcp *c, int err);

/* Keepalive with the stack's idle/interval/count (on: true). */
void netstack_tcp_set_keepalive(struct netstack_tcp *c, bool on);
/* Nagle's algorithm; off (no delay) by default. */
void netstack_tcp_set_nagle(struct netstack_tcp *c, bool on);

enum netstack_tcp_state {
	NETSTACK_TCP_CLOSED,
	NETSTACK_TCP_LISTEN,
	NETSTACK_TCP_SYN_SENT,
	NETSTACK_TCP_SYN_RECEIVED,
	NETSTACK_TCP_ESTABLISHED,
	NETSTACK_TCP_FIN_WAIT_1,
	NETSTACK_TCP_FIN_WAIT_2,
	NETSTACK_TCP_CLOSE_WAIT,
	NETSTACK_TCP_CLOSING,
	NETSTACK_TCP_LAST_ACK,
	NETSTACK_TCP_TIME_WAIT,
};

struct netstack_tcp_info {
	enum netstack_tcp_state state;
	uint32_t mss;              /* send MSS */
	uint8_t snd_wscale, rcv_wscale; /* 0xff: not negotiated */
	bool sack, timestamps;
	uint32_t cwnd, ssthresh;   /* bytes */
	uint32_t srtt_us, rttvar_us, rto_ms;
	uint32_t snd_wnd, rcv_wnd; /* bytes, scaled */
	size_t sbuf_used, sbuf_max, rbuf_used, rbuf_max;
	uint64_t bytes_sent, bytes_acked, bytes_received;
	uint32_t retransmits, sacked_bytes, lost_bytes;
	uint64_t pacing_rate;      /* bytes/s, 0: not paced */
	uint64_t delivery_rate;    /* bytes/s, the model's bandwidth (BBR) */
};
void netstack_tcp_get_info(const struct netstack_tcp *c,
			   struct netstack_tcp_info *info);
const char *netstack_tcp_state_name(enum netstack_tcp_state s);
/* Calls fn for every connection the stack holds (TIME-WAIT included),
 * for diagnostics; fn must not open, close or abort connections. */
void netstack_tcp_foreach(struct netstack *st,
			  void (*fn)(void *ctx, const struct netstack_tcp *c),
			  void *ctx);

/* ------------------------------------------------------------------ UDP */

struct netstack_udp_ops {
	/* A datagram from src to dst (dst tells which address an any-bound
	 * or transparent socket received on). data is only valid during the
	 * call. Returns what becomes of it, as a listener's syn() does:
	 * NETSTACK_ACCEPT (taken; NETSTACK_DEFER means the same),
	 * NETSTACK_REFUSE_RST (as for a closed port: ICMP port unreachable),
	 * another NETSTACK_REFUSE_* for that ICMP(v6) error quoting the
	 * datagram, NETSTACK_REFUSE_DROP for silence. */
	enum netstack_accept (*recv)(void *ctx, struct netstack_udp *u,
				     const struct netstack_addr *src,
				     const struct netstack_addr *dst,
				     const uint8_t *data, size_t len);
	/* An ICMP error for a datagram we sent to remote (-ECONNREFUSED,
	 * -EHOSTUNREACH, -ENETUNREACH, -EMSGSIZE). May be NULL. */
	void (*error)(void *ctx, struct netstack_udp *u,
		      const struct netstack_addr *remote, int err);
};

/* Binds local as for TCP listen (flags: NETSTACK_TRANSPARENT), except that
 * port 0 with a specific address picks an ephemeral port. The most specific
 * socket receives a datagram; none: ICMP port unreachable when the
 * destination is ours. A transparent any-port socket also receives the
 * datagrams to our addresses that no other socket takes (recv() refuses
 * them with NETSTACK_REFUSE_RST to keep the closed-port answer). *out is
 * owned by the caller. 0, -EADDRINUSE, -EINVAL, -ENOMEM. */
int netstack_udp_open(struct netstack *st, const struct netstack_addr *local,
		      unsigned flags, const struct netstack_udp_ops *ops,
		      void *ctx, struct netstack_udp **out);
/* Sends one datagram to dst from src (NULL: the bound address and port, or
 * our first address of dst's family). 0, -EMSGSIZE (larger than the MTU
 * allows: no fragmentation), -ENOBUFS (pool empty), -EADDRNOTAVAIL,
 * -EACCES (an ephemeral port's datagram that ops->may_open refused). */
int netstack_udp_sendto(struct netstack_udp *u,
			const struct netstack_addr *src,
			const struct netstack_addr *dst, const void *data,
			size_t len);
/* Refuses after the fact what recv() took: tells from (a remote address
 * and port) that its datagrams to `to` fail, with the ICMP(v6) error of how
 * (NETSTACK_REFUSE_RST: port unreachable) quoting a datagram from -> to.
 * For an exit node that learns of the failure from the real destination.
 * Rate limited like every ICMP error. 0, -EINVAL, -ENOBUFS, -EAGAIN (rate
 * limit). */
int netstack_udp_refuse(struct netstack_udp *u,
			const struct netstack_addr *from,
			const struct netstack_addr *to,
			enum netstack_accept how);
const struct netstack_addr *netstack_udp_local(const struct netstack_udp *u);
void netstack_udp_close(struct netstack_udp *u);

/* ------------------------------------------------------------ ICMP echo */

struct netstack_echo; /* the handler of echo requests to other addresses */

struct netstack_echo_ops {
	/* An echo request (ICMP type 8, ICMPv6 128) from src to dst, an
	 * address that is not ours (the stack answers those itself); the
	 * ports are 0. id and seq in host order; data is the payload after
	 * the 8-byte header, valid only during the call. Returns
	 * NETSTACK_ACCEPT (taken: answer later, or never, with
	 * netstack_echo_reply), or a NETSTACK_REFUSE_* for that ICMP(v6)
	 * error quoting the request (NETSTACK_REFUSE_DROP: silence). */
	enum netstack_accept (*request)(void *ctx, struct netstack_echo *e,
					const struct netstack_addr *src,
					const struct netstack_addr *dst,
					uint16_t id, uint16_t seq,
					const uint8_t *data, size_t len);
};

/* Takes the echo requests to addresses not ours (an exit node answering
 * with the real destination's replies). One per stack: -EADDRINUSE; else
 * 0 or -ENOMEM. *out is owned by the caller (netstack_echo_close). */
int netstack_echo_open(struct netstack *st, const struct netstack_echo_ops *ops,
		       void *ctx, struct netstack_echo **out);
/* Sends an echo reply from src to dst with id, seq and data. 0,
 * -EAFNOSUPPORT, -EMSGSIZE, -ENOBUFS. */
int netstack_echo_reply(struct netstack_echo *e,
			const struct netstack_addr *src,
			const struct netstack_addr *dst, uint16_t id,
			uint16_t seq, const void *data, size_t len);
/* As netstack_udp_refuse, for echo requests from -> to with id. */
int netstack_echo_refuse(struct netstack_echo *e,
			 const struct netstack_addr *from,
			 const struct netstack_addr *to, uint16_t id,
			 uint16_t seq, enum netstack_accept how);
void netstack_echo_close(struct netstack_echo *e);

#endif

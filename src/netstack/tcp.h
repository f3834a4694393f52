/* TCP internals: the connection block (struct netstack_tcp), sequence
 * arithmetic, wire constants and the functions the tcp_*.c files share.
 * See RFC 9293 for the state machine, RFC 7323 for window scaling and
 * timestamps, RFC 2018/6675 for SACK and SACK-based recovery, RFC 6298 for
 * the retransmission timer, RFC 9438 for CUBIC. */
#ifndef SPOKEWIRE_NETSTACK_TCP_H
#define SPOKEWIRE_NETSTACK_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netstack/netstack.h"

struct netstack;
struct ip_info;

/* ---------------------------------------------------------- wire format */

enum {
	TCP_HDR_LEN = 20,
	TCP_MAX_OPT_LEN = 40,

	TH_FIN = 0x01,
	TH_SYN = 0x02,
	TH_RST = 0x04,
	TH_PSH = 0x08,
	TH_ACK = 0x10,
	TH_URG = 0x20,

	TCPOPT_EOL = 0,
	TCPOPT_NOP = 1,
	TCPOPT_MSS = 2,
	TCPOPT_WSCALE = 3,
	TCPOPT_SACK_PERM = 4,
	TCPOPT_SACK = 5,
	TCPOPT_TIMESTAMP = 8,

	TCP_TSOPT_LEN = 12,      /* NOP NOP kind len val ecr */
	TCP_MAX_WSCALE = 14,
	TCP_MAX_SACK_BLOCKS = 4, /* 3 when timestamps are on */
};

/* ---------------------------------------------------------- tunables */

enum {
	TCP_MSS_DEFAULT = 536,       /* when the peer sends no MSS option */
	TCP_MIN_MSS = 88,
	TCP_DUPTHRESH = 3,
	TCP_RTO_MIN_MS = 200,
	TCP_RTO_MAX_MS = 120000,
	TCP_RTO_INIT_MS = 1000,
	TCP_SYN_RETRIES = 6,
	TCP_SYNACK_RETRIES = 5,
	TCP_DATA_RETRIES = 15,
	TCP_DELACK_MS = 40,
	TCP_ACK_EVERY = 8,           /* in-order segments before an inline ACK */
	TCP_PERSIST_MIN_MS = 200,
	TCP_PERSIST_MAX_MS = 60000,
	TCP_FIN_WAIT_2_MS = 60000,
	TCP_DEFER_TIMEOUT_MS = 60000,
	TCP_INIT_CWND = 10,          /* segments, RFC 6928 */
	TCP_PTO_MIN_MS = 10,         /* tail loss probe floor (RFC 8985) */
	TCP_PTO_DELACK_MS = 40,      /* added when one segment is out */
	TCP_BURST_MAX = 128,         /* segments per output call */
	/* Pacing (tcp_output): a connection may send ahead of its rate by
	 * this much time's worth of data, and a paced sender sleeps until
	 * that much credit has built up again, so the timer does not fire
	 * per segment (Linux's fq and TSO autosizing work in ~1 ms too). */
	TCP_PACE_BURST_US = 1000,
	TCP_PACE_WAKE_US = 500,
	TCP_PACE_HDR = 40,           /* IP and TCP headers, counted as sent */
	TCP_EPHEMERAL_LO = 32768,
	TCP_EPHEMERAL_HI = 65535,
	TCP_TW_REUSE_MS = 1000,      /* a TIME-WAIT tuple may be reused after */
	TCP_MAX_RANGES = 512,        /* SACK scoreboard / out-of-order ranges */
	TCP_BUF_CHUNK = 16384,
	TCP_CHUNK_CACHE = 256,
};

/* Sequence space comparisons (RFC 9293 3.4), modulo 2^32. */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)
#define SEQ_MAX(a, b) (SEQ_GT(a, b) ? (a) : (b))
#define SEQ_MIN(a, b) (SEQ_LT(a, b) ? (a) : (b))

/* ---------------------------------------------------------- lists */

struct tcp_list {
	struct tcp_list *prev, *next;
};

static inline void tcp_list_init(struct tcp_list *h)
{
	h->prev = h->next = h;
}

static inline bool tcp_list_empty(const struct tcp_list *h)
{
	return h->next == h;
}

static inline bool tcp_list_linked(const struct tcp_list *n)
{
	return n->next != NULL && n->next != n;
}

static inline void tcp_list_add_tail(struct tcp_list *h, struct tcp_list *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void tcp_list_del(struct tcp_list *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

#define tcp_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* ---------------------------------------------------------- pieces */

struct seq_range {
	uint32_t start, end; /* [start, end) */
};

/* A sorted set of disjoint sequence ranges (SACK scoreboard, out-of-order
 * data), allocated on first use and freed when empty. */
struct seq_ranges {
	struct seq_range *r;
	uint16_t n, cap;
};

/* A byte stream in TCP_BUF_CHUNK chunks on a ring of slots: offset 0 is the
 * oldest byte kept (snd_una's data, or the first unread byte). Chunks are
 * allocated when written and freed when consumed, so an idle connection
 * holds none. */
struct tcp_buf {
	uint8_t **slots;
	uint32_t nslots;  /* power of two, 0 without slots */
	uint32_t first;   /* slot holding offset 0 */
	uint32_t start;   /* offset 0's position in that chunk */
	uint32_t len;     /* contiguous bytes from offset 0 */
	uint32_t max;     /* autotuned limit on len */
	bool send;        /* a send buffer: the smaller memory share */
};

enum {
	BBR_BW_ROUNDS = 10,         /* max-filter window for bandwidth */
};

enum {
	TCP_RXQ_LEN = 256,
};

/* Retransmissions in flight, oldest first: each range with snd_nxt at the
 * time it went out. Data sent after it being SACKed DupThresh segments
 * deep, while it is not, means it was lost again (after RACK, RFC 8985). */
struct tcp_rxq {
	struct {
		uint32_t start, end, nxt;
	} r[TCP_RXQ_LEN];
	uint16_t head, len;
};

struct tcp_cc {
	uint32_t cwnd, ssthresh;    /* bytes */
	double cnt;                 /* fractional growth carried over */
	/* CUBIC (RFC 9438), window in bytes, time in ns. */
	uint32_t w_max, origin, w_est;
	uint64_t epoch;
	double k;                   /* seconds */
	/* Model-based (tcp_bbr.c): delivery rate per round trip, min RTT. */
	uint64_t delivered;         /* bytes ACKed or SACKed, ever */
	uint64_t round_delivered, round_time, min_rtt_time, probe_rtt_end;
	uint32_t round_end;         /* a round ends when snd_una passes it */
	uint32_t min_rtt_us, full_bw;
	uint32_t bw[BBR_BW_ROUNDS]; /* bytes per second, one per round */
	/* ACK aggregation: bytes delivered beyond what the estimated rate
	 * explains, the larger of two windows of five rounds each. */
	uint64_t ack_epoch_time;
	uint32_t ack_epoch_acked, extra_acked[2];
	uint8_t mode, full_cnt, bw_idx, extra_rounds, extra_idx;
	uint8_t cycle_idx;          /* PROBE_BW's place in its gain cycle */
	uint8_t cycle_rounds;       /* rounds into the phase */
	uint32_t round_rexmt;       /* bytes retransmitted this round in
				     * fast recovery (not after an RTO) */
	uint32_t prior_cwnd;        /* before an RTO, until its recovery ends */
	uint64_t sent, round_sent;  /* bytes sent, ever / at the round's start */
	uint64_t send_rate;         /* bytes/s sent during the last round: what
				     * this round acknowledges went out then */
	bool round_started;
};

enum tcp_timer_kind {
	TT_REXMT,   /* retransmission, or persist when persisting */
	TT_DELACK,
	TT_MISC,    /* keepalive, FIN-WAIT-2, TIME-WAIT, deferred SYN */
	TT_PACE,    /* the pacing rate allows the next segments */
	TT_COUNT,
};

enum {
	TEV_CONNECTED = 1,
	TEV_READABLE = 2,
	TEV_WRITABLE = 4,
	TEV_CLOSED = 8,
};

struct netstack_tcp {
	struct netstack *st;
	struct netstack_tcp *hnext;   /* connection hash chain */
	uint32_t hash;
	int32_t heap_idx;             /* -1 when no timer is queued */
	uint64_t heap_key;

	struct tcp_list flush_node;   /* ACK / output pending at flush */
	struct tcp_list notify_node;  /* callbacks pending */
	struct tcp_list tw_node;      /* TIME-WAIT, oldest first */
	struct tcp_list lst_node;     /* half-open on a listener */
	struct tcp_list all_node;     /* every block, for netstack_free */
	struct tcp_list mem_node;     /* waiting for memory to send */

	struct netstack_addr local, remote;
	const struct netstack_tcp_ops *ops;
	void *ctx;
	struct netstack_listener *listener; /* until accepted */

	uint8_t state;       /* enum netstack_tcp_state */
	uint8_t events;      /* TEV_* waiting for delivery */
	uint8_t snd_wscale, rcv_wscale;
	uint8_t in_cb;       /* callbacks running: defer frees */
	uint8_t dupacks;
	uint8_t ack_segs;    /* in-order segments not yet acknowledged */
	uint8_t rexmt_count; /* consecutive timeouts */
	uint8_t ka_probes;
	uint8_t ooo_recent_n;

	bool user_owned : 1, dead : 1, hashed : 1, deferred : 1;
	bool sack_ok : 1, ts_ok : 1, ws_ok : 1;
	bool fin_queued : 1, fin_sent : 1, rcv_fin : 1, ooo_fin : 1;
	bool ack_now : 1, in_recovery : 1, persisting : 1;
	bool want_writable : 1, keepalive : 1, nagle : 1;
	bool cwnd_limited : 1, rtt_timing : 1, passive : 1;
	bool closed_reported : 1, tlp_armed : 1, stall_reported : 1;

	int err;

	/* Send side. */
	uint32_t iss, snd_una, snd_nxt, snd_wnd, snd_wl1, snd_wl2;
	uint32_t max_sndwnd;
	uint32_t sbuf_seq;   /* sequence number of sbuf offset 0 */
	uint16_t mss;        /* segment payload we send, options excluded */
	uint16_t peer_mss;
	struct tcp_buf sbuf;

	/* Receive side. */
	uint32_t irs, rcv_nxt, rcv_adv; /* rcv_adv: right edge advertised */
	uint32_t rcv_fin_seq;
	uint32_t rcv_grow_mark;
	uint16_t our_mss;
	struct tcp_buf rbuf;
	struct seq_ranges ooo;
	uint32_t ooo_recent[TCP_MAX_SACK_BLOCKS];

	/* Timestamps (RFC 7323). */
	uint32_t ts_recent, ts_offset, last_ack_sent;
	uint64_t ts_recent_time;

	/* RTT (RFC 6298), microseconds. */
	uint32_t srtt_us, rttvar_us, rto_ms;
	uint32_t rtt_seq;
	uint64_t rtt_time;

	/* Congestion control and loss recovery (RFC 6675). */
	struct tcp_cc cc;
	struct seq_ranges sacked;
	uint32_t sacked_bytes;
	uint32_t newly_sacked;       /* by the ACK being processed */
	uint32_t recovery_point, high_rxt, lost_mark;
	struct tcp_rxq *rxq;         /* retransmissions in flight */
	struct seq_ranges again;     /* retransmissions found lost */

	uint64_t timers[TT_COUNT];    /* deadlines in ns, 0 = off */
	uint64_t last_rcv_time;
	uint64_t last_send_time;      /* data, SYN, FIN or probe */
	uint64_t pace_next;           /* the pacing rate's next send time */

	/* Saved from a deferred SYN. */
	uint32_t syn_tsval;

	uint64_t bytes_sent, bytes_acked, bytes_received;
	uint32_t retransmits;
};

struct netstack_listener {
	struct netstack *st;
	struct netstack_listener *next;
	struct netstack_addr local;
	const struct netstack_listener_ops *ops;
	void *ctx;
	struct tcp_list half_open;
	unsigned flags;
	unsigned nhalf;
};

/* Per-stack TCP state, embedded in struct netstack. */
struct tcp_stack {
	struct netstack_tcp **hash;
	uint32_t hash_mask;
	uint32_t count;           /* connections in the table */
	uint32_t allocated;       /* tcbs alive, table or not */
	struct netstack_listener *listeners;

	struct netstack_tcp **heap;  /* timer min-heap */
	uint32_t heap_len, heap_cap;

	struct tcp_list flush_list, notify_list, tw_list, all_list;
	struct tcp_list mem_wait;     /* senders short of memory */
	uint32_t tw_count;

	void *chunk_cache;        /* free chunks, linked through their start */
	uint32_t chunk_cache_n;
	size_t mem_used, mem_peak;
	uint16_t next_port;
};

/* Parsed options of one segment. */
struct tcp_opts {
	bool mss_ok, ws_ok, sack_perm, ts_ok;
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	struct seq_range sack[TCP_MAX_SACK_BLOCKS];
};

/* One inbound segment, parsed. */
struct tcp_seg {
	uint32_t seq, ack, len;  /* len: payload only */
	uint16_t win;
	uint8_t flags;
	const uint8_t *data;
	struct tcp_opts opt;
};

/* tcp_conn.c: table, allocation, lifetime */
int tcp_stack_init(struct netstack *st);
void tcp_stack_free(struct netstack *st);
struct netstack_tcp *tcp_lookup(struct netstack *st,
				const struct netstack_addr *local,
				const struct netstack_addr *remote);
struct netstack_listener *tcp_listener_lookup(struct netstack *st,
					      const struct netstack_addr *dst,
					      bool ours);
/* A fresh block for the 4-tuple (not hashed yet), or NULL at the limit. */
struct netstack_tcp *tcp_alloc(struct netstack *st,
			       const struct netstack_addr *local,
			       const struct netstack_addr *remote);
int tcp_hash_insert(struct netstack_tcp *c);
void tcp_hash_remove(struct netstack_tcp *c);
/* Frees c now, or when its callbacks return. */
void tcp_release(struct netstack_tcp *c);
uint32_t tcp_isn(struct netstack *st, const struct netstack_addr *local,
		 const struct netstack_addr *remote);
int tcp_pick_port(struct netstack *st, struct netstack_addr *local,
		  const struct netstack_addr *remote);
void tcp_init_conn(struct netstack_tcp *c);
/* Enters CLOSED with err (0 orderly): unhashed, timers off, buffers freed
 * (received data kept when err is 0), closed() queued. */
void tcp_set_closed(struct netstack_tcp *c, int err);
void tcp_enter_time_wait(struct netstack_tcp *c);
void tcp_event(struct netstack_tcp *c, uint8_t ev);
void tcp_deliver_events(struct netstack *st);
void tcp_schedule_flush(struct netstack_tcp *c);
uint16_t tcp_mss_for(const struct netstack *st, int family);
/* The window scale we offer: enough for tcp_rbuf_max. */
uint8_t tcp_wscale_for(const struct netstack *st);

/* tcp_input.c */
enum netstack_verdict tcp_input(struct netstack *st, struct ip_info *in);
void tcp_icmp_error(struct netstack *st, int family, const uint8_t *src,
		    const uint8_t *dst, const uint8_t *th, uint32_t len,
		    int err, uint32_t mtu);
int tcp_parse_options(const uint8_t *p, uint32_t len, struct tcp_opts *o,
		      bool syn);

/* tcp_ack.c */
void tcp_set_snd_wnd(struct netstack_tcp *c, const struct tcp_seg *seg,
		     bool scaled);
/* The ACK field of an acceptable segment; false when the connection
 * closed (our FIN acknowledged in LAST-ACK). */
bool tcp_ack_input(struct netstack_tcp *c, const struct tcp_seg *seg);

/* tcp_rcv.c */
/* Data and FIN of an acceptable segment (ESTABLISHED, FIN-WAIT-1/2). */
void tcp_data_input(struct netstack_tcp *c, const struct tcp_seg *seg);

/* tcp_output.c */
/* Sends what the windows allow: retransmissions of lost data first, then
 * new data, FIN, and an ACK if one is owed. */
void tcp_output(struct netstack_tcp *c);
void tcp_send_ack(struct netstack_tcp *c);
void tcp_send_syn(struct netstack_tcp *c);
/* Retransmits from snd_una (timeout), at most one segment. */
void tcp_retransmit_first(struct netstack_tcp *c);
void tcp_send_probe(struct netstack_tcp *c, bool keepalive);
/* Tail loss probe: one new segment, or the last one again. */
void tcp_send_tlp(struct netstack_tcp *c);
/* Persist timeout: a segment into a small window, or a window probe. */
void tcp_persist_send(struct netstack_tcp *c);
void tcp_send_rst_for(struct netstack *st, const struct ip_info *in,
		      const struct tcp_seg *seg);
void tcp_send_rst(struct netstack_tcp *c);
uint32_t tcp_rcv_window(struct netstack_tcp *c);
uint32_t tcp_ts_now(const struct netstack_tcp *c);
uint32_t tcp_pipe(const struct netstack_tcp *c);
uint32_t tcp_flight_size(const struct netstack_tcp *c);

/* tcp_timer.c */
void tcp_timer_set(struct netstack_tcp *c, enum tcp_timer_kind k,
		   uint64_t delay_ns);
void tcp_timer_clear(struct netstack_tcp *c, enum tcp_timer_kind k);
void tcp_timers_clear(struct netstack_tcp *c);
/* Room in the timer heap for n connections: 0 or -ENOMEM. */
int tcp_timer_reserve(struct netstack *st, uint32_t n);
void tcp_timer_run(struct netstack *st);
uint64_t tcp_timer_next(const struct netstack *st);
/* Counts (and reports through ops->log) connections with data outstanding
 * that sent nothing for two RTOs. */
void tcp_watchdog(struct netstack *st);
void tcp_rtt_sample(struct netstack_tcp *c, uint32_t rtt_us);
uint64_t tcp_rto_ns(const struct netstack_tcp *c);
void tcp_arm_rexmt(struct netstack_tcp *c);
void tcp_arm_keepalive(struct netstack_tcp *c);

/* tcp_cc.c */
void tcp_cc_init(struct netstack_tcp *c);
void tcp_cc_on_ack(struct netstack_tcp *c, uint32_t acked);
/* Loss detected by SACK/dupacks: ssthresh and cwnd come down. */
void tcp_cc_on_loss(struct netstack_tcp *c);
void tcp_cc_on_rto(struct netstack_tcp *c);
void tcp_cc_after_idle(struct netstack_tcp *c);
/* An RTT sample (us) for models that use one. */
void tcp_cc_rtt(struct netstack_tcp *c, uint32_t rtt_us);
/* Every ACK, after the scoreboard update: newly delivered bytes. */
void tcp_cc_delivered(struct netstack_tcp *c, uint32_t bytes);
/* Bytes per second to space segments at; 0: no pacing (no RTT yet). */
uint64_t tcp_pacing_rate(const struct netstack_tcp *c);

/* tcp_bbr.c */
void tcp_bbr_init(struct netstack_tcp *c);
void tcp_bbr_delivered(struct netstack_tcp *c, uint32_t bytes);
void tcp_bbr_rtt(struct netstack_tcp *c, uint32_t rtt_us);
void tcp_bbr_on_loss(struct netstack_tcp *c);
void tcp_bbr_on_rto(struct netstack_tcp *c);
uint64_t tcp_bbr_pacing_rate(const struct netstack_tcp *c);
/* The model's bandwidth in bytes/s (0 before a sample, or without BBR). */
uint64_t tcp_bbr_bw(const struct netstack_tcp *c);

/* tcp_sack.c */
void seq_ranges_free(struct seq_ranges *s);
/* Adds [start, end), merging; returns the bytes newly covered, or -1 when
 * no slot was free. */
int64_t seq_ranges_add(struct seq_ranges *s, uint32_t start, uint32_t end);
/* Drops everything below seq; returns the bytes dropped. */
uint32_t seq_ranges_trim(struct seq_ranges *s, uint32_t seq);
/* Bytes of [start, end) covered by ranges. */
uint32_t seq_ranges_covered(const struct seq_ranges *s, uint32_t start,
			    uint32_t end);
/* Sender: fold the SACK blocks of an ACK into the scoreboard. */
void tcp_sack_update(struct netstack_tcp *c, const struct tcp_opts *o);
/* Sender: the highest sequence below which unSACKed data counts as lost
 * (RFC 6675 IsLost), snd_una when nothing is. */
uint32_t tcp_sack_lost_high(const struct netstack_tcp *c);
/* Sender: next hole to retransmit at or above from (RFC 6675 NextSeg rule
 * 1): sets *start, *len (<= max); false if none. */
bool tcp_sack_next_hole(const struct netstack_tcp *c, uint32_t from,
			uint32_t max, uint32_t *start, uint32_t *len);
/* Receiver: SACK blocks for our next ACK, most recent first. */
int tcp_sack_blocks(const struct netstack_tcp *c, struct seq_range *out,
		    int max);
void tcp_ooo_note(struct netstack_tcp *c, uint32_t seq);
/* Sender: note a retransmission of [start, end). */
void tcp_rxq_push(struct netstack_tcp *c, uint32_t start, uint32_t end);
/* Sender, per ACK: retire delivered retransmissions, move lost ones to
 * c->again. */
void tcp_rxq_update(struct netstack_tcp *c);
void tcp_rxq_reset(struct netstack_tcp *c);

/* tcp_buf.c */
/* Memory shares: send buffers may fill TCP_MEM_SEND_PCT of the limit and
 * out-of-order data up to TCP_MEM_OOO_PCT, so that in-order data, which
 * frees memory as soon as the application reads it, always finds some:
 * otherwise two stacks full of unsent data would wait on each other. */
enum {
	TCP_MEM_SEND_PCT = 75,
	TCP_MEM_OOO_PCT = 90,
};

void tcp_buf_init(struct tcp_buf *b, uint32_t max, bool send);
void tcp_buf_free(struct netstack *st, struct tcp_buf *b);
/* Writes len bytes at offset off (beyond len for out-of-order data);
 * returns the bytes written, short when memory runs out. */
uint32_t tcp_buf_write(struct netstack *st, struct tcp_buf *b, uint32_t off,
		       const void *data, uint32_t len);
void tcp_buf_read(const struct tcp_buf *b, uint32_t off, void *dst,
		  uint32_t len);
/* Spans of [off, off+len); with alloc, chunks are allocated as needed
 * (may return fewer bytes when memory runs out). Returns the span count. */
int tcp_buf_iov(struct netstack *st, struct tcp_buf *b, uint32_t off,
		uint32_t len, struct iovec *iov, int max, bool alloc);
/* Drops len bytes from the front (len <= b->len). */
void tcp_buf_consume(struct netstack *st, struct tcp_buf *b, uint32_t len);
/* Bytes the global memory limit still allows (send: for send buffers). */
size_t tcp_mem_avail(const struct netstack *st);
size_t tcp_mem_avail_send(const struct netstack *st);
/* A sender came up short for lack of memory: writable() when it frees. */
void tcp_mem_wait(struct netstack_tcp *c);

#endif

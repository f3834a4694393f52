/* netstack-harness: the test applications on the stack: sink, source,
 * echo and connect over TCP, UDP echo, a deterministic stream and SHA-256
 * of every byte each way, one CONN line per finished connection. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *const mode_names[] = { "sink", "source", "echo",
					  "connect" };

static uint8_t *pattern;

/* The deterministic stream: a 1 MiB block of SHA-256 counter output, each
 * 1 MiB block stamped with its index (tests/netstack/peer.py matches). */
int harness_make_pattern(void)
{
	uint8_t ctr[13] = "spokewire";
	unsigned i, len;

	pattern = malloc(PATTERN_LEN);
	if (!pattern)
		return -1;
	for (i = 0; i < PATTERN_LEN / 32; ++i) {
		ctr[9] = (uint8_t)(i >> 24);
		ctr[10] = (uint8_t)(i >> 16);
		ctr[11] = (uint8_t)(i >> 8);
		ctr[12] = (uint8_t)i;
		EVP_Digest(ctr, sizeof(ctr), pattern + 32 * i, &len,
			   EVP_sha256(), NULL);
	}
	return 0;
}

static void stream_fill(uint8_t *dst, uint64_t off, size_t len)
{
	while (len) {
		uint64_t block = off / PATTERN_LEN;
		size_t within = (size_t)(off % PATTERN_LEN);
		size_t n = PATTERN_LEN - within;

		if (n > len)
			n = len;
		memcpy(dst, pattern + within, n);
		/* Stamp the block index little-endian over its first bytes. */
		for (size_t i = within; i < 8 && i < within + n; ++i)
			dst[i - within] = (uint8_t)(block >> (8 * i));
		dst += n;
		off += n;
		len -= n;
	}
}

static void hex(const uint8_t *d, unsigned n, char *out)
{
	unsigned i;

	for (i = 0; i < n; ++i)
		sprintf(out + 2 * i, "%02x", d[i]);
}

void harness_print_stats(struct harness *h)
{
	struct netstack_stats s;

	netstack_get_stats(h->st, &s);
	printf("STATS tcp_in=%llu tcp_out=%llu retransmits=%llu "
	       "lost_retransmits=%llu tlp=%llu fast_recoveries=%llu rto=%llu "
	       "ooo=%llu dup=%llu sack_in=%llu "
	       "rst_sent=%llu zero_win_sent=%llu persist_probes=%llu "
	       "conns=%llu time_wait=%llu opened=%llu closed=%llu "
	       "mem_peak=%llu echo_replies=%llu unreach_sent=%llu "
	       "no_buffer=%llu dropped_in=%llu dropped_out=%llu "
	       "reordered=%llu stalls=%llu rx_drops=%llu\n",
	       (unsigned long long)s.tcp_in, (unsigned long long)s.tcp_out,
	       (unsigned long long)s.tcp_retransmits,
	       (unsigned long long)s.tcp_lost_retransmits,
	       (unsigned long long)s.tcp_tail_loss_probes,
	       (unsigned long long)s.tcp_fast_retransmits,
	       (unsigned long long)s.tcp_rto_expired,
	       (unsigned long long)s.tcp_ooo_segments,
	       (unsigned long long)s.tcp_dup_segments,
	       (unsigned long long)s.tcp_sack_blocks_in,
	       (unsigned long long)s.tcp_rst_sent,
	       (unsigned long long)s.tcp_zero_window_sent,
	       (unsigned long long)s.tcp_persist_probes,
	       (unsigned long long)s.tcp_conns,
	       (unsigned long long)s.tcp_time_wait,
	       (unsigned long long)s.tcp_conns_opened,
	       (unsigned long long)s.tcp_conns_closed,
	       (unsigned long long)s.mem_peak,
	       (unsigned long long)s.icmp_echo_replies,
	       (unsigned long long)s.icmp_unreach_sent,
	       (unsigned long long)s.ip_no_buffer,
	       (unsigned long long)h->dropped[DIR_IN],
	       (unsigned long long)h->dropped[DIR_OUT],
	       (unsigned long long)h->reordered,
	       (unsigned long long)s.tcp_stalls,
	       (unsigned long long)h->rx_drops);
	fflush(stdout);
}

void hconn_free(struct hconn *hc)
{
	struct harness *h = hc->h;

	if (hc->prev)
		hc->prev->next = hc->next;
	else
		h->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	EVP_MD_CTX_free(hc->rx);
	EVP_MD_CTX_free(hc->tx);
	h->live--;
	free(hc);
}

static void conn_finish(struct hconn *hc, int err)
{
	struct harness *h = hc->h;
	uint8_t rx[32], tx[32];
	char rxh[65], txh[65], ra[64];
	unsigned len;

	if (hc->done)
		return;
	hc->done = true;
	EVP_DigestFinal_ex(hc->rx, rx, &len);
	EVP_DigestFinal_ex(hc->tx, tx, &len);
	hex(rx, 32, rxh);
	hex(tx, 32, txh);
	printf("CONN id=%u mode=%s remote=%s rx_bytes=%llu rx_sha256=%s "
	       "tx_bytes=%llu tx_sha256=%s err=%d wscale=%d,%d sack=%d ts=%d "
	       "ms=%llu\n",
	       hc->id, mode_names[hc->mode],
	       netstack_addr_str(netstack_tcp_remote(hc->c), ra, sizeof(ra)),
	       (unsigned long long)hc->received, rxh,
	       (unsigned long long)hc->sent, txh, err,
	       hc->snd_ws == 0xff ? -1 : hc->snd_ws,
	       hc->rcv_ws == 0xff ? -1 : hc->rcv_ws, hc->sack, hc->ts,
	       (unsigned long long)((clock_mono_ns() - hc->t_start) /
				    1000000));
	netstack_tcp_close(hc->c);
	h->finished++;
	harness_print_stats(h);
	hconn_free(hc);
	if (h->exit_after && h->finished >= h->exit_after)
		loop_stop(h->loop);
}

static void pump_source(struct hconn *hc)
{
	struct iovec iov[16];
	uint64_t left;
	size_t total;
	int n, i;

	while (hc->sent < hc->to_send) {
		n = netstack_tcp_send_reserve(hc->c, iov, 16);
		if (n <= 0)
			return;
		left = hc->to_send - hc->sent;
		total = 0;
		for (i = 0; i < n && left; ++i) {
			size_t k = iov[i].iov_len < left ? iov[i].iov_len
							 : (size_t)left;

			stream_fill(iov[i].iov_base, hc->sent + total, k);
			EVP_DigestUpdate(hc->tx, iov[i].iov_base, k);
			total += k;
			left -= k;
		}
		if (netstack_tcp_send_commit(hc->c, total) < 0)
			return;
		hc->sent += total;
	}
	if (!hc->shut) {
		hc->shut = true;
		netstack_tcp_shutdown(hc->c);
	}
}

static void pump_echo(struct hconn *hc)
{
	struct iovec iov[16];
	ssize_t w;
	size_t used = 0;
	int n, i;

	n = netstack_tcp_recv_peek(hc->c, iov, 16);
	for (i = 0; i < n; ++i) {
		w = netstack_tcp_send(hc->c, iov[i].iov_base, iov[i].iov_len);
		if (w <= 0)
			break;
		EVP_DigestUpdate(hc->rx, iov[i].iov_base, (size_t)w);
		EVP_DigestUpdate(hc->tx, iov[i].iov_base, (size_t)w);
		used += (size_t)w;
		if ((size_t)w < iov[i].iov_len)
			break;
	}
	netstack_tcp_recv_consume(hc->c, used);
	hc->received += used;
	hc->sent += used;
	if (netstack_tcp_eof(hc->c) && !hc->shut) {
		hc->shut = true;
		hc->eof = true;
		netstack_tcp_shutdown(hc->c);
	}
}

void hconn_drain(struct hconn *hc)
{
	struct harness *h = hc->h;
	struct iovec iov[16];
	size_t used = 0;
	int n, i;

	if (hc->paused) {
		if (clock_mono_ns() < hc->pause_until)
			return;
		hc->paused = false;
	}
	for (;;) {
		n = netstack_tcp_recv_peek(hc->c, iov, 16);
		if (n <= 0)
			break;
		used = 0;
		for (i = 0; i < n; ++i) {
			EVP_DigestUpdate(hc->rx, iov[i].iov_base,
					 iov[i].iov_len);
			used += iov[i].iov_len;
		}
		/* Zero-window test: stop reading for a while, once. */
		if (hc->pause && h->pause_after &&
		    hc->received < h->pause_after &&
		    hc->received + used >= h->pause_after) {
			hc->paused = true;
			hc->pause_until = clock_mono_ns() +
					  h->pause_ms * 1000000ull;
		}
		netstack_tcp_recv_consume(hc->c, used);
		hc->received += used;
		if (hc->paused)
			return;
	}
	if (netstack_tcp_eof(hc->c) && !hc->eof) {
		hc->eof = true;
		if (hc->mode == MODE_SINK && !hc->shut) {
			hc->shut = true;
			netstack_tcp_shutdown(hc->c);
		}
	}
}

static void hc_readable(void *ctx, struct netstack_tcp *c)
{
	struct hconn *hc = ctx;

	if (hc->mode == MODE_ECHO)
		pump_echo(hc);
	else
		hconn_drain(hc);
}

static void hc_writable(void *ctx, struct netstack_tcp *c)
{
	struct hconn *hc = ctx;

	if (hc->mode == MODE_ECHO)
		pump_echo(hc);
	else if (hc->mode == MODE_SOURCE || hc->mode == MODE_CONNECT)
		pump_source(hc);
}

static void hc_connected(void *ctx, struct netstack_tcp *c)
{
	struct hconn *hc = ctx;
	struct netstack_tcp_info info;

	hc->t_start = clock_mono_ns();
	netstack_tcp_get_info(c, &info);
	hc->snd_ws = info.snd_wscale;
	hc->rcv_ws = info.rcv_wscale;
	hc->sack = info.sack;
	hc->ts = info.timestamps;
	if (hc->mode == MODE_SOURCE || hc->mode == MODE_CONNECT)
		pump_source(hc);
}

static void hc_closed(void *ctx, struct netstack_tcp *c, int err)
{
	struct hconn *hc = ctx;

	if (!err)
		hc_readable(ctx, c); /* whatever is left */
	conn_finish(hc, err);
}

const struct netstack_tcp_ops harness_conn_ops = {
	.connected = hc_connected,
	.readable = hc_readable,
	.writable = hc_writable,
	.closed = hc_closed,
};

struct hconn *hconn_new(struct harness *h, struct netstack_tcp *c,
			enum mode mode, uint64_t bytes)
{
	struct hconn *hc = calloc(1, sizeof(*hc));

	if (!hc)
		return NULL;
	hc->h = h;
	hc->c = c;
	hc->mode = mode;
	hc->to_send = bytes;
	hc->id = h->next_id++;
	hc->rx = EVP_MD_CTX_new();
	hc->tx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(hc->rx, EVP_sha256(), NULL);
	EVP_DigestInit_ex(hc->tx, EVP_sha256(), NULL);
	h->live++;
	hc->next = h->conns;
	if (h->conns)
		h->conns->prev = hc;
	h->conns = hc;
	return hc;
}

static enum netstack_accept svc_syn(void *ctx, struct netstack_listener *l,
				    struct netstack_tcp *c)
{
	struct service *svc = ctx;
	/* A source of 0 bytes sends until the peer goes away. */
	struct hconn *hc = hconn_new(svc->h, c, svc->mode,
				     svc->mode == MODE_SOURCE && !svc->bytes
					     ? UINT64_MAX
					     : svc->bytes);

	if (!hc)
		return NETSTACK_REFUSE_RST;
	hc->pause = svc->pause;
	netstack_tcp_set_ops(c, &harness_conn_ops, hc);
	return NETSTACK_ACCEPT;
}

const struct netstack_listener_ops harness_svc_ops = { .syn = svc_syn };

static enum netstack_accept udp_echo_recv(void *ctx, struct netstack_udp *u,
					  const struct netstack_addr *src,
					  const struct netstack_addr *dst,
					  const uint8_t *data, size_t len)
{
	netstack_udp_sendto(u, dst, src, data, len);
	return NETSTACK_ACCEPT;
}

const struct netstack_udp_ops harness_udp_echo_ops = {
	.recv = udp_echo_recv,
};

void harness_free_pattern(void)
{
	free(pattern);
	pattern = NULL;
}

/* libFuzzer target for the netstack's packet input. Each input runs on a
 * fresh stack with our addresses, a TCP listener, a transparent any-port
 * listener whose SYN decisions vary (accept, defer, reset, ICMP), a UDP
 * socket and one connection established by a scripted handshake, so the
 * TCP paths behind sequence checks are reachable. A transparent UDP socket
 * and an echo handler (egress) answer, refuse or refuse afterwards as the
 * destination port / echo id says.
 *
 * Input: records of [flags u8][len u16 big-endian][len bytes IP packet].
 * flags bit 0: rewrite the IPv4 addresses/ports to the established
 * connection's; bit 1: make seq/ack relative to the connection's (the
 * packet's low 16 bits become signed offsets); bit 2: fix the checksums;
 * bits 4-7: advance the clock by that many 50 ms steps and run timers. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"
#include "netstack/netstack.h"

static struct pktpool pool;
static uint8_t last_out[256];
static uint32_t last_out_len;
static uint64_t now;

static const uint8_t our4[4] = { 10, 0, 0, 1 }, peer4[4] = { 10, 0, 0, 2 };
static const uint8_t our6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0,
				  0, 0, 0, 0, 0, 0, 0, 1 };

static void op_output(void *ctx, struct pktbuf *pb)
{
	last_out_len = pb->len < sizeof(last_out) ? pb->len : sizeof(last_out);
	memcpy(last_out, pkt_data(pb), last_out_len);
	pktpool_put(&pool, pb);
}

static const struct netstack_ops ops = { .output = op_output };

static struct netstack_tcp *conns[64];
static unsigned nconns;
static struct netstack_tcp *deferred[16];
static unsigned ndeferred;

static void keep(struct netstack_tcp *c)
{
	if (nconns < 64)
		conns[nconns++] = c;
	else
		netstack_tcp_abort(c);
}

static void on_readable(void *ctx, struct netstack_tcp *c)
{
	uint8_t buf[4096];

	while (netstack_tcp_recv(c, buf, sizeof(buf)) > 0)
		;
}

static void on_writable(void *ctx, struct netstack_tcp *c)
{
	static const uint8_t data[3000];

	netstack_tcp_send(c, data, sizeof(data));
}

static void on_closed(void *ctx, struct netstack_tcp *c, int err)
{
}

static const struct netstack_tcp_ops conn_ops = {
	.readable = on_readable,
	.writable = on_writable,
	.closed = on_closed,
};

static enum netstack_accept on_syn(void *ctx, struct netstack_listener *l,
				   struct netstack_tcp *c)
{
	const struct netstack_addr *a = netstack_tcp_local(c);
	enum netstack_accept d = (enum netstack_accept)(a->port % 8);

	if (d == NETSTACK_ACCEPT || d == NETSTACK_DEFER) {
		netstack_tcp_set_ops(c, &conn_ops, NULL);
		if (d == NETSTACK_DEFER && ndeferred < 16)
			deferred[ndeferred++] = c;
		else if (d == NETSTACK_DEFER)
			d = NETSTACK_REFUSE_RST;
		else
			keep(c);
	}
	return d;
}

static const struct netstack_listener_ops any_ops = { .syn = on_syn };

static void on_accepted(void *ctx, struct netstack_listener *l,
			struct netstack_tcp *c)
{
	netstack_tcp_set_ops(c, &conn_ops, NULL);
	keep(c);
}

static const struct netstack_listener_ops listen_ops = {
	.accepted = on_accepted,
};

/* Echoes, or refuses as the destination port says (like on_syn). */
static enum netstack_accept udp_recv(void *ctx, struct netstack_udp *u,
				     const struct netstack_addr *src,
				     const struct netstack_addr *dst,
				     const uint8_t *data, size_t len)
{
	enum netstack_accept d = (enum netstack_accept)(dst->port % 8);

	if (d == NETSTACK_ACCEPT)
		netstack_udp_sendto(u, dst, src, data, len);
	else if (d == NETSTACK_DEFER)
		netstack_udp_refuse(u, src, dst, NETSTACK_REFUSE_RST);
	return d;
}

static const struct netstack_udp_ops udp_ops = { .recv = udp_recv };

static enum netstack_accept echo_request(void *ctx, struct netstack_echo *e,
					 const struct netstack_addr *src,
					 const struct netstack_addr *dst,
					 uint16_t id, uint16_t seq,
					 const uint8_t *data, size_t len)
{
	enum netstack_accept d = (enum netstack_accept)(id % 8);

	if (d == NETSTACK_ACCEPT)
		netstack_echo_reply(e, dst, src, id, seq, data, len);
	else if (d == NETSTACK_DEFER)
		netstack_echo_refuse(e, src, dst, id, seq,
				     NETSTACK_REFUSE_HOST_UNREACH);
	return d;
}

static const struct netstack_echo_ops echo_ops = { .request = echo_request };

static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Recomputes the IPv4 header and L4 checksums of an IPv4 or IPv6 packet. */
static void fix_checksums(uint8_t *p, size_t len)
{
	size_t hl, l4len, ck;
	uint32_t sum = 0;
	uint8_t proto;
	int v6;

	if (len < 20)
		return;
	v6 = (p[0] >> 4) == 6;
	if (v6) {
		if (len < 40)
			return;
		hl = 40;
		proto = p[6];
		l4len = len - 40;
		sum += csum(p + 8, 32, 0) ^ 0xffff;
	} else {
		hl = (size_t)(p[0] & 0xf) * 4;
		if (hl < 20 || hl > len)
			return;
		put16(p + 2, (uint16_t)len);
		put16(p + 10, 0);
		put16(p + 10, csum(p, hl, 0));
		proto = p[9];
		l4len = len - hl;
		sum += csum(p + 12, 8, 0) ^ 0xffff;
	}
	if (v6)
		put16(p + 4, (uint16_t)l4len);
	switch (proto) {
	case 6:
		ck = 16;
		break;
	case 17:
		ck = 6;
		if (l4len >= 8)
			put16(p + hl + 4, (uint16_t)l4len);
		break;
	case 1:
		ck = 2;
		break;
	case 58:
		ck = 2;
		break;
	default:
		return;
	}
	if (l4len < ck + 2)
		return;
	if (proto != 1)
		sum += proto + (uint32_t)l4len;
	else
		sum = 0;
	put16(p + hl + ck, 0);
	put16(p + hl + ck, csum(p + hl, l4len, sum));
}

static void feed(struct netstack *st, const uint8_t *data, size_t len)
{
	struct pktbuf *pb = pktpool_get(&pool);

	if (!pb)
		return;
	memcpy(pkt_data(pb), data, len);
	pb->len = (uint32_t)len;
	netstack_input(st, pb);
	netstack_flush(st);
}

/* A SYN from 10.0.0.2:1234 to port 80, the SYN-ACK read back, the ACK:
 * returns our ISS. */
static uint32_t handshake(struct netstack *st, uint32_t client_isn)
{
	uint8_t p[60] = { 0 };

	p[0] = 0x45;
	p[8] = 64;
	p[9] = 6;
	memcpy(p + 12, peer4, 4);
	memcpy(p + 16, our4, 4);
	put16(p + 20, 1234);
	put16(p + 22, 80);
	put32(p + 24, client_isn);
	p[32] = 0xa0; /* 40-byte header: MSS, SACK_PERM, TS, NOP, WS */
	p[33] = 0x02;
	put16(p + 34, 65535);
	p[40] = 2;
	p[41] = 4;
	put16(p + 42, 1400);
	p[44] = 4;
	p[45] = 2;
	p[46] = 8;
	p[47] = 10;
	put32(p + 48, 1000);
	p[56] = 1;
	p[57] = 3;
	p[58] = 3;
	p[59] = 7;
	fix_checksums(p, 60);
	feed(st, p, 60);
	if (last_out_len < 40)
		return 0;
	{
		uint32_t iss = get32(last_out + 24);
		uint8_t a[52] = { 0 };

		memcpy(a, p, 20);
		put16(a + 20, 1234);
		put16(a + 22, 80);
		put32(a + 24, client_isn + 1);
		put32(a + 28, iss + 1);
		a[32] = 0x80;
		a[33] = 0x10;
		put16(a + 34, 4096);
		a[40] = 1;
		a[41] = 1;
		a[42] = 8;
		a[43] = 10;
		put32(a + 44, 1001);
		put32(a + 48, get32(last_out + 48 - 4 + 4));
		fix_checksums(a, 52);
		feed(st, a, 52);
		return iss;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct netstack_config cfg;
	struct netstack_listener *l80, *lany;
	struct netstack_udp *u, *uany;
	struct netstack_echo *echo;
	struct netstack_addr a = { 0 };
	struct netstack *st;
	uint8_t pkt[2048];
	uint32_t iss, client_isn = 0x10000000;
	unsigned i;

	if (!init) {
		crypto_init();
		pktpool_init(&pool, 4096);
		init = true;
	}
	netstack_config_default(&cfg);
	cfg.mem_limit = 4u << 20;
	cfg.max_conns = 256;
	st = netstack_new(&cfg, &ops, NULL, &pool);
	if (!st)
		return 0;
	now = 1000000000ull;
	netstack_set_clock(st, now);
	netstack_add_addr(st, AF_INET, our4);
	netstack_add_addr(st, AF_INET6, our6);
	a.family = AF_UNSPEC;
	a.port = 80;
	netstack_tcp_listen(st, &a, 0, &listen_ops, NULL, &l80);
	a.port = 0;
	netstack_tcp_listen(st, &a, NETSTACK_TRANSPARENT, &any_ops, NULL,
			    &lany);
	a.port = 53;
	netstack_udp_open(st, &a, NETSTACK_TRANSPARENT, &udp_ops, NULL, &u);
	a.port = 0;
	netstack_udp_open(st, &a, NETSTACK_TRANSPARENT, &udp_ops, NULL, &uany);
	netstack_echo_open(st, &echo_ops, NULL, &echo);
	nconns = ndeferred = 0;
	iss = handshake(st, client_isn);

	while (size >= 3) {
		uint8_t flags = data[0];
		size_t len = (size_t)data[1] << 8 | data[2];

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (len > sizeof(pkt))
			len = sizeof(pkt);
		memcpy(pkt, data, len);
		data += len;
		size -= len;
		if ((flags & 1) && len >= 40 && (pkt[0] >> 4) == 4 &&
		    (pkt[0] & 0xf) == 5) {
			pkt[9] = 6;
			memcpy(pkt + 12, peer4, 4);
			memcpy(pkt + 16, our4, 4);
			put16(pkt + 20, 1234);
			put16(pkt + 22, 80);
			if (flags & 2) {
				put32(pkt + 24, client_isn + 1 +
						(uint32_t)(int16_t)(pkt[26] << 8 |
								    pkt[27]));
				put32(pkt + 28, iss + 1 +
						(uint32_t)(int16_t)(pkt[30] << 8 |
								    pkt[31]));
			}
		}
		if (flags & 4)
			fix_checksums(pkt, len);
		feed(st, pkt, len);
		if (flags >> 4) {
			now += (uint64_t)(flags >> 4) * 50000000ull;
			netstack_set_clock(st, now);
			netstack_tick(st);
			netstack_flush(st);
		}
		if (nconns)
			on_writable(NULL, conns[0]);
	}
	/* Decide the deferred SYNs, let timers run, tear down. */
	for (i = 0; i < ndeferred; ++i) {
		if (i & 1)
			netstack_tcp_accept(deferred[i]);
		else
			netstack_tcp_refuse(deferred[i],
					    NETSTACK_REFUSE_PROHIBITED);
	}
	now += 5000000000ull;
	netstack_set_clock(st, now);
	netstack_tick(st);
	for (i = 0; i < nconns; ++i)
		if (i & 1)
			netstack_tcp_close(conns[i]);
		else
			netstack_tcp_abort(conns[i]);
	for (i = 0; i < ndeferred; ++i)
		if (i & 1)
			netstack_tcp_close(deferred[i]);
	netstack_udp_close(u);
	netstack_udp_close(uany);
	netstack_echo_close(echo);
	netstack_listener_close(l80);
	netstack_listener_close(lany);
	netstack_free(st);
	return 0;
}

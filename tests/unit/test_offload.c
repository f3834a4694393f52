/* TSO split and GRO coalescing (io/offload.c): IPv4 and IPv6, odd sizes,
 * packets at the MTU, checksums verified independently, merge rules. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "io/offload.h"
#include "unit.h"

enum { MAXSEG = 128, SEGBUF = 2048 };

static uint8_t segs[MAXSEG][VNET_HDR_LEN + SEGBUF];
static size_t seglen[MAXSEG];
static unsigned nsegs;

static uint8_t *sink_alloc(void *ctx, size_t len)
{
	if (nsegs == MAXSEG || len > SEGBUF)
		return NULL;
	return segs[nsegs] + VNET_HDR_LEN;
}

static void sink_emit(void *ctx, uint8_t *seg, size_t len)
{
	seglen[nsegs++] = len;
}

static const struct offload_sink sink = { sink_alloc, sink_emit, NULL };

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A TCP packet as the kernel hands it to a TUN with TSO: checksum field
 * holds the pseudo-header sum (CHECKSUM_PARTIAL). Returns its length. */
static size_t make_tcp(uint8_t *buf, bool v6, size_t payload, uint8_t flags,
		       uint32_t seq, unsigned thlen, uint8_t fill)
{
	unsigned iph = v6 ? 40 : 20;
	uint8_t *tcp = buf + iph;
	size_t i, len = iph + thlen + payload;
	uint16_t c;

	memset(buf, 0, iph + thlen);
	if (v6) {
		buf[0] = 0x60;
		buf[4] = (uint8_t)((len - 40) >> 8);
		buf[5] = (uint8_t)(len - 40);
		buf[6] = IPPROTO_TCP;
		buf[7] = 64;
		buf[8] = 0xfd;
		buf[23] = 1;
		buf[24] = 0xfd;
		buf[39] = 2;
	} else {
		buf[0] = 0x45;
		buf[2] = (uint8_t)(len >> 8);
		buf[3] = (uint8_t)len;
		buf[4] = 0x12;
		buf[6] = 0x40; /* DF */
		buf[8] = 64;
		buf[9] = IPPROTO_TCP;
		buf[12] = 10, buf[15] = 1;
		buf[16] = 10, buf[19] = 2;
		c = (uint16_t)~csum_fold(csum_add(0, buf, 20));
		memcpy(buf + 10, &c, 2);
	}
	tcp[0] = 0x9c, tcp[1] = 0x40; /* 40000 */
	tcp[2] = 0x14, tcp[3] = 0x51; /* 5201 */
	tcp[4] = (uint8_t)(seq >> 24), tcp[5] = (uint8_t)(seq >> 16);
	tcp[6] = (uint8_t)(seq >> 8), tcp[7] = (uint8_t)seq;
	tcp[11] = 7; /* ack */
	tcp[12] = (uint8_t)((thlen / 4) << 4);
	tcp[13] = flags;
	tcp[14] = 0x01; /* window */
	if (thlen > 20) {
		tcp[20] = 1, tcp[21] = 1, tcp[22] = 8, tcp[23] = 10; /* TS */
		tcp[27] = 0x33;
	}
	for (i = 0; i < payload; ++i)
		buf[iph + thlen + i] = (uint8_t)(fill + i * 7);
	c = csum_fold(csum_pseudo(buf, IPPROTO_TCP, thlen + payload));
	memcpy(tcp + 16, &c, 2);
	return len;
}

static bool ip_ok(const uint8_t *p)
{
	return (p[0] >> 4) == 6 || csum_fold(csum_add(0, p, 20)) == 0xffff;
}

static bool tcp_ok(const uint8_t *p, size_t len)
{
	unsigned iph = (p[0] >> 4) == 6 ? 40 : 20;

	return csum_fold(csum_add(csum_pseudo(p, IPPROTO_TCP, len - iph), p + iph,
				  len - iph)) == 0xffff;
}

static void check_split(bool v6, size_t payload, unsigned mss, unsigned thlen)
{
	static uint8_t pkt[70000], joined[70000];
	struct virtio_net_hdr h = { 0 };
	unsigned iph = v6 ? 40 : 20, i, expect;
	size_t len = make_tcp(pkt, v6, payload, 0x18, 1000, thlen, 3), off = 0;
	int n;

	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = (uint16_t)mss;
	h.hdr_len = (uint16_t)(iph + thlen);
	h.csum_start = (uint16_t)iph;
	h.csum_offset = 16;
	nsegs = 0;
	n = offload_split(&h, pkt, len, &sink);
	expect = payload ? (unsigned)((payload + mss - 1) / mss) : 1;
	CHECK(n == (int)expect);
	for (i = 0; i < nsegs; ++i) {
		uint8_t *s = segs[i] + VNET_HDR_LEN;
		size_t pl = seglen[i] - iph - thlen;

		CHECK(ip_ok(s));
		CHECK(tcp_ok(s, seglen[i]));
		CHECK(pl <= mss);
		CHECK(rd32(s + iph + 4) == 1000 + off);
		/* PSH only on the last segment */
		CHECK(!!(s[iph + 13] & 0x08) == (i == nsegs - 1));
		if (!v6)
			CHECK(((unsigned)s[4] << 8 | s[5]) == 0x1200 + i);
		memcpy(joined + off, s + iph + thlen, pl);
		off += pl;
	}
	CHECK(off == payload);
	CHECK(!memcmp(joined, pkt + iph + thlen, payload));
}

static void test_split_ipv4(void)
{
	check_split(false, 10000, 1368, 32);
	check_split(false, 1368 * 3, 1368, 32); /* exact multiple */
	check_split(false, 1, 1368, 20);        /* one byte */
	check_split(false, 65535 - 52, 1380, 32); /* the largest */
	check_split(false, 77, 1, 20); /* one-byte segments */
}

static void test_split_ipv6(void)
{
	check_split(true, 10000, 1348, 32);
	check_split(true, 1348, 1348, 32); /* one full segment: at the MTU */
	check_split(true, 12345, 1000, 20);
}

static void test_split_no_gso(void)
{
	static uint8_t pkt[2000];
	struct virtio_net_hdr h = { 0 };
	size_t len = make_tcp(pkt, false, 1380, 0x10, 5, 20, 1);

	/* needs checksum: the split completes it */
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 20;
	h.csum_offset = 16;
	nsegs = 0;
	CHECK(offload_split(&h, pkt, len, &sink) == 1);
	CHECK(nsegs == 1 && seglen[0] == len);
	CHECK(tcp_ok(segs[0] + VNET_HDR_LEN, len));
	/* nothing asked: passed through untouched */
	memset(&h, 0, sizeof(h));
	nsegs = 0;
	CHECK(offload_split(&h, pkt, len, &sink) == 1);
	CHECK(!memcmp(segs[0] + VNET_HDR_LEN, pkt, len));
}

static void test_split_rejects(void)
{
	static uint8_t pkt[3000];
	struct virtio_net_hdr h = { 0 };
	size_t len = make_tcp(pkt, false, 2000, 0x10, 5, 20, 1);

	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; /* but the packet is IPv4 */
	h.gso_size = 1000;
	h.csum_start = 20;
	CHECK(offload_split(&h, pkt, len, &sink) == -EINVAL);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 0;
	CHECK(offload_split(&h, pkt, len, &sink) == -EINVAL);
	h.gso_size = 1000;
	h.csum_start = 24;
	CHECK(offload_split(&h, pkt, len, &sink) == -EINVAL);
	h.csum_start = 20;
	CHECK(offload_split(&h, pkt, 30, &sink) == -EINVAL);
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	CHECK(offload_split(&h, pkt, len, &sink) == -EINVAL);
}

/* What the kernel does with a coalesced write: finish the checksum. */
static void kernel_finish(uint8_t *p, size_t len, const struct virtio_net_hdr *h)
{
	uint16_t c;

	c = (uint16_t)~csum_fold(csum_add(0, p + h->csum_start, len - h->csum_start));
	memcpy(p + h->csum_start + h->csum_offset, &c, 2);
}

static struct offload_pkt pk[MAXSEG];
static struct offload_write wr[MAXSEG];
static uint32_t nx[MAXSEG];

static void load_segments(void)
{
	unsigned i;

	for (i = 0; i < nsegs; ++i) {
		pk[i].data = segs[i] + VNET_HDR_LEN;
		pk[i].len = (uint32_t)seglen[i];
	}
}

/* Rebuilds the bytes a write sends (head, then followers' payloads). */
static size_t flatten(unsigned w, uint8_t *out)
{
	unsigned i = wr[w].first;
	size_t len = pk[i].len;

	memcpy(out, pk[i].data, len);
	for (i = nx[i]; i != UINT32_MAX; i = nx[i]) {
		unsigned off = offload_payload_off(&pk[i]);

		memcpy(out + len, pk[i].data + off, pk[i].len - off);
		len += pk[i].len - off;
	}
	return len;
}

static void check_round_trip(bool v6, size_t payload, unsigned mss)
{
	static uint8_t pkt[70000], out[70000];
	struct virtio_net_hdr h = { 0 }, *vh;
	unsigned iph = v6 ? 40 : 20, nw;
	size_t len = make_tcp(pkt, v6, payload, 0x18, 77, 32, 9), flat;

	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = (uint16_t)mss;
	h.csum_start = (uint16_t)iph;
	h.csum_offset = 16;
	nsegs = 0;
	REQUIRE(offload_split(&h, pkt, len, &sink) > 0);
	load_segments();
	nw = offload_coalesce(pk, nsegs, wr, nx, true);
	REQUIRE(nw == 1);
	CHECK(wr[0].count == nsegs);
	vh = (void *)(pk[0].data - VNET_HDR_LEN);
	flat = flatten(0, out);
	CHECK(flat == len);
	if (nsegs > 1) {
		CHECK(vh->gso_size == mss);
		CHECK(vh->gso_type == h.gso_type);
		CHECK(vh->flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
		kernel_finish(out, flat, vh);
	} else {
		CHECK(vh->gso_type == VIRTIO_NET_HDR_GSO_NONE);
	}
	CHECK(ip_ok(out));
	CHECK(tcp_ok(out, flat));
	CHECK(!memcmp(out + iph + 32, pkt + iph + 32, payload));
	CHECK(out[iph + 13] & 0x08); /* PSH carried to the head */
}

static void test_coalesce_round_trip(void)
{
	check_round_trip(false, 30000, 1368);
	check_round_trip(true, 30000, 1348);
	check_round_trip(false, 1368 * 10 + 5, 1368);
	check_round_trip(false, 500, 1368);
	check_round_trip(false, 65535 - 52, 1380);
}

static void test_coalesce_rules(void)
{
	static uint8_t a[2000];
	unsigned i, nw;

	/* two flows interleaved: one write each */
	nsegs = 0;
	for (i = 0; i < 6; ++i) {
		uint8_t *s = segs[nsegs] + VNET_HDR_LEN;

		seglen[nsegs] = make_tcp(s, false, 1000, 0x10,
					 1000 + (i / 2) * 1000, 32, 0);
		if (i % 2)
			s[0x17] = 0x55; /* other source port byte: other flow */
		nsegs++;
	}
	/* make_tcp wrote checksums as partial; fine for merging */
	load_segments();
	nw = offload_coalesce(pk, nsegs, wr, nx, true);
	CHECK(nw == 2);
	CHECK(wr[0].count == 3 && wr[1].count == 3);

	/* a gap in sequence numbers starts a new write */
	nsegs = 0;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 1000, 0x10, 0, 32, 0), nsegs++;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 1000, 0x10, 2000, 32, 0), nsegs++;
	load_segments();
	CHECK(offload_coalesce(pk, nsegs, wr, nx, true) == 2);

	/* a changed timestamp option, a SYN, a short segment in the middle */
	nsegs = 0;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 1000, 0x10, 0, 32, 0), nsegs++;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 1000, 0x10, 1000, 32, 0);
	segs[nsegs][VNET_HDR_LEN + 20 + 27] = 0x34, nsegs++;
	load_segments();
	CHECK(offload_coalesce(pk, nsegs, wr, nx, true) == 2);

	nsegs = 0;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 1000, 0x12, 0, 32, 0), nsegs++;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 1000, 0x10, 1000, 32, 0), nsegs++;
	load_segments();
	CHECK(offload_coalesce(pk, nsegs, wr, nx, true) == 2);

	nsegs = 0;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 1000, 0x10, 0, 32, 0), nsegs++;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 500, 0x10, 1000, 32, 0), nsegs++;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 1000, 0x10, 1500, 32, 0), nsegs++;
	load_segments();
	nw = offload_coalesce(pk, nsegs, wr, nx, true);
	CHECK(nw == 2);
	CHECK(wr[0].count == 2);

	/* pure ACKs and non-TCP are written alone, untouched */
	nsegs = 0;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 0, 0x10, 0, 32, 0), nsegs++;
	seglen[nsegs] = make_tcp(segs[nsegs] + VNET_HDR_LEN, false, 0, 0x10, 0, 32, 0), nsegs++;
	memcpy(a, segs[1] + VNET_HDR_LEN, seglen[1]);
	load_segments();
	CHECK(offload_coalesce(pk, nsegs, wr, nx, true) == 2);
	CHECK(!memcmp(a, segs[1] + VNET_HDR_LEN, seglen[1]));
}

static void test_csum_odd_lengths(void)
{
	uint8_t buf[101];
	uint32_t whole, parts;
	unsigned i;

	for (i = 0; i < sizeof(buf); ++i)
		buf[i] = (uint8_t)(i * 37 + 1);
	whole = csum_add(0, buf, sizeof(buf));
	parts = csum_add(csum_add(0, buf, 40), buf + 40, 61);
	CHECK(csum_fold(whole) == csum_fold(parts));
}

/* A UDP GSO packet as the kernel hands it over with USO: IP and UDP lengths
 * cover everything, the checksum field holds the pseudo-header sum. */
static size_t make_udp(uint8_t *buf, bool v6, size_t payload, uint8_t fill)
{
	unsigned iph = v6 ? 40 : 20;
	uint8_t *udp = buf + iph;
	size_t i, len = iph + 8 + payload;
	uint16_t c;

	memset(buf, 0, iph + 8);
	if (v6) {
		buf[0] = 0x60;
		buf[4] = (uint8_t)((len - 40) >> 8);
		buf[5] = (uint8_t)(len - 40);
		buf[6] = IPPROTO_UDP;
		buf[7] = 64;
		buf[8] = 0xfd, buf[23] = 1, buf[24] = 0xfd, buf[39] = 2;
	} else {
		buf[0] = 0x45;
		buf[2] = (uint8_t)(len >> 8);
		buf[3] = (uint8_t)len;
		buf[8] = 64;
		buf[9] = IPPROTO_UDP;
		buf[12] = 10, buf[15] = 1, buf[16] = 10, buf[19] = 2;
		c = (uint16_t)~csum_fold(csum_add(0, buf, 20));
		memcpy(buf + 10, &c, 2);
	}
	udp[0] = 0x1b, udp[1] = 0x58; /* 7000 */
	udp[2] = 0x1b, udp[3] = 0x59;
	udp[4] = (uint8_t)((8 + payload) >> 8);
	udp[5] = (uint8_t)(8 + payload);
	for (i = 0; i < payload; ++i)
		buf[iph + 8 + i] = (uint8_t)(fill + i * 13);
	c = csum_fold(csum_pseudo(buf, IPPROTO_UDP, 8 + payload));
	memcpy(udp + 6, &c, 2);
	return len;
}

static bool udp_ok(const uint8_t *p, size_t len)
{
	unsigned iph = (p[0] >> 4) == 6 ? 40 : 20;

	return ((unsigned)p[iph + 4] << 8 | p[iph + 5]) == len - iph &&
	       csum_fold(csum_add(csum_pseudo(p, IPPROTO_UDP, len - iph),
				  p + iph, len - iph)) == 0xffff;
}

static void check_udp(bool v6, size_t payload, unsigned mss)
{
	static uint8_t pkt[70000], out[70000];
	struct virtio_net_hdr h = { 0 }, *vh;
	unsigned iph = v6 ? 40 : 20, i, nw;
	size_t len = make_udp(pkt, v6, payload, 5), off = 0, flat;

	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	h.gso_size = (uint16_t)mss;
	h.csum_start = (uint16_t)iph;
	h.csum_offset = 6;
	nsegs = 0;
	CHECK(offload_split(&h, pkt, len, &sink) == (int)((payload + mss - 1) / mss));
	for (i = 0; i < nsegs; ++i) {
		uint8_t *sg = segs[i] + VNET_HDR_LEN;

		CHECK(ip_ok(sg));
		CHECK(udp_ok(sg, seglen[i]));
		CHECK(!memcmp(sg + iph + 8, pkt + iph + 8 + off, seglen[i] - iph - 8));
		off += seglen[i] - iph - 8;
	}
	CHECK(off == payload);

	/* and back into one write */
	load_segments();
	nw = offload_coalesce(pk, nsegs, wr, nx, true);
	REQUIRE(nw == 1);
	vh = (void *)(pk[0].data - VNET_HDR_LEN);
	flat = flatten(0, out);
	CHECK(flat == len);
	if (nsegs > 1) {
		CHECK(vh->gso_type == VIRTIO_NET_HDR_GSO_UDP_L4);
		CHECK(vh->gso_size == mss);
		kernel_finish(out, flat, vh);
	}
	CHECK(ip_ok(out));
	CHECK(udp_ok(out, flat));
	CHECK(!memcmp(out + iph + 8, pkt + iph + 8, payload));
	/* without USO the datagrams are written one by one */
	load_segments();
	CHECK(offload_coalesce(pk, nsegs, wr, nx, false) == nsegs);
}

static void test_udp_split_and_coalesce(void)
{
	check_udp(false, 1400 * 30, 1400);
	check_udp(false, 1400 * 7 + 3, 1400);
	check_udp(true, 1380 * 40, 1380);
	check_udp(false, 100, 1400);
}

/* Three equal UDP datagrams of one flow in segs[0..2], to be altered. */
static void three_datagrams(bool v6)
{
	unsigned i;

	for (i = 0; i < 3; ++i)
		seglen[i] = make_udp(segs[i] + VNET_HDR_LEN, v6, 1000, 1);
	nsegs = 3;
}

/* Coalesces segs[0..2]: each must be written alone, in order. */
static void check_written_alone(void)
{
	unsigned i, nw;

	load_segments();
	nw = offload_coalesce(pk, nsegs, wr, nx, true);
	REQUIRE(nw == 3);
	for (i = 0; i < 3; ++i)
		CHECK(wr[i].first == i && wr[i].count == 1);
}

/* A packet that merges with nothing keeps its place among the datagrams
 * of its hosts: a last fragment between two datagrams of a flow must not
 * be overtaken by the second (it completes the datagram it belongs to).
 * Other hosts' packets do not split a group. */
static void test_coalesce_keeps_order_around_fragments(void)
{
	unsigned nw;

	/* the middle one becomes a trailing fragment of the same hosts */
	three_datagrams(false);
	segs[1][VNET_HDR_LEN + 6] = 0x00;
	segs[1][VNET_HDR_LEN + 7] = 0xb9; /* offset 1480 */
	check_written_alone();

	/* the same between other hosts: the flow's two datagrams merge */
	three_datagrams(false);
	segs[1][VNET_HDR_LEN + 7] = 0xb9;
	segs[1][VNET_HDR_LEN + 15] = 9; /* another source */
	load_segments();
	nw = offload_coalesce(pk, nsegs, wr, nx, true);
	REQUIRE(nw == 2);
	CHECK(wr[0].first == 0 && wr[0].count == 2);
	CHECK(wr[1].first == 1 && wr[1].count == 1);

	/* one flow, DF on the middle datagram only (it was never
	 * fragmented, the others were reassembled): nothing merges across
	 * it */
	three_datagrams(false);
	segs[1][VNET_HDR_LEN + 6] = 0x40;
	check_written_alone();

	/* IPv6: a non-candidate (ICMPv6) between the same hosts */
	three_datagrams(true);
	segs[1][VNET_HDR_LEN + 6] = 58;
	load_segments();
	CHECK(offload_coalesce(pk, nsegs, wr, nx, true) == 3);
}

/* csum_add against the sum written out from RFC 1071, on every length up
 * to 2 KiB at every alignment (the AVX2 path takes 32 bytes a step, the
 * rest word by word), from zero and from a running sum. */
static void test_csum_add(void)
{
	static uint8_t buf[2048 + 8];
	size_t len, off;
	int bad = 0;

	for (len = 0; len < sizeof(buf); ++len)
		buf[len] = (uint8_t)((len * 2654435761u) >> 13);
	for (len = 0; len <= 2048; ++len) {
		for (off = 0; off < 8; off += (len % 7) ? 7 : 1) {
			uint64_t ref = 0x1234;
			size_t i;

			for (i = 0; i + 1 < len; i += 2) {
				uint16_t w;

				memcpy(&w, buf + off + i, 2);
				ref += w;
			}
			if (len % 2) {
				uint8_t last[2] = { buf[off + len - 1], 0 };
				uint16_t w;

				memcpy(&w, last, 2);
				ref += w;
			}
			while (ref >> 16)
				ref = (ref & 0xffff) + (ref >> 16);
			bad += csum_fold(csum_add(0x1234, buf + off, len)) != ref;
		}
	}
	CHECK(bad == 0);
	memset(buf, 0xff, sizeof(buf));
	CHECK(csum_fold(csum_add(0, buf, 2048)) == 0xffff);
}

int main(void)
{
	RUN(test_split_ipv4);
	RUN(test_split_ipv6);
	RUN(test_split_no_gso);
	RUN(test_split_rejects);
	RUN(test_coalesce_round_trip);
	RUN(test_coalesce_rules);
	RUN(test_csum_odd_lengths);
	RUN(test_csum_add);
	RUN(test_udp_split_and_coalesce);
	RUN(test_coalesce_keeps_order_around_fragments);
	return unit_done();
}

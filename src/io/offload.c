/* TSO/USO splitting and GRO coalescing for TUN devices with IFF_VNET_HDR
 * (the approach of wireguard-go's tun/offload_linux.go and Linux's
 * tcp_gro_receive, written for our buffers). */
#include "io/offload.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

enum {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_PSH = 0x08,
	TCP_ACK = 0x10,
	TCP_URG = 0x20,
	TCP_ECE = 0x40,
	TCP_CWR = 0x80,
	IPV4_HDR = 20,
	IPV6_HDR = 40,
	TCP_HDR = 20,
	TCP_CSUM_OFF = 16,
	UDP_HDR = 8,
	UDP_CSUM_OFF = 6,
	OPEN_FLOWS = 8,
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void store_csum(uint8_t *field, uint32_t sum)
{
	uint16_t c = (uint16_t)~csum_fold(sum);

	memcpy(field, &c, 2);
}

static void ipv4_fix_csum(uint8_t *ip)
{
	unsigned ihl = (ip[0] & 0xf) * 4u;

	ip[10] = ip[11] = 0;
	store_csum(ip + 10, csum_add(0, ip, ihl));
}

/* Splitting sums no header it has just written: a load that spans
 * smaller stores still in flight (put16 and put32 store bytes) waits for
 * them to reach the cache, which cost a TCP sender about 4% of its CPU.
 * The parts of the headers every segment shares are summed once from the
 * super-packet, the fields a segment changes are added as values, and
 * the payload is summed where it was read. */

/* v's two bytes in network order, as csum_add reads them. */
static uint64_t be_word(uint32_t v)
{
	return htons((uint16_t)v);
}

static uint32_t fold64(uint64_t s)
{
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

/* An IPv4 header's sum without its length, id and checksum fields. */
static uint64_t ip4_shared_sum(const uint8_t *ip, unsigned ihl)
{
	return (uint64_t)csum_add(0, ip, 2) + csum_add(0, ip + 6, 4) +
	       csum_add(0, ip + 12, ihl - 12);
}

/* The pseudo-header's sum without its length: the addresses and proto. */
static uint64_t pseudo_shared_sum(const uint8_t *ip, bool v4, int proto)
{
	return (uint64_t)(v4 ? csum_add(0, ip + 12, 8) : csum_add(0, ip + 8, 32)) +
	       be_word((uint32_t)proto);
}

static uint64_t pseudo_len(size_t l4_len)
{
	return be_word((uint32_t)(l4_len >> 16)) + be_word((uint32_t)l4_len);
}

uint32_t csum_pseudo(const uint8_t *ip, int proto, size_t l4_len)
{
	return fold64(pseudo_shared_sum(ip, (ip[0] >> 4) == 4, proto) +
		      pseudo_len(l4_len));
}

static int emit_copy(uint8_t *pkt, size_t len, const struct offload_sink *sink)
{
	uint8_t *dst = sink->alloc(sink->ctx, len);

	if (!dst)
		return 0;
	memcpy(dst, pkt, len);
	sink->emit(sink->ctx, dst, len);
	return 1;
}

/* One segment of a super-packet: its headers, payload bytes [off, off +
 * chunk), and the IP header fixed for the new length (and IPv4 id, its
 * checksum from ip_sum, ip4_shared_sum's). The transport header is the
 * caller's to finish. NULL when the sink is full. */
static uint8_t *new_segment(const uint8_t *pkt, unsigned hdrlen, size_t off,
			    size_t chunk, bool v4, uint16_t id,
			    uint64_t ip_sum, const struct offload_sink *sink)
{
	uint8_t *seg = sink->alloc(sink->ctx, hdrlen + chunk);

	if (!seg)
		return NULL;
	memcpy(seg, pkt, hdrlen);
	memcpy(seg + hdrlen, pkt + hdrlen + off, chunk);
	if (v4) {
		put16(seg + 2, (uint16_t)(hdrlen + chunk));
		put16(seg + 4, id);
		store_csum(seg + 10, fold64(ip_sum + be_word(hdrlen + chunk) +
					    be_word(id)));
	} else {
		put16(seg + 4, (uint16_t)(hdrlen + chunk - IPV6_HDR));
	}
	return seg;
}

/* A UDP GSO packet: datagrams of gso_size payload, the last shorter. */
static int split_udp(const struct virtio_net_hdr *h, uint8_t *pkt, size_t len,
		     const struct offload_sink *sink)
{
	unsigned l4 = h->csum_start, mss = h->gso_size, hdrlen = l4 + UDP_HDR;
	size_t payload, off;
	uint64_t ip_sum = 0, shared;
	uint16_t id0 = 0;
	bool v4;
	int n = 0;

	if (len < IPV4_HDR || !mss)
		return -EINVAL;
	v4 = (pkt[0] >> 4) == 4;
	if (v4 ? l4 != (pkt[0] & 0xfu) * 4 || pkt[9] != IPPROTO_UDP
	       : (pkt[0] >> 4) != 6 || l4 < IPV6_HDR)
		return -EINVAL;
	if (hdrlen > len)
		return -EINVAL;
	payload = len - hdrlen;
	if (v4) {
		id0 = get16(pkt + 4);
		ip_sum = ip4_shared_sum(pkt, l4);
	}
	/* Ports, then per datagram its length twice (pseudo-header and UDP
	 * header) and its payload. */
	shared = pseudo_shared_sum(pkt, v4, IPPROTO_UDP) + csum_add(0, pkt + l4, 4);
	for (off = 0; off < payload; off += mss) {
		size_t chunk = payload - off < mss ? payload - off : mss;
		uint8_t *seg = new_segment(pkt, hdrlen, off, chunk, v4,
					   (uint16_t)(id0 + n), ip_sum, sink);
		uint8_t *udp;
		uint16_t c;

		if (!seg)
			break;
		udp = seg + l4;
		put16(udp + 4, (uint16_t)(UDP_HDR + chunk));
		c = (uint16_t)~csum_fold(fold64(
			shared + pseudo_len(UDP_HDR + chunk) +
			be_word((uint32_t)(UDP_HDR + chunk)) +
			csum_add(0, pkt + hdrlen + off, chunk)));
		if (!c)
			c = 0xffff;
		memcpy(udp + 6, &c, 2);
		sink->emit(sink->ctx, seg, hdrlen + chunk);
		n++;
	}
	return n ? n : -EINVAL;
}

int offload_split(const struct virtio_net_hdr *h, uint8_t *pkt, size_t len,
		  const struct offload_sink *sink)
{
	unsigned l4 = h->csum_start, thlen, hdrlen, mss = h->gso_size;
	unsigned gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	size_t payload, off;
	uint64_t ip_sum = 0, shared;
	uint32_t seq0;
	uint16_t id0 = 0;
	uint8_t flags;
	bool v4;
	int n = 0;

	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			/* The field holds the pseudo-header sum: finish it. */
			size_t at = (size_t)l4 + h->csum_offset;
			uint16_t c;

			if (l4 >= len || at + 2 > len)
				return -EINVAL;
			c = (uint16_t)~csum_fold(csum_add(0, pkt + l4, len - l4));
			if (!c && h->csum_offset == 6) /* UDP: 0 means none */
				c = 0xffff;
			memcpy(pkt + at, &c, 2);
		}
		return emit_copy(pkt, len, sink);
	}
	if (gso == VIRTIO_NET_HDR_GSO_UDP_L4)
		return split_udp(h, pkt, len, sink);
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6)
		return -EINVAL;
	if (len < IPV4_HDR)
		return -EINVAL;
	v4 = (pkt[0] >> 4) == 4;
	if (v4 != (gso == VIRTIO_NET_HDR_GSO_TCPV4))
		return -EINVAL;
	if (v4 ? l4 != (pkt[0] & 0xfu) * 4 : l4 < IPV6_HDR)
		return -EINVAL;
	if (l4 + TCP_HDR > len || !mss)
		return -EINVAL;
	thlen = (pkt[l4 + 12] >> 4) * 4u;
	hdrlen = l4 + thlen;
	if (thlen < TCP_HDR || hdrlen > len)
		return -EINVAL;
	payload = len - hdrlen;
	seq0 = get32(pkt + l4 + 4);
	flags = pkt[l4 + 13];
	if (v4) {
		id0 = get16(pkt + 4);
		ip_sum = ip4_shared_sum(pkt, l4);
	}
	/* The TCP header but its sequence number, flags and checksum: ports,
	 * ack, window, urgent pointer and options. */
	shared = pseudo_shared_sum(pkt, v4, IPPROTO_TCP) +
		 csum_add(0, pkt + l4, 4) + csum_add(0, pkt + l4 + 8, 4) +
		 csum_add(0, pkt + l4 + 14, 2) +
		 csum_add(0, pkt + l4 + 18, thlen - 18);

	for (off = 0; off < payload || (!payload && !n); off += mss) {
		size_t chunk = payload - off < mss ? payload - off : mss;
		bool last = off + chunk >= payload;
		uint8_t *seg = new_segment(pkt, hdrlen, off, chunk, v4,
					   (uint16_t)(id0 + n), ip_sum, sink);
		uint32_t seq = seq0 + (uint32_t)off;
		uint8_t *tcp, f = flags;

		if (!seg)
			break;
		tcp = seg + l4;
		if (!last)
			f &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (n)
			f &= (uint8_t)~TCP_CWR;
		put32(tcp + 4, seq);
		tcp[13] = f;
		store_csum(tcp + TCP_CSUM_OFF,
			   fold64(shared + pseudo_len(thlen + chunk) +
				  be_word(seq >> 16) + be_word(seq) +
				  be_word((uint32_t)pkt[l4 + 12] << 8 | f) +
				  csum_add(0, pkt + hdrlen + off, chunk)));
		sink->emit(sink->ctx, seg, hdrlen + chunk);
		n++;
		if (!payload)
			break;
	}
	return n;
}

/* Header facts of a packet that may take part in a merge. */
struct flow_info {
	unsigned iphlen, l4len, plen;
	uint32_t seq;   /* TCP */
	uint8_t flags;  /* TCP */
	uint8_t proto;
	bool v4;
};

static bool candidate(const struct offload_pkt *p, struct flow_info *t,
		      bool udp)
{
	const uint8_t *d = p->data;
	unsigned total;

	if (p->len < IPV4_HDR + UDP_HDR)
		return false;
	if ((d[0] >> 4) == 4) {
		/* no options, not a fragment */
		if (d[0] != 0x45 || (get16(d + 6) & 0x3fff))
			return false;
		total = get16(d + 2);
		t->proto = d[9];
		t->iphlen = IPV4_HDR;
		t->v4 = true;
	} else if ((d[0] >> 4) == 6) {
		if (p->len < IPV6_HDR + UDP_HDR)
			return false;
		total = IPV6_HDR + get16(d + 4);
		t->proto = d[6];
		t->iphlen = IPV6_HDR;
		t->v4 = false;
	} else {
		return false;
	}
	if (total != p->len)
		return false;
	if (t->proto == IPPROTO_UDP && udp) {
		t->l4len = UDP_HDR;
		if (get16(d + t->iphlen + 4) != p->len - t->iphlen)
			return false;
	} else if (t->proto == IPPROTO_TCP) {
		if (p->len < t->iphlen + TCP_HDR)
			return false;
		t->l4len = (d[t->iphlen + 12] >> 4) * 4u;
		if (t->l4len < TCP_HDR)
			return false;
		t->flags = d[t->iphlen + 13];
		if ((t->flags & ~(TCP_ACK | TCP_PSH)) || !(t->flags & TCP_ACK))
			return false;
		t->seq = get32(d + t->iphlen + 4);
	} else {
		return false;
	}
	if (t->iphlen + t->l4len >= p->len)
		return false;
	t->plen = p->len - t->iphlen - t->l4len;
	return true;
}

/* One flow: IP version, protocol, addresses and ports. */
static bool same_flow(const struct offload_pkt *a, const struct flow_info *ta,
		      const struct offload_pkt *b, const struct flow_info *tb)
{
	const uint8_t *x = a->data, *y = b->data;

	if (ta->v4 != tb->v4 || ta->proto != tb->proto)
		return false;
	if (ta->v4 ? memcmp(x + 12, y + 12, 8) : memcmp(x + 8, y + 8, 32))
		return false;
	return !memcmp(x + ta->iphlen, y + tb->iphlen, 4);
}

/* Of one flow, the same headers in every other field a merge must keep:
 * TOS/TTL (or traffic class, flow label, hop limit), DF; for TCP also ack,
 * window, header length and options. */
static bool same_headers(const struct offload_pkt *a,
			 const struct flow_info *ta,
			 const struct offload_pkt *b,
			 const struct flow_info *tb)
{
	const uint8_t *x = a->data, *y = b->data;

	if (ta->l4len != tb->l4len)
		return false;
	if (ta->v4) {
		if (x[1] != y[1] || x[8] != y[8] ||
		    (x[6] & 0x40) != (y[6] & 0x40))
			return false;
	} else if (memcmp(x, y, 4) || x[7] != y[7]) {
		return false;
	}
	if (ta->proto == IPPROTO_UDP)
		return true;
	x += ta->iphlen;
	y += tb->iphlen;
	return !memcmp(x + 8, y + 8, 4) && !memcmp(x + 14, y + 14, 2) &&
	       !memcmp(x + TCP_HDR, y + TCP_HDR, ta->l4len - TCP_HDR);
}

struct group {
	unsigned write, last;
	struct flow_info head;
	uint32_t next_seq, payload;
	bool psh;    /* a merged TCP segment had PSH: the head gets it */
	bool closed; /* PSH or a short segment: nothing may follow */
};

unsigned offload_payload_off(const struct offload_pkt *pkt)
{
	const uint8_t *d = pkt->data;
	bool v4 = (d[0] >> 4) == 4;
	unsigned iphlen = v4 ? IPV4_HDR : IPV6_HDR;

	if ((v4 ? d[9] : d[6]) == IPPROTO_UDP)
		return iphlen + UDP_HDR;
	return iphlen + (d[iphlen + 12] >> 4) * 4u;
}

static void finish_group(struct offload_pkt *pkts, struct offload_write *w,
			 const struct group *g)
{
	struct offload_pkt *p = &pkts[w->first];
	struct virtio_net_hdr *vh = (void *)(p->data - VNET_HDR_LEN);
	const struct flow_info *t = &g->head;
	uint8_t *l4 = p->data + t->iphlen;
	unsigned l4_len = t->l4len + g->payload, csum_off;
	uint16_t c;

	memset(vh, 0, sizeof(*vh));
	if (w->count == 1)
		return;
	if (t->v4) {
		put16(p->data + 2, (uint16_t)(t->iphlen + l4_len));
		ipv4_fix_csum(p->data);
	} else {
		put16(p->data + 4, (uint16_t)l4_len);
	}
	if (t->proto == IPPROTO_UDP) {
		put16(l4 + 4, (uint16_t)l4_len);
		csum_off = UDP_CSUM_OFF;
		vh->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	} else {
		if (g->psh)
			l4[13] |= TCP_PSH;
		csum_off = TCP_CSUM_OFF;
		vh->gso_type = t->v4 ? VIRTIO_NET_HDR_GSO_TCPV4
				     : VIRTIO_NET_HDR_GSO_TCPV6;
	}
	/* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum. */
	c = csum_fold(csum_pseudo(p->data, t->proto, l4_len));
	memcpy(l4 + csum_off, &c, 2);
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->hdr_len = (uint16_t)(t->iphlen + t->l4len);
	vh->gso_size = (uint16_t)t->plen;
	vh->csum_start = (uint16_t)t->iphlen;
	vh->csum_offset = (uint16_t)csum_off;
}

static bool can_append(const struct offload_write *w, const struct group *g,
		       const struct flow_info *t)
{
	if (g->closed || t->plen > g->head.plen ||
	    w->count >= OFFLOAD_MAX_SEGS ||
	    g->head.iphlen + g->head.l4len + g->payload + t->plen >
		    OFFLOAD_MAX_LEN)
		return false;
	return t->proto == IPPROTO_UDP || t->seq == g->next_seq;
}

bool offload_same_hosts(const uint8_t *a, const uint8_t *b, size_t blen)
{
	unsigned version = blen ? b[0] >> 4 : 0;

	if (version == 4)
		return blen < IPV4_HDR ||
		       ((a[0] >> 4) == 4 && !memcmp(a + 12, b + 12, 8));
	if (version == 6)
		return blen < IPV6_HDR ||
		       ((a[0] >> 4) == 6 && !memcmp(a + 8, b + 8, 32));
	return true;
}

/* A packet that merges with nothing (a fragment, a bare ACK, a SYN) is
 * written after the groups opened before it, so any group it might share
 * a flow with is closed first: nothing after it may join a write that goes
 * out before it (a datagram's last fragment between two datagrams of its
 * flow would otherwise complete it after the second). */
static void close_groups_before(struct offload_pkt *pkts, unsigned i,
				struct group *open, unsigned *nopen,
				struct offload_write *writes)
{
	unsigned j, kept = 0;

	for (j = 0; j < *nopen; ++j) {
		if (offload_same_hosts(pkts[writes[open[j].write].first].data,
				       pkts[i].data, pkts[i].len))
			finish_group(pkts, &writes[open[j].write], &open[j]);
		else
			open[kept++] = open[j];
	}
	*nopen = kept;
}

unsigned offload_coalesce(struct offload_pkt *pkts, unsigned n,
			  struct offload_write *writes, uint32_t *next, bool udp)
{
	struct group open[OPEN_FLOWS], *g;
	unsigned nopen = 0, nw = 0, i, j;

	for (i = 0; i < n; ++i) {
		struct flow_info t;

		next[i] = UINT32_MAX;
		if (!candidate(&pkts[i], &t, udp)) {
			close_groups_before(pkts, i, open, &nopen, writes);
			writes[nw++] = (struct offload_write){ i, 1 };
			memset(pkts[i].data - VNET_HDR_LEN, 0, VNET_HDR_LEN);
			continue;
		}
		g = NULL;
		for (j = 0; j < nopen; ++j) {
			if (same_flow(&pkts[writes[open[j].write].first],
				      &open[j].head, &pkts[i], &t)) {
				g = &open[j];
				break;
			}
		}
		/* A flow's packet that cannot join its group (other header
		 * values, say DF on a datagram after a reassembled one)
		 * closes it, as Linux GRO flushes: a second group of the
		 * same flow would be written out of order. */
		if (g && same_headers(&pkts[writes[g->write].first], &g->head,
				      &pkts[i], &t) &&
		    can_append(&writes[g->write], g, &t)) {
			next[g->last] = i;
			g->last = i;
			g->next_seq += t.plen;
			g->payload += t.plen;
			if (t.proto == IPPROTO_TCP)
				g->psh = (t.flags & TCP_PSH) != 0;
			g->closed = g->psh || t.plen < g->head.plen;
			writes[g->write].count++;
			continue;
		}
		if (g) {
			/* The flow moved on: close its group. */
			finish_group(pkts, &writes[g->write], g);
			*g = open[--nopen];
		}
		if (nopen == OPEN_FLOWS) {
			finish_group(pkts, &writes[open[0].write], &open[0]);
			memmove(open, open + 1, --nopen * sizeof(open[0]));
		}
		g = &open[nopen++];
		g->write = nw;
		g->last = i;
		g->head = t;
		g->next_seq = t.seq + t.plen;
		g->payload = t.plen;
		g->psh = t.proto == IPPROTO_TCP && (t.flags & TCP_PSH);
		g->closed = g->psh;
		writes[nw++] = (struct offload_write){ i, 1 };
	}
	for (j = 0; j < nopen; ++j)
		finish_group(pkts, &writes[open[j].write], &open[j]);
	return nw;
}

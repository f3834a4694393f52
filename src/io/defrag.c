/* IPv4 reassembly within one batch (and the one after): see defrag.h. */
#include "io/defrag.h"

#include <stdbool.h>
#include <string.h>

#include "io/offload.h"

enum {
	IP4_HDR = 20,
	IP4_MF = 0x2000,
	IP4_OFFSET = 0x1fff,
	IP4_MAX = 65535,
};

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A fragment we may join: IPv4 without options, length and header checksum
 * consistent, MF or a non-zero offset. Sets *off (bytes) and *more. */
static bool fragment(const struct defrag_pkt *p, unsigned *off, bool *more)
{
	const uint8_t *d = p->data;
	unsigned frag;

	if (p->len <= IP4_HDR || d[0] != 0x45 || get16(d + 2) != p->len)
		return false;
	frag = get16(d + 6);
	if (!(frag & (IP4_MF | IP4_OFFSET)) || (frag & 0x8000))
		return false;
	if (csum_fold(csum_add(0, d, IP4_HDR)) != 0xffff)
		return false;
	*off = (frag & IP4_OFFSET) * 8u;
	*more = (frag & IP4_MF) != 0;
	return true;
}

/* Same datagram: addresses, identification, protocol. */
static bool same_datagram(const uint8_t *a, const uint8_t *b)
{
	return a[4] == b[4] && a[5] == b[5] && a[9] == b[9] &&
	       !memcmp(a + 12, b + 12, 8);
}

/* Whether p may be a piece of head's datagram: the cheap test, before
 * fragment()'s checksum (a batch interleaves many datagrams' pieces). */
static bool may_join(const struct defrag_pkt *p, const uint8_t *head)
{
	return p->len > IP4_HDR && same_datagram(head, p->data);
}

/* Looks for the rest of the datagram whose first fragment is pkts[first];
 * joins it if complete. Returns the index of the completing fragment, or
 * -1 (nothing changed). */
static int join(struct defrag_pkt *pkts, unsigned n, unsigned first)
{
	struct defrag_pkt *head = &pkts[first];
	unsigned members[DEFRAG_WINDOW], nm = 0, end, i, j, off, total;
	bool more;

	end = head->len - IP4_HDR; /* payload bytes so far */
	if (end % 8)
		return -1;
	/* A piece of it before the first fragment (reordered, or a
	 * duplicate first fragment): the kernel decides. */
	for (i = first > DEFRAG_WINDOW ? first - DEFRAG_WINDOW : 0; i < first;
	     ++i)
		if (may_join(&pkts[i], head->data) &&
		    fragment(&pkts[i], &off, &more))
			return -1;
	for (i = first + 1; i < n && i <= first + DEFRAG_WINDOW; ++i) {
		if (!may_join(&pkts[i], head->data) ||
		    !fragment(&pkts[i], &off, &more))
			continue;
		/* In order, no gaps, no overlaps, one TOS (joining must not
		 * lose an ECN mark); else the kernel decides. */
		if (off != end || pkts[i].data[1] != head->data[1] || (more && (pkts[i].len - IP4_HDR) % 8))
			return -1;
		members[nm++] = i;
		end += pkts[i].len - IP4_HDR;
		if (!more)
			break;
	}
	if (i >= n || i > first + DEFRAG_WINDOW)
		return -1; /* incomplete in this batch */
	total = IP4_HDR + end;
	if (total > IP4_MAX || total > head->cap)
		return -1;
	for (j = 0; j < nm; ++j) {
		struct defrag_pkt *f = &pkts[members[j]];

		memcpy(head->data + head->len, f->data + IP4_HDR,
		       f->len - IP4_HDR);
		head->len += f->len - IP4_HDR;
		f->len = 0;
	}
	put16(head->data + 2, total);
	put16(head->data + 6, get16(head->data + 6) & 0x4000); /* keep DF */
	head->data[10] = head->data[11] = 0;
	{
		uint16_t c = (uint16_t)~csum_fold(csum_add(0, head->data,
							   IP4_HDR));

		memcpy(head->data + 10, &c, 2);
	}
	/* The datagram stands where its last fragment arrived. */
	pkts[i] = *head;
	head->len = 0;
	return (int)i;
}

unsigned defrag4_batch(struct defrag_pkt *pkts, unsigned n)
{
	unsigned i, out = 0, joined = 0;

	for (i = 0; i < n; ++i) {
		unsigned off;
		bool more;

		if (pkts[i].len && fragment(&pkts[i], &off, &more) && !off &&
		    more && join(pkts, n, i) >= 0)
			joined++;
	}
	if (!joined)
		return n;
	for (i = 0; i < n; ++i)
		if (pkts[i].len)
			pkts[out++] = pkts[i];
	return out;
}

unsigned defrag4_unfinished(const struct defrag_pkt *pkts, unsigned n,
			    uint32_t from_id, bool *wait)
{
	unsigned i, j, off, marked = 0;
	bool more;

	memset(wait, 0, n * sizeof(*wait));
	for (i = 0; i < n; ++i) {
		if (wait[i] || pkts[i].id < from_id ||
		    !fragment(&pkts[i], &off, &more) || off || !more)
			continue;
		wait[i] = true;
		marked++;
		for (j = i + 1; j < n && j <= i + DEFRAG_WINDOW; ++j) {
			if (!wait[j] && pkts[j].id >= from_id &&
			    may_join(&pkts[j], pkts[i].data) &&
			    fragment(&pkts[j], &off, &more)) {
				wait[j] = true;
				marked++;
			}
		}
	}
	return marked;
}

enum frag_kind frag_kind(const uint8_t *pkt, size_t len)
{
	unsigned frag;

	if (len >= IP4_HDR && (pkt[0] >> 4) == 4) {
		frag = get16(pkt + 6);
		if (frag & IP4_MF)
			return FRAG_LEADING;
		return frag & IP4_OFFSET ? FRAG_TAIL : FRAG_NONE;
	}
	/* IPv6 with the fragment header (44) right after the fixed one */
	if (len >= 48 && (pkt[0] >> 4) == 6 && pkt[6] == 44) {
		frag = get16(pkt + 42);
		if (frag & 1)
			return FRAG_LEADING;
		return frag >> 3 ? FRAG_TAIL : FRAG_NONE;
	}
	return FRAG_NONE;
}

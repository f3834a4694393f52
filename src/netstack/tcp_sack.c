/* SACK (RFC 2018): the sender's scoreboard of SACKed ranges with RFC 6675's
 * IsLost and NextSeg, and the receiver's out-of-order ranges with the SACK
 * blocks it reports, most recent first. */
#include "netstack/stack.h"

#include <stdlib.h>
#include <string.h>

void seq_ranges_free(struct seq_ranges *s)
{
	free(s->r);
	s->r = NULL;
	s->n = s->cap = 0;
}

static int grow(struct seq_ranges *s)
{
	uint16_t cap = s->cap ? s->cap * 2 : 8;
	struct seq_range *r;

	if (s->cap >= TCP_MAX_RANGES)
		return -1;
	if (cap > TCP_MAX_RANGES)
		cap = TCP_MAX_RANGES;
	r = realloc(s->r, cap * sizeof(*r));
	if (!r)
		return -1;
	s->r = r;
	s->cap = cap;
	return 0;
}

int64_t seq_ranges_add(struct seq_ranges *s, uint32_t start, uint32_t end)
{
	uint32_t i = 0, j, covered = 0;

	if (!SEQ_LT(start, end))
		return 0;
	/* First range that ends at or after start: it may touch ours. */
	while (i < s->n && SEQ_LT(s->r[i].end, start))
		i++;
	j = i;
	while (j < s->n && SEQ_LEQ(s->r[j].start, end)) {
		covered += s->r[j].end - s->r[j].start;
		start = SEQ_MIN(start, s->r[j].start);
		end = SEQ_MAX(end, s->r[j].end);
		j++;
	}
	if (j == i) {
		/* Disjoint: insert at i. */
		if (s->n == s->cap && grow(s) < 0)
			return -1;
		memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(s->r[0]));
		s->r[i].start = start;
		s->r[i].end = end;
		s->n++;
		return end - start;
	}
	s->r[i].start = start;
	s->r[i].end = end;
	if (j > i + 1) {
		memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(s->r[0]));
		s->n -= (uint16_t)(j - i - 1);
	}
	return (int64_t)(end - start) - covered;
}

uint32_t seq_ranges_trim(struct seq_ranges *s, uint32_t seq)
{
	uint32_t i = 0, dropped = 0;

	while (i < s->n && SEQ_LEQ(s->r[i].end, seq)) {
		dropped += s->r[i].end - s->r[i].start;
		i++;
	}
	if (i) {
		memmove(&s->r[0], &s->r[i], (s->n - i) * sizeof(s->r[0]));
		s->n -= (uint16_t)i;
	}
	if (s->n && SEQ_LT(s->r[0].start, seq)) {
		dropped += seq - s->r[0].start;
		s->r[0].start = seq;
	}
	if (!s->n)
		seq_ranges_free(s);
	return dropped;
}

uint32_t seq_ranges_covered(const struct seq_ranges *s, uint32_t start,
			    uint32_t end)
{
	uint32_t i, sum = 0, a, b;

	for (i = 0; i < s->n; ++i) {
		if (SEQ_LEQ(s->r[i].end, start))
			continue;
		if (SEQ_GEQ(s->r[i].start, end))
			break;
		a = SEQ_MAX(s->r[i].start, start);
		b = SEQ_MIN(s->r[i].end, end);
		sum += b - a;
	}
	return sum;
}

void tcp_sack_update(struct netstack_tcp *c, const struct tcp_opts *o)
{
	uint32_t start, end;
	int64_t added;
	int i;

	for (i = 0; i < o->nsack; ++i) {
		start = o->sack[i].start;
		end = o->sack[i].end;
		/* Ignore D-SACKs and anything outside what we sent. */
		if (!SEQ_LT(start, end) || SEQ_LEQ(end, c->snd_una) ||
		    SEQ_GT(end, c->snd_nxt))
			continue;
		if (SEQ_LT(start, c->snd_una))
			start = c->snd_una;
		c->st->stats.tcp_sack_blocks_in++;
		added = seq_ranges_add(&c->sacked, start, end);
		if (added > 0) {
			c->sacked_bytes += (uint32_t)added;
			c->newly_sacked += (uint32_t)added;
		}
	}
}

uint32_t tcp_sack_lost_high(const struct netstack_tcp *c)
{
	uint32_t acc = 0, lost = c->snd_una;
	int i, count = 0;

	for (i = (int)c->sacked.n - 1; i >= 0; --i) {
		acc += c->sacked.r[i].end - c->sacked.r[i].start;
		count++;
		if (acc > (uint32_t)(TCP_DUPTHRESH - 1) * c->mss ||
		    count >= TCP_DUPTHRESH) {
			lost = c->sacked.r[i].start;
			break;
		}
	}
	if (SEQ_GT(c->lost_mark, lost))
		lost = c->lost_mark;
	if (SEQ_GT(lost, c->snd_nxt))
		lost = c->snd_nxt;
	return lost;
}

bool tcp_sack_next_hole(const struct netstack_tcp *c, uint32_t from,
			uint32_t max, uint32_t *start, uint32_t *len)
{
	uint32_t lost = tcp_sack_lost_high(c), s, e, i = 0;

	s = SEQ_MAX(from, c->snd_una);
	while (i < c->sacked.n && SEQ_LEQ(c->sacked.r[i].end, s))
		i++;
	for (;;) {
		if (SEQ_GEQ(s, lost))
			return false;
		if (i < c->sacked.n && SEQ_LEQ(c->sacked.r[i].start, s)) {
			s = c->sacked.r[i].end;
			i++;
			continue;
		}
		break;
	}
	e = lost;
	if (i < c->sacked.n && SEQ_LT(c->sacked.r[i].start, e))
		e = c->sacked.r[i].start;
	if (e - s > max)
		e = s + max;
	*start = s;
	*len = e - s;
	return true;
}

void tcp_ooo_note(struct netstack_tcp *c, uint32_t seq)
{
	int i, n = c->ooo_recent_n;

	if (n == TCP_MAX_SACK_BLOCKS)
		n--;
	for (i = n; i > 0; --i)
		c->ooo_recent[i] = c->ooo_recent[i - 1];
	c->ooo_recent[0] = seq;
	c->ooo_recent_n = (uint8_t)(n + 1);
}

int tcp_sack_blocks(const struct netstack_tcp *c, struct seq_range *out,
		    int max)
{
	const struct seq_ranges *s = &c->ooo;
	bool used[TCP_MAX_RANGES];
	int n = 0, i, k;
	uint32_t j;

	if (!s->n || max <= 0)
		return 0;
	memset(used, 0, s->n * sizeof(used[0]));
	for (k = 0; k < c->ooo_recent_n && n < max; ++k) {
		for (j = 0; j < s->n; ++j) {
			if (SEQ_LEQ(s->r[j].start, c->ooo_recent[k]) &&
			    SEQ_LT(c->ooo_recent[k], s->r[j].end)) {
				if (!used[j]) {
					used[j] = true;
					out[n++] = s->r[j];
				}
				break;
			}
		}
	}
	/* Then the highest ranges not reported yet. */
	for (i = (int)s->n - 1; i >= 0 && n < max; --i) {
		if (!used[i]) {
			used[i] = true;
			out[n++] = s->r[i];
		}
	}
	return n;
}

void tcp_rxq_push(struct netstack_tcp *c, uint32_t start, uint32_t end)
{
	struct tcp_rxq *q = c->rxq;
	unsigned i;

	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return;
		c->rxq = q;
	}
	if (q->len == TCP_RXQ_LEN) {
		/* Full: forget the oldest; the RTO still covers it. */
		q->head = (q->head + 1) % TCP_RXQ_LEN;
		q->len--;
	}
	i = (q->head + q->len) % TCP_RXQ_LEN;
	q->r[i].start = start;
	q->r[i].end = end;
	q->r[i].nxt = c->snd_nxt;
	q->len++;
}

void tcp_rxq_update(struct netstack_tcp *c)
{
	struct tcp_rxq *q = c->rxq;
	uint32_t high;

	if (!q)
		return;
	high = c->sacked.n ? c->sacked.r[c->sacked.n - 1].end : c->snd_una;
	while (q->len) {
		uint32_t a = q->r[q->head].start, b = q->r[q->head].end;

		if (SEQ_LT(a, c->snd_una))
			a = c->snd_una;
		if (SEQ_LT(a, b) &&
		    seq_ranges_covered(&c->sacked, a, b) < b - a) {
			/* Still missing: lost if data sent after it has been
			 * SACKed DupThresh segments deep, else not judged. */
			if (SEQ_LT(high, q->r[q->head].nxt +
						 TCP_DUPTHRESH * c->mss))
				break;
			seq_ranges_add(&c->again, a, b);
			c->st->stats.tcp_lost_retransmits++;
		}
		q->head = (q->head + 1) % TCP_RXQ_LEN;
		q->len--;
	}
	if (!q->len)
		tcp_rxq_reset(c);
	if (c->again.n)
		seq_ranges_trim(&c->again, c->snd_una);
}

void tcp_rxq_reset(struct netstack_tcp *c)
{
	free(c->rxq);
	c->rxq = NULL;
}

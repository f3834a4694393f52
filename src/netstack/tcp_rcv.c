/* TCP receive side: in-order data into the receive buffer, out-of-order
 * data at its offset with its range noted for SACK, the FIN in or out of
 * order, and receive-window autotuning. */
#include "netstack/stack.h"

#include <errno.h>

static void maybe_grow_rbuf(struct netstack_tcp *c, uint32_t seg_end)
{
	struct netstack *st = c->st;
	uint64_t m;

	/* Receive window autotuning: rcv_grow_mark is the right edge we
	 * offered at the last check. Once the sender has used all of it
	 * while the application kept up, the window, not the application,
	 * limits the flow: offer twice as much. */
	if (SEQ_LT(seg_end + c->our_mss, c->rcv_grow_mark))
		return;
	m = 2ull * c->rbuf.max;
	if (m > st->cfg.tcp_rbuf_max)
		m = st->cfg.tcp_rbuf_max;
	if (c->rbuf.len <= c->rbuf.max / 2 && m > c->rbuf.max &&
	    m - c->rbuf.max <= tcp_mem_avail(st) / 4)
		c->rbuf.max = (uint32_t)m;
	c->rcv_grow_mark = c->rcv_nxt + (c->rbuf.max - c->rbuf.len);
}

static void fin_received(struct netstack_tcp *c)
{
	c->rcv_nxt++;
	c->rcv_fin = true;
	c->ooo_fin = false;
	c->ack_now = true;
	tcp_event(c, TEV_READABLE);
	switch (c->state) {
	case NETSTACK_TCP_ESTABLISHED:
		c->state = NETSTACK_TCP_CLOSE_WAIT;
		tcp_timer_clear(c, TT_MISC);
		break;
	case NETSTACK_TCP_FIN_WAIT_1:
		c->state = NETSTACK_TCP_CLOSING;
		break;
	case NETSTACK_TCP_FIN_WAIT_2:
		tcp_enter_time_wait(c);
		break;
	default:
		break;
	}
}

void tcp_data_input(struct netstack_tcp *c, const struct tcp_seg *seg)
{
	struct netstack *st = c->st;
	const uint8_t *data = seg->data;
	uint32_t seq = seg->seq, len = seg->len, cut, n, edge;
	bool fin = seg->flags & TH_FIN;

	if (SEQ_LT(seq, c->rcv_nxt)) {
		cut = c->rcv_nxt - seq;
		st->stats.tcp_dup_segments++;
		c->ack_now = true;
		if (cut >= len) {
			if (cut > len)
				fin = false;
			len = 0;
		} else {
			data += cut;
			len -= cut;
		}
		seq = c->rcv_nxt;
	}
	edge = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv : c->rcv_nxt;
	if (SEQ_GT(seq + len, edge)) {
		len = SEQ_GT(edge, seq) ? edge - seq : 0;
		fin = false;
		c->ack_now = true;
	}
	if (len && !c->user_owned && !c->listener) {
		/* Data for a connection the application closed: reset, as
		 * Linux does for an orphan. */
		tcp_send_rst(c);
		tcp_set_closed(c, -ECONNRESET);
		return;
	}
	if (len && seq == c->rcv_nxt) {
		uint32_t before = c->rcv_nxt;

		n = tcp_buf_write(st, &c->rbuf, c->rbuf.len, data, len);
		if (n < len) {
			fin = false;
			c->ack_now = true;
		}
		c->rbuf.len += n;
		c->rcv_nxt += n;
		c->bytes_received += n;
		while (c->ooo.n) {
			seq_ranges_trim(&c->ooo, c->rcv_nxt);
			if (!c->ooo.n || c->ooo.r[0].start != c->rcv_nxt)
				break;
			n = c->ooo.r[0].end - c->rcv_nxt;
			c->rbuf.len += n;
			c->rcv_nxt += n;
			c->bytes_received += n;
			c->ack_now = true; /* a hole filled: ACK at once */
		}
		if (c->rcv_nxt != before)
			tcp_event(c, TEV_READABLE);
		if (c->ack_segs < 255)
			c->ack_segs++;
		maybe_grow_rbuf(c, seq + len);
	} else if (len) {
		/* Out of order: store at its offset, remember the range. */
		n = tcp_buf_write(st, &c->rbuf,
				  c->rbuf.len + (seq - c->rcv_nxt), data, len);
		if (n == len && seq_ranges_add(&c->ooo, seq, seq + len) >= 0)
			tcp_ooo_note(c, seq);
		else
			fin = false;
		st->stats.tcp_ooo_segments++;
		c->ack_now = true;
	}
	if (fin) {
		if (seq + len == c->rcv_nxt) {
			fin_received(c);
		} else {
			c->ooo_fin = true;
			c->rcv_fin_seq = seq + len;
		}
	} else if (c->ooo_fin && c->rcv_nxt == c->rcv_fin_seq && !c->rcv_fin) {
		fin_received(c);
	}
}

/* The device daemon's data paths. Out: TUN reads (TSO super-packets split
 * into segments) -> wg_send -> queued datagrams sent with UDP GSO. In:
 * recvmmsg with UDP GRO -> wg_receive -> queued inner packets, IPv4
 * fragments joined, TCP segments and UDP datagrams of a flow coalesced into
 * one TUN write. Buffers come from the pool. */
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "device/daemon.h"
#include "io/defrag.h"
#include "io/loop.h"
#include "io/offload.h"
#include "io/workers.h"

enum {
	GSO_MAX_SEGS = 64,
	GSO_MAX_BYTES = 65000,
	/* Inner packets must leave room for padding and the tag. */
	PKT_ROOM = PKTBUF_SIZE - PKTBUF_HEADROOM - 64,
};

/* The receive buffers have aead_open_lent's lead before the first and its
 * trail after the last: data messages are decrypted where they arrived. */
int datapath_init(struct daemon *d)
{
	uint8_t *rx = calloc(1, AEAD_LEAD + (size_t)RX_MSGS * RX_BUF + AEAD_TRAIL);

	d->udp_gso = true;
	d->tun_rbuf = malloc(VNET_HDR_LEN + OFFLOAD_MAX_LEN);
	d->rx_bufs = rx ? rx + AEAD_LEAD : NULL;
	return d->tun_rbuf && d->rx_bufs ? 0 : -ENOMEM;
}

/* Crypto workers: SPOKEWIRE_WORKERS threads besides the loop's own. By
 * default none below 4 CPUs: measured on 2 cores (both tunnel ends and the
 * applications sharing them), waking a worker per batch cost more CPU per
 * packet than the parallel AEAD saved (one TCP flow, measured again after
 * the AEAD and checksum work of issue 15: 4.7-5.3 Gbit/s and 2.7 CPU
 * seconds per GiB with a worker, 5.3-5.5 and 2.2 without). With more
 * cores, one per CPU beyond 2, at most 7. Started after any fork. */
int datapath_start_workers(struct daemon *d)
{
	const char *env = getenv("SPOKEWIRE_WORKERS");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN), n = cpus >= 4 ? cpus - 2 : 0;

	if (env && *env)
		n = strtol(env, NULL, 10);
	if (n < 0)
		n = 0;
	if (n > 7)
		n = 7;
	d->workers = workers_new((unsigned)n);
	if (!d->workers)
		return -ENOMEM;
	d->wg->batching = true;
	return 0;
}

void datapath_free(struct daemon *d)
{
	workers_free(d->workers);
	d->workers = NULL;
	free(d->tun_rbuf);
	free(d->rx_bufs ? d->rx_bufs - AEAD_LEAD : NULL);
	d->tun_rbuf = d->rx_bufs = NULL;
}

/* ---- out: UDP */

static socklen_t ep_len(const union endpoint *ep)
{
	return ep->sa.sa_family == AF_INET6 ? sizeof(ep->in6) : sizeof(ep->in4);
}

static bool same_ep(const union endpoint *a, const union endpoint *b)
{
	return a->sa.sa_family == b->sa.sa_family && !memcmp(a, b, ep_len(a));
}

static bool same_src(const struct endpoint_src *a, const struct endpoint_src *b)
{
	return !memcmp(a, b, sizeof(*a));
}

struct gso_msg {
	struct msghdr hdr;
	char cbuf[CMSG_SPACE(sizeof(uint16_t)) +
		  CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* A message's ancillary data in cbuf: UDP_SEGMENT when gso_size is not
 * 0, and the source address (IP_PKTINFO / IPV6_PKTINFO) when src has the
 * destination's family. */
static void build_control(struct msghdr *h, char *cbuf, size_t cap,
			  uint16_t gso_size, const struct endpoint_src *src)
{
	struct cmsghdr *cm;

	memset(cbuf, 0, cap);
	h->msg_control = cbuf;
	h->msg_controllen = cap;
	cm = CMSG_FIRSTHDR(h);
	h->msg_controllen = 0;
	if (gso_size) {
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(gso_size));
		memcpy(CMSG_DATA(cm), &gso_size, sizeof(gso_size));
		h->msg_controllen += CMSG_SPACE(sizeof(gso_size));
		cm = (struct cmsghdr *)(cbuf + h->msg_controllen);
	}
	if (src && src->family == AF_INET && src->family ==
	    ((const struct sockaddr *)h->msg_name)->sa_family) {
		struct in_pktinfo pi = { 0 };

		memcpy(&pi.ipi_spec_dst, src->addr, 4);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		h->msg_controllen += CMSG_SPACE(sizeof(pi));
	} else if (src && src->family == AF_INET6 && src->family ==
		   ((const struct sockaddr *)h->msg_name)->sa_family) {
		struct in6_pktinfo pi = { 0 };

		memcpy(&pi.ipi6_addr, src->addr, 16);
		pi.ipi6_ifindex = src->ifindex;
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		h->msg_controllen += CMSG_SPACE(sizeof(pi));
	}
	if (!h->msg_controllen)
		h->msg_control = NULL;
}

/* Sending from a local address failed the way a removed address fails:
 * every peer that used it goes back to the kernel's choice. */
static bool src_gone(int err)
{
	return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH;
}

/* Sends tx[first..first+n) (all to one socket) as few GSO messages. */
static void send_run(struct daemon *d, int fd, unsigned first, unsigned n)
{
	static struct iovec iov[TX_BATCH];
	static struct mmsghdr msgs[TX_BATCH];
	static struct gso_msg gm[TX_BATCH];
	static struct endpoint_src src_of[TX_BATCH];
	static uint16_t gso[TX_BATCH];
	unsigned i = first, end = first + n, nm = 0, sent = 0;
	int ret;

	while (i < end) {
		struct tx_slot *s = &d->tx[i];
		const struct endpoint_src *src = &s->pb->cb.src;
		unsigned j = i, segs = 0, bytes = 0, seglen = s->pb->len;
		struct msghdr *h = &gm[nm].hdr;

		/* Equal-sized datagrams to one endpoint from one address;
		 * the last may be shorter. */
		while (j < end && segs < GSO_MAX_SEGS && d->udp_gso &&
		       same_ep(&d->tx[j].ep, &s->ep) &&
		       same_src(&d->tx[j].pb->cb.src, src) &&
		       d->tx[j].pb->len <= seglen &&
		       bytes + d->tx[j].pb->len <= GSO_MAX_BYTES) {
			iov[j].iov_base = pkt_data(d->tx[j].pb);
			iov[j].iov_len = d->tx[j].pb->len;
			bytes += d->tx[j].pb->len;
			segs++;
			if (d->tx[j++].pb->len < seglen)
				break;
		}
		if (!segs) {
			iov[j].iov_base = pkt_data(s->pb);
			iov[j].iov_len = s->pb->len;
			j++;
			segs = 1;
		}
		memset(h, 0, sizeof(*h));
		h->msg_name = &s->ep;
		h->msg_namelen = ep_len(&s->ep);
		h->msg_iov = &iov[i];
		h->msg_iovlen = segs;
		gso[nm] = segs > 1 ? (uint16_t)seglen : 0;
		d->stats.gso_sends += segs > 1;
		build_control(h, gm[nm].cbuf, sizeof(gm[nm].cbuf), gso[nm], src);
		if (src->family == s->ep.sa.sa_family)
			src_of[nm] = *src;
		else
			memset(&src_of[nm], 0, sizeof(src_of[nm]));
		msgs[nm].msg_hdr = *h;
		nm++;
		i = j;
	}
	while (sent < nm) {
		ret = sendmmsg(fd, msgs + sent, nm - sent, 0);
		if (ret > 0) {
			sent += (unsigned)ret;
			continue;
		}
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0 && src_gone(errno) && src_of[sent].family) {
			/* Our address went away: from the routing's choice
			 * from now on, for this message and every other. */
			struct endpoint_src gone = src_of[sent];
			unsigned k;

			daemon_log(d, "sending from a local address failed (%s): replying from the routing's choice",
				   strerror(errno));
			wg_forget_src(d->wg, &gone);
			d->stats.src_forgotten++;
			for (k = sent; k < nm; ++k) {
				if (!same_src(&src_of[k], &gone))
					continue;
				memset(&src_of[k], 0, sizeof(src_of[k]));
				build_control(&msgs[k].msg_hdr, gm[k].cbuf,
					      sizeof(gm[k].cbuf), gso[k], NULL);
			}
			continue;
		}
		if (ret < 0 && (errno == EIO || errno == EINVAL) &&
		    msgs[sent].msg_hdr.msg_controllen && d->udp_gso) {
			/* The kernel or device refuses GSO: go without. */
			daemon_log(d, "UDP GSO refused (%s); disabling it",
				   strerror(errno));
			d->udp_gso = false;
			send_run(d, fd, first, n);
			return;
		}
		/* Drop the head message (unreachable, buffer full) and go on;
		 * losing datagrams is UDP's lot. */
		d->stats.udp_send_errors++;
		sent++;
	}
}

static void flush_tx(struct daemon *d)
{
	unsigned i, start;

	/* Runs of one family share a socket. */
	for (start = 0; start < d->ntx; start = i) {
		int family = d->tx[start].ep.sa.sa_family;
		int fd = family == AF_INET6 ? d->udp.fd6 : d->udp.fd4;

		for (i = start; i < d->ntx && d->tx[i].ep.sa.sa_family == family;
		     ++i)
			;
		if (fd >= 0)
			send_run(d, fd, start, i - start);
	}
	for (i = 0; i < d->ntx; ++i) {
		pktpool_put(&d->pool, d->tx[i].pb);
		d->tx[i].pb = NULL;
	}
	d->ntx = 0;
}

static void op_send(void *ctx, struct pktbuf *pb, const union endpoint *ep)
{
	struct daemon *d = ctx;

	if (d->ntx == TX_BATCH)
		flush_tx(d);
	d->tx[d->ntx].pb = pb;
	d->tx[d->ntx].ep = *ep;
	d->ntx++;
}

/* ---- in: TUN */

/* Writes the queued inner packets, after the fragments kept from the last
 * batch; keeps this batch's unfinished datagrams for the next (with force,
 * nothing new is kept). */
static void flush_tun(struct daemon *d, bool force)
{
	enum { MAXP = FRAG_WAIT + TUN_BATCH };
	static struct pktbuf *all[MAXP];
	static struct defrag_pkt frags[MAXP];
	static bool wait[MAXP];
	static struct offload_pkt pkts[MAXP];
	static struct offload_write writes[MAXP];
	static uint32_t next[MAXP];
	struct iovec iov[OFFLOAD_MAX_SEGS + 1];
	unsigned i, n, nw, nall = 0, kept = d->nfrag_wait;

	if (!d->ntun_out && !(force && kept))
		return;
	for (i = 0; i < kept; ++i)
		all[nall++] = d->frag_wait[i];
	for (i = 0; i < d->ntun_out; ++i)
		all[nall++] = d->tun_out[i];
	d->nfrag_wait = d->ntun_out = 0;
	for (i = 0; i < nall; ++i)
		frags[i] = (struct defrag_pkt){
			pkt_data(all[i]), all[i]->len,
			(uint32_t)(all[i]->len + pkt_tailroom(all[i])), i
		};
	/* IPv4 fragments that arrived together become one datagram (which
	 * may then join its flow's UDP GSO write). */
	n = defrag4_batch(frags, nall);
	d->stats.tun_defrag += nall - n;
	if (!force && defrag4_unfinished(frags, n, kept, wait)) {
		unsigned out = 0;

		for (i = 0; i < n; ++i) {
			if (wait[i] && d->nfrag_wait < FRAG_WAIT) {
				d->frag_wait[d->nfrag_wait++] = all[frags[i].id];
				all[frags[i].id] = NULL;
			} else {
				frags[out++] = frags[i];
			}
		}
		d->stats.frag_waits += n - out;
		d->frag_wait_tick = d->ticks;
		n = out;
	}
	for (i = 0; i < n; ++i) {
		pkts[i].data = frags[i].data;
		pkts[i].len = frags[i].len;
	}
	if (d->tun_offload) {
		nw = offload_coalesce(pkts, n, writes, next, d->tun_uso);
	} else {
		for (i = 0; i < n; ++i) {
			writes[i] = (struct offload_write){ i, 1 };
			next[i] = UINT32_MAX;
			memset(pkts[i].data - VNET_HDR_LEN, 0, VNET_HDR_LEN);
		}
		nw = n;
	}
	for (i = 0; i < nw; ++i) {
		unsigned k = writes[i].first, niov = 1;

		iov[0].iov_base = pkts[k].data - VNET_HDR_LEN;
		iov[0].iov_len = pkts[k].len + VNET_HDR_LEN;
		for (k = next[k]; k != UINT32_MAX; k = next[k]) {
			unsigned off = offload_payload_off(&pkts[k]);

			iov[niov].iov_base = pkts[k].data + off;
			iov[niov++].iov_len = pkts[k].len - off;
		}
		if (niov > 1)
			d->stats.tun_coalesced += niov;
		if (writev(d->tun_fd, iov, (int)niov) < 0)
			d->stats.tun_write_errors++;
		d->stats.tun_writes++;
	}
	for (i = 0; i < nall; ++i)
		if (all[i])
			pktpool_put(&d->pool, all[i]);
}

void datapath_flush_waiting(struct daemon *d)
{
	if (d->nfrag_wait && d->ticks != d->frag_wait_tick)
		flush_tun(d, true);
}

static void op_deliver(void *ctx, struct pktbuf *pb)
{
	struct daemon *d = ctx;

	if (d->inner) {
		d->inner->deliver(d->inner_ctx, pb);
		return;
	}
	if (d->ntun_out == TUN_BATCH)
		flush_tun(d, false);
	d->tun_out[d->ntun_out++] = pb;
}

static void crypt_one(void *item)
{
	wg_crypt(item);
}

static void op_crypt(void *ctx, struct pktbuf **pkts, unsigned n)
{
	struct daemon *d = ctx;

	workers_run(d->workers, (void **)pkts, n, crypt_one);
}

/* Not gated on verbose: this is what a person debugging a tunnel needs,
 * once a minute per peer or source at most. */
static void op_diag(void *ctx, enum wg_diag why, const char *msg)
{
	struct daemon *d = ctx;

	fprintf(stderr, "%s: %s: %s\n", d->ifname, wg_diag_name(why), msg);
}

const struct wg_ops daemon_wg_ops = {
	.send = op_send,
	.deliver = op_deliver,
	.crypt = op_crypt,
	.diag = op_diag,
};

void datapath_flush(struct daemon *d)
{
	wg_flush(d->wg);
	if (d->inner) {
		/* The inner side answers what it was given; encrypt that too. */
		d->inner->flush(d->inner_ctx);
		wg_flush(d->wg);
	}
	flush_tun(d, false);
	flush_tx(d);
}

/* ---- out: TUN reads */

struct split_ctx {
	struct daemon *d;
	struct pktbuf *pb;
};

static uint8_t *split_alloc(void *ctx, size_t len)
{
	struct split_ctx *c = ctx;

	if (len > PKT_ROOM)
		return NULL;
	c->pb = pktpool_get(&c->d->pool);
	return c->pb ? pkt_data(c->pb) : NULL;
}

/* Sends the held fragment tails, in the order they were read. */
static void release_held(struct daemon *d)
{
	unsigned i;

	for (i = 0; i < d->nheld; ++i)
		wg_send(d->wg, d->held[i]);
	d->nheld = 0;
}

static void split_emit(void *ctx, uint8_t *seg, size_t len)
{
	struct split_ctx *c = ctx;
	struct daemon *d = c->d;
	struct pktbuf *pb = c->pb;
	enum frag_kind kind = frag_kind(seg, len);
	unsigned i;

	c->pb = NULL;
	pb->len = (uint32_t)len;
	/* Fragment tails wait for the end of the batch (see defrag.h). */
	if (kind == FRAG_TAIL && d->nheld < HELD_TAILS) {
		d->held[d->nheld++] = pb;
		return;
	}
	if (kind == FRAG_TAIL) {
		release_held(d);
	} else if (kind == FRAG_NONE) {
		for (i = 0; i < d->nheld; ++i) {
			if (offload_same_hosts(pkt_data(d->held[i]), seg,
					       len)) {
				release_held(d);
				break;
			}
		}
	}
	wg_send(d->wg, pb);
}

void datapath_on_tun(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct daemon *d = arg;
	struct split_ctx c = { .d = d };
	const struct offload_sink sink = { split_alloc, split_emit, &c };
	struct virtio_net_hdr h;
	ssize_t n;
	int i;

	daemon_update_clock(d);
	for (i = 0; i < TUN_READS; ++i) {
		n = read(fd, d->tun_rbuf, VNET_HDR_LEN + OFFLOAD_MAX_LEN);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				/* EBADFD/EIO: the interface was deleted. */
				daemon_log(d, "TUN read: %s", strerror(errno));
				daemon_tun_gone(d);
			}
			break;
		}
		if (n <= VNET_HDR_LEN)
			continue;
		memcpy(&h, d->tun_rbuf, sizeof(h));
		if (offload_split(&h, d->tun_rbuf + VNET_HDR_LEN,
				  (size_t)n - VNET_HDR_LEN, &sink) <= 0)
			d->stats.tun_read_drops++;
	}
	release_held(d);
	datapath_flush(d);
}

/* ---- in: UDP */

static void receive_one(struct daemon *d, const uint8_t *data, size_t len,
			const union endpoint *src, const struct endpoint_src *local)
{
	struct pktbuf *pb;

	if (len > PKTBUF_SIZE - PKTBUF_HEADROOM)
		return;
	pb = pktpool_get(&d->pool);
	if (!pb)
		return;
	/* A data message's ciphertext stays where it is until it is
	 * decrypted into pb (the next flush, before the next read). */
	if (len >= MESSAGE_MINIMUM_LENGTH && message_type(data) == MESSAGE_DATA &&
	    pb->off + len + AEAD_TRAIL <= PKTBUF_SIZE) {
		memcpy(pkt_data(pb), data, sizeof(struct message_data));
		pb->cb.ext = data;
	} else {
		memcpy(pkt_data(pb), data, len);
	}
	pb->len = (uint32_t)len;
	pb->cb.src = *local;
	wg_receive(d->wg, pb, src);
}

void datapath_on_udp(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct daemon *d = arg;
	struct mmsghdr msgs[RX_MSGS];
	struct iovec iov[RX_MSGS];
	union endpoint src[RX_MSGS];
	char cbuf[RX_MSGS][CMSG_SPACE(sizeof(int)) +
			   CMSG_SPACE(sizeof(struct in6_pktinfo))];
	uint64_t tun_writes = d->stats.tun_writes;
	int n, i, round;

	for (round = 0; round < 8; ++round) {
		for (i = 0; i < RX_MSGS; ++i) {
			iov[i].iov_base = d->rx_bufs + (size_t)i * RX_BUF;
			iov[i].iov_len = RX_BUF;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_name = &src[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(src[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = cbuf[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(cbuf[i]);
		}
		n = recvmmsg(fd, msgs, RX_MSGS, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		daemon_update_clock(d);
		for (i = 0; i < n; ++i) {
			const uint8_t *p = iov[i].iov_base;
			size_t len = msgs[i].msg_len, seg = len;
			struct endpoint_src local = { 0 };
			struct cmsghdr *cm;

			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue;
			for (cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm;
			     cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
				if (cm->cmsg_level == SOL_UDP &&
				    cm->cmsg_type == UDP_GRO) {
					int v;

					memcpy(&v, CMSG_DATA(cm), sizeof(v));
					if (v > 0)
						seg = (size_t)v;
					d->stats.gro_reads++;
				} else if (cm->cmsg_level == IPPROTO_IP &&
					   cm->cmsg_type == IP_PKTINFO) {
					struct in_pktinfo pi;

					memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
					local.family = AF_INET;
					memcpy(local.addr, &pi.ipi_addr, 4);
				} else if (cm->cmsg_level == IPPROTO_IPV6 &&
					   cm->cmsg_type == IPV6_PKTINFO) {
					struct in6_pktinfo pi;

					memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
					local.family = AF_INET6;
					memcpy(local.addr, &pi.ipi6_addr, 16);
					/* A link-local address needs its link. */
					if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
						local.ifindex = (uint32_t)pi.ipi6_ifindex;
				}
			}
			while (len) {
				size_t take = len < seg ? len : seg;

				receive_one(d, p, take, &src[i], &local);
				p += take;
				len -= take;
			}
		}
		datapath_flush(d);
		if (n < RX_MSGS)
			break;
	}
	/* Writing to the TUN often makes the kernel answer at once (an echo
	 * reply, a TCP ACK): read it now instead of after another wakeup. */
	if (d->tun_fd >= 0 && d->stats.tun_writes != tun_writes)
		datapath_on_tun(loop, d->tun_fd, LOOP_READ, d);
}

/* The device daemon's data paths: TUN reads into wg_send, batched UDP
 * receives into wg_receive, batched UDP sends, and the periodic tick. */
#include "device/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "io/loop.h"
#include "io/tun.h"
#include "uapi/uapi.h"

void daemon_log(const struct daemon *d, const char *fmt, ...)
{
	va_list ap;

	if (!d->verbose)
		return;
	fprintf(stderr, "%s: ", d->ifname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void update_clock(struct daemon *d)
{
	wg_set_clock(d->wg, clock_mono_ns(), clock_real_ns());
}

static void flush_family(struct daemon *d, int family, int fd)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	unsigned idx[BATCH], n = 0, i, sent = 0;
	int ret;

	for (i = 0; i < d->ntx; ++i) {
		struct tx_slot *s = &d->tx[i];

		if (!s->pb || s->ep.sa.sa_family != family)
			continue;
		iov[n].iov_base = pkt_data(s->pb);
		iov[n].iov_len = s->pb->len;
		memset(&msgs[n].msg_hdr, 0, sizeof(msgs[n].msg_hdr));
		msgs[n].msg_hdr.msg_name = &s->ep;
		msgs[n].msg_hdr.msg_namelen = family == AF_INET6
						      ? sizeof(s->ep.in6)
						      : sizeof(s->ep.in4);
		msgs[n].msg_hdr.msg_iov = &iov[n];
		msgs[n].msg_hdr.msg_iovlen = 1;
		idx[n++] = i;
	}
	while (fd >= 0 && sent < n) {
		ret = sendmmsg(fd, msgs + sent, n - sent, 0);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			/* Drop the head datagram (e.g. unreachable) and go
			 * on with the rest; EAGAIN drops are UDP's lot. */
			sent++;
			continue;
		}
		sent += ret;
	}
	for (i = 0; i < n; ++i) {
		pktpool_put(&d->pool, d->tx[idx[i]].pb);
		d->tx[idx[i]].pb = NULL;
	}
}

static void flush_tx(struct daemon *d)
{
	unsigned i;

	if (!d->ntx)
		return;
	flush_family(d, AF_INET, d->udp.fd4);
	flush_family(d, AF_INET6, d->udp.fd6);
	for (i = 0; i < d->ntx; ++i) {
		/* No socket of that family. */
		pktpool_put(&d->pool, d->tx[i].pb);
		d->tx[i].pb = NULL;
	}
	d->ntx = 0;
}

static void op_send(void *ctx, struct pktbuf *pb, const union endpoint *ep)
{
	struct daemon *d = ctx;

	if (d->ntx == BATCH)
		flush_tx(d);
	d->tx[d->ntx].pb = pb;
	d->tx[d->ntx].ep = *ep;
	d->ntx++;
}

static void op_deliver(void *ctx, struct pktbuf *pb)
{
	struct daemon *d = ctx;

	if (write(d->tun_fd, pkt_data(pb), pb->len) < 0)
		d->tun_write_errors++;
	pktpool_put(&d->pool, pb);
}

static const struct wg_ops daemon_ops = {
	.send = op_send,
	.deliver = op_deliver,
};

static void on_tun(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct daemon *d = arg;
	struct pktbuf *pb;
	ssize_t n;
	int i;

	update_clock(d);
	for (i = 0; i < BATCH; ++i) {
		pb = pktpool_get(&d->pool);
		if (!pb)
			break;
		n = read(fd, pkt_data(pb), PKTBUF_SIZE - PKTBUF_HEADROOM - 64);
		if (n <= 0) {
			pktpool_put(&d->pool, pb);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* EBADFD/EIO: the interface was deleted. */
				daemon_log(d, "TUN read: %s; shutting down",
					   strerror(errno));
				loop_stop(loop);
			}
			break;
		}
		pb->len = (uint32_t)n;
		wg_send(d->wg, pb);
	}
}

static void on_udp(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct daemon *d = arg;
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	union endpoint src[BATCH];
	int n, i, round;

	for (round = 0; round < 4; ++round) {
		for (i = 0; i < BATCH; ++i) {
			if (!d->rx[i])
				d->rx[i] = pktpool_get(&d->pool);
			if (!d->rx[i])
				break;
			iov[i].iov_base = pkt_data(d->rx[i]);
			iov[i].iov_len = PKTBUF_SIZE - PKTBUF_HEADROOM;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_name = &src[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(src[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		if (!i)
			return;
		n = recvmmsg(fd, msgs, i, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		update_clock(d);
		for (i = 0; i < n; ++i) {
			struct pktbuf *pb = d->rx[i];

			d->rx[i] = NULL;
			pb->len = msgs[i].msg_len;
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
				pktpool_put(&d->pool, pb);
				continue;
			}
			wg_receive(d->wg, pb, &src[i]);
		}
		flush_tx(d);
		if (n < BATCH)
			return;
	}
}

static void on_signal(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) == sizeof(si))
		loop_stop(loop);
}

static void on_idle(struct loop *loop, void *arg)
{
	flush_tx(arg);
}

static void on_tick(struct loop *loop, void *arg)
{
	struct daemon *d = arg;
	int mtu;

	update_clock(d);
	wg_tick(d->wg);
	if (++d->ticks % (1000 / TICK_MS))
		return;
	/* Once a second: follow MTU changes; stop when the link is gone. */
	mtu = tun_get_mtu(d->ifname);
	if (mtu > 0)
		d->wg->mtu = (unsigned)mtu;
	else if (!tun_exists(d->ifname))
		loop_stop(loop);
}

int daemon_udp_open(struct daemon *d, uint16_t port, uint32_t fwmark)
{
	bool bound = d->udp.fd4 >= 0 || d->udp.fd6 >= 0;
	struct udp_socks s;
	int ret;

	if (bound && port == d->udp.port)
		return fwmark == d->udp.fwmark ? 0
					       : udp_set_fwmark(&d->udp, fwmark);
	/* Open the new sockets before closing the old ones, so a port in use
	 * leaves the device as it was. */
	ret = udp_open(&s, port, fwmark);
	if (ret < 0)
		return ret;
	if (bound) {
		if (d->udp.fd4 >= 0)
			loop_del(d->loop, d->udp.fd4);
		if (d->udp.fd6 >= 0)
			loop_del(d->loop, d->udp.fd6);
		flush_tx(d);
		udp_close(&d->udp);
	}
	d->udp = s;
	if (s.fd4 >= 0)
		loop_add(d->loop, s.fd4, LOOP_READ, on_udp, d);
	if (s.fd6 >= 0)
		loop_add(d->loop, s.fd6, LOOP_READ, on_udp, d);
	return 0;
}

static const struct uapi_handler uapi_handler_template = {
	.get = daemon_uapi_get,
	.set = daemon_uapi_set,
};

int daemon_setup(struct daemon *d, const char *ifname)
{
	struct uapi_handler h = uapi_handler_template;
	int ret;

	memset(d, 0, sizeof(*d));
	d->tun_fd = d->signal_fd = -1;
	d->udp.fd4 = d->udp.fd6 = -1;
	pktpool_init(&d->pool, POOL_MAX_BUFFERS);

	ret = tun_open(ifname, d->ifname);
	if (ret < 0)
		return ret;
	d->tun_fd = ret;
	tun_set_mtu(d->ifname, DEFAULT_MTU);

	d->wg = wg_device_new(&daemon_ops, d, &d->pool);
	if (!d->wg)
		return -ENOMEM;
	update_clock(d);

	/* The loop is created here, before a fork: epoll survives fork fine
	 * as long as only the child uses it. */
	d->loop = loop_new();
	if (!d->loop)
		return -ENOMEM;
	h.ctx = d;
	ret = uapi_server_open(&d->uapi, d->ifname, d->loop, &h);
	if (ret < 0)
		return ret;
	ret = daemon_udp_open(d, 0, 0);
	if (ret < 0)
		return ret;
	return 0;
}

int daemon_run(struct daemon *d)
{
	sigset_t mask;
	int ret;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd >= 0)
		loop_add(d->loop, d->signal_fd, LOOP_READ, on_signal, d);
	loop_add(d->loop, d->tun_fd, LOOP_READ, on_tun, d);
	loop_set_tick(d->loop, TICK_MS, on_tick, d);
	loop_set_idle(d->loop, on_idle, d);
	ret = loop_run(d->loop);
	daemon_log(d, "shutting down");
	return ret;
}

void daemon_teardown(struct daemon *d)
{
	int i;

	if (d->uapi)
		uapi_server_close(d->uapi);
	d->uapi = NULL;
	if (d->wg)
		flush_tx(d);
	for (i = 0; i < BATCH; ++i)
		pktpool_put(&d->pool, d->rx[i]);
	wg_device_free(d->wg);
	d->wg = NULL;
	udp_close(&d->udp);
	if (d->tun_fd >= 0)
		close(d->tun_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	loop_free(d->loop);
	d->loop = NULL;
	pktpool_destroy(&d->pool);
}

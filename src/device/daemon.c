/* The device daemon: setup and teardown, the event loop, signals, the
 * periodic tick; the packet paths are in datapath.c. */
#include "device/daemon.h"

#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "io/loop.h"
#include "io/tun.h"
#include "device/status.h"
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

void daemon_update_clock(struct daemon *d)
{
	wg_set_clock(d->wg, clock_mono_ns(), clock_real_ns());
}

static void on_signal(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	struct daemon *d = arg;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR1) {
		if (d->inner && d->inner->report)
			d->inner->report(d->inner_ctx);
		return;
	}
	loop_stop(loop);
}

static void on_idle(struct loop *loop, void *arg)
{
	datapath_flush(arg);
}

void daemon_tun_gone(struct daemon *d)
{
	if (d->status.tun_gone_at)
		return;
	fprintf(stderr, "%s: the interface is gone%s\n", d->ifname,
		d->status.http ? ": /health says fail until we exit" : "");
	if (!d->status.http) {
		loop_stop(d->loop);
		return;
	}
	d->status.tun_gone_at = clock_mono_ns();
	if (d->tun_fd >= 0)
		loop_del(d->loop, d->tun_fd);
}

/* A link event: an MTU to apply at once, or our link gone from this
 * namespace (deleted, or moved: the fd says which). */
static void on_link(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct daemon *d = arg;
	bool gone = false;
	char name[IFNAMSIZ];
	int mtu;

	tun_link_watch_read(fd, d->tun_ifindex, &mtu, &gone);
	if (mtu > 0)
		d->wg->mtu = (unsigned)mtu;
	if (!gone)
		return;
	if (tun_alive(d->tun_fd, name) < 0) {
		daemon_tun_gone(d);
		return;
	}
	/* Moved: it works on from there; wg(8) still finds us through the
	 * socket here. Its events and name are no longer ours to read. */
	fprintf(stderr, "%s: moved to another network namespace (as %s); still serving it\n",
		d->ifname, name);
	d->tun_ifindex = 0;
	loop_del(d->loop, d->link_fd);
	close(d->link_fd);
	d->link_fd = -1;
}

static void on_tick(struct loop *loop, void *arg)
{
	struct daemon *d = arg;
	int mtu;

	daemon_update_clock(d);
	wg_tick(d->wg);
	if (d->tun_fd >= 0)
		datapath_flush_waiting(d);
	status_http_tick(d->status.http);
	if (++d->ticks % (1000 / TICK_MS) || d->inner)
		return;
	/* Once a second: stop when the device is gone (after
	 * STATUS_LINGER_S of /health saying so when someone may be asking);
	 * follow the MTU where no link event told us. The device is asked
	 * through its fd, not its name: moved to another namespace it lives
	 * on, and the name here may be somebody else's. */
	if (d->status.tun_gone_at) {
		if (clock_mono_ns() - d->status.tun_gone_at >=
		    STATUS_LINGER_S * 1000000000ull)
			loop_stop(loop);
		return;
	}
	if (tun_alive(d->tun_fd, NULL) < 0) {
		daemon_tun_gone(d);
		return;
	}
	if (d->tun_ifindex && (mtu = tun_get_mtu(d->ifname)) > 0)
		d->wg->mtu = (unsigned)mtu;
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
		datapath_flush(d);
		udp_close(&d->udp);
	}
	d->udp = s;
	if (s.fd4 >= 0)
		loop_add(d->loop, s.fd4, LOOP_READ, datapath_on_udp, d);
	if (s.fd6 >= 0)
		loop_add(d->loop, s.fd6, LOOP_READ, datapath_on_udp, d);
	return 0;
}

static int uapi_reload(void *ctx, const char *path, char *msg, size_t len)
{
	struct daemon *d = ctx;

	if (d->inner && d->inner->reload)
		return d->inner->reload(d->inner_ctx, path, msg, len);
	if (d->reload)
		return d->reload(d, path, msg, len);
	snprintf(msg, len, "%s has nothing to reload beyond its peers",
		 d->ifname);
	return -EOPNOTSUPP;
}

static char *uapi_status(void *ctx)
{
	struct daemon *d = ctx;
	json_t *doc;
	char *s;

	daemon_update_clock(d);
	doc = status_json(d);
	s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return s;
}

static const struct uapi_handler uapi_handler_template = {
	.get = daemon_uapi_get,
	.set = daemon_uapi_set,
	.reload = uapi_reload,
	.status = uapi_status,
};

static int setup(struct daemon *d, const char *ifname,
		 const struct daemon_inner *inner, void *ctx)
{
	struct uapi_handler h = uapi_handler_template;
	unsigned offload;
	int ret;

	memset(d, 0, sizeof(*d));
	d->tun_fd = d->signal_fd = d->link_fd = -1;
	d->udp.fd4 = d->udp.fd6 = -1;
	d->status.health_age_s = STATUS_HEALTH_AGE_S;
	d->status.started_real_ns = clock_real_ns();
	d->status.started_mono_ns = clock_mono_ns();
	d->inner = inner;
	d->inner_ctx = ctx;
	pktpool_init(&d->pool, POOL_MAX_BUFFERS);

	ret = datapath_init(d);
	if (ret < 0)
		return ret;
	if (inner) {
		if (strlen(ifname) >= sizeof(d->ifname))
			return -EINVAL;
		strcpy(d->ifname, ifname);
	} else {
		ret = tun_open(ifname, d->ifname, &offload);
		if (ret < 0)
			return ret;
		d->tun_offload = offload & TUN_OFFLOAD_TSO;
		d->tun_uso = offload & TUN_OFFLOAD_USO;
		d->tun_fd = ret;
		tun_set_mtu(d->ifname, DEFAULT_MTU);
		/* The kernel drops what does not fit the TUN's queue while
		 * we wait for a CPU; 500 (its default) overflows within a few
		 * milliseconds of an unpaced UDP sender, and on a busy 2-core
		 * box 4,096 still lost ~1% at 600 Mbit/s of 1,400-byte
		 * datagrams where 16,384 lost none (about 24 MiB of MTU-sized
		 * packets at worst). TCP Small Queues keep TCP from filling a
		 * longer one. */
		tun_set_txqueuelen(d->ifname, TUN_TXQUEUELEN);
	}

	d->wg = wg_device_new(&daemon_wg_ops, d, &d->pool);
	if (!d->wg)
		return -ENOMEM;
	daemon_update_clock(d);

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

int daemon_setup(struct daemon *d, const char *ifname)
{
	return setup(d, ifname, NULL, NULL);
}

int daemon_setup_inner(struct daemon *d, const char *ifname,
		       const struct daemon_inner *inner, void *ctx)
{
	return setup(d, ifname, inner, ctx);
}

/* How long the loop polls after a wakeup from idle: about one round trip
 * through a tunnel between neighbours, so the answer to a ping or a small
 * request is picked up without a second wakeup. SPOKEWIRE_SPIN_US
 * overrides (0 turns it off). */
static uint64_t spin_ns(void)
{
	const char *env = getenv("SPOKEWIRE_SPIN_US");
	char *end;
	unsigned long us = 300;

	if (env && *env) {
		us = strtoul(env, &end, 10);
		if (*end || us > 100000)
			us = 300;
	}
	return (uint64_t)us * 1000;
}

int daemon_run(struct daemon *d)
{
	sigset_t mask;
	int ret;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd >= 0)
		loop_add(d->loop, d->signal_fd, LOOP_READ, on_signal, d);
	ret = datapath_start_workers(d);
	if (ret < 0)
		return ret;
	if (d->tun_fd >= 0) {
		loop_add(d->loop, d->tun_fd, LOOP_READ, datapath_on_tun, d);
		d->tun_ifindex = (int)if_nametoindex(d->ifname);
		d->link_fd = d->tun_ifindex ? tun_link_watch_open() : -1;
		if (d->link_fd >= 0)
			loop_add(d->loop, d->link_fd, LOOP_READ, on_link, d);
	}
	loop_set_tick(d->loop, TICK_MS, on_tick, d);
	loop_set_idle(d->loop, on_idle, d);
	loop_set_spin(d->loop, spin_ns());
	ret = loop_run(d->loop);
	daemon_log(d, "shutting down");
	return ret;
}

void daemon_teardown(struct daemon *d)
{
	status_http_close(d->status.http);
	d->status.http = NULL;
	free(d->status.health_peers);
	d->status.health_peers = NULL;
	if (d->uapi)
		uapi_server_close(d->uapi);
	d->uapi = NULL;
	if (d->wg)
		datapath_flush(d);
	wg_device_free(d->wg);
	d->wg = NULL;
	udp_close(&d->udp);
	if (d->tun_fd >= 0)
		close(d->tun_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->link_fd >= 0)
		close(d->link_fd);
	loop_free(d->loop);
	d->loop = NULL;
	datapath_free(d);
	pktpool_destroy(&d->pool);
}

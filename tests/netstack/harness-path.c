/* netstack-harness: TUN I/O and the emulated path between the kernel and
 * the stack (or a second TUN when relaying): random loss, reordering by
 * holding one packet back, and a fixed one-way delay. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "harness.h"

static uint64_t rnd(struct harness *h)
{
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return h->rng;
}

static bool chance(struct harness *h, uint32_t ppm)
{
	return ppm && rnd(h) % 1000000 < ppm;
}

int harness_tun_attach(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd, ret;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static void tun_write(struct harness *h, int fd, struct pktbuf *pb)
{
	if (write(fd, pkt_data(pb), pb->len) < 0)
		h->tun_write_errors++;
	pktpool_put(&h->pool, pb);
}

/* Past the filter: into the stack (or the other TUN when relaying), or
 * out to the kernel. */
static void rx_enqueue(struct harness *h, struct pktbuf *pb);

static void deliver(struct harness *h, int dir, struct pktbuf *pb)
{
	if (dir == DIR_OUT && h->rx_limit)
		rx_enqueue(h, pb);
	else if (dir == DIR_OUT)
		tun_write(h, h->tun_fd, pb);
	else if (h->relay_fd >= 0)
		tun_write(h, h->relay_fd, pb);
	else
		netstack_input(h->st, pb);
}

/* The slow receiver: a burst's worth of what it queued, every burst. */
static void rx_drain(struct harness *h, uint64_t now)
{
	struct delay_queue *q = &h->rxq;
	uint64_t budget;

	if (now < h->rx_next)
		return;
	budget = h->rx_rate * h->rx_burst_ns / 1000000000ull;
	h->rx_next = now + h->rx_burst_ns;
	while (q->head != q->tail && budget) {
		struct pktbuf *pb = q->ring[q->head].pb;

		q->head = (q->head + 1) % DELAY_SLOTS;
		h->rx_queued -= pb->len;
		budget = budget > pb->len ? budget - pb->len : 0;
		tun_write(h, h->tun_fd, pb);
	}
}

static void rx_enqueue(struct harness *h, struct pktbuf *pb)
{
	struct delay_queue *q = &h->rxq;

	if (h->rx_queued + pb->len > h->rx_limit ||
	    (q->tail + 1) % DELAY_SLOTS == q->head) {
		h->rx_drops++;
		pktpool_put(&h->pool, pb);
		return;
	}
	q->ring[q->tail].pb = pb;
	q->tail = (q->tail + 1) % DELAY_SLOTS;
	h->rx_queued += pb->len;
}

void harness_release(struct harness *h)
{
	uint64_t now = clock_mono_ns();
	int dir;

	netstack_set_clock(h->st, now);
	if (h->rx_limit)
		rx_drain(h, now);
	for (dir = 0; dir < 2; ++dir) {
		struct delay_queue *q = &h->dq[dir];

		/* A held packet goes after the next one, or after 1 ms. */
		if (h->held[dir] && now - h->held_at[dir] > 1000000) {
			struct pktbuf *pb = h->held[dir];

			h->held[dir] = NULL;
			deliver(h, dir, pb);
		}

		while (q->head != q->tail && q->ring[q->head].at <= now) {
			struct pktbuf *pb = q->ring[q->head].pb;

			q->head = (q->head + 1) % DELAY_SLOTS;
			deliver(h, dir, pb);
		}
	}
}

/* The emulated path between the kernel and the stack: loss, reordering
 * (one packet held back behind the next), fixed one-way delay. */
void harness_path(struct harness *h, int dir, struct pktbuf *pb)
{
	struct delay_queue *q = &h->dq[dir];

	if (chance(h, h->loss_ppm)) {
		h->dropped[dir]++;
		pktpool_put(&h->pool, pb);
		return;
	}
	if (!h->held[dir] && chance(h, h->reorder_ppm)) {
		h->held[dir] = pb;
		h->held_at[dir] = clock_mono_ns();
		h->reordered++;
		return;
	}
	for (;;) {
		if (!h->delay_ns) {
			deliver(h, dir, pb);
		} else if ((q->tail + 1) % DELAY_SLOTS == q->head) {
			h->dropped[dir]++; /* queue full */
			pktpool_put(&h->pool, pb);
		} else {
			q->ring[q->tail].at = clock_mono_ns() + h->delay_ns;
			q->ring[q->tail].pb = pb;
			q->tail = (q->tail + 1) % DELAY_SLOTS;
		}
		if (!h->held[dir] || pb == h->held[dir])
			break;
		pb = h->held[dir];
		h->held[dir] = NULL;
	}
}

/* Stack output, through the path, to the kernel. */
static void op_output(void *ctx, struct pktbuf *pb)
{
	harness_path(ctx, DIR_OUT, pb);
}

/* The watchdog's report of a stalled connection: a line the tests fail on. */
static void op_log(void *ctx, const char *msg)
{
	printf("STALL %s\n", msg);
	fflush(stdout);
}

const struct netstack_ops harness_ops = {
	.output = op_output,
	.log = op_log,
};

static void read_tun(struct harness *h, int fd, int dir)
{
	struct pktbuf *pb;
	ssize_t n;
	int i;

	netstack_set_clock(h->st, clock_mono_ns());
	for (i = 0; i < TUN_BATCH; ++i) {
		pb = pktpool_get(&h->pool);
		if (!pb)
			break;
		n = read(fd, pkt_data(pb), PKTBUF_SIZE - PKTBUF_HEADROOM);
		if (n <= 0) {
			pktpool_put(&h->pool, pb);
			break;
		}
		pb->len = (uint32_t)n;
		harness_path(h, dir, pb);
	}
	harness_release(h);
}

void harness_on_tun(struct loop *loop, int fd, unsigned events, void *arg)
{
	read_tun(arg, fd, DIR_IN);
}

void harness_on_relay_tun(struct loop *loop, int fd, unsigned events,
			  void *arg)
{
	read_tun(arg, fd, DIR_OUT);
}

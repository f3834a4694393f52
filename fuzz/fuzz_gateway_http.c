/* libFuzzer target for the gateway's HTTP glue: the request parser's
 * callbacks, the head rewriting, routing, and the response side. The input
 * is split in two (its first two bytes say where): what a client sends,
 * and what the target answers. The client is one end of a socketpair; the
 * target, a listener on 127.0.0.1 that answers every connection with the
 * second part. ASan and UBSan do the checking. */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "gateway/tls.h"
#include "io/loop.h"

static struct gateway g;
static int lfd = -1, peer = -1, ticks;
static const uint8_t *answer;
static size_t answer_len;

static void on_tick(struct loop *loop, void *arg)
{
	int fd;
	char sink[65536];

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		if (answer_len)
			(void)!write(fd, answer, answer_len);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	while (read(peer, sink, sizeof(sink)) > 0)
		;
	if (!gw_http_count(&g) || ++ticks > 10)
		loop_stop(loop);
}

static void setup(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char err[256];
	static struct gw_route r;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert(lfd >= 0 && !bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) &&
	       !listen(lfd, 64) && !getsockname(lfd, (struct sockaddr *)&sa, &sl));
	g.loop = loop_new();
	g.upstream_timeout_s = g.connect_timeout_s = 1;
	assert(!gw_tls_start(&g, NULL));
	assert(!gw_http_start(&g, "off", "off", err, sizeof(err)));
	snprintf(r.id, sizeof(r.id), "all");
	snprintf(r.hostname, sizeof(r.hostname), "*");
	snprintf(r.target_url, sizeof(r.target_url), "http://127.0.0.1:%u",
		 ntohs(sa.sin_port));
	assert(!gw_route_target(&r));
	g.routes = &r;
	g.n_routes = 1;
	assert(!gw_routes_changed(&g));
	loop_set_tick(g.loop, 1, on_tick, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2], big = 1 << 20;
	size_t split;

	if (size < 2 || size > 60000)
		return 0;
	if (!g.loop)
		setup();
	split = ((size_t)data[0] << 8 | data[1]) % (size - 1);
	answer = data + 2 + split;
	answer_len = size - 2 - split;
	assert(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	(void)!write(sv[1], data + 2, split);
	peer = sv[1];
	ticks = 0;
	assert(!gw_http_adopt(&g, sv[0], false));
	loop_run(g.loop);
	close(sv[1]);
	/* Whatever did not end by itself ends here (and must free cleanly). */
	gw_http_stop(&g);
	assert(!gw_http_start(&g, "off", "off", (char[64]){ 0 }, 64));
	return 0;
}

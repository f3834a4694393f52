/* An HTTP server (libmicrohttpd) driven from a struct loop: its epoll fd
 * in the loop, MHD_run() when it is ready and on each tick. One thread, so
 * the handlers read the loop's state without locks, and every socket is
 * non-blocking: a slow or hostile client cannot stall the loop. The
 * status listener and the gateway's API use it. */
#ifndef SPOKEWIRE_IO_LOOP_HTTP_H
#define SPOKEWIRE_IO_LOOP_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct loop;
struct loop_http;

struct loop_http_opts {
	unsigned conn_limit;      /* connections at once */
	unsigned per_ip_limit;    /* of them from one address, 0: no limit */
	unsigned timeout_s;       /* of silence before a connection closes */
	size_t conn_memory;       /* per connection (headers beyond: refused) */
	MHD_RequestCompletedCallback done; /* may be NULL */
	bool suspend;             /* handlers may suspend connections */
};

/* addr ("ADDR:PORT", "[V6]:PORT" or a bare "PORT", then *bare is true
 * and the address 0.0.0.0) into ss. 0 or -EINVAL. */
int loop_http_parse_addr(const char *addr, struct sockaddr_storage *ss,
			 bool *bare);
/* A listening socket for addr, "ADDR:PORT", "[V6]:PORT" or a bare "PORT"
 * (every address; with ifname, bound to that interface only); its port in
 * *port when not NULL. The fd, or -errno with a message in err. */
int loop_http_listen(const char *addr, const char *ifname, int *port,
		     char *err, size_t errlen);
/* Serves fd (owned from here on, also on error) with handler(cls, ...).
 * 0 or -errno. */
int loop_http_start(struct loop *loop, int fd, MHD_AccessHandlerCallback h,
		    void *cls, const struct loop_http_opts *o,
		    struct loop_http **out);
/* Runs due timeouts; call from the loop's tick. NULL is fine. */
void loop_http_tick(struct loop_http *s);
void loop_http_stop(struct loop_http *s);

#endif

/* Shared between the relay files: the relay context, the stack<->host
 * splice, non-blocking host connects, and the resolver thread. */
#ifndef SPOKEWIRE_RELAY_INTERNAL_H
#define SPOKEWIRE_RELAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "netstack/netstack.h"
#include "relay/relay.h"

struct loop;
struct splice;
struct resolver;
struct host_listener;
struct udp_forward;
struct tcp_forward;
struct egress;
struct proxy_conn;
struct expose;
struct pending;

struct relay {
	struct loop *loop;
	unsigned gen; /* relay_reconfigure's generation */
	struct tcp_forward *tcp_forwards;
	struct netstack *st;
	struct resolver *res;
	int verbose;
	struct splice *splices;          /* live splices (list) */
	struct host_listener *listeners; /* host TCP listeners */
	struct udp_forward *udp_forwards;
	struct expose *exposes;          /* stack listeners */
	struct pending *pendings;        /* deferred SYNs being connected */
	struct egress *egress;
	struct proxy_conn *proxy_conns;  /* handshakes in progress */
	struct relay_stats stats;
	/* Our first overlay address of each family (family 0: none). */
	struct netstack_addr addr4, addr6;
};

/* The stack's clock, set at the start of every loop callback that may call
 * into the stack (segments carry timestamps, RTT samples use them). */
void relay_clock(const struct relay *r);
void relay_log(const struct relay *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- splice.c: one stack connection joined to one host socket. Data moves
 * straight between the stack's buffers and the kernel's (readv into the
 * stack's send buffer, writev from its receive buffer), so the only buffers
 * are those two, both bounded: a full side stops reads on the other.
 * Half-closes pass through; a reset on one side resets the other. */

/* Takes ownership of c (connecting, or connected) and of fd (a connected
 * non-blocking stream socket, or one still connecting). Returns 0, or
 * -ENOMEM after closing both. */
int splice_new(struct relay *r, struct netstack_tcp *c, int fd);
/* Connects to remote through the stack and joins the connection to fd
 * (owned from here on, reset if the connect fails). 0 or -errno (fd
 * closed). */
int splice_connect(struct relay *r, const struct netstack_addr *remote,
		   int fd);
void splice_free_all(struct relay *r);

/* ---- hostconn.c: non-blocking connects from the host. */
struct host_connect;
/* Calls done(ctx, fd, 0) with a connected non-blocking socket the callee
 * then owns, or done(ctx, -1, -errno), from the loop, never from inside this
 * call. Returns a handle for host_connect_cancel (which must not be used
 * after done), or NULL with *err set (-errno) and no callback. */
struct host_connect *host_connect_start(struct relay *r,
					const struct sockaddr *sa,
					void (*done)(void *ctx, int fd, int err),
					void *ctx, int *err);
void host_connect_cancel(struct host_connect *hc);

/* A listening non-blocking socket on the host. SOCK_STREAM: accept() calls
 * fn with each new connection (ownership of fd passes), and the listener
 * owns ctx (freed with it; on error the caller still owns it).
 * SOCK_DGRAM: the bound socket is returned for the caller to register.
 * Returns the fd or -errno with a message in err. */
int host_listen(struct relay *r, const struct sockaddr *sa, int type,
		void (*fn)(void *ctx, int fd, const struct sockaddr *peer),
		void *ctx, const char *what, char *err);
void host_listeners_free(struct relay *r);
/* Closes the host listener on fd and frees its ctx. */
void host_listener_close(struct relay *r, int fd);

/* Converts a resolved conf address. */
void relay_addr_from_conf(struct netstack_addr *a,
			  const struct conf_hostport *hp);
socklen_t relay_sockaddr_len(const struct sockaddr *sa);
/* An fd-level reset: SO_LINGER 0 then close. */
void relay_close_rst(int fd);

/* ---- resolver.c: getaddrinfo on a helper thread. */
enum {
	RESOLVE_ADDRS_MAX = 8,
};
struct resolve_req;
struct resolver *resolver_new(struct loop *loop);
int resolver_start(struct resolver *res);
void resolver_free(struct resolver *res);
/* Resolves host (port in host order goes into the results). done runs on
 * the loop with 0 and the first n (1..RESOLVE_ADDRS_MAX) addresses in
 * getaddrinfo's order, both families, borrowed for the call; or with
 * -EHOSTUNREACH/-ENOENT and none. Returns a handle for resolve_cancel (only
 * before done runs), or NULL on ENOMEM. */
struct resolve_req *resolve_start(struct resolver *res, const char *host,
				  uint16_t port,
				  void (*done)(void *ctx, int err,
					       const struct sockaddr_storage *addrs,
					       size_t n),
				  void *ctx);
void resolve_cancel(struct resolve_req *req);

/* ---- expose.c: for a listener's syn callback: holds the SYN while the
 * host connects to sa, then accepts and splices, or refuses as the host's
 * error suggests (RST, or ICMP unreachable). Returns what syn returns:
 * NETSTACK_DEFER (c is taken), or a refusal when the connect cannot even
 * start. */
enum netstack_accept relay_defer_connect(struct relay *r,
					 struct netstack_tcp *c,
					 const struct sockaddr *sa);
void pendings_free_all(struct relay *r);

/* ---- forward.c, expose.c, proxy.c, egress.c */
int forward_tcp_add(struct relay *r, const struct conf_forward *f, char *err);
int forward_udp_add(struct relay *r, const struct conf_forward *f, char *err);
void forward_udp_tick(struct relay *r, uint64_t now_ns);
void forward_udp_free_all(struct relay *r);
int expose_add(struct relay *r, const struct conf_expose *e,
	       const struct conf *c, char *err);
void expose_free_all(struct relay *r);
int proxy_add(struct relay *r, const struct conf_hostport *listen, bool http,
	      char *err);
void proxy_free_all(struct relay *r);
int egress_add(struct relay *r, const struct conf *c, char *err);
void egress_tick(struct relay *r, uint64_t now_ns);
/* Fills the flow counts the egress tables keep. */
void egress_get_stats(const struct relay *r, struct relay_stats *s);
void egress_free(struct relay *r);

/* ---- relay_reconfigure's steps, per kind. mark: an item with the same
 * identity (a [Forward]'s protocol and Listen, an [Expose]'s Listen) not
 * yet seen in this generation: marked, counted as changed if its target
 * differs; 1, or 0 when there is none. add_fresh: a new one, flagged
 * fresh (a failure can undo it). retarget: the item takes cf's target
 * (new connections go there). sweep: removes the fresh ones (undo) or
 * the ones not marked, counting them in *removed. */
int forward_mark(struct relay *r, const struct conf_forward *cf,
		 struct relay_changes *ch);
int forward_add_fresh(struct relay *r, const struct conf_forward *cf,
		      char *err);
void forward_retarget(struct relay *r, const struct conf_forward *cf);
void forward_sweep(struct relay *r, bool fresh_only, size_t *removed);
int expose_mark(struct relay *r, const struct conf_expose *ce,
		struct relay_changes *ch);
int expose_add_fresh(struct relay *r, const struct conf_expose *ce,
		     const struct conf *c, char *err);
void expose_retarget(struct relay *r, const struct conf_expose *ce);
void expose_sweep(struct relay *r, bool fresh_only, size_t *removed);

#endif

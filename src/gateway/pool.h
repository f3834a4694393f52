/* Idle connections to targets, kept for the next request to the same
 * target from any client (nginx's upstream keepalive). A kept connection
 * stays in the loop, watched for reads: the target closing it (or saying
 * anything unasked) drops it. */
#ifndef SPOKEWIRE_GATEWAY_POOL_H
#define SPOKEWIRE_GATEWAY_POOL_H

#include <stdint.h>
#include <sys/socket.h>

struct loop;
struct gw_pool;

/* A pool on loop; NULL when out of memory. */
struct gw_pool *gw_pool_new(struct loop *loop);
/* Closes every kept connection and frees the pool. NULL is fine. */
void gw_pool_free(struct gw_pool *p);
/* Keeps fd (registered on the loop) for target: 0, the pool owns it; -1,
 * full, the caller still does. */
int gw_pool_put(struct gw_pool *p, int fd, const struct sockaddr_storage *target);
/* The newest kept connection to target (still registered on the loop,
 * for the caller to rebind), or -1. */
int gw_pool_take(struct gw_pool *p, const struct sockaddr_storage *target);
/* Closes what was kept longer than its time. */
void gw_pool_age(struct gw_pool *p, uint64_t now_ns);

#endif

/* Held GET /netmap requests (watch.c). */
#ifndef SPOKEWIRE_CONTROLLER_WATCH_H
#define SPOKEWIRE_CONTROLLER_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "controller/controller.h"

struct MHD_Connection;

/* Lives in the request; the watch thread owns it while queued. */
struct waiter {
	struct waiter *next;
	struct waiter *prev;
	struct MHD_Connection *conn;
	int64_t since;
	bool hub; /* hubs wait on every change, others on hub changes */
	uint64_t deadline_ms;
	bool queued;
};

/* Suspends w->conn until its version passes w->since or its deadline;
 * the access handler is then called again. False if the caller should
 * answer at once (a newer version is already known, or shutting down). */
bool watch_wait(struct controller *ctl, struct waiter *w);

uint64_t watch_now_ms(void);

#endif

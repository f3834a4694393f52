/* A daemon's status, health and metrics (status.c), and the HTTP listener
 * that serves them (status-http.c). */
#ifndef SPOKEWIRE_DEVICE_STATUS_H
#define SPOKEWIRE_DEVICE_STATUS_H

#include <jansson.h>
#include <stddef.h>


#define SPOKEWIRE_VERSION "0.9.0"

struct daemon;
struct loop;

/* GET /status's document (the caller decrefs). */
json_t *status_json(struct daemon *d);
/* GET /health's document; *http_code 200 (pass, warn) or 503 (fail). */
json_t *status_health(struct daemon *d, int *http_code);
/* GET /metrics's text (malloc'd, *len bytes), or NULL on ENOMEM. */
char *status_metrics(struct daemon *d, size_t *len);

/* The listener: addr is "ADDR:PORT", "[V6]:PORT" or a bare port (every
 * address of the daemon's interface: bound to the interface by name, so
 * it answers on the overlay only; in userspace mode, where there is no
 * interface, 127.0.0.1). token: a Bearer token every request must carry,
 * or NULL. 0 or -errno with a message in err (errlen bytes). */
struct status_http;
int status_http_open(struct status_http **out, struct daemon *d,
		     const char *addr, const char *token, char *err,
		     size_t errlen);
/* The server on a socket from loop_http_listen() (owned from here on). */
int status_http_open_fd(struct status_http **out, struct daemon *d, int fd,
			const char *token, char *err, size_t errlen);
/* Runs due timeouts; called from the daemon's tick. */
void status_http_tick(struct status_http *s);
void status_http_close(struct status_http *s);

#endif

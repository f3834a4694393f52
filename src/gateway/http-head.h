/* Request and response heads (http-head.c) for the gateway's proxy. */
#ifndef SPOKEWIRE_GATEWAY_HTTP_HEAD_H
#define SPOKEWIRE_GATEWAY_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/io.h"

enum {
	HEAD_MAX = 64 << 10,  /* bytes of a head: beyond, 431 */
	FIELDS_MAX = 128,
};

struct field {
	uint32_t n, nl, v, vl; /* name and value: offsets into head.text */
};

struct head {
	struct gw_buf text;
	struct field f[FIELDS_MAX];
	unsigned count;
	bool field_open, value_open, too_big;
	uint32_t first, first_len; /* request: the target; response: reason */
};

/* 0, or -1 (too_big set, or out of memory). */
int head_add(struct head *h, const char *at, size_t n);
void head_reset(struct head *h);
const char *head_name(const struct head *h, unsigned i);
const char *head_value(const struct head *h, unsigned i);
bool head_is(const struct head *h, unsigned i, const char *name);
/* The value of the first header called name, or NULL (length in *len). */
const char *head_get(const struct head *h, const char *name, size_t *len);
/* A token in a comma list (Connection: keep-alive, Upgrade). */
bool head_list_has(const char *v, size_t len, const char *tok);
/* Field i belongs to one hop (RFC 9110 7.6.1), or the proxy sets it;
 * conn: the Connection header's value (it names more). */
bool head_hop_by_hop(const struct head *h, unsigned i, const char *conn,
		     size_t conn_len);
/* s (n bytes) for a log line: at most len - 1 bytes, controls, spaces and
 * quotes as '?'. */
void head_printable(char *dst, size_t len, const char *s, size_t n);

#endif

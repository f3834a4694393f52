/* A request or response body gathered piece by piece, bounded: the HTTP
 * handlers (libmicrohttpd's upload pieces, libcurl's write callback) keep
 * one each. */
#ifndef SPOKEWIRE_IO_BODY_H
#define SPOKEWIRE_IO_BODY_H

#include <stdbool.h>
#include <stddef.h>

struct body_buf {
	char *s;        /* NUL-terminated once anything was added; owned */
	size_t len;
	bool too_big;   /* more than max was offered: the rest was dropped */
};

/* Appends n bytes of d unless that would pass max (then too_big is set
 * and nothing is added). 0, or -ENOMEM. */
int body_add(struct body_buf *b, const void *d, size_t n, size_t max);
/* Wipes (a body may carry a token) and frees. */
void body_free(struct body_buf *b);

#endif

/* A growing text buffer for rendering configs and rulesets. It may hold a
 * private key: memory it lets go of is wiped first. */
#ifndef SPOKEWIRE_IO_STRBUF_H
#define SPOKEWIRE_IO_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *s;        /* NUL-terminated once anything was added */
	size_t len, cap;
	bool failed;    /* out of memory: further output is dropped */
};

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The text, owned by the caller (who wipes it if it holds a secret), or
 * NULL when anything failed (the buffer is then wiped and freed). */
char *strbuf_take(struct strbuf *b);
/* Wipes and frees. */
void strbuf_free(struct strbuf *b);

#endif

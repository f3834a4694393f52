/* Growing text buffers (strbuf.h). */
#include "io/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room, cap;
	char *s;
	int n;

	for (;;) {
		if (b->failed)
			return;
		room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt,
			      ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		cap = b->cap * 2 + (size_t)n + 1024;
		s = malloc(cap);
		if (!s) {
			b->failed = true;
			return;
		}
		if (b->s) {
			memcpy(s, b->s, b->len + 1);
			memzero(b->s, b->cap);
			free(b->s);
		}
		b->s = s;
		b->cap = cap;
	}
}

char *strbuf_take(struct strbuf *b)
{
	char *s = b->s;

	if (b->failed || !s) {
		strbuf_free(b);
		return NULL;
	}
	memset(b, 0, sizeof(*b));
	return s;
}

void strbuf_free(struct strbuf *b)
{
	if (b->s) {
		memzero(b->s, b->cap);
		free(b->s);
	}
	memset(b, 0, sizeof(*b));
}

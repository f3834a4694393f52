/* Bounded bodies (see body.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "io/body.h"

int body_add(struct body_buf *b, const void *d, size_t n, size_t max)
{
	char *s;

	if (b->len + n > max) {
		b->too_big = true;
		return 0;
	}
	s = realloc(b->s, b->len + n + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s + b->len, d, n);
	b->s = s;
	b->len += n;
	s[b->len] = '\0';
	return 0;
}

void body_free(struct body_buf *b)
{
	if (b->s)
		memzero(b->s, b->len);
	free(b->s);
	memset(b, 0, sizeof(*b));
}

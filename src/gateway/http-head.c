/* Request and response heads as the gateway's proxy keeps them: llhttp's
 * pieces joined into one buffer, fields as offsets into it; lookups, and
 * the headers that belong to one hop. */
#include <string.h>
#include <strings.h>

#include "gateway/http-head.h"

int head_add(struct head *h, const char *at, size_t n)
{
	if (h->text.len + n > HEAD_MAX) {
		h->too_big = true;
		return -1;
	}
	return gw_buf_add(&h->text, at, n);
}

void head_reset(struct head *h)
{
	h->text.off = h->text.len = 0;
	h->count = 0;
	h->field_open = h->value_open = h->too_big = false;
	h->first = h->first_len = 0;
}

const char *head_name(const struct head *h, unsigned i)
{
	return h->text.p + h->text.off + h->f[i].n;
}

const char *head_value(const struct head *h, unsigned i)
{
	return h->text.p + h->text.off + h->f[i].v;
}

bool head_is(const struct head *h, unsigned i, const char *name)
{
	size_t n = strlen(name);

	return h->f[i].nl == n && !strncasecmp(head_name(h, i), name, n);
}

/* The value of the first header called name, or NULL (length in *len). */
const char *head_get(const struct head *h, const char *name, size_t *len)
{
	unsigned i;

	for (i = 0; i < h->count; ++i)
		if (head_is(h, i, name)) {
			*len = h->f[i].vl;
			return head_value(h, i);
		}
	return NULL;
}

/* A token in a comma list (Connection: keep-alive, Upgrade). */
bool head_list_has(const char *v, size_t len, const char *tok)
{
	size_t t = strlen(tok), i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == t && !strncasecmp(v + s, tok, t))
			return true;
	}
	return false;
}

/* Headers that belong to one hop, not passed on (RFC 9110 7.6.1), and
 * the ones this proxy sets itself. */
bool head_hop_by_hop(const struct head *h, unsigned i, const char *conn,
		       size_t conn_len)
{
	const char *const drop[] = { "connection", "keep-alive",
		"proxy-connection", "te", "trailer", "transfer-encoding",
		"upgrade", "x-forwarded-for", "x-forwarded-proto",
		"x-forwarded-host", NULL };
	char name[64];
	size_t k;

	for (k = 0; drop[k]; ++k)
		if (head_is(h, i, drop[k]))
			return true;
	if (conn && h->f[i].nl < sizeof(name)) {
		memcpy(name, head_name(h, i), h->f[i].nl);
		name[h->f[i].nl] = '\0';
		if (head_list_has(conn, conn_len, name) &&
		    strcasecmp(name, "content-length") && strcasecmp(name, "host"))
			return true;
	}
	return false;
}

void head_printable(char *dst, size_t len, const char *s, size_t n)
{
	size_t i;

	if (n >= len)
		n = len - 1;
	for (i = 0; i < n; ++i)
		dst[i] = s[i] > ' ' && s[i] < 127 && s[i] != '"' ? s[i] : '?';
	dst[n] = '\0';
}

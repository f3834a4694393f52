/* Inside the config parser: value parsers shared by its files. Not part
 * of conf.h's API. */
#ifndef SPOKEWIRE_CONF_VALUE_H
#define SPOKEWIRE_CONF_VALUE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"

/* s without leading and trailing white space (s is modified). */
char *conf_trim(char *s);

enum conf_line_kind {
	CONF_LINE_EMPTY,
	CONF_LINE_SECTION,
	CONF_LINE_KEY,
};
enum {
	CONF_LINE_MAX = 4096,
};
/* Calls fn(ctx, line) for each line of text (len bytes), line by line,
 * counting them in *line for fn's messages; the copy fn gets is wiped
 * after. A line longer than CONF_LINE_MAX or with a NUL byte is -EINVAL
 * with "file:line: what" in err (CONF_ERR_MAX). Returns 0, or fn's first
 * nonzero return. */
int conf_each_line(const char *file, const char *text, size_t len,
		   int *line, char *err, int (*fn)(void *ctx, char *line),
		   void *ctx);
/* One line of an INI-style file, split in place: comments and white space
 * dropped; a section's name in *a, or KEY in *a and VALUE in *b. Returns
 * the kind, or -EINVAL with what is wrong in why. */
int conf_split_line(char *line, char **a, char **b, char *why);
/* "file:line: " and the message into err (CONF_ERR_MAX); returns -EINVAL. */
int conf_verr(char *err, const char *file, int line, const char *fmt,
	      va_list ap) __attribute__((format(printf, 4, 0)));
/* 0 or -EINVAL. Numbers are decimal; a mark may also be 0xHEX. */
int conf_parse_u32(const char *s, uint64_t max, uint64_t *out);
int conf_parse_mark(const char *s, uint32_t *out);
int conf_parse_ip(const char *s, uint8_t *family, uint8_t ip[16]);
int conf_parse_prefix(const char *s, struct conf_prefix *out);
enum {
	CONF_WHY_MAX = 128,
};

/* "host:port", "[v6]:port", or (bare_port) "port"; a numeric host is
 * resolved at once, a name by conf_resolve(). 0, or -EINVAL with what is
 * wrong in why (CONF_WHY_MAX bytes), for "invalid KEY 'VALUE': WHY". */
int conf_parse_hostport(const char *s, bool bare_port,
			struct conf_hostport *hp, int line, char *why);

#endif

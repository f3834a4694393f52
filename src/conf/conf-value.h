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
/* The next line of text (len bytes) from *pos into buf (CONF_LINE_MAX + 1
 * bytes), *pos moved past it. 1 with a line, 0 at the end, -EINVAL with
 * what is wrong in why (CONF_WHY_MAX): too long, or a NUL byte. */
int conf_next_line(const char *text, size_t len, size_t *pos, char *buf,
		   char *why);
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

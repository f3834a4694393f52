/* Inside the config parser: value parsers shared by its files. Not part
 * of conf.h's API. */
#ifndef SPOKEWIRE_CONF_VALUE_H
#define SPOKEWIRE_CONF_VALUE_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"

/* s without leading and trailing white space (s is modified). */
char *conf_trim(char *s);
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

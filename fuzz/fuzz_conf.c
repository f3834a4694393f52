/* libFuzzer target for the config file parser: any input either parses or
 * fails with a "file:line: " message; prefix matching on what parsed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "crypto/crypto.h"

static void warn(void *ctx, const char *msg)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	char err[CONF_ERR_MAX];
	struct conf c;
	uint8_t ip[16] = { 0 };
	int ret;

	if (!inited) {
		crypto_init();
		inited = 1;
	}
	ret = conf_parse(&c, "f.conf", (const char *)data, size, err, warn,
			 NULL);
	if (ret) {
		if (strncmp(err, "f.conf:", 7))
			abort();
		return 0;
	}
	if (!c.has_private_key)
		abort();
	if (c.n_allow)
		conf_prefix_match(c.allow, c.n_allow, AF_INET6, ip);
	conf_free(&c);
	return 0;
}

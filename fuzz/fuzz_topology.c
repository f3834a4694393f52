/* libFuzzer target for the topology parser: any input either parses or
 * fails with a "file:line: " message; what parses gets addresses, renders,
 * and every rendered config parses as a config file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/topology.h"
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	char err[CONF_ERR_MAX];
	struct topology t;
	struct conf c;
	size_t i;
	char *text;

	if (!inited) {
		crypto_init();
		inited = 1;
	}
	if (topology_parse(&t, "f.topology", (const char *)data, size, err)) {
		if (strncmp(err, "f.topology:", 11))
			abort();
		return 0;
	}
	if (t.n < 1 || !t.nodes[0].hub)
		abort();
	for (i = 0; i < t.n; ++i) {
		memset(t.nodes[i].private_key, (int)i + 1, KEY_LEN);
		memset(t.nodes[i].public_key, (int)i + 2, KEY_LEN);
	}
	if (!topology_assign(&t, err)) {
		for (i = 0; i < t.n; ++i) {
			text = topology_render(&t, i);
			if (!text)
				abort();
			/* Names in Endpoint/Target stay unresolved: parse only. */
			if (conf_parse(&c, "n.conf", text, strlen(text), err,
				       NULL, NULL))
				abort();
			conf_free(&c);
			free(text);
		}
		free(topology_summary(&t));
	}
	topology_free(&t);
	return 0;
}

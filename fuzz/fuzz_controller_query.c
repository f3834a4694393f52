/* libFuzzer target for the controller's small text parsers: --network
 * prefixes (and the address arithmetic on what they accept), endpoints,
 * ids and query integers. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller/addr.h"
#include "controller/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[256], v4[ADDR_TEXT_LEN], v6[ADDR_TEXT_LEN], cidrs[256];
	struct network net, again;
	int64_t v;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (!network_parse(&net, text)) {
		assert(net.has4 || net.has6);
		assert(net.max_index >= 1);
		/* The canonical text parses back to the same network. */
		assert(!network_parse(&again, net.text));
		assert(!strcmp(again.text, net.text));
		assert(!network_host(&net, 1, v4, v6));
		assert(!network_host(&net, net.max_index, v4, v6));
		assert(network_host(&net, net.max_index + 1, v4, v6));
		assert(network_host(&net, 0, v4, v6));
		assert(!network_host_cidrs(&net, 1, cidrs, sizeof(cidrs)));
		network_cidrs(&net, cidrs, sizeof(cidrs));
	}
	endpoint_valid(text);
	if (id_valid(text))
		assert(strlen(text) >= 1 && strlen(text) <= ID_MAX_LEN);
	if (!parse_query_int(text, 0, 3600, &v))
		assert(v >= 0 && v <= 3600);
	return 0;
}

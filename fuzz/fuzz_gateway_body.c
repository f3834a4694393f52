/* libFuzzer target for the gateway API's bodies (POST /http/routes and
 * /tcp/forwards): the first byte picks the parser. What a parser accepts
 * must be what the state file and the listeners rely on: a valid id,
 * ports in range, strings that fit. The mesh is 10.60.0.0/16 here (the
 * interface's AllowedIPs cannot be asked in a fuzzer). */
#include <arpa/inet.h>
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "gateway/gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_prefix mesh = { .family = AF_INET, .cidr = 16,
				    .has_cidr = true, .ip = { 10, 60 } };
	struct gateway g = { .mesh = &mesh, .n_mesh = 1, .entrypoint = "web",
			     .certresolver = "" };
	struct gw_route r;
	struct gw_forward f;
	json_error_t je;
	json_t *in;

	if (size < 1)
		return 0;
	snprintf(g.wg_iface, sizeof(g.wg_iface), "fuzz-no-such");
	in = json_loadb((const char *)data + 1, size - 1, 0, &je);
	if (!in)
		return 0;
	if (data[0] & 1) {
		if (!gw_forward_parse(&g, in, &f)) {
			assert(f.id[0] && strlen(f.id) <= GW_ID_MAX);
			assert(f.public_port && f.target_port);
			assert(f.proxy_protocol <= 2 && !(f.udp && f.proxy_protocol));
		}
	} else if (!gw_route_parse(&g, in, &r)) {
		assert(r.id[0] && r.hostname[0]);
		assert(!strncmp(r.target_url, "http", 4));
	}
	json_decref(in);
	return 0;
}

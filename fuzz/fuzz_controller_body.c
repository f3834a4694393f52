/* libFuzzer target for the controller's request-body parsers (POST /join,
 * /tokens, /users, /users/{id}/devices): the first byte picks the parser.
 * Whatever a parser accepts must satisfy the invariants the registry
 * relies on: valid ids, canonical keys, endpoints, bounded numbers. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "controller/request.h"
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct join_request jr;
	struct token_request tr;
	struct user_request ur;
	struct device_request dr;
	const char *err = NULL, *body;
	uint8_t key[KEY_LEN];
	size_t len;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	len = size - 1;
	switch (data[0] % 4) {
	case 0:
		if (!parse_join(body, len, &jr, &err)) {
			assert(id_valid(jr.node_id));
			assert(key_from_base64(key, jr.public_key));
			assert(!jr.endpoint[0] || endpoint_valid(jr.endpoint));
			assert(jr.role == ROLE_NONE || jr.role == ROLE_HUB ||
			       jr.role == ROLE_SPOKE);
		} else {
			assert(err);
		}
		break;
	case 1:
		if (!parse_token_request(body, len, &tr, &err)) {
			assert(tr.uses >= 1 && tr.uses <= TOKEN_USES_MAX);
			assert(tr.expires_in >= 1 &&
			       tr.expires_in <= TOKEN_EXPIRES_MAX);
			assert(tr.role == ROLE_HUB || tr.role == ROLE_SPOKE);
		} else {
			assert(err);
		}
		break;
	case 2:
		if (!parse_user_request(body, len, &ur, &err))
			assert(id_valid(ur.client_id));
		else
			assert(err);
		break;
	case 3:
		if (!parse_device_request(body, len, &dr, &err))
			assert(!dr.name[0] || id_valid(dr.name));
		else
			assert(err);
		break;
	}
	return 0;
}

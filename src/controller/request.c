/* Request body parsing: strict JSON objects, typed fields, bounded strings.
 * Unknown fields are ignored so newer agents work with older controllers. */
#include "controller/request.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[] = {
	[ROLE_SPOKE] = "spoke",
	[ROLE_HUB] = "hub",
	[ROLE_DEVICE] = "device",
};

const char *role_name(enum role role)
{
	if (role < 0 || role > ROLE_DEVICE)
		return "none";
	return role_names[role];
}

enum role role_parse(const char *s)
{
	if (!strcmp(s, "spoke"))
		return ROLE_SPOKE;
	if (!strcmp(s, "hub"))
		return ROLE_HUB;
	return ROLE_NONE;
}

static bool id_char(char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return !first && (c == '.' || c == '_' || c == '-');
}

bool id_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; ++i)
		if (i >= ID_MAX_LEN || !id_char(s[i], i == 0))
			return false;
	return i > 0;
}

bool endpoint_valid(const char *s)
{
	const char *colon, *host_end, *p;
	size_t hlen;
	long port;
	char *end;

	if (strlen(s) > ENDPOINT_MAX_LEN)
		return false;
	if (s[0] == '[') {
		host_end = strchr(s, ']');
		if (!host_end || host_end[1] != ':' || host_end == s + 1)
			return false;
		for (p = s + 1; p < host_end; ++p)
			if (!strchr("0123456789abcdefABCDEF:.%", *p))
				return false;
		colon = host_end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s)
			return false;
		hlen = (size_t)(colon - s);
		if (hlen > 253)
			return false;
		for (p = s; p < colon; ++p)
			if (!id_char(*p, false))
				return false;
	}
	if (colon[1] < '0' || colon[1] > '9')
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return !*end && !errno && port >= 1 && port <= 65535;
}

/* Parses body as a JSON object; an empty body is {}. */
static json_t *load_object(const char *body, size_t len, const char **err)
{
	json_error_t jerr;
	json_t *root;

	if (len == 0)
		return json_object();
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		*err = "malformed JSON";
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*err = "the body must be a JSON object";
		return NULL;
	}
	return root;
}

/* Copies an optional string field; -EINVAL if present and not a string of
 * at most max bytes (or if required and absent). */
static int get_string(json_t *root, const char *key, char *out, size_t max,
		      bool required)
{
	json_t *v = json_object_get(root, key);

	out[0] = '\0';
	if (!v || json_is_null(v))
		return required ? -EINVAL : 0;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -EINVAL;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_int(json_t *root, const char *key, int64_t min, int64_t max,
		   int64_t def, int64_t *out)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return -EINVAL;
	*out = json_integer_value(v);
	return *out >= min && *out <= max ? 0 : -EINVAL;
}

int parse_join(const char *body, size_t len, struct join_request *out,
	       const char **err)
{
	char role[16];
	uint8_t key[KEY_LEN];
	json_t *root = load_object(body, len, err);
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	out->role = ROLE_NONE;
	if (!root)
		return -EINVAL;
	if (get_string(root, "node_id", out->node_id, ID_MAX_LEN, true) ||
	    !id_valid(out->node_id)) {
		*err = "node_id: 1-64 of [A-Za-z0-9._-] required";
		goto out;
	}
	if (get_string(root, "public_key", out->public_key, KEY_B64_LEN,
		       true) ||
	    !key_from_base64(key, out->public_key) ||
	    crypto_is_zero(key, sizeof(key))) {
		*err = "public_key: a base64 WireGuard public key required";
		goto out;
	}
	if (get_string(root, "endpoint", out->endpoint, ENDPOINT_MAX_LEN,
		       false) ||
	    (out->endpoint[0] && !endpoint_valid(out->endpoint))) {
		*err = "endpoint: HOST:PORT expected";
		goto out;
	}
	if (get_string(root, "role", role, sizeof(role) - 1, false)) {
		*err = "role: \"hub\" or \"spoke\" expected";
		goto out;
	}
	if (role[0]) {
		out->role = role_parse(role);
		if (out->role == ROLE_NONE) {
			*err = "role: \"hub\" or \"spoke\" expected";
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

int parse_token_request(const char *body, size_t len,
			struct token_request *out, const char **err)
{
	json_t *root = load_object(body, len, err);
	char role[16];
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!root)
		return -EINVAL;
	if (get_string(root, "role", role, sizeof(role) - 1, false)) {
		*err = "role: \"hub\" or \"spoke\" expected";
		goto out;
	}
	out->role = role[0] ? role_parse(role) : ROLE_SPOKE;
	if (out->role == ROLE_NONE) {
		*err = "role: \"hub\" or \"spoke\" expected";
		goto out;
	}
	if (get_int(root, "uses", 1, TOKEN_USES_MAX, 1, &out->uses)) {
		*err = "uses: an integer from 1 to 1000000 expected";
		goto out;
	}
	if (get_int(root, "expires_in", 1, TOKEN_EXPIRES_MAX,
		    TOKEN_EXPIRES_DEFAULT, &out->expires_in)) {
		*err = "expires_in: seconds, from 1 to 10 years, expected";
		goto out;
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

int parse_user_request(const char *body, size_t len, struct user_request *out,
		       const char **err)
{
	json_t *root = load_object(body, len, err);
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!root)
		return -EINVAL;
	if (get_string(root, "client_id", out->client_id, ID_MAX_LEN, true) ||
	    !id_valid(out->client_id)) {
		*err = "client_id: 1-64 of [A-Za-z0-9._-] required";
		ret = -EINVAL;
	}
	json_decref(root);
	return ret;
}

int parse_device_request(const char *body, size_t len,
			 struct device_request *out, const char **err)
{
	json_t *root = load_object(body, len, err);
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!root)
		return -EINVAL;
	if (get_string(root, "name", out->name, NAME_MAX_LEN, false) ||
	    (out->name[0] && !id_valid(out->name))) {
		*err = "name: 1-64 of [A-Za-z0-9._-] expected";
		ret = -EINVAL;
	}
	json_decref(root);
	return ret;
}

int parse_query_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	long long v;
	char *end;

	if (!s || !*s || !((*s >= '0' && *s <= '9') || *s == '-'))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || errno || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parsers for the controller's request bodies and query values. They take
 * untrusted bytes, never touch the store, and are what the fuzzers drive. */
#ifndef SPOKEWIRE_CONTROLLER_REQUEST_H
#define SPOKEWIRE_CONTROLLER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/controller.h"

enum role {
	ROLE_NONE = -1,
	ROLE_SPOKE = 0,
	ROLE_HUB,
	ROLE_DEVICE, /* a user's laptop or phone: never joins, never polls */
};

enum {
	NAME_MAX_LEN = 64,
	TOKEN_USES_MAX = 1000000,
	TOKEN_EXPIRES_MAX = 10 * 366 * 24 * 3600,
	TOKEN_EXPIRES_DEFAULT = 3600,
};

struct join_request {
	char node_id[ID_MAX_LEN + 1];
	char public_key[KEY_B64_LEN + 1];
	char endpoint[ENDPOINT_MAX_LEN + 1]; /* "" when absent */
	enum role role;                      /* ROLE_NONE when absent */
};

struct token_request {
	enum role role;
	int64_t uses;
	int64_t expires_in;
};

struct user_request {
	char client_id[ID_MAX_LEN + 1];
};

struct device_request {
	char name[NAME_MAX_LEN + 1]; /* "" when absent */
};

const char *role_name(enum role role);
/* "spoke", "hub"; ROLE_NONE otherwise (devices are not joined). */
enum role role_parse(const char *s);

/* 1-64 of [A-Za-z0-9._-], starting with a letter or digit. */
bool id_valid(const char *s);
/* HOST:PORT or [V6]:PORT, HOST a name or address, PORT 1-65535. */
bool endpoint_valid(const char *s);

/* Each returns 0, or -EINVAL with *err a message for the client. An empty
 * body is an empty object where every field is optional. */
int parse_join(const char *body, size_t len, struct join_request *out,
	       const char **err);
int parse_token_request(const char *body, size_t len,
			struct token_request *out, const char **err);
int parse_user_request(const char *body, size_t len, struct user_request *out,
		       const char **err);
int parse_device_request(const char *body, size_t len,
			 struct device_request *out, const char **err);

/* A decimal in [min, max] from a query string value; -EINVAL otherwise. */
int parse_query_int(const char *s, int64_t min, int64_t max, int64_t *out);

#endif

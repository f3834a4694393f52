/* contacts-api: the reference edge application. A small REST API over a
 * PostgreSQL table of contacts, answering with the JSON the Go service it
 * replaces answered, field for field; every answer says which region
 * served it. db.c holds the connection pool and the SQL; api.c the HTTP
 * side (libmicrohttpd) and main(). */
#ifndef CONTACTS_H
#define CONTACTS_H

#include <jansson.h>
#include <stdbool.h>

enum {
	NAME_MAX_LEN = 200,
	EMAIL_MAX_LEN = 254,
	FIELD_MAX_LEN = 200,  /* phone, company */
	NOTES_MAX_LEN = 4000,
	POOL_SIZE = 4,
	LIST_LIMIT_MAX = 500,
};

struct db_config {
	const char *host, *port, *user, *password, *name, *sslmode;
};

/* Opens the pool (connections are made, and remade, as they are needed);
 * 0 or -1. */
int db_init(const struct db_config *cfg);
void db_close(void);

/* Every query answers a JSON document or NULL with *err set: "unavailable"
 * (the database is down: 503), "not found" (404), or a message for 400. */
json_t *db_health(const char **err);
json_t *db_stats(const char **err);
json_t *db_list(long limit, long offset, const char **err);
json_t *db_get(long id, const char **err);
json_t *db_search(const char *q, const char **err);
json_t *db_create(json_t *in, const char **err);
json_t *db_update(long id, json_t *in, const char **err);
int db_delete(long id, const char **err);
/* Creates the table if it is missing; 0 or -1. */
int db_migrate(const char **err);
/* Inserts n generated contacts in one transaction; 0 or -1. */
int db_seed(long n, const char **err);

#endif

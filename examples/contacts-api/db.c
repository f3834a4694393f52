/* contacts-api's database side: a small pool of libpq connections, each
 * remade when it breaks (so the API recovers by itself when the database
 * returns), and the queries, all parameterised. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contacts.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t free_cv;
	PGconn *conns[POOL_SIZE];
	bool busy[POOL_SIZE];
	char conninfo[1024];
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .free_cv = PTHREAD_COND_INITIALIZER };

static bool migrated;

#define CREATE_TABLE                                                        \
	"CREATE TABLE IF NOT EXISTS contacts ("                              \
	" id bigserial PRIMARY KEY,"                                         \
	" name text NOT NULL, email text NOT NULL,"                          \
	" phone text, company text, notes text,"                             \
	" created_at timestamptz NOT NULL DEFAULT now(),"                    \
	" updated_at timestamptz NOT NULL DEFAULT now())"

static const char *const COLUMNS =
	"id, name, email, phone, company, notes, "
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	"to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

/* key='value' for a libpq conninfo string, quotes and backslashes escaped. */
static void add_param(char *buf, size_t len, const char *key, const char *v)
{
	size_t off = strlen(buf);

	if (!v || !*v)
		return;
	off += (size_t)snprintf(buf + off, len - off, "%s='", key);
	for (; *v && off + 3 < len; ++v) {
		if (*v == '\'' || *v == '\\')
			buf[off++] = '\\';
		buf[off++] = *v;
	}
	snprintf(buf + off, len - off, "' ");
}

int db_init(const struct db_config *cfg)
{
	char *b = pool.conninfo;
	size_t n = sizeof(pool.conninfo);

	b[0] = '\0';
	add_param(b, n, "host", cfg->host);
	add_param(b, n, "port", cfg->port);
	add_param(b, n, "user", cfg->user);
	add_param(b, n, "password", cfg->password);
	add_param(b, n, "dbname", cfg->name);
	add_param(b, n, "sslmode", cfg->sslmode);
	add_param(b, n, "connect_timeout", "3");
	add_param(b, n, "application_name", "contacts-api");
	return 0;
}

void db_close(void)
{
	int i;

	for (i = 0; i < POOL_SIZE; ++i)
		if (pool.conns[i])
			PQfinish(pool.conns[i]);
}

/* A connection that works, or NULL (the database is down). */
static PGconn *take(int *slot)
{
	PGconn *c;
	int i;

	pthread_mutex_lock(&pool.lock);
	for (;;) {
		for (i = 0; i < POOL_SIZE && pool.busy[i]; ++i)
			;
		if (i < POOL_SIZE)
			break;
		pthread_cond_wait(&pool.free_cv, &pool.lock);
	}
	pool.busy[i] = true;
	pthread_mutex_unlock(&pool.lock);
	*slot = i;
	c = pool.conns[i];
	if (!c) {
		c = pool.conns[i] = PQconnectdb(pool.conninfo);
	} else if (PQstatus(c) != CONNECTION_OK) {
		PQreset(c);
	}
	return PQstatus(c) == CONNECTION_OK ? c : NULL;
}

static void give(int slot)
{
	pthread_mutex_lock(&pool.lock);
	pool.busy[slot] = false;
	pthread_cond_signal(&pool.free_cv);
	pthread_mutex_unlock(&pool.lock);
}

/* Runs sql with params; the result when it has the status wanted, else
 * NULL with *err ("unavailable" when the connection broke). */
static PGresult *run(const char *sql, int n, const char *const *params,
		     const char **err)
{
	PGresult *r;
	PGconn *c;
	int slot;

	c = take(&slot);
	if (!c) {
		give(slot);
		*err = "unavailable";
		return NULL;
	}
	/* The table, once, whenever the database first answers. */
	if (!__atomic_load_n(&migrated, __ATOMIC_ACQUIRE)) {
		PGresult *m = PQexec(c, CREATE_TABLE);

		if (PQresultStatus(m) == PGRES_COMMAND_OK)
			__atomic_store_n(&migrated, true, __ATOMIC_RELEASE);
		PQclear(m);
	}
	r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_COMMAND_OK) {
		*err = PQstatus(c) == CONNECTION_OK ? "database error"
						    : "unavailable";
		PQclear(r);
		r = NULL;
	}
	give(slot);
	return r;
}

static json_t *text_or_null(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? json_null()
					: json_string(PQgetvalue(r, row, col));
}

static json_t *contact(PGresult *r, int row)
{
	return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:s, s:s}",
			 "id", (json_int_t)atoll(PQgetvalue(r, row, 0)),
			 "name", PQgetvalue(r, row, 1),
			 "email", PQgetvalue(r, row, 2),
			 "phone", text_or_null(r, row, 3),
			 "company", text_or_null(r, row, 4),
			 "notes", text_or_null(r, row, 5),
			 "created_at", PQgetvalue(r, row, 6),
			 "updated_at", PQgetvalue(r, row, 7));
}

static json_t *contacts(PGresult *r)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < PQntuples(r); ++i)
		json_array_append_new(a, contact(r, i));
	return a;
}

int db_migrate(const char **err)
{
	PGresult *r = run(CREATE_TABLE, 0, NULL, err);

	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

json_t *db_health(const char **err)
{
	PGresult *r = run("SELECT 1", 0, NULL, err);

	if (!r)
		return NULL;
	PQclear(r);
	return json_object();
}

json_t *db_stats(const char **err)
{
	PGresult *r = run("SELECT count(*), count(DISTINCT company), "
			  "to_char(max(created_at) AT TIME ZONE 'UTC', "
			  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM contacts",
			  0, NULL, err);
	json_t *o;

	if (!r)
		return NULL;
	o = json_pack("{s:I, s:I, s:o}", "total_contacts",
		      (json_int_t)atoll(PQgetvalue(r, 0, 0)),
		      "unique_companies",
		      (json_int_t)atoll(PQgetvalue(r, 0, 1)),
		      "latest_contact", text_or_null(r, 0, 2));
	PQclear(r);
	return o;
}

json_t *db_list(long limit, long offset, const char **err)
{
	char l[24], o[24], sql[512];
	const char *params[2] = { l, o };
	PGresult *r, *t;
	json_t *out;

	snprintf(l, sizeof(l), "%ld", limit);
	snprintf(o, sizeof(o), "%ld", offset);
	snprintf(sql, sizeof(sql),
		 "SELECT %s FROM contacts ORDER BY id LIMIT $1 OFFSET $2",
		 COLUMNS);
	r = run(sql, 2, params, err);
	if (!r)
		return NULL;
	t = run("SELECT count(*) FROM contacts", 0, NULL, err);
	if (!t) {
		PQclear(r);
		return NULL;
	}
	out = json_pack("{s:o, s:I, s:I, s:I}", "contacts", contacts(r),
			"limit", (json_int_t)limit, "offset", (json_int_t)offset,
			"total", (json_int_t)atoll(PQgetvalue(t, 0, 0)));
	PQclear(r);
	PQclear(t);
	return out;
}

static json_t *one(const char *sql, int n, const char *const *params,
		   const char **err)
{
	PGresult *r = run(sql, n, params, err);
	json_t *o = NULL;

	if (!r)
		return NULL;
	if (PQntuples(r) == 1)
		o = contact(r, 0);
	else
		*err = "not found";
	PQclear(r);
	return o;
}

json_t *db_get(long id, const char **err)
{
	char i[24], sql[512];
	const char *params[1] = { i };

	snprintf(i, sizeof(i), "%ld", id);
	snprintf(sql, sizeof(sql), "SELECT %s FROM contacts WHERE id = $1",
		 COLUMNS);
	return one(sql, 1, params, err);
}

json_t *db_search(const char *q, const char **err)
{
	char sql[512];
	const char *params[1] = { q };
	PGresult *r;
	json_t *a;

	snprintf(sql, sizeof(sql),
		 "SELECT %s FROM contacts WHERE name ILIKE '%%' || $1 || '%%' "
		 "OR email ILIKE '%%' || $1 || '%%' OR company ILIKE '%%' || $1 "
		 "|| '%%' ORDER BY id LIMIT 100", COLUMNS);
	r = run(sql, 1, params, err);
	if (!r)
		return NULL;
	a = contacts(r);
	PQclear(r);
	return json_pack("{s:o, s:s, s:I}", "contacts", a, "query", q,
			 "count", (json_int_t)json_array_size(a));
}

/* The fields of a create or update, checked: NULL for JSON null or
 * missing optional ones. */
static int fields(json_t *in, const char *v[5], bool need_all,
		  const char **err)
{
	static const char *const keys[5] = { "name", "email", "phone",
					     "company", "notes" };
	static const size_t max[5] = { NAME_MAX_LEN, EMAIL_MAX_LEN,
				       FIELD_MAX_LEN, FIELD_MAX_LEN,
				       NOTES_MAX_LEN };
	int i;

	if (!json_is_object(in)) {
		*err = "a JSON object expected";
		return -1;
	}
	for (i = 0; i < 5; ++i) {
		json_t *x = json_object_get(in, keys[i]);

		v[i] = NULL;
		if (!x || json_is_null(x))
			continue;
		if (!json_is_string(x)) {
			*err = "fields must be strings";
			return -1;
		}
		v[i] = json_string_value(x);
		if (strlen(v[i]) > max[i]) {
			*err = i == 4 ? "notes too long" : "a field is too long";
			return -1;
		}
	}
	if (need_all && (!v[0] || !*v[0] || !v[1] || !*v[1])) {
		*err = "name and email are required";
		return -1;
	}
	if (v[1] && !strchr(v[1], '@')) {
		*err = "email must contain @";
		return -1;
	}
	return 0;
}

json_t *db_create(json_t *in, const char **err)
{
	const char *v[5];
	char sql[512];

	if (fields(in, v, true, err))
		return NULL;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO contacts (name, email, phone, company, notes) "
		 "VALUES ($1, $2, $3, $4, $5) RETURNING %s", COLUMNS);
	return one(sql, 5, v, err);
}

json_t *db_update(long id, json_t *in, const char **err)
{
	const char *v[6];
	char i[24], sql[640];

	if (fields(in, v, false, err))
		return NULL;
	snprintf(i, sizeof(i), "%ld", id);
	v[5] = i;
	snprintf(sql, sizeof(sql),
		 "UPDATE contacts SET name = coalesce($1, name), "
		 "email = coalesce($2, email), phone = coalesce($3, phone), "
		 "company = coalesce($4, company), notes = coalesce($5, notes), "
		 "updated_at = now() WHERE id = $6 RETURNING %s", COLUMNS);
	return one(sql, 6, v, err);
}

int db_delete(long id, const char **err)
{
	char i[24];
	const char *params[1] = { i };
	PGresult *r;
	int ret;

	snprintf(i, sizeof(i), "%ld", id);
	r = run("DELETE FROM contacts WHERE id = $1", 1, params, err);
	if (!r)
		return -1;
	ret = atoi(PQcmdTuples(r)) == 1 ? 0 : -1;
	if (ret)
		*err = "not found";
	PQclear(r);
	return ret;
}

int db_seed(long n, const char **err)
{
	char count[24];
	const char *params[1] = { count };
	PGresult *r;

	snprintf(count, sizeof(count), "%ld", n);
	/* One statement: one transaction. 33 companies, as the Go seed. */
	r = run("INSERT INTO contacts (name, email, phone, company, notes) "
		"SELECT 'Contact ' || i, 'contact' || i || '@example.com', "
		"'+1-555-' || lpad((i % 10000)::text, 4, '0'), "
		"'Company ' || (i % 33), 'seeded' "
		"FROM generate_series(1, $1::int) AS i",
		1, params, err);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/* SQLite backend: one connection in WAL mode, serialised by a mutex that a
 * borrower holds for its whole transaction. Writes serialise in SQLite
 * anyway; readers are short. Prepared statements are cached by SQL text
 * address (the registry's SQL is all string literals). */
#include "controller/store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { STMT_CACHE = 96 };

struct store_conn {
	sqlite3 *db;
	pthread_mutex_t lock;
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[STMT_CACHE];
};

static int map_error(sqlite3 *db, int rc)
{
	int ext = sqlite3_extended_errcode(db);

	if (ext == SQLITE_CONSTRAINT_UNIQUE ||
	    ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return -EEXIST;
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return -EAGAIN;
	return -EIO;
}

static int sqlite_open(struct store *s, const char *path, unsigned int conns)
{
	struct store_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "sqlite: %s: %s\n", path,
			c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return -EIO;
	}
	sqlite3_busy_timeout(c->db, 5000);
	/* WAL + NORMAL: a crash may lose the last commits, never corrupts;
	 * that buys the join rate the benchmark asks for. */
	rc = sqlite3_exec(c->db,
			  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "sqlite: %s: %s\n", path,
			sqlite3_errmsg(c->db));
		sqlite3_close(c->db);
		free(c);
		return -EIO;
	}
	pthread_mutex_init(&c->lock, NULL);
	s->priv = c;
	return 0;
}

static void sqlite_close(struct store *s)
{
	struct store_conn *c = s->priv;
	int i;

	for (i = 0; i < STMT_CACHE; ++i)
		sqlite3_finalize(c->cache[i].stmt);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct store_conn *sqlite_acquire(struct store *s)
{
	struct store_conn *c = s->priv;

	pthread_mutex_lock(&c->lock);
	return c;
}

static void sqlite_release(struct store *s, struct store_conn *c)
{
	pthread_mutex_unlock(&c->lock);
}

static sqlite3_stmt *prepare(struct store_conn *c, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int i;

	for (i = 0; i < STMT_CACHE && c->cache[i].sql; ++i)
		if (c->cache[i].sql == sql)
			return c->cache[i].stmt;
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &stmt, NULL) != SQLITE_OK) {
		fprintf(stderr, "sqlite: %s in: %s\n", sqlite3_errmsg(c->db),
			sql);
		return NULL;
	}
	if (i < STMT_CACHE) {
		c->cache[i].sql = sql;
		c->cache[i].stmt = stmt;
	}
	return stmt;
}

static int collect(struct store_conn *c, sqlite3_stmt *stmt,
		   struct store_result **res)
{
	struct store_result *r;
	int rc, ncols, cap = 16, n = 0, i;
	char **cells;

	ncols = sqlite3_column_count(stmt);
	r = store_result_new(0, ncols);
	if (!r)
		return -ENOMEM;
	*res = r;
	if (ncols) {
		r->cells = calloc((size_t)cap * ncols, sizeof(char *));
		if (!r->cells)
			return -ENOMEM;
	}
	for (;;) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW)
			return map_error(c->db, rc);
		if (n == cap) {
			cells = realloc(r->cells,
					(size_t)cap * 2 * ncols * sizeof(char *));
			if (!cells)
				return -ENOMEM;
			memset(cells + (size_t)cap * ncols, 0,
			       (size_t)cap * ncols * sizeof(char *));
			r->cells = cells;
			cap *= 2;
		}
		r->nrows = n + 1;
		for (i = 0; i < ncols; ++i) {
			const unsigned char *v = sqlite3_column_text(stmt, i);

			if (store_result_set(r, n, i, (const char *)v,
					     v ? (size_t)sqlite3_column_bytes(
							 stmt, i)
					       : 0))
				return -ENOMEM;
		}
		++n;
	}
	r->changes = sqlite3_changes(c->db);
	return 0;
}

static int sqlite_exec(struct store_conn *c, const char *sql,
		       const char *const *params, int nparams,
		       struct store_result **res)
{
	sqlite3_stmt *stmt;
	char name[16];
	int i, idx, ret;

	stmt = prepare(c, sql);
	if (!stmt)
		return -EIO;
	for (i = 0; i < nparams; ++i) {
		snprintf(name, sizeof(name), "$%d", i + 1);
		idx = sqlite3_bind_parameter_index(stmt, name);
		if (!idx)
			continue;
		if (params[i])
			sqlite3_bind_text(stmt, idx, params[i], -1,
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(stmt, idx);
	}
	ret = collect(c, stmt, res);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	/* Statements that were not cached are finalized here. */
	for (i = 0; i < STMT_CACHE; ++i)
		if (c->cache[i].stmt == stmt)
			break;
	if (i == STMT_CACHE)
		sqlite3_finalize(stmt);
	return ret;
}

static int sqlite_begin_write(struct store_conn *c)
{
	int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : map_error(c->db, rc);
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.acquire = sqlite_acquire,
	.release = sqlite_release,
	.begin_write = sqlite_begin_write,
	.exec = sqlite_exec,
};

/* The controller's SQL store: one narrow interface, two backends
 * (store-sqlite.c, store-postgres.c). The registry's SQL is written once in
 * the dialect both accept: $N placeholders, text parameters, BIGINT/TEXT
 * columns, ON CONFLICT and RETURNING. */
#ifndef SPOKEWIRE_CONTROLLER_STORE_H
#define SPOKEWIRE_CONTROLLER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_conn;

/* Rows of text cells; NULL for SQL NULL. */
struct store_result {
	int nrows;
	int ncols;
	long changes; /* rows touched by INSERT/UPDATE/DELETE */
	char **cells; /* nrows * ncols, row-major */
};

struct store_backend {
	const char *name;
	int (*open)(struct store *s, const char *target, unsigned int conns);
	void (*close)(struct store *s);
	/* Borrow a connection; blocks until one is free. */
	struct store_conn *(*acquire)(struct store *s);
	void (*release)(struct store *s, struct store_conn *c);
	/* A write transaction: after it returns, no other writer on any
	 * controller sharing the store runs until commit or rollback. */
	int (*begin_write)(struct store_conn *c);
	int (*exec)(struct store_conn *c, const char *sql,
		    const char *const *params, int nparams,
		    struct store_result **res);
};

struct store {
	const struct store_backend *ops;
	void *priv;
	char desc[64]; /* "sqlite" or "postgres", for /health */
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_postgres_backend;

/* "sqlite:PATH" or "postgres://…"/"postgresql://…". Returns a store the
 * caller owns (store_close), or NULL with *err set to -errno. */
struct store *store_open(const char *url, unsigned int conns, int *err);
void store_close(struct store *s);

static inline struct store_conn *store_acquire(struct store *s)
{
	return s->ops->acquire(s);
}

static inline void store_release(struct store *s, struct store_conn *c)
{
	s->ops->release(s, c);
}

/* 0, or -EEXIST (unique violation), -EAGAIN (busy, deadlock, serialization:
 * retry the transaction), -EIO. res may be NULL; otherwise the caller owns
 * *res (store_result_free) on success. */
int store_exec(struct store *s, struct store_conn *c,
	       struct store_result **res, const char *sql,
	       const char *const *params, int nparams);

#define STORE_PARAMS(...) \
	((const char *const[]){ NULL, ##__VA_ARGS__ } + 1), \
	(int)(sizeof((const char *const[]){ NULL, ##__VA_ARGS__ }) / \
	      sizeof(const char *) - 1)

/* store_q(s, c, &res, "SELECT … $1", param1, …) */
#define store_q(s, c, res, sql, ...) \
	store_exec(s, c, res, sql, STORE_PARAMS(__VA_ARGS__))

int store_begin_write(struct store *s, struct store_conn *c);
int store_commit(struct store *s, struct store_conn *c);
void store_rollback(struct store *s, struct store_conn *c);
/* Ends a write transaction: commits when ret is 0, else (or when the commit
 * fails) rolls back. Returns the outcome. */
int store_end(struct store *s, struct store_conn *c, int ret);

void store_result_free(struct store_result *r);

static inline const char *store_cell(const struct store_result *r, int row,
				     int col)
{
	return r->cells[row * r->ncols + col];
}

int64_t store_cell_i64(const struct store_result *r, int row, int col);

/* Result helper for drivers: a table of nrows*ncols strings, copied. */
struct store_result *store_result_new(int nrows, int ncols);
int store_result_set(struct store_result *r, int row, int col,
		     const char *v, size_t len);

/* Decimal text of v in buf (at least 24 bytes); returns buf. */
const char *i64_text(char buf[24], int64_t v);

#endif

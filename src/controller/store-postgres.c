/* PostgreSQL backend: a fixed pool of libpq connections, text parameters
 * and results. Several controllers may share one database; writers
 * serialise on a transaction-scoped advisory lock, so the registry's
 * read-then-insert steps (address allocation) are safe across processes,
 * with the UNIQUE constraints as the second line of defence. */
#include "controller/store.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Arbitrary, fixed: every spokewire controller takes the same lock. */
#define WRITE_LOCK_KEY "5325020517"

struct store_conn {
	PGconn *pg;
	bool busy;
};

struct pg_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int n;
	struct store_conn conns[];
};

static int pg_open(struct store *s, const char *url, unsigned int conns)
{
	struct pg_pool *pool;
	unsigned int i;

	pool = calloc(1, sizeof(*pool) + conns * sizeof(struct store_conn));
	if (!pool)
		return -ENOMEM;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pool->n = conns;
	s->priv = pool;
	for (i = 0; i < conns; ++i) {
		PGconn *pg = PQconnectdb(url);

		pool->conns[i].pg = pg;
		if (PQstatus(pg) != CONNECTION_OK) {
			fprintf(stderr, "postgres: %s",
				pg ? PQerrorMessage(pg) : "out of memory\n");
			s->ops->close(s);
			return -EIO;
		}
		PQclear(PQexec(pg, "SET client_min_messages = warning"));
	}
	return 0;
}

static void pg_close(struct store *s)
{
	struct pg_pool *pool = s->priv;
	unsigned int i;

	for (i = 0; i < pool->n; ++i)
		PQfinish(pool->conns[i].pg);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->cond);
	free(pool);
}

static struct store_conn *pg_acquire(struct store *s)
{
	struct pg_pool *pool = s->priv;
	struct store_conn *c = NULL;
	unsigned int i;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		for (i = 0; i < pool->n; ++i) {
			if (!pool->conns[i].busy) {
				c = &pool->conns[i];
				break;
			}
		}
		if (c)
			break;
		pthread_cond_wait(&pool->cond, &pool->lock);
	}
	c->busy = true;
	pthread_mutex_unlock(&pool->lock);
	/* A server restart breaks the connection; try once to get it back. */
	if (PQstatus(c->pg) != CONNECTION_OK)
		PQreset(c->pg);
	return c;
}

static void pg_release(struct store *s, struct store_conn *c)
{
	struct pg_pool *pool = s->priv;

	/* Never hand on a connection inside an aborted transaction. */
	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		PQclear(PQexec(c->pg, "ROLLBACK"));
	pthread_mutex_lock(&pool->lock);
	c->busy = false;
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

static int map_error(PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (!state)
		return -EIO;
	if (!strcmp(state, "23505"))
		return -EEXIST;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
		return -EAGAIN;
	return -EIO;
}

static int pg_exec(struct store_conn *c, const char *sql,
		   const char *const *params, int nparams,
		   struct store_result **out)
{
	struct store_result *r;
	PGresult *res;
	int ret = 0, i, j, status;

	res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	status = PQresultStatus(res);
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		ret = map_error(res);
		if (ret == -EIO)
			fprintf(stderr, "postgres: %s in: %s\n",
				PQresultErrorMessage(res), sql);
		PQclear(res);
		return ret;
	}
	r = store_result_new(PQntuples(res), PQnfields(res));
	if (!r) {
		PQclear(res);
		return -ENOMEM;
	}
	*out = r;
	r->changes = strtol(PQcmdTuples(res), NULL, 10);
	for (i = 0; i < r->nrows && !ret; ++i)
		for (j = 0; j < r->ncols && !ret; ++j)
			if (!PQgetisnull(res, i, j))
				ret = store_result_set(r, i, j,
						       PQgetvalue(res, i, j),
						       PQgetlength(res, i, j));
	PQclear(res);
	return ret;
}

static int pg_begin_write(struct store_conn *c)
{
	struct store_result *r = NULL;
	int ret;

	ret = pg_exec(c, "BEGIN", NULL, 0, &r);
	store_result_free(r);
	r = NULL;
	if (ret)
		return ret;
	ret = pg_exec(c, "SELECT pg_advisory_xact_lock(" WRITE_LOCK_KEY ")",
		      NULL, 0, &r);
	store_result_free(r);
	if (ret)
		PQclear(PQexec(c->pg, "ROLLBACK"));
	return ret;
}

const struct store_backend store_postgres_backend = {
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.acquire = pg_acquire,
	.release = pg_release,
	.begin_write = pg_begin_write,
	.exec = pg_exec,
};

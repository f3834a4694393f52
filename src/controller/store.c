/* Store selection by URL and the backend-independent result helpers. */
#include "controller/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store *store_open(const char *url, unsigned int conns, int *err)
{
	const struct store_backend *ops;
	const char *target;
	struct store *s;
	int ret;

	if (!strncmp(url, "sqlite:", 7)) {
		ops = &store_sqlite_backend;
		target = url + 7;
	} else if (!strncmp(url, "postgres://", 11) ||
		   !strncmp(url, "postgresql://", 13)) {
		ops = &store_postgres_backend;
		target = url;
	} else {
		*err = -EINVAL;
		return NULL;
	}
	if (!*target) {
		*err = -EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	s->ops = ops;
	snprintf(s->desc, sizeof(s->desc), "%s", ops->name);
	ret = ops->open(s, target, conns ? conns : 1);
	if (ret) {
		free(s);
		*err = ret;
		return NULL;
	}
	return s;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s);
}

int store_exec(struct store *s, struct store_conn *c,
	       struct store_result **res, const char *sql,
	       const char *const *params, int nparams)
{
	struct store_result *r = NULL;
	int ret;

	ret = s->ops->exec(c, sql, params, nparams, &r);
	if (ret) {
		store_result_free(r);
		return ret;
	}
	if (res)
		*res = r;
	else
		store_result_free(r);
	return 0;
}

int store_begin_write(struct store *s, struct store_conn *c)
{
	return s->ops->begin_write(c);
}

int store_commit(struct store *s, struct store_conn *c)
{
	return store_q(s, c, NULL, "COMMIT");
}

void store_rollback(struct store *s, struct store_conn *c)
{
	store_q(s, c, NULL, "ROLLBACK");
}

int store_end(struct store *s, struct store_conn *c, int ret)
{
	if (!ret)
		ret = store_commit(s, c);
	if (ret)
		store_rollback(s, c);
	return ret;
}

struct store_result *store_result_new(int nrows, int ncols)
{
	struct store_result *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->nrows = nrows;
	r->ncols = ncols;
	if (nrows && ncols) {
		r->cells = calloc((size_t)nrows * ncols, sizeof(char *));
		if (!r->cells) {
			free(r);
			return NULL;
		}
	}
	return r;
}

int store_result_set(struct store_result *r, int row, int col,
		     const char *v, size_t len)
{
	char *copy;

	if (!v)
		return 0;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, v, len);
	copy[len] = '\0';
	r->cells[row * r->ncols + col] = copy;
	return 0;
}

void store_result_free(struct store_result *r)
{
	int i;

	if (!r)
		return;
	for (i = 0; i < r->nrows * r->ncols; ++i)
		free(r->cells[i]);
	free(r->cells);
	free(r);
}

int64_t store_cell_i64(const struct store_result *r, int row, int col)
{
	const char *v = store_cell(r, row, col);

	return v ? strtoll(v, NULL, 10) : 0;
}

const char *i64_text(char buf[24], int64_t v)
{
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

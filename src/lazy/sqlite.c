/* libsqlite3, opened when the controller first uses its SQLite store. */
#include <sqlite3.h>

#include <stddef.h>

#include "lazy/lazy.h"

static struct lazy_lib lib = { "libsqlite3.so.0", "libsqlite3-0", NULL };

LAZY_FN(lib, int, sqlite3_open_v2,
	(const char *f, sqlite3 **db, int flags, const char *vfs),
	(f, db, flags, vfs))
LAZY_FN(lib, int, sqlite3_close, (sqlite3 *db), (db))
LAZY_FN(lib, int, sqlite3_busy_timeout, (sqlite3 *db, int ms), (db, ms))
LAZY_FN(lib, int, sqlite3_exec,
	(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
	 void *arg, char **err),
	(db, sql, cb, arg, err))
LAZY_FN(lib, int, sqlite3_prepare_v3,
	(sqlite3 *db, const char *sql, int n, unsigned int flags,
	 sqlite3_stmt **st, const char **tail),
	(db, sql, n, flags, st, tail))
LAZY_FN(lib, int, sqlite3_step, (sqlite3_stmt *st), (st))
LAZY_FN(lib, int, sqlite3_reset, (sqlite3_stmt *st), (st))
LAZY_FN(lib, int, sqlite3_finalize, (sqlite3_stmt *st), (st))
LAZY_FN(lib, int, sqlite3_clear_bindings, (sqlite3_stmt *st), (st))
LAZY_FN(lib, int, sqlite3_bind_null, (sqlite3_stmt *st, int i), (st, i))
LAZY_FN(lib, int, sqlite3_bind_parameter_index,
	(sqlite3_stmt *st, const char *name), (st, name))
LAZY_FN(lib, int, sqlite3_bind_text,
	(sqlite3_stmt *st, int i, const char *s, int n, void (*d)(void *)),
	(st, i, s, n, d))
LAZY_FN(lib, int, sqlite3_column_count, (sqlite3_stmt *st), (st))
LAZY_FN(lib, int, sqlite3_column_bytes, (sqlite3_stmt *st, int i), (st, i))
LAZY_FN(lib, const unsigned char *, sqlite3_column_text,
	(sqlite3_stmt *st, int i), (st, i))
LAZY_FN(lib, int, sqlite3_changes, (sqlite3 *db), (db))
LAZY_FN(lib, const char *, sqlite3_errmsg, (sqlite3 *db), (db))
LAZY_FN(lib, const char *, sqlite3_errstr, (int rc), (rc))
LAZY_FN(lib, int, sqlite3_extended_errcode, (sqlite3 *db), (db))

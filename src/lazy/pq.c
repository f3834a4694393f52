/* libpq, opened when the controller first uses a PostgreSQL store. */
#include <libpq-fe.h>

#include <stddef.h>

#include "lazy/lazy.h"

static struct lazy_lib lib = { "libpq.so.5", "libpq5", NULL };

LAZY_FN(lib, PGconn *, PQconnectdb, (const char *info), (info))
LAZY_VOID(lib, PQfinish, (PGconn *c), (c))
LAZY_VOID(lib, PQreset, (PGconn *c), (c))
LAZY_FN(lib, ConnStatusType, PQstatus, (const PGconn *c), (c))
LAZY_FN(lib, PGTransactionStatusType, PQtransactionStatus, (const PGconn *c),
	(c))
LAZY_FN(lib, char *, PQerrorMessage, (const PGconn *c), (c))
LAZY_FN(lib, PGresult *, PQexec, (PGconn *c, const char *q), (c, q))
LAZY_FN(lib, PGresult *, PQexecParams,
	(PGconn *c, const char *q, int n, const Oid *types,
	 const char *const *values, const int *lengths, const int *formats,
	 int result_format),
	(c, q, n, types, values, lengths, formats, result_format))
LAZY_VOID(lib, PQclear, (PGresult *r), (r))
LAZY_FN(lib, ExecStatusType, PQresultStatus, (const PGresult *r), (r))
LAZY_FN(lib, char *, PQresultErrorMessage, (const PGresult *r), (r))
LAZY_FN(lib, char *, PQresultErrorField, (const PGresult *r, int f), (r, f))
LAZY_FN(lib, char *, PQcmdTuples, (PGresult *r), (r))
LAZY_FN(lib, int, PQntuples, (const PGresult *r), (r))
LAZY_FN(lib, int, PQnfields, (const PGresult *r), (r))
LAZY_FN(lib, char *, PQgetvalue, (const PGresult *r, int t, int f), (r, t, f))
LAZY_FN(lib, int, PQgetlength, (const PGresult *r, int t, int f), (r, t, f))
LAZY_FN(lib, int, PQgetisnull, (const PGresult *r, int t, int f), (r, t, f))

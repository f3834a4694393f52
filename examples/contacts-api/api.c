/* contacts-api's HTTP side and main(): configuration from the
 * environment, the routes, JSON in and out. Every answer carries
 * served_by (the region); errors are {"error": "...", "served_by": ...}.
 *
 *   GET /                       service info
 *   GET /health                 {"status","database","region","db_host"}
 *   GET /stats                  totals
 *   GET /contacts?limit&offset  a page (limit 1..500, default 50)
 *   GET /contacts/{id}, POST /contacts, PUT /contacts/{id},
 *   DELETE /contacts/{id}, GET /contacts/search/{query}
 *
 *   contacts-api            serve on PORT (8080)
 *   contacts-api seed N     insert N generated contacts, then exit */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/body.h"
#include "contacts.h"

enum {
	BODY_MAX = 64 << 10,
	THREADS = 4,
};

static const char *region = "local";
static const char *db_host = "localhost";

struct request {
	struct body_buf in;
};

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code,
				 json_t *doc)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *s;

	json_object_set_new(doc, "served_by", json_string(region));
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!s)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code,
				  const char *msg)
{
	return send_json(c, code, json_pack("{s:s}", "error", msg));
}

/* A db_* failure as HTTP: 503 while the database is down, 404, or 400. */
static enum MHD_Result send_db_error(struct MHD_Connection *c,
				     const char *err)
{
	if (!strcmp(err, "unavailable"))
		return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "database unavailable");
	if (!strcmp(err, "not found"))
		return send_error(c, MHD_HTTP_NOT_FOUND, "contact not found");
	if (!strcmp(err, "database error"))
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, err);
	return send_error(c, MHD_HTTP_BAD_REQUEST, err);
}

/* err is read after doc was made (arguments have no order in C). */
static enum MHD_Result answer(struct MHD_Connection *c, json_t *doc,
			      const char *const *err, unsigned ok)
{
	return doc ? send_json(c, ok, doc) : send_db_error(c, *err);
}

/* A positive id from text, or -1. */
static long parse_id(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 1)
		return -1;
	return v;
}

static long query_long(struct MHD_Connection *c, const char *key, long def,
		       long min, long max, bool *bad)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	char *end;
	long n;

	if (!v)
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < min || n > max)
		*bad = true;
	return n;
}

static json_t *parse_body(struct request *rq, const char **err)
{
	json_error_t je;
	json_t *in;

	in = rq->in.len ? json_loadb(rq->in.s, rq->in.len, 0, &je) : NULL;
	if (!in)
		*err = "invalid JSON";
	return in;
}

static enum MHD_Result route(struct MHD_Connection *c, const char *method,
			     const char *url, struct request *rq)
{
	const char *err = "";
	json_t *doc, *in;
	long id;
	bool bad = false;

	if (!strcmp(url, "/") && !strcmp(method, "GET"))
		return send_json(c, MHD_HTTP_OK, json_pack(
			"{s:s, s:s, s:s, s:[s,s,s,s,s,s,s,s,s]}", "service",
			"contacts-api", "version", "1.0", "db_host", db_host,
			"endpoints", "GET /health", "GET /stats",
			"GET /contacts?limit=&offset=", "GET /contacts/{id}",
			"POST /contacts", "PUT /contacts/{id}",
			"DELETE /contacts/{id}", "GET /contacts/search/{query}",
			"GET /"));
	if (!strcmp(url, "/health") && !strcmp(method, "GET")) {
		bool up;

		doc = db_health(&err);
		up = doc != NULL;
		json_decref(doc);
		return send_json(c, up ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
				 json_pack("{s:s, s:s, s:s, s:s}", "status",
					   up ? "healthy" : "unhealthy",
					   "database", up ? "connected" : err,
					   "region", region, "db_host", db_host));
	}
	if (!strcmp(url, "/stats") && !strcmp(method, "GET")) {
		doc = db_stats(&err);
		if (doc)
			json_object_set_new(doc, "db_host", json_string(db_host));
		return answer(c, doc, &err, MHD_HTTP_OK);
	}
	if (!strcmp(url, "/contacts")) {
		if (!strcmp(method, "GET")) {
			long limit = query_long(c, "limit", 50, 1, LIST_LIMIT_MAX, &bad);
			long offset = query_long(c, "offset", 0, 0, 1L << 40, &bad);

			if (bad)
				return send_error(c, MHD_HTTP_BAD_REQUEST,
						  "limit must be 1-500 and offset 0 or more");
			return answer(c, db_list(limit, offset, &err), &err,
				      MHD_HTTP_OK);
		}
		if (!strcmp(method, "POST")) {
			in = parse_body(rq, &err);
			doc = in ? db_create(in, &err) : NULL;
			json_decref(in);
			return answer(c, doc, &err, MHD_HTTP_CREATED);
		}
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or POST");
	}
	if (!strncmp(url, "/contacts/search/", 17) && !strcmp(method, "GET")) {
		if (!url[17] || strlen(url + 17) > NAME_MAX_LEN)
			return send_error(c, MHD_HTTP_BAD_REQUEST,
					  "a query of 1-200 characters expected");
		return answer(c, db_search(url + 17, &err), &err, MHD_HTTP_OK);
	}
	if (!strncmp(url, "/contacts/", 10)) {
		id = parse_id(url + 10);
		if (id < 0)
			return send_error(c, MHD_HTTP_BAD_REQUEST,
					  "the id must be a positive integer");
		if (!strcmp(method, "GET"))
			return answer(c, db_get(id, &err), &err, MHD_HTTP_OK);
		if (!strcmp(method, "PUT")) {
			in = parse_body(rq, &err);
			doc = in ? db_update(id, in, &err) : NULL;
			json_decref(in);
			return answer(c, doc, &err, MHD_HTTP_OK);
		}
		if (!strcmp(method, "DELETE")) {
			if (db_delete(id, &err))
				return send_db_error(c, err);
			return send_json(c, MHD_HTTP_OK, json_pack(
				"{s:s, s:I}", "message", "contact deleted",
				"id", (json_int_t)id));
		}
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "GET, PUT or DELETE");
	}
	return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **state)
{
	struct request *rq = *state;

	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*state = rq;
		return MHD_YES;
	}
	if (*upload_len) {
		if (body_add(&rq->in, upload, *upload_len, BODY_MAX))
			return MHD_NO;
		*upload_len = 0;
		return MHD_YES;
	}
	if (rq->in.too_big)
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
				  "body larger than 64 KiB");
	return route(c, method, url, rq);
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
		    enum MHD_RequestTerminationCode why)
{
	struct request *rq = *state;

	if (rq) {
		body_free(&rq->in);
		free(rq);
	}
	*state = NULL;
}

int main(int argc, char *argv[])
{
	struct db_config cfg = {
		.host = env("DB_HOST", "localhost"),
		.port = env("DB_PORT", "5432"),
		.user = env("DB_USER", "postgres"),
		.password = env("DB_PASSWORD", ""),
		.name = env("DB_NAME", "postgres"),
		.sslmode = env("DB_SSLMODE", "prefer"),
	};
	struct MHD_Daemon *d;
	const char *err = "";
	long port = strtol(env("PORT", "8080"), NULL, 10);
	sigset_t set;
	int sig;

	region = env("REGION", env("FLY_REGION", "local"));
	db_host = cfg.host;
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: %s [seed N]\n\nThe contacts REST API on PORT (8080) over PostgreSQL\n"
		       "(DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, DB_SSLMODE);\n"
		       "REGION (or FLY_REGION) is what served_by says. `seed N` inserts N\n"
		       "generated contacts in one transaction.\n", argv[0]);
		return 0;
	}
	db_init(&cfg);
	if (argc == 3 && !strcmp(argv[1], "seed")) {
		long n = strtol(argv[2], NULL, 10);

		if (n < 1 || n > 10000000 || db_migrate(&err) || db_seed(n, &err)) {
			fprintf(stderr, "contacts-api: seed: %s\n",
				n < 1 ? "N must be a positive number" : err);
			return 1;
		}
		printf("contacts-api: %ld contacts inserted\n", n);
		db_close();
		return 0;
	}
	if (argc != 1 || port < 1 || port > 65535) {
		fprintf(stderr, "Usage: %s [seed N] (PORT must be 1-65535)\n", argv[0]);
		return 2;
	}
	/* The table now if the database is up; else on the first request
	 * that finds it (the API answers 503 until then). */
	if (db_migrate(&err))
		fprintf(stderr, "contacts-api: database %s at start: %s; serving 503 until it returns\n",
			db_host, err);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the server's threads too */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			     MHD_USE_DUAL_STACK, (uint16_t)port, NULL, NULL,
			     on_request, NULL,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS,
			     MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "contacts-api: cannot listen on port %ld\n", port);
		return 1;
	}
	fprintf(stderr, "contacts-api: region %s, port %ld, database %s\n",
		region, port, db_host);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	db_close();
	return 0;
}

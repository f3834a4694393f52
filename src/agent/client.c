/* The agent's side of the controller API, over libcurl: POST /join and the
 * long-polled GET /netmap. A stop flag aborts a transfer in flight. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "io/body.h"

enum { BODY_MAX = 64 << 20, CONNECT_TIMEOUT = 10 };

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct body_buf *b = arg;
	size_t add = size * n;

	/* A body past BODY_MAX, or no memory: the transfer is aborted. */
	if (body_add(b, ptr, add, BODY_MAX) || b->too_big)
		return 0;
	return add;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn,
		       curl_off_t ut, curl_off_t un)
{
	const struct agent *a = arg;

	return a->stop && *a->stop;
}

int client_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) ? -1 : 0;
}

void client_cleanup(void)
{
	curl_global_cleanup();
}

/* Status, or 0 for a transport error (printed). */
static long request(struct agent *a, const char *path, const char *post,
		    struct curl_slist *hdrs, long timeout, json_t **out)
{
	struct body_buf b = { 0 };
	char url[2048];
	long status = 0;
	CURLcode rc;
	CURL *c;

	*out = NULL;
	snprintf(url, sizeof(url), "%s%s", a->controller, path);
	c = curl_easy_init();
	if (!c)
		return 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (post)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		*out = b.s ? json_loadb(b.s, b.len, 0, NULL) : NULL;
		if (status / 100 == 2 && !json_is_object(*out)) {
			fprintf(stderr, "join: %s: the answer is not JSON\n",
				path);
			status = 0;
		} else if (status / 100 != 2) {
			json_t *e = json_object_get(*out, "error");

			fprintf(stderr, "join: %s: HTTP %ld%s%s\n", path, status,
				json_is_string(e) ? ": " : "",
				json_is_string(e) ? json_string_value(e) : "");
		}
	} else if (rc != CURLE_ABORTED_BY_CALLBACK) {
		fprintf(stderr, "join: %s: %s\n", url, curl_easy_strerror(rc));
	}
	if (status / 100 != 2) {
		json_decref(*out);
		*out = NULL;
	}
	body_free(&b); /* wiped: join answers carry the node token */
	curl_easy_cleanup(c);
	return status;
}

static struct curl_slist *header(struct curl_slist *l, const char *name,
				 const char *value)
{
	char line[AGENT_TOKEN_MAX + 64];

	snprintf(line, sizeof(line), "%s: %s", name, value);
	l = curl_slist_append(l, line);
	memzero(line, sizeof(line));
	return l;
}

long client_join(struct agent *a, bool with_join_token, json_t **out)
{
	char v[AGENT_TOKEN_MAX + 8];
	struct curl_slist *h = NULL;
	json_t *body;
	char *text;
	long status;

	body = json_pack("{s:s, s:s}", "node_id", a->node_id, "public_key",
			 a->public_key);
	if (a->role)
		json_object_set_new(body, "role", json_string(a->role));
	if (a->endpoint)
		json_object_set_new(body, "endpoint", json_string(a->endpoint));
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return 0;
	h = header(h, "Content-Type", "application/json");
	if (with_join_token) {
		h = header(h, "X-Join-Token", a->join_token);
	} else {
		snprintf(v, sizeof(v), "Bearer %s", a->node_token);
		h = header(h, "Authorization", v);
		memzero(v, sizeof(v));
	}
	status = request(a, "/join", text, h, 30, out);
	curl_slist_free_all(h);
	free(text);
	return status;
}

long client_netmap(struct agent *a, json_t **out)
{
	struct curl_slist *h;
	char path[96], v[AGENT_TOKEN_MAX + 8];
	long status;

	snprintf(path, sizeof(path), "/netmap?since=%lld&timeout=%u",
		 (long long)a->version, a->poll);
	snprintf(v, sizeof(v), "Bearer %s", a->node_token);
	h = header(NULL, "Authorization", v);
	memzero(v, sizeof(v));
	status = request(a, path, NULL, h, (long)a->poll + 30, out);
	curl_slist_free_all(h);
	return status;
}

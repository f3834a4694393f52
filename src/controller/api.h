/* The controller's HTTP handlers (api-*.c) and what http.c hands them: the
 * authenticated caller, the path parameter and body, and a response slot. */
#ifndef SPOKEWIRE_CONTROLLER_API_H
#define SPOKEWIRE_CONTROLLER_API_H

#include <jansson.h>

#include "controller/registry.h"
#include "controller/watch.h"

struct MHD_Connection;

enum principal {
	WHO_NONE,
	WHO_MASTER,
	WHO_USER,
	WHO_NODE,
};

/* Per-connection state (MHD's con_cls), freed when the request completes. */
struct request {
	char *body;
	size_t len;
	size_t cap;
	bool too_large;
	/* A held /netmap: who asked, with which token (wiped on free). */
	struct waiter waiter;
	bool held;
	struct peer node;
	char node_token[SECRET_TEXT_LEN + 1];
};

struct api_call {
	struct controller *ctl;
	struct MHD_Connection *conn;
	struct request *req;
	const char *param; /* the {id} in the path, validated, or NULL */
	const char *body;
	size_t body_len;
	enum principal who;
	char client_id[ID_MAX_LEN + 1]; /* WHO_USER */
	struct peer node;               /* WHO_NODE */
	const char *bearer;             /* the Authorization credential */
	const void *src;                /* source address, for rate limits */
	size_t src_len;

	/* The response: JSON, or raw bytes of content_type. */
	unsigned int status;
	json_t *json;
	char *raw;
	size_t raw_len;
	const char *content_type;
	bool raw_secret;  /* wipe raw after sending */
	bool suspended;   /* long-poll: no response yet */
};

/* Set the response; each returns 0 so handlers can `return api_…()`. */
int api_json(struct api_call *c, unsigned int status, json_t *json);
int api_error(struct api_call *c, unsigned int status, const char *msg);
/* Maps a registry -errno (see registry.h) to a status. */
int api_errno(struct api_call *c, int err, const char *why);
/* A failed credential: counts against the source's rate limit. */
int api_unauthorized(struct api_call *c, const char *msg);

const char *api_query(struct api_call *c, const char *key);
const char *api_header(struct api_call *c, const char *key);

int api_health(struct api_call *c);
int api_metrics(struct api_call *c);
int api_join(struct api_call *c);
int api_netmap(struct api_call *c);
int api_netmap_resume(struct api_call *c);
int api_token_create(struct api_call *c);
int api_token_list(struct api_call *c);
int api_token_delete(struct api_call *c);
int api_user_create(struct api_call *c);
int api_user_list(struct api_call *c);
int api_user_get(struct api_call *c);
int api_user_delete(struct api_call *c);
int api_device_create(struct api_call *c);
int api_node_list(struct api_call *c);
int api_node_get(struct api_call *c);
int api_node_delete(struct api_call *c);

#endif

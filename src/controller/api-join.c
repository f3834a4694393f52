/* POST /join and GET /netmap: what nodes call. */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/api.h"
#include "controller/netmap.h"

enum { CREDENTIAL_MAX_LEN = 256 };

static void add_addresses(struct controller *ctl, json_t *o,
			  const struct peer *p)
{
	char v4[ADDR_TEXT_LEN], v6[ADDR_TEXT_LEN];

	network_host(&ctl->net, p->addr_index, v4, v6);
	json_object_set_new(o, "address", json_string(*v4 ? v4 : v6));
	if (*v4 && *v6)
		json_object_set_new(o, "address6", json_string(v6));
}

int api_join(struct api_call *c)
{
	struct controller *ctl = c->ctl;
	const char *jt = api_header(c, "X-Join-Token"), *why = "bad request";
	char token[SECRET_TEXT_LEN + 1];
	struct join_request jr;
	struct netmap nm;
	struct peer node;
	bool changed;
	char *config;
	json_t *o;
	int ret;

	if (jt && !*jt)
		jt = NULL;
	if (!jt && !c->bearer)
		return api_unauthorized(c, "missing X-Join-Token");
	if ((jt && strlen(jt) > CREDENTIAL_MAX_LEN) ||
	    (c->bearer && strlen(c->bearer) > CREDENTIAL_MAX_LEN))
		return api_unauthorized(c, "invalid credential");
	if (parse_join(c->body, c->body_len, &jr, &why))
		return api_error(c, MHD_HTTP_BAD_REQUEST, why);
	ret = registry_join(ctl, &jr, jt, jt ? NULL : c->bearer, &node,
			    &changed, &why);
	if (ret)
		return api_errno(c, ret, why);
	atomic_fetch_add(changed ? &ctl->metrics.joins : &ctl->metrics.rejoins,
			 1);

	ret = netmap_load(ctl, &node, &nm);
	if (ret)
		return api_errno(c, ret, NULL);
	config = wgconf_render(ctl, &node, &nm, NULL);
	node_token_derive(ctl, token, node.id, node.public_key);
	o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:I}", "node_id",
		      node.id, "role", role_name(node.role), "network",
		      ctl->net.text, "peers", netmap_peers_json(&nm), "config",
		      config ? config : "", "node_token", token, "version",
		      (json_int_t)nm.version);
	memzero(token, sizeof(token));
	free(config);
	netmap_free(&nm);
	if (!o)
		return api_errno(c, -ENOMEM, NULL);
	add_addresses(ctl, o, &node);
	return api_json(c, MHD_HTTP_OK, o);
}

static int netmap_answer(struct api_call *c, const struct peer *node,
			 struct netmap *nm)
{
	json_t *o = json_pack("{s:s, s:I, s:o}", "node_id", node->id,
			      "version", (json_int_t)nm->version, "peers",
			      netmap_peers_json(nm));

	netmap_free(nm);
	return api_json(c, MHD_HTTP_OK, o);
}

int api_netmap(struct api_call *c)
{
	struct controller *ctl = c->ctl;
	const char *since_s = api_query(c, "since");
	const char *timeout_s = api_query(c, "timeout");
	struct request *req = c->req;
	int64_t since = -1, timeout = ctl->poll_default;
	struct netmap nm;
	int ret;

	if (since_s && parse_query_int(since_s, 0, INT64_MAX, &since))
		return api_error(c, MHD_HTTP_BAD_REQUEST,
				 "since: a version number expected");
	if (timeout_s && parse_query_int(timeout_s, 0, ctl->poll_max, &timeout))
		return api_error(c, MHD_HTTP_BAD_REQUEST,
				 "timeout: seconds, at most the server's "
				 "--poll-max, expected");
	ret = netmap_load(ctl, &c->node, &nm);
	if (ret)
		return api_errno(c, ret, NULL);
	if (since < 0 || nm.version > since || timeout == 0)
		return netmap_answer(c, &c->node, &nm);

	req->node = c->node;
	snprintf(req->node_token, sizeof(req->node_token), "%s", c->bearer);
	req->waiter.conn = c->conn;
	req->waiter.since = since;
	req->waiter.hub = c->node.role == ROLE_HUB;
	req->waiter.deadline_ms = watch_now_ms() + (uint64_t)timeout * 1000;
	req->held = true;
	if (watch_wait(ctl, &req->waiter)) {
		netmap_free(&nm);
		c->suspended = true;
		return 0;
	}
	/* A change landed between our read and the wait: read it. */
	req->held = false;
	netmap_free(&nm);
	ret = netmap_load(ctl, &c->node, &nm);
	if (ret)
		return api_errno(c, ret, NULL);
	return netmap_answer(c, &c->node, &nm);
}

int api_netmap_resume(struct api_call *c)
{
	struct request *req = c->req;
	struct netmap nm;
	struct peer node;
	int ret;

	/* The node may have been deleted, or its key rotated, meanwhile. */
	ret = registry_node_by_token(c->ctl, req->node_token, &node);
	if (ret == -EPERM)
		return api_error(c, MHD_HTTP_UNAUTHORIZED,
				 "node token no longer valid");
	if (ret)
		return api_errno(c, ret, NULL);
	ret = netmap_load(c->ctl, &node, &nm);
	if (ret)
		return api_errno(c, ret, NULL);
	return netmap_answer(c, &node, &nm);
}

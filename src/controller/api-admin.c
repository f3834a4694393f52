/* Master-key operations on join tokens and nodes: POST/GET /tokens,
 * DELETE /tokens/{id}, GET /nodes, GET/DELETE /nodes/{id}. */
#include <microhttpd.h>

#include "controller/api.h"

int api_token_create(struct api_call *c)
{
	const char *why = "bad request";
	struct token_request tr;
	json_t *o;
	int ret;

	if (parse_token_request(c->body, c->body_len, &tr, &why))
		return api_error(c, MHD_HTTP_BAD_REQUEST, why);
	ret = registry_token_create(c->ctl, &tr, &o);
	if (ret)
		return api_errno(c, ret, NULL);
	return api_json(c, MHD_HTTP_CREATED, o);
}

int api_token_list(struct api_call *c)
{
	json_t *o;
	int ret = registry_token_list(c->ctl, &o);

	if (ret)
		return api_errno(c, ret, NULL);
	return api_json(c, MHD_HTTP_OK, o);
}

int api_token_delete(struct api_call *c)
{
	const char *why = NULL;
	int ret = registry_token_delete(c->ctl, c->param, &why);

	if (ret)
		return api_errno(c, ret, why);
	return api_json(c, MHD_HTTP_OK,
			json_pack("{s:s, s:s}", "id", c->param, "status",
				  "deleted"));
}

int api_node_list(struct api_call *c)
{
	json_t *o;
	int ret = registry_node_list(c->ctl, &o);

	if (ret)
		return api_errno(c, ret, NULL);
	return api_json(c, MHD_HTTP_OK, o);
}

int api_node_get(struct api_call *c)
{
	const char *why = NULL;
	json_t *o;
	int ret = registry_node_get(c->ctl, c->param, &o, &why);

	if (ret)
		return api_errno(c, ret, why);
	return api_json(c, MHD_HTTP_OK, o);
}

int api_node_delete(struct api_call *c)
{
	const char *why = NULL;
	int ret = registry_node_delete(c->ctl, c->param, &why);

	if (ret)
		return api_errno(c, ret, why);
	return api_json(c, MHD_HTTP_OK,
			json_pack("{s:s, s:s}", "node_id", c->param, "status",
				  "deleted"));
}

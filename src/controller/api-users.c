/* Users and their devices: POST/GET /users, GET/DELETE /users/{id},
 * POST /users/{id}/devices. */
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "controller/api.h"
#include "controller/netmap.h"

int api_user_create(struct api_call *c)
{
	const char *why = "bad request";
	struct user_request ur;
	json_t *o;
	int ret;

	if (parse_user_request(c->body, c->body_len, &ur, &why))
		return api_error(c, MHD_HTTP_BAD_REQUEST, why);
	ret = registry_user_create(c->ctl, ur.client_id, &o, &why);
	if (ret)
		return api_errno(c, ret, why);
	return api_json(c, MHD_HTTP_CREATED, o);
}

int api_user_list(struct api_call *c)
{
	json_t *o;
	int ret = registry_user_list(c->ctl, &o);

	if (ret)
		return api_errno(c, ret, NULL);
	return api_json(c, MHD_HTTP_OK, o);
}

int api_user_get(struct api_call *c)
{
	const char *why = NULL;
	json_t *o;
	int ret = registry_user_get(c->ctl, c->param, &o, &why);

	if (ret)
		return api_errno(c, ret, why);
	return api_json(c, MHD_HTTP_OK, o);
}

int api_user_delete(struct api_call *c)
{
	const char *why = NULL;
	int ret = registry_user_delete(c->ctl, c->param, &why);

	if (ret)
		return api_errno(c, ret, why);
	return api_json(c, MHD_HTTP_OK,
			json_pack("{s:s, s:s}", "client_id", c->param,
				  "status", "deleted"));
}

enum device_format { FORMAT_JSON, FORMAT_CONF, FORMAT_SVG, FORMAT_ANSI };

static int parse_format(const char *s, enum device_format *f)
{
	if (!s || !strcmp(s, "json"))
		*f = FORMAT_JSON;
	else if (!strcmp(s, "conf"))
		*f = FORMAT_CONF;
	else if (!strcmp(s, "svg"))
		*f = FORMAT_SVG;
	else if (!strcmp(s, "ansi"))
		*f = FORMAT_ANSI;
	else
		return -EINVAL;
	return 0;
}

/* A device's peers are the hubs; without one its config is useless. */
static int have_hub(struct controller *ctl, bool *yes)
{
	struct peer probe = { .role = ROLE_DEVICE };
	struct netmap nm;
	int ret = netmap_load(ctl, &probe, &nm);

	if (ret)
		return ret;
	*yes = nm.n > 0;
	netmap_free(&nm);
	return 0;
}

static int device_response(struct api_call *c, enum device_format format,
			   const struct peer *dev, char *config)
{
	char v4[ADDR_TEXT_LEN], v6[ADDR_TEXT_LEN];
	json_t *o;

	switch (format) {
	case FORMAT_SVG:
	case FORMAT_ANSI:
		c->raw = format == FORMAT_SVG ? qr_svg(config, &c->raw_len)
					      : qr_ansi(config, &c->raw_len);
		if (!c->raw)
			return api_errno(c, -ENOMEM, NULL);
		c->content_type = format == FORMAT_SVG ?
					  "image/svg+xml" :
					  "text/plain; charset=utf-8";
		break;
	case FORMAT_CONF:
		c->raw = strdup(config);
		if (!c->raw)
			return api_errno(c, -ENOMEM, NULL);
		c->raw_len = strlen(config);
		c->content_type = "text/plain; charset=utf-8";
		break;
	case FORMAT_JSON:
		network_host(&c->ctl->net, dev->addr_index, v4, v6);
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "device_id",
			      dev->id, "client_id", dev->owner, "name",
			      dev->name, "address", *v4 ? v4 : v6,
			      "public_key", dev->public_key, "config", config);
		return api_json(c, MHD_HTTP_CREATED, o);
	}
	c->status = MHD_HTTP_CREATED;
	c->raw_secret = true;
	return 0;
}

int api_device_create(struct api_call *c)
{
	struct controller *ctl = c->ctl;
	char priv_b64[KEY_B64_LEN + 1], pub_b64[KEY_B64_LEN + 1];
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	const char *why = "bad request";
	enum device_format format;
	struct device_request dr;
	struct netmap nm;
	struct peer dev;
	char *config;
	bool hub;
	int ret;

	if (parse_format(api_query(c, "format"), &format))
		return api_error(c, MHD_HTTP_BAD_REQUEST,
				 "format: svg, ansi, conf or json expected");
	if (parse_device_request(c->body, c->body_len, &dr, &why))
		return api_error(c, MHD_HTTP_BAD_REQUEST, why);
	ret = have_hub(ctl, &hub);
	if (ret)
		return api_errno(c, ret, NULL);
	if (!hub)
		return api_error(c, MHD_HTTP_CONFLICT,
				 "no hub has joined the network yet");

	curve25519_generate_secret(priv);
	if (!curve25519_public(pub, priv)) {
		memzero(priv, sizeof(priv));
		return api_errno(c, -EIO, NULL);
	}
	key_to_base64(pub_b64, pub);
	ret = registry_device_create(ctl, c->param, dr.name, pub_b64, &dev,
				     &why);
	if (ret) {
		memzero(priv, sizeof(priv));
		return api_errno(c, ret, why);
	}
	atomic_fetch_add(&ctl->metrics.devices, 1);
	ret = netmap_load(ctl, &dev, &nm);
	if (ret) {
		memzero(priv, sizeof(priv));
		return api_errno(c, ret, NULL);
	}
	/* The private key exists only in this response. */
	key_to_base64(priv_b64, priv);
	memzero(priv, sizeof(priv));
	config = wgconf_render(ctl, &dev, &nm, priv_b64);
	memzero(priv_b64, sizeof(priv_b64));
	netmap_free(&nm);
	if (!config)
		return api_errno(c, -ENOMEM, NULL);
	ret = device_response(c, format, &dev, config);
	memzero(config, strlen(config));
	free(config);
	return ret;
}

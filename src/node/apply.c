/* Loading a config's WireGuard settings into a device: converted to a UAPI
 * set and applied as `wg setconf` would, so TUN and userspace mode share
 * the device's one code path. */
#include <errno.h>
#include <string.h>

#include "node/node.h"
#include "uapi/uapi.h"

int node_apply_wg(struct daemon *d, const struct conf *c)
{
	struct uapi_config u = { 0 };
	size_t i, j;
	int ret = -ENOMEM;

	u.has_private_key = c->has_private_key;
	memcpy(u.private_key, c->private_key, KEY_LEN);
	if (!crypto_is_zero(u.private_key, KEY_LEN)) { /* as wg setconf */
		u.private_key[0] &= 248;
		u.private_key[31] = (u.private_key[31] & 127) | 64;
	}
	u.has_listen_port = c->has_listen_port;
	u.listen_port = c->listen_port;
	u.has_fwmark = true;
	u.fwmark = c->fwmark;
	u.replace_peers = true;
	for (i = 0; i < c->n_peers; ++i) {
		const struct conf_peer *cp = &c->peers[i];
		struct uapi_peer *p = uapi_config_add_peer(&u);

		if (!p)
			goto out;
		memcpy(p->public_key, cp->public_key, KEY_LEN);
		p->has_preshared_key = true;
		if (cp->has_psk)
			memcpy(p->preshared_key, cp->psk, KEY_LEN);
		if (cp->has_endpoint && cp->endpoint.resolved) {
			p->has_endpoint = true;
			memcpy(&p->endpoint, &cp->endpoint.addr,
			       sizeof(cp->endpoint.addr));
		}
		p->has_persistent_keepalive = true;
		p->persistent_keepalive_interval = cp->keepalive;
		p->replace_allowed_ips = true;
		for (j = 0; j < cp->n_allowed; ++j) {
			struct uapi_allowedip a = {
				.family = cp->allowed[j].family,
				.cidr = cp->allowed[j].cidr,
			};

			memcpy(&a.ip6, cp->allowed[j].ip,
			       a.family == AF_INET ? 4 : 16);
			if (uapi_peer_add_allowedip(p, &a))
				goto out;
		}
	}
	ret = daemon_uapi_set(d, &u);
out:
	uapi_config_free(&u);
	return ret;
}

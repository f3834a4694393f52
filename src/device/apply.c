/* UAPI get and set for the device daemon. A set arrives fully parsed; the
 * only step that can fail for outside reasons (binding the port) runs first,
 * so an error leaves the device unchanged. */
#include <errno.h>
#include <string.h>

#include "device/daemon.h"
#include "uapi/uapi.h"

static int add_aip(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct uapi_allowedip aip = { .family = (uint8_t)family, .cidr = cidr };

	if (family == AF_INET)
		memcpy(&aip.ip4, addr, 4);
	else
		memcpy(&aip.ip6, addr, 16);
	return uapi_peer_add_allowedip(ctx, &aip);
}

int daemon_uapi_get(void *ctx, struct uapi_config *cfg)
{
	struct daemon *d = ctx;
	struct wg_device *wg = d->wg;
	struct peer *p;

	if (wg->identity.has_identity) {
		cfg->has_private_key = true;
		memcpy(cfg->private_key, wg->identity.static_private, KEY_LEN);
	}
	cfg->has_listen_port = true;
	cfg->listen_port = d->udp.port;
	cfg->has_fwmark = d->udp.fwmark != 0;
	cfg->fwmark = d->udp.fwmark;
	for_each_peer(wg, p) {
		struct uapi_peer *up = uapi_config_add_peer(cfg);

		if (!up)
			return -ENOMEM;
		memcpy(up->public_key, p->handshake.remote_static, KEY_LEN);
		up->has_preshared_key = true;
		memcpy(up->preshared_key, p->handshake.preshared_key, KEY_LEN);
		if (p->endpoint.sa.sa_family != AF_UNSPEC) {
			up->has_endpoint = true;
			memcpy(&up->endpoint, &p->endpoint,
			       sizeof(up->endpoint) < sizeof(p->endpoint)
				       ? sizeof(up->endpoint)
				       : sizeof(p->endpoint));
		}
		up->has_persistent_keepalive = true;
		up->persistent_keepalive_interval =
			p->persistent_keepalive_interval;
		up->last_handshake_sec = p->last_handshake_real_ns / NS_PER_SEC;
		up->last_handshake_nsec = p->last_handshake_real_ns % NS_PER_SEC;
		up->rx_bytes = p->rx_bytes;
		up->tx_bytes = p->tx_bytes;
		if (allowedips_walk(&p->allowedips, add_aip, up))
			return -ENOMEM;
	}
	return 0;
}

static void apply_peer(struct daemon *d, const struct uapi_peer *up)
{
	struct wg_device *wg = d->wg;
	struct peer *p = wg_peer_lookup(wg, up->public_key);
	size_t i;

	if (up->remove) {
		if (p)
			wg_peer_remove(p);
		return;
	}
	if (!p) {
		if (up->update_only)
			return;
		/* NULL for our own public key: ignored, as the kernel does. */
		p = wg_peer_create(wg, up->public_key);
		if (!p)
			return;
	}
	if (up->has_preshared_key)
		wg_peer_set_preshared_key(
			p, crypto_is_zero(up->preshared_key, KEY_LEN)
				   ? NULL
				   : up->preshared_key);
	if (up->has_endpoint)
		wg_peer_set_endpoint(p, &up->endpoint.sa);
	if (up->replace_allowed_ips)
		wg_peer_clear_allowedips(p);
	for (i = 0; i < up->n_allowedips; ++i) {
		const struct uapi_allowedip *a = &up->allowedips[i];

		if (a->remove)
			wg_peer_remove_allowedip(p, a->family, &a->ip6, a->cidr);
		else
			wg_peer_add_allowedip(p, a->family, &a->ip6, a->cidr);
	}
	if (up->has_persistent_keepalive)
		wg_peer_set_persistent_keepalive(
			p, up->persistent_keepalive_interval);
}

int daemon_uapi_set(void *ctx, const struct uapi_config *cfg)
{
	struct daemon *d = ctx;
	size_t i;
	int ret;

	daemon_update_clock(d);
	if (cfg->has_listen_port || cfg->has_fwmark) {
		ret = daemon_udp_open(
			d, cfg->has_listen_port ? cfg->listen_port : d->udp.port,
			cfg->has_fwmark ? cfg->fwmark : d->udp.fwmark);
		if (ret < 0)
			return ret;
	}
	if (cfg->has_private_key)
		wg_set_private_key(d->wg, crypto_is_zero(cfg->private_key, KEY_LEN)
						  ? NULL
						  : cfg->private_key);
	if (cfg->replace_peers)
		wg_peer_remove_all(d->wg);
	for (i = 0; i < cfg->n_peers; ++i)
		apply_peer(d, &cfg->peers[i]);
	if (d->inner && d->inner->peers_changed)
		d->inner->peers_changed(d->inner_ctx);
	return 0;
}

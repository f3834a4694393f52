/* [Egress]: an exit node. A transparent stack listener takes SYNs for any
 * destination; allowed ones are connected from the host to the real
 * destination (the SYN held until then, see relay_defer_connect), denied
 * ones are refused at once with ICMP administratively prohibited, so the
 * peer fails fast instead of timing out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/internal.h"

struct egress {
	struct relay *r;
	struct netstack_listener *l;
	struct conf_prefix *allow, *deny, *ours;
	size_t n_allow, n_deny, n_ours;
};

static enum netstack_accept on_syn(void *ctx, struct netstack_listener *l,
				   struct netstack_tcp *c)
{
	struct egress *e = ctx;
	const struct netstack_addr *dst = netstack_tcp_local(c);
	struct sockaddr_storage ss;
	char a[64];

	/* Our own addresses: a closed port, not an exit. */
	if (conf_prefix_match(e->ours, e->n_ours, dst->family, dst->ip))
		return NETSTACK_REFUSE_RST;
	if (!conf_prefix_match(e->allow, e->n_allow, dst->family, dst->ip) ||
	    conf_prefix_match(e->deny, e->n_deny, dst->family, dst->ip)) {
		e->r->stats.egress_denied++;
		relay_log(e->r, "egress to %s denied",
			  netstack_addr_str(dst, a, sizeof(a)));
		return NETSTACK_REFUSE_PROHIBITED;
	}
	e->r->stats.egress_allowed++;
	netstack_addr_to_sockaddr(dst, (struct sockaddr *)&ss);
	return relay_defer_connect(e->r, c, (struct sockaddr *)&ss);
}

static const struct netstack_listener_ops egress_ops = { .syn = on_syn };

static struct conf_prefix *dup_prefixes(const struct conf_prefix *p, size_t n)
{
	struct conf_prefix *d = calloc(n ? n : 1, sizeof(*d));

	if (d && n)
		memcpy(d, p, n * sizeof(*d));
	return d;
}

int egress_add(struct relay *r, const struct conf *c, char *err)
{
	struct netstack_addr any = { .family = AF_UNSPEC };
	struct egress *e = calloc(1, sizeof(*e));
	size_t i;
	int ret;

	if (!e)
		return -ENOMEM;
	e->r = r;
	e->allow = dup_prefixes(c->allow, c->n_allow);
	e->deny = dup_prefixes(c->deny, c->n_deny);
	e->ours = dup_prefixes(c->addrs, c->n_addrs);
	if (!e->allow || !e->deny || !e->ours) {
		ret = -ENOMEM;
		goto err;
	}
	e->n_allow = c->n_allow;
	e->n_deny = c->n_deny;
	e->n_ours = c->n_addrs;
	for (i = 0; i < e->n_ours; ++i) /* the addresses, not their subnets */
		e->ours[i].cidr = e->ours[i].family == AF_INET ? 32 : 128;
	ret = netstack_tcp_listen(r->st, &any, NETSTACK_TRANSPARENT,
				  &egress_ops, e, &e->l);
	if (ret < 0) {
		snprintf(err, CONF_ERR_MAX, "[Egress]: cannot listen: %s",
			 strerror(-ret));
		goto err;
	}
	r->egress = e;
	return 0;
err:
	free(e->allow);
	free(e->deny);
	free(e->ours);
	free(e);
	return ret;
}

void egress_free(struct relay *r)
{
	struct egress *e = r->egress;

	if (!e)
		return;
	netstack_listener_close(e->l);
	free(e->allow);
	free(e->deny);
	free(e->ours);
	free(e);
	r->egress = NULL;
}

/* Resolving host names in a parsed config (at `up` time, not parse time,
 * so a parse never touches the network). */
#include "conf/conf.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int resolve_one(struct conf_hostport *hp, const char *file, char *err,
		       bool prefer_v4)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res, *ai;
	char port[8];
	int ret;

	if (hp->resolved || !hp->host[0])
		return 0;
	snprintf(port, sizeof(port), "%u", hp->port);
	ret = getaddrinfo(hp->host, port, &hints, &res);
	if (ret) {
		snprintf(err, CONF_ERR_MAX, "%s:%d: cannot resolve '%s': %s",
			 file, hp->line, hp->host, gai_strerror(ret));
		return -EINVAL;
	}
	/* wg(8) prefers IPv4 results; so do we. */
	for (ai = res; ai; ai = ai->ai_next)
		if (!prefer_v4 || ai->ai_family == AF_INET)
			break;
	if (!ai)
		ai = res;
	memcpy(&hp->addr, ai->ai_addr,
	       ai->ai_addrlen < sizeof(hp->addr) ? ai->ai_addrlen
						 : sizeof(hp->addr));
	hp->resolved = true;
	freeaddrinfo(res);
	return 0;
}

int conf_resolve(struct conf *c, const char *file, char *err)
{
	size_t i;
	int ret;

	for (i = 0; i < c->n_peers; ++i) {
		if (!c->peers[i].has_endpoint)
			continue;
		ret = resolve_one(&c->peers[i].endpoint, file, err, true);
		if (ret)
			return ret;
	}
	return conf_resolve_exposes(c, file, err);
}

int conf_resolve_exposes(struct conf *c, const char *file, char *err)
{
	size_t i;
	int ret;

	for (i = 0; i < c->n_exposes; ++i) {
		ret = resolve_one(&c->exposes[i].target, file, err, true);
		if (ret)
			return ret;
	}
	return 0;
}


/* TUN mode's interface setup, in wg-quick's order: PreUp, addresses, MTU,
 * link up, routes for AllowedIPs, PostUp; [Expose] (DNAT plus masquerade)
 * and [Policy] (peer to peer, hub-originated connections, services) in one
 * nftables table of our own ("spokewire_IFACE"), replaced in one
 * transaction and removed on down; no other table is touched.
 * Runs ip(8), nft(8) and the hooks (sh -c, %i = interface) as children. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/strbuf.h"
#include "node/node.h"

extern char **environ;

enum {
	CMD_MAX = 16384,
};

/* argv[0] found on PATH; 0 when it exited 0, else -ECHILD/-errno. input
 * NULL: stdin inherited. quiet: stderr to /dev/null. */
static int run_io(char *const argv[], const char *input, bool quiet)
{
	posix_spawn_file_actions_t fa;
	int pfd[2] = { -1, -1 }, status, ret;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO,
						 "/dev/null", O_WRONLY, 0);
	if (input) {
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return -errno;
		posix_spawn_file_actions_adddup2(&fa, pfd[0], STDIN_FILENO);
	}
	ret = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (ret) {
		if (pfd[1] >= 0)
			close(pfd[1]);
		return -ret;
	}
	if (input) {
		size_t len = strlen(input), off = 0;
		ssize_t n;

		while (off < len) {
			n = write(pfd[1], input + off, len - off);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		close(pfd[1]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -ECHILD;
}

static int run(char *const argv[], const char *input)
{
	return run_io(argv, input, false);
}

static int run_fmt(char *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A space-separated command line of our own making (no quoting needed). */
static int run_fmt(char *err, const char *fmt, ...)
{
	char line[CMD_MAX], *argv[32], *save = NULL, *tok;
	va_list ap;
	int argc = 0, ret;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[#] %s\n", line);
	for (tok = strtok_r(line, " ", &save); tok && argc < 31;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	ret = run(argv, NULL);
	if (ret && err)
		snprintf(err, CONF_ERR_MAX, "command failed: %s", argv[0]);
	return ret;
}

/* wg-quick's hooks: %i becomes the interface name. */
static int run_hooks(const struct conf *c, const struct conf_strings *h,
		     char *err)
{
	char cmd[CMD_MAX];
	size_t i, o;
	const char *s;
	int ret;

	for (i = 0; i < h->n; ++i) {
		for (s = h->v[i], o = 0; *s && o < sizeof(cmd) - IFNAMSIZ; ++s) {
			if (s[0] == '%' && s[1] == 'i') {
				o += (size_t)snprintf(cmd + o, sizeof(cmd) - o,
						      "%s", c->ifname);
				s++;
			} else {
				cmd[o++] = *s;
			}
		}
		cmd[o] = '\0';
		fprintf(stderr, "[#] %s\n", cmd);
		ret = run((char *const[]){ "sh", "-c", cmd, NULL }, NULL);
		if (ret) {
			if (err)
				snprintf(err, CONF_ERR_MAX, "hook failed: %.200s",
					 cmd);
			return ret;
		}
	}
	return 0;
}

static void table_name(const struct conf *c, char *out, size_t len)
{
	size_t i;

	snprintf(out, len, "spokewire_%s", c->ifname);
	for (i = 0; out[i]; ++i)
		if (out[i] == '-' || out[i] == '.' || out[i] == '=' ||
		    out[i] == '+')
			out[i] = '_';
}

static const char *sa_ip(const struct conf_hostport *hp, char *buf,
			 size_t len)
{
	if (hp->addr.sa.sa_family == AF_INET6)
		return inet_ntop(AF_INET6, &hp->addr.in6.sin6_addr, buf, len);
	return inet_ntop(AF_INET, &hp->addr.in4.sin_addr, buf, len);
}

/* [Expose]: DNAT of the overlay's connections to a host address, and the
 * masquerade that brings the answers back the same way. */
static void expose_rules(const struct conf *c, struct strbuf *r)
{
	char t[INET6_ADDRSTRLEN], l[INET6_ADDRSTRLEN];
	size_t i;

	strbuf_printf(r, " chain prerouting {\n"
	       "  type nat hook prerouting priority dstnat; policy accept;\n");
	for (i = 0; i < c->n_exposes; ++i) {
		const struct conf_expose *e = &c->exposes[i];
		const char *fam = e->target.addr.sa.sa_family == AF_INET6 ? "ip6"
									: "ip";

		sa_ip(&e->target, t, sizeof(t));
		if (e->listen.host[0])
			strbuf_printf(r, "  iifname \"%s\" %s daddr %s tcp dport %u dnat %s to %s%s%s:%u\n",
			    c->ifname,
			    e->listen.addr.sa.sa_family == AF_INET6 ? "ip6" : "ip",
			    sa_ip(&e->listen, l, sizeof(l)), e->listen.port,
			    fam, fam[2] ? "[" : "", t, fam[2] ? "]" : "",
			    e->target.port);
		else
			strbuf_printf(r, "  iifname \"%s\" meta nfproto %s tcp dport %u dnat %s to %s%s%s:%u\n",
			    c->ifname, fam[2] ? "ipv6" : "ipv4", e->listen.port,
			    fam, fam[2] ? "[" : "", t, fam[2] ? "]" : "",
			    e->target.port);
	}
	strbuf_printf(r, " }\n"
	       " chain postrouting {\n"
	       "  type nat hook postrouting priority srcnat; policy accept;\n"
	       "  iifname \"%s\" ct status dnat masquerade\n"
	       " }\n", c->ifname);
}

/* The AllowedIPs of the peers in group g, of one family, as an nft set's
 * elements; false when there are none. */
static bool group_set(const struct conf *c, const char *g, int family,
		      struct strbuf *r)
{
	char buf[64];
	bool any = false;
	size_t i, j;

	for (i = 0; i < c->n_peers; ++i) {
		if (strcasecmp(c->peers[i].group, g))
			continue;
		for (j = 0; j < c->peers[i].n_allowed; ++j) {
			if (c->peers[i].allowed[j].family != family)
				continue;
			strbuf_printf(r, "%s%s", any ? ", " : "",
			    conf_prefix_str(&c->peers[i].allowed[j], buf,
					    sizeof(buf)));
			any = true;
		}
	}
	return any;
}

/* Peer to peer through us, per SpokeToSpoke: all, the peers of one group
 * among themselves, or none; refused with ICMP admin-prohibited. */
static void forward_rules(const struct conf *c, struct strbuf *r)
{
	const struct conf_policy *pol = &c->policy;
	size_t i, k;

	strbuf_printf(r, " chain forward {\n"
	       "  type filter hook forward priority filter; policy accept;\n"
	       "  iifname \"%s\" oifname \"%s\" ct state established,related accept\n",
	    c->ifname, c->ifname);
	if (pol->s2s == CONF_S2S_ALL) {
		strbuf_printf(r, "  iifname \"%s\" oifname \"%s\" accept\n", c->ifname,
		    c->ifname);
	} else if (pol->s2s == CONF_S2S_GROUP) {
		for (i = 0; i < c->n_peers; ++i) {
			const char *g = c->peers[i].group;

			if (!g[0])
				continue;
			for (k = 0; k < i; ++k) /* each group once */
				if (!strcasecmp(c->peers[k].group, g))
					break;
			if (k < i)
				continue;
			for (k = 0; k < 2; ++k) {
				int fam = k ? AF_INET6 : AF_INET;
				struct strbuf set = { 0 };

				if (!group_set(c, g, fam, &set) || set.failed) {
					strbuf_free(&set);
					continue;
				}
				strbuf_printf(r, "  iifname \"%s\" oifname \"%s\" %s saddr { %s } %s daddr { %s } accept\n",
				    c->ifname, c->ifname, k ? "ip6" : "ip",
				    set.s, k ? "ip6" : "ip", set.s);
				strbuf_free(&set);
			}
		}
	}
	if (pol->s2s != CONF_S2S_ALL)
		strbuf_printf(r, "  iifname \"%s\" oifname \"%s\" reject with icmpx admin-prohibited\n",
		    c->ifname, c->ifname);
	strbuf_printf(r, " }\n");
}

/* HubOriginates = no: we answer the peers, never open towards them. */
static void output_rules(const struct conf *c, struct strbuf *r)
{
	strbuf_printf(r, " chain output {\n"
	       "  type filter hook output priority filter; policy accept;\n"
	       "  oifname \"%s\" ct state established,related accept\n"
	       /* Our ICMP errors (the forward chain's rejects among them,
		* whose connection was never confirmed) */
	       "  oifname \"%s\" icmp type { destination-unreachable, time-exceeded, parameter-problem } accept\n"
	       "  oifname \"%s\" icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept\n"
	       "  oifname \"%s\" reject with icmpx admin-prohibited\n"
	       " }\n", c->ifname, c->ifname, c->ifname, c->ifname);
}

/* Services: those ports through the interface and no others; the same
 * ports from anywhere but the overlay (and loopback) dropped. */
static void input_rules(const struct conf *c, struct strbuf *r)
{
	const struct conf_policy *pol = &c->policy;
	int k;
	size_t i;

	strbuf_printf(r, " chain input {\n"
	       "  type filter hook input priority filter; policy accept;\n"
	       "  iifname \"%s\" ct state established,related accept\n"
	       "  iifname \"%s\" meta l4proto { icmp, ipv6-icmp } accept\n",
	    c->ifname, c->ifname);
	for (k = 0; k < 2; ++k) {
		enum conf_proto proto = k ? CONF_PROTO_UDP : CONF_PROTO_TCP;
		const char *name = k ? "udp" : "tcp";
		struct strbuf set = { 0 };

		for (i = 0; i < pol->n_services; ++i)
			if (pol->services[i].proto == proto)
				strbuf_printf(&set, "%s%u", set.len ? ", " : "",
				    pol->services[i].port);
		if (!set.len || set.failed) {
			strbuf_free(&set);
			continue;
		}
		strbuf_printf(r, "  iifname \"%s\" %s dport { %s } accept\n"
		       "  iifname != { \"%s\", \"lo\" } %s dport { %s } drop\n",
		    c->ifname, name, set.s, c->ifname, name, set.s);
		strbuf_free(&set);
	}
	strbuf_printf(r, "  iifname \"%s\" drop\n"
	       " }\n", c->ifname);
}

int ifup_nft_ruleset(const struct conf *c, struct strbuf *r)
{
	const struct conf_policy *pol = &c->policy;
	char table[64];

	table_name(c, table, sizeof(table));
	strbuf_printf(r, "table inet %s\ndelete table inet %s\ntable inet %s {\n",
	    table, table, table);
	if (c->n_exposes)
		expose_rules(c, r);
	if (pol->present) {
		if (pol->routes)
			forward_rules(c, r);
		if (!pol->hub_originates)
			output_rules(c, r);
		if (pol->n_services)
			input_rules(c, r);
	}
	strbuf_printf(r, "}\n");
	return r->failed ? -ENOMEM : 0;
}

/* The interface's one nftables table, replaced as a whole in one
 * transaction: declared (so the delete cannot fail), deleted, defined. */
static int policy_nft(const struct conf *c, char *err)
{
	struct strbuf r = { 0 };
	char table[64];
	int ret;

	table_name(c, table, sizeof(table));
	ret = ifup_nft_ruleset(c, &r);
	if (ret) {
		strbuf_free(&r);
		return ret;
	}
	fprintf(stderr, "[#] nft -f - (table inet %s)\n", table);
	ret = run((char *const[]){ "nft", "-f", "-", NULL }, r.s);
	strbuf_free(&r);
	if (ret) {
		snprintf(err, CONF_ERR_MAX, "nft -f failed for the table inet %s ([Expose], [Policy])",
			 table);
		return ret;
	}
	return 0;
}

/* Peer to peer through us comes in and leaves through the interface: IPv4
 * forwarding for this interface only (it is decided by the interface a
 * packet came in on). [Expose]'s DNAT to another host also forwards the
 * answers that come in on that host's interface, and IPv6 has no switch
 * per interface: those take the namespace's forwarding. */
static int enable_forwarding(const struct conf *c, char *err)
{
	bool v6 = false;
	size_t i;
	int ret;

	if (c->n_exposes)
		ret = run_fmt(err, "sysctl -qw net.ipv4.ip_forward=1");
	else
		ret = run_fmt(err, "sysctl -qw net.ipv4.conf.%s.forwarding=1",
			      c->ifname);
	if (ret)
		return ret;
	/* Peers of one interface cannot reach each other directly, so an
	 * ICMP redirect from it is useless; worse, a redirect spends the
	 * per-host ICMP rate limit that the admin-prohibited answers of the
	 * forward chain need. The kernel ORs the "all" setting in. */
	if (c->policy.routes) {
		ret = run_fmt(err, "sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.%s.send_redirects=0",
			      c->ifname);
		if (ret)
			return ret;
	}
	for (i = 0; i < c->n_addrs; ++i)
		v6 |= c->addrs[i].family == AF_INET6;
	for (i = 0; i < c->n_exposes; ++i)
		v6 |= c->exposes[i].target.addr.sa.sa_family == AF_INET6;
	if (v6)
		return run_fmt(err, "sysctl -qw net.ipv6.conf.all.forwarding=1");
	return 0;
}

static void nft_delete(const struct conf *c)
{
	char table[64];

	table_name(c, table, sizeof(table));
	run_io((char *const[]){ "nft", "delete", "table", "inet", table, NULL },
	       NULL, true);
}

/* Routes for every peer's AllowedIPs, as wg-quick makes them (Table). */
static int add_routes(const struct conf *c, char *err)
{
	char buf[64], table[48] = "";
	size_t i, j;
	int ret;

	if (!strcasecmp(c->table, "off"))
		return 0;
	if (c->table[0] && strcasecmp(c->table, "auto"))
		snprintf(table, sizeof(table), " table %s", c->table);
	for (i = 0; i < c->n_peers; ++i) {
		for (j = 0; j < c->peers[i].n_allowed; ++j) {
			const struct conf_prefix *p = &c->peers[i].allowed[j];

			if (!p->cidr) {
				fprintf(stderr,
					"warning: %s: no default route in TUN "
					"mode (Table = off and PostUp)\n",
					conf_prefix_str(p, buf, sizeof(buf)));
				continue;
			}
			ret = run_fmt(err, "ip -%c route replace %s dev %s%s",
				      p->family == AF_INET ? '4' : '6',
				      conf_prefix_str(p, buf, sizeof(buf)),
				      c->ifname, table);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* The nftables table ([Expose], [Policy]) and the forwarding it needs;
 * without either, no table. */
static int apply_table(const struct conf *c, char *err)
{
	int ret;

	if (!c->n_exposes && !c->policy.present) {
		nft_delete(c);
		return 0;
	}
	ret = policy_nft(c, err);
	/* SpokeToSpoke = none forwards too: the forward chain then refuses
	 * with admin-prohibited, where a kernel that does not forward on the
	 * interface drops in silence. */
	if (!ret && (c->n_exposes || c->policy.routes))
		ret = enable_forwarding(c, err);
	return ret;
}

int ifup_tun(const struct conf *c, char *err)
{
	char ip[INET6_ADDRSTRLEN];
	size_t i;
	int ret;

	ret = run_hooks(c, &c->pre_up, err);
	if (ret)
		return ret;
	for (i = 0; i < c->n_addrs; ++i) {
		const struct conf_prefix *a = &c->addrs[i];

		inet_ntop(a->family, a->ip, ip, sizeof(ip));
		ret = run_fmt(err, "ip -%c address add %s/%u dev %s%s",
			      a->family == AF_INET ? '4' : '6', ip, a->cidr,
			      c->ifname, a->family == AF_INET6 ? " nodad" : "");
		if (ret)
			return ret;
	}
	ret = run_fmt(err, "ip link set mtu %u up dev %s",
		      c->mtu ? c->mtu : 1420, c->ifname);
	if (!ret)
		ret = add_routes(c, err);
	if (ret)
		return ret;
	/* Also replaces, or deletes, a table left by an instance that died. */
	ret = apply_table(c, err);
	if (ret)
		return ret;
	return run_hooks(c, &c->post_up, err);
}

int ifup_tun_refresh(const struct conf *c, const struct conf_prefix *gone,
		     size_t n_gone, char *err)
{
	char buf[64];
	size_t i;
	int ret;

	for (i = 0; i < n_gone && strcasecmp(c->table, "off"); ++i)
		if (gone[i].cidr)
			run_fmt(NULL, "ip -%c route del %s dev %s",
				gone[i].family == AF_INET ? '4' : '6',
				conf_prefix_str(&gone[i], buf, sizeof(buf)),
				c->ifname);
	ret = add_routes(c, err);
	if (!ret)
		ret = apply_table(c, err);
	return ret;
}

void ifup_tun_predown(const struct conf *c)
{
	run_hooks(c, &c->pre_down, NULL);
	if (c->n_exposes || c->policy.present)
		nft_delete(c);
}

void ifup_tun_postdown(const struct conf *c)
{
	run_hooks(c, &c->post_down, NULL);
}

/* TUN mode's interface setup, in wg-quick's order: PreUp, addresses, MTU,
 * link up, routes for AllowedIPs, PostUp; [Expose] as DNAT plus masquerade
 * in an nftables table of our own ("spokewire_IFACE"), removed on down.
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

static int expose_nft(const struct conf *c, char *err)
{
	char table[64], *rules, t[INET6_ADDRSTRLEN], l[INET6_ADDRSTRLEN];
	size_t i, o = 0, cap = 4096 + c->n_exposes * 512;
	bool v4 = false, v6 = false;
	int ret;

	table_name(c, table, sizeof(table));
	rules = malloc(cap);
	if (!rules)
		return -ENOMEM;
	o += (size_t)snprintf(rules + o, cap - o,
		"table inet %s {\n"
		" chain prerouting {\n"
		"  type nat hook prerouting priority dstnat; policy accept;\n",
		table);
	for (i = 0; i < c->n_exposes; ++i) {
		const struct conf_expose *e = &c->exposes[i];
		const char *fam = e->target.addr.sa.sa_family == AF_INET6 ? "ip6"
									: "ip";

		if (fam[2])
			v6 = true;
		else
			v4 = true;
		sa_ip(&e->target, t, sizeof(t));
		if (e->listen.host[0])
			o += (size_t)snprintf(rules + o, cap - o,
				"  iifname \"%s\" %s daddr %s tcp dport %u dnat %s to %s%s%s:%u\n",
				c->ifname,
				e->listen.addr.sa.sa_family == AF_INET6 ? "ip6" : "ip",
				sa_ip(&e->listen, l, sizeof(l)), e->listen.port,
				fam, fam[2] ? "[" : "", t, fam[2] ? "]" : "",
				e->target.port);
		else
			o += (size_t)snprintf(rules + o, cap - o,
				"  iifname \"%s\" meta nfproto %s tcp dport %u dnat %s to %s%s%s:%u\n",
				c->ifname, fam[2] ? "ipv6" : "ipv4",
				e->listen.port, fam, fam[2] ? "[" : "", t,
				fam[2] ? "]" : "", e->target.port);
	}
	o += (size_t)snprintf(rules + o, cap - o,
		" }\n"
		" chain postrouting {\n"
		"  type nat hook postrouting priority srcnat; policy accept;\n"
		"  iifname \"%s\" ct status dnat masquerade\n"
		" }\n"
		"}\n", c->ifname);
	fprintf(stderr, "[#] nft -f - (table inet %s)\n", table);
	ret = run((char *const[]){ "nft", "-f", "-", NULL }, rules);
	free(rules);
	if (ret) {
		snprintf(err, CONF_ERR_MAX, "nft -f failed for [Expose]");
		return ret;
	}
	/* DNAT to another host is forwarding (per network namespace). */
	if (v4)
		run((char *const[]){ "sysctl", "-qw", "net.ipv4.ip_forward=1",
				     NULL }, NULL);
	if (v6)
		run((char *const[]){ "sysctl", "-qw",
				     "net.ipv6.conf.all.forwarding=1", NULL },
		    NULL);
	return 0;
}

static void nft_delete(const struct conf *c)
{
	char table[64];

	table_name(c, table, sizeof(table));
	run_io((char *const[]){ "nft", "delete", "table", "inet", table, NULL },
	       NULL, true);
}

int ifup_tun(const struct conf *c, char *err)
{
	char ip[INET6_ADDRSTRLEN], buf[64], table[48] = "";
	size_t i, j;
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
	if (ret)
		return ret;
	if (strcasecmp(c->table, "off")) {
		if (c->table[0] && strcasecmp(c->table, "auto"))
			snprintf(table, sizeof(table), " table %s", c->table);
		for (i = 0; i < c->n_peers; ++i) {
			for (j = 0; j < c->peers[i].n_allowed; ++j) {
				const struct conf_prefix *p =
					&c->peers[i].allowed[j];

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
	}
	nft_delete(c); /* a table left by an instance that died */
	if (c->n_exposes) {
		ret = expose_nft(c, err);
		if (ret)
			return ret;
	}
	return run_hooks(c, &c->post_up, err);
}

void ifup_tun_predown(const struct conf *c)
{
	run_hooks(c, &c->pre_down, NULL);
	if (c->n_exposes)
		nft_delete(c);
}

void ifup_tun_postdown(const struct conf *c)
{
	run_hooks(c, &c->post_down, NULL);
}

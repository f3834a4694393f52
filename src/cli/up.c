/* `spokewire up [-f] CONF`: brings an interface up from a config file, in
 * TUN mode (device, addresses, routes, nftables) or userspace mode (no TUN,
 * no privileges: the netstack and relays). Daemonises unless -f: the child
 * does the setup and reports success or the error to the waiting parent
 * through a pipe, so `up` fails with the real message and the UAPI
 * socket's peer credentials name the daemon (see down.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "device/daemon.h"
#include "io/strbuf.h"
#include "node/node.h"

static void up_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s up [-f/--foreground] CONFIG-FILE\n"
		"       %s up --print-nft CONFIG-FILE\n"
		"\n"
		"Brings up the interface named by CONFIG-FILE (wg0.conf -> wg0):\n"
		"Mode = tun (default) creates a TUN device like wg-quick; Mode =\n"
		"userspace runs without TUN, root or capabilities, relaying [Forward],\n"
		"[Expose], [Proxy] and [Egress] through an embedded TCP/IP stack.\n"
		"Runs in the background unless -f is given; `%s down CONFIG-FILE`\n"
		"stops it. LOG_LEVEL=verbose logs to stderr. The control socket is\n"
		"/var/run/wireguard/IFACE.sock, where wg(8) looks; a user who cannot\n"
		"write there gets $XDG_RUNTIME_DIR/spokewire/ (else /tmp/spokewire-UID/),\n"
		"which `%s status`, `reload` and `down` find. [Egress] relays TCP, UDP\n"
		"and ping; ping needs the daemon's group in net.ipv4.ping_group_range.\n"
		"Status = ADDR:PORT (or a bare PORT: the overlay addresses) in\n"
		"[Interface] serves GET /health, /status and /metrics; StatusToken\n"
		"requires a Bearer token; HealthHandshakeAge (180 s) and HealthPeers\n"
		"set when a silent peer makes /health say warn.\n"
		"\n"
		"--print-nft prints the nftables script TUN mode would load for\n"
		"[Expose] and [Policy] (one table, inet spokewire_IFACE) and changes\n"
		"nothing: check it with `nft -c -f -`, or read it before an `up`.\n",
		prog_name, prog_name, prog_name, prog_name);
}

static void on_warn(void *ctx, const char *msg)
{
	fprintf(stderr, "%s: %s\n", prog_name, msg);
}

/* --print-nft: the script, or a note that the config needs none. */
static int print_ruleset(struct conf *c)
{
	struct strbuf r = { 0 };
	int ret = 0;

	if (c->mode != CONF_MODE_TUN) {
		fprintf(stderr, "%s: %s is in userspace mode, which uses no nftables\n",
			prog_name, c->ifname);
	} else if (!c->n_exposes && !c->policy.present) {
		fprintf(stderr, "%s: %s has no [Expose] or [Policy]: no table\n",
			prog_name, c->ifname);
	} else if (ifup_nft_ruleset(c, &r)) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		ret = 1;
	} else {
		fputs(r.s, stdout);
	}
	strbuf_free(&r);
	conf_free(c);
	return ret;
}

/* 10,000 relayed connections take 20,000+ descriptors. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The child's end of the report pipe: "" for success, else the error. */
static void report(int fd, const char *msg)
{
	size_t len = strlen(msg);

	if (fd < 0) {
		if (len)
			fprintf(stderr, "%s: %s\n", prog_name, msg);
		return;
	}
	if (write(fd, msg, len) < 0) {
		/* The parent is gone; nothing to tell. */
	}
	close(fd);
}

/* Parent: waits for the child's report. */
static int wait_report(int fd)
{
	char msg[CONF_ERR_MAX + 64];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(msg) - 1) {
		n = read(fd, msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	msg[len] = '\0';
	close(fd);
	if (len) {
		fprintf(stderr, "%s: %s\n", prog_name, msg);
		return 1;
	}
	return 0;
}

static int run_userspace(const struct conf *c, int verbose, int rfd)
{
	char err[CONF_ERR_MAX] = "";
	struct node n;
	int ret;

	ret = node_setup(&n, c, verbose, err);
	if (ret < 0) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s: %s", c->ifname,
				 strerror(-ret));
		report(rfd, err);
		node_teardown(&n);
		return 1;
	}
	report(rfd, "");
	if (rfd >= 0)
		cli_detach_stdio();
	daemon_log(&n.d, "userspace mode up, listening on port %u",
		   n.d.udp.port);
	ret = node_run(&n);
	node_teardown(&n);
	return ret < 0 ? 1 : 0;
}

static int run_tun(const struct conf *c, int verbose, int rfd)
{
	char err[CONF_ERR_MAX] = "";
	struct daemon d;
	int ret;

	ret = daemon_setup(&d, c->ifname);
	if (ret < 0) {
		snprintf(err, sizeof(err), "cannot create %s: %s%s", c->ifname,
			 strerror(-ret),
			 ret == -EBUSY || ret == -EADDRINUSE ? " (already up?)"
							     : "");
		goto fail;
	}
	d.verbose = verbose;
	ret = node_apply_wg(&d, c);
	if (ret < 0) {
		snprintf(err, sizeof(err), "cannot configure %s: %s",
			 c->ifname, strerror(-ret));
		goto fail;
	}
	if (c->mtu)
		d.wg->mtu = c->mtu;
	ret = ifup_tun(c, err);
	if (ret < 0)
		goto fail;
	d.reload = node_tun_reload;
	ret = node_status_rules(&d, c);
	if (!ret)
		ret = node_status_listen(&d, c, NULL, err);
	if (ret < 0) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-ret));
		goto fail;
	}
	report(rfd, "");
	if (rfd >= 0)
		cli_detach_stdio();
	ret = daemon_run(&d);
	daemon_teardown(&d);
	return ret < 0 ? 1 : 0;
fail:
	report(rfd, err);
	daemon_teardown(&d);
	return 1;
}

int cmd_up(int argc, char *argv[])
{
	char err[CONF_ERR_MAX];
	const char *path = NULL, *level;
	bool foreground = false, print_nft = false;
	struct conf c;
	int i, ret, verbose, pfd[2] = { -1, -1 };
	pid_t pid;

	for (i = 1; i < argc; ++i) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--foreground")) {
			foreground = true;
		} else if (!strcmp(argv[i], "--print-nft")) {
			print_nft = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			up_usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || path) {
			up_usage(stderr);
			return 1;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		up_usage(stderr);
		return 1;
	}
	ret = conf_load(&c, path, err, on_warn, NULL);
	if (!ret)
		ret = print_nft ? conf_resolve_exposes(&c, path, err)
				: conf_resolve(&c, path, err);
	if (ret) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		conf_free(&c);
		return 1;
	}
	if (print_nft)
		return print_ruleset(&c);
	level = getenv("LOG_LEVEL");
	verbose = level && (!strcmp(level, "verbose") || !strcmp(level, "debug"));
	raise_nofile();

	if (!foreground) {
		if (pipe2(pfd, O_CLOEXEC) < 0) {
			perror("pipe");
			conf_free(&c);
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("fork");
			conf_free(&c);
			return 1;
		}
		if (pid > 0) {
			close(pfd[1]);
			conf_free(&c);
			return wait_report(pfd[0]);
		}
		close(pfd[0]);
		setsid();
		if (chdir("/") < 0) {
			/* Harmless: nothing uses relative paths from here. */
		}
	}
	if (c.mode == CONF_MODE_USERSPACE)
		ret = run_userspace(&c, verbose, pfd[1]);
	else
		ret = run_tun(&c, verbose, pfd[1]);
	conf_free(&c);
	return ret;
}

/* `spokewire run [CONF] -- CMD ARGS...`: a container's entrypoint. Brings
 * the tunnel up from CONF or from the environment (the variables the
 * containers we replace wrote their wg0.conf from), waits for the first
 * handshake, then runs CMD: signals are passed on, CMD's exit status is
 * ours, and the interface goes when CMD ends. Userspace mode when no TUN
 * can be made, so the app's container needs no privileges. The private
 * key is written only into a 0600 file of a private directory, removed at
 * the end, and never printed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "io/file.h"
#include "io/strbuf.h"
#include "uapi/uapi.h"

enum {
	WAIT_DEFAULT_S = 20,
	POLL_MS = 100,
};

static volatile sig_atomic_t child_pid, early_signal;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s run [CONF] -- CMD [ARGS...]\n"
		"\n"
		"Brings up the interface of CONF (a `%s up` file), or one made from the\n"
		"environment, waits for the first handshake, runs CMD, and takes the\n"
		"interface down when CMD ends; CMD's exit status is returned and the\n"
		"signals we get are passed on to it.\n"
		"\n"
		"Without CONF:\n"
		"  WG_PRIVATE_KEY       this node's private key (base64)\n"
		"  WG_ADDRESS           its overlay address, e.g. 10.50.3.1/32\n"
		"  WG_PEER_PUBLIC_KEY   the hub's public key\n"
		"  WG_PEER_ENDPOINT     the hub's HOST:PORT\n"
		"  WG_ALLOWED_IPS       what goes to the hub (default: the address's /16)\n"
		"  WG_KEEPALIVE         seconds (25)\n"
		"  WG_MODE              tun | userspace (default: tun when this process\n"
		"                       can make one, else userspace: no privileges)\n"
		"  WG_FORWARDS          userspace: LISTEN=TARGET,... e.g.\n"
		"                       127.0.0.1:5432=10.50.0.1:5432\n"
		"  WG_IFACE             the interface name (wg0)\n"
		"  WG_WAIT              seconds to wait for the handshake (20); past it\n"
		"                       we exit 1 saying what to check\n",
		prog_name, prog_name);
}

/* The address's /16 (the overlay of the usual plans): "10.50.0.0/16". */
static int default_allowed(const char *addr, char *out, size_t len)
{
	unsigned a, b;

	if (sscanf(addr, "%u.%u.", &a, &b) != 2 || a > 255 || b > 255)
		return -EINVAL;
	snprintf(out, len, "%u.%u.0.0/16", a, b);
	return 0;
}

/* TUN when we are root (or hold CAP_NET_ADMIN) and /dev/net/tun opens. */
static bool can_tun(void)
{
	int fd;

	if (geteuid() != 0)
		return false;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* The config text from the environment; NULL with a message. */
static char *conf_from_env(const char **mode)
{
	const char *key = getenv("WG_PRIVATE_KEY"), *addr = getenv("WG_ADDRESS");
	const char *peer = getenv("WG_PEER_PUBLIC_KEY");
	const char *ep = getenv("WG_PEER_ENDPOINT");
	const char *fwd = cli_env("WG_FORWARDS", "");
	char allowed[64], *list, *tok, *save = NULL;
	struct strbuf b = { 0 };

	if (!key || !addr || !peer || !ep) {
		fprintf(stderr, "%s run: set WG_PRIVATE_KEY, WG_ADDRESS, WG_PEER_PUBLIC_KEY and WG_PEER_ENDPOINT, or give a CONF\n",
			prog_name);
		return NULL;
	}
	*mode = cli_env("WG_MODE", can_tun() ? "tun" : "userspace");
	if (strcmp(*mode, "tun") && strcmp(*mode, "userspace")) {
		fprintf(stderr, "%s run: WG_MODE must be tun or userspace\n", prog_name);
		return NULL;
	}
	if (getenv("WG_ALLOWED_IPS"))
		snprintf(allowed, sizeof(allowed), "%s", getenv("WG_ALLOWED_IPS"));
	else if (default_allowed(addr, allowed, sizeof(allowed))) {
		fprintf(stderr, "%s run: WG_ADDRESS '%s' is not an IPv4 address: set WG_ALLOWED_IPS\n",
			prog_name, addr);
		return NULL;
	}
	strbuf_printf(&b, "[Interface]\nPrivateKey = %s\nAddress = %s\nMode = %s\n",
		      key, addr, *mode);
	strbuf_printf(&b, "\n[Peer]\nPublicKey = %s\nEndpoint = %s\nAllowedIPs = %s\nPersistentKeepalive = %s\n",
		      peer, ep, allowed, cli_env("WG_KEEPALIVE", "25"));
	list = strdup(fwd);
	for (tok = list ? strtok_r(list, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			fprintf(stderr, "%s run: WG_FORWARDS entry '%s' is not LISTEN=TARGET\n",
				prog_name, tok);
			free(list);
			strbuf_free(&b);
			return NULL;
		}
		*eq = '\0';
		strbuf_printf(&b, "\n[Forward]\nListen = %s\nTarget = %s\n", tok, eq + 1);
	}
	free(list);
	if (b.failed) {
		strbuf_free(&b);
		return NULL;
	}
	return strbuf_take(&b);
}

/* A handshake with any peer yet? */
static bool handshaken(const char *ifname)
{
	char *reply = NULL, *p;
	bool yes = false;

	if (uapi_client_call(ifname, "get=1\n\n", &reply) == 0)
		for (p = reply; (p = strstr(p, "last_handshake_time_sec="));
		     p += 24)
			if (strtoul(p + 24, NULL, 10) > 0)
				yes = true;
	if (reply) {
		memzero(reply, strlen(reply));
		free(reply);
	}
	return yes;
}

/* What the daemon saw, in words, for the timeout message. */
static void say_why(const char *ifname)
{
	char *reply = NULL;

	if (uapi_client_call(ifname, "status=1\n\n", &reply) == 0 && reply &&
	    strstr(reply, "\"hint\""))
		fprintf(stderr, "%s run: the tunnel says: %s", prog_name, reply + 5);
	free(reply);
}

/* Passed on to CMD; before it runs, the signal ends the wait instead. */
static void pass_on(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
	else
		early_signal = sig;
}

int cmd_run(int argc, char *argv[])
{
	char dir[] = "/tmp/spokewire-run-XXXXXX", path[128], ifname[IFNAMSIZ];
	const char *conf_arg = NULL, *mode = "";
	char *text = NULL, **cmd = NULL;
	struct sigaction sa = { .sa_handler = pass_on };
	long wait_s = strtol(cli_env("WG_WAIT", "20"), NULL, 10);
	struct timespec ts = { 0, POLL_MS * 1000000L };
	int i, status, rc = 1, waited;
	pid_t pid;

	for (i = 1; i < argc; ++i) {
		if (!strcmp(argv[i], "--")) {
			cmd = &argv[i + 1];
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (conf_arg || argv[i][0] == '-') {
			usage(stderr);
			return 2;
		}
		conf_arg = argv[i];
	}
	if (!cmd || !cmd[0]) {
		usage(stderr);
		return 2;
	}
	if (wait_s < 1)
		wait_s = WAIT_DEFAULT_S;
	if (conf_arg) {
		if (conf_ifname(conf_arg, ifname)) {
			fprintf(stderr, "%s run: %s: not IFACE.conf\n", prog_name, conf_arg);
			return 2;
		}
		snprintf(path, sizeof(path), "%s", conf_arg);
	} else {
		snprintf(ifname, sizeof(ifname), "%s", cli_env("WG_IFACE", "wg0"));
		text = conf_from_env(&mode);
		if (!text)
			return 2;
		if (!mkdtemp(dir)) {
			fprintf(stderr, "%s run: %s: %s\n", prog_name, dir, strerror(errno));
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s.conf", dir, ifname);
		if (file_write_atomic(path, text, strlen(text), 0600)) {
			fprintf(stderr, "%s run: cannot write %s\n", prog_name, path);
			goto out;
		}
		fprintf(stderr, "%s run: %s in %s mode\n", prog_name, ifname, mode);
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	if (cli_spawn(NULL, (char *[]){ "spokewire", "up", path, NULL })) {
		fprintf(stderr, "%s run: the interface did not come up\n", prog_name);
		goto out;
	}
	for (waited = 0; !handshaken(ifname); waited += POLL_MS) {
		if (early_signal) {
			rc = 128 + early_signal;
			goto down;
		}
		if (waited >= wait_s * 1000) {
			fprintf(stderr, "%s run: no handshake with the peer within %ld s: check WG_PEER_ENDPOINT (reachable over UDP from here?), the firewalls between, and that the peer has this node's public key (`%s status %s` shows what was refused)\n",
				prog_name, wait_s, prog_name, ifname);
			say_why(ifname);
			goto down;
		}
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "%s run: %s is up; running %s\n", prog_name, ifname, cmd[0]);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s run: fork: %s\n", prog_name, strerror(errno));
		goto down;
	}
	if (!pid) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		execvp(cmd[0], cmd);
		fprintf(stderr, "%s run: %s: %s\n", prog_name, cmd[0], strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	if (early_signal) /* came between the fork and the line above */
		kill(pid, early_signal);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
down:
	if (cli_spawn(NULL, (char *[]){ "spokewire", "down", path, NULL }))
		fprintf(stderr, "%s run: %s did not go down cleanly\n", prog_name, ifname);
out:
	if (text) {
		memzero(text, strlen(text));
		free(text);
		unlink(path);
		rmdir(dir);
	}
	return rc;
}

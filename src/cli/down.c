/* `spokewire down CONF`: stops the instance `up` started for CONF. The
 * daemon is found through its UAPI socket (the peer credentials of
 * /var/run/wireguard/IFACE.sock), so no pid file is needed and it works for
 * an unprivileged userspace-mode instance too. TUN mode runs the PreDown
 * and PostDown hooks and removes the nftables table around it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "uapi/uapi.h"
#include "conf/conf.h"
#include "node/node.h"

enum {
	DOWN_WAIT_MS = 10000,
	DOWN_POLL_MS = 20,
};

static void on_warn(void *ctx, const char *msg)
{
}

/* The pid serving the interface's UAPI socket, or -errno. */
static int uapi_pid(const char *ifname)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd, ret;

	fd = uapi_client_connect(ifname);
	if (fd < 0)
		return fd;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	close(fd);
	return cred.pid > 0 ? cred.pid : -ESRCH;
}

/* Exited: no such process, or a zombie its parent has not reaped yet. */
static bool gone(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	bool zombie = false;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		zombie = p && p[1] == ' ' && p[2] == 'Z';
	}
	fclose(f);
	return zombie;
}

int cmd_down(int argc, char *argv[])
{
	struct timespec ts = { 0, DOWN_POLL_MS * 1000000L };
	char err[CONF_ERR_MAX];
	struct conf c;
	int pid, waited;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 ? stdout : stderr,
			"Usage: %s down CONFIG-FILE\n\n"
			"Stops the interface `%s up CONFIG-FILE` started and waits for it to exit.\n",
			prog_name, prog_name);
		return argc == 2 && strcmp(argv[1], "-h") &&
		       strcmp(argv[1], "--help");
	}
	if (conf_load(&c, argv[1], err, on_warn, NULL)) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		return 1;
	}
	pid = uapi_pid(c.ifname);
	if (pid < 0) {
		fprintf(stderr, "%s: %s is not running (%s)\n", prog_name,
			c.ifname, strerror(-pid));
		conf_free(&c);
		return 1;
	}
	if (c.mode == CONF_MODE_TUN)
		ifup_tun_predown(&c);
	if (kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "%s: cannot stop %s (pid %d): %s\n", prog_name,
			c.ifname, pid, strerror(errno));
		conf_free(&c);
		return 1;
	}
	for (waited = 0; !gone(pid) && waited < DOWN_WAIT_MS;
	     waited += DOWN_POLL_MS)
		nanosleep(&ts, NULL);
	if (!gone(pid)) {
		fprintf(stderr, "%s: %s (pid %d) did not exit in %d s\n",
			prog_name, c.ifname, pid, DOWN_WAIT_MS / 1000);
		conf_free(&c);
		return 1;
	}
	if (c.mode == CONF_MODE_TUN)
		ifup_tun_postdown(&c);
	conf_free(&c);
	return 0;
}

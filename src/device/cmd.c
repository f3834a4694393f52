/* `spokewire [-f] IFACE`: the wireguard-go compatible device daemon. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "device/daemon.h"
#include "device/status.h"

static void device_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [-f/--foreground] [--status ADDR:PORT] INTERFACE-NAME\n"
		"\n"
		"Creates TUN device INTERFACE-NAME and serves its WireGuard UAPI socket on\n"
		"/var/run/wireguard/INTERFACE-NAME.sock; configure it with wg(8).\n"
		"Runs in the background unless -f is given or WG_PROCESS_FOREGROUND=1.\n"
		"LOG_LEVEL=verbose|debug logs to stderr. Stops when the interface is\n"
		"deleted or on SIGINT/SIGTERM, removing its socket.\n"
		"\n"
		"--status ADDR:PORT (or SPOKEWIRE_STATUS=ADDR:PORT, for wg-quick) serves\n"
		"GET /health, /status and /metrics there; a bare PORT listens on the\n"
		"interface's addresses only. --status-token TOKEN (or\n"
		"SPOKEWIRE_STATUS_TOKEN) requires Authorization: Bearer TOKEN.\n"
		"`%s status INTERFACE-NAME` shows the same in a terminal.\n",
		prog_name, prog_name);
}

static void detach(void)
{
	setsid();
	cli_detach_stdio();
	if (chdir("/") < 0)
		return;
}

int cmd_device(int argc, char *argv[])
{
	const char *ifname = NULL, *env, *level;
	const char *status = getenv("SPOKEWIRE_STATUS");
	const char *token = getenv("SPOKEWIRE_STATUS_TOKEN");
	char err[256];
	bool foreground = false;
	struct daemon d;
	pid_t pid;
	int i, ret;

	for (i = 1; i < argc; ++i) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--foreground"))
			foreground = true;
		else if (!strcmp(argv[i], "--status") && i + 1 < argc)
			status = argv[++i];
		else if (!strcmp(argv[i], "--status-token") && i + 1 < argc)
			token = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			device_usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || ifname) {
			device_usage(stderr);
			return 1;
		} else
			ifname = argv[i];
	}
	if (!ifname) {
		device_usage(stderr);
		return 1;
	}
	env = getenv("WG_PROCESS_FOREGROUND");
	if (env && !strcmp(env, "1"))
		foreground = true;

	ret = daemon_setup(&d, ifname);
	if (ret < 0) {
		fprintf(stderr, "%s: cannot set up interface %s: %s\n",
			prog_name, ifname, strerror(-ret));
		daemon_teardown(&d);
		return 1;
	}
	level = getenv("LOG_LEVEL");
	d.verbose = level && (!strcmp(level, "verbose") ||
			      !strcmp(level, "debug"));
	if (status && status[0]) {
		const char *role = getenv("SPOKEWIRE_STATUS_ROLE");
		const char *name = getenv("SPOKEWIRE_STATUS_NAME");
		const char *dir = getenv("SPOKEWIRE_STATUS_DIR");

		/* `join --status` passes who we are through wg-quick. */
		d.status.role = role && !strcmp(role, "agent") ? "agent"
							       : "device";
		if (name)
			snprintf(d.status.name, sizeof(d.status.name), "%s",
				 name);
		if (dir && dir[0] == '/')
			snprintf(d.status.data_dir, sizeof(d.status.data_dir),
				 "%s", dir);
		ret = status_http_open(&d.status.http, &d, status, token, err,
				       sizeof(err));
		if (ret < 0) {
			fprintf(stderr, "%s: %s\n", prog_name, err);
			daemon_teardown(&d);
			return 1;
		}
	}

	if (!foreground) {
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "%s: fork: %s\n", prog_name,
				strerror(errno));
			daemon_teardown(&d);
			return 1;
		}
		if (pid > 0)
			_exit(0); /* the child owns everything now */
		detach();
	}
	daemon_log(&d, "device started, listening on port %u", d.udp.port);
	ret = daemon_run(&d);
	daemon_teardown(&d);
	return ret < 0 ? 1 : 0;
}

/* `spokewire gateway`: options (or the old containers' environment), the
 * mesh side (`spokewire up CONF`, or `spokewire join` kept running), the
 * state restored, the API, the loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "io/file.h"
#include "gateway/gateway.h"
#include "gateway/tls.h"
#include "io/loop.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: %s gateway [--config CONF] [OPTIONS]\n"
"\n"
"The public entrypoint into the mesh, managed by the edge agent's API.\n"
"The mesh side: with --config, `%s up CONF`; else it joins the controller\n"
"as `%s join` does (CONTROLLER_URL, JOIN_TOKEN, NODE_ID), key kept in\n"
"DATA_DIR.\n"
"\n"
"  --config CONF        bring the interface up from CONF (no controller)\n"
"  --api ADDR:PORT      the API (default 127.0.0.1:EDGE_AGENT_PORT); beyond\n"
"                       loopback only with AGENT_TOKEN\n"
"  --http ADDR          serve HTTP routes here (default 80: every IPv4\n"
"                       address; \"[::]:80\" for IPv6 too; \"off\")\n"
"  --https ADDR         TLS here (default 443; \"off\"): by SNI, terminated\n"
"                       with --tls-dir/HOST.crt and HOST.key (else the\n"
"                       route's *.domain pair, else default.crt), or passed\n"
"                       through to routes with \"tls\": \"passthrough\"\n"
"  --tls-dir DIR        certificates, read again when they change\n"
"  --access-log FILE    one line per request (\"-\": stdout, the default;\n"
"                       \"off\"): TIME CLIENT HOST \"METHOD PATH HTTP/V\"\n"
"                       STATUS BYTES_IN BYTES_OUT DURATION ROUTE\n"
"  --upstream-timeout S a target's answer, in seconds (default 60): 504\n"
"  --connect-timeout S  a target's accept, in seconds (default 5): 504\n"
"  --traefik-dir DIR    also write the HTTP routes as Traefik YAML there\n"
"\n"
"Mesh targets are reached through the kernel's routes (TUN mode) or, in\n"
"userspace mode (a CONF with Mode = userspace, or joining without root),\n"
"through the node's SOCKS5 proxy: [Proxy] Socks5 in CONF, or 127.0.0.1:\n"
"GATEWAY_SOCKS_PORT (10800) when joining. UDP forwards need TUN mode.\n"
"\n"
"Environment (as the containers it replaces read it): CONTROLLER_URL,\n"
"JOIN_TOKEN, NODE_ID, WG_IFACE (wg0), DATA_DIR (/data), AGENT_TOKEN (the\n"
"X-Agent-Token every call but /health must carry), EDGE_AGENT_PORT (8081),\n"
"STATE_FILE (DATA_DIR/state.json), TRAEFIK_ENTRYPOINT,\n"
"TRAEFIK_CERTRESOLVER (defaults for routes, echoed back).\n"
"\n"
"API: GET /health, GET /metrics (Prometheus; no token needed for these\n"
"two); POST/GET /http/routes, DELETE /http/routes/ID; POST/GET\n"
"/tcp/forwards, DELETE /tcp/forwards/ID. A route: {\"route_id\",\n"
"\"hostname\" (\"api.example.com\", \"*.example.com\", or \"*\": the default),\n"
"\"target_url\" (http:// or https:// and a mesh address), \"entrypoint\"?,\n"
"\"certresolver\"? (kept for Traefik), \"tls\"?: \"terminate\" | \"passthrough\",\n"
"\"redirect_https\"?: true}. Routes and forwards are served by this\n"
"process: no Traefik, no DNAT.\n",
		prog_name, prog_name, prog_name);
}

static pid_t agent_pid;

/* `spokewire join` in the background: it joins, brings the interface up
 * and keeps it in sync for as long as we run. */
static int start_agent(struct gateway *g, const char *iface,
		       const char *data_dir)
{
	char dir[4200], self[4096], sections[4300];
	bool userspace = geteuid() != 0;
	const char *url = getenv("CONTROLLER_URL"), *id = getenv("NODE_ID");

	if (!url || !id) {
		fprintf(stderr, "%s gateway: give --config CONF, or CONTROLLER_URL and NODE_ID (and JOIN_TOKEN the first time)\n",
			prog_name);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/agent", data_dir);
	mkdir(data_dir, 0700);
	if (cli_self_path(self, sizeof(self)))
		return -1;
	if (userspace) {
		/* Rootless: the node runs in userspace mode, and the gateway
		 * reaches the mesh through its SOCKS5 proxy on loopback. */
		struct sockaddr_in *a = (struct sockaddr_in *)&g->socks;
		int port = atoi(cli_env("GATEWAY_SOCKS_PORT", "10800"));
		char text[64];

		if (port < 1024 || port > 65535) {
			fprintf(stderr, "%s gateway: GATEWAY_SOCKS_PORT: 1024-65535\n", prog_name);
			return -1;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		snprintf(sections, sizeof(sections), "%s/gateway-sections.conf", data_dir);
		snprintf(text, sizeof(text), "[Proxy]\nSocks5 = 127.0.0.1:%d\n", port);
		if (file_write_atomic(sections, text, strlen(text), 0600)) {
			fprintf(stderr, "%s gateway: %s: cannot write\n", prog_name, sections);
			return -1;
		}
	}
	agent_pid = fork();
	if (agent_pid < 0)
		return -1;
	if (!agent_pid) {
		if (!getenv("WG_QUICK_USERSPACE_IMPLEMENTATION"))
			setenv("WG_QUICK_USERSPACE_IMPLEMENTATION", "spokewire", 1);
		if (getenv("JOIN_TOKEN"))
			setenv("SPOKEWIRE_JOIN_TOKEN", getenv("JOIN_TOKEN"), 1);
		if (userspace)
			execl(self, "spokewire", "join", "--controller", url,
			      "--node-id", id, "--interface", iface, "--data-dir",
			      dir, "--mode", "userspace", "--sections", sections,
			      (char *)NULL);
		else
			execl(self, "spokewire", "join", "--controller", url,
			      "--node-id", id, "--interface", iface, "--data-dir",
			      dir, (char *)NULL);
		_exit(127);
	}
	return 0;
}

static void on_signal(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) == sizeof(si))
		loop_stop(loop);
}

static void on_tick(struct loop *loop, void *arg)
{
	struct gateway *g = arg;
	int status;

	gw_api_tick(g);
	gw_http_tick(g);
	gw_forward_tick(g);
	if (agent_pid > 0 && waitpid(agent_pid, &status, WNOHANG) == agent_pid) {
		fprintf(stderr, "%s gateway: the agent (join) ended; stopping\n",
			prog_name);
		agent_pid = 0;
		loop_stop(loop);
	}
}

int cmd_gateway(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "api", required_argument, NULL, 'a' },
		{ "traefik-dir", required_argument, NULL, 't' },
		{ "http", required_argument, NULL, 'H' },
		{ "https", required_argument, NULL, 'S' },
		{ "tls-dir", required_argument, NULL, 'T' },
		{ "access-log", required_argument, NULL, 'L' },
		{ "upstream-timeout", required_argument, NULL, 'U' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *config = NULL, *data_dir = cli_env("DATA_DIR", "/data");
	const char *http = "80", *https = "443", *tls_dir = NULL, *log = "-";
	char api[64], err[512] = "";
	struct gateway g = { 0 };
	sigset_t mask;
	size_t i;
	int c, sfd, rc = 1;
	bool mesh_up = false;

	snprintf(api, sizeof(api), "127.0.0.1:%s", cli_env("EDGE_AGENT_PORT", "8081"));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'a':
			snprintf(api, sizeof(api), "%s", optarg);
			break;
		case 't':
			snprintf(g.traefik_dir, sizeof(g.traefik_dir), "%s", optarg);
			break;
		case 'H':
			http = optarg;
			break;
		case 'S':
			https = optarg;
			break;
		case 'T':
			tls_dir = optarg;
			break;
		case 'L':
			log = optarg;
			break;
		case 'U':
		case 'C':
			if (atoi(optarg) < 1 || atoi(optarg) > 86400) {
				fprintf(stderr, "%s gateway: --%s: seconds, 1-86400\n",
					prog_name, c == 'U' ? "upstream-timeout" : "connect-timeout");
				return 2;
			}
			if (c == 'U')
				g.upstream_timeout_s = (unsigned)atoi(optarg);
			else
				g.connect_timeout_s = (unsigned)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!g.upstream_timeout_s)
		g.upstream_timeout_s = 60;
	if (!g.connect_timeout_s)
		g.connect_timeout_s = 5;
	if (!strcmp(log, "-")) {
		g.access_log = stdout;
	} else if (strcmp(log, "off")) {
		g.access_log = fopen(log, "ae");
		if (!g.access_log) {
			fprintf(stderr, "%s gateway: --access-log %s: %s\n", prog_name,
				log, strerror(errno));
			return 1;
		}
	}
	g.token = getenv("AGENT_TOKEN");
	g.entrypoint = cli_env("TRAEFIK_ENTRYPOINT", "");
	g.certresolver = cli_env("TRAEFIK_CERTRESOLVER", "");
	snprintf(g.state_path, sizeof(g.state_path), "%s",
		 cli_env("STATE_FILE", ""));
	if (!g.state_path[0])
		snprintf(g.state_path, sizeof(g.state_path), "%s/state.json", data_dir);
	if (config) {
		struct conf c;
		char cerr[CONF_ERR_MAX];

		if (conf_ifname(config, g.wg_iface)) {
			fprintf(stderr, "%s gateway: %s: not IFACE.conf\n", prog_name, config);
			return 2;
		}
		if (conf_load(&c, config, cerr, NULL, NULL)) {
			fprintf(stderr, "%s gateway: %s\n", prog_name, cerr);
			return 2;
		}
		/* Userspace mode: the mesh is in the node's own stack, reached
		 * through its SOCKS5 proxy. */
		if (c.mode == CONF_MODE_USERSPACE) {
			if (!c.has_socks5) {
				fprintf(stderr, "%s gateway: %s is userspace mode: give it a [Proxy] section with Socks5 = 127.0.0.1:PORT, through which the gateway reaches the mesh\n",
					prog_name, config);
				conf_free(&c);
				return 2;
			}
			memcpy(&g.socks, &c.socks5.addr, sizeof(c.socks5.addr));
			if (!c.socks5.host[0]) { /* a bare port: loopback */
				struct sockaddr_in *a = (struct sockaddr_in *)&g.socks;

				a->sin_family = AF_INET;
				a->sin_port = htons(c.socks5.port);
				a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			}
		}
		conf_free(&c);
	} else {
		snprintf(g.wg_iface, sizeof(g.wg_iface), "%s", cli_env("WG_IFACE", "wg0"));
	}
	/* The state's directory, made if missing: better a clear error now
	 * than a 500 on the first route. */
	{
		char dir[4096], *slash;

		snprintf(dir, sizeof(dir), "%s", g.state_path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir)
			*slash = '\0';
		else
			snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "%s gateway: %s (for the state file): %s\n",
				prog_name, dir, strerror(errno));
			return 1;
		}
		if (access(dir, W_OK) < 0) {
			fprintf(stderr, "%s gateway: %s: cannot write the state file there: %s (set DATA_DIR or STATE_FILE)\n",
				prog_name, dir, strerror(errno));
			return 1;
		}
	}
	if (gw_state_load(&g, err, sizeof(err))) {
		fprintf(stderr, "%s gateway: %s: %s; kept as %s.bad, nothing restored: fix or remove it\n",
			prog_name, g.state_path, err, g.state_path);
		return 1;
	}
	/* Our listeners first: a port in use or a refused API address stops
	 * us before we touch the interface. */
	g.loop = loop_new();
	if (!g.loop || gw_persist_start(&g)) {
		fprintf(stderr, "%s gateway: cannot start: out of memory or threads\n", prog_name);
		goto out;
	}
	if (gw_api_start(&g, api, err, sizeof(err))) {
		fprintf(stderr, "%s gateway: %s\n", prog_name, err);
		goto out;
	}
	if (gw_tls_start(&g, tls_dir) ||
	    gw_http_start(&g, http, https, err, sizeof(err))) {
		fprintf(stderr, "%s gateway: %s%s\n", prog_name, err,
			strstr(err, "denied") ? " (ports below 1024 need CAP_NET_BIND_SERVICE: give --http/--https PORT)" : "");
		goto out;
	}
	if (config ? cli_spawn(NULL, (char *[]){ "spokewire", "up", (char *)config, NULL })
		   : start_agent(&g, g.wg_iface, data_dir)) {
		fprintf(stderr, "%s gateway: the mesh interface did not come up\n", prog_name);
		goto out;
	}
	mesh_up = config != NULL;
	for (i = 0; i < g.n_forwards; ++i)
		if (gw_forward_start(&g, &g.forwards[i], err, sizeof(err)))
			fprintf(stderr, "%s gateway: forward %s not restored: %s\n",
				prog_name, g.forwards[i].id, err);
	gw_traefik_write(&g);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd >= 0)
		loop_add(g.loop, sfd, LOOP_READ, on_signal, &g);
	loop_set_tick(g.loop, 100, on_tick, &g);
	fprintf(stderr, "%s gateway: API on %s, HTTP on %s, HTTPS on %s; %zu routes and %zu forwards restored from %s\n",
		prog_name, api, http, https, g.n_routes, g.n_forwards, g.state_path);
	rc = loop_run(g.loop) < 0;
	if (sfd >= 0)
		close(sfd);
out:
	if (g.loop) {
		for (i = 0; i < g.n_forwards; ++i)
			gw_forward_stop(&g, &g.forwards[i]);
		gw_persist_stop(&g);
		gw_api_stop(&g);
		gw_http_stop(&g);
		gw_tls_stop(&g);
		loop_free(g.loop);
	}
	if (agent_pid > 0) {
		char conf[4400];

		kill(agent_pid, SIGTERM);
		waitpid(agent_pid, NULL, 0);
		/* The agent leaves its interface up (a node outlives its
		 * agent); the gateway's goes with the gateway, brought down
		 * the way the agent brought it up. */
		snprintf(conf, sizeof(conf), "%s/agent/%s.conf", data_dir, g.wg_iface);
		if (access(conf, R_OK) == 0) {
			if (geteuid())
				cli_spawn(NULL, (char *[]){ "spokewire", "down", conf, NULL });
			else
				cli_spawn("wg-quick", (char *[]){ "wg-quick", "down", conf, NULL });
		}
	}
	if (mesh_up)
		cli_spawn(NULL, (char *[]){ "spokewire", "down", (char *)config, NULL });
	for (i = 0; i < g.n_routes; ++i)
		gw_route_release(&g.routes[i]);
	free(g.route_index);
	if (g.access_log && g.access_log != stdout)
		fclose(g.access_log);
	free(g.routes);
	free(g.forwards);
	free(g.mesh);
	return rc;
}

/* `spokewire join`: options, the join (retried with backoff), bringing the
 * interface up, then the netmap long-poll loop that keeps peers in sync. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "io/strbuf.h"
#include "io/file.h"
#include "conf/conf.h"
#include "cli/cli.h"

#define DEFAULT_DATA_DIR "/var/lib/spokewire/agent"
#define DEFAULT_IFACE "sw0"
#define TOKEN_ENV "SPOKEWIRE_JOIN_TOKEN"

enum { BACKOFF_MAX = 30, EXIT_REMOVED = 3 };

static volatile int stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: %s join --controller URL --token T --node-id N [OPTIONS]\n"
"\n"
"Joins a spokewire controller and keeps this node's WireGuard interface in\n"
"sync with it: creates a keypair on first run (DIR/private.key, 0600) and\n"
"reuses it, joins, writes DIR/IFACE.conf, brings the interface up with\n"
"wg-quick, then long-polls GET /netmap and applies each change live over\n"
"the UAPI socket (/var/run/wireguard/IFACE.sock) without restarting the\n"
"interface. Restarting the agent changes nothing the network can see.\n"
"\n"
"Options:\n"
"  --controller URL      the controller, e.g. http://10.0.0.1:9000\n"
"  --token T             a join token (or $" TOKEN_ENV "); needed for the\n"
"                        first join only: later runs use the node token kept\n"
"                        in DIR/state.json\n"
"  --node-id N           this node's id: 1-64 of [A-Za-z0-9._-]\n"
"  --data-dir DIR        state directory (default " DEFAULT_DATA_DIR ")\n"
"  --interface IFACE     interface name (default " DEFAULT_IFACE ")\n"
"  --role hub|spoke      the role to join as (default: the token's)\n"
"  --endpoint HOST:PORT  where peers reach this node (hubs); its port is\n"
"                        the interface's ListenPort\n"
"  --poll SECONDS        long-poll length (default %d)\n"
"  --once                join, bring up, sync once and exit\n"
"  --no-up               never run wg-quick; sync only if the device exists\n"
"  --mode tun|userspace  userspace: no TUN, no root; the interface runs as\n"
"                        `spokewire up` would run it (default tun)\n"
"  --sections FILE       this node's own [Egress], [Proxy], [Forward],\n"
"                        [Expose], [Policy], kept in its config through\n"
"                        every change (brought up by `spokewire up`)\n"
"  --status ADDR:PORT    the device serves GET /health, /status, /metrics\n"
"                        there (a bare PORT: the overlay addresses only);\n"
"                        needs WG_QUICK_USERSPACE_IMPLEMENTATION=spokewire\n"
"  --status-token T      requests must carry Authorization: Bearer T\n"
"  -h, --help            this text\n"
"\n"
"wg-quick uses the kernel's WireGuard when it can, else the userspace\n"
"implementation named by WG_QUICK_USERSPACE_IMPLEMENTATION (set it to\n"
"spokewire for ours). Exit status 3: the controller removed this node.\n",
		prog_name, AGENT_POLL_DEFAULT);
}

/* --sections FILE: the node's own [Egress], [Proxy], [Forward], [Expose]
 * and [Policy], checked the way `up` will read them. */
static int load_sections(struct agent *a, const char *path)
{
	static const char *const allowed[] = { "[Egress]", "[Proxy]",
		"[Forward]", "[Expose]", "[Policy]" };
	char err[CONF_ERR_MAX], *line, *save = NULL, *copy;
	size_t len, i;
	int ret;

	ret = file_read_all(path, 1 << 20, &a->sections, &len);
	if (ret) {
		fprintf(stderr, "join: --sections %s: %s\n", path, strerror(-ret));
		return ret;
	}
	copy = strdup(a->sections);
	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " \t");
		if (line[0] != '[')
			continue;
		for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); ++i)
			if (!strncasecmp(line, allowed[i], strlen(allowed[i])))
				break;
		if (i == sizeof(allowed) / sizeof(allowed[0])) {
			fprintf(stderr, "join: --sections %s: %s is not one of [Egress], [Proxy], [Forward], [Expose], [Policy] (the rest comes from the controller)\n",
				path, line);
			free(copy);
			return -EINVAL;
		}
	}
	free(copy);
	/* What the parser says, on a config of just these sections. */
	{
		struct strbuf t = { 0 };
		struct conf c;

		strbuf_printf(&t, "[Interface]\nPrivateKey = %s\nAddress = 10.255.255.1/32\n%s\n%s",
			      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			      a->userspace ? "Mode = userspace" : "", a->sections);
		ret = t.failed ? -ENOMEM
			       : conf_parse(&c, path, t.s, t.len, err, NULL, NULL);
		strbuf_free(&t);
		if (ret == -EINVAL) {
			fprintf(stderr, "join: --sections: %s (line numbers count from a 4-line [Interface] before the file)\n", err);
			return ret;
		}
		if (!ret)
			conf_free(&c);
	}
	return ret;
}

static void sleep_s(unsigned int s)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 100000000 };
	unsigned int i;

	for (i = 0; i < s * 10 && !stop; ++i)
		nanosleep(&ts, NULL);
}

/* The config's [Interface] part, with our private key filled in. */
static char *interface_section(const struct agent *a, const char *config)
{
	char b64[KEY_B64_LEN + 1], *out, *line;
	const char *end = strstr(config, "\n[Peer]");
	size_t len = end ? (size_t)(end - config) + 1 : strlen(config);
	size_t cap = len + 2 * KEY_B64_LEN + 64, off = 0;
	const char *p = config, *nl;

	out = malloc(cap);
	if (!out)
		return NULL;
	key_to_base64(b64, a->private_key);
	while (p < config + len) {
		nl = memchr(p, '\n', (size_t)(config + len - p));
		line = (char *)p;
		if (!nl)
			nl = config + len;
		if (!strncmp(line, "# PrivateKey", 12))
			off += (size_t)snprintf(out + off, cap - off,
						"PrivateKey = %s\n", b64);
		else if (off + (size_t)(nl - p) + 2 < cap)
			off += (size_t)snprintf(out + off, cap - off, "%.*s\n",
						(int)(nl - p), p);
		p = nl + 1;
	}
	memzero(b64, sizeof(b64));
	return out;
}

/* Joins (node token first, then the join token); 0, or -errno when
 * retrying cannot help. The caller owns *resp. */
static int join(struct agent *a, json_t **resp)
{
	unsigned int backoff = 1;
	long status;

	while (!stop) {
		status = 0;
		if (a->node_token[0]) {
			status = client_join(a, false, resp);
			if (status == 401)
				a->node_token[0] = '\0';
		}
		if (status != 200 && a->join_token)
			status = client_join(a, true, resp);
		if (status == 200)
			return 0;
		if (status == 401 && !a->join_token) {
			fprintf(stderr, "join: no valid credential: give a "
					"join token with --token\n");
			return -EPERM;
		}
		if (status >= 400 && status < 500 && status != 429 &&
		    status != 401)
			return -EINVAL;
		sleep_s(backoff);
		backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
	}
	return -EINTR;
}

static int apply(struct agent *a, json_t *peers)
{
	int ret = agent_write_config(a, peers);

	if (ret)
		fprintf(stderr, "join: cannot write the config: %s\n",
			strerror(-ret));
	if (!device_present(a->iface))
		return a->no_up ? 0 : -ENODEV;
	return device_sync(a, peers);
}

static int start(struct agent *a)
{
	json_t *resp = NULL, *v;
	const char *s;
	int ret;

	ret = join(a, &resp);
	if (ret)
		return ret;
	s = json_string_value(json_object_get(resp, "node_token"));
	v = json_object_get(resp, "peers");
	if (!s || strlen(s) > AGENT_TOKEN_MAX || !json_is_array(v) ||
	    !json_is_string(json_object_get(resp, "config"))) {
		fprintf(stderr, "join: the controller's answer lacks fields\n");
		json_decref(resp);
		return -EPROTO;
	}
	snprintf(a->node_token, sizeof(a->node_token), "%s", s);
	a->version = json_integer_value(json_object_get(resp, "version"));
	free(a->iface_section);
	a->iface_section = interface_section(
		a, json_string_value(json_object_get(resp, "config")));
	fprintf(stderr, "join: joined as %s, address %s\n", a->node_id,
		json_string_value(json_object_get(resp, "address")));
	ret = agent_save_state(a);
	if (!ret)
		ret = agent_write_config(a, v);
	if (!ret && !a->no_up && !device_present(a->iface))
		ret = device_up(a);
	if (!ret)
		ret = apply(a, v);
	json_decref(resp);
	return ret;
}

static int loop(struct agent *a)
{
	unsigned int backoff = 1;
	json_t *nm, *peers;
	long status;
	int64_t v;

	while (!stop) {
		status = client_netmap(a, &nm);
		if (stop) {
			/* A signal during the poll: its answer too is ours. */
			json_decref(nm);
			break;
		}
		if (status == 401) {
			fprintf(stderr, "join: the controller no longer knows "
					"this node; removing its peers\n");
			peers = json_array();
			apply(a, peers);
			json_decref(peers);
			return EXIT_REMOVED;
		}
		if (status != 200) {
			json_decref(nm);
			sleep_s(backoff);
			backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX
							    : backoff * 2;
			continue;
		}
		backoff = 1;
		v = json_integer_value(json_object_get(nm, "version"));
		peers = json_object_get(nm, "peers");
		if (v != a->version && json_is_array(peers)) {
			if (!apply(a, peers)) {
				a->version = v;
				agent_save_state(a);
			}
		}
		json_decref(nm);
	}
	return 0;
}

int cmd_join(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "controller", required_argument, NULL, 'c' },
		{ "token", required_argument, NULL, 't' },
		{ "node-id", required_argument, NULL, 'n' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "interface", required_argument, NULL, 'i' },
		{ "role", required_argument, NULL, 'r' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "poll", required_argument, NULL, 'p' },
		{ "once", no_argument, NULL, 'o' },
		{ "no-up", no_argument, NULL, 'N' },
		{ "status", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "sections", required_argument, NULL, 'S' },
		{ "status-token", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct agent a = {
		.data_dir = DEFAULT_DATA_DIR,
		.iface = DEFAULT_IFACE,
		.poll = AGENT_POLL_DEFAULT,
		.stop = &stop,
	};
	struct sigaction sa = { .sa_handler = on_signal };
	const char *status = NULL, *status_token = NULL, *impl, *sections = NULL;
	char *url = NULL;
	int c, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a.controller = optarg;
			break;
		case 't':
			a.join_token = optarg;
			break;
		case 'n':
			a.node_id = optarg;
			break;
		case 'd':
			a.data_dir = optarg;
			break;
		case 'i':
			a.iface = optarg;
			break;
		case 'r':
			a.role = optarg;
			break;
		case 'e':
			a.endpoint = optarg;
			break;
		case 'p':
			a.poll = (unsigned int)atoi(optarg);
			break;
		case 'o':
			a.once = true;
			break;
		case 'N':
			a.no_up = true;
			break;
		case 's':
			status = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "userspace")) {
				a.userspace = true;
			} else if (strcmp(optarg, "tun")) {
				fprintf(stderr, "join: --mode tun or userspace, not '%s'\n", optarg);
				return 1;
			}
			break;
		case 'S':
			sections = optarg;
			break;
		case 'T':
			status_token = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!a.join_token)
		a.join_token = getenv(TOKEN_ENV);
	if (!a.controller || !a.node_id || optind != argc || a.poll < 1 ||
	    a.poll > 120 || strlen(a.iface) > 15 || !a.iface[0] ||
	    strchr(a.iface, '/')) {
		usage(stderr);
		return 1;
	}
	if (sections && load_sections(&a, sections))
		return 1;
	if (status) {
		/* The device wg-quick starts serves it: spokewire reads these
		 * from its environment. */
		impl = getenv("WG_QUICK_USERSPACE_IMPLEMENTATION");
		if (!a.userspace && !a.sections && (!impl || !strstr(impl, "spokewire")))
			fprintf(stderr, "join: --status is served by the spokewire device: set WG_QUICK_USERSPACE_IMPLEMENTATION=spokewire (and no kernel WireGuard module)\n");
		setenv("SPOKEWIRE_STATUS", status, 1);
		if (status_token)
			setenv("SPOKEWIRE_STATUS_TOKEN", status_token, 1);
		setenv("SPOKEWIRE_STATUS_ROLE", "agent", 1);
		setenv("SPOKEWIRE_STATUS_NAME", a.node_id, 1);
		setenv("SPOKEWIRE_STATUS_DIR", a.data_dir, 1);
	}
	url = strdup(a.controller);
	if (!url)
		return 1;
	while (*url && url[strlen(url) - 1] == '/')
		url[strlen(url) - 1] = '\0';
	a.controller = url;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (client_init())
		goto out;
	if (agent_load_key(&a) || agent_load_state(&a)) {
		fprintf(stderr, "join: cannot use %s\n", a.data_dir);
		goto out_client;
	}
	ret = start(&a);
	if (ret) {
		if (ret != -EINTR)
			fprintf(stderr, "join: %s\n", strerror(-ret));
		ret = ret == -EINTR ? 0 : 1;
		goto out_client;
	}
	ret = a.once ? 0 : loop(&a);
out_client:
	client_cleanup();
out:
	memzero(a.private_key, sizeof(a.private_key));
	memzero(a.node_token, sizeof(a.node_token));
	if (a.iface_section) {
		memzero(a.iface_section, strlen(a.iface_section));
		free(a.iface_section);
	}
	json_decref(a.applied);
	free(a.sections);
	free(url);
	return ret;
}

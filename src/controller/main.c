/* `spokewire controller`: options, the master key, and the daemon's life:
 * open the store, start the netmap watch and HTTP, wait for a signal. */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "controller/controller.h"
#include "controller/registry.h"
#include "controller/request.h"
#include "controller/store.h"

#define DEFAULT_LISTEN "127.0.0.1:9000"
#define DEFAULT_NETWORK "10.50.0.0/16"
#define DEFAULT_DATA_DIR "/var/lib/spokewire"
#define MASTER_KEY_ENV "SPOKEWIRE_MASTER_KEY"

enum { MASTER_KEY_MIN_LEN = 16, MASTER_KEY_MAX_LEN = 256 };

struct options {
	const char *listen;
	const char *network;
	const char *endpoint;
	const char *data_dir;
	const char *store;
	const char *master_key_file;
	const char *dns;
	bool exit;
	unsigned long threads;
	unsigned long body_limit;
	unsigned long poll_max;
	unsigned long auth_burst;
	unsigned long auth_rate;
	unsigned long watch_ms;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: %s controller [OPTIONS]\n"
"\n"
"The registry of a spokewire network and its HTTP JSON API. Nodes join with a\n"
"token and get an address and their peers; users get API keys and device\n"
"configs; hubs long-poll their netmap, so removals reach them in seconds.\n"
"\n"
"Options:\n"
"  --listen ADDR:PORT       where the API listens (default " DEFAULT_LISTEN ");\n"
"                           [::1]:9000 for IPv6, port 0 picks a free one.\n"
"                           There is no TLS: listen on localhost or a private\n"
"                           network, or put a TLS proxy in front.\n"
"  --network CIDR[,CIDR]    the overlay network, one IPv4 and/or one IPv6\n"
"                           prefix (default " DEFAULT_NETWORK "), e.g.\n"
"                           10.50.0.0/16,fd50::/64. A node's IPv6 address\n"
"                           mirrors its IPv4 one. A store keeps the network it\n"
"                           was created with; a different --network is refused.\n"
"  --endpoint HOST:PORT     the hub's public endpoint, written into spoke and\n"
"                           device configs when the hub joined without one.\n"
"  --exit                   the hub is an exit ([Egress]): device configs route\n"
"                           everything through it (AllowedIPs = 0.0.0.0/0, ::/0).\n"
"  --dns ADDR[,ADDR]        the DNS line of device configs (with --exit: a\n"
"                           resolver the exit lets them reach).\n"
"  --data-dir DIR           state directory (default " DEFAULT_DATA_DIR "),\n"
"                           created 0700.\n"
"  --store sqlite:PATH      SQLite database (default sqlite:DIR/controller.db)\n"
"  --store postgres://...   PostgreSQL (a libpq URL); run several controllers\n"
"                           on one database for redundancy: addresses stay\n"
"                           unique across them.\n"
"  --master-key-file PATH   read the master API key from PATH (0600).\n"
"  --threads N              HTTP worker threads (default %d).\n"
"  --body-limit BYTES       largest request body; larger gets 413 (default %d).\n"
"  --poll-max SECONDS       longest GET /netmap hold (default %d).\n"
"  --auth-burst N           failed authentications a source may make before\n"
"                           it gets 429 (default %d) ...\n"
"  --auth-rate N            ... of which N per second are forgiven (default %d).\n"
"  --watch-interval-ms MS   how often held polls re-read the store's version\n"
"                           (default 250); what another controller on the same\n"
"                           PostgreSQL changed reaches our polls this fast.\n"
"  -h, --help               this text.\n"
"\n"
"Master key: --master-key-file, else $" MASTER_KEY_ENV ". With neither, the\n"
"first start generates one, prints it once on stdout and keeps only its hash;\n"
"later starts reuse the stored hash. A key given explicitly replaces the\n"
"stored hash.\n"
"\n"
"API (JSON; Authorization: Bearer KEY, the master key or a user's api_key):\n"
"  POST /tokens {\"role\":\"spoke\"|\"hub\",\"uses\":10,\"expires_in\":3600}  master\n"
"  GET /tokens, DELETE /tokens/ID                                  master\n"
"  POST /join {\"node_id\",\"public_key\",\"endpoint\"?,\"role\"?}   X-Join-Token\n"
"       answers address, peers, a wg-quick config without the private key and\n"
"       the node_token. The same node_id and key answer the same again; a new\n"
"       key rotates it and keeps the address (also with Bearer NODE_TOKEN).\n"
"  GET /netmap?since=V&timeout=S   Bearer NODE_TOKEN; held until the version\n"
"       passes V or S seconds (default %d) pass\n"
"  POST /users {\"client_id\"} master; GET /users any key;\n"
"  GET /users/ID master or that user; DELETE /users/ID master\n"
"  POST /users/ID/devices {\"name\"?}[?format=json|conf|svg|ansi]  master or\n"
"       that user: a new keypair and address as a wg-quick config or QR code;\n"
"       the private key is not stored\n"
"  GET /nodes, GET/DELETE /nodes/ID  master\n"
"  GET /health, GET /metrics (Prometheus)  no credential\n"
"\n"
"Example:\n"
"  %s controller --data-dir /var/lib/spokewire --endpoint hub.example.net:51820\n"
"  curl -H \"Authorization: Bearer $KEY\" -d '{\"uses\":5}' localhost:9000/tokens\n",
		prog_name, THREADS_DEFAULT, BODY_LIMIT_DEFAULT, POLL_MAX_SEC,
		AUTH_BURST_DEFAULT, AUTH_RATE_DEFAULT, POLL_DEFAULT_SEC,
		prog_name);
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || *out < min || *out > max)
		return -EINVAL;
	return 0;
}

/* A copy of the key the caller wipes and frees, or NULL with *err set. */
static char *read_master_key(const char *path, int *err)
{
	char buf[MASTER_KEY_MAX_LEN + 2], *key = NULL;
	struct stat st;
	size_t n;
	FILE *f;

	*err = 0;
	if (path) {
		f = fopen(path, "re");
		if (!f) {
			*err = -errno;
			fprintf(stderr, "controller: %s: %s\n", path,
				strerror(errno));
			return NULL;
		}
		if (!fstat(fileno(f), &st) && (st.st_mode & 077))
			fprintf(stderr, "controller: warning: %s is readable "
					"by others; chmod 600 it\n",
				path);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
	} else {
		const char *env = getenv(MASTER_KEY_ENV);

		if (!env)
			return NULL;
		snprintf(buf, sizeof(buf), "%s", env);
		/* Children need not see it. */
		unsetenv(MASTER_KEY_ENV);
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n < MASTER_KEY_MIN_LEN || n > MASTER_KEY_MAX_LEN ||
	    strpbrk(buf, " \t")) {
		fprintf(stderr, "controller: the master key must be %d-%d "
				"characters without spaces\n",
			MASTER_KEY_MIN_LEN, MASTER_KEY_MAX_LEN);
		*err = -EINVAL;
	} else {
		key = strdup(buf);
		if (!key)
			*err = -ENOMEM;
	}
	memzero(buf, sizeof(buf));
	return key;
}

static int parse_options(int argc, char *argv[], struct options *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "network", required_argument, NULL, 'n' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "store", required_argument, NULL, 's' },
		{ "master-key-file", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 't' },
		{ "body-limit", required_argument, NULL, 'b' },
		{ "poll-max", required_argument, NULL, 'p' },
		{ "auth-burst", required_argument, NULL, 'B' },
		{ "auth-rate", required_argument, NULL, 'R' },
		{ "watch-interval-ms", required_argument, NULL, 'W' },
		{ "exit", no_argument, NULL, 'X' },
		{ "dns", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, ret = 0;

	*o = (struct options){
		.listen = DEFAULT_LISTEN,
		.network = DEFAULT_NETWORK,
		.endpoint = "",
		.data_dir = DEFAULT_DATA_DIR,
		.threads = THREADS_DEFAULT,
		.body_limit = BODY_LIMIT_DEFAULT,
		.poll_max = POLL_MAX_SEC,
		.auth_burst = AUTH_BURST_DEFAULT,
		.auth_rate = AUTH_RATE_DEFAULT,
		.watch_ms = 250,
	};
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			o->listen = optarg;
			break;
		case 'n':
			o->network = optarg;
			break;
		case 'e':
			o->endpoint = optarg;
			break;
		case 'd':
			o->data_dir = optarg;
			break;
		case 's':
			o->store = optarg;
			break;
		case 'k':
			o->master_key_file = optarg;
			break;
		case 't':
			ret = parse_ulong(optarg, 1, 256, &o->threads);
			break;
		case 'b':
			ret = parse_ulong(optarg, 256, 64 << 20, &o->body_limit);
			break;
		case 'p':
			ret = parse_ulong(optarg, 1, 3600, &o->poll_max);
			break;
		case 'B':
			ret = parse_ulong(optarg, 1, 1000000, &o->auth_burst);
			break;
		case 'R':
			ret = parse_ulong(optarg, 0, 1000000, &o->auth_rate);
			break;
		case 'X':
			o->exit = true;
			break;
		case 'D':
			o->dns = optarg;
			if (strlen(optarg) > 200 || strspn(optarg, "0123456789abcdefABCDEF.:, ") != strlen(optarg))
				ret = -EINVAL;
			break;
		case 'W':
			ret = parse_ulong(optarg, 10, 60000, &o->watch_ms);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
		if (ret) {
			fprintf(stderr, "%s controller: bad option value: %s\n",
				prog_name, optarg);
			return ret;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s controller: unexpected argument: %s\n",
			prog_name, argv[optind]);
		return -EINVAL;
	}
	if (*o->endpoint && !endpoint_valid(o->endpoint)) {
		fprintf(stderr, "%s controller: --endpoint: HOST:PORT expected\n",
			prog_name);
		return -EINVAL;
	}
	return 0;
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "controller: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

static int run(struct controller *ctl, const struct options *o)
{
	sigset_t set;
	int sig, ret;

	ctl->rl = ratelimit_new(o->auth_burst, o->auth_rate);
	if (!ctl->rl)
		return -ENOMEM;
	ret = watch_start(ctl);
	if (ret)
		goto out;
	/* Workers inherit this mask; only sigwait() below sees signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ret = http_start(ctl, o->listen, o->threads);
	if (ret) {
		fprintf(stderr, "controller: cannot listen on %s\n", o->listen);
		goto out_watch;
	}
	fprintf(stderr,
		"controller: listening on %s (port %d), network %s, store %s\n",
		o->listen, http_port(ctl), ctl->net.text, ctl->store->desc);
	do {
		if (sigwait(&set, &sig))
			break;
	} while (sig == SIGHUP);
	fprintf(stderr, "controller: shutting down\n");
out_watch:
	watch_stop(ctl);
	http_stop(ctl);
	watch_free(ctl);
out:
	ratelimit_free(ctl->rl);
	return ret;
}

int cmd_controller(int argc, char *argv[])
{
	char generated[SECRET_TEXT_LEN + 1] = "", url[4096];
	struct controller *ctl;
	const char *why = "";
	struct options o;
	char *master = NULL;
	int ret;

	if (parse_options(argc, argv, &o)) {
		fprintf(stderr, "Try '%s controller --help'.\n", prog_name);
		return 1;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return 1;
	ret = network_parse(&ctl->net, o.network);
	if (ret) {
		fprintf(stderr, "%s controller: --network: an IPv4 prefix "
				"/8-/30 and/or an IPv6 prefix /16-/124 with "
				"no host bits, e.g. 10.50.0.0/16,fd50::/64\n",
			prog_name);
		goto out;
	}
	snprintf(ctl->endpoint, sizeof(ctl->endpoint), "%s", o.endpoint);
	snprintf(ctl->dns, sizeof(ctl->dns), "%s", o.dns ? o.dns : "");
	ctl->exit = o.exit;
	ctl->body_limit = o.body_limit;
	ctl->poll_max = (unsigned int)o.poll_max;
	ctl->poll_default = POLL_DEFAULT_SEC < o.poll_max ? POLL_DEFAULT_SEC
							  : o.poll_max;
	ctl->watch_interval_ms = (unsigned int)o.watch_ms;
	signal(SIGPIPE, SIG_IGN);
	umask(077);

	master = read_master_key(o.master_key_file, &ret);
	if (ret)
		goto out;
	if (!o.store) {
		ret = make_dir(o.data_dir);
		if (ret)
			goto out;
		snprintf(url, sizeof(url), "sqlite:%s/controller.db",
			 o.data_dir);
		o.store = url;
	} else if (!strncmp(o.store, "sqlite:", 7)) {
		make_dir(o.data_dir);
	}
	ctl->store = store_open(o.store, (unsigned int)o.threads + 2, &ret);
	if (!ctl->store) {
		fprintf(stderr, "%s controller: cannot open store %s\n",
			prog_name,
			strncmp(o.store, "sqlite:", 7) ? "(postgres)" : o.store);
		goto out;
	}
	ret = registry_init(ctl, master, generated, &why);
	if (ret) {
		fprintf(stderr, "%s controller: %s\n", prog_name, why);
		goto out;
	}
	if (*generated) {
		printf("spokewire controller: generated the master API key. It "
		       "is stored only as a hash;\nsave it now, it will not be "
		       "shown again:\n%s\n",
		       generated);
		fflush(stdout);
		memzero(generated, sizeof(generated));
	}
	ret = run(ctl, &o);
out:
	if (master) {
		memzero(master, strlen(master));
		free(master);
	}
	store_close(ctl->store);
	memzero(ctl, sizeof(*ctl));
	free(ctl);
	return ret ? 1 : 0;
}

/* `spokewire topology FILE [--out DIR]`: every node's config from one
 * topology file (src/conf/topology.c). Keys are made once and read back
 * from DIR on later runs, as are addresses the file leaves to us; nothing
 * is written unless the whole file is valid, and an unchanged file is left
 * alone (same bytes, same mtime). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "conf/topology.h"
#include "controller/netmap.h"
#include "crypto/crypto.h"
#include "io/file.h"

enum {
	TOPO_FILE_MAX = 4 << 20,
	PATH_LEN = 4096,
	MAX_ROTATE = 64,
};

/* The options: getopt's table and --help are made from this one. */
static const struct {
	const char *name;
	const char *arg;
	int val;
	const char *help;
} options[] = {
	{ "out", "DIR", 'o', "where configs go: DIR/NAME/IFACE.conf and DIR/summary.txt (default: .)" },
	{ "rotate", "NAME", 'r', "give NAME a new key (repeatable); the hub's config follows" },
	{ "qr", "NAME", 'q', "print NAME's config as a QR code (for the phone apps)" },
	{ "svg", "FILE", 's', "with --qr: write the QR code to FILE as SVG instead" },
	{ "help", NULL, 'h', "this help" },
};
enum { NOPTS = sizeof(options) / sizeof(options[0]) };

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: %s topology FILE [--out DIR] [--rotate NAME]... [--qr NAME [--svg FILE]]\n\n"
		"Writes the config of every node of the hub-and-spoke network FILE\n"
		"describes, for `%s up`:\n\n"
		"  [Network]  Name, Address (10.50.0.0/16[, fd50::/64]), ListenPort,\n"
		"             PersistentKeepalive (25), SpokeToSpoke (all|group|none, or\n"
		"             GROUP, ...: within those groups only), Interface (wg0)\n"
		"  [Hub]      Name, Endpoint (HOST:PORT spokes reach), Address (the first\n"
		"             of the network), Mode (tun|userspace), Expose = PORT -> HOST:PORT,\n"
		"             Services, HubOriginates\n"
		"  [Spoke]    Name, Address (the next free one), Group, Mode, Services\n\n"
		"Keys are made on the first run and kept: a rerun of an unchanged file\n"
		"rewrites nothing, and adding a spoke neither renumbers nor rekeys the\n"
		"others. A file with an error writes nothing.\n\nOptions:\n",
		prog_name, prog_name);
	for (i = 0; i < NOPTS; ++i) {
		char opt[32];

		snprintf(opt, sizeof(opt), "--%s%s%s", options[i].name,
			 options[i].arg ? " " : "",
			 options[i].arg ? options[i].arg : "");
		fprintf(f, "  %-16s %s\n", opt, options[i].help);
	}
}

static int node_path(char *out, const char *dir, const char *name,
		     const char *iface)
{
	int n = snprintf(out, PATH_LEN, "%s/%s/%s.conf", dir, name, iface);

	return n < 0 || n >= PATH_LEN ? -ENAMETOOLONG : 0;
}

/* What a previous run wrote for node n: its key, and its address when the
 * file leaves the address to us. A missing file is a new node; one that
 * cannot be read is an error (its key would be lost). */
static int read_previous(struct topo_node *n, const char *path)
{
	char cerr[CONF_ERR_MAX];
	struct conf c;
	size_t i;
	int ret;

	if (access(path, F_OK))
		return 0;
	ret = conf_load(&c, path, cerr, NULL, NULL);
	if (ret < 0) {
		fprintf(stderr, "%s: cannot read %s, written by an earlier run (%s): fix or remove it\n",
			prog_name, path, cerr);
		return ret;
	}
	memcpy(n->private_key, c.private_key, KEY_LEN);
	for (i = 0; i < c.n_addrs; ++i) {
		if (c.addrs[i].family == AF_INET) {
			memcpy(n->prev_addr4, c.addrs[i].ip, 4);
			n->has_prev_addr = true;
			break;
		}
	}
	conf_free(&c);
	return 1;
}

static int mkdir_private(const char *path)
{
	if (!mkdir(path, 0700) || errno == EEXIST)
		return 0;
	return -errno;
}

/* Writes text to path unless it already holds exactly that. 1 written,
 * 0 unchanged, -errno. */
static int write_if_changed(const char *path, const char *text)
{
	size_t len = strlen(text), have_len;
	char *have = NULL;
	int same;

	if (!file_read_all(path, TOPO_FILE_MAX, &have, &have_len)) {
		same = have_len == len && !memcmp(have, text, len);
		memzero(have, have_len);
		free(have);
		if (same)
			return 0;
	}
	return file_write_atomic(path, text, len, 0600) ?: 1;
}

static void free_configs(char **cfg, size_t n)
{
	size_t i;

	for (i = 0; cfg && i < n; ++i) {
		if (cfg[i]) {
			memzero(cfg[i], strlen(cfg[i]));
			free(cfg[i]);
		}
	}
	free(cfg);
}

static int show_qr(const char *text, const char *svg)
{
	size_t len;
	char *out = svg ? qr_svg(text, &len) : qr_ansi(text, &len);
	int ret = 0;

	if (!out)
		return -ENOMEM;
	if (svg)
		ret = file_write_atomic(svg, out, len, 0600);
	else if (fwrite(out, 1, len, stdout) != len)
		ret = -EIO;
	memzero(out, len);
	free(out);
	return ret;
}

int cmd_topology(int argc, char *argv[])
{
	struct option opts[NOPTS + 1] = { { 0 } };
	const char *dir = ".", *qr = NULL, *svg = NULL, *rotate[MAX_ROTATE];
	char err[CONF_ERR_MAX], path[PATH_LEN], *text = NULL, *summary = NULL;
	char **cfg = NULL;
	struct topology t = { 0 };
	size_t len, i, nrot = 0, written = 0;
	int opt, ret, rc = 1, qi = -1;

	for (i = 0; i < NOPTS; ++i)
		opts[i] = (struct option){ options[i].name,
					   options[i].arg ? required_argument
							  : no_argument,
					   NULL, options[i].val };
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			dir = optarg;
			break;
		case 'r':
			if (nrot == MAX_ROTATE) {
				fprintf(stderr, "%s: at most %d --rotate\n",
					prog_name, MAX_ROTATE);
				return 1;
			}
			rotate[nrot++] = optarg;
			break;
		case 'q':
			qr = optarg;
			break;
		case 's':
			svg = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind + 1 != argc || (svg && !qr)) {
		usage(stderr);
		return 1;
	}
	ret = file_read_all(argv[optind], TOPO_FILE_MAX, &text, &len);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, argv[optind],
			strerror(-ret));
		return 1;
	}
	ret = topology_parse(&t, argv[optind], text, len, err);
	free(text);
	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		return 1;
	}
	for (i = 0; i < nrot; ++i) {
		if (topology_find(&t, rotate[i]) < 0) {
			fprintf(stderr, "%s: --rotate %s: no node of that name in %s\n",
				prog_name, rotate[i], argv[optind]);
			goto out;
		}
	}
	if (qr) {
		qi = topology_find(&t, qr);
		if (qi < 0) {
			fprintf(stderr, "%s: --qr %s: no node of that name in %s\n",
				prog_name, qr, argv[optind]);
			goto out;
		}
	}
	/* Keys and addresses from the last run; new keys for the rest. */
	for (i = 0; i < t.n; ++i) {
		struct topo_node *n = &t.nodes[i];
		bool fresh = true;
		size_t r;

		ret = node_path(path, dir, n->name, t.iface);
		if (ret < 0) {
			fprintf(stderr, "%s: %s/%s: path too long\n",
				prog_name, dir, n->name);
			goto out;
		}
		ret = read_previous(n, path);
		if (ret < 0)
			goto out;
		if (ret == 1)
			fresh = false;
		for (r = 0; r < nrot; ++r)
			if (topology_find(&t, rotate[r]) == (int)i)
				fresh = true;
		if (fresh)
			curve25519_generate_secret(n->private_key);
		if (!curve25519_public(n->public_key, n->private_key)) {
			fprintf(stderr, "%s: %s: the key in %s is not usable\n",
				prog_name, n->name, path);
			goto out;
		}
	}
	if (topology_assign(&t, err) < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto out;
	}
	/* Everything rendered before anything is written. */
	cfg = calloc(t.n, sizeof(*cfg));
	summary = topology_summary(&t);
	if (!cfg || !summary)
		goto oom;
	for (i = 0; i < t.n; ++i) {
		cfg[i] = topology_render(&t, i);
		if (!cfg[i])
			goto oom;
	}
	ret = mkdir_private(dir);
	for (i = 0; !ret && i < t.n; ++i) {
		snprintf(path, sizeof(path), "%s/%s", dir, t.nodes[i].name);
		ret = mkdir_private(path);
		if (!ret)
			ret = node_path(path, dir, t.nodes[i].name, t.iface);
		if (!ret)
			ret = write_if_changed(path, cfg[i]);
		if (ret > 0) {
			written++;
			ret = 0;
		}
	}
	if (!ret) {
		snprintf(path, sizeof(path), "%s/summary.txt", dir);
		ret = write_if_changed(path, summary);
		if (ret > 0)
			ret = 0;
	}
	if (ret < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, path, strerror(-ret));
		goto out;
	}
	fprintf(qr && !svg ? stderr : stdout,
		"%s: %zu nodes in %s: %zu configs written, %zu unchanged\n",
		argv[optind], t.n, dir, written, t.n - written);
	if (qi >= 0) {
		ret = show_qr(cfg[qi], svg);
		if (ret < 0) {
			fprintf(stderr, "%s: QR code: %s\n", prog_name,
				strerror(-ret));
			goto out;
		}
	}
	rc = 0;
	goto out;
oom:
	fprintf(stderr, "%s: out of memory\n", prog_name);
out:
	free_configs(cfg, t.n);
	free(summary);
	topology_free(&t);
	return rc;
}

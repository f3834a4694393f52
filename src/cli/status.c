/* `spokewire status [IFACE | URL | CONF] [--json] [--token T]`: what a
 * daemon says about itself, in a terminal: `wg show`'s content plus
 * health, handshake ages and the diagnostics with their hints. IFACE asks
 * the control socket (wherever it is: rootless daemons keep theirs in a
 * private directory); URL fetches URL/status; CONF names the interface.
 * A daemon that is not ours (wireguard-go) gets the plain UAPI view. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "io/strbuf.h"
#include "uapi/uapi.h"

enum { FETCH_MAX = 16 << 20 };

struct style {
	const char *bold, *green, *yellow, *red, *dim, *off;
};

static const struct style plain = { "", "", "", "", "", "" };
static const struct style ansi = { "\033[1m", "\033[32m", "\033[33m",
				   "\033[31m", "\033[2m", "\033[0m" };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s status [IFACE | URL | CONF] [--json] [--token TOKEN]\n"
		"\n"
		"Shows an interface's state: peers with their endpoints, allowed IPs,\n"
		"latest handshake and its age, transfer; health (pass, warn, fail);\n"
		"why handshakes or packets were refused, with what to check; in\n"
		"userspace mode the stack's and relays' figures.\n"
		"  IFACE  asks the daemon over its control socket (also a rootless\n"
		"         one's, outside /var/run/wireguard)\n"
		"  URL    fetches URL/status from a Status listener (--token for its\n"
		"         StatusToken)\n"
		"  CONF   a config file `%s up` started: its interface\n"
		"Without an argument, every interface with a socket in\n"
		"/var/run/wireguard. --json prints the /status document. Colour\n"
		"only on a terminal. Exit status 0 for pass, 1 for warn or fail,\n"
		"2 when the daemon cannot be asked.\n",
		prog_name, prog_name);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct strbuf *b = arg;

	if (b->len + size * n > FETCH_MAX)
		return 0;
	strbuf_printf(b, "%.*s", (int)(size * n), p);
	return b->failed ? 0 : size * n;
}

static json_t *fetch_url(const char *url, const char *token, char *err,
			 size_t errlen)
{
	struct curl_slist *h = NULL;
	struct strbuf b = { 0 }, u = { 0 }, auth = { 0 };
	json_t *doc = NULL;
	json_error_t je;
	long code = 0;
	CURLcode rc;
	CURL *c;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	strbuf_printf(&u, "%s%s", url,
		      strlen(url) > 7 && !strcmp(url + strlen(url) - 7, "/status")
			      ? ""
			      : url[strlen(url) - 1] == '/' ? "status" : "/status");
	if (token) {
		strbuf_printf(&auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth.s);
	}
	curl_easy_setopt(c, CURLOPT_URL, u.s);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "%s: %s", u.s, curl_easy_strerror(rc));
	else if (code != 200)
		snprintf(err, errlen, "%s: HTTP %ld%s", u.s, code,
			 code == 401 ? " (a StatusToken is required: --token)" : "");
	else if (!(doc = json_loadb(b.s ? b.s : "", b.len, 0, &je)))
		snprintf(err, errlen, "%s: not JSON: %s", u.s, je.text);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	strbuf_free(&b);
	strbuf_free(&u);
	strbuf_free(&auth);
	return doc;
}

/* Our daemon's document over the control socket; NULL with *ours false
 * when the daemon does not speak "status" (not ours). */
static json_t *fetch_socket(const char *iface, bool *ours, char *err,
			    size_t errlen)
{
	char *reply = NULL, *j, *nl;
	json_t *doc = NULL;
	json_error_t je;
	int ret;

	*ours = true;
	ret = uapi_client_call(iface, "status=1\n\n", &reply);
	if (ret == -ENOENT || ret == -ECONNREFUSED) {
		snprintf(err, errlen, "%s is not running (no control socket)", iface);
	} else if (ret == -EACCES) {
		snprintf(err, errlen, "%s: the control socket is not ours to open: run as its user or as root", iface);
	} else if (ret < 0 || !reply || !(j = strstr(reply, "json="))) {
		*ours = false; /* wireguard-go hangs up, or says EPROTO */
		snprintf(err, errlen, "%s: %s", iface, strerror(ret < 0 ? -ret : EPROTO));
	} else {
		j += 5;
		nl = strchr(j, '\n');
		if (nl)
			*nl = '\0';
		doc = json_loads(j, 0, &je);
		if (!doc)
			snprintf(err, errlen, "%s: a bad answer: %s", iface, je.text);
	}
	free(reply);
	return doc;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void human_bytes(char *buf, size_t len, double v)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.2f %s" : "%.0f %s", v, u[i]);
}

static void human_age(char *buf, size_t len, long long s)
{
	if (s < 120)
		snprintf(buf, len, "%lld s ago", s);
	else if (s < 7200)
		snprintf(buf, len, "%lld min %lld s ago", s / 60, s % 60);
	else
		snprintf(buf, len, "%lld h %lld min ago", s / 3600, s / 60 % 60);
}

static const char *health_colour(const struct style *st, const char *h)
{
	return !strcmp(h, "pass") ? st->green
	       : !strcmp(h, "warn") ? st->yellow
				    : st->red;
}

static void print_hints(const struct style *st, json_t *hints)
{
	size_t i;
	json_t *h;

	json_array_foreach(hints, i, h)
		printf("    %s%s%s (%lld): %s\n", st->yellow, str(h, "reason"),
		       st->off,
		       (long long)json_integer_value(json_object_get(h, "count")),
		       str(h, "hint"));
}

static void print_doc(json_t *doc, const struct style *st)
{
	json_t *peers = json_object_get(doc, "peers"), *p, *v, *disk;
	const char *health = str(doc, "health");
	char a[48], b[48];
	size_t i, k;

	printf("%sinterface%s: %s%s%s (%s, %s mode)\n", st->bold, st->off,
	       st->bold, str(doc, "interface"), st->off, str(doc, "role"),
	       str(doc, "mode"));
	printf("  node: %s, spokewire %s, up %lld s\n", str(doc, "name"),
	       str(doc, "version"),
	       (long long)json_integer_value(json_object_get(doc, "uptime_s")));
	printf("  health: %s%s%s\n", health_colour(st, health), health,
	       st->off);
	if (json_is_string(json_object_get(doc, "public_key")))
		printf("  public key: %s\n", str(doc, "public_key"));
	printf("  listening port: %lld\n",
	       (long long)json_integer_value(json_object_get(doc, "listen_port")));
	disk = json_object_get(doc, "disk");
	if (json_is_object(disk))
		printf("  disk (%s): %.1f GiB free of %.1f GiB\n", str(disk, "path"),
		       json_real_value(json_object_get(disk, "avail_gib")),
		       json_real_value(json_object_get(disk, "size_gib")));
	json_array_foreach(peers, i, p) {
		json_t *age = json_object_get(p, "handshake_age_s");
		bool up = json_is_true(json_object_get(p, "connected"));

		printf("\n%speer%s: %s%s%s%s%s\n", st->bold, st->off,
		       st->bold, str(p, "public_key"), st->off,
		       json_is_string(json_object_get(p, "friendly_name")) ? "  " : "",
		       str(p, "friendly_name"));
		if (json_is_string(json_object_get(p, "endpoint")))
			printf("  endpoint: %s\n", str(p, "endpoint"));
		printf("  allowed ips: ");
		json_array_foreach(json_object_get(p, "allowed_ips"), k, v)
			printf("%s%s", k ? ", " : "", json_string_value(v));
		printf("%s\n", json_array_size(json_object_get(p, "allowed_ips")) ? "" : "(none)");
		if (!strcmp(str(p, "health"), "warn"))
			printf("  %shealth: warn%s (watched, and silent too long)\n",
			       st->yellow, st->off);
		if (json_is_integer(age)) {
			human_age(a, sizeof(a), (long long)json_integer_value(age));
			printf("  latest handshake: %s%s%s (%s)\n",
			       up ? st->green : st->yellow, a, st->off,
			       str(p, "latest_handshake"));
		} else {
			printf("  latest handshake: %snever%s\n", st->yellow, st->off);
		}
		human_bytes(a, sizeof(a), (double)json_integer_value(json_object_get(p, "rx_bytes")));
		human_bytes(b, sizeof(b), (double)json_integer_value(json_object_get(p, "tx_bytes")));
		printf("  transfer: %s received, %s sent\n", a, b);
		if (json_integer_value(json_object_get(p, "persistent_keepalive")))
			printf("  persistent keepalive: every %lld seconds\n",
			       (long long)json_integer_value(json_object_get(p, "persistent_keepalive")));
		print_hints(st, json_object_get(p, "hints"));
	}
	json_array_foreach(json_object_get(doc, "sources"), i, p) {
		printf("\n%ssource%s %s%s%s (not a peer, seen %lld s ago)\n",
		       st->bold, st->off, st->red, str(p, "endpoint"), st->off,
		       (long long)json_integer_value(json_object_get(p, "last_seen_s_ago")));
		if (json_is_string(json_object_get(p, "public_key")))
			printf("  its public key: %s\n", str(p, "public_key"));
		print_hints(st, json_object_get(p, "hints"));
	}
	v = json_object_get(doc, "stack");
	if (json_is_object(v)) {
		printf("\n%sstack%s: %lld TCP connections, %lld retransmitted of %lld segments, %lld stalls, %lld bytes buffered\n",
		       st->bold, st->off,
		       (long long)json_integer_value(json_object_get(v, "tcp_conns")),
		       (long long)json_integer_value(json_object_get(v, "tcp_retransmits")),
		       (long long)json_integer_value(json_object_get(v, "tcp_segments_out")),
		       (long long)json_integer_value(json_object_get(v, "tcp_stalls")),
		       (long long)json_integer_value(json_object_get(v, "mem_used")));
		v = json_object_get(doc, "relay");
		printf("%srelay%s: %lld active of %lld relayed, %lld forwarded, %lld exposed, %lld routed packets\n",
		       st->bold, st->off,
		       (long long)json_integer_value(json_object_get(v, "splices_active")),
		       (long long)json_integer_value(json_object_get(v, "splices")),
		       (long long)json_integer_value(json_object_get(v, "forward_accepted")),
		       (long long)json_integer_value(json_object_get(v, "expose_accepted")),
		       (long long)json_integer_value(json_object_get(v, "routed_packets")));
	}
}

/* wireguard-go and friends: what the UAPI gives. */
static int print_plain(const char *iface, const struct style *st)
{
	char *reply = NULL, *line, *save = NULL;
	int ret = uapi_client_call(iface, "get=1\n\n", &reply);

	if (ret < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, iface, strerror(-ret));
		free(reply);
		return 2;
	}
	printf("%sinterface%s: %s (not a spokewire daemon: no health or diagnostics)\n",
	       st->bold, st->off, iface);
	for (line = strtok_r(reply, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "private_key=", 12) ||
		    !strncmp(line, "preshared_key=", 14) || !strncmp(line, "errno=", 6))
			continue;
		printf("  %s\n", line);
	}
	memzero(reply, strlen(reply));
	free(reply);
	return 0;
}

static int show(const char *what, bool json, const char *token)
{
	const struct style *st = isatty(STDOUT_FILENO) && !getenv("NO_COLOR")
					 ? &ansi
					 : &plain;
	char err[512] = "", ifname[IFNAMSIZ];
	const char *iface = what;
	json_t *doc;
	bool ours = true;
	const char *h;
	int rc;

	if (!strncmp(what, "http://", 7) || !strncmp(what, "https://", 8)) {
		doc = fetch_url(what, token, err, sizeof(err));
	} else {
		if (strchr(what, '/') || strstr(what, ".conf")) {
			if (conf_ifname(what, ifname)) {
				fprintf(stderr, "%s: %s: not IFACE.conf\n", prog_name, what);
				return 2;
			}
			iface = ifname;
		}
		doc = fetch_socket(iface, &ours, err, sizeof(err));
		if (!doc && !ours && !json)
			return print_plain(iface, st);
	}
	if (!doc) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		return 2;
	}
	if (json) {
		char *s = json_dumps(doc, JSON_INDENT(2));

		puts(s ? s : "{}");
		free(s);
	} else {
		print_doc(doc, st);
	}
	h = str(doc, "health");
	rc = !strcmp(h, "pass") ? 0 : 1;
	json_decref(doc);
	return rc;
}

int cmd_status(int argc, char *argv[])
{
	const char *what = NULL, *token = getenv("SPOKEWIRE_STATUS_TOKEN");
	bool json = false;
	int i, rc = 0;

	for (i = 1; i < argc; ++i) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--token") && i + 1 < argc) {
			token = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || what) {
			usage(stderr);
			return 2;
		} else {
			what = argv[i];
		}
	}
	if (what)
		return show(what, json, token);
	{
		DIR *dir = opendir("/var/run/wireguard");
		struct dirent *e;
		int n = 0, r;

		while (dir && (e = readdir(dir))) {
			char name[IFNAMSIZ + 8];
			size_t l = strlen(e->d_name);

			if (l < 6 || l >= sizeof(name) ||
			    strcmp(e->d_name + l - 5, ".sock"))
				continue;
			memcpy(name, e->d_name, l - 5);
			name[l - 5] = '\0';
			if (n++)
				putchar('\n');
			r = show(name, json, token);
			if (r > rc)
				rc = r;
		}
		if (dir)
			closedir(dir);
		if (!n)
			printf("no interfaces in /var/run/wireguard (a rootless one: `%s status IFACE`)\n",
			       prog_name);
	}
	return rc;
}

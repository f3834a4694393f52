/* What a running daemon says about itself: /status (JSON), /health
 * (application/health+json) and /metrics (Prometheus text), built from
 * the device's live state on the loop's thread. No secret appears: public
 * keys, addresses, counters. The HTTP side is status-http.c; the UAPI
 * socket serves the same JSON ("status=1") to `spokewire status`. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "device/daemon.h"
#include "device/status.h"
#include "io/loop.h"
#include "io/strbuf.h"

static const char *const hints[WG_DIAG_COUNT] = {
	[WG_DIAG_WRONG_KEY] = "sends handshakes for another public key: its config names the wrong key for this node",
	[WG_DIAG_UNKNOWN_PEER] = "a valid handshake from a public key that is no peer here: add it as a peer if it belongs",
	[WG_DIAG_STALE_TIMESTAMP] = "replayed or older handshake initiations: a replay, or its clock went back",
	[WG_DIAG_COOKIE] = "under load: handshakes answered with a cookie",
	[WG_DIAG_NO_RESPONSE] = "our handshakes went unanswered: check its endpoint, the firewalls between, and that it has our public key",
	[WG_DIAG_ALLOWED_IPS] = "packets from addresses outside its AllowedIPs: its Address and our AllowedIPs for it disagree",
	[WG_DIAG_NO_PEER] = "packets to addresses no peer's AllowedIPs cover",
	[WG_DIAG_NO_ENDPOINT] = "no endpoint yet: it must reach us first, or be given one",
	[WG_DIAG_DECRYPT] = "data packets that failed to authenticate",
	[WG_DIAG_REPLAY] = "replayed or too old data packets",
};

static void rfc3339(char *buf, size_t len, uint64_t real_ns)
{
	time_t t = (time_t)(real_ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int add_prefix(void *ctx, int family, const void *addr, uint8_t cidr)
{
	char ip[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 4];

	inet_ntop(family, addr, ip, sizeof(ip));
	snprintf(buf, sizeof(buf), "%s/%u", ip, cidr);
	return json_array_append_new(ctx, json_string(buf));
}

static json_t *diag_counts(const uint64_t *counts, bool drops)
{
	json_t *o = json_object();
	int d;

	for (d = 0; d < WG_DIAG_COUNT; ++d)
		if (counts[d] && wg_diag_is_drop(d) == drops)
			json_object_set_new(o, wg_diag_name(d),
					    json_integer((json_int_t)counts[d]));
	return o;
}

static json_t *diag_hints(const uint64_t *counts)
{
	json_t *a = json_array();
	int d;

	for (d = 0; d < WG_DIAG_COUNT; ++d)
		if (counts[d])
			json_array_append_new(a, json_pack("{s:s, s:s, s:I}",
				"reason", wg_diag_name(d), "hint", hints[d],
				"count", (json_int_t)counts[d]));
	return a;
}

/* A peer whose silence is a problem: it keeps the link alive, or the
 * config lists it in HealthPeers. */
static bool watched(const struct daemon *d, const struct peer *p)
{
	size_t i;

	if (p->persistent_keepalive_interval)
		return true;
	for (i = 0; i < d->status.n_health_peers; ++i)
		if (!memcmp(d->status.health_peers[i], p->handshake.remote_static,
			    KEY_LEN))
			return true;
	return false;
}

/* Seconds since the peer's last handshake, or since we started when it
 * never had one (a fresh daemon is not yet late). */
static uint64_t silence_s(const struct daemon *d, const struct peer *p,
			  uint64_t now_real)
{
	uint64_t since = p->last_handshake_real_ns ? p->last_handshake_real_ns
						   : d->status.started_real_ns;

	return now_real > since ? (now_real - since) / 1000000000 : 0;
}

static bool connected(const struct peer *p, uint64_t now_real)
{
	/* A session lives REJECT_AFTER_TIME past its handshake. */
	return p->last_handshake_real_ns &&
	       now_real - p->last_handshake_real_ns <
		       (uint64_t)REJECT_AFTER_TIME * 1000000000;
}

json_t *status_health(struct daemon *d, int *http_code)
{
	uint64_t now_real = clock_real_ns(), age;
	json_t *checks = json_object(), *arr;
	const char *overall = "pass";
	char key[KEY_B64_LEN + 1], out[160];
	struct peer *p;

	arr = json_array();
	if (d->udp.fd4 < 0 && d->udp.fd6 < 0) {
		overall = "fail";
		json_array_append_new(arr, json_pack("{s:s, s:s}", "status",
			"fail", "output", "no UDP socket"));
	} else {
		json_array_append_new(arr, json_pack("{s:s, s:i}", "status",
			"pass", "observedValue", d->udp.port));
	}
	json_object_set_new(checks, "udp:socket", arr);
	if (!d->inner) {
		bool gone = d->status.tun_gone_at != 0;

		if (gone)
			overall = "fail";
		json_object_set_new(checks, "tun:interface", json_pack("[{s:s, s:s}]",
			"status", gone ? "fail" : "pass", "output",
			gone ? "the interface is gone" : d->ifname));
	}
	if (d->inner && d->inner->health && d->inner->health(d->inner_ctx, checks))
		overall = "fail";
	arr = json_array();
	for_each_peer(d->wg, p) {
		bool late;

		if (!watched(d, p))
			continue;
		age = silence_s(d, p, now_real);
		late = age > d->status.health_age_s;
		key_to_base64(key, p->handshake.remote_static);
		snprintf(out, sizeof(out), late ? "no handshake for %llu s (limit %u s)"
						: "handshake %llu s ago",
			 (unsigned long long)age, d->status.health_age_s);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s, s:s}",
			"componentId", key, "status", late ? "warn" : "pass",
			"observedValue", (json_int_t)age, "observedUnit", "s",
			"output", out));
		if (wg_peer_name(p)[0])
			json_object_set_new(json_array_get(arr, json_array_size(arr) - 1),
					    "componentName", json_string(wg_peer_name(p)));
		if (late && !strcmp(overall, "pass"))
			overall = "warn";
	}
	json_object_set_new(checks, "peer:handshake", arr);
	*http_code = strcmp(overall, "fail") ? 200 : 503;
	return json_pack("{s:s, s:s, s:o}", "status", overall, "serviceId",
			 d->ifname, "checks", checks);
}

static json_t *disk(const char *path)
{
	struct statvfs v;
	uint64_t avail, size;

	if (!path[0] || statvfs(path, &v) < 0)
		return json_null();
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	size = (uint64_t)v.f_blocks * v.f_frsize;
	return json_pack("{s:s, s:f, s:f, s:I, s:I}", "path", path,
		"avail_gib", (double)(avail * 10 / (1ull << 30)) / 10,
		"size_gib", (double)(size * 10 / (1ull << 30)) / 10,
		"avail_bytes", (json_int_t)avail, "size_bytes", (json_int_t)size);
}

static json_t *datapath(const struct daemon *d)
{
	const struct wg_stats *w = &d->wg->stats;

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"mtu", (json_int_t)d->wg->mtu,
		"local_addresses_forgotten", (json_int_t)d->stats.src_forgotten,
		"fragments_joined", (json_int_t)d->stats.tun_defrag,
		"fragments_waited", (json_int_t)d->stats.frag_waits,
		"gso_sends", (json_int_t)d->stats.gso_sends,
		"gro_reads", (json_int_t)d->stats.gro_reads,
		"tun_coalesced", (json_int_t)d->stats.tun_coalesced,
		"tun_writes", (json_int_t)d->stats.tun_writes,
		"tun_write_errors", (json_int_t)d->stats.tun_write_errors,
		"tun_read_drops", (json_int_t)d->stats.tun_read_drops,
		"udp_send_errors", (json_int_t)d->stats.udp_send_errors,
		"rx_dropped", (json_int_t)w->rx_dropped,
		"tx_dropped", (json_int_t)w->tx_dropped,
		"handshakes_received", (json_int_t)w->handshakes_received,
		"cookies_sent", (json_int_t)w->cookies_sent,
		"under_load_drops", (json_int_t)w->under_load_drops);
}

json_t *status_json(struct daemon *d)
{
	uint64_t now_real = clock_real_ns(), now_mono = clock_mono_ns();
	char key[KEY_B64_LEN + 1], buf[64], when[32];
	json_t *o, *peers = json_array(), *sources = json_array(), *h;
	struct wg_device *wg = d->wg;
	struct peer *p;
	int code;
	unsigned i;

	rfc3339(when, sizeof(when), now_real);
	if (wg->identity.has_identity)
		key_to_base64(key, wg->identity.static_public);
	h = status_health(d, &code);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:i, s:s, s:s, s:I, s:O}",
		"name", d->status.name[0] ? d->status.name : d->ifname,
		"role", d->status.role ? d->status.role : "device",
		"interface", d->ifname,
		"mode", d->inner ? "userspace" : "tun",
		"public_key", wg->identity.has_identity ? key : NULL,
		"listen_port", d->udp.port,
		"version", SPOKEWIRE_VERSION,
		"time", when,
		"uptime_s", (json_int_t)((now_mono - d->status.started_mono_ns) / 1000000000),
		"health", json_object_get(h, "status"));
	json_decref(h);
	for_each_peer(wg, p) {
		static const uint64_t none[WG_DIAG_COUNT];
		const uint64_t *pdiag = p->extra ? p->extra->diag : none;
		json_t *jp, *ips = json_array();

		key_to_base64(key, p->handshake.remote_static);
		allowedips_walk(&p->allowedips, add_prefix, ips);
		jp = json_pack("{s:s*, s:s, s:s*, s:o, s:I, s:I, s:i, s:b, s:o, s:o, s:o}",
			"friendly_name", wg_peer_name(p)[0] ? wg_peer_name(p) : NULL,
			"public_key", key,
			"endpoint", wg_endpoint_str(&p->endpoint, buf, sizeof(buf)),
			"allowed_ips", ips,
			"rx_bytes", (json_int_t)p->rx_bytes,
			"tx_bytes", (json_int_t)p->tx_bytes,
			"persistent_keepalive", p->persistent_keepalive_interval,
			"connected", connected(p, now_real),
			"handshake_failures", diag_counts(pdiag, false),
			"dropped", diag_counts(pdiag, true),
			"hints", diag_hints(pdiag));
		if (watched(d, p))
			json_object_set_new(jp, "health", json_string(
				silence_s(d, p, now_real) > d->status.health_age_s
					? "warn" : "pass"));
		if (p->last_handshake_real_ns) {
			rfc3339(when, sizeof(when), p->last_handshake_real_ns);
			json_object_set_new(jp, "latest_handshake", json_string(when));
			json_object_set_new(jp, "latest_handshake_unix",
				json_integer((json_int_t)(p->last_handshake_real_ns / 1000000000)));
			json_object_set_new(jp, "handshake_age_s",
				json_integer((json_int_t)silence_s(d, p, now_real)));
		} else {
			json_object_set_new(jp, "latest_handshake", json_null());
			json_object_set_new(jp, "latest_handshake_unix", json_integer(0));
			json_object_set_new(jp, "handshake_age_s", json_null());
		}
		json_array_append_new(peers, jp);
	}
	for (i = 0; i < WG_DIAG_SOURCES; ++i) {
		const struct wg_diag_source *s = &wg->diag_sources[i];
		json_t *js;

		if (!s->last_seen || !wg_endpoint_str(&s->ep, buf, sizeof(buf)))
			continue;
		if (s->has_key)
			key_to_base64(key, s->key);
		js = json_pack("{s:s, s:s*, s:I, s:o, s:o}", "endpoint", buf,
			"public_key", s->has_key ? key : NULL,
			"last_seen_s_ago", (json_int_t)((now_mono - s->last_seen) / 1000000000),
			"handshake_failures", diag_counts(s->count, false),
			"hints", diag_hints(s->count));
		json_array_append_new(sources, js);
	}
	json_object_set_new(o, "peers", peers);
	json_object_set_new(o, "sources", sources);
	json_object_set_new(o, "handshake_failures", diag_counts(wg->diag_total, false));
	json_object_set_new(o, "dropped", diag_counts(wg->diag_total, true));
	json_object_set_new(o, "disk", disk(d->status.data_dir));
	json_object_set_new(o, "datapath", datapath(d));
	if (d->inner && d->inner->status)
		d->inner->status(d->inner_ctx, o);
	return o;
}

/* ---- Prometheus text */

/* A label value: backslash, double quote and newline escaped. */
static void label(struct strbuf *b, const char *v)
{
	for (; *v; ++v) {
		if (*v == '\\' || *v == '"')
			strbuf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			strbuf_printf(b, "\\n");
		else
			strbuf_printf(b, "%c", *v);
	}
}

static void help(struct strbuf *b, const char *name, const char *type,
		 const char *text)
{
	strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* The exporters' label set for a peer. */
static void peer_labels(struct strbuf *b, const struct daemon *d,
			const struct peer *p)
{
	char key[KEY_B64_LEN + 1];
	json_t *ips = json_array();
	size_t i;

	key_to_base64(key, p->handshake.remote_static);
	allowedips_walk(&p->allowedips, add_prefix, ips);
	strbuf_printf(b, "{interface=\"");
	label(b, d->ifname);
	strbuf_printf(b, "\",public_key=\"%s\",allowed_ips=\"", key);
	for (i = 0; i < json_array_size(ips); ++i)
		strbuf_printf(b, "%s%s", i ? "," : "",
			      json_string_value(json_array_get(ips, i)));
	strbuf_printf(b, "\",friendly_name=\"");
	label(b, wg_peer_name(p));
	strbuf_printf(b, "\"}");
	json_decref(ips);
}

static void per_peer(struct strbuf *b, struct daemon *d, const char *name,
		     const char *type, const char *text, int which,
		     uint64_t now_real)
{
	struct peer *p;

	help(b, name, type, text);
	for_each_peer(d->wg, p) {
		uint64_t v;

		switch (which) {
		case 0:
			v = p->tx_bytes;
			break;
		case 1:
			v = p->rx_bytes;
			break;
		case 2:
			v = p->last_handshake_real_ns / 1000000000;
			break;
		default:
			v = p->last_handshake_real_ns
				    ? silence_s(d, p, now_real)
				    : 0;
			break;
		}
		strbuf_printf(b, "%s", name);
		peer_labels(b, d, p);
		strbuf_printf(b, " %llu\n", (unsigned long long)v);
	}
}

static void gauge(struct strbuf *b, const char *ifname, const char *name,
		  const char *text, uint64_t v)
{
	help(b, name, "gauge", text);
	strbuf_printf(b, "%s{interface=\"", name);
	label(b, ifname);
	strbuf_printf(b, "\"} %llu\n", (unsigned long long)v);
}

/* Figures that go up and down; the others only count up. */
static bool is_gauge(const char *k)
{
	static const char *const g[] = { "mtu", "tcp_conns", "tcp_time_wait",
		"mem_used", "mem_peak", "splices_active", "egress_udp_active",
		"egress_ping_active", "udp_mappings" };
	size_t i;

	for (i = 0; i < sizeof(g) / sizeof(g[0]); ++i)
		if (!strcmp(k, g[i]))
			return true;
	return false;
}

/* The integer members of obj as spokewire_PREFIX_KEY[_total]. */
static void add_json_counters(struct strbuf *b, const char *ifname,
			      const char *prefix, json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		char name[128], text[160];
		bool gauge_ = is_gauge(k);

		if (!json_is_integer(v))
			continue;
		snprintf(name, sizeof(name), "spokewire_%s_%s%s", prefix, k,
			 gauge_ ? "" : "_total");
		snprintf(text, sizeof(text), "The %s's %s.", prefix, k);
		help(b, name, gauge_ ? "gauge" : "counter", text);
		strbuf_printf(b, "%s{interface=\"", name);
		label(b, ifname);
		strbuf_printf(b, "\"} %lld\n", (long long)json_integer_value(v));
	}
}

char *status_metrics(struct daemon *d, size_t *len)
{
	uint64_t now_real = clock_real_ns();
	struct strbuf b = { 0 };
	json_t *h, *st;
	int d_, code, first;

	per_peer(&b, d, "wireguard_sent_bytes_total", "counter",
		 "Bytes sent to the peer.", 0, now_real);
	per_peer(&b, d, "wireguard_received_bytes_total", "counter",
		 "Bytes received from the peer.", 1, now_real);
	per_peer(&b, d, "wireguard_latest_handshake_seconds", "gauge",
		 "Unix time of the latest handshake with the peer (0: never).", 2,
		 now_real);
	per_peer(&b, d, "wireguard_latest_handshake_delay_seconds", "gauge",
		 "Seconds since the latest handshake with the peer (0: never).", 3,
		 now_real);
	for (first = 1; first >= 0; --first) {
		const char *name = first ? "spokewire_handshake_failures_total"
					 : "spokewire_packets_dropped_total";

		help(&b, name, "counter", first
			? "Handshakes refused or unanswered, by reason."
			: "Packets dropped, by reason.");
		for (d_ = 0; d_ < WG_DIAG_COUNT; ++d_) {
			if (wg_diag_is_drop(d_) == first)
				continue;
			strbuf_printf(&b, "%s{interface=\"", name);
			label(&b, d->ifname);
			strbuf_printf(&b, "\",reason=\"%s\"} %llu\n",
				      wg_diag_name(d_),
				      (unsigned long long)d->wg->diag_total[d_]);
		}
	}
	h = status_health(d, &code);
	help(&b, "spokewire_health", "gauge",
	     "Health: 0 pass, 1 warn, 2 fail.");
	strbuf_printf(&b, "spokewire_health{interface=\"");
	label(&b, d->ifname);
	strbuf_printf(&b, "\"} %d\n",
		      !strcmp(json_string_value(json_object_get(h, "status")), "pass") ? 0
		      : code == 200 ? 1 : 2);
	json_decref(h);
	gauge(&b, d->ifname, "spokewire_peers", "Peers configured.",
		d->wg->npeers);
	st = datapath(d);
	add_json_counters(&b, d->ifname, "datapath", st);
	json_decref(st);
	if (d->inner && d->inner->status) {
		json_t *o = json_object();

		d->inner->status(d->inner_ctx, o);
		add_json_counters(&b, d->ifname, "stack", json_object_get(o, "stack"));
		add_json_counters(&b, d->ifname, "relay", json_object_get(o, "relay"));
		json_decref(o);
	}
	if (b.failed) {
		strbuf_free(&b);
		return NULL;
	}
	*len = b.len;
	return strbuf_take(&b);
}

/* Registry: schema, settings, versions, join tokens and users. Nodes,
 * devices and netmaps are in registry-peers.c. */
#include "controller/registry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controller/store.h"

static const char *const schema[] = {
	"CREATE TABLE IF NOT EXISTS sw_settings (name TEXT PRIMARY KEY, "
	"value TEXT NOT NULL)",
	"CREATE TABLE IF NOT EXISTS sw_counters (name TEXT PRIMARY KEY, "
	"value BIGINT NOT NULL)",
	"CREATE TABLE IF NOT EXISTS sw_tokens (id TEXT PRIMARY KEY, "
	"hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, uses BIGINT NOT NULL, "
	"uses_left BIGINT NOT NULL, expires_at BIGINT NOT NULL, "
	"created_at BIGINT NOT NULL)",
	"CREATE TABLE IF NOT EXISTS sw_users (client_id TEXT PRIMARY KEY, "
	"key_hash TEXT NOT NULL UNIQUE, status TEXT NOT NULL, "
	"created_at BIGINT NOT NULL)",
	/* Nodes and devices share one table so that one UNIQUE constraint
	 * guards every address, whichever controller hands it out. */
	"CREATE TABLE IF NOT EXISTS sw_peers (id TEXT PRIMARY KEY, "
	"kind TEXT NOT NULL, owner TEXT, name TEXT, "
	"public_key TEXT NOT NULL UNIQUE, endpoint TEXT, "
	"addr_index BIGINT NOT NULL UNIQUE, token_hash TEXT, "
	"created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
	"CREATE INDEX IF NOT EXISTS sw_peers_owner ON sw_peers (owner)",
	"CREATE INDEX IF NOT EXISTS sw_peers_token ON sw_peers (token_hash)",
	"CREATE INDEX IF NOT EXISTS sw_peers_kind ON sw_peers (kind)",
	"INSERT INTO sw_counters (name, value) VALUES ('version', 1), "
	"('hubs_version', 1) ON CONFLICT DO NOTHING",
};

static const char sql_setting_insert[] =
	"INSERT INTO sw_settings (name, value) VALUES ($1, $2) "
	"ON CONFLICT DO NOTHING";
static const char sql_setting_upsert[] =
	"INSERT INTO sw_settings (name, value) VALUES ($1, $2) "
	"ON CONFLICT (name) DO UPDATE SET value = excluded.value";
static const char sql_setting_get[] =
	"SELECT value FROM sw_settings WHERE name = $1";

static int64_t now_sec(void)
{
	return (int64_t)time(NULL);
}

/* Inserts name=value unless present, then reads back what is stored. */
static int setting_default(struct store *s, struct store_conn *c,
			   const char *name, const char *value, char *out,
			   size_t len, bool *inserted)
{
	struct store_result *r;
	int ret;

	ret = store_q(s, c, &r, sql_setting_insert, name, value);
	if (ret)
		return ret;
	if (inserted)
		*inserted = r->changes > 0;
	store_result_free(r);
	ret = store_q(s, c, &r, sql_setting_get, name);
	if (ret)
		return ret;
	if (r->nrows != 1 || !store_cell(r, 0, 0))
		ret = -EIO;
	else
		snprintf(out, len, "%s", store_cell(r, 0, 0));
	store_result_free(r);
	return ret;
}

static int load_settings(struct controller *ctl, struct store_conn *c,
			 const char *master_key,
			 char generated[SECRET_TEXT_LEN + 1], const char **why)
{
	struct store *s = ctl->store;
	char buf[NETWORK_TEXT_LEN + 1], hex[HASH_HEX_LEN + 1];
	char key[SECRET_TEXT_LEN + 1];
	uint8_t secret[KEY_LEN];
	bool inserted = false;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(schema) / sizeof(schema[0]); ++i) {
		ret = store_exec(s, c, NULL, schema[i], NULL, 0);
		if (ret) {
			*why = "cannot create the schema";
			return ret;
		}
	}

	ret = setting_default(s, c, "network", ctl->net.text, buf, sizeof(buf),
			      NULL);
	if (ret)
		return ret;
	if (strcmp(buf, ctl->net.text)) {
		fprintf(stderr, "controller: the store serves network %s\n",
			buf);
		*why = "--network differs from the store's network";
		return -EINVAL;
	}

	random_bytes(secret, sizeof(secret));
	hex_encode(hex, secret, sizeof(secret));
	ret = setting_default(s, c, "node_secret", hex, hex, sizeof(hex),
			      NULL);
	if (!ret && !hex_decode(ctl->node_secret, KEY_LEN, hex))
		ret = -EIO;
	memzero(secret, sizeof(secret));
	memzero(hex, sizeof(hex));
	if (ret)
		return ret;

	generated[0] = '\0';
	if (master_key) {
		secret_hash_hex(hex, master_key);
		ret = store_q(s, c, NULL, sql_setting_upsert, "master_key_hash",
			      hex);
	} else {
		secret_generate(key, 'm');
		secret_hash_hex(hex, key);
		ret = setting_default(s, c, "master_key_hash", hex, hex,
				      sizeof(hex), &inserted);
		if (!ret && inserted)
			memcpy(generated, key, sizeof(key));
		memzero(key, sizeof(key));
	}
	if (!ret && !hex_decode(ctl->master_hash, HASH_LEN, hex))
		ret = -EIO;
	return ret;
}

int registry_init(struct controller *ctl, const char *master_key,
		  char generated[SECRET_TEXT_LEN + 1], const char **why)
{
	struct store *s = ctl->store;
	struct store_conn *c = store_acquire(s);
	int ret;

	*why = "store error";
	ret = store_begin_write(s, c);
	if (!ret)
		ret = load_settings(ctl, c, master_key, generated, why);
	ret = store_end(s, c, ret);
	if (ret)
		memzero(generated, SECRET_TEXT_LEN + 1);
	store_release(s, c);
	return ret;
}

int registry_bump(struct controller *ctl, struct store_conn *c, bool hubs)
{
	struct store_result *r;
	char v[24];
	int ret;

	ret = store_q(ctl->store, c, &r,
		      "UPDATE sw_counters SET value = value + 1 "
		      "WHERE name = 'version' RETURNING value");
	if (ret)
		return ret;
	snprintf(v, sizeof(v), "%s",
		 r->nrows == 1 && store_cell(r, 0, 0) ? store_cell(r, 0, 0)
						      : "0");
	store_result_free(r);
	if (!hubs)
		return 0;
	return store_q(ctl->store, c, NULL,
		       "UPDATE sw_counters SET value = CAST($1 AS BIGINT) "
		       "WHERE name = 'hubs_version'",
		       v);
}

int registry_versions(struct controller *ctl, struct versions *v)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r;
	int ret, i;

	ret = store_q(ctl->store, c, &r,
		      "SELECT name, value FROM sw_counters");
	store_release(ctl->store, c);
	if (ret)
		return ret;
	for (i = 0; i < r->nrows; ++i) {
		const char *name = store_cell(r, i, 0);

		if (name && !strcmp(name, "version"))
			v->all = store_cell_i64(r, i, 1);
		else if (name && !strcmp(name, "hubs_version"))
			v->hubs = store_cell_i64(r, i, 1);
	}
	store_result_free(r);
	return 0;
}

int registry_counts(struct controller *ctl, int64_t *nodes, int64_t *users,
		    int64_t *devices)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r;
	int ret;

	ret = store_q(ctl->store, c, &r,
		      "SELECT (SELECT COUNT(*) FROM sw_peers WHERE kind <> "
		      "'device'), (SELECT COUNT(*) FROM sw_users), "
		      "(SELECT COUNT(*) FROM sw_peers WHERE kind = 'device')");
	store_release(ctl->store, c);
	if (ret)
		return ret;
	*nodes = store_cell_i64(r, 0, 0);
	*users = store_cell_i64(r, 0, 1);
	*devices = store_cell_i64(r, 0, 2);
	store_result_free(r);
	return 0;
}

int registry_token_create(struct controller *ctl,
			  const struct token_request *tr, json_t **out)
{
	char token[SECRET_TEXT_LEN + 1], hash[HASH_HEX_LEN + 1], id[17];
	char uses[24], expires[24], created[24], when[32];
	struct store_conn *c;
	uint8_t raw[6];
	int64_t now = now_sec();
	int ret;

	secret_generate(token, 'j');
	secret_hash_hex(hash, token);
	random_bytes(raw, sizeof(raw));
	memcpy(id, "tok_", 4);
	hex_encode(id + 4, raw, sizeof(raw));
	i64_text(uses, tr->uses);
	i64_text(expires, now + tr->expires_in);
	i64_text(created, now);

	c = store_acquire(ctl->store);
	ret = store_q(ctl->store, c, NULL,
		      "INSERT INTO sw_tokens (id, hash, role, uses, uses_left, "
		      "expires_at, created_at) VALUES ($1, $2, $3, "
		      "CAST($4 AS BIGINT), CAST($4 AS BIGINT), "
		      "CAST($5 AS BIGINT), CAST($6 AS BIGINT))",
		      id, hash, role_name(tr->role), uses, expires, created);
	store_release(ctl->store, c);
	if (!ret) {
		time_text(when, now + tr->expires_in);
		*out = json_pack("{s:s, s:s, s:s, s:I, s:s}", "token", token,
				 "id", id, "role", role_name(tr->role), "uses",
				 (json_int_t)tr->uses, "expires_at", when);
		if (!*out)
			ret = -ENOMEM;
	}
	memzero(token, sizeof(token));
	return ret;
}

int registry_token_list(struct controller *ctl, json_t **out)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r;
	char exp[32], created[32];
	json_t *list;
	int ret, i;

	ret = store_q(ctl->store, c, &r,
		      "SELECT id, role, uses, uses_left, expires_at, created_at "
		      "FROM sw_tokens ORDER BY created_at, id");
	store_release(ctl->store, c);
	if (ret)
		return ret;
	list = json_array();
	for (i = 0; i < r->nrows; ++i) {
		int64_t expires = store_cell_i64(r, i, 4);

		time_text(exp, expires);
		time_text(created, store_cell_i64(r, i, 5));
		json_array_append_new(
			list,
			json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:b}", "id",
				  store_cell(r, i, 0), "role",
				  store_cell(r, i, 1), "uses",
				  (json_int_t)store_cell_i64(r, i, 2),
				  "uses_left",
				  (json_int_t)store_cell_i64(r, i, 3),
				  "expires_at", exp, "created_at", created,
				  "expired", expires <= now_sec()));
	}
	store_result_free(r);
	*out = json_pack("{s:o}", "tokens", list);
	return *out ? 0 : -ENOMEM;
}

int registry_token_delete(struct controller *ctl, const char *id,
			  const char **why)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r;
	int ret;

	ret = store_q(ctl->store, c, &r, "DELETE FROM sw_tokens WHERE id = $1",
		      id);
	store_release(ctl->store, c);
	if (ret)
		return ret;
	if (r->changes == 0) {
		*why = "no such token";
		ret = -ENOENT;
	}
	store_result_free(r);
	return ret;
}

int registry_user_create(struct controller *ctl, const char *client_id,
			 json_t **out, const char **why)
{
	char key[SECRET_TEXT_LEN + 1], hash[HASH_HEX_LEN + 1], now[24];
	char when[32];
	struct store_conn *c;
	int64_t t = now_sec();
	int ret;

	secret_generate(key, 'u');
	secret_hash_hex(hash, key);
	c = store_acquire(ctl->store);
	ret = store_q(ctl->store, c, NULL,
		      "INSERT INTO sw_users (client_id, key_hash, status, "
		      "created_at) VALUES ($1, $2, 'active', "
		      "CAST($3 AS BIGINT))",
		      client_id, hash, i64_text(now, t));
	store_release(ctl->store, c);
	if (ret == -EEXIST)
		*why = "a user with this client_id exists";
	if (!ret) {
		time_text(when, t);
		*out = json_pack("{s:s, s:s, s:s, s:s}", "api_key", key,
				 "client_id", client_id, "created_at", when,
				 "status", "active");
		if (!*out)
			ret = -ENOMEM;
	}
	memzero(key, sizeof(key));
	return ret;
}

int registry_user_list(struct controller *ctl, json_t **out)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r;
	json_t *list;
	int ret, i;

	ret = store_q(ctl->store, c, &r,
		      "SELECT client_id FROM sw_users ORDER BY client_id");
	store_release(ctl->store, c);
	if (ret)
		return ret;
	list = json_array();
	for (i = 0; i < r->nrows; ++i)
		json_array_append_new(list, json_string(store_cell(r, i, 0)));
	store_result_free(r);
	/* The contract: GET /users answers the list of client ids. */
	*out = list;
	return *out ? 0 : -ENOMEM;
}

int registry_user_get(struct controller *ctl, const char *client_id,
		      json_t **out, const char **why)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *u = NULL, *d = NULL;
	char when[32];
	struct peer p;
	json_t *devices;
	int ret, i;

	ret = store_q(ctl->store, c, &u,
		      "SELECT client_id, status, created_at FROM sw_users "
		      "WHERE client_id = $1",
		      client_id);
	if (!ret && u->nrows == 1)
		ret = store_q(ctl->store, c, &d,
			      "SELECT " PEER_COLUMNS " FROM sw_peers WHERE "
			      "owner = $1 AND kind = 'device' "
			      "ORDER BY addr_index",
			      client_id);
	store_release(ctl->store, c);
	if (ret)
		goto out;
	if (u->nrows != 1) {
		*why = "no such user";
		ret = -ENOENT;
		goto out;
	}
	devices = json_array();
	for (i = 0; i < d->nrows; ++i) {
		peer_from_row(&p, d, i);
		json_array_append_new(devices, peer_json(ctl, &p));
	}
	time_text(when, store_cell_i64(u, 0, 2));
	*out = json_pack("{s:s, s:s, s:s, s:o}", "client_id",
			 store_cell(u, 0, 0), "status", store_cell(u, 0, 1),
			 "created_at", when, "devices", devices);
	if (!*out)
		ret = -ENOMEM;
out:
	store_result_free(u);
	store_result_free(d);
	return ret;
}

int registry_user_delete(struct controller *ctl, const char *client_id,
			 const char **why)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r = NULL;
	long devices = 0;
	int ret;

	/* The user and their devices go together or not at all. */
	ret = store_begin_write(ctl->store, c);
	if (ret)
		goto out;
	ret = store_q(ctl->store, c, &r,
		      "DELETE FROM sw_peers WHERE owner = $1 AND "
		      "kind = 'device'",
		      client_id);
	if (ret)
		goto out;
	devices = r->changes;
	store_result_free(r);
	r = NULL;
	ret = store_q(ctl->store, c, &r,
		      "DELETE FROM sw_users WHERE client_id = $1", client_id);
	if (ret)
		goto out;
	if (r->changes == 0) {
		*why = "no such user";
		ret = -ENOENT;
		goto out;
	}
	if (devices)
		ret = registry_bump(ctl, c, false);
out:
	ret = store_end(ctl->store, c, ret);
	store_release(ctl->store, c);
	store_result_free(r);
	if (!ret && devices)
		watch_notify(ctl);
	return ret;
}

int registry_user_by_key(struct controller *ctl, const char *key,
			 char client_id[ID_MAX_LEN + 1])
{
	char hash[HASH_HEX_LEN + 1];
	struct store_conn *c;
	struct store_result *r;
	int ret;

	secret_hash_hex(hash, key);
	c = store_acquire(ctl->store);
	ret = store_q(ctl->store, c, &r,
		      "SELECT client_id, key_hash, status FROM sw_users "
		      "WHERE key_hash = $1",
		      hash);
	store_release(ctl->store, c);
	if (ret)
		return ret;
	/* The lookup is by hash; the compare is constant time anyway. */
	if (r->nrows == 1 && store_cell(r, 0, 1) &&
	    strlen(store_cell(r, 0, 1)) == HASH_HEX_LEN &&
	    crypto_equal(store_cell(r, 0, 1), hash, HASH_HEX_LEN) &&
	    !strcmp(store_cell(r, 0, 2), "active")) {
		snprintf(client_id, ID_MAX_LEN + 1, "%s", store_cell(r, 0, 0));
		ret = 0;
	} else {
		ret = -EPERM;
	}
	store_result_free(r);
	return ret;
}

/* Registry: nodes and devices, the join transaction, address allocation and
 * the rows a netmap is built from. Every write runs inside
 * store_begin_write(), which serialises writers across controllers sharing
 * a store, so "find a free address, insert it" cannot hand one out twice;
 * the UNIQUE constraint on addr_index would refuse it if it did. */
#include "controller/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/store.h"

enum { JOIN_ATTEMPTS = 5 };

static enum role kind_parse(const char *s)
{
	if (s && !strcmp(s, "device"))
		return ROLE_DEVICE;
	return s ? role_parse(s) : ROLE_NONE;
}

static void copy_cell(char *out, size_t len, const struct store_result *r,
		      int row, int col)
{
	const char *v = store_cell(r, row, col);

	snprintf(out, len, "%s", v ? v : "");
}

void peer_from_row(struct peer *p, const struct store_result *r, int row)
{
	memset(p, 0, sizeof(*p));
	copy_cell(p->id, sizeof(p->id), r, row, 0);
	p->role = kind_parse(store_cell(r, row, 1));
	copy_cell(p->owner, sizeof(p->owner), r, row, 2);
	copy_cell(p->name, sizeof(p->name), r, row, 3);
	copy_cell(p->public_key, sizeof(p->public_key), r, row, 4);
	copy_cell(p->endpoint, sizeof(p->endpoint), r, row, 5);
	p->addr_index = store_cell_i64(r, row, 6);
	p->created_at = store_cell_i64(r, row, 7);
	p->updated_at = store_cell_i64(r, row, 8);
}

json_t *peer_json(const struct controller *ctl, const struct peer *p)
{
	char v4[ADDR_TEXT_LEN], v6[ADDR_TEXT_LEN], created[32], updated[32];
	json_t *o;

	network_host(&ctl->net, p->addr_index, v4, v6);
	time_text(created, p->created_at);
	time_text(updated, p->updated_at);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}",
		      p->role == ROLE_DEVICE ? "device_id" : "node_id", p->id,
		      "role", role_name(p->role), "public_key", p->public_key,
		      "created_at", created, "updated_at", updated);
	if (!o)
		return NULL;
	json_object_set_new(o, "address", *v4 ? json_string(v4) : json_null());
	if (*v6)
		json_object_set_new(o, "address6", json_string(v6));
	json_object_set_new(o, "endpoint",
			    *p->endpoint ? json_string(p->endpoint)
					 : json_null());
	if (p->role == ROLE_DEVICE) {
		json_object_set_new(o, "owner", json_string(p->owner));
		json_object_set_new(o, "name", json_string(p->name));
	}
	return o;
}

/* The lowest free address index for a new peer; index 1 (10.50.0.1) is
 * kept for the first hub while it is free. */
static int allocate(struct controller *ctl, struct store_conn *c,
		    enum role role, int64_t *index)
{
	struct store_result *r;
	char max[24];
	int64_t top, one_taken;
	int ret;

	ret = store_q(ctl->store, c, &r,
		      "SELECT COALESCE(MAX(addr_index), 0), "
		      "(SELECT COUNT(*) FROM sw_peers WHERE addr_index = 1) "
		      "FROM sw_peers");
	if (ret)
		return ret;
	top = store_cell_i64(r, 0, 0);
	one_taken = store_cell_i64(r, 0, 1);
	store_result_free(r);
	if (role == ROLE_HUB && !one_taken) {
		*index = 1;
		return 0;
	}
	*index = top + 1 < 2 ? 2 : top + 1;
	if (*index <= ctl->net.max_index)
		return 0;
	/* The top is used up: reuse the lowest hole a deletion left. */
	if (!one_taken) {
		*index = 1;
		return 0;
	}
	ret = store_q(ctl->store, c, &r,
		      "SELECT MIN(p.addr_index + 1) FROM sw_peers p WHERE "
		      "p.addr_index + 1 <= CAST($1 AS BIGINT) AND NOT EXISTS "
		      "(SELECT 1 FROM sw_peers q WHERE "
		      "q.addr_index = p.addr_index + 1)",
		      i64_text(max, ctl->net.max_index));
	if (ret)
		return ret;
	if (r->nrows != 1 || !store_cell(r, 0, 0))
		ret = -ENOSPC;
	else
		*index = store_cell_i64(r, 0, 0);
	store_result_free(r);
	return ret;
}

/* -EEXIST if another peer already has this public key. */
static int key_unused(struct controller *ctl, struct store_conn *c,
		      const char *public_key, const char *self,
		      const char **why)
{
	struct store_result *r;
	int ret;

	ret = store_q(ctl->store, c, &r,
		      "SELECT id FROM sw_peers WHERE public_key = $1 AND "
		      "id <> $2",
		      public_key, self);
	if (ret)
		return ret;
	if (r->nrows) {
		*why = "public_key belongs to another peer";
		ret = -EEXIST;
	}
	store_result_free(r);
	return ret;
}

struct join_ctx {
	const struct join_request *jr;
	const char *join_token;
	const char *node_token;
	struct peer *out;
	bool *changed;
	const char **why;
	bool retryable; /* an -EEXIST from a race rather than a conflict */
};

/* The token's role, after checking it is known and unexpired. */
static int check_join_token(struct controller *ctl, struct store_conn *c,
			    const char *hash, enum role *role,
			    int64_t *uses_left, const char **why)
{
	struct store_result *r;
	int ret = 0;

	ret = store_q(ctl->store, c, &r,
		      "SELECT hash, role, uses_left, expires_at FROM sw_tokens "
		      "WHERE hash = $1",
		      hash);
	if (ret)
		return ret;
	if (r->nrows != 1 || !store_cell(r, 0, 0) ||
	    strlen(store_cell(r, 0, 0)) != HASH_HEX_LEN ||
	    !crypto_equal(store_cell(r, 0, 0), hash, HASH_HEX_LEN)) {
		*why = "invalid join token";
		ret = -EPERM;
	} else if (store_cell_i64(r, 0, 3) <= (int64_t)time(NULL)) {
		*why = "join token expired";
		ret = -EPERM;
	} else {
		*role = kind_parse(store_cell(r, 0, 1));
		*uses_left = store_cell_i64(r, 0, 2);
	}
	store_result_free(r);
	return ret;
}

static int join_existing(struct controller *ctl, struct store_conn *c,
			 struct join_ctx *jc, struct peer *p,
			 const char *stored_token_hash, enum role token_role)
{
	const struct join_request *jr = jc->jr;
	char token[SECRET_TEXT_LEN + 1], hash[HASH_HEX_LEN + 1], now[24];
	bool key_changed, ep_changed;
	int ret;

	if (jc->join_token) {
		if (p->role != token_role) {
			*jc->why = "node_id is taken by a node of another role";
			return -EEXIST;
		}
	} else {
		secret_hash_hex(hash, jc->node_token);
		if (!stored_token_hash ||
		    strlen(stored_token_hash) != HASH_HEX_LEN ||
		    !crypto_equal(stored_token_hash, hash, HASH_HEX_LEN)) {
			*jc->why = "invalid node token for this node_id";
			return -EPERM;
		}
		if (jr->role != ROLE_NONE && jr->role != p->role) {
			*jc->why = "node_id is taken by a node of another role";
			return -EEXIST;
		}
	}
	key_changed = strcmp(p->public_key, jr->public_key) != 0;
	ep_changed = jr->endpoint[0] && strcmp(p->endpoint, jr->endpoint);
	if (!key_changed && !ep_changed)
		return 0;
	if (key_changed) {
		ret = key_unused(ctl, c, jr->public_key, jr->node_id, jc->why);
		if (ret)
			return ret;
	}
	/* A new key gets a new node token: the old one stops working. */
	node_token_derive(ctl, token, jr->node_id, jr->public_key);
	secret_hash_hex(hash, token);
	memzero(token, sizeof(token));
	ret = store_q(ctl->store, c, NULL,
		      "UPDATE sw_peers SET public_key = $2, token_hash = $3, "
		      "endpoint = COALESCE($4, endpoint), "
		      "updated_at = CAST($5 AS BIGINT) WHERE id = $1",
		      jr->node_id, jr->public_key, hash,
		      jr->endpoint[0] ? jr->endpoint : NULL,
		      i64_text(now, time(NULL)));
	if (ret)
		return ret;
	snprintf(p->public_key, sizeof(p->public_key), "%s", jr->public_key);
	if (jr->endpoint[0])
		snprintf(p->endpoint, sizeof(p->endpoint), "%s", jr->endpoint);
	*jc->changed = true;
	return registry_bump(ctl, c, p->role == ROLE_HUB);
}

static int join_new(struct controller *ctl, struct store_conn *c,
		    struct join_ctx *jc, const char *token_hash,
		    enum role role, int64_t uses_left)
{
	const struct join_request *jr = jc->jr;
	char token[SECRET_TEXT_LEN + 1], hash[HASH_HEX_LEN + 1];
	char now[24], idx[24];
	struct store_result *r;
	int64_t index, t = time(NULL);
	int ret;

	if (!jc->join_token) {
		*jc->why = "unknown node_id: join with X-Join-Token first";
		return -EPERM;
	}
	if (uses_left <= 0) {
		*jc->why = "join token has no uses left";
		return -EACCES;
	}
	ret = store_q(ctl->store, c, &r,
		      "UPDATE sw_tokens SET uses_left = uses_left - 1 "
		      "WHERE hash = $1 AND uses_left > 0",
		      token_hash);
	if (ret)
		return ret;
	if (r->changes != 1) {
		*jc->why = "join token has no uses left";
		ret = -EACCES;
	}
	store_result_free(r);
	if (ret)
		return ret;
	ret = key_unused(ctl, c, jr->public_key, jr->node_id, jc->why);
	if (ret)
		return ret;
	ret = allocate(ctl, c, role, &index);
	if (ret == -ENOSPC)
		*jc->why = "the network has no free addresses";
	if (ret)
		return ret;

	node_token_derive(ctl, token, jr->node_id, jr->public_key);
	secret_hash_hex(hash, token);
	memzero(token, sizeof(token));
	i64_text(now, t);
	ret = store_q(ctl->store, c, NULL,
		      "INSERT INTO sw_peers (id, kind, owner, name, public_key, "
		      "endpoint, addr_index, token_hash, created_at, "
		      "updated_at) VALUES ($1, $2, NULL, NULL, $3, $4, "
		      "CAST($5 AS BIGINT), $6, CAST($7 AS BIGINT), "
		      "CAST($7 AS BIGINT))",
		      jr->node_id, role_name(role), jr->public_key,
		      jr->endpoint[0] ? jr->endpoint : NULL,
		      i64_text(idx, index), hash, now);
	if (ret == -EEXIST)
		jc->retryable = true;
	if (ret)
		return ret;

	memset(jc->out, 0, sizeof(*jc->out));
	snprintf(jc->out->id, sizeof(jc->out->id), "%s", jr->node_id);
	jc->out->role = role;
	snprintf(jc->out->public_key, sizeof(jc->out->public_key), "%s",
		 jr->public_key);
	snprintf(jc->out->endpoint, sizeof(jc->out->endpoint), "%s",
		 jr->endpoint);
	jc->out->addr_index = index;
	jc->out->created_at = jc->out->updated_at = t;
	*jc->changed = true;
	return registry_bump(ctl, c, role == ROLE_HUB);
}

static int join_once(struct controller *ctl, struct store_conn *c,
		     struct join_ctx *jc)
{
	const struct join_request *jr = jc->jr;
	char thash[HASH_HEX_LEN + 1] = "";
	enum role token_role = ROLE_NONE, role;
	struct store_result *r = NULL;
	int64_t uses_left = 0;
	int ret;

	*jc->changed = false;
	jc->retryable = false;
	ret = store_begin_write(ctl->store, c);
	if (ret)
		return ret;
	if (jc->join_token) {
		secret_hash_hex(thash, jc->join_token);
		ret = check_join_token(ctl, c, thash, &token_role, &uses_left,
				       jc->why);
		if (ret)
			goto out;
		role = jr->role == ROLE_NONE ? token_role : jr->role;
		if (role != token_role) {
			*jc->why = "this join token is for another role";
			ret = -EACCES;
			goto out;
		}
	}
	ret = store_q(ctl->store, c, &r,
		      "SELECT " PEER_COLUMNS ", token_hash FROM sw_peers "
		      "WHERE id = $1",
		      jr->node_id);
	if (ret)
		goto out;
	if (r->nrows == 1) {
		peer_from_row(jc->out, r, 0);
		ret = join_existing(ctl, c, jc, jc->out, store_cell(r, 0, 9),
				    token_role);
	} else {
		ret = join_new(ctl, c, jc, thash, token_role, uses_left);
	}
out:
	ret = store_end(ctl->store, c, ret);
	store_result_free(r);
	return ret;
}

int registry_join(struct controller *ctl, const struct join_request *jr,
		  const char *join_token, const char *node_token,
		  struct peer *out, bool *changed, const char **why)
{
	struct join_ctx jc = {
		.jr = jr,
		.join_token = join_token,
		.node_token = node_token,
		.out = out,
		.changed = changed,
		.why = why,
	};
	struct store_conn *c;
	int ret, i;

	for (i = 0; i < JOIN_ATTEMPTS; ++i) {
		c = store_acquire(ctl->store);
		ret = join_once(ctl, c, &jc);
		store_release(ctl->store, c);
		if (ret != -EAGAIN && !(ret == -EEXIST && jc.retryable))
			break;
	}
	if (ret == -EEXIST && jc.retryable)
		*why = "concurrent join conflict; retry";
	if (!ret && *changed)
		watch_notify(ctl);
	return ret;
}

int registry_device_create(struct controller *ctl, const char *client_id,
			   const char *name, const char *public_key,
			   struct peer *out, const char **why)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r = NULL;
	char id[17], now[24], idx[24];
	int64_t index, t = time(NULL);
	uint8_t raw[6];
	int ret;

	random_bytes(raw, sizeof(raw));
	memcpy(id, "dev-", 4);
	hex_encode(id + 4, raw, sizeof(raw));
	ret = store_begin_write(ctl->store, c);
	if (ret)
		goto out;
	ret = store_q(ctl->store, c, &r,
		      "SELECT status FROM sw_users WHERE client_id = $1",
		      client_id);
	if (ret)
		goto out;
	if (r->nrows != 1) {
		*why = "no such user";
		ret = -ENOENT;
		goto out;
	}
	ret = allocate(ctl, c, ROLE_DEVICE, &index);
	if (ret == -ENOSPC)
		*why = "the network has no free addresses";
	if (ret)
		goto out;
	ret = store_q(ctl->store, c, NULL,
		      "INSERT INTO sw_peers (id, kind, owner, name, public_key, "
		      "endpoint, addr_index, token_hash, created_at, "
		      "updated_at) VALUES ($1, 'device', $2, $3, $4, NULL, "
		      "CAST($5 AS BIGINT), NULL, CAST($6 AS BIGINT), "
		      "CAST($6 AS BIGINT))",
		      id, client_id, *name ? name : id, public_key,
		      i64_text(idx, index), i64_text(now, t));
	if (ret)
		goto out;
	ret = registry_bump(ctl, c, false);
out:
	ret = store_end(ctl->store, c, ret);
	store_release(ctl->store, c);
	store_result_free(r);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id);
	out->role = ROLE_DEVICE;
	snprintf(out->owner, sizeof(out->owner), "%s", client_id);
	snprintf(out->name, sizeof(out->name), "%s", *name ? name : id);
	snprintf(out->public_key, sizeof(out->public_key), "%s", public_key);
	out->addr_index = index;
	out->created_at = out->updated_at = t;
	watch_notify(ctl);
	return 0;
}

int registry_node_list(struct controller *ctl, json_t **out)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r;
	struct peer p;
	json_t *list;
	int ret, i;

	ret = store_q(ctl->store, c, &r,
		      "SELECT " PEER_COLUMNS " FROM sw_peers WHERE "
		      "kind <> 'device' ORDER BY addr_index");
	store_release(ctl->store, c);
	if (ret)
		return ret;
	list = json_array();
	for (i = 0; i < r->nrows; ++i) {
		peer_from_row(&p, r, i);
		json_array_append_new(list, peer_json(ctl, &p));
	}
	store_result_free(r);
	*out = json_pack("{s:o}", "nodes", list);
	return *out ? 0 : -ENOMEM;
}

int registry_node_get(struct controller *ctl, const char *id, json_t **out,
		      const char **why)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r;
	struct peer p;
	int ret;

	ret = store_q(ctl->store, c, &r,
		      "SELECT " PEER_COLUMNS " FROM sw_peers WHERE id = $1 "
		      "AND kind <> 'device'",
		      id);
	store_release(ctl->store, c);
	if (ret)
		return ret;
	if (r->nrows != 1) {
		*why = "no such node";
		ret = -ENOENT;
	} else {
		peer_from_row(&p, r, 0);
		*out = peer_json(ctl, &p);
		ret = *out ? 0 : -ENOMEM;
	}
	store_result_free(r);
	return ret;
}

int registry_node_delete(struct controller *ctl, const char *id,
			 const char **why)
{
	struct store_conn *c = store_acquire(ctl->store);
	struct store_result *r = NULL;
	int ret;

	ret = store_begin_write(ctl->store, c);
	if (ret)
		goto out;
	ret = store_q(ctl->store, c, &r,
		      "DELETE FROM sw_peers WHERE id = $1 AND kind <> 'device' "
		      "RETURNING kind",
		      id);
	if (ret)
		goto out;
	if (r->nrows != 1) {
		*why = "no such node";
		ret = -ENOENT;
		goto out;
	}
	ret = registry_bump(ctl, c, kind_parse(store_cell(r, 0, 0)) == ROLE_HUB);
out:
	ret = store_end(ctl->store, c, ret);
	store_release(ctl->store, c);
	store_result_free(r);
	if (!ret)
		watch_notify(ctl);
	return ret;
}

int registry_node_by_token(struct controller *ctl, const char *token,
			   struct peer *out)
{
	char hash[HASH_HEX_LEN + 1];
	struct store_conn *c;
	struct store_result *r;
	int ret;

	secret_hash_hex(hash, token);
	c = store_acquire(ctl->store);
	ret = store_q(ctl->store, c, &r,
		      "SELECT " PEER_COLUMNS ", token_hash FROM sw_peers "
		      "WHERE token_hash = $1 AND kind <> 'device'",
		      hash);
	store_release(ctl->store, c);
	if (ret)
		return ret;
	if (r->nrows == 1 && store_cell(r, 0, 9) &&
	    strlen(store_cell(r, 0, 9)) == HASH_HEX_LEN &&
	    crypto_equal(store_cell(r, 0, 9), hash, HASH_HEX_LEN)) {
		peer_from_row(out, r, 0);
		ret = 0;
	} else {
		ret = -EPERM;
	}
	store_result_free(r);
	return ret;
}

int registry_netmap_rows(struct controller *ctl, const struct peer *self,
			 int64_t *version, struct peer **peers, int *n)
{
	struct store_conn *c;
	struct store_result *r;
	struct versions v = { 0 };
	int ret, i;

	/* Version first: rows at least as new as the version we report. */
	ret = registry_versions(ctl, &v);
	if (ret)
		return ret;
	*version = self->role == ROLE_HUB ? v.all : v.hubs;
	c = store_acquire(ctl->store);
	if (self->role == ROLE_HUB)
		ret = store_q(ctl->store, c, &r,
			      "SELECT " PEER_COLUMNS " FROM sw_peers WHERE "
			      "id <> $1 ORDER BY addr_index",
			      self->id);
	else
		ret = store_q(ctl->store, c, &r,
			      "SELECT " PEER_COLUMNS " FROM sw_peers WHERE "
			      "kind = 'hub' AND id <> $1 ORDER BY addr_index",
			      self->id);
	store_release(ctl->store, c);
	if (ret)
		return ret;
	*n = r->nrows;
	*peers = calloc(r->nrows ? r->nrows : 1, sizeof(**peers));
	if (!*peers) {
		store_result_free(r);
		return -ENOMEM;
	}
	for (i = 0; i < r->nrows; ++i)
		peer_from_row(&(*peers)[i], r, i);
	store_result_free(r);
	return 0;
}

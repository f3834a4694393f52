/* The agent's data directory: private.key (0600, created once and reused),
 * state.json (node token and netmap version) and IFACE.conf, all written
 * atomically so a crash never leaves half a file. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "io/file.h"

static int data_path(const struct agent *a, char *out, size_t len,
		     const char *name)
{
	if (snprintf(out, len, "%s/%s", a->data_dir, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int agent_load_key(struct agent *a)
{
	char path[4096], b64[KEY_B64_LEN + 2] = "";
	uint8_t pub[KEY_LEN];
	struct stat st;
	FILE *f;
	int ret;

	if (mkdir(a->data_dir, 0700) && errno != EEXIST)
		return -errno;
	ret = data_path(a, path, sizeof(path), "private.key");
	if (ret)
		return ret;
	f = fopen(path, "re");
	if (f) {
		if (!fstat(fileno(f), &st) && (st.st_mode & 077))
			fprintf(stderr, "join: warning: %s is readable by "
					"others\n",
				path);
		if (!fgets(b64, sizeof(b64), f))
			b64[0] = '\0';
		fclose(f);
		b64[strcspn(b64, "\r\n")] = '\0';
		if (!key_from_base64(a->private_key, b64)) {
			fprintf(stderr, "join: %s: not a private key\n", path);
			memzero(b64, sizeof(b64));
			return -EINVAL;
		}
	} else if (errno == ENOENT) {
		curve25519_generate_secret(a->private_key);
		key_to_base64(b64, a->private_key);
		strcat(b64, "\n");
		ret = file_write_atomic(path, b64, strlen(b64), 0600);
		if (ret) {
			memzero(b64, sizeof(b64));
			return ret;
		}
	} else {
		return -errno;
	}
	memzero(b64, sizeof(b64));
	if (!curve25519_public(pub, a->private_key))
		return -EINVAL;
	key_to_base64(a->public_key, pub);
	return 0;
}

int agent_load_state(struct agent *a)
{
	char path[4096];
	json_t *root, *v;
	const char *s;

	if (data_path(a, path, sizeof(path), "state.json"))
		return -ENAMETOOLONG;
	root = json_load_file(path, 0, NULL);
	if (!root)
		return 0; /* first run */
	/* A state from another controller or node id is ignored. */
	s = json_string_value(json_object_get(root, "controller"));
	if (s && !strcmp(s, a->controller)) {
		s = json_string_value(json_object_get(root, "node_id"));
		v = json_object_get(root, "node_token");
		if (s && !strcmp(s, a->node_id) && json_is_string(v) &&
		    json_string_length(v) <= AGENT_TOKEN_MAX)
			snprintf(a->node_token, sizeof(a->node_token), "%s",
				 json_string_value(v));
	}
	json_decref(root);
	return 0;
}

int agent_save_state(const struct agent *a)
{
	char path[4096], *text;
	json_t *root;
	int ret;

	if (data_path(a, path, sizeof(path), "state.json"))
		return -ENAMETOOLONG;
	root = json_pack("{s:s, s:s, s:s, s:s, s:I}", "controller",
			 a->controller, "node_id", a->node_id, "interface",
			 a->iface, "node_token", a->node_token, "version",
			 (json_int_t)a->version);
	if (!root)
		return -ENOMEM;
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!text)
		return -ENOMEM;
	ret = file_write_atomic(path, text, strlen(text), 0600);
	memzero(text, strlen(text));
	free(text);
	return ret;
}

/* Peers come from the network: a missing or non-string field is "". */
static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void append(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);
	char *nbuf;

	if (!*buf)
		return;
	nbuf = malloc(*len + n + 1);
	if (nbuf) {
		memcpy(nbuf, *buf, *len);
		memcpy(nbuf + *len, s, n + 1);
	}
	/* The buffer holds the private key: never leave a copy behind. */
	memzero(*buf, *len);
	free(*buf);
	*buf = nbuf;
	*len += n;
}

int agent_write_config(const struct agent *a, json_t *peers)
{
	char path[4096], line[512];
	json_t *p, *ip;
	size_t i, j, len;
	char *buf;
	int ret;

	if (!a->iface_section)
		return -EINVAL;
	snprintf(line, sizeof(line), "%s.conf", a->iface);
	ret = data_path(a, path, sizeof(path), line);
	if (ret)
		return ret;
	len = strlen(a->iface_section);
	buf = strdup(a->iface_section);
	/* Still in [Interface]: the interface section ends the text. */
	if (a->userspace)
		append(&buf, &len, "Mode = userspace\n");
	if (a->sections) {
		append(&buf, &len, "\n# from --sections\n");
		append(&buf, &len, a->sections);
	}
	json_array_foreach(peers, i, p) {
		const char *ep = str(p, "endpoint");
		json_int_t ka = json_integer_value(
			json_object_get(p, "persistent_keepalive"));

		snprintf(line, sizeof(line),
			 "\n# friendly_name = %s\n[Peer]\n# %s %s\nPublicKey = %s\n",
			 str(p, "node_id"), str(p, "role"), str(p, "node_id"),
			 str(p, "public_key"));
		append(&buf, &len, line);
		if (*ep) {
			snprintf(line, sizeof(line), "Endpoint = %s\n", ep);
			append(&buf, &len, line);
		}
		append(&buf, &len, "AllowedIPs = ");
		json_array_foreach(json_object_get(p, "allowed_ips"), j, ip) {
			append(&buf, &len, j ? ", " : "");
			append(&buf, &len,
			       json_is_string(ip) ? json_string_value(ip) : "");
		}
		append(&buf, &len, "\n");
		if (ka > 0) {
			snprintf(line, sizeof(line), "PersistentKeepalive = %d\n",
				 (int)ka);
			append(&buf, &len, line);
		}
	}
	if (!buf)
		return -ENOMEM;
	ret = file_write_atomic(path, buf, len, 0600);
	memzero(buf, len);
	free(buf);
	return ret;
}

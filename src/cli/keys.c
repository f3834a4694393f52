/* genkey, genpsk, pubkey: byte-compatible with wg(8). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "crypto/crypto.h"

static int print_key(const uint8_t key[KEY_LEN])
{
	char b64[KEY_B64_LEN + 1];

	key_to_base64(b64, key);
	puts(b64);
	memzero(b64, sizeof(b64));
	return ferror(stdout) ? 1 : 0;
}

static void warn_world_readable(void)
{
	struct stat st;

	if (fstat(fileno(stdout), &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & S_IRWXO))
		fprintf(stderr, "Warning: writing to world accessible file.\n"
				"Consider setting the umask to 077 and trying again.\n");
}

static int gen(int argc, char *argv[], bool clamp)
{
	uint8_t key[KEY_LEN];
	int ret;

	if (argc != 1) {
		fprintf(stderr, "Usage: %s %s\n", prog_name, argv[0]);
		return 1;
	}
	warn_world_readable();
	if (clamp)
		curve25519_generate_secret(key);
	else
		random_bytes(key, sizeof(key));
	ret = print_key(key);
	memzero(key, sizeof(key));
	return ret;
}

int cmd_genkey(int argc, char *argv[])
{
	return gen(argc, argv, true);
}

int cmd_genpsk(int argc, char *argv[])
{
	return gen(argc, argv, false);
}

int cmd_pubkey(int argc, char *argv[])
{
	char line[KEY_B64_LEN + 3] = { 0 };
	uint8_t secret[KEY_LEN], pub[KEY_LEN];
	size_t len;
	int ret = 1;

	if (argc != 1) {
		fprintf(stderr, "Usage: %s %s < private.key\n", prog_name,
			argv[0]);
		return 1;
	}
	len = fread(line, 1, sizeof(line) - 1, stdin);
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
		       line[len - 1] == ' '))
		line[--len] = '\0';
	if (!key_from_base64(secret, line) ||
	    !curve25519_public(pub, secret)) {
		fprintf(stderr, "%s: Key is not the correct length or format\n",
			argv[0]);
		goto out;
	}
	ret = print_key(pub);
out:
	memzero(line, sizeof(line));
	memzero(secret, sizeof(secret));
	return ret;
}

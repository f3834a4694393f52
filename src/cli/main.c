/* spokewire: one binary, many roles. `spokewire [-f] IFACE` is the
 * wireguard-go compatible device daemon; everything else is a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "crypto/crypto.h"

const char *prog_name = "spokewire";

static const struct {
	const char *name;
	int (*fn)(int argc, char *argv[]);
	const char *usage;
	const char *help;
} subcommands[] = {
	{ "genkey", cmd_genkey, "", "Generates a new private key to stdout" },
	{ "genpsk", cmd_genpsk, "", "Generates a new preshared key to stdout" },
	{ "pubkey", cmd_pubkey, "< private.key",
	  "Reads a private key from stdin, writes its public key" },
	{ "up", cmd_up, "[-f] CONF",
	  "Brings an interface up from a config file (TUN or userspace mode)" },
	{ "down", cmd_down, "CONF", "Stops the interface `up CONF` started" },
	{ "reload", cmd_reload, "CONF",
	  "Applies an edited CONF to the running interface, sessions kept" },
	{ "run", cmd_run, "[CONF] -- CMD [ARGS...]",
	  "Brings the tunnel up (from CONF or WG_* variables), runs CMD, takes it down" },
	{ "status", cmd_status, "[IFACE | URL | CONF] [--json]",
	  "Shows an interface's peers, health and diagnostics" },
	{ "topology", cmd_topology, "FILE [--out DIR]",
	  "Writes every node's config from one topology file (--help for more)" },
	{ "gateway", cmd_gateway, "[--config CONF] [OPTIONS]",
	  "The public entrypoint into the mesh, managed by its API (--help for more)" },
	{ "controller", cmd_controller, "[OPTIONS]",
	  "Runs the registry and its HTTP API (--help for more)" },
	{ "join", cmd_join, "[OPTIONS]",
	  "Joins a controller and keeps the interface in sync" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: %s [-f] IFACE        run a userspace WireGuard device (like wireguard-go)\n"
		"       %s COMMAND [ARGS]\n\nCommands:\n",
		prog_name, prog_name);
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); ++i)
		if (subcommands[i].help)
			fprintf(f, "  %-10s %-16s %s\n", subcommands[i].name,
				subcommands[i].usage, subcommands[i].help);
	fprintf(f, "\nThe device is configured with wg(8): wg set IFACE ...; "
		   "wg-quick drives it with\nWG_QUICK_USERSPACE_IMPLEMENTATION=spokewire.\n");
}

int main(int argc, char *argv[])
{
	size_t i;

	if (crypto_init()) {
		fprintf(stderr, "%s: cannot initialise libsodium\n", prog_name);
		return 1;
	}
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v")) {
		puts("spokewire 0.1");
		return 0;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); ++i)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	return cmd_device(argc, argv);
}

/* What several subcommands do besides their own work: run another program
 * (or this binary with another subcommand) and wait for it, and read an
 * environment variable with a default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_self_path(char *out, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", out, len - 1);

	if (n < 0)
		return -errno;
	out[n] = '\0';
	/* Upgraded in place while we ran: the new binary is at the old path. */
	if (n > 10 && !strcmp(out + n - 10, " (deleted)"))
		out[n - 10] = '\0';
	return 0;
}

int cli_spawn(const char *prog, char *const argv[])
{
	char self[4096];
	int status, ret;
	pid_t pid;

	if (!prog && (ret = cli_self_path(self, sizeof(self))))
		return ret;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		if (prog)
			execvp(prog, argv);
		else
			execv(self, argv);
		fprintf(stderr, "%s: %s: %s\n", prog_name, prog ? prog : argv[0],
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const char *cli_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

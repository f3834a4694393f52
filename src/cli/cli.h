/* Subcommands of the spokewire binary: one file each, dispatched from the
 * table in main.c. */
#ifndef SPOKEWIRE_CLI_H
#define SPOKEWIRE_CLI_H

int cmd_genkey(int argc, char *argv[]);
int cmd_genpsk(int argc, char *argv[]);
int cmd_pubkey(int argc, char *argv[]);
int cmd_device(int argc, char *argv[]);
int cmd_controller(int argc, char *argv[]);
int cmd_join(int argc, char *argv[]);
int cmd_up(int argc, char *argv[]);
int cmd_down(int argc, char *argv[]);
int cmd_topology(int argc, char *argv[]);
int cmd_reload(int argc, char *argv[]);
int cmd_status(int argc, char *argv[]);
int cmd_run(int argc, char *argv[]);
int cmd_gateway(int argc, char *argv[]);

extern const char *prog_name;

/* spawn.c: runs prog (found on PATH; NULL: this binary, argv[0] its name)
 * with argv and waits: its exit status, 128 + a signal that ended it, 127
 * when it could not be run (said on stderr), or -errno from fork. */
int cli_spawn(const char *prog, char *const argv[]);
/* This binary's path (so a child's name is "spokewire", not the "exe" of
 * /proc/self/exe). 0 or -errno. */
int cli_self_path(char *out, size_t len);
/* The variable's value, or def when it is unset or empty. */
const char *cli_env(const char *name, const char *def);

/* A daemon's stdin, and stdout/stderr unless LOG_LEVEL is set, to
 * /dev/null (detach.c). */
void cli_detach_stdio(void);

#endif

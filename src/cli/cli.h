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

/* A daemon's stdin, and stdout/stderr unless LOG_LEVEL is set, to
 * /dev/null (detach.c). */
void cli_detach_stdio(void);

#endif

/* cli — the operator's verbs over the hub's HTTP API: subscribers, publish, token, filter test,
 * match, events, dead letters, seed. Human-readable tables by default, --json for scripts.
 * Calls: client, config, auth, sub, json, buf, cJSON.
 * Exit codes: 0 done; 1 the hub refused (its error is printed); 2 usage error (the verb's help is
 * printed); 3 the hub could not be reached. */
#ifndef SY_CLI_H
#define SY_CLI_H

#include "config.h"

enum { CLI_OK = 0, CLI_REFUSED = 1, CLI_USAGE = 2, CLI_UNREACHABLE = 3 };

/* Runs verb with its arguments (settings already removed). Returns the exit code, or -1 if verb is
 * not a CLI verb. */
int cli_run(const config *cfg, const char *verb, int argc, char **argv);

/* Prints the usage lines of verb on stdout. Returns 0, or -1 if verb is not a CLI verb. */
int cli_help(const char *verb);

/* The verbs, one line each, for the top-level --help. */
extern const char cli_usage[];

/* --- shared by the verbs (cli.c, cli_seed.c) --- */

/* Prints the hub's answer to a failed call on stderr and returns the exit code for it. */
int cli_fail(int status, const char *body);
/* Reads a whole file ("-" = standard input). Returns malloc'd text or NULL. */
char *cli_read_file(const char *path, size_t *len);
/* Applies the seed file (cli_seed.c). */
int cli_seed(const config *cfg, int argc, char **argv);

#endif

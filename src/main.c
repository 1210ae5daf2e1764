/* main — `switchyard <command>`: parses the settings and runs the hub, a worker, or a CLI verb.
 * Calls: config, log, rds (process-wide TLS settings), hub, worker, cli, libcurl (global init for
 * the CLI). */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "hub.h"
#include "log.h"
#include "rds.h"
#include "worker.h"

static const char usage[] =
    "usage: switchyard <command> [settings] [arguments]\n"
    "\n"
    "processes:\n"
    "  hub                                 run the HTTP API (publish, admin, health, metrics)\n"
    "  worker                              run a delivery worker\n"
    "  version                             print the version\n"
    "\n"
    "operator verbs (they talk to the hub at SWITCHYARD_HUB_URL with SWITCHYARD_ADMIN_TOKEN):\n";

static void print_help(FILE *to)
{
    static char table[8192];
    config_help(table, sizeof table);
    fprintf(to, "%s%s\nexit codes: 0 done, 1 the hub refused, 2 usage error, 3 hub unreachable\n"
                "\nsettings (flag, environment, default):\n%s",
            usage, cli_usage, table);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            if (cli_help(cmd) != 0)
                print_help(stdout);
            return 0;
        }
    config cfg;
    char err[512];
    char **rest;
    int nrest;
    if (config_load(&cfg, argc - 2, argv + 2, &rest, &nrest, err, sizeof err) != 0) {
        fprintf(stderr, "switchyard: %s\n", err);
        return 2;
    }
    log_setup(cfg.log_format, cfg.log_level);
    rds_set_tls(&(rds_tls_opts){.ca_file = cfg.redis_tls_ca,
                                .cert_file = cfg.redis_tls_cert,
                                .key_file = cfg.redis_tls_key,
                                .servername = cfg.redis_tls_servername});
    if (strcmp(cmd, "hub") == 0 || strcmp(cmd, "worker") == 0) {
        if (nrest) {
            fprintf(stderr, "switchyard %s: unexpected argument \"%s\"; see switchyard --help\n",
                    cmd, rest[0]);
            return 2;
        }
        return cmd[0] == 'h' ? hub_run(&cfg) : worker_run(&cfg);
    }
    if (strcmp(cmd, "version") == 0) {
        printf("switchyard %s\n", SWITCHYARD_VERSION);
        return 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cli_run(&cfg, cmd, nrest, rest);
    curl_global_cleanup();
    if (rc < 0) {
        fprintf(stderr, "switchyard: unknown command \"%s\"; run switchyard --help\n", cmd);
        return 2;
    }
    return rc;
}

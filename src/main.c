/* main — `switchyard <command>`: parses the settings and runs the hub, a worker, or a CLI verb.
 * Calls: config, log, hub, worker, client, auth, sub, cJSON. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "client.h"
#include "config.h"
#include "hub.h"
#include "json.h"
#include "log.h"
#include "sub.h"
#include "worker.h"

static const char usage[] =
    "usage: switchyard <command> [settings] [arguments]\n"
    "\n"
    "commands:\n"
    "  hub                  run the HTTP API (publish, admin, health, metrics)\n"
    "  worker               run a delivery worker\n"
    "  seed FILE            apply a JSON list of subscribers by name (idempotent) through the hub\n"
    "  token [--topics a,b.*] [--ttl SECONDS] [--sub NAME]\n"
    "                       print a publisher token signed with the JWT secret\n"
    "  version              print the version\n"
    "\n"
    "settings (flag, environment, default):\n";

static void print_help(FILE *to)
{
    static char table[8192];
    config_help(table, sizeof table);
    fprintf(to, "%s%s", usage, table);
}

/* Reads a whole file; NULL with errno set on failure. Caller frees. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b = BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return buf_take(&b);
}

/* Validates every entry first: a file with one bad entry applies nothing. */
static int cmd_seed(const config *cfg, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: switchyard seed FILE\n");
        return 2;
    }
    const char *path = argv[0];
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "seed: cannot read %s\n", path);
        return 1;
    }
    char why[200];
    cJSON *list = json_parse(text, len, why, sizeof why);
    free(text);
    if (!list || !cJSON_IsArray(list)) {
        fprintf(stderr, "seed: %s: %s\n", path,
                list ? "must hold a JSON list of subscriber objects" : why);
        cJSON_Delete(list);
        return 1;
    }
    int i = 0, bad = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        char err[512];
        subscriber s;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsString(name)) {
            fprintf(stderr, "seed: %s: entry %d: \"name\" is required (seeds apply by name)\n",
                    path, i + 1);
            bad = 1;
        } else if (sub_from_json(&s, e, NULL, 0, err, sizeof err) != 0) {
            fprintf(stderr, "seed: %s: entry %d (%s): %s\n", path, i + 1, name->valuestring, err);
            bad = 1;
        } else {
            for (const cJSON *o = list->child; o != e; o = o->next) {
                const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "name");
                if (cJSON_IsString(on) && strcmp(on->valuestring, name->valuestring) == 0) {
                    fprintf(stderr, "seed: %s: entry %d: name \"%s\" appears twice\n", path, i + 1,
                            name->valuestring);
                    bad = 1;
                }
            }
            sub_free(&s);
        }
        i++;
    }
    if (bad) {
        fprintf(stderr, "seed: %s: nothing was applied\n", path);
        cJSON_Delete(list);
        return 1;
    }
    int rc = 0;
    i = 0;
    cJSON_ArrayForEach(e, list) {
        const char *name = cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
        char *body = cJSON_PrintUnformatted(e);
        buf path_b = BUF_INIT, resp = BUF_INIT;
        buf_printf(&path_b, "/v1/subscribers/%s", name);
        int status = client_call(cfg, "PUT", path_b.p, body, &resp);
        free(body);
        if (status == 201 || status == 200) {
            printf("%s %s\n", status == 201 ? "created" : "updated", name);
        } else {
            fprintf(stderr, "seed: %s: entry %d (%s): %s%s\n", path, i + 1, name,
                    status < 0 ? "" : "hub answered: ", buf_str(&resp));
            rc = 1;
        }
        buf_free(&path_b);
        buf_free(&resp);
        i++;
        if (status < 0)
            break;
    }
    cJSON_Delete(list);
    return rc;
}

static int cmd_token(const config *cfg, int argc, char **argv)
{
    if (!cfg->jwt_secret[0]) {
        fprintf(stderr, "token: set SWITCHYARD_JWT_SECRET (or --jwt-secret) to sign tokens\n");
        return 2;
    }
    const char *topics = NULL, *sub = NULL;
    long ttl = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--topics") == 0 && i + 1 < argc) {
            topics = argv[++i];
        } else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc) {
            char *end;
            ttl = strtol(argv[++i], &end, 10);
            if (*end || ttl <= 0) {
                fprintf(stderr, "token: --ttl must be a positive number of seconds\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--sub") == 0 && i + 1 < argc) {
            sub = argv[++i];
        } else {
            fprintf(stderr, "token: unknown argument %s\nusage: switchyard token [--topics "
                            "a,b.*] [--ttl SECONDS] [--sub NAME]\n",
                    argv[i]);
            return 2;
        }
    }
    cJSON *claims = cJSON_CreateObject();
    time_t now = time(NULL);
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    if (ttl)
        cJSON_AddNumberToObject(claims, "exp", (double)(now + ttl));
    if (sub)
        cJSON_AddStringToObject(claims, "sub", sub);
    if (topics) {
        cJSON *a = cJSON_AddArrayToObject(claims, "topics");
        char *copy = strdup(topics), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(a, cJSON_CreateString(t));
        free(copy);
    }
    char *payload = cJSON_PrintUnformatted(claims);
    cJSON_Delete(claims);
    char *tok = auth_jwt_sign(cfg->jwt_secret, payload);
    free(payload);
    if (!tok)
        return 1;
    printf("%s\n", tok);
    free(tok);
    return 0;
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
    if (strcmp(cmd, "hub") == 0)
        return hub_run(&cfg);
    if (strcmp(cmd, "worker") == 0)
        return worker_run(&cfg);
    if (strcmp(cmd, "version") == 0) {
        printf("switchyard %s\n", SWITCHYARD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "token") == 0)
        return cmd_token(&cfg, nrest, rest);
    if (strcmp(cmd, "seed") == 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = cmd_seed(&cfg, nrest, rest);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "switchyard: unknown command \"%s\"; run switchyard --help\n", cmd);
    return 2;
}

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "buf.h"
#include "client.h"
#include "codec.h"
#include "json.h"

const char cli_usage[] =
    "  subscribers list [--topic T]        list subscribers (those receiving topic T)\n"
    "  subscribers show ID|NAME            one subscriber, with its circuit state\n"
    "  subscribers add --topic T --url U [--name N] [--filter F] [--method M] [--header k=v]...\n"
    "                  [--envelope] [--max-attempts N] [--retry-delays-ms a,b] [--timeout-ms N]\n"
    "                  [--rate-limit N] [--max-in-flight N] [--discard-codes a,b]\n"
    "                  [--success-codes a,b]   create; prints the id and the signing secret\n"
    "  subscribers update ID|NAME [same options as add] [--enable|--disable]\n"
    "  subscribers remove ID|NAME\n"
    "  subscribers rotate-secret ID|NAME   new secret; the old one signs too for 24 h\n"
    "  publish TOPIC [DATA] [--id ID] [--deliver-at TIME] [--ttl S] [--idempotency-key K]\n"
    "                                      DATA is JSON, @FILE or - (stdin); token from\n"
    "                                      SWITCHYARD_TOKEN, else minted from the JWT secret\n"
    "  token [--topics a,b.*] [--ttl S] [--sub NAME]   print a publisher token\n"
    "  filter test FILTER [DATA]           evaluate a filter against event data\n"
    "  match TOPIC [DATA]                  which subscribers would receive the event, and why\n"
    "  events show ID                      an event's jobs and every attempt\n"
    "  dead list [--subscriber ID] [--limit N] [--cursor C]\n"
    "  dead replay JOB_ID | dead replay --subscriber ID [--since T] [--until T] [--rate N]\n"
    "  dead purge JOB_ID\n"
    "  seed FILE [--prune] [--dry-run]     apply subscribers by name; --prune removes the others\n"
    "  (every verb takes --json for machine-readable output and --help)\n";

/* --- arguments --- */

typedef struct args {
    const char *pos[8];        /* positional arguments */
    int npos;                  /* entries in pos */
    const char *name[48];      /* flags given, without "--" */
    const char *val[48];       /* their values; NULL for switches */
    int n;                     /* entries in name/val */
    int json;                  /* --json */
} args;

/* Splits argv by the verb's flags: `values` take a value, `switches` do not (NULL-terminated lists).
 * Returns 0, or -1 with the complaint printed. */
static int parse_args(int argc, char **argv, const char *const *values, const char *const *switches,
                      args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0 || strcmp(s, "-") == 0) {
            if (a->npos == 8) {
                fprintf(stderr, "too many arguments\n");
                return -1;
            }
            a->pos[a->npos++] = s;
            continue;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 4 && strncmp(name, "json", 4) == 0) {
            a->json = 1;
            continue;
        }
        int found = 0;
        for (const char *const *v = values; v && *v && !found; v++)
            if (strlen(*v) == len && strncmp(*v, name, len) == 0) {
                const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
                if (!val) {
                    fprintf(stderr, "--%s needs a value\n", *v);
                    return -1;
                }
                a->name[a->n] = *v;
                a->val[a->n++] = val;
                found = 1;
            }
        for (const char *const *v = switches; v && *v && !found; v++)
            if (strlen(*v) == len && strncmp(*v, name, len) == 0 && !eq) {
                a->name[a->n] = *v;
                a->val[a->n++] = NULL;
                found = 1;
            }
        if (!found || a->n == 48) {
            fprintf(stderr, "unknown option %s\n", s);
            return -1;
        }
    }
    return 0;
}

static const char *opt(const args *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], name) == 0)
            return a->val[i] ? a->val[i] : "";
    return NULL;
}

static int usage(const char *verb)
{
    fprintf(stderr, "switchyard %s: wrong arguments; see switchyard %s --help\n", verb, verb);
    return CLI_USAGE;
}

/* --- I/O helpers --- */

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    buf b = BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    if (f != stdin)
        fclose(f);
    *len = b.len;
    return buf_take(&b);
}

/* DATA as given: JSON text, @FILE or - (stdin). Returns malloc'd JSON text or NULL (printed). */
static char *data_arg(const char *arg)
{
    size_t len = 0;
    char *text = arg[0] == '@' || strcmp(arg, "-") == 0
                     ? cli_read_file(arg[0] == '@' ? arg + 1 : arg, &len)
                     : strdup(arg);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", arg[0] == '@' ? arg + 1 : "standard input");
        return NULL;
    }
    char err[200];
    cJSON *j = json_parse(text, strlen(text), err, sizeof err);
    if (!j || !cJSON_IsObject(j)) {
        fprintf(stderr, "event data must be a JSON object: %s\n", j ? "got another JSON value" : err);
        cJSON_Delete(j);
        free(text);
        return NULL;
    }
    cJSON_Delete(j);
    return text;
}

int cli_fail(int status, const char *body)
{
    if (status < 0) {
        fprintf(stderr, "error: %s\n", body);
        return CLI_UNREACHABLE;
    }
    cJSON *j = cJSON_Parse(body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(code) && cJSON_IsString(msg))
        fprintf(stderr, "error: %s (HTTP %d, %s)\n", msg->valuestring, status, code->valuestring);
    else
        fprintf(stderr, "error: the hub answered HTTP %d: %.300s\n", status, body);
    if (status == 401)
        fprintf(stderr, "hint: set SWITCHYARD_ADMIN_TOKEN (admin verbs) or SWITCHYARD_TOKEN / "
                        "SWITCHYARD_JWT_SECRET (publish) to what the hub uses\n");
    cJSON_Delete(j);
    return CLI_REFUSED;
}

/* Calls the hub; on success returns the parsed answer (may be NULL for 204) with *rc = CLI_OK. */
static cJSON *call(const config *cfg, const char *method, const char *path, const char *body,
                   const char *token, const char *extra, int *rc)
{
    buf resp = BUF_INIT;
    int status = client_call(cfg, method, path, body, token, extra, &resp);
    cJSON *j = NULL;
    if (status < 200 || status > 299) {
        *rc = cli_fail(status, buf_str(&resp));
    } else {
        *rc = CLI_OK;
        j = resp.len ? cJSON_Parse(resp.p) : NULL;
    }
    buf_free(&resp);
    return j;
}

static void print_json(const cJSON *j)
{
    char *s = cJSON_Print(j);
    printf("%s\n", s ? s : "null");
    free(s);
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

/* A field rendered for a table cell: strings as they are, others as JSON; into cell. */
static const char *cell(const cJSON *o, const char *key, char *out, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        snprintf(out, len, "-");
    else if (cJSON_IsString(v))
        snprintf(out, len, "%s", v->valuestring);
    else if (cJSON_IsBool(v))
        snprintf(out, len, "%s", cJSON_IsTrue(v) ? "yes" : "no");
    else {
        char *s = cJSON_PrintUnformatted(v);
        snprintf(out, len, "%s", s ? s : "?");
        free(s);
    }
    if (strlen(out) > 48)
        strcpy(out + 45, "...");
    return out;
}

/* Prints items (array of objects) as a table of the given columns. */
static void table(const cJSON *items, const char *const *keys, const char *const *titles, int ncol)
{
    int width[12] = {0};
    char c[64];
    for (int k = 0; k < ncol; k++)
        width[k] = (int)strlen(titles[k]);
    const cJSON *it;
    cJSON_ArrayForEach(it, items) for (int k = 0; k < ncol; k++)
    {
        int w = (int)strlen(cell(it, keys[k], c, sizeof c));
        if (w > width[k])
            width[k] = w;
    }
    for (int k = 0; k < ncol; k++)
        printf("%-*s%s", k + 1 < ncol ? width[k] : 0, titles[k], k + 1 < ncol ? "  " : "\n");
    cJSON_ArrayForEach(it, items) for (int k = 0; k < ncol; k++)
        printf("%-*s%s", k + 1 < ncol ? width[k] : 0, cell(it, keys[k], c, sizeof c),
               k + 1 < ncol ? "  " : "\n");
}

/* --- subscribers --- */

static const char *const sub_values[] = {
    "topic", "url", "name", "filter", "method", "header", "max-attempts", "retry-delays-ms",
    "timeout-ms", "rate-limit", "max-in-flight", "discard-codes", "success-codes", NULL};
static const char *const sub_switches[] = {"envelope", "no-envelope", "enable", "disable", NULL};

static cJSON *number_list(const char *csv)
{
    cJSON *a = cJSON_CreateArray();
    char *copy = strdup(csv), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        cJSON_AddItemToArray(a, cJSON_CreateNumber(strtod(t, NULL)));
    free(copy);
    return a;
}

/* The subscriber fields the options give, as a JSON object (the hub validates them). */
static cJSON *sub_fields(const args *a)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const strs[][2] = {{"topic", "topic"}, {"url", "target_url"},
                                          {"name", "name"}, {"filter", "filter"},
                                          {"method", "method"}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (opt(a, strs[i][0]))
            cJSON_AddStringToObject(o, strs[i][1], opt(a, strs[i][0]));
    static const char *const nums[][2] = {{"max-attempts", "max_attempts"},
                                          {"timeout-ms", "timeout_ms"},
                                          {"rate-limit", "rate_limit_per_s"},
                                          {"max-in-flight", "max_in_flight"}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (opt(a, nums[i][0]))
            cJSON_AddNumberToObject(o, nums[i][1], strtod(opt(a, nums[i][0]), NULL));
    static const char *const lists[][2] = {{"retry-delays-ms", "retry_delays_ms"},
                                           {"discard-codes", "discard_codes"},
                                           {"success-codes", "success_codes"}};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (opt(a, lists[i][0]))
            cJSON_AddItemToObject(o, lists[i][1], number_list(opt(a, lists[i][0])));
    if (opt(a, "envelope"))
        cJSON_AddBoolToObject(o, "envelope", 1);
    if (opt(a, "no-envelope"))
        cJSON_AddBoolToObject(o, "envelope", 0);
    if (opt(a, "enable"))
        cJSON_AddBoolToObject(o, "enabled", 1);
    if (opt(a, "disable"))
        cJSON_AddBoolToObject(o, "enabled", 0);
    cJSON *headers = NULL;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], "header") == 0) {
            const char *eq = strchr(a->val[i], '=');
            if (!eq)
                continue;
            if (!headers)
                headers = cJSON_AddObjectToObject(o, "headers");
            char *k = strndup(a->val[i], (size_t)(eq - a->val[i]));
            cJSON_AddStringToObject(headers, k, eq + 1);
            free(k);
        }
    return o;
}

static void print_sub(const cJSON *s)
{
    static const char *const keys[] = {"id", "name", "topic", "filter", "target_url", "method",
                                       "headers", "envelope", "enabled", "success_codes",
                                       "discard_codes", "max_attempts", "retry_delays_ms",
                                       "timeout_ms", "rate_limit_per_s", "max_in_flight",
                                       "circuit", "secret"};
    char c[64];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (cJSON_GetObjectItemCaseSensitive(s, keys[i]))
            printf("%-17s %s\n", keys[i], cell(s, keys[i], c, sizeof c));
}

static int subscribers(const config *cfg, int argc, char **argv)
{
    if (argc < 1)
        return usage("subscribers");
    const char *what = argv[0];
    args a;
    if (parse_args(argc - 1, argv + 1, sub_values, sub_switches, &a) != 0)
        return usage("subscribers");
    int rc;
    cJSON *j = NULL;
    buf path = BUF_INIT;
    if (strcmp(what, "list") == 0 && a.npos == 0) {
        buf_puts(&path, "/v1/subscribers");
        if (opt(&a, "topic")) {
            buf_puts(&path, "?topic=");
            codec_pct_encode(&path, opt(&a, "topic"), strlen(opt(&a, "topic")));
        }
        j = call(cfg, "GET", path.p, NULL, NULL, NULL, &rc);
        if (rc == CLI_OK && !a.json) {
            static const char *const k[] = {"name", "id", "topic", "target_url", "enabled", "filter"};
            static const char *const t[] = {"NAME", "ID", "TOPIC", "TARGET", "ENABLED", "FILTER"};
            table(cJSON_GetObjectItemCaseSensitive(j, "subscribers"), k, t, 6);
        }
    } else if (strcmp(what, "add") == 0 && a.npos == 0) {
        cJSON *o = sub_fields(&a);
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        j = call(cfg, "POST", "/v1/subscribers", body, NULL, NULL, &rc);
        free(body);
        if (rc == CLI_OK && !a.json)
            printf("created %s (%s)\nsecret: %s\n(the secret is shown only now: give it to the "
                   "receiver to verify signatures)\n",
                   str(j, "name"), str(j, "id"), str(j, "secret"));
    } else if ((strcmp(what, "show") == 0 || strcmp(what, "update") == 0 ||
                strcmp(what, "remove") == 0 || strcmp(what, "rotate-secret") == 0) &&
               a.npos == 1) {
        buf_puts(&path, "/v1/subscribers/");
        codec_pct_encode(&path, a.pos[0], strlen(a.pos[0]));
        if (strcmp(what, "show") == 0) {
            j = call(cfg, "GET", path.p, NULL, NULL, NULL, &rc);
        } else if (strcmp(what, "remove") == 0) {
            j = call(cfg, "DELETE", path.p, NULL, NULL, NULL, &rc);
            if (rc == CLI_OK && !a.json)
                printf("removed %s\n", a.pos[0]);
        } else if (strcmp(what, "rotate-secret") == 0) {
            buf_puts(&path, "/rotate-secret");
            j = call(cfg, "POST", path.p, NULL, NULL, NULL, &rc);
            if (rc == CLI_OK && !a.json)
                printf("new secret: %s\n(the old secret keeps signing for 24 hours)\n",
                       str(j, "secret"));
        } else {
            cJSON *o = sub_fields(&a);
            char *body = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            j = call(cfg, "PATCH", path.p, body, NULL, NULL, &rc);
            free(body);
        }
        if (rc == CLI_OK && !a.json && (strcmp(what, "show") == 0 || strcmp(what, "update") == 0))
            print_sub(j);
    } else {
        buf_free(&path);
        return usage("subscribers");
    }
    if (rc == CLI_OK && a.json && j)
        print_json(j);
    cJSON_Delete(j);
    buf_free(&path);
    return rc;
}

/* --- publish, filter test, match, events --- */

static int publish(const config *cfg, int argc, char **argv)
{
    static const char *const values[] = {"id", "deliver-at", "ttl", "idempotency-key", NULL};
    args a;
    if (parse_args(argc, argv, values, NULL, &a) != 0 || a.npos < 1 || a.npos > 2)
        return usage("publish");
    char *data = data_arg(a.npos == 2 ? a.pos[1] : "{}");
    if (!data)
        return CLI_USAGE;
    char *token = NULL;
    const char *given = getenv("SWITCHYARD_TOKEN");
    if (given && *given) {
        token = strdup(given);
    } else if (cfg->jwt_secret[0]) {
        char claims[64];
        snprintf(claims, sizeof claims, "{\"exp\":%lld}", (long long)time(NULL) + 300);
        token = auth_jwt_sign(cfg->jwt_secret, claims);
    } else {
        fprintf(stderr, "publish needs a token: set SWITCHYARD_TOKEN, or SWITCHYARD_JWT_SECRET to "
                        "mint one\n");
        free(data);
        return CLI_USAGE;
    }
    buf body = BUF_INIT;
    buf_puts(&body, "{\"topic\":");
    buf_json_str(&body, a.pos[0], strlen(a.pos[0]));
    buf_printf(&body, ",\"data\":%s", data);
    if (opt(&a, "id")) {
        buf_puts(&body, ",\"id\":");
        buf_json_str(&body, opt(&a, "id"), strlen(opt(&a, "id")));
    }
    if (opt(&a, "deliver-at")) {
        buf_puts(&body, ",\"deliver_at\":");
        buf_json_str(&body, opt(&a, "deliver-at"), strlen(opt(&a, "deliver-at")));
    }
    if (opt(&a, "ttl"))
        buf_printf(&body, ",\"ttl\":%lld", atoll(opt(&a, "ttl")));
    buf_putc(&body, '}');
    char idem[300] = "";
    if (opt(&a, "idempotency-key"))
        snprintf(idem, sizeof idem, "Idempotency-Key: %s", opt(&a, "idempotency-key"));
    int rc;
    cJSON *j = call(cfg, "POST", "/v1/publish", body.p, token, idem[0] ? idem : NULL, &rc);
    if (rc == CLI_OK) {
        if (a.json)
            print_json(j);
        else
            printf("published %s to %s: %d subscriber(s) matched\n", str(j, "id"), str(j, "topic"),
                   cJSON_GetObjectItemCaseSensitive(j, "matched")
                       ? cJSON_GetObjectItemCaseSensitive(j, "matched")->valueint
                       : 0);
    }
    cJSON_Delete(j);
    buf_free(&body);
    free(data);
    free(token);
    return rc;
}

static int filter_test(const config *cfg, int argc, char **argv)
{
    args a;
    if (argc < 1 || strcmp(argv[0], "test") != 0 ||
        parse_args(argc - 1, argv + 1, NULL, NULL, &a) != 0 || a.npos < 1 || a.npos > 2)
        return usage("filter");
    char *data = data_arg(a.npos == 2 ? a.pos[1] : "{}");
    if (!data)
        return CLI_USAGE;
    buf body = BUF_INIT;
    buf_puts(&body, "{\"filter\":");
    buf_json_str(&body, a.pos[0], strlen(a.pos[0]));
    buf_printf(&body, ",\"data\":%s}", data);
    int rc;
    cJSON *j = call(cfg, "POST", "/v1/filters/test", body.p, NULL, NULL, &rc);
    if (rc == CLI_OK) {
        if (a.json) {
            print_json(j);
        } else {
            const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
            printf("%s%s%s\n", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "match"))
                                   ? "match" : "no match",
                   cJSON_IsString(err) ? ": " : "", cJSON_IsString(err) ? err->valuestring : "");
        }
    }
    cJSON_Delete(j);
    buf_free(&body);
    free(data);
    return rc;
}

static int match(const config *cfg, int argc, char **argv)
{
    args a;
    if (parse_args(argc, argv, NULL, NULL, &a) != 0 || a.npos < 1 || a.npos > 2)
        return usage("match");
    char *data = data_arg(a.npos == 2 ? a.pos[1] : "{}");
    if (!data)
        return CLI_USAGE;
    buf body = BUF_INIT;
    buf_puts(&body, "{\"topic\":");
    buf_json_str(&body, a.pos[0], strlen(a.pos[0]));
    buf_printf(&body, ",\"data\":%s}", data);
    int rc;
    cJSON *j = call(cfg, "POST", "/v1/match", body.p, NULL, NULL, &rc);
    if (rc == CLI_OK && a.json) {
        print_json(j);
    } else if (rc == CLI_OK) {
        static const char *const k[] = {"name", "receives", "topic_match", "filter_match",
                                        "enabled", "error"};
        static const char *const t[] = {"NAME", "RECEIVES", "TOPIC", "FILTER", "ENABLED", "ERROR"};
        table(cJSON_GetObjectItemCaseSensitive(j, "subscribers"), k, t, 6);
    }
    cJSON_Delete(j);
    buf_free(&body);
    free(data);
    return rc;
}

static int events(const config *cfg, int argc, char **argv)
{
    args a;
    if (argc < 1 || strcmp(argv[0], "show") != 0 ||
        parse_args(argc - 1, argv + 1, NULL, NULL, &a) != 0 || a.npos != 1)
        return usage("events");
    buf path = BUF_INIT;
    buf_puts(&path, "/v1/events/");
    codec_pct_encode(&path, a.pos[0], strlen(a.pos[0]));
    int rc;
    cJSON *j = call(cfg, "GET", path.p, NULL, NULL, NULL, &rc);
    if (rc == CLI_OK && a.json) {
        print_json(j);
    } else if (rc == CLI_OK) {
        printf("event %s  topic %s  published %s\n", str(j, "id"), str(j, "topic"),
               str(j, "published_at"));
        const cJSON *job;
        cJSON_ArrayForEach(job, cJSON_GetObjectItemCaseSensitive(j, "jobs"))
        {
            printf("  job %s  subscriber %s  %s\n", str(job, "job_id"), str(job, "subscriber_id"),
                   str(job, "state"));
            const cJSON *at;
            char c1[64], c2[64], c3[64];
            cJSON_ArrayForEach(at, cJSON_GetObjectItemCaseSensitive(job, "attempts"))
                printf("    %s  status %s  %s ms  %s\n", str(at, "at"),
                       cell(at, "status", c1, sizeof c1), cell(at, "latency_ms", c2, sizeof c2),
                       cell(at, "error", c3, sizeof c3));
        }
    }
    cJSON_Delete(j);
    buf_free(&path);
    return rc;
}

/* --- dead letters --- */

static int dead(const config *cfg, int argc, char **argv)
{
    static const char *const values[] = {"subscriber", "limit", "cursor", "since", "until", "rate",
                                         NULL};
    if (argc < 1)
        return usage("dead");
    const char *what = argv[0];
    args a;
    if (parse_args(argc - 1, argv + 1, values, NULL, &a) != 0)
        return usage("dead");
    buf path = BUF_INIT, body = BUF_INIT;
    int rc = CLI_USAGE;
    cJSON *j = NULL;
    if (strcmp(what, "list") == 0 && a.npos == 0) {
        buf_printf(&path, "/v1/dead?limit=%s", opt(&a, "limit") ? opt(&a, "limit") : "100");
        if (opt(&a, "subscriber")) {
            buf_puts(&path, "&subscriber=");
            codec_pct_encode(&path, opt(&a, "subscriber"), strlen(opt(&a, "subscriber")));
        }
        if (opt(&a, "cursor")) {
            buf_puts(&path, "&cursor=");
            codec_pct_encode(&path, opt(&a, "cursor"), strlen(opt(&a, "cursor")));
        }
        j = call(cfg, "GET", path.p, NULL, NULL, NULL, &rc);
        if (rc == CLI_OK && !a.json) {
            static const char *const k[] = {"job_id", "event_id", "subscriber_id", "attempts",
                                            "last_status", "dead_at", "last_error"};
            static const char *const t[] = {"JOB", "EVENT", "SUBSCRIBER", "ATTEMPTS", "STATUS",
                                            "DEAD AT", "LAST ERROR"};
            table(cJSON_GetObjectItemCaseSensitive(j, "items"), k, t, 7);
            const cJSON *next = cJSON_GetObjectItemCaseSensitive(j, "next_cursor");
            if (cJSON_IsString(next))
                printf("more: switchyard dead list --cursor %s\n", next->valuestring);
        }
    } else if (strcmp(what, "replay") == 0 && a.npos == 1) {
        buf_puts(&path, "/v1/dead/");
        codec_pct_encode(&path, a.pos[0], strlen(a.pos[0]));
        buf_puts(&path, "/replay");
        j = call(cfg, "POST", path.p, NULL, NULL, NULL, &rc);
        if (rc == CLI_OK && !a.json)
            printf("replayed %s\n", a.pos[0]);
    } else if (strcmp(what, "replay") == 0 && a.npos == 0 && opt(&a, "subscriber")) {
        buf_puts(&body, "{\"subscriber_id\":");
        buf_json_str(&body, opt(&a, "subscriber"), strlen(opt(&a, "subscriber")));
        if (opt(&a, "since")) {
            buf_puts(&body, ",\"since\":");
            buf_json_str(&body, opt(&a, "since"), strlen(opt(&a, "since")));
        }
        if (opt(&a, "until")) {
            buf_puts(&body, ",\"until\":");
            buf_json_str(&body, opt(&a, "until"), strlen(opt(&a, "until")));
        }
        if (opt(&a, "rate"))
            buf_printf(&body, ",\"rate_per_s\":%lld", atoll(opt(&a, "rate")));
        buf_putc(&body, '}');
        j = call(cfg, "POST", "/v1/dead/replay", body.p, NULL, NULL, &rc);
        if (rc == CLI_OK && !a.json)
            printf("replayed %d dead letter(s)\n",
                   cJSON_GetObjectItemCaseSensitive(j, "replayed")
                       ? cJSON_GetObjectItemCaseSensitive(j, "replayed")->valueint
                       : 0);
    } else if (strcmp(what, "purge") == 0 && a.npos == 1) {
        buf_puts(&path, "/v1/dead/");
        codec_pct_encode(&path, a.pos[0], strlen(a.pos[0]));
        j = call(cfg, "DELETE", path.p, NULL, NULL, NULL, &rc);
        if (rc == CLI_OK && !a.json)
            printf("purged %s\n", a.pos[0]);
    } else {
        rc = usage("dead");
    }
    if (rc == CLI_OK && a.json && j)
        print_json(j);
    cJSON_Delete(j);
    buf_free(&path);
    buf_free(&body);
    return rc;
}

static int token(const config *cfg, int argc, char **argv)
{
    static const char *const values[] = {"topics", "ttl", "sub", NULL};
    args a;
    if (parse_args(argc, argv, values, NULL, &a) != 0 || a.npos)
        return usage("token");
    if (!cfg->jwt_secret[0]) {
        fprintf(stderr, "token: set SWITCHYARD_JWT_SECRET (or --jwt-secret) to sign tokens\n");
        return CLI_USAGE;
    }
    long ttl = opt(&a, "ttl") ? atol(opt(&a, "ttl")) : 0;
    if (opt(&a, "ttl") && ttl <= 0) {
        fprintf(stderr, "token: --ttl must be a positive number of seconds\n");
        return CLI_USAGE;
    }
    cJSON *claims = cJSON_CreateObject();
    time_t now = time(NULL);
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    if (ttl)
        cJSON_AddNumberToObject(claims, "exp", (double)(now + ttl));
    if (opt(&a, "sub"))
        cJSON_AddStringToObject(claims, "sub", opt(&a, "sub"));
    if (opt(&a, "topics")) {
        cJSON *list = cJSON_AddArrayToObject(claims, "topics");
        char *copy = strdup(opt(&a, "topics")), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(list, cJSON_CreateString(t));
        free(copy);
    }
    char *payload = cJSON_PrintUnformatted(claims);
    cJSON_Delete(claims);
    char *tok = auth_jwt_sign(cfg->jwt_secret, payload);
    free(payload);
    if (!tok)
        return CLI_REFUSED;
    if (a.json)
        printf("{\"token\": \"%s\"}\n", tok);
    else
        printf("%s\n", tok);
    free(tok);
    return CLI_OK;
}

int cli_help(const char *verb)
{
    size_t n = strlen(verb);
    int printing = 0, found = 0;
    for (const char *line = cli_usage; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line + 1) : strlen(line);
        if (strncmp(line, "  ", 2) == 0 && line[2] != ' ')
            printing = strncmp(line + 2, verb, n) == 0 && (line[2 + n] == ' ' || line[2 + n] == '\n');
        if (printing) {
            if (!found)
                printf("usage:\n");
            fwrite(line, 1, len, stdout);
            found = 1;
        }
        line += len;
    }
    if (found)
        printf("  (--json: machine-readable output)\n");
    return found ? 0 : -1;
}

int cli_run(const config *cfg, const char *verb, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(const config *, int, char **);
    } verbs[] = {{"subscribers", subscribers}, {"publish", publish}, {"filter", filter_test},
                 {"match", match},             {"events", events},   {"dead", dead},
                 {"token", token},             {"seed", cli_seed}};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(verbs[i].name, verb) == 0)
            return verbs[i].fn(cfg, argc, argv);
    return -1;
}

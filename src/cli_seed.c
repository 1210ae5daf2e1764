/* cli_seed — `switchyard seed FILE [--prune] [--dry-run]`: makes the hub's subscribers match a file
 * kept in version control. Every entry is validated before anything is applied; entries are matched
 * by name; an entry equal to what the hub has is left alone; --prune removes subscribers the file no
 * longer names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "client.h"
#include "codec.h"
#include "json.h"
#include "sub.h"

/* The fields a seed entry controls; the rest (id, secret, timestamps, circuit) are the hub's. */
static const char *const managed[] = {"name", "topic", "filter", "target_url", "method", "headers",
                                      "envelope", "success_codes", "discard_codes", "max_attempts",
                                      "retry_delays_ms", "timeout_ms", "rate_limit_per_s",
                                      "max_in_flight", "enabled", NULL};

static cJSON *project(const cJSON *full)
{
    cJSON *o = cJSON_CreateObject();
    for (const char *const *k = managed; *k; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(full, *k);
        cJSON_AddItemToObject(o, *k, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
    }
    return o;
}

/* Validates every entry; prints each problem naming the file, the entry and the field. */
static int validate(const char *path, const cJSON *list)
{
    int i = 0, bad = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        i++;
        char err[512];
        subscriber s;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsObject(e)) {
            fprintf(stderr, "seed: %s: entry %d: must be a JSON object\n", path, i);
            bad = 1;
            continue;
        }
        if (!cJSON_IsString(name)) {
            fprintf(stderr, "seed: %s: entry %d: \"name\" is required (seeds apply by name)\n",
                    path, i);
            bad = 1;
            continue;
        }
        if (sub_from_json(&s, e, NULL, 0, err, sizeof err) != 0) {
            fprintf(stderr, "seed: %s: entry %d (%s): %s\n", path, i, name->valuestring, err);
            bad = 1;
            continue;
        }
        sub_free(&s);
        for (const cJSON *o = list->child; o != e; o = o->next) {
            const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "name");
            if (cJSON_IsString(on) && strcmp(on->valuestring, name->valuestring) == 0) {
                fprintf(stderr, "seed: %s: entry %d: name \"%s\" appears twice\n", path, i,
                        name->valuestring);
                bad = 1;
            }
        }
    }
    return bad ? -1 : 0;
}

/* What the hub will hold after PUTting entry: the entry with the hub's defaults filled in. */
static cJSON *desired(const cJSON *entry, const cJSON *existing)
{
    subscriber s;
    char err[512];
    if (sub_from_json(&s, entry, NULL, 0, err, sizeof err) != 0)
        return NULL;   /* validated before: cannot happen */
    /* a subscriber disabled by the hub (410 Gone) stays disabled unless the file says otherwise */
    if (existing && !cJSON_GetObjectItemCaseSensitive(entry, "enabled"))
        s.enabled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(existing, "enabled"));
    cJSON *full = sub_to_json(&s, 0);
    sub_free(&s);
    cJSON *p = project(full);
    cJSON_Delete(full);
    return p;
}

/* One line of the outcome: printed (unless json_out) and added to the JSON report. */
static void report_line(cJSON *report, const char *name, const char *what, int dry, int json_out)
{
    if (!json_out)
        printf("%s%s %s\n", dry ? "would be " : "", what, name);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "result", what);
    cJSON_AddItemToArray(report, r);
}

int cli_seed(const config *cfg, int argc, char **argv)
{
    const char *path = NULL;
    int prune = 0, dry = 0, json_out = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--prune") == 0)
            prune = 1;
        else if (strcmp(argv[i], "--dry-run") == 0)
            dry = 1;
        else if (strcmp(argv[i], "--json") == 0)
            json_out = 1;
        else if (!path && strncmp(argv[i], "--", 2) != 0)
            path = argv[i];
        else
            path = NULL, i = argc;
    }
    if (!path) {
        fprintf(stderr, "usage: switchyard seed FILE [--prune] [--dry-run] [--json]\n");
        return CLI_USAGE;
    }
    size_t len;
    char *text = cli_read_file(path, &len);
    if (!text) {
        fprintf(stderr, "seed: cannot read %s\n", path);
        return CLI_REFUSED;
    }
    char why[200];
    cJSON *list = json_parse(text, len, why, sizeof why);
    free(text);
    if (!list || !cJSON_IsArray(list)) {
        fprintf(stderr, "seed: %s: %s\n", path,
                list ? "must hold a JSON list of subscriber objects" : why);
        cJSON_Delete(list);
        return CLI_REFUSED;
    }
    if (validate(path, list) != 0) {
        fprintf(stderr, "seed: %s: nothing was applied\n", path);
        cJSON_Delete(list);
        return CLI_REFUSED;
    }

    buf resp = BUF_INIT;
    int status = client_call(cfg, "GET", "/v1/subscribers", NULL, NULL, NULL, &resp);
    if (status != 200) {
        int rc = cli_fail(status, buf_str(&resp));
        buf_free(&resp);
        cJSON_Delete(list);
        return rc;
    }
    cJSON *current = cJSON_Parse(resp.p);
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(current, "subscribers");
    int counts[4] = {0}, rc = CLI_OK;   /* created, updated, unchanged, removed */
    cJSON *report = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        const char *name = cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
        const cJSON *old = NULL, *h;
        cJSON_ArrayForEach(h, have) if (strcmp(cJSON_GetObjectItemCaseSensitive(h, "name")
                                                   ->valuestring, name) == 0) old = h;
        cJSON *want = desired(e, old);
        cJSON *now = old ? project(old) : NULL;
        const char *what = !old ? "created" : cJSON_Compare(want, now, 1) ? "unchanged" : "updated";
        if (strcmp(what, "unchanged") != 0 && !dry) {
            buf p = BUF_INIT;
            buf_puts(&p, "/v1/subscribers/");
            codec_pct_encode(&p, name, strlen(name));
            char *body = cJSON_PrintUnformatted(want);
            buf_reset(&resp);
            status = client_call(cfg, "PUT", p.p, body, NULL, NULL, &resp);
            free(body);
            buf_free(&p);
            if (status != 200 && status != 201) {
                fprintf(stderr, "seed: %s: %s: ", path, name);
                rc = cli_fail(status, buf_str(&resp));
                what = "failed";
            }
        }
        counts[what[0] == 'c' ? 0 : what[0] == 'u' && what[1] == 'p' ? 1 : 2] +=
            strcmp(what, "failed") != 0;
        report_line(report, name, what, dry, json_out);
        cJSON_Delete(want);
        cJSON_Delete(now);
        if (rc == CLI_UNREACHABLE)
            break;
    }
    if (prune && rc != CLI_UNREACHABLE) {
        const cJSON *h;
        cJSON_ArrayForEach(h, have) {
            const char *name = cJSON_GetObjectItemCaseSensitive(h, "name")->valuestring;
            int named = 0;
            cJSON_ArrayForEach(e, list) named |= strcmp(cJSON_GetObjectItemCaseSensitive(e, "name")
                                                            ->valuestring, name) == 0;
            if (named)
                continue;
            const char *what = "removed";
            if (!dry) {
                buf p = BUF_INIT;
                buf_puts(&p, "/v1/subscribers/");
                const char *id = cJSON_GetObjectItemCaseSensitive(h, "id")->valuestring;
                codec_pct_encode(&p, id, strlen(id));
                buf_reset(&resp);
                status = client_call(cfg, "DELETE", p.p, NULL, NULL, NULL, &resp);
                buf_free(&p);
                if (status != 204) {
                    fprintf(stderr, "seed: %s: removing %s: ", path, name);
                    rc = cli_fail(status, buf_str(&resp));
                    what = "failed";
                }
            }
            counts[3] += strcmp(what, "removed") == 0;
            report_line(report, name, what, dry, json_out);
        }
    }
    if (json_out) {
        char *s = cJSON_Print(report);
        printf("%s\n", s);
        free(s);
    } else {
        printf("%s%d created, %d updated, %d unchanged, %d removed\n", dry ? "dry run: " : "",
               counts[0], counts[1], counts[2], counts[3]);
    }
    cJSON_Delete(report);
    cJSON_Delete(current);
    cJSON_Delete(list);
    buf_free(&resp);
    return rc;
}

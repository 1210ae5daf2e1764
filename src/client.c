#include "client.h"

#include <curl/curl.h>
#include <stdio.h>

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

int client_call(const config *cfg, const char *method, const char *path, const char *body,
                const char *token, const char *extra, buf *resp)
{
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    buf url = BUF_INIT, auth = BUF_INIT;
    buf_printf(&url, "%s%s", cfg->hub_url, path);
    buf_printf(&auth, "Authorization: Bearer %s", token ? token : cfg->admin_token);
    struct curl_slist *h = curl_slist_append(NULL, auth.p);
    if (extra)
        h = curl_slist_append(h, extra);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url.p);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(e);
    long status = -1;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    } else {
        buf_reset(resp);
        buf_printf(resp, "cannot reach the hub at %s: %s (set SWITCHYARD_HUB_URL or --hub-url)",
                   cfg->hub_url, curl_easy_strerror(rc));
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    buf_free(&url);
    buf_free(&auth);
    return (int)status;
}

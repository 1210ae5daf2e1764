#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

static int json_mode;
static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(const char *format, const char *level)
{
    json_mode = format && strcmp(format, "json") == 0;
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, level_names[i]) == 0)
            min_level = (enum log_level)i;
}

int log_enabled(enum log_level lvl) { return lvl >= min_level; }

static _Thread_local int holding;   /* 1 between log_hold and log_release */
static _Thread_local buf held;      /* lines held; freed by log_release */

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0)
            return;   /* nowhere to report a failing log */
        p += w;
        n -= (size_t)w;
    }
}

void log_hold(void) { holding = 1; }

void log_release(void)
{
    holding = 0;
    if (held.len)
        write_all(held.p, held.len);
    buf_free(&held);
}

/* Turns `k=v k2="v w"` into JSON members. Values stay strings; that keeps the parser honest. */
static void kv_to_json(buf *out, const char *s)
{
    while (*s) {
        while (*s == ' ')
            s++;
        const char *k = s;
        while (*s && *s != '=' && *s != ' ')
            s++;
        if (*s != '=') {
            if (s > k) {
                buf_puts(out, ",\"msg\":");
                buf_json_str(out, k, strlen(k));
            }
            return;
        }
        size_t klen = (size_t)(s - k);
        s++;
        const char *v = s;
        size_t vlen;
        if (*s == '"') {
            v = ++s;
            while (*s && !(*s == '"' && s[-1] != '\\'))
                s++;
            vlen = (size_t)(s - v);
            if (*s)
                s++;
        } else {
            while (*s && *s != ' ')
                s++;
            vlen = (size_t)(s - v);
        }
        buf_putc(out, ',');
        buf_json_str(out, k, klen);
        buf_putc(out, ':');
        buf_json_str(out, v, vlen);
    }
}

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    buf line = BUF_INIT;
    if (json_mode) {
        buf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", when, level_names[lvl]);
        buf_json_str(&line, event, strlen(event));
        kv_to_json(&line, text);
        buf_puts(&line, "}\n");
    } else {
        buf_printf(&line, "ts=%s level=%s event=%s %s\n", when, level_names[lvl], event, text);
    }
    if (holding) {
        buf_append(&held, line.p, line.len);
        if (held.len >= 65536) {
            write_all(held.p, held.len);
            buf_reset(&held);
        }
    } else {
        write_all(line.p, line.len);
    }
    buf_free(&line);
}

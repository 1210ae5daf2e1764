/* log — one line per event on stderr, key=value or JSON, with a level.
 * Calls: nothing. Thread-safe (one write(2) per line, or per held burst: lines never interleave).
 * Usage: log_msg(LOG_INFO, "publish", "event_id=%s topic=%s matched=%d", id, topic, n);
 * The key=value text after the event name is converted to JSON members in JSON mode; values must not
 * contain spaces unless quoted with log_q(). Never pass secrets. */
#ifndef SY_LOG_H
#define SY_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* format: "kv" or "json"; level: "debug".."error". Call once at start-up, before threads. */
void log_setup(const char *format, const char *level);
int log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* For a thread about to log a burst of lines (a batch of publishes answered): between log_hold
 * and log_release its lines are kept and written with one write(2) at log_release (or whenever
 * 64 KB are held). Other threads are not affected. */
void log_hold(void);
void log_release(void);

#endif

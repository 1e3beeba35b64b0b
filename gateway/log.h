/* log.h — one line per event, key=value, to stderr (DESIGN.md section 13).
 *
 * Owns: the log level, and each holding thread's buffer. Thread: any; each line is
 * written with a single write(2) so lines from different threads never interleave.
 * A thread that serves many requests per wake-up (the net thread: an access line per
 * request) may hold its lines (log_hold) and write them with one write(2) per loop
 * iteration (log_flush, before the loop blocks; more when they exceed PIPE_BUF) — one system call per line halved the
 * net thread's request rate (bench/RESULTS.md, http_read). A held buffer is also written
 * when it is full and at once, with everything before it, for a warn or error line, so
 * a thread's lines keep their order and a problem is never left waiting.
 * Errors: none reported (logging never fails the caller).
 *
 * Usage: log_info("http", "req=%llu method=%s path=%s status=%d", ...). Values that may
 * hold spaces or user text must go through log_quote().
 */
#ifndef SB_LOG_H
#define SB_LOG_H
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
void log_line(enum log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The calling thread holds its lines until log_flush (or log_release, which flushes and
 * ends holding). Only for a thread that calls log_flush before every wait. */
void log_hold(void);
void log_flush(void);
void log_release(void);
/* Writes "text" quoted and escaped (control chars, quotes, backslash) into out. */
const char *log_quote(char *out, size_t outsz, const char *text);

#define log_debug(c, ...) log_line(LOG_DEBUG, c, __VA_ARGS__)
#define log_info(c, ...) log_line(LOG_INFO, c, __VA_ARGS__)
#define log_warn(c, ...) log_line(LOG_WARN, c, __VA_ARGS__)
#define log_error(c, ...) log_line(LOG_ERROR, c, __VA_ARGS__)

#endif

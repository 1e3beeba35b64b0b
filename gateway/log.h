/* log.h — one line per event, key=value, to stderr (DESIGN.md section 13).
 *
 * Owns: the log level. Thread: any; each line is written with a single write(2) so lines
 * from different threads never interleave. Errors: none reported (logging never fails
 * the caller).
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
/* Writes "text" quoted and escaped (control chars, quotes, backslash) into out. */
const char *log_quote(char *out, size_t outsz, const char *text);

#define log_debug(c, ...) log_line(LOG_DEBUG, c, __VA_ARGS__)
#define log_info(c, ...) log_line(LOG_INFO, c, __VA_ARGS__)
#define log_warn(c, ...) log_line(LOG_WARN, c, __VA_ARGS__)
#define log_error(c, ...) log_line(LOG_ERROR, c, __VA_ARGS__)

#endif

/* log.c — see log.h. */
#include "gateway/log.h"
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* At most PIPE_BUF: a write of that size to a pipe is atomic, so whole lines from two
 * threads still never interleave (a bigger write may be split by the kernel). */
#define HOLD_BYTES PIPE_BUF
struct held {
    size_t len;
    char buf[HOLD_BYTES];
};
static __thread struct held *held; /* NULL: this thread writes every line at once */

static void write_all(const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* logging never fails the caller */
        p += w;
        len -= (size_t)w;
    }
}

void log_hold(void)
{
    if (!held && (held = malloc(sizeof(*held))))
        held->len = 0;
}

void log_flush(void)
{
    if (held && held->len) {
        write_all(held->buf, held->len);
        held->len = 0;
    }
}

void log_release(void)
{
    log_flush();
    free(held);
    held = NULL;
}

static void emit(enum log_level lvl, const char *line, size_t len)
{
    if (!held) {
        write_all(line, len);
        return;
    }
    if (held->len + len > sizeof(held->buf))
        log_flush();
    memcpy(held->buf + held->len, line, len);
    held->len += len;
    if (lvl >= LOG_WARN)
        log_flush();
}

void log_set_level(enum log_level lvl)
{
    min_level = lvl;
}

void log_line(enum log_level lvl, const char *component, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[lvl], component);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    emit(lvl, line, len);
}

const char *log_quote(char *out, size_t outsz, const char *text)
{
    size_t o = 0;
    if (outsz < 3) {
        if (outsz)
            out[0] = '\0';
        return out;
    }
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p && o + 5 < outsz; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

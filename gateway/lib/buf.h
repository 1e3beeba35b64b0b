/* buf.h — a growable byte buffer, always NUL-terminated.
 *
 * Owns: its heap block. Thread: any; a buf is not shared between threads.
 * Errors: append functions return 0, or -1 when memory runs out or the buffer would
 * grow past its cap (buf.cap_max, 0 = no cap); on error the content is unchanged.
 */
#ifndef SB_BUF_H
#define SB_BUF_H
#include <stddef.h>
#include <stdarg.h>

struct buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap_max;
};

void buf_init(struct buf *b, size_t cap_max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Appends s[0..n) with & < > " ' as HTML entities (text or attribute values); -1 when
 * memory runs out (what fitted stays). */
int buf_put_html(struct buf *b, const char *s, size_t n);
/* Hands the block to the caller (who frees it) and leaves b empty. */
char *buf_take(struct buf *b);

#endif

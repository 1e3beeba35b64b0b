/* text.h — bounded string helpers and UTF-8 checks; the project's replacement for the
 * banned strcpy/strcat/atoi family (DESIGN.md section 13).
 *
 * Owns: nothing. Thread: any. Errors: functions return -1 (or false) and leave outputs
 * in a defined state (dst is always NUL-terminated when size > 0).
 */
#ifndef SB_TEXT_H
#define SB_TEXT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copies at most size-1 bytes; returns -1 when src was truncated. */
int text_copy(char *dst, size_t size, const char *src);
/* Copies n bytes of src (not NUL-terminated) bounded by size; -1 on truncation. */
int text_copy_n(char *dst, size_t size, const char *src, size_t n);
/* Whole-string decimal integer parse with range check; -1 on any junk or overflow. */
int text_parse_i64(const char *s, int64_t *out);
/* True when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool utf8_valid(const char *s, size_t n);
/* Number of code points in valid UTF-8. */
size_t utf8_length(const char *s, size_t n);
/* "%q%" for a LIKE substring test, with LIKE's wildcards and escape (% _ \) escaped;
 * malloc'd (the caller frees), NULL when memory runs out. */
char *text_like_pattern(const char *q);
/* Copies the first max_chars code points of valid UTF-8 src, never cutting a character
 * and never more than size-1 bytes; returns the bytes copied. */
size_t utf8_truncate_copy(char *dst, size_t size, const char *src, size_t max_chars);
/* The code point at *p, advancing *p past it; 0 at the end (*p stays). An invalid byte
 * is taken alone as U+FFFD, so any input makes progress. */
uint32_t utf8_next(const unsigned char **p);
/* Pointer past leading ASCII whitespace; trims trailing whitespace in place. */
char *text_trim(char *s);
/* ASCII lower-case in place. */
void text_lower(char *s);
/* Constant-time equality of two byte strings of equal length n. */
bool text_equal_ct(const void *a, const void *b, size_t n);

#endif

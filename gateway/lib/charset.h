/* charset.h — turns text in the charsets Chinese and Western customers' files and mail
 * come in into UTF-8 (iconv), strictly: a byte sequence that does not decode is reported
 * with its offset, never replaced or skipped.
 *
 * Names, case-insensitive: "utf-8"/"utf8" (validated and copied, not converted), "gbk",
 * "gb2312", "gb18030" (all three decoded as GB18030, their superset), "big5",
 * "latin1"/"iso-8859-1", "windows-1252".
 *
 * Owns: nothing (each call opens and closes its own iconv descriptor). Thread: any; no
 * global state.
 * Errors: charset_to_utf8 returns 0 with the UTF-8 text appended to out; -1 when the input
 * does not decode, with *bad_offset (when not NULL) the offset of the first bad byte in
 * the input; -2 for a charset not in the list (or one the system's iconv lacks); -3 when
 * out's cap or memory runs out. On any failure out holds what it held before the call.
 */
#ifndef SB_CHARSET_H
#define SB_CHARSET_H
#include "gateway/lib/buf.h"
#include <stddef.h>

int charset_to_utf8(const char *charset, const char *in, size_t n, struct buf *out, size_t *bad_offset);
/* 1-based line of in[offset] (offset past n counts as n); LF, CRLF and lone CR each end a
 * line, as in csv.h. Works on the undecoded input too: in GBK, GB18030 and Big5 the bytes
 * CR and LF only ever stand for themselves. */
int charset_line_of(const char *in, size_t n, size_t offset);

#endif

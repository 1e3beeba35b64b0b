/* markdown.h — knowledge-base articles' Markdown to safe HTML, and to plain text (for the
 * search index and snippets).
 *
 * The subset help articles use: ATX headings (# → <h2>, one level below the page's
 * title), paragraphs, "-", "*", "+" and "1." lists, "> " quotes, ``` fences, "---" rules,
 * pipe tables with a |---| row, and inline `code`, **strong**, __strong__, *em*,
 * [text](url) and \-escapes. Safe by construction: every character of the input is
 * written escaped (& < > " '); the only tags are the ones above; a link keeps its href
 * only for http:, https:, mailto:, a path starting with "/" or a "#fragment" (else the
 * text alone), with rel="nofollow noopener". No raw HTML passes, ever.
 *
 * Owns: nothing. Thread: any. Input: any bytes, NUL-terminated (invalid UTF-8 is copied
 * escaped; the caller stores valid UTF-8 only).
 * Errors: -1 when memory runs out or the output would pass out->cap_max, else 0.
 */
#ifndef SB_MARKDOWN_H
#define SB_MARKDOWN_H
#include "gateway/lib/buf.h"

int markdown_html(const char *md, struct buf *out);
/* The words as a reader sees them: no markup, one line per block. */
int markdown_text(const char *md, struct buf *out);

#endif

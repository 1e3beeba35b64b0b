/* search_text.h — the tokens knowledge-base search indexes and looks for (DESIGN.md
 * section 8). InnoDB FULLTEXT splits on spaces and punctuation only, so Chinese has no
 * words for it; we hand it tokens instead, made the same way for articles and queries:
 *
 *   normalising  full-width ASCII (ＶＩＰ，１２３) → ASCII, the ideographic space → a
 *                space, ASCII letters → lower case;
 *   words        a run of letters and digits → the run, lightly stemmed when it is all
 *                letters (shipping, shipped, ships → ship; invoices → invoic), and when
 *                it mixes both also its letter and digit parts (iphone15 → iphone15
 *                iphone 15);
 *   CJK          a run of Han / kana / Hangul characters, cut at the particles 的 吗 呢
 *                吧 啊 呀, → its character bigrams (怎么退款 → 怎么 么退 退款); a lone
 *                character gives nothing (the index's minimum token is two characters).
 *
 * Tokens shorter than 2 or longer than SEARCH_TOKEN_MAX bytes are dropped.
 *
 * Owns: nothing. Thread: any. Input: NUL-terminated; invalid UTF-8 bytes are separators.
 * Errors: -1 when memory runs out (out then holds what fitted), else 0.
 */
#ifndef SB_SEARCH_TEXT_H
#define SB_SEARCH_TEXT_H
#include <stddef.h>
#include "gateway/lib/buf.h"

#define SEARCH_TOKEN_MAX 84 /* InnoDB's longest FULLTEXT token, in bytes here */

/* Calls each(token, len, from, to, arg) for every token in order: from/to are the byte
 * offsets in text the token was made from (a highlight covers them). A non-zero return
 * from each stops the walk and is returned. */
typedef int (*search_token_fn)(const char *token, size_t len, size_t from, size_t to, void *arg);
int search_tokens_each(const char *text, search_token_fn each, void *arg);

/* Appends text folded as tokens are (full-width ASCII → ASCII, ideographic space → space,
 * ASCII lower case), nothing dropped: for substring tests such as complaint keywords. */
int search_fold(const char *text, struct buf *out);

/* Appends the tokens to out, one space before each; repeat > 1 appends them that many
 * times (the title's boost). */
int search_tokens(const char *text, int repeat, struct buf *out);

#endif

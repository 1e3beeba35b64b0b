/* search_text.c — see search_text.h. */
#include "gateway/lib/search_text.h"
#include "gateway/lib/text.h"
#include <stdint.h>
#include <string.h>

enum kind { SEP, WORD, CJK };

static uint32_t fold(uint32_t cp)
{
    if (cp >= 0xFF01 && cp <= 0xFF5E) /* full-width ASCII */
        cp -= 0xFEE0;
    if (cp == 0x3000) /* ideographic space */
        cp = ' ';
    if (cp >= 'A' && cp <= 'Z')
        cp += 'a' - 'A';
    return cp;
}

static int is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x20000 && cp <= 0x2FA1F) || (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0xAC00 && cp <= 0xD7AF);
}

/* Function characters that join nothing: a bigram across them is noise. */
static int is_particle(uint32_t cp)
{
    return cp == 0x7684 /* 的 */ || cp == 0x5417 /* 吗 */ || cp == 0x5462 /* 呢 */ || cp == 0x5427 /* 吧 */ ||
           cp == 0x554A /* 啊 */ || cp == 0x5440 /* 呀 */;
}

static enum kind kind_of(uint32_t cp)
{
    if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9'))
        return WORD;
    if (is_cjk(cp))
        return is_particle(cp) ? SEP : CJK;
    /* letters of other alphabets (é, ß, кириллица) belong to words; symbols do not */
    if (cp >= 0xC0 && cp != 0xD7 && cp != 0xF7 && cp < 0x2000 && cp != 0xFFFD)
        return WORD;
    return SEP;
}

static int ends(const char *w, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n > k && memcmp(w + n - k, suffix, k) == 0;
}

static int vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

/* Light English stemming of an all-ASCII-letter word in place; returns the new length.
 * Not Porter: the same few rules on both sides are what matter. */
static size_t stem(char *w, size_t n)
{
    if (n > 4 && ends(w, n, "ies")) {
        n -= 2;
        w[n - 1] = 'y';
    } else if (n > 5 && ends(w, n, "ing")) {
        n -= 3;
    } else if (n > 4 && ends(w, n, "ed")) {
        n -= 2;
    } else if (n > 4 && (ends(w, n, "ses") || ends(w, n, "xes") || ends(w, n, "zes") || ends(w, n, "ches") ||
                         ends(w, n, "shes"))) {
        n -= 2;
    } else if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' && w[n - 2] != 'i') {
        n -= 1;
    }
    if (n > 3 && w[n - 1] == 'e')
        n -= 1;
    if (n > 3 && w[n - 1] == w[n - 2] && !vowel(w[n - 1]) && w[n - 1] != 'l' && w[n - 1] != 's' && w[n - 1] != 'z')
        n -= 1; /* shipp → ship */
    return n;
}

struct walker {
    search_token_fn each;
    void *arg;
};

static int emit(struct walker *wk, const char *t, size_t n, size_t from, size_t to)
{
    if (n < 2 || n > SEARCH_TOKEN_MAX)
        return 0;
    return wk->each(t, n, from, to, wk->arg);
}

/* A run of word characters, already folded into w[0..n) (UTF-8), from text[from..to). */
static int word_run(struct walker *wk, char *w, size_t n, size_t from, size_t to)
{
    int letters = 0, digits = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        letters += c >= 'a' && c <= 'z';
        digits += c >= '0' && c <= '9';
        other += c >= 0x80;
    }
    if (!digits && !other)
        return emit(wk, w, stem(w, n), from, to);
    int rc = emit(wk, w, n, from, to);
    if (rc || !letters || !digits || other)
        return rc;
    /* mixed letters and digits: the parts too (iphone15 → iphone, 15). Offsets: ASCII
     * folded from possibly full-width input, so a part's span is the whole run. */
    for (size_t i = 0; i < n && !rc;) {
        size_t j = i;
        int d = w[i] >= '0' && w[i] <= '9';
        while (j < n && (w[j] >= '0' && w[j] <= '9') == d)
            j++;
        rc = emit(wk, w + i, d ? j - i : stem(w + i, j - i), from, to);
        i = j;
    }
    return rc;
}

int search_tokens_each(const char *text, search_token_fn each, void *arg)
{
    struct walker wk = {each, arg};
    const unsigned char *base = (const unsigned char *)text, *p = base;
    char word[SEARCH_TOKEN_MAX * 4];
    size_t wn = 0, wfrom = 0, wto = 0;
    int word_long = 0;
    /* the previous CJK character of the run: its bytes and where it started */
    char prev[4];
    size_t prev_n = 0, prev_from = 0;
    int rc = 0;
    for (;;) {
        size_t at = (size_t)(p - base);
        uint32_t raw = utf8_next(&p), cp = fold(raw);
        size_t next = (size_t)(p - base);
        enum kind k = raw ? kind_of(cp) : SEP;
        if (k != WORD && wn) {
            if (!word_long)
                rc = word_run(&wk, word, wn, wfrom, wto);
            wn = 0;
            word_long = 0;
        }
        if (k != CJK)
            prev_n = 0;
        if (rc || !raw)
            return rc;
        if (k == WORD) {
            if (!wn)
                wfrom = at;
            wto = next;
            char enc[4];
            size_t el = cp < 0x80 ? 1 : next - at; /* folded ASCII is one byte; the rest as written */
            if (cp < 0x80)
                enc[0] = (char)cp;
            else
                memcpy(enc, text + at, el);
            if (wn + el > sizeof(word))
                word_long = 1; /* too long for a token: dropped whole */
            else
                memcpy(word + wn, enc, el), wn += el;
        } else if (k == CJK) {
            size_t cl = next - at;
            if (prev_n) {
                char bi[8];
                memcpy(bi, prev, prev_n);
                memcpy(bi + prev_n, text + at, cl);
                rc = emit(&wk, bi, prev_n + cl, prev_from, next);
            }
            memcpy(prev, text + at, cl);
            prev_n = cl;
            prev_from = at;
        }
    }
}

struct appender {
    struct buf *out;
    int oom;
};

static int append_token(const char *t, size_t n, size_t from, size_t to, void *arg)
{
    (void)from;
    (void)to;
    struct appender *a = arg;
    if (buf_append(a->out, " ", 1) < 0 || buf_append(a->out, t, n) < 0) {
        a->oom = 1;
        return 1;
    }
    return 0;
}

int search_tokens(const char *text, int repeat, struct buf *out)
{
    struct buf once;
    buf_init(&once, 0);
    struct appender a = {&once, 0};
    search_tokens_each(text, append_token, &a);
    int rc = a.oom ? -1 : 0;
    for (int i = 0; i < (repeat > 0 ? repeat : 1) && !rc && once.len; i++)
        rc = buf_append(out, once.data, once.len) < 0 ? -1 : 0;
    buf_free(&once);
    return rc;
}

int search_fold(const char *text, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)text;
    for (;;) {
        const unsigned char *at = p;
        uint32_t raw = utf8_next(&p), cp = fold(raw);
        if (!raw)
            return 0;
        char c = (char)cp;
        if ((cp < 0x80 ? buf_append(out, &c, 1) : buf_append(out, at, (size_t)(p - at))) < 0)
            return -1;
    }
}

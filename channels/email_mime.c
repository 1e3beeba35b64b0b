/* email_mime.c — a tolerant MIME parser written for hostile real-world mail rather than
 * libetpan's mailmime, because we need to keep going where a strict parser gives up
 * (missing boundaries, lying charsets, 8-bit headers) and we must bound every resource. */
#include "email_mime.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"

#include <errno.h>
#include <gumbo.h>
#include <iconv.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTML_MAX_DEPTH 200

struct ctx {
    struct mime_limits lim;
    struct mime_message *m;
    int oom;
    int text_rank;     /* rank of the text now in `text_plain`/html; lower is better */
    struct buf text;   /* chosen plain body (UTF-8) */
    int html_rank;
    struct buf html;
    size_t att_alloc;
};

/* ---------------------------------------------------------------- small helpers */

static void warn(struct ctx *c, const char *w)
{
    struct mime_message *m = c->m;
    if (strstr(m->warnings, w))
        return;
    size_t n = strlen(m->warnings);
    if (n)
        (void)snprintf(m->warnings + n, sizeof(m->warnings) - n, "; %s", w);
    else
        (void)snprintf(m->warnings, sizeof(m->warnings), "%s", w);
}

static int lc(int ch)
{
    return (ch >= 'A' && ch <= 'Z') ? ch + 32 : ch;
}

static bool ci_prefix(const char *s, size_t n, const char *pre)
{
    size_t k = strlen(pre);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++)
        if (lc((unsigned char)s[i]) != lc((unsigned char)pre[i]))
            return false;
    return true;
}

static bool is_wsp(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = lc(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Copies valid UTF-8, replaces each invalid byte with U+FFFD and drops NUL and CR
 * (CRLF and lone CR become LF). The last line of defence for the "never invalid UTF-8"
 * promise, whatever iconv did. */
static int utf8_clean_append(struct buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            if (ch == 0) {
                i++;
                continue;
            }
            if (ch == '\r') {
                if (!(i + 1 < n && s[i + 1] == '\n') && buf_append(out, "\n", 1) < 0)
                    return -1;
                i++;
                continue;
            }
            size_t j = i;
            while (j < n && (unsigned char)s[j] < 0x80 && s[j] != 0 && s[j] != '\r')
                j++;
            if (buf_append(out, s + i, j - i) < 0)
                return -1;
            i = j;
            continue;
        }
        size_t len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
        if (len > 1 && i + len <= n && utf8_valid(s + i, len)) {
            if (buf_append(out, s + i, len) < 0)
                return -1;
            i += len;
        } else {
            if (buf_append(out, "\xEF\xBF\xBD", 3) < 0)
                return -1;
            i++;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- charsets */

/* Maps a declared charset to the iconv name we trust for it; "" = UTF-8 path,
 * NULL = unknown (the caller guesses). Supersets are chosen on purpose: mailers label
 * GBK as GB2312 and cp932 as Shift_JIS all the time. */
static const char *charset_map(const char *cs, char *tmp, size_t tmpsz)
{
    if (!cs || !*cs)
        return NULL;
    size_t n = 0;
    for (const char *p = cs; *p && n + 1 < tmpsz; p++) {
        if (*p == '"' || *p == '\'' || is_wsp((unsigned char)*p))
            continue;
        tmp[n++] = (char)lc((unsigned char)*p);
    }
    tmp[n] = '\0';
    if (!n)
        return NULL;
    static const struct { const char *from, *to; } map[] = {
        {"utf-8", ""}, {"utf8", ""}, {"x-utf8", ""}, {"x-utf-8", ""}, {"unicode-1-1-utf-8", ""},
        {"us-ascii", ""}, {"ascii", ""}, {"ansi_x3.4-1968", ""}, {"us", ""}, {"7bit", ""},
        {"gb2312", "GB18030"}, {"gb_2312-80", "GB18030"}, {"gbk", "GB18030"}, {"x-gbk", "GB18030"},
        {"cp936", "GB18030"}, {"euc-cn", "GB18030"}, {"x-euc-cn", "GB18030"}, {"gb18030", "GB18030"},
        {"chinese", "GB18030"}, {"csgb2312", "GB18030"}, {"windows-936", "GB18030"},
        {"big5", "BIG5-HKSCS"}, {"big-5", "BIG5-HKSCS"}, {"x-big5", "BIG5-HKSCS"},
        {"big5-hkscs", "BIG5-HKSCS"}, {"cn-big5", "BIG5-HKSCS"}, {"cp950", "CP950"},
        {"shift_jis", "CP932"}, {"shift-jis", "CP932"}, {"sjis", "CP932"}, {"x-sjis", "CP932"},
        {"ms_kanji", "CP932"}, {"cp932", "CP932"}, {"windows-31j", "CP932"}, {"csshiftjis", "CP932"},
        {"iso-2022-jp", "ISO-2022-JP-3"}, {"csiso2022jp", "ISO-2022-JP-3"}, {"iso-2022-jp-2", "ISO-2022-JP-2"},
        {"euc-jp", "EUC-JP"}, {"x-euc-jp", "EUC-JP"},
        {"euc-kr", "CP949"}, {"ks_c_5601-1987", "CP949"}, {"ks_c_5601", "CP949"}, {"cp949", "CP949"},
        {"korean", "CP949"}, {"iso-2022-kr", "ISO-2022-KR"},
        {"iso-8859-1", "WINDOWS-1252"}, {"latin1", "WINDOWS-1252"}, {"latin-1", "WINDOWS-1252"},
        {"iso8859-1", "WINDOWS-1252"}, {"iso_8859-1", "WINDOWS-1252"}, {"l1", "WINDOWS-1252"},
        {"x-user-defined", "WINDOWS-1252"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(tmp, map[i].from) == 0)
            return map[i].to;
    static const char *const pass[] = {"iso-8859-", "iso8859-", "iso_8859-", "windows-125", "cp125",
                                       "koi8-", "tis-620", "windows-874", "utf-16", "utf-32",
                                       "iso-2022-", "euc-", "macintosh", "ibm", "cp8"};
    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
        if (strncmp(tmp, pass[i], strlen(pass[i])) == 0)
            return tmp;
    return NULL;
}

/* iconv skipping undecodable bytes one at a time. Returns the number of bytes skipped,
 * or -1 when iconv does not know the charset (nothing appended) or memory ran out. */
static long iconv_lenient(const char *cs, const char *in, size_t n, struct buf *out, int *oom)
{
    iconv_t cd = iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1)
        return -1;
    long bad = 0;
    char chunk[4096];
    char *ip = (char *)in;
    size_t il = n;
    while (il > 0) {
        char *op = chunk;
        size_t ol = sizeof(chunk);
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        int e = errno;
        if (op > chunk && buf_append(out, chunk, (size_t)(op - chunk)) < 0) {
            *oom = 1;
            break;
        }
        if (r != (size_t)-1)
            break;
        if (e == E2BIG)
            continue;
        /* EILSEQ or EINVAL (truncated sequence): skip one byte and resynchronise */
        ip++;
        il--;
        bad++;
        (void)iconv(cd, NULL, NULL, NULL, NULL);
    }
    char *op = chunk;
    size_t ol = sizeof(chunk);
    (void)iconv(cd, NULL, NULL, &op, &ol); /* flush shift state */
    if (op > chunk && buf_append(out, chunk, (size_t)(op - chunk)) < 0)
        *oom = 1;
    iconv_close(cd);
    return *oom ? -1 : bad;
}

static bool has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return true;
    return false;
}

/* Latin-1: every byte is a code point, so it cannot fail. */
static int latin1_append(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char two[2];
        if (ch < 0x80) {
            if (buf_append(out, s + i, 1) < 0)
                return -1;
        } else {
            two[0] = (char)(0xC0 | (ch >> 6));
            two[1] = (char)(0x80 | (ch & 0x3F));
            if (buf_append(out, two, 2) < 0)
                return -1;
        }
    }
    return 0;
}

static void utf8_shape(const char *s, size_t n, size_t *n2, size_t *n3)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0xC0 && ch < 0xE0)
            (*n2)++;
        else if (ch >= 0xE0)
            (*n3)++;
    }
}

static bool charset_single_byte(const char *ic)
{
    static const char *const sb[] = {"WINDOWS-125", "windows-125", "iso-8859-", "iso8859-", "iso_8859-",
                                     "cp125", "koi8-", "tis-620", "windows-874", "macintosh"};
    for (size_t i = 0; i < sizeof(sb) / sizeof(sb[0]); i++)
        if (strncmp(ic, sb[i], strlen(sb[i])) == 0)
            return true;
    return false;
}

/* Appends s[0..n) declared as charset cs (may be NULL) to out as clean UTF-8.
 * Order: declared charset (unless the bytes are valid non-ASCII UTF-8, which a mislabelled
 * UTF-8 body always is and real GBK/Latin-1 text almost never is), then UTF-8, GB18030
 * (the commonest unlabelled 8-bit text we see) and finally Latin-1. */
static void to_utf8(struct ctx *c, const char *cs, const char *s, size_t n, struct buf *out)
{
    char tmp[64];
    struct buf raw;
    buf_init(&raw, 0);
    const char *ic = charset_map(cs, tmp, sizeof(tmp));
    bool eight = has_8bit(s, n);
    bool valid = utf8_valid(s, n);
    int oom = 0;
    bool done = false;
    bool prefer_utf8 = false;
    if (ic && *ic && eight && valid && strncmp(ic, "UTF-", 4) != 0) {
        /* A mislabelled UTF-8 body. Short GBK/Big5 text can be valid UTF-8 by accident,
         * but then it is made of 2-byte sequences; CJK in UTF-8 is 3-byte sequences. */
        size_t n2 = 0, n3 = 0;
        utf8_shape(s, n, &n2, &n3);
        prefer_utf8 = charset_single_byte(ic) ? true : (n3 > 0 && n2 == 0);
    }
    if (ic && *ic && !prefer_utf8) {
        long bad = iconv_lenient(ic, s, n, &raw, &oom);
        if (bad >= 0 && !oom) {
            done = true;
            if (bad > 0 && c)
                warn(c, "undecodable bytes skipped");
            if (bad > 0 && (size_t)bad * 8 > n && eight) {
                /* mostly garbage in the declared charset: it lied; guess instead */
                buf_reset(&raw);
                done = false;
            }
        } else if (!oom) {
            buf_reset(&raw);
            if (c)
                warn(c, "unknown charset");
        }
    } else if (cs && *cs && !ic && c && eight) {
        warn(c, "unknown charset");
    }
    if (!done && !oom) {
        if (!eight || valid) {
            if (buf_append(&raw, s, n) < 0)
                oom = 1;
        } else {
            long bad = iconv_lenient("GB18030", s, n, &raw, &oom);
            if (bad != 0 && !oom) {
                buf_reset(&raw);
                if (latin1_append(&raw, s, n) < 0)
                    oom = 1;
            }
        }
    }
    if (!oom && raw.len && utf8_clean_append(out, raw.data, raw.len) < 0)
        oom = 1;
    buf_free(&raw);
    if (oom && c)
        c->oom = 1;
}

/* ---------------------------------------------------------------- transfer encodings */

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Lenient: anything outside the alphabet (line breaks, junk, '=') is skipped. */
static int base64_decode(const char *s, size_t n, struct buf *out)
{
    unsigned acc = 0;
    int bits = 0;
    char chunk[1024];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            chunk[k++] = (char)((acc >> bits) & 0xFF);
            if (k == sizeof(chunk)) {
                if (buf_append(out, chunk, k) < 0)
                    return -1;
                k = 0;
            }
        }
        acc &= 0xFFF;
    }
    return buf_append(out, chunk, k);
}

static int qp_decode(const char *s, size_t n, struct buf *out, bool underscore_space)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '=' && !(underscore_space && s[j] == '_'))
            j++;
        if (j > i && buf_append(out, s + i, j - i) < 0)
            return -1;
        if (j >= n)
            break;
        if (s[j] == '_') {
            if (buf_append(out, " ", 1) < 0)
                return -1;
            i = j + 1;
            continue;
        }
        /* s[j] == '=' */
        if (j + 2 < n && hexval((unsigned char)s[j + 1]) >= 0 && hexval((unsigned char)s[j + 2]) >= 0) {
            char b = (char)(hexval((unsigned char)s[j + 1]) * 16 + hexval((unsigned char)s[j + 2]));
            if (buf_append(out, &b, 1) < 0)
                return -1;
            i = j + 3;
            continue;
        }
        size_t k = j + 1;
        while (k < n && (s[k] == ' ' || s[k] == '\t'))
            k++;
        if (k < n && (s[k] == '\r' || s[k] == '\n')) { /* soft line break */
            if (s[k] == '\r' && k + 1 < n && s[k + 1] == '\n')
                k++;
            i = k + 1;
            continue;
        }
        if (k >= n) { /* '=' at the very end */
            i = n;
            continue;
        }
        if (buf_append(out, "=", 1) < 0) /* a stray '=' is kept literally */
            return -1;
        i = j + 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- headers */

struct span {
    const char *p;
    size_t n;
};

/* Finds field `name` in a header block; returns its unfolded raw value in out (which is
 * reset) and 0, or -1 when absent. */
static int hdr_get(struct span h, const char *name, struct buf *out)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < h.n) {
        size_t eol = i;
        while (eol < h.n && h.p[eol] != '\n')
            eol++;
        if (h.p[i] != ' ' && h.p[i] != '\t') {
            const char *colon = memchr(h.p + i, ':', eol - i);
            if (colon) {
                size_t kn = (size_t)(colon - (h.p + i));
                while (kn && (h.p[i + kn - 1] == ' ' || h.p[i + kn - 1] == '\t'))
                    kn--;
                if (kn == nl && ci_prefix(h.p + i, kn, name)) {
                    buf_reset(out);
                    size_t v = (size_t)(colon - h.p) + 1;
                    while (v < eol && (h.p[v] == ' ' || h.p[v] == '\t'))
                        v++;
                    for (;;) {
                        size_t e = eol;
                        if (e > v && h.p[e - 1] == '\r')
                            e--;
                        if (e > v && buf_append(out, h.p + v, e - v) < 0)
                            return -2;
                        if (eol + 1 < h.n && (h.p[eol + 1] == ' ' || h.p[eol + 1] == '\t')) {
                            v = eol + 1;
                            eol = v;
                            while (eol < h.n && h.p[eol] != '\n')
                                eol++;
                            continue;
                        }
                        break;
                    }
                    return 0;
                }
            }
        }
        i = eol + 1;
    }
    return -1;
}

/* Decodes RFC 2047 encoded words. Adjacent words are joined (whitespace between them
 * dropped) and words in the same charset are converted together, so a character split
 * across two words survives. Malformed words stay as they are. */
static void decode_2047(struct ctx *c, const char *s, size_t n, struct buf *out)
{
    struct buf pend;     /* decoded bytes of consecutive words in one charset */
    char pcs[64] = "";   /* their charset */
    buf_init(&pend, 0);
    size_t i = 0;
    size_t lit = 0;      /* start of pending literal text */
    bool last_word = false;
    while (i < n) {
        if (s[i] == '=' && i + 1 < n && s[i + 1] == '?') {
            /* =?charset?E?text?= */
            size_t a = i + 2, q1 = a;
            while (q1 < n && s[q1] != '?' && !is_wsp((unsigned char)s[q1]) && q1 - a < 60)
                q1++;
            if (q1 + 2 < n && s[q1] == '?' && q1 > a && s[q1 + 2] == '?' &&
                strchr("bBqQ", s[q1 + 1]) != NULL) {
                size_t t = q1 + 3, e = t;
                /* bounded: a header full of unterminated "=?" must not go quadratic */
                while (e + 1 < n && e - t < 2048 && !(s[e] == '?' && s[e + 1] == '=') &&
                       !is_wsp((unsigned char)s[e]))
                    e++;
                if (e + 1 < n && s[e] == '?' && s[e + 1] == '=') {
                    /* a valid word: flush literal text before it, unless only whitespace
                     * separates it from the previous word */
                    bool only_ws = true;
                    for (size_t k = lit; k < i; k++)
                        if (!is_wsp((unsigned char)s[k]))
                            only_ws = false;
                    char cs[64];
                    size_t csn = q1 - a;
                    const char *star = memchr(s + a, '*', csn); /* RFC 2231 language tag */
                    if (star)
                        csn = (size_t)(star - (s + a));
                    if (text_copy_n(cs, sizeof(cs), s + a, csn) < 0)
                        cs[0] = '\0';
                    if (!(last_word && only_ws) || strcasecmp(cs, pcs) != 0) {
                        if (pend.len)
                            to_utf8(c, pcs, pend.data, pend.len, out);
                        buf_reset(&pend);
                        if (!(last_word && only_ws) && i > lit)
                            to_utf8(c, NULL, s + lit, i - lit, out);
                    }
                    (void)text_copy(pcs, sizeof(pcs), cs);
                    int r = (s[q1 + 1] == 'b' || s[q1 + 1] == 'B') ? base64_decode(s + t, e - t, &pend)
                                                                   : qp_decode(s + t, e - t, &pend, true);
                    if (r < 0 && c)
                        c->oom = 1;
                    i = e + 2;
                    lit = i;
                    last_word = true;
                    continue;
                }
            }
        }
        if (!is_wsp((unsigned char)s[i]) && last_word) {
            if (pend.len)
                to_utf8(c, pcs, pend.data, pend.len, out);
            buf_reset(&pend);
            last_word = false;
        }
        i++;
    }
    if (pend.len)
        to_utf8(c, pcs, pend.data, pend.len, out);
    if (lit < n && !(last_word && lit == n))
        to_utf8(c, NULL, s + lit, n - lit, out);
    buf_free(&pend);
}

char *mime_decode_header(const char *raw, size_t len)
{
    struct buf out;
    buf_init(&out, 0);
    decode_2047(NULL, raw, len, &out);
    /* trim */
    char *s = buf_take(&out);
    if (!s)
        return NULL;
    char *t = text_trim(s);
    if (t != s)
        memmove(s, t, strlen(t) + 1);
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    return s;
}

/* A decoded header value as one trimmed line: takes out, NULL when memory ran out. */
static char *header_text(struct ctx *c, struct buf *out)
{
    char *s = buf_take(out);
    if (!s) {
        c->oom = 1;
        return NULL;
    }
    char *t = text_trim(s);
    if (t != s)
        memmove(s, t, strlen(t) + 1);
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    return s;
}

static char *header_decoded(struct ctx *c, struct span h, const char *name)
{
    struct buf raw;
    buf_init(&raw, 0);
    int r = hdr_get(h, name, &raw);
    if (r < 0) {
        if (r == -2)
            c->oom = 1;
        buf_free(&raw);
        return NULL;
    }
    struct buf out;
    buf_init(&out, 0);
    decode_2047(c, raw.data ? raw.data : "", raw.len, &out);
    buf_free(&raw);
    return header_text(c, &out);
}

/* Structured headers (ids, dates): no RFC 2047, but 8-bit junk must still become UTF-8. */
static char *header_raw(struct ctx *c, struct span h, const char *name)
{
    struct buf raw, out;
    buf_init(&raw, 0);
    buf_init(&out, 0);
    int r = hdr_get(h, name, &raw);
    if (r < 0) {
        if (r == -2)
            c->oom = 1;
        buf_free(&raw);
        return NULL;
    }
    to_utf8(c, NULL, raw.data ? raw.data : "", raw.len, &out);
    buf_free(&raw);
    return header_text(c, &out);
}

/* One mailbox of an address list: the addr-spec inside <...>, else the bare words outside
 * comments and before any group colon; kept only when it looks like local@domain. */
static void address_take(const char *p, size_t n, struct buf *out, size_t *count)
{
    char a[256];
    size_t k = 0;
    const char *lt = memchr(p, '<', n);
    if (lt) {
        const char *end = p + n, *gt = memchr(lt, '>', (size_t)(end - lt));
        p = lt + 1;
        n = (size_t)((gt ? gt : end) - p);
    } else {
        const char *colon = memchr(p, ':', n); /* "group: a@b" */
        if (colon) {
            n -= (size_t)(colon + 1 - p);
            p = colon + 1;
        }
    }
    int depth = 0, quoted = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"')
            quoted = !quoted;
        else if (!quoted && ch == '(')
            depth++;
        else if (!quoted && ch == ')' && depth > 0)
            depth--;
        else if (depth == 0 && !quoted && ch > ' ' && ch < 0x7f && ch != ';' && ch != '<' && ch != '>') {
            if (k + 1 >= sizeof(a))
                return;
            a[k++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
    }
    a[k] = '\0';
    const char *at = strchr(a, '@');
    if (k > 254 || !at || at == a || !at[1] || strchr(at + 1, '@') || !strchr(at + 1, '.'))
        return;
    (void)buf_printf(out, "%s%s", out->len ? " " : "", a);
    (*count)++;
}

/* The addr-specs of an address-list header (To, Cc), at most 100, or NULL. Commas inside
 * quotes, comments or <...> do not split. */
static char *address_list(struct ctx *c, struct span h, const char *name)
{
    struct buf raw, out;
    buf_init(&raw, 0);
    buf_init(&out, 0);
    int r = hdr_get(h, name, &raw);
    if (r < 0) {
        if (r == -2)
            c->oom = 1;
        buf_free(&raw);
        return NULL;
    }
    const char *p = raw.data ? raw.data : "", *start = p;
    size_t count = 0;
    int quoted = 0, depth = 0, angle = 0;
    for (;; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (*p == '"' && !depth)
            quoted = !quoted;
        else if (!quoted && *p == '(')
            depth++;
        else if (!quoted && *p == ')' && depth > 0)
            depth--;
        else if (!quoted && !depth && *p == '<')
            angle = 1;
        else if (!quoted && !depth && *p == '>')
            angle = 0;
        if (*p == '\0' || (*p == ',' && !quoted && !depth && !angle)) {
            if (count < 100)
                address_take(start, (size_t)(p - start), &out, &count);
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    buf_free(&raw);
    if (!out.len) {
        buf_free(&out);
        return NULL;
    }
    char *s = buf_take(&out);
    if (!s)
        c->oom = 1;
    return s;
}

/* ---------------------------------------------------------------- parameters (RFC 2045/2231) */

/* Lower-cased value up to ';' (the "type/subtype" or disposition type). */
static void param_main(const char *v, size_t n, char *dst, size_t dsz)
{
    size_t i = 0, k = 0;
    while (i < n && is_wsp((unsigned char)v[i]))
        i++;
    while (i < n && v[i] != ';' && !is_wsp((unsigned char)v[i]) && k + 1 < dsz) {
        unsigned char ch = (unsigned char)v[i++];
        dst[k++] = (ch > 0x20 && ch < 0x7f) ? (char)lc(ch) : '_'; /* stays ASCII, so UTF-8 */
    }
    dst[k] = '\0';
}

static void pct_decode(const char *s, size_t n, struct buf *out, int *oom)
{
    for (size_t i = 0; i < n; i++) {
        char b = s[i];
        if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
            hexval((unsigned char)s[i + 2]) >= 0) {
            b = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        }
        if (buf_append(out, &b, 1) < 0)
            *oom = 1;
    }
}

/* Gets parameter `name` from a header value, joining RFC 2231 continuations
 * (name*0*=..., name*1=...) and decoding charset'lang'%XX and RFC 2047 inside quotes.
 * Returns 0 with UTF-8 in out (reset first), or -1 when absent. */
static int param_get(struct ctx *c, const char *v, size_t n, const char *name, struct buf *out)
{
    enum { MAXSEC = 64 };
    struct { const char *p; size_t n; int ext; int quoted; } sec[MAXSEC];
    memset(sec, 0, sizeof(sec));
    bool have_plain = false, have_sec = false;
    struct span plain = {NULL, 0};
    size_t nl = strlen(name);
    size_t i = 0;
    /* skip the main value */
    while (i < n && v[i] != ';') {
        if (v[i] == '"') {
            i++;
            while (i < n && v[i] != '"')
                i += (v[i] == '\\' && i + 1 < n) ? 2 : 1;
        }
        i++;
    }
    while (i < n) {
        i++; /* past ';' */
        while (i < n && is_wsp((unsigned char)v[i]))
            i++;
        size_t ks = i;
        while (i < n && v[i] != '=' && v[i] != ';')
            i++;
        size_t ke = i;
        while (ke > ks && is_wsp((unsigned char)v[ke - 1]))
            ke--;
        if (i >= n || v[i] == ';')
            continue;
        i++; /* '=' */
        while (i < n && is_wsp((unsigned char)v[i]))
            i++;
        size_t vs, ve;
        int quoted = 0;
        if (i < n && v[i] == '"') {
            quoted = 1;
            vs = ++i;
            while (i < n && v[i] != '"')
                i += (v[i] == '\\' && i + 1 < n) ? 2 : 1;
            ve = i < n ? i : n;
            while (i < n && v[i] != ';')
                i++;
        } else {
            vs = i;
            while (i < n && v[i] != ';')
                i++;
            ve = i;
            while (ve > vs && is_wsp((unsigned char)v[ve - 1]))
                ve--;
        }
        size_t kn = ke - ks;
        if (kn < nl || !ci_prefix(v + ks, nl, name))
            continue;
        const char *rest = v + ks + nl;
        size_t rn = kn - nl;
        if (rn == 0) {
            if (!have_plain) {
                have_plain = true;
                plain.p = v + vs;
                plain.n = ve - vs;
                sec[0].quoted = quoted;
            }
            continue;
        }
        if (rest[0] != '*')
            continue;
        if (rn == 1) { /* name*=charset'lang'value */
            sec[0].p = v + vs;
            sec[0].n = ve - vs;
            sec[0].ext = 1;
            have_sec = true;
            continue;
        }
        size_t idx = 0, k = 1;
        bool digits = false;
        while (k < rn && rest[k] >= '0' && rest[k] <= '9' && idx < 1000) {
            idx = idx * 10 + (size_t)(rest[k] - '0');
            k++;
            digits = true;
        }
        if (!digits || idx >= MAXSEC)
            continue;
        int ext = (k < rn && rest[k] == '*');
        if (k + (size_t)ext != rn)
            continue;
        sec[idx].p = v + vs;
        sec[idx].n = ve - vs;
        sec[idx].ext = ext;
        have_sec = true;
    }
    buf_reset(out);
    if (have_sec && sec[0].p) {
        struct buf bytes;
        buf_init(&bytes, 0);
        char cs[64] = "";
        int oom = 0;
        for (size_t s = 0; s < MAXSEC && sec[s].p; s++) {
            const char *p = sec[s].p;
            size_t pn = sec[s].n;
            if (s == 0 && sec[0].ext) {
                const char *q1 = memchr(p, '\'', pn);
                const char *q2 = q1 ? memchr(q1 + 1, '\'', pn - (size_t)(q1 + 1 - p)) : NULL;
                if (q1 && q2) {
                    (void)text_copy_n(cs, sizeof(cs), p, (size_t)(q1 - p));
                    pn -= (size_t)(q2 + 1 - p);
                    p = q2 + 1;
                }
            }
            if (sec[s].ext)
                pct_decode(p, pn, &bytes, &oom);
            else if (buf_append(&bytes, p, pn) < 0)
                oom = 1;
        }
        if (oom)
            c->oom = 1;
        else if (cs[0])
            to_utf8(c, cs, bytes.data ? bytes.data : "", bytes.len, out);
        else
            decode_2047(c, bytes.data ? bytes.data : "", bytes.len, out);
        buf_free(&bytes);
        return 0;
    }
    if (have_plain) {
        struct buf unq;
        buf_init(&unq, 0);
        for (size_t k = 0; k < plain.n; k++) {
            if (sec[0].quoted && plain.p[k] == '\\' && k + 1 < plain.n)
                k++;
            if (buf_append(&unq, plain.p + k, 1) < 0)
                c->oom = 1;
        }
        decode_2047(c, unq.data ? unq.data : "", unq.len, out); /* mailers do put =?...?= here */
        buf_free(&unq);
        return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------- HTML to text */

static void nl_ensure(struct buf *b, int want)
{
    int have = 0;
    size_t k = b->len;
    while (k > 0 && b->data[k - 1] == ' ')
        k--;
    b->len = k;
    if (b->data)
        b->data[k] = '\0';
    while (k > 0 && b->data[k - 1] == '\n' && have < want) {
        have++;
        k--;
    }
    if (b->len == 0)
        return;
    for (; have < want; have++)
        (void)buf_append(b, "\n", 1);
}

static bool tag_is_block(GumboTag t)
{
    switch (t) {
    case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3:
    case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_UL: case GUMBO_TAG_OL:
    case GUMBO_TAG_TABLE: case GUMBO_TAG_TR: case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_PRE:
    case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_ADDRESS: case GUMBO_TAG_HR: case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_DD:
    case GUMBO_TAG_CENTER: case GUMBO_TAG_FORM: case GUMBO_TAG_NAV: case GUMBO_TAG_MAIN:
    case GUMBO_TAG_FIGURE: case GUMBO_TAG_BODY:
        return true;
    default:
        return false;
    }
}

static void html_walk(const GumboNode *node, struct buf *b, int pre, int depth)
{
    if (depth > HTML_MAX_DEPTH)
        return;
    if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_WHITESPACE || node->type == GUMBO_NODE_CDATA) {
        const char *t = node->v.text.text;
        if (pre) {
            (void)buf_puts(b, t);
            return;
        }
        for (; *t; t++) {
            if (is_wsp((unsigned char)*t) || *t == '\f') {
                if (b->len && b->data[b->len - 1] != ' ' && b->data[b->len - 1] != '\n')
                    (void)buf_append(b, " ", 1);
            } else {
                (void)buf_append(b, t, 1);
            }
        }
        return;
    }
    if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_DOCUMENT && node->type != GUMBO_NODE_TEMPLATE)
        return;
    GumboTag tag = node->type == GUMBO_NODE_DOCUMENT ? GUMBO_TAG_UNKNOWN : node->v.element.tag;
    switch (tag) {
    case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_HEAD: case GUMBO_TAG_TITLE:
    case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_OBJECT: case GUMBO_TAG_IFRAME:
        return;
    case GUMBO_TAG_BR:
        nl_ensure(b, 0);
        (void)buf_append(b, "\n", 1);
        return;
    default:
        break;
    }
    bool block = tag_is_block(tag);
    if (block)
        nl_ensure(b, tag == GUMBO_TAG_P ? 2 : 1);
    if (tag == GUMBO_TAG_LI) {
        nl_ensure(b, 1);
        (void)buf_puts(b, "- ");
    }
    if ((tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH) && b->len && b->data[b->len - 1] != '\n')
        (void)buf_append(b, " ", 1);
    const GumboVector *kids = node->type == GUMBO_NODE_DOCUMENT ? &node->v.document.children : &node->v.element.children;
    for (unsigned i = 0; i < kids->length; i++)
        html_walk(kids->data[i], b, pre || tag == GUMBO_TAG_PRE, depth + 1);
    if (block)
        nl_ensure(b, tag == GUMBO_TAG_P ? 2 : 1);
    if (tag == GUMBO_TAG_LI)
        nl_ensure(b, 1);
}

/* Without gumbo: tags dropped, a few entities decoded. For HTML too big or too tag-dense
 * for gumbo, whose tree teardown recurses once per nesting level. */
static void html_strip(struct ctx *c, const char *h, size_t n, struct buf *out)
{
    static const struct { const char *e, *u; } ent[] = {
        {"&nbsp;", " "}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}};
    size_t i = 0;
    while (i < n) {
        if (h[i] == '<') {
            const char *gt = memchr(h + i, '>', n - i);
            if (!gt)
                break;
            if (ci_prefix(h + i, n - i, "<br") || ci_prefix(h + i, n - i, "<p") || ci_prefix(h + i, n - i, "<div") ||
                ci_prefix(h + i, n - i, "</p") || ci_prefix(h + i, n - i, "</div") || ci_prefix(h + i, n - i, "<li"))
                if (out->len && out->data[out->len - 1] != '\n' && buf_append(out, "\n", 1) < 0)
                    c->oom = 1;
            i = (size_t)(gt - h) + 1;
            continue;
        }
        bool done = false;
        if (h[i] == '&')
            for (size_t k = 0; k < sizeof(ent) / sizeof(ent[0]); k++)
                if (ci_prefix(h + i, n - i, ent[k].e)) {
                    if (buf_puts(out, ent[k].u) < 0)
                        c->oom = 1;
                    i += strlen(ent[k].e);
                    done = true;
                    break;
                }
        if (!done) {
            if (buf_append(out, h + i, 1) < 0)
                c->oom = 1;
            i++;
        }
    }
}

static void html_to_text(struct ctx *c, const char *html, size_t n, struct buf *out)
{
    size_t tags = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (html[i] == '<' && html[i + 1] != '/')
            tags++;
    if (tags > 20000 || n > 4 * 1024 * 1024) {
        warn(c, "html too complex, tags stripped");
        html_strip(c, html, n, out);
        return;
    }
    GumboOptions opt = kGumboDefaultOptions;
    opt.max_errors = 100;
    GumboOutput *g = gumbo_parse_with_options(&opt, html, n);
    if (!g) {
        (void)buf_append(out, html, n);
        return;
    }
    struct buf t;
    buf_init(&t, 0);
    html_walk(g->document, &t, 0, 0);
    gumbo_destroy_output(&opt, g);
    /* trim trailing spaces on lines and collapse runs of blank lines */
    size_t nls = 0;
    bool start = true;
    for (size_t i = 0; i < t.len; i++) {
        char ch = t.data[i];
        if (ch == '\n') {
            while (out->len && out->data[out->len - 1] == ' ')
                out->data[--out->len] = '\0';
            if (!start && nls < 2 && buf_append(out, "\n", 1) < 0)
                c->oom = 1;
            nls++;
            continue;
        }
        if (ch == ' ' && (nls || start) && (out->len == 0 || out->data[out->len - 1] == '\n'))
            continue;
        nls = 0;
        start = false;
        if (buf_append(out, &ch, 1) < 0)
            c->oom = 1;
    }
    while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == ' '))
        out->data[--out->len] = '\0';
    buf_free(&t);
}

/* ---------------------------------------------------------------- quoted history */

static bool line_starts(const char *l, size_t n, const char *w)
{
    while (n && (*l == ' ' || *l == '\t')) {
        l++;
        n--;
    }
    size_t k = strlen(w);
    return n >= k && memcmp(l, w, k) == 0;
}

static bool line_ends_wrote(const char *l, size_t n)
{
    while (n && is_wsp((unsigned char)l[n - 1]))
        n--;
    static const char *const tails[] = {"wrote:", "writes:", "写道：", "写道:", "寫道：", "寫道:",
                                        "a écrit :", "a écrit:", "schrieb:", "escribió:"};
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        size_t k = strlen(tails[i]);
        if (n >= k && memcmp(l + n - k, tails[i], k) == 0)
            return true;
    }
    return false;
}

/* Where the quoted history starts at line [l, l+n) (next line is nxt/nn), or false. */
static bool is_history_start(const char *l, size_t n, const char *nxt, size_t nn)
{
    if (line_starts(l, n, "-----Original Message-----") || line_starts(l, n, "----- Original Message -----") ||
        line_starts(l, n, "-----原始邮件-----") || line_starts(l, n, "------------------ 原始邮件 ------------------") ||
        line_starts(l, n, "发件人:") || line_starts(l, n, "发件人：") || line_starts(l, n, "寄件者:") ||
        line_starts(l, n, "寄件者："))
        return true;
    if ((line_starts(l, n, "On ") || line_starts(l, n, "在 ") || line_starts(l, n, "Le ") ||
         line_starts(l, n, "Am ") || line_starts(l, n, "El ")) &&
        (line_ends_wrote(l, n) || (nxt && line_ends_wrote(nxt, nn))))
        return true;
    if (line_starts(l, n, "________________________________") && nxt &&
        (line_starts(nxt, nn, "From:") || line_starts(nxt, nn, "发件人")))
        return true;
    if (line_starts(l, n, "From: ") && nxt && (line_starts(nxt, nn, "Sent: ") || line_starts(nxt, nn, "Date: ")))
        return true;
    return false;
}

static char *collapse_history(const char *t, int *oom)
{
    struct buf out;
    buf_init(&out, 0);
    size_t n = strlen(t);
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && t[e] != '\n')
            e++;
        const char *nxt = e < n ? t + e + 1 : NULL;
        size_t nn = 0;
        if (nxt)
            while (e + 1 + nn < n && nxt[nn] != '\n')
                nn++;
        if (is_history_start(t + i, e - i, nxt, nn))
            break;
        if (!line_starts(t + i, e - i, ">")) {
            if (buf_append(&out, t + i, e - i) < 0 || (e < n && buf_append(&out, "\n", 1) < 0))
                *oom = 1;
        }
        i = e + 1;
    }
    while (out.len && is_wsp((unsigned char)out.data[out.len - 1]))
        out.data[--out.len] = '\0';
    if (out.len == 0) { /* the whole mail is a quote: show it rather than nothing */
        buf_free(&out);
        char *s = strdup(t);
        if (!s)
            *oom = 1;
        return s;
    }
    char *s = buf_take(&out);
    if (!s)
        *oom = 1;
    return s;
}

/* ---------------------------------------------------------------- entities */

static void add_attachment(struct ctx *c, const char *ctype, const char *fname, const char *data, size_t n,
                           int is_inline)
{
    struct mime_message *m = c->m;
    if (m->n_attachments >= c->lim.max_parts)
        return;
    if (m->n_attachments == c->att_alloc) {
        size_t na = c->att_alloc ? c->att_alloc * 2 : 4;
        struct mime_attachment *a = realloc(m->attachments, na * sizeof(*a));
        if (!a) {
            c->oom = 1;
            return;
        }
        m->attachments = a;
        c->att_alloc = na;
    }
    struct mime_attachment *a = &m->attachments[m->n_attachments];
    memset(a, 0, sizeof(*a));
    a->content_type = strdup(ctype);
    if (!a->content_type) {
        c->oom = 1;
        return;
    }
    if (fname && *fname) {
        a->filename = strdup(fname);
        if (!a->filename) {
            free(a->content_type);
            c->oom = 1;
            return;
        }
        for (char *p = a->filename; *p; p++)
            if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '_';
    }
    a->data = malloc(n ? n : 1);
    if (!a->data) {
        free(a->content_type);
        free(a->filename);
        c->oom = 1;
        return;
    }
    if (n)
        memcpy(a->data, data, n);
    a->size = n;
    a->inline_part = is_inline;
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        memset(md, 0, sizeof(md));
    static const char hx[] = "0123456789abcdef";
    for (size_t k = 0; k < 32; k++) {
        a->sha256_hex[2 * k] = hx[md[k] >> 4];
        a->sha256_hex[2 * k + 1] = hx[md[k] & 15];
    }
    a->sha256_hex[64] = '\0';
    m->n_attachments++;
}

/* Splits an entity into header block and body. The header block ends at the first empty
 * line, or at the first line that is neither a field nor a continuation (broken mailers
 * omit the blank line). */
static void split_entity(const char *p, size_t n, struct span *h, struct span *body)
{
    size_t i = 0;
    bool first = true;
    while (i < n) {
        size_t eol = i;
        while (eol < n && p[eol] != '\n')
            eol++;
        size_t ln = eol - i;
        if (ln > 0 && p[eol - 1] == '\r')
            ln--;
        if (ln == 0) { /* blank line */
            h->p = p;
            h->n = i;
            body->p = p + (eol < n ? eol + 1 : n);
            body->n = n - (size_t)(body->p - p);
            return;
        }
        bool cont = (p[i] == ' ' || p[i] == '\t') && !first;
        bool field = false;
        if (!cont) {
            size_t k = i;
            while (k < i + ln && p[k] > 32 && p[k] < 127 && p[k] != ':')
                k++;
            while (k < i + ln && (p[k] == ' ' || p[k] == '\t'))
                k++;
            field = k > i && k < i + ln && p[k] == ':';
            if (first && !field && ci_prefix(p + i, ln, "From ")) /* mbox separator */
                field = true;
        }
        if (!cont && !field) {
            h->p = p;
            h->n = i;
            body->p = p + i;
            body->n = n - i;
            return;
        }
        first = false;
        i = eol + 1;
    }
    h->p = p;
    h->n = n;
    body->p = p + n;
    body->n = 0;
}

static void parse_entity(struct ctx *c, const char *p, size_t n, size_t depth, int nested_msg,
                         const char *default_type);

static void take_text(struct ctx *c, int rank, bool is_html, const char *utf8, size_t n)
{
    if (is_html) {
        if (c->html_rank < 0 || rank < c->html_rank) {
            buf_reset(&c->html);
            if (buf_append(&c->html, utf8, n) < 0)
                c->oom = 1;
            c->html_rank = rank;
        }
        return;
    }
    if (c->text_rank < 0 || rank < c->text_rank) {
        buf_reset(&c->text);
        if (buf_append(&c->text, utf8, n) < 0)
            c->oom = 1;
        c->text_rank = rank;
    } else if (rank == c->text_rank) {
        /* several inline text parts at the same level (split around images): keep all */
        if (buf_append(&c->text, "\n", 1) < 0 || buf_append(&c->text, utf8, n) < 0)
            c->oom = 1;
    }
}

/* A body whose declared boundary never occurs: the first "--xyz" line that occurs at
 * least twice is almost always the real one (mailers that mangle the header). */
static char *guess_boundary(struct span body)
{
    size_t i = 0;
    while (i < body.n) {
        size_t eol = i;
        while (eol < body.n && body.p[eol] != '\n')
            eol++;
        size_t ln = eol - i;
        while (ln && is_wsp((unsigned char)body.p[i + ln - 1]))
            ln--;
        if (ln > 2 && ln < 200 && body.p[i] == '-' && body.p[i + 1] == '-' && !is_wsp((unsigned char)body.p[i + 2])) {
            const char *b = body.p + i + 2;
            size_t bl = ln - 2;
            size_t k = eol, seen = 0;
            while (k < body.n && seen == 0) {
                const char *hit = memmem(body.p + k, body.n - k, b - 2, bl + 2);
                if (!hit)
                    break;
                if (hit == body.p || hit[-1] == '\n')
                    seen++;
                k = (size_t)(hit - body.p) + 1;
            }
            if (seen)
                return strndup(b, bl);
            return NULL;
        }
        i = eol + 1;
    }
    return NULL;
}

/* After the boundary only "--" (close) and trailing whitespace may follow, or "--b1"
 * would match "--b10". */
static bool delim_tail_ok(const char *t, size_t n)
{
    if (n >= 2 && t[0] == '-' && t[1] == '-') {
        t += 2;
        n -= 2;
    }
    for (size_t i = 0; i < n; i++)
        if (!is_wsp((unsigned char)t[i]))
            return false;
    return true;
}

static void parse_multipart(struct ctx *c, struct span body, const char *boundary, size_t depth, int nested_msg,
                            const char *subtype, bool may_guess)
{
    size_t bl = strlen(boundary);
    const char *p = body.p;
    size_t n = body.n;
    size_t i = 0;
    const char *part = NULL;
    bool found = false;
    const char *deftype = strcmp(subtype, "digest") == 0 ? "message/rfc822" : "text/plain";
    while (i < n) {
        size_t eol = i;
        while (eol < n && p[eol] != '\n')
            eol++;
        if (eol - i >= 2 + bl && p[i] == '-' && p[i + 1] == '-' && memcmp(p + i + 2, boundary, bl) == 0 &&
            delim_tail_ok(p + i + 2 + bl, eol - (i + 2 + bl))) {
            bool close = eol - i >= 4 + bl && p[i + 2 + bl] == '-' && p[i + 3 + bl] == '-';
            found = true;
            if (part) {
                /* the CRLF before the delimiter belongs to it */
                size_t end = i;
                if (end > (size_t)(part - p) && p[end - 1] == '\n')
                    end--;
                if (end > (size_t)(part - p) && p[end - 1] == '\r')
                    end--;
                if (c->m->n_parts >= c->lim.max_parts) {
                    c->m->truncated = 1;
                    warn(c, "too many parts");
                    return;
                }
                parse_entity(c, part, end - (size_t)(part - p), depth + 1, nested_msg, deftype);
            }
            if (close)
                return;
            part = p + (eol < n ? eol + 1 : n);
        }
        i = eol + 1;
    }
    if (part) { /* unterminated: take what is there */
        warn(c, "unterminated multipart");
        if (c->m->n_parts >= c->lim.max_parts) {
            c->m->truncated = 1;
            warn(c, "too many parts");
            return;
        }
        parse_entity(c, part, n - (size_t)(part - p), depth + 1, nested_msg, deftype);
    } else if (!found) {
        char *g = may_guess ? guess_boundary(body) : NULL;
        if (g && strcmp(g, boundary) != 0) {
            warn(c, "boundary guessed");
            parse_multipart(c, body, g, depth, nested_msg, subtype, false);
            free(g);
            return;
        }
        free(g);
        warn(c, "multipart without its boundary");
        /* read the whole body as text so nothing is lost */
        struct buf u;
        buf_init(&u, 0);
        to_utf8(c, NULL, body.p, body.n, &u);
        take_text(c, 10 + nested_msg * 100, false, u.data ? u.data : "", u.len);
        buf_free(&u);
    }
}

/* A field value of a report without its type prefix ("rfc822; a@b" -> "a@b"). */
static char *report_field(struct ctx *c, struct span h, const char *name, bool drop_type)
{
    char *v = header_raw(c, h, name);
    char *semi = v && drop_type ? strchr(v, ';') : NULL;
    if (semi) {
        const char *from = semi + 1;
        while (*from == ' ' || *from == '\t')
            from++;
        memmove(v, from, strlen(from) + 1);
    }
    return v;
}

/* message/delivery-status: per-message fields, a blank line, then per-recipient blocks;
 * the first recipient block is kept. */
static void take_delivery_status(struct ctx *c, const char *d, size_t n)
{
    struct mime_message *m = c->m;
    if (m->dsn_action)
        return;
    struct span per_msg, rest, rcpt, tail;
    split_entity(d, n, &per_msg, &rest);
    while (rest.n && (rest.p[0] == '\r' || rest.p[0] == '\n')) { /* extra blank lines */
        rest.p++;
        rest.n--;
    }
    split_entity(rest.p, rest.n, &rcpt, &tail);
    m->dsn_action = report_field(c, rcpt, "Action", false);
    if (!m->dsn_action)
        return;
    for (char *k = m->dsn_action; *k; k++)
        *k = (char)lc((unsigned char)*k);
    m->dsn_status = report_field(c, rcpt, "Status", false);
    m->dsn_recipient = report_field(c, rcpt, "Final-Recipient", true);
    m->dsn_diag = report_field(c, rcpt, "Diagnostic-Code", true);
}

static void parse_entity(struct ctx *c, const char *p, size_t n, size_t depth, int nested_msg,
                         const char *default_type)
{
    struct mime_message *m = c->m;
    if (c->oom)
        return;
    if (m->n_parts >= c->lim.max_parts) {
        m->truncated = 1;
        warn(c, "too many parts");
        return;
    }
    m->n_parts++;
    struct span h, body;
    split_entity(p, n, &h, &body);
    if (h.n > c->lim.max_header_bytes) {
        m->truncated = 1;
        warn(c, "header too large");
        size_t k = c->lim.max_header_bytes;
        while (k > 0 && h.p[k - 1] != '\n')
            k--;
        h.n = k;
    }
    if (depth == 0 && nested_msg == 0) {
        m->message_id = header_raw(c, h, "Message-ID");
        m->in_reply_to = header_raw(c, h, "In-Reply-To");
        m->references = header_raw(c, h, "References");
        m->subject = header_decoded(c, h, "Subject");
        m->to = header_decoded(c, h, "To");
        m->cc = header_decoded(c, h, "Cc");
        m->to_addrs = address_list(c, h, "To");
        m->cc_addrs = address_list(c, h, "Cc");
        m->reply_to = header_decoded(c, h, "Reply-To");
        m->date = header_raw(c, h, "Date");
        m->auto_submitted = header_raw(c, h, "Auto-Submitted");
        m->precedence = header_raw(c, h, "Precedence");
        m->list_id = header_decoded(c, h, "List-Id");
    }

    struct buf v, tmp;
    buf_init(&v, 0);
    buf_init(&tmp, 0);
    char ctype[128], disp[32] = "", cte[32] = "", charset[64] = "";
    (void)text_copy(ctype, sizeof(ctype), default_type);
    bool has_ct = hdr_get(h, "Content-Type", &v) == 0;
    if (has_ct && v.data) {
        param_main(v.data, v.len, ctype, sizeof(ctype));
        if (!strchr(ctype, '/'))
            (void)text_copy(ctype, sizeof(ctype), strcmp(ctype, "text") == 0 ? "text/plain" : default_type);
    }
    if (has_ct && v.data && param_get(c, v.data, v.len, "charset", &tmp) == 0 && tmp.data)
        (void)text_copy(charset, sizeof(charset), tmp.data);
    char *ct_name = NULL, *fname = NULL, *boundary = NULL;
    if (has_ct && v.data && strncmp(ctype, "multipart/", 10) == 0) {
        /* the boundary is taken raw: decoding it would break the match */
        struct buf bb;
        buf_init(&bb, 0);
        if (param_get(c, v.data, v.len, "boundary", &bb) == 0 && bb.data && bb.len)
            boundary = buf_take(&bb);
        buf_free(&bb);
    }
    if (has_ct && v.data && param_get(c, v.data, v.len, "name", &tmp) == 0)
        ct_name = buf_take(&tmp);
    if (hdr_get(h, "Content-Disposition", &v) == 0 && v.data) {
        param_main(v.data, v.len, disp, sizeof(disp));
        if (param_get(c, v.data, v.len, "filename", &tmp) == 0)
            fname = buf_take(&tmp);
    }
    if (hdr_get(h, "Content-Transfer-Encoding", &v) == 0 && v.data)
        param_main(v.data, v.len, cte, sizeof(cte));
    bool has_cid = hdr_get(h, "Content-ID", &v) == 0;
    buf_free(&v);
    buf_free(&tmp);
    const char *name = fname && *fname ? fname : ct_name;

    if (strncmp(ctype, "multipart/", 10) == 0) {
        if (depth >= c->lim.max_depth) {
            m->truncated = 1;
            warn(c, "nesting too deep");
        } else if (boundary || (boundary = guess_boundary(body)) != NULL) {
            parse_multipart(c, body, boundary, depth, nested_msg, ctype + 10, true);
        } else {
            warn(c, "multipart without boundary");
            struct buf u;
            buf_init(&u, 0);
            to_utf8(c, charset, body.p, body.n, &u);
            take_text(c, 10 + nested_msg * 100, false, u.data ? u.data : "", u.len);
            buf_free(&u);
        }
        goto out;
    }

    struct buf dec;
    buf_init(&dec, 0);
    int r;
    if (strcmp(cte, "base64") == 0)
        r = base64_decode(body.p, body.n, &dec);
    else if (strcmp(cte, "quoted-printable") == 0)
        r = qp_decode(body.p, body.n, &dec, false);
    else
        r = buf_append(&dec, body.p, body.n);
    if (r < 0) {
        c->oom = 1;
        buf_free(&dec);
        goto out;
    }
    const char *d = dec.data ? dec.data : "";

    if (strcmp(ctype, "message/delivery-status") == 0 || strcmp(ctype, "message/global-delivery-status") == 0)
        take_delivery_status(c, d, dec.len);
    if (!m->dsn_original_id && (strcmp(ctype, "text/rfc822-headers") == 0 || strcmp(ctype, "message/rfc822") == 0 ||
                                strcmp(ctype, "message/global-headers") == 0)) {
        struct span oh, ob;
        split_entity(d, dec.len, &oh, &ob);
        m->dsn_original_id = header_raw(c, oh, "Message-ID");
    }
    bool attach = strcmp(disp, "attachment") == 0;
    bool is_text = strcmp(ctype, "text/plain") == 0 || strcmp(ctype, "text/html") == 0 ||
                   strcmp(ctype, "text/enriched") == 0 || strcmp(ctype, "text") == 0;
    if (strcmp(ctype, "message/rfc822") == 0 || strcmp(ctype, "message/global") == 0) {
        struct span ih, ib;
        split_entity(d, dec.len, &ih, &ib);
        char *subj = NULL;
        if (!name)
            subj = header_decoded(c, ih, "Subject");
        struct buf fnb;
        buf_init(&fnb, 0);
        if (!name)
            (void)buf_printf(&fnb, "%s.eml", subj && *subj ? subj : "attached-message");
        add_attachment(c, ctype, name ? name : (fnb.data ? fnb.data : "attached-message.eml"), d, dec.len,
                       strcmp(disp, "inline") == 0);
        buf_free(&fnb);
        free(subj);
        if (depth >= c->lim.max_depth) {
            m->truncated = 1;
            warn(c, "nesting too deep");
        } else {
            parse_entity(c, d, dec.len, depth + 1, nested_msg + 1, "text/plain");
        }
    } else if (is_text && !attach) {
        struct buf u;
        buf_init(&u, 0);
        to_utf8(c, charset, d, dec.len, &u);
        bool html = strcmp(ctype, "text/html") == 0;
        take_text(c, nested_msg * 100, html, u.data ? u.data : "", u.len);
        buf_free(&u);
    } else {
        add_attachment(c, ctype, name, d, dec.len,
                       strcmp(disp, "inline") == 0 || (has_cid && !attach));
    }
    buf_free(&dec);
out:
    free(boundary);
    free(ct_name);
    free(fname);
}

/* ---------------------------------------------------------------- From */

static void parse_from(struct ctx *c, const char *v)
{
    struct mime_message *m = c->m;
    if (!v)
        return;
    /* first mailbox only: stop at a ',' outside quotes; '<' inside quotes is name text */
    const char *lt = NULL, *end = v;
    for (bool q = false; *end; end++) {
        if (*end == '\\' && end[1]) {
            end++;
            continue;
        }
        if (*end == '"')
            q = !q;
        else if (!q && *end == '<' && !lt)
            lt = end;
        else if (!q && *end == ',' && (!lt || memchr(lt, '>', (size_t)(end - lt)) != NULL))
            break;
    }
    const char *gt = lt ? memchr(lt, '>', (size_t)(end - lt)) : NULL;
    struct buf name, addr;
    buf_init(&name, 0);
    buf_init(&addr, 0);
    if (lt) { /* an unclosed '<' still marks where the address starts */
        (void)buf_append(&addr, lt + 1, gt ? (size_t)(gt - lt - 1) : (size_t)(end - lt - 1));
        (void)buf_append(&name, v, (size_t)(lt - v));
    } else {
        const char *op = strchr(v, '(');
        const char *cp = op ? strchr(op, ')') : NULL;
        if (op && cp) {
            (void)buf_append(&addr, v, (size_t)(op - v));
            (void)buf_append(&name, op + 1, (size_t)(cp - op - 1));
        } else {
            (void)buf_append(&addr, v, (size_t)(end - v));
        }
    }
    char *a = buf_take(&addr);
    char *nm = buf_take(&name);
    if (!a || !nm) {
        free(a);
        free(nm);
        c->oom = 1;
        return;
    }
    char *at = text_trim(a);
    text_lower(at);
    if (*at) {
        m->from_addr = strdup(at);
        if (!m->from_addr)
            c->oom = 1;
    }
    /* unquote the display name */
    struct buf u;
    buf_init(&u, 0);
    char *nt = text_trim(nm);
    for (const char *q = nt; *q; q++) {
        if (*q == '"')
            continue;
        if (*q == '\\' && q[1])
            q++;
        (void)buf_append(&u, q, 1);
    }
    char *un = buf_take(&u);
    if (un) {
        char *t = text_trim(un);
        if (*t) {
            m->from_name = strdup(t);
            if (!m->from_name)
                c->oom = 1;
        }
        free(un);
    } else {
        c->oom = 1;
    }
    free(a);
    free(nm);
}

/* ---------------------------------------------------------------- API */

void mime_limits_default(struct mime_limits *lim)
{
    lim->max_depth = 20;
    lim->max_parts = 1000;
    lim->max_header_bytes = 256 * 1024;
    lim->max_message_bytes = 25 * 1024 * 1024;
}

void mime_message_free(struct mime_message *m)
{
    if (!m)
        return;
    char **fields[] = {&m->message_id, &m->in_reply_to, &m->references, &m->subject, &m->from_name,
                       &m->from_addr, &m->to, &m->cc, &m->to_addrs, &m->cc_addrs, &m->reply_to, &m->date, &m->auto_submitted,
                       &m->precedence, &m->list_id, &m->text, &m->text_visible, &m->html, &m->dsn_action,
                       &m->dsn_status, &m->dsn_recipient, &m->dsn_diag, &m->dsn_original_id};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
    for (size_t i = 0; i < m->n_attachments; i++) {
        free(m->attachments[i].filename);
        free(m->attachments[i].content_type);
        free(m->attachments[i].data);
    }
    free(m->attachments);
    memset(m, 0, sizeof(*m));
}

int mime_parse(const char *raw, size_t len, const struct mime_limits *lim, struct mime_message *out)
{
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (!raw && len)
        return -EINVAL;
    struct ctx c;
    memset(&c, 0, sizeof(c));
    mime_limits_default(&c.lim);
    if (lim) {
        if (lim->max_depth)
            c.lim.max_depth = lim->max_depth;
        if (lim->max_parts)
            c.lim.max_parts = lim->max_parts;
        if (lim->max_header_bytes)
            c.lim.max_header_bytes = lim->max_header_bytes;
        if (lim->max_message_bytes)
            c.lim.max_message_bytes = lim->max_message_bytes;
    }
    c.m = out;
    c.text_rank = -1;
    c.html_rank = -1;
    buf_init(&c.text, 0);
    buf_init(&c.html, 0);
    if (len > c.lim.max_message_bytes) {
        len = c.lim.max_message_bytes;
        out->truncated = 1;
        warn(&c, "message too large");
    }
    parse_entity(&c, raw ? raw : "", len, 0, 0, "text/plain");

    if (!c.oom) {
        struct span h, b;
        split_entity(raw ? raw : "", len, &h, &b);
        if (h.n > c.lim.max_header_bytes)
            h.n = c.lim.max_header_bytes;
        char *from = header_decoded(&c, h, "From");
        parse_from(&c, from);
        free(from);
    }
    if (c.html_rank >= 0) {
        out->html = buf_take(&c.html);
        if (!out->html)
            c.oom = 1;
    }
    if (c.text_rank < 0 || (c.html_rank >= 0 && c.html_rank < c.text_rank)) {
        buf_reset(&c.text);
        if (out->html)
            html_to_text(&c, out->html, strlen(out->html), &c.text);
    }
    /* final scrub: trim and guarantee clean UTF-8 */
    struct buf clean;
    buf_init(&clean, 0);
    if (c.text.len && utf8_clean_append(&clean, c.text.data, c.text.len) < 0)
        c.oom = 1;
    while (clean.len && is_wsp((unsigned char)clean.data[clean.len - 1]))
        clean.data[--clean.len] = '\0';
    out->text = buf_take(&clean);
    if (!out->text)
        c.oom = 1;
    else
        out->text_visible = collapse_history(out->text, &c.oom);
    buf_free(&c.text);
    buf_free(&c.html);
    if (c.oom) {
        mime_message_free(out);
        return -ENOMEM;
    }
    return 0;
}

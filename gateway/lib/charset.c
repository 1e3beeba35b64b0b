/* charset.c — see charset.h. */
#include "gateway/lib/charset.h"
#include "gateway/lib/text.h"
#include <errno.h>
#include <iconv.h>
#include <limits.h>
#include <strings.h>

struct charset_def {
    const char *name;
    const char *iconv_name; /* NULL: UTF-8, checked instead of converted */
    int c1_gaps;            /* the five bytes cp1252 leaves unassigned are ISO-8859-1's C1 */
};

/* GBK and GB2312 files are decoded as GB18030 because exporters label GBK as GB2312 all
 * the time and GB18030 decodes both. Big5 as Big5-HKSCS for the same reason (a superset
 * with the Hong Kong and ETEN characters). Latin-1 as windows-1252, the WHATWG rule: a
 * file called Latin-1 with bytes 0x80-0x9F was written by Windows, and those bytes are
 * curly quotes and the euro sign, not control characters. */
static const struct charset_def charsets[] = {
    {"utf-8", NULL, 0},
    {"utf8", NULL, 0},
    {"gbk", "GB18030", 0},
    {"gb2312", "GB18030", 0},
    {"gb18030", "GB18030", 0},
    {"big5", "BIG5-HKSCS", 0},
    {"latin1", "WINDOWS-1252", 1},
    {"iso-8859-1", "WINDOWS-1252", 1},
    {"windows-1252", "WINDOWS-1252", 0},
};

static const struct charset_def *charset_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(charsets) / sizeof(charsets[0]); i++)
        if (strcasecmp(name, charsets[i].name) == 0)
            return &charsets[i];
    return NULL;
}

/* Offset of the first byte that does not start a valid character. utf8_valid stays the
 * one definition of valid: a character is the shortest prefix it accepts (1-4 bytes). */
static size_t utf8_first_invalid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = 2;
        while (k <= 4 && i + k <= n && !utf8_valid(s + i, k))
            k++;
        if (k > 4 || i + k > n)
            return i;
        i += k;
    }
    return n;
}

static int utf8_copy(const char *in, size_t n, struct buf *out, size_t *bad_offset)
{
    if (!utf8_valid(in, n)) {
        if (bad_offset)
            *bad_offset = utf8_first_invalid(in, n);
        return -1;
    }
    return buf_append(out, in, n) < 0 ? -3 : 0;
}

static int is_c1_gap(unsigned char c)
{
    return c == 0x81 || c == 0x8D || c == 0x8F || c == 0x90 || c == 0x9D;
}

/* Moves what iconv wrote into chunk over to out. */
static int flush_chunk(struct buf *out, const char *chunk, const char *op)
{
    return op > chunk && buf_append(out, chunk, (size_t)(op - chunk)) < 0 ? -1 : 0;
}

static int convert(const struct charset_def *cs, const char *in, size_t n, struct buf *out,
                   size_t *bad_offset)
{
    iconv_t cd = iconv_open("UTF-8", cs->iconv_name);
    if (cd == (iconv_t)-1)
        return -2;
    int rc = 0;
    char chunk[4096];
    char *ip = (char *)in; /* iconv's prototype is not const-correct; it only reads */
    size_t il = n;
    while (il > 0) {
        char *op = chunk;
        size_t ol = sizeof(chunk);
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        int e = errno;
        if (flush_chunk(out, chunk, op) < 0) {
            rc = -3;
            goto done;
        }
        if (r != (size_t)-1 || e == E2BIG)
            continue;
        if (e == EILSEQ && cs->c1_gaps && is_c1_gap((unsigned char)*ip)) {
            char c1[2] = {'\xC2', *ip}; /* U+0081 etc. in UTF-8 */
            if (buf_append(out, c1, 2) < 0) {
                rc = -3;
                goto done;
            }
            ip++;
            il--;
            continue;
        }
        if (e != EILSEQ && e != EINVAL) {
            rc = -3;
            goto done;
        }
        if (bad_offset)
            *bad_offset = (size_t)(ip - in);
        rc = -1;
        goto done;
    }
    /* Big5-HKSCS may hold back a character that could still combine with the next. */
    char *op = chunk;
    size_t ol = sizeof(chunk);
    if (iconv(cd, NULL, NULL, &op, &ol) == (size_t)-1 || flush_chunk(out, chunk, op) < 0)
        rc = -3;
done:
    iconv_close(cd);
    return rc;
}

int charset_to_utf8(const char *charset, const char *in, size_t n, struct buf *out, size_t *bad_offset)
{
    const struct charset_def *cs = charset_find(charset);
    if (!cs)
        return -2;
    size_t mark = out->len;
    int rc = cs->iconv_name ? convert(cs, in, n, out, bad_offset) : utf8_copy(in, n, out, bad_offset);
    if (rc != 0) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}

int charset_line_of(const char *in, size_t n, size_t offset)
{
    if (offset > n)
        offset = n;
    size_t line = 1;
    for (size_t i = 0; i < offset; i++) {
        /* The CR of a CRLF is left to its LF, so CRLF counts once. */
        if (in[i] == '\n' || (in[i] == '\r' && (i + 1 >= n || in[i + 1] != '\n')))
            line++;
    }
    return line > INT_MAX ? INT_MAX : (int)line;
}

/* template.c — see template.h.
 *
 * Compiling runs in passes over a token list, because mustache's whitespace rules look at
 * whole lines and at tag pairs: (1) tokenize, splitting text after each newline so that a
 * line is a run of tokens, and match open and close tags; (2) strip the intrinsic
 * indentation of argument blocks; (3) mark standalone lines and the indentation of
 * partials, parents and blocks; (4) emit a flat pre-order node array in which every node
 * knows the index just past its subtree, with all strings in one pool. Rendering walks that
 * array; it allocates nothing but output (and partials, when there is no cache).
 */
#include "gateway/template.h"
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE32 UINT32_MAX
#define NO_PENDING SIZE_MAX
#define MAX_DELIM 16
#define MAX_PARTS 255
#define MAX_DYN_NAME 256
#define CACHE_SLOTS 64

/* ---------------------------------------------------------------- compiled form */

enum op { OP_TEXT, OP_VAR, OP_SECTION, OP_INVERTED, OP_PARTIAL, OP_PARENT, OP_BLOCK };

enum {
    NF_RAW = 1,        /* OP_VAR: never escaped */
    NF_DYNAMIC = 2,    /* OP_PARTIAL, OP_PARENT: the name is a path to the partial's name */
    NF_STANDALONE = 4, /* indent the expansion by the node's indentation */
    NF_LITERAL = 8,    /* OP_BLOCK: the first line's indentation is text before the tag */
};

struct node {
    uint8_t op, flags;
    uint16_t ncomp;      /* parts of a dotted name; 0 is the implicit iterator '.' */
    uint32_t end;        /* index just past this node's children */
    uint32_t off, len;   /* OP_TEXT: the text; otherwise the name (NUL-terminated) */
    uint32_t comp;       /* the first of ncomp name parts in comps */
    uint32_t ioff, ilen; /* indentation */
    uint32_t line, col;
};

struct comp {
    uint32_t off, len;
    int32_t index; /* the part as an array index, -1 when it is not all digits */
};

struct template {
    struct node *nodes;
    uint32_t nnodes;
    struct comp *comps;
    uint32_t ncomps;
    char *pool;
};

/* ---------------------------------------------------------------- errors */

static size_t utf8_bad(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return i;
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, cp = c & 0x07;
        else
            return i;
        if (n - i <= k)
            return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += k + 1;
    }
    return n;
}

static void pos_of(const char *s, size_t off, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n')
            l++, c = 1;
        else if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    }
    *line = l;
    *col = c;
}

/* Length of s[0..n) clipped to at most max bytes on a character boundary. */
static int clip(const char *s, size_t n, size_t max)
{
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return (int)n;
}

static void set_error(struct template_error *err, size_t line, size_t col, const char *fmt, va_list ap)
{
    if (!err)
        return;
    err->line = line;
    err->col = col;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    /* truncation may have cut a character in two */
    err->message[utf8_bad((const unsigned char *)err->message, strlen(err->message))] = '\0';
}

static void clear_error(struct template_error *err)
{
    if (err) {
        err->line = err->col = 0;
        err->message[0] = '\0';
    }
}

/* ---------------------------------------------------------------- tokens */

enum tk { TK_TEXT, TK_VAR, TK_RAW, TK_SECTION, TK_INVERTED, TK_CLOSE, TK_COMMENT, TK_PARTIAL, TK_DELIM, TK_PARENT, TK_BLOCK };

enum { TF_DROP = 1, TF_DYNAMIC = 2 };

struct tok {
    uint8_t kind, flags, nflags; /* nflags: NF_STANDALONE / NF_LITERAL for the node */
    uint32_t off, len;           /* TK_TEXT: the text (narrowed by de-indentation); tags: the whole tag */
    uint32_t noff, nlen;         /* the name, trimmed, without a dynamic '*' */
    uint32_t partner;            /* open tag <-> its close tag */
    uint32_t encl;               /* the open tag of the enclosing element */
    uint32_t line;               /* index into cc.lines */
    uint32_t ioff, ilen;         /* indentation, in the source */
};

struct cc {
    const char *src;
    size_t n;
    struct tok *tok;
    size_t ntok, atok;
    uint32_t *lines;   /* first token of each line, then ntok */
    uint32_t *lfirst;  /* per line: first token that is not white-space text, or NONE32 */
    uint32_t *llast;   /* per line: last such token */
    size_t nlines;
    struct template *t;
    size_t anodes, acomps;
    struct buf pool;
    struct template_error *err;
    size_t cur_off, cur_line, cur_col;
};

__attribute__((format(printf, 3, 4))) static int cc_fail(struct cc *c, size_t off, const char *fmt, ...)
{
    size_t line, col;
    pos_of(c->src, off, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    set_error(c->err, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

static int cc_oom(struct cc *c)
{
    if (c->err) {
        c->err->line = c->err->col = 0;
        snprintf(c->err->message, sizeof(c->err->message), "out of memory");
    }
    return -2;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static bool is_open_kind(int k)
{
    return k == TK_SECTION || k == TK_INVERTED || k == TK_PARENT || k == TK_BLOCK;
}

static const char *kind_word(int k)
{
    switch (k) {
    case TK_SECTION: return "section";
    case TK_INVERTED: return "inverted section";
    case TK_PARENT: return "parent";
    default: return "block";
    }
}

static int tok_add(struct cc *c, int kind, size_t off, size_t len, uint32_t encl)
{
    if (c->ntok == c->atok) {
        size_t na = c->atok ? c->atok * 2 : 64;
        struct tok *p = realloc(c->tok, na * sizeof(*p));
        if (!p)
            return cc_oom(c);
        c->tok = p;
        c->atok = na;
    }
    struct tok *k = &c->tok[c->ntok++];
    memset(k, 0, sizeof(*k));
    k->kind = (uint8_t)kind;
    k->off = (uint32_t)off;
    k->len = (uint32_t)len;
    k->partner = NONE32;
    k->encl = encl;
    return 0;
}

/* Text is split after each newline, so that a newline always ends a token. */
static int add_text(struct cc *c, size_t from, size_t to, uint32_t encl)
{
    while (from < to) {
        const char *nl = memchr(c->src + from, '\n', to - from);
        size_t end = nl ? (size_t)(nl - c->src) + 1 : to;
        if (tok_add(c, TK_TEXT, from, end - from, encl) < 0)
            return -2;
        from = end;
    }
    return 0;
}

/* Checks a name; dotted: also "." or parts separated by single dots. */
static int check_name(struct cc *c, size_t at, size_t a, size_t b, bool dotted)
{
    const char *s = c->src;
    if (a == b)
        return cc_fail(c, at, "empty name in tag");
    for (size_t i = a; i < b; i++)
        if (is_space(s[i]))
            return cc_fail(c, at, "name '%.*s' contains white space", clip(s + a, b - a, 48), s + a);
    if (!dotted || (b - a == 1 && s[a] == '.'))
        return 0;
    size_t parts = 1;
    for (size_t i = a; i < b; i++)
        parts += s[i] == '.';
    if (s[a] == '.' || s[b - 1] == '.' || memmem(s + a, b - a, "..", 2))
        return cc_fail(c, at, "invalid name '%.*s' (an empty part between dots)", clip(s + a, b - a, 48), s + a);
    if (parts > MAX_PARTS)
        return cc_fail(c, at, "name has more than %d dotted parts", MAX_PARTS);
    return 0;
}

static void trim(const char *s, size_t *a, size_t *b)
{
    while (*a < *b && is_space(s[*a]))
        (*a)++;
    while (*b > *a && is_space(s[*b - 1]))
        (*b)--;
}

static bool close_matches(const struct cc *c, const struct tok *open, const struct tok *cl)
{
    const char *s = c->src;
    size_t a = cl->noff, b = cl->noff + cl->nlen;
    if (open->flags & TF_DYNAMIC) {
        if (a == b || s[a] != '*')
            return false;
        a++;
        trim(s, &a, &b);
    }
    return b - a == open->nlen && memcmp(s + a, s + open->noff, open->nlen) == 0;
}

static int set_delimiters(struct cc *c, size_t at, size_t a, size_t b, char *otag, size_t *olen, char *ctag,
                          size_t *clen)
{
    const char *s = c->src;
    size_t x = a;
    while (x < b && !is_space(s[x]))
        x++;
    size_t y = x;
    while (y < b && is_space(s[y]))
        y++;
    size_t z = y;
    while (z < b && !is_space(s[z]))
        z++;
    if (x == a || y == x || z == y || z != b)
        return cc_fail(c, at, "bad delimiter tag: want two delimiters separated by white space, as {{=<%% %%>=}}");
    if (x - a > MAX_DELIM || z - y > MAX_DELIM)
        return cc_fail(c, at, "bad delimiter tag: a delimiter may have at most %d bytes", MAX_DELIM);
    if (memchr(s + a, '=', x - a) || memchr(s + y, '=', z - y))
        return cc_fail(c, at, "bad delimiter tag: a delimiter may not contain '='");
    memcpy(otag, s + a, x - a);
    *olen = x - a;
    memcpy(ctag, s + y, z - y);
    *clen = z - y;
    return 0;
}

static int tokenize(struct cc *c)
{
    const char *s = c->src;
    size_t n = c->n, pos = 0;
    char otag[MAX_DELIM], ctag[MAX_DELIM], endtag[MAX_DELIM + 1];
    size_t olen = 2, clen = 2;
    memcpy(otag, "{{", 2);
    memcpy(ctag, "}}", 2);
    uint32_t stack[TEMPLATE_MAX_DEPTH];
    size_t sp = 0;

    while (pos < n) {
        uint32_t encl = sp ? stack[sp - 1] : NONE32;
        const char *p = memmem(s + pos, n - pos, otag, olen);
        size_t at = p ? (size_t)(p - s) : n;
        if (add_text(c, pos, at, encl) < 0)
            return -2;
        if (!p)
            break;

        size_t q = at + olen, endlen;
        int kind = TK_VAR;
        if (q < n && s[q] == '{') {
            kind = TK_RAW;
            q++;
            endtag[0] = '}';
            memcpy(endtag + 1, ctag, clen);
            endlen = clen + 1;
        } else {
            size_t k = q;
            while (k < n && is_space(s[k]))
                k++;
            static const char sigils[] = "&#^/!><$=";
            static const int kinds[] = {TK_RAW,     TK_SECTION, TK_INVERTED, TK_CLOSE, TK_COMMENT,
                                        TK_PARTIAL, TK_PARENT,  TK_BLOCK,    TK_DELIM};
            const char *sg = k < n && s[k] ? strchr(sigils, s[k]) : NULL;
            if (sg) {
                kind = kinds[sg - sigils];
                q = k + 1;
            }
            if (kind == TK_DELIM) {
                endtag[0] = '=';
                memcpy(endtag + 1, ctag, clen);
                endlen = clen + 1;
            } else {
                memcpy(endtag, ctag, clen);
                endlen = clen;
            }
        }
        const char *e = q <= n ? memmem(s + q, n - q, endtag, endlen) : NULL;
        if (!e)
            return cc_fail(c, at, "unclosed tag: '%.*s' without a matching '%.*s'", (int)olen, otag, (int)endlen, endtag);
        size_t a = q, b = (size_t)(e - s), tag_end = b + endlen;
        trim(s, &a, &b);

        bool dynamic = false;
        switch (kind) {
        case TK_COMMENT:
            break;
        case TK_DELIM:
            if (set_delimiters(c, at, a, b, otag, &olen, ctag, &clen) < 0)
                return -1;
            break;
        case TK_PARTIAL:
        case TK_PARENT:
            if (a < b && s[a] == '*') {
                dynamic = true;
                a++;
                trim(s, &a, &b);
            }
            if (check_name(c, at, a, b, dynamic) < 0)
                return -1;
            break;
        case TK_BLOCK:
            if (check_name(c, at, a, b, false) < 0)
                return -1;
            break;
        case TK_CLOSE: {
            size_t x = a;
            if (x < b && s[x] == '*') {
                x++;
                while (x < b && is_space(s[x]))
                    x++;
            }
            if (check_name(c, at, x, b, false) < 0)
                return -1;
            break;
        }
        default:
            if (check_name(c, at, a, b, true) < 0)
                return -1;
            break;
        }

        if (tok_add(c, kind, at, tag_end - at, encl) < 0)
            return -2;
        uint32_t idx = (uint32_t)(c->ntok - 1);
        struct tok *k = &c->tok[idx];
        k->noff = (uint32_t)a;
        k->nlen = (uint32_t)(b - a);
        if (dynamic)
            k->flags |= TF_DYNAMIC;
        if (is_open_kind(kind)) {
            if (sp == TEMPLATE_MAX_DEPTH)
                return cc_fail(c, at, "sections, parents and blocks nested deeper than %d", TEMPLATE_MAX_DEPTH);
            stack[sp++] = idx;
        } else if (kind == TK_CLOSE) {
            if (!sp)
                return cc_fail(c, at, "close tag '%.*s' without an open section", clip(s + a, b - a, 48), s + a);
            struct tok *o = &c->tok[stack[sp - 1]];
            if (!close_matches(c, o, k)) {
                size_t ol, oc;
                pos_of(s, o->off, &ol, &oc);
                return cc_fail(c, at, "close tag '%.*s' does not match %s '%.*s' opened at %zu:%zu",
                               clip(s + a, b - a, 40), s + a, kind_word(o->kind), clip(s + o->noff, o->nlen, 40),
                               s + o->noff, ol, oc);
            }
            o->partner = idx;
            k->partner = stack[sp - 1];
            k->encl = o->encl;
            sp--;
        }
        pos = tag_end;
    }
    if (sp) {
        const struct tok *o = &c->tok[stack[sp - 1]];
        size_t ol, oc;
        pos_of(s, o->off, &ol, &oc);
        return cc_fail(c, n, "unclosed %s '%.*s' opened at %zu:%zu", kind_word(o->kind), clip(s + o->noff, o->nlen, 48),
                       s + o->noff, ol, oc);
    }
    return 0;
}

/* ---------------------------------------------------------------- whitespace passes */

static bool ends_line(const struct cc *c, const struct tok *k)
{
    return k->kind == TK_TEXT && k->len && c->src[k->off + k->len - 1] == '\n';
}

/* White-space text, possibly ending the line. */
static bool ws_text(const struct cc *c, const struct tok *k)
{
    if (k->kind != TK_TEXT)
        return false;
    const char *s = c->src + k->off;
    size_t n = k->len;
    if (n && s[n - 1] == '\n') {
        n--;
        if (n && s[n - 1] == '\r')
            n--;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

static size_t leading_ws(const struct cc *c, const struct tok *k)
{
    if (k->kind != TK_TEXT)
        return 0;
    size_t i = 0;
    while (i < k->len && (c->src[k->off + i] == ' ' || c->src[k->off + i] == '\t'))
        i++;
    return i;
}

static int build_lines(struct cc *c)
{
    size_t cap = c->ntok + 1;
    c->lines = malloc(cap * sizeof(uint32_t));
    c->lfirst = malloc(cap * sizeof(uint32_t));
    c->llast = malloc(cap * sizeof(uint32_t));
    if (!c->lines || !c->lfirst || !c->llast)
        return cc_oom(c);
    size_t nl = 0;
    for (size_t i = 0; i < c->ntok; i++) {
        if (i == 0 || ends_line(c, &c->tok[i - 1])) {
            c->lines[nl] = (uint32_t)i;
            c->lfirst[nl] = c->llast[nl] = NONE32;
            nl++;
        }
        struct tok *k = &c->tok[i];
        k->line = (uint32_t)(nl - 1);
        if (!ws_text(c, k)) {
            if (c->lfirst[nl - 1] == NONE32)
                c->lfirst[nl - 1] = (uint32_t)i;
            c->llast[nl - 1] = (uint32_t)i;
        }
    }
    c->lines[nl] = (uint32_t)c->ntok;
    c->nlines = nl;
    return 0;
}

/* Only white space before token i on its line / after it. */
static bool left_clear(const struct cc *c, uint32_t i)
{
    return c->lfirst[c->tok[i].line] == i;
}

static bool right_clear(const struct cc *c, uint32_t i)
{
    return c->llast[c->tok[i].line] == i;
}

static bool at_line_start(const struct cc *c, uint32_t i)
{
    return c->lines[c->tok[i].line] == i;
}

static bool is_argument(const struct cc *c, const struct tok *k)
{
    return k->kind == TK_BLOCK && k->encl != NONE32 && c->tok[k->encl].kind == TK_PARENT;
}

/* The first token of the line after token i's line, or NONE32. */
static uint32_t next_line_first(const struct cc *c, uint32_t i)
{
    uint32_t l = c->tok[i].line + 1;
    return l < c->nlines ? c->lines[l] : NONE32;
}

/* An argument block whose open tag ends its line has an intrinsic indentation: the white
 * space starting the next line. It is removed from every line of the block's content, so
 * the content can take the indentation of wherever it lands. Outer blocks come first in
 * token order, so a nested block measures its indentation after the outer one's removal. */
static void strip_intrinsic(struct cc *c)
{
    for (uint32_t i = 0; i < c->ntok; i++) {
        const struct tok *o = &c->tok[i];
        if (!is_argument(c, o) || !right_clear(c, i))
            continue;
        uint32_t f = next_line_first(c, i);
        if (f == NONE32 || f >= o->partner)
            continue;
        size_t w = leading_ws(c, &c->tok[f]);
        uint32_t ioff = c->tok[f].off;
        if (!w)
            continue;
        for (uint32_t j = f; j < o->partner; j++) {
            struct tok *k = &c->tok[j];
            if (k->kind == TK_TEXT && at_line_start(c, j) && k->len >= w &&
                memcmp(c->src + k->off, c->src + ioff, w) == 0) {
                k->off += (uint32_t)w;
                k->len -= (uint32_t)w;
            }
        }
    }
}

static void drop_line_before(struct cc *c, uint32_t i)
{
    for (uint32_t j = c->lines[c->tok[i].line]; j < i; j++)
        c->tok[j].flags |= TF_DROP;
}

static void drop_line_after(struct cc *c, uint32_t i)
{
    for (uint32_t j = i + 1; j < c->lines[c->tok[i].line + 1]; j++)
        c->tok[j].flags |= TF_DROP;
}

/* The white-space text before token i on its line becomes its indentation. */
static void indent_from_before(struct cc *c, uint32_t i)
{
    if (!at_line_start(c, i) && c->tok[i - 1].kind == TK_TEXT) {
        c->tok[i].ioff = c->tok[i - 1].off;
        c->tok[i].ilen = c->tok[i - 1].len;
    }
}

static void mark_standalone(struct cc *c)
{
    /* A line of white space and exactly one non-interpolation tag leaves nothing. */
    for (size_t l = 0; l < c->nlines; l++) {
        uint32_t f = c->lfirst[l];
        if (f == NONE32 || f != c->llast[l])
            continue;
        int kind = c->tok[f].kind;
        if (kind == TK_TEXT || kind == TK_VAR || kind == TK_RAW)
            continue;
        drop_line_before(c, f);
        drop_line_after(c, f);
        if (kind == TK_PARTIAL || kind == TK_PARENT) {
            indent_from_before(c, f);
            c->tok[f].nflags |= NF_STANDALONE;
        }
    }
    /* Pairs (the ~inheritance spec): a parent or parameter block whose open tag starts its
     * line and whose close tag ends its line is standalone as a whole. */
    for (uint32_t i = 0; i < c->ntok; i++) {
        struct tok *o = &c->tok[i];
        if (o->kind == TK_PARENT) {
            if (!left_clear(c, i) || !right_clear(c, o->partner))
                continue;
            indent_from_before(c, i);
            o->nflags |= NF_STANDALONE;
            drop_line_before(c, i);
            drop_line_after(c, o->partner);
        } else if (is_argument(c, o)) {
            /* The newline after an open tag ending its line is not content, nor is the
             * white space before a close tag starting its line. The rest is the parent's
             * text outside blocks, which never renders. */
            if (right_clear(c, i))
                drop_line_after(c, i);
            if (left_clear(c, o->partner))
                drop_line_before(c, o->partner);
        } else if (o->kind == TK_BLOCK) {
            if (!left_clear(c, i) || !right_clear(c, o->partner))
                continue;
            if (right_clear(c, i)) {
                /* the open tag's line is gone: the intrinsic indentation of the content */
                uint32_t f = next_line_first(c, i);
                if (f != NONE32) {
                    o->ioff = c->tok[f].off;
                    o->ilen = (uint32_t)leading_ws(c, &c->tok[f]);
                }
                o->nflags |= NF_STANDALONE;
            } else {
                indent_from_before(c, i);
                o->nflags |= NF_STANDALONE | NF_LITERAL;
            }
        }
    }
}

/* ---------------------------------------------------------------- emitting nodes */

static void advance_pos(struct cc *c, size_t off)
{
    for (size_t i = c->cur_off; i < off; i++) {
        if (c->src[i] == '\n')
            c->cur_line++, c->cur_col = 1;
        else if (((unsigned char)c->src[i] & 0xC0) != 0x80)
            c->cur_col++;
    }
    if (off > c->cur_off)
        c->cur_off = off;
}

static int pool_add(struct cc *c, const char *s, size_t n, bool nul, uint32_t *off)
{
    *off = (uint32_t)c->pool.len;
    if (buf_append(&c->pool, s, n) < 0 || (nul && buf_append(&c->pool, "", 1) < 0))
        return cc_oom(c);
    return 0;
}

static uint32_t node_add(struct cc *c, int op)
{
    struct template *t = c->t;
    if (t->nnodes == c->anodes) {
        size_t na = c->anodes ? c->anodes * 2 : 16;
        struct node *p = realloc(t->nodes, na * sizeof(*p));
        if (!p) {
            cc_oom(c);
            return NONE32;
        }
        t->nodes = p;
        c->anodes = na;
    }
    struct node *nd = &t->nodes[t->nnodes];
    memset(nd, 0, sizeof(*nd));
    nd->op = (uint8_t)op;
    nd->end = t->nnodes + 1;
    return t->nnodes++;
}

static int comp_add(struct cc *c, uint32_t off, uint32_t len)
{
    struct template *t = c->t;
    if (t->ncomps == c->acomps) {
        size_t na = c->acomps ? c->acomps * 2 : 16;
        struct comp *p = realloc(t->comps, na * sizeof(*p));
        if (!p)
            return cc_oom(c);
        t->comps = p;
        c->acomps = na;
    }
    struct comp *k = &t->comps[t->ncomps++];
    k->off = off;
    k->len = len;
    k->index = -1;
    if (len && len <= 9) {
        int32_t v = 0;
        uint32_t i;
        for (i = 0; i < len && c->pool.data[off + i] >= '0' && c->pool.data[off + i] <= '9'; i++)
            v = v * 10 + (c->pool.data[off + i] - '0');
        if (i == len)
            k->index = v;
    }
    return 0;
}

/* A node for tag token i: name, name parts, indentation, position. */
static uint32_t tag_node(struct cc *c, uint32_t i, int op, bool dotted)
{
    const struct tok *k = &c->tok[i];
    uint32_t idx = node_add(c, op);
    if (idx == NONE32)
        return NONE32;
    uint32_t off, ioff = 0;
    if (pool_add(c, c->src + k->noff, k->nlen, true, &off) < 0 ||
        (k->ilen && pool_add(c, c->src + k->ioff, k->ilen, false, &ioff) < 0))
        return NONE32;
    advance_pos(c, k->off);
    struct node *nd = &c->t->nodes[idx];
    nd->off = off;
    nd->len = k->nlen;
    nd->ioff = ioff;
    nd->ilen = k->ilen;
    nd->flags = k->nflags;
    if (k->flags & TF_DYNAMIC)
        nd->flags |= NF_DYNAMIC;
    nd->line = (uint32_t)c->cur_line;
    nd->col = (uint32_t)c->cur_col;
    if (dotted && !(k->nlen == 1 && c->src[k->noff] == '.')) {
        nd->comp = c->t->ncomps;
        uint32_t start = 0, parts = 0;
        for (uint32_t j = 0; j <= k->nlen; j++) {
            if (j == k->nlen || c->src[k->noff + j] == '.') {
                if (comp_add(c, off + start, j - start) < 0)
                    return NONE32;
                parts++;
                start = j + 1;
            }
        }
        c->t->nodes[idx].ncomp = (uint16_t)parts;
    }
    return idx;
}

static int emit(struct cc *c, uint32_t from, uint32_t to)
{
    uint32_t text = NONE32; /* the text node still open for merging */
    for (uint32_t i = from; i < to; i++) {
        const struct tok *k = &c->tok[i];
        uint32_t idx;
        switch (k->kind) {
        case TK_TEXT: {
            if ((k->flags & TF_DROP) || !k->len)
                break;
            uint32_t off;
            if (pool_add(c, c->src + k->off, k->len, false, &off) < 0)
                return -2;
            if (text != NONE32) {
                c->t->nodes[text].len += k->len;
                break;
            }
            if ((text = node_add(c, OP_TEXT)) == NONE32)
                return -2;
            c->t->nodes[text].off = off;
            c->t->nodes[text].len = k->len;
            break;
        }
        case TK_COMMENT:
        case TK_DELIM:
        case TK_CLOSE:
            break;
        case TK_VAR:
        case TK_RAW:
            text = NONE32;
            if ((idx = tag_node(c, i, OP_VAR, true)) == NONE32)
                return -2;
            if (k->kind == TK_RAW)
                c->t->nodes[idx].flags |= NF_RAW;
            break;
        case TK_PARTIAL:
            text = NONE32;
            if (tag_node(c, i, OP_PARTIAL, (k->flags & TF_DYNAMIC) != 0) == NONE32)
                return -2;
            break;
        case TK_SECTION:
        case TK_INVERTED:
        case TK_BLOCK:
            text = NONE32;
            idx = tag_node(c, i, k->kind == TK_SECTION ? OP_SECTION : k->kind == TK_INVERTED ? OP_INVERTED : OP_BLOCK,
                           k->kind != TK_BLOCK);
            if (idx == NONE32 || emit(c, i + 1, k->partner) < 0)
                return -2;
            c->t->nodes[idx].end = c->t->nnodes;
            i = k->partner;
            break;
        case TK_PARENT:
            text = NONE32;
            if ((idx = tag_node(c, i, OP_PARENT, (k->flags & TF_DYNAMIC) != 0)) == NONE32)
                return -2;
            /* only the blocks directly inside a parent tag count */
            for (uint32_t j = i + 1; j < k->partner; j++) {
                const struct tok *b = &c->tok[j];
                if (b->kind == TK_BLOCK && b->encl == i) {
                    uint32_t bi = tag_node(c, j, OP_BLOCK, false);
                    if (bi == NONE32 || emit(c, j + 1, b->partner) < 0)
                        return -2;
                    c->t->nodes[bi].end = c->t->nnodes;
                }
                if (is_open_kind(b->kind))
                    j = b->partner;
            }
            c->t->nodes[idx].end = c->t->nnodes;
            i = k->partner;
            break;
        default:
            break;
        }
    }
    return 0;
}

void template_free(struct template *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->comps);
    free(t->pool);
    free(t);
}

int template_compile(const char *src, size_t len, struct template **out, struct template_error *err)
{
    *out = NULL;
    clear_error(err);
    if (!src)
        len = 0;
    struct cc c;
    memset(&c, 0, sizeof(c));
    c.src = src ? src : "";
    c.n = len;
    c.err = err;
    c.cur_line = c.cur_col = 1;
    buf_init(&c.pool, 0);
    int rc;
    if (len > TEMPLATE_MAX_SOURCE) {
        if (err) {
            err->line = err->col = 1;
            snprintf(err->message, sizeof(err->message), "template longer than %d bytes", TEMPLATE_MAX_SOURCE);
        }
        return -1;
    }
    size_t bad = utf8_bad((const unsigned char *)c.src, len);
    if (bad < len) {
        rc = cc_fail(&c, bad, c.src[bad] ? "invalid UTF-8 at byte %zu" : "NUL byte at byte %zu", bad);
        goto done;
    }
    c.t = calloc(1, sizeof(*c.t));
    if (!c.t) {
        rc = cc_oom(&c);
        goto done;
    }
    if ((rc = tokenize(&c)) < 0 || (rc = build_lines(&c)) < 0)
        goto done;
    strip_intrinsic(&c);
    mark_standalone(&c);
    if ((rc = emit(&c, 0, (uint32_t)c.ntok)) < 0)
        goto done;
    c.t->pool = buf_take(&c.pool);
    if (!c.t->pool) {
        rc = cc_oom(&c);
        goto done;
    }
    *out = c.t;
    c.t = NULL;
    rc = 0;
done:
    template_free(c.t);
    buf_free(&c.pool);
    free(c.tok);
    free(c.lines);
    free(c.lfirst);
    free(c.llast);
    return rc;
}

/* ---------------------------------------------------------------- partial cache */

struct centry {
    char *name;
    char *src; /* the text t was compiled from */
    size_t srclen;
    struct template *t; /* NULL: the callback knows no such partial */
    unsigned pins;      /* renders of t under way */
    uint64_t epoch;     /* the render that last confirmed it */
    bool used;
};

struct template_cache {
    struct centry e[CACHE_SLOTS];
    uint64_t epoch;
    size_t victim;
};

struct template_cache *template_cache_new(void)
{
    return calloc(1, sizeof(struct template_cache));
}

static void centry_clear(struct centry *e)
{
    free(e->name);
    free(e->src);
    template_free(e->t);
    memset(e, 0, sizeof(*e));
}

void template_cache_free(struct template_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        centry_clear(&c->e[i]);
    free(c);
}

/* ---------------------------------------------------------------- rendering */

struct frame {
    const char *s;
    size_t n;
};

struct override {
    const struct template *t;
    uint32_t node; /* the OP_PARENT node whose blocks override */
};

struct render {
    bool html;
    template_partial_fn partial;
    void *arg;
    struct template_cache *cache, *own;
    struct buf *out;
    struct template_error *err;
    const json_t *ctx[TEMPLATE_MAX_DEPTH + 2];
    size_t nctx;
    /* Indentation: frames below base belong to templates entered inline and do not apply
     * to new lines; pending is the first frame still to write at the start of the current
     * line (NO_PENDING when the line has started). */
    struct frame fr[TEMPLATE_MAX_DEPTH + 2];
    size_t nfr, base, pending;
    struct override ov[TEMPLATE_MAX_PARTIAL_DEPTH + 2];
    size_t nov;
    unsigned depth, pdepth;
    uint64_t steps;
    const char *where; /* the partial being rendered, for messages */
    const struct node *at;
};

__attribute__((format(printf, 3, 4))) static int r_fail(struct render *r, int rc, const char *fmt, ...)
{
    if (!r->err)
        return rc;
    char msg[sizeof(r->err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t line = r->at ? r->at->line : 0, col = r->at ? r->at->col : 0;
    if (rc == -2)
        line = col = 0;
    if (r->where)
        snprintf(r->err->message, sizeof(r->err->message), "in partial '%.*s': %s",
                 clip(r->where, strlen(r->where), 40), r->where, msg);
    else
        snprintf(r->err->message, sizeof(r->err->message), "%s", msg);
    r->err->message[utf8_bad((const unsigned char *)r->err->message, strlen(r->err->message))] = '\0';
    r->err->line = line;
    r->err->col = col;
    return rc;
}

static int put(struct render *r, const char *s, size_t n)
{
    if (!n || buf_append(r->out, s, n) == 0)
        return 0;
    if (r->out->cap_max && r->out->len + n > r->out->cap_max)
        return r_fail(r, -1, "output longer than %zu bytes", r->out->cap_max);
    return r_fail(r, -2, "out of memory");
}

static int flush_indent(struct render *r)
{
    size_t from = r->pending;
    if (from == NO_PENDING)
        return 0;
    r->pending = NO_PENDING;
    for (size_t k = from; k < r->nfr; k++)
        if (put(r, r->fr[k].s, r->fr[k].n) < 0)
            return -1;
    return 0;
}

/* Template text: every new line starts with the indentation in force. */
static int out_text(struct render *r, const char *s, size_t n)
{
    if (r->nfr == r->base && (r->pending == NO_PENDING || r->pending >= r->nfr)) {
        r->pending = NO_PENDING;
        return put(r, s, n);
    }
    while (n) {
        const char *nl = memchr(s, '\n', n);
        size_t k = nl ? (size_t)(nl - s) + 1 : n;
        if (flush_indent(r) < 0 || put(r, s, k) < 0)
            return -1;
        if (nl)
            r->pending = r->base;
        s += k;
        n -= k;
    }
    return 0;
}

/* A value: escaped in HTML mode; NUL characters never pass. */
static int out_value(struct render *r, const char *s, size_t n, bool escape)
{
    if (!n)
        return 0;
    if (flush_indent(r) < 0)
        return -1;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep;
        switch (s[i]) {
        case '\0': rep = ""; break;
        case '&': rep = escape ? "&amp;" : NULL; break;
        case '<': rep = escape ? "&lt;" : NULL; break;
        case '>': rep = escape ? "&gt;" : NULL; break;
        case '"': rep = escape ? "&quot;" : NULL; break;
        case '\'': rep = escape ? "&#39;" : NULL; break;
        default: rep = NULL; break;
        }
        if (!rep)
            continue;
        if (put(r, s + run, i - run) < 0 || put(r, rep, strlen(rep)) < 0)
            return -1;
        run = i + 1;
    }
    return put(r, s + run, n - run);
}

/* The text of a scalar; tmp holds numbers. Length 0 for null, objects and arrays. */
static size_t scalar_text(const json_t *v, char *tmp, size_t cap, const char **p)
{
    *p = tmp;
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        *p = json_string_value(v);
        return json_string_length(v);
    case JSON_INTEGER: {
        int k = snprintf(tmp, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return k > 0 ? (size_t)k : 0;
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d == 0) {
            *p = "0"; /* also -0 */
            return 1;
        }
        int k = 0;
        for (int prec = 15; prec <= 17; prec++) {
            k = snprintf(tmp, cap, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        return k > 0 ? (size_t)k : 0;
    }
    case JSON_TRUE:
        *p = "true";
        return 4;
    case JSON_FALSE:
        *p = "false";
        return 5;
    default:
        return 0;
    }
}

static bool truthy(const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_TRUE: return true;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_OBJECT: return true;
    default: return false;
    }
}

static const json_t *lookup(const struct render *r, const struct template *t, const struct node *n)
{
    if (n->ncomp == 0)
        return r->ctx[r->nctx - 1];
    const struct comp *c = &t->comps[n->comp];
    const json_t *v = NULL;
    for (size_t i = r->nctx; i-- > 0 && !v;)
        if (json_is_object(r->ctx[i]))
            v = json_object_getn(r->ctx[i], t->pool + c->off, c->len);
    for (uint16_t k = 1; v && k < n->ncomp; k++) {
        if (json_is_object(v))
            v = json_object_getn(v, t->pool + c[k].off, c[k].len);
        else if (json_is_array(v) && c[k].index >= 0)
            v = json_array_get(v, (size_t)c[k].index);
        else
            v = NULL;
    }
    return v;
}

static int step(struct render *r, uint64_t n)
{
    r->steps += n;
    if (r->steps > TEMPLATE_MAX_STEPS)
        return r_fail(r, -1, "rendering needs more than %u steps (loops nested over large lists?)",
                      TEMPLATE_MAX_STEPS);
    return 0;
}

static int enter(struct render *r)
{
    if (r->depth >= TEMPLATE_MAX_DEPTH)
        return r_fail(r, -1, "sections, partials and blocks nested deeper than %d", TEMPLATE_MAX_DEPTH);
    r->depth++;
    return 0;
}

static struct centry *cache_slot(struct template_cache *c, const char *name)
{
    struct centry *free_slot = NULL;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct centry *e = &c->e[i];
        if (e->used && !e->pins && strcmp(e->name, name) == 0)
            return e;
        if (!e->used && !free_slot)
            free_slot = e;
    }
    if (free_slot)
        return free_slot;
    for (size_t k = 0; k < CACHE_SLOTS; k++) {
        struct centry *e = &c->e[(c->victim + k) % CACHE_SLOTS];
        if (!e->pins) {
            c->victim = (c->victim + k + 1) % CACHE_SLOTS;
            return e;
        }
    }
    return NULL; /* cannot happen: at most TEMPLATE_MAX_PARTIAL_DEPTH entries are pinned */
}

/* The compiled partial `name`; *out NULL when the callback knows none. */
static int get_partial(struct render *r, const char *name, struct centry **out)
{
    *out = NULL;
    if (!r->partial)
        return 0;
    if (!r->cache) {
        if (!(r->own = r->cache = template_cache_new()))
            return r_fail(r, -2, "out of memory");
        r->cache->epoch = 1;
    }
    struct template_cache *c = r->cache;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct centry *e = &c->e[i];
        if (e->used && e->epoch == c->epoch && strcmp(e->name, name) == 0) {
            *out = e->t ? e : NULL;
            return 0;
        }
    }
    size_t len = 0;
    const char *src = r->partial(r->arg, name, &len);
    if (src && len > TEMPLATE_MAX_SOURCE)
        return r_fail(r, -1, "partial '%.*s' longer than %d bytes", clip(name, strlen(name), 40), name,
                      TEMPLATE_MAX_SOURCE);
    if (src) {
        for (size_t i = 0; i < CACHE_SLOTS; i++) {
            struct centry *e = &c->e[i];
            if (e->used && e->t && e->srclen == len && strcmp(e->name, name) == 0 && memcmp(e->src, src, len) == 0) {
                e->epoch = c->epoch;
                *out = e;
                return 0;
            }
        }
    }
    struct template *t = NULL;
    char *copy = NULL;
    if (src) {
        struct template_error perr;
        if (step(r, len / 16 + 1) < 0)
            return -1;
        int rc = template_compile(src, len, &t, &perr);
        if (rc == -2)
            return r_fail(r, -2, "out of memory");
        if (rc < 0)
            return r_fail(r, -1, "partial '%.*s' at %zu:%zu: %s", clip(name, strlen(name), 40), name, perr.line,
                          perr.col, perr.message);
        if (!(copy = malloc(len ? len : 1))) {
            template_free(t);
            return r_fail(r, -2, "out of memory");
        }
        if (len)
            memcpy(copy, src, len);
    }
    char *ncopy = strdup(name);
    struct centry *e = ncopy ? cache_slot(c, name) : NULL;
    if (!e) {
        free(ncopy);
        free(copy);
        template_free(t);
        return r_fail(r, -2, "out of memory");
    }
    centry_clear(e);
    e->used = true;
    e->name = ncopy;
    e->src = copy;
    e->srclen = len;
    e->t = t;
    e->epoch = c->epoch;
    *out = t ? e : NULL;
    return 0;
}

static int render_nodes(struct render *r, const struct template *t, uint32_t i, uint32_t end);

/* Renders partial e (a parent when ov is set) at node n: standalone, indented by the node's
 * indentation; inline, without the indentation of the templates around it. */
static int render_partial(struct render *r, const struct template *t, const struct node *n, struct centry *e,
                          const char *name, const struct override *ov)
{
    if (r->pdepth >= TEMPLATE_MAX_PARTIAL_DEPTH)
        return r_fail(r, -1, "partials nested deeper than %d ('%.*s' includes itself?)", TEMPLATE_MAX_PARTIAL_DEPTH,
                      clip(name, strlen(name), 40), name);
    if (enter(r) < 0)
        return -1;
    size_t nfr = r->nfr, base = r->base;
    const char *where = r->where;
    if (n->flags & NF_STANDALONE) {
        r->fr[r->nfr].s = t->pool + n->ioff;
        r->fr[r->nfr].n = n->ilen;
        if (r->pending == NO_PENDING)
            r->pending = r->nfr;
        r->nfr++;
    } else {
        r->base = r->nfr;
    }
    if (ov)
        r->ov[r->nov++] = *ov;
    r->pdepth++;
    e->pins++;
    r->where = name;
    int rc = render_nodes(r, e->t, 0, e->t->nnodes);
    r->where = where;
    e->pins--;
    r->pdepth--;
    if (ov)
        r->nov--;
    r->nfr = nfr;
    r->base = base;
    if (r->pending != NO_PENDING && r->pending > r->nfr)
        r->pending = r->nfr;
    r->depth--;
    return rc;
}

static int render_block(struct render *r, const struct template *t, uint32_t i)
{
    const struct node *n = &t->nodes[i];
    if (enter(r) < 0)
        return -1;
    /* The outermost override wins (~inheritance: "top-level substitutions take precedence"). */
    for (size_t k = 0; k < r->nov; k++) {
        const struct template *ot = r->ov[k].t;
        const struct node *p = &ot->nodes[r->ov[k].node];
        for (uint32_t j = r->ov[k].node + 1; j < p->end; j = ot->nodes[j].end) {
            if (strcmp(ot->pool + ot->nodes[j].off, t->pool + n->off) != 0)
                continue;
            size_t nfr = r->nfr, base = r->base;
            if (n->flags & NF_STANDALONE) {
                r->fr[r->nfr].s = t->pool + n->ioff;
                r->fr[r->nfr].n = n->ilen;
                if (!(n->flags & NF_LITERAL) && r->pending == NO_PENDING)
                    r->pending = r->nfr;
                r->nfr++;
            } else {
                r->base = r->nfr;
            }
            int rc = render_nodes(r, ot, j + 1, ot->nodes[j].end);
            r->nfr = nfr;
            r->base = base;
            if (r->pending != NO_PENDING && r->pending > r->nfr)
                r->pending = r->nfr;
            r->depth--;
            return rc;
        }
    }
    int rc = render_nodes(r, t, i + 1, n->end);
    r->depth--;
    return rc;
}

static int render_nodes(struct render *r, const struct template *t, uint32_t i, uint32_t end)
{
    char tmp[40];
    while (i < end) {
        const struct node *n = &t->nodes[i];
        r->at = n;
        if (step(r, 1) < 0)
            return -1;
        switch (n->op) {
        case OP_TEXT:
            if (out_text(r, t->pool + n->off, n->len) < 0)
                return -1;
            break;
        case OP_VAR: {
            const char *p;
            size_t len = scalar_text(lookup(r, t, n), tmp, sizeof(tmp), &p);
            if (out_value(r, p, len, r->html && !(n->flags & NF_RAW)) < 0)
                return -1;
            break;
        }
        case OP_SECTION:
        case OP_INVERTED: {
            const json_t *v = lookup(r, t, n);
            bool yes = truthy(v);
            if (n->op == OP_INVERTED ? yes : !yes)
                break;
            if (enter(r) < 0)
                return -1;
            int rc = 0;
            if (n->op == OP_INVERTED) {
                rc = render_nodes(r, t, i + 1, n->end);
            } else if (json_is_array(v)) {
                size_t m = json_array_size(v);
                for (size_t k = 0; k < m && rc == 0; k++) {
                    r->ctx[r->nctx++] = json_array_get(v, k);
                    r->at = n;
                    rc = step(r, 1);
                    if (rc == 0)
                        rc = render_nodes(r, t, i + 1, n->end);
                    r->nctx--;
                }
            } else {
                r->ctx[r->nctx++] = v;
                rc = render_nodes(r, t, i + 1, n->end);
                r->nctx--;
            }
            r->depth--;
            if (rc < 0)
                return rc;
            break;
        }
        case OP_PARTIAL:
        case OP_PARENT: {
            const char *name = t->pool + n->off;
            if (n->flags & NF_DYNAMIC) {
                const json_t *v = lookup(r, t, n);
                size_t len = json_is_string(v) || json_is_number(v) ? scalar_text(v, tmp, sizeof(tmp), &name) : 0;
                if (!len || len > MAX_DYN_NAME || memchr(name, '\0', len))
                    break;
            }
            struct centry *e;
            int rc = get_partial(r, name, &e);
            r->at = n;
            if (rc < 0)
                return rc;
            if (!e)
                break;
            struct override ov = {t, i};
            if ((rc = render_partial(r, t, n, e, name, n->op == OP_PARENT ? &ov : NULL)) < 0)
                return rc;
            break;
        }
        case OP_BLOCK: {
            int rc = render_block(r, t, i);
            if (rc < 0)
                return rc;
            break;
        }
        default:
            break;
        }
        i = n->end;
    }
    return 0;
}

int template_render_cached(const struct template *t, const json_t *data, enum template_mode mode,
                           template_partial_fn partial, void *arg, struct template_cache *cache, struct buf *out,
                           struct template_error *err)
{
    clear_error(err);
    struct render r;
    memset(&r, 0, sizeof(r));
    r.err = err;
    if (!t || !out)
        return r_fail(&r, -1, "no template or no output buffer");
    r.html = mode != TEMPLATE_TEXT;
    r.partial = partial;
    r.arg = arg;
    r.cache = cache;
    if (cache)
        cache->epoch++;
    r.out = out;
    r.ctx[0] = data;
    r.nctx = 1;
    r.pending = NO_PENDING;
    size_t start = out->len;
    int rc = render_nodes(&r, t, 0, t->nnodes);
    template_cache_free(r.own);
    if (rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

int template_render(const struct template *t, const json_t *data, enum template_mode mode, template_partial_fn partial,
                    void *arg, struct buf *out, struct template_error *err)
{
    return template_render_cached(t, data, mode, partial, arg, NULL, out, err);
}

int template_render_string(const char *src, size_t len, const json_t *data, enum template_mode mode,
                           template_partial_fn partial, void *arg, struct buf *out, struct template_error *err)
{
    struct template *t;
    int rc = template_compile(src, len, &t, err);
    if (rc < 0)
        return rc;
    rc = template_render(t, data, mode, partial, arg, out, err);
    template_free(t);
    return rc;
}

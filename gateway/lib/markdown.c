/* markdown.c — see markdown.h. One pass over lines; blocks close when a line of another
 * kind (or a blank one) comes. */
#include "gateway/lib/markdown.h"
#include <ctype.h>
#include <string.h>
#include <strings.h>

enum block { B_NONE, B_PARA, B_UL, B_OL, B_QUOTE, B_TABLE };

struct md {
    struct buf *out;
    int text;  /* plain text instead of HTML */
    int bad;   /* out of memory or cap */
    enum block block;
    int table_rows;
    int li_open; /* an item takes continuation lines until the next item or block */
};

static void put(struct md *m, const char *s, size_t n)
{
    if (!m->bad && buf_append(m->out, s, n) < 0)
        m->bad = 1;
}

static void puts_(struct md *m, const char *s)
{
    put(m, s, strlen(s));
}

/* HTML only: tags are dropped in text mode. */
static void tag(struct md *m, const char *s)
{
    if (!m->text)
        puts_(m, s);
}

static void esc(struct md *m, const char *s, size_t n)
{
    if (m->text)
        put(m, s, n);
    else if (!m->bad && buf_put_html(m->out, s, n) < 0)
        m->bad = 1;
}

static int safe_url(const char *u, size_t n)
{
    return (n > 7 && strncasecmp(u, "http://", 7) == 0) || (n > 8 && strncasecmp(u, "https://", 8) == 0) ||
           (n > 7 && strncasecmp(u, "mailto:", 7) == 0) || (n > 1 && u[0] == '/' && u[1] != '/') ||
           (n > 1 && u[0] == '#');
}

static void inline_span(struct md *m, const char *s, size_t n, int depth);

/* The closing delimiter of a span opened at s[i] (len k), or 0. */
static size_t closing(const char *s, size_t n, size_t from, const char *delim, size_t k)
{
    for (size_t j = from; j + k <= n; j++) {
        if (s[j] == '\\') {
            j++;
            continue;
        }
        if (memcmp(s + j, delim, k) == 0 && j > from)
            return j;
    }
    return 0;
}

static void inline_span(struct md *m, const char *s, size_t n, int depth)
{
    size_t i = 0, plain = 0;
    while (i < n) {
        char c = s[i];
        size_t end;
        if (c == '\\' && i + 1 < n && strchr("\\`*_[]()#+-.!|>", s[i + 1])) {
            esc(m, s + plain, i - plain);
            esc(m, s + i + 1, 1);
            i += 2;
            plain = i;
        } else if (c == '`' && (end = closing(s, n, i + 1, "`", 1))) {
            esc(m, s + plain, i - plain);
            tag(m, "<code>");
            esc(m, s + i + 1, end - i - 1);
            tag(m, "</code>");
            i = plain = end + 1;
        } else if (depth < 8 && (c == '*' || c == '_') && i + 1 < n && s[i + 1] == c &&
                   (end = closing(s, n, i + 2, c == '*' ? "**" : "__", 2))) {
            esc(m, s + plain, i - plain);
            tag(m, "<strong>");
            inline_span(m, s + i + 2, end - i - 2, depth + 1);
            tag(m, "</strong>");
            i = plain = end + 2;
        } else if (depth < 8 && c == '*' && i + 1 < n && s[i + 1] != ' ' && (end = closing(s, n, i + 1, "*", 1))) {
            esc(m, s + plain, i - plain);
            tag(m, "<em>");
            inline_span(m, s + i + 1, end - i - 1, depth + 1);
            tag(m, "</em>");
            i = plain = end + 1;
        } else if (depth < 8 && c == '[' && (end = closing(s, n, i + 1, "]", 1)) && end + 1 < n && s[end + 1] == '(') {
            size_t close = closing(s, n, end + 2, ")", 1);
            if (!close) {
                i++;
                continue;
            }
            const char *u = s + end + 2;
            size_t un = close - end - 2;
            esc(m, s + plain, i - plain);
            int ok = !m->text && safe_url(u, un);
            if (ok) {
                tag(m, "<a href=\"");
                esc(m, u, un);
                tag(m, "\" rel=\"nofollow noopener\">");
            }
            inline_span(m, s + i + 1, end - i - 1, depth + 1);
            if (ok)
                tag(m, "</a>");
            i = plain = close + 1;
        } else {
            i++;
        }
    }
    esc(m, s + plain, n - plain);
}

static void close_block(struct md *m)
{
    static const char *const ends[] = {"", "</p>\n", "</ul>\n", "</ol>\n", "</blockquote>\n", "</tbody></table>\n"};
    if (m->block == B_TABLE && m->table_rows <= 1)
        tag(m, "</thead><tbody>");
    if (m->li_open)
        tag(m, "</li>\n");
    m->li_open = 0;
    if (m->block != B_NONE)
        tag(m, ends[m->block]);
    if (m->block != B_NONE && m->text)
        puts_(m, "\n");
    m->block = B_NONE;
}

static void open_block(struct md *m, enum block kind)
{
    static const char *const starts[] = {"", "<p>", "<ul>\n", "<ol>\n", "<blockquote>", "<table><thead>"};
    if (m->block == kind)
        return;
    close_block(m);
    m->block = kind;
    m->table_rows = 0;
    tag(m, starts[kind]);
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

static int is_rule(const char *s, size_t n)
{
    size_t k = 0;
    char c = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\r')
            continue;
        if (s[i] != '-' && s[i] != '*' && s[i] != '_')
            return 0;
        if (c && s[i] != c)
            return 0;
        c = s[i];
        k++;
    }
    return k >= 3;
}

/* "|---|:--:|" */
static int is_table_sep(const char *s, size_t n)
{
    int dashes = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-')
            dashes++;
        else if (s[i] != '|' && s[i] != ':' && s[i] != ' ' && s[i] != '\r')
            return 0;
    }
    return dashes >= 3 && memchr(s, '|', n) != NULL;
}

static void table_row(struct md *m, const char *s, size_t n)
{
    const char *cell = m->table_rows == 0 ? "th" : "td";
    if (m->table_rows == 1)
        tag(m, "</thead><tbody>");
    if (n && s[0] == '|')
        s++, n--;
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n && s[n - 1] == '|')
        n--;
    tag(m, "<tr>");
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && !(s[j] == '|' && (j == 0 || s[j - 1] != '\\')))
            j++;
        size_t a = i, b = j;
        while (a < b && s[a] == ' ')
            a++;
        while (b > a && s[b - 1] == ' ')
            b--;
        if (!m->text) {
            puts_(m, "<");
            puts_(m, cell);
            puts_(m, ">");
        } else if (i) {
            puts_(m, " ");
        }
        inline_span(m, s + a, b - a, 0);
        if (!m->text) {
            puts_(m, "</");
            puts_(m, cell);
            puts_(m, ">");
        }
        i = j + 1;
    }
    tag(m, "</tr>\n");
    if (m->text)
        puts_(m, "\n");
    m->table_rows++;
}

/* A list item's content after its marker, or NULL. *ordered tells which list. */
static const char *item(const char *s, size_t n, int *ordered)
{
    size_t i = 0;
    while (i < n && i < 3 && s[i] == ' ')
        i++;
    if (i + 1 < n && (s[i] == '-' || s[i] == '*' || s[i] == '+') && s[i + 1] == ' ') {
        *ordered = 0;
        return s + i + 2;
    }
    size_t d = i;
    while (d < n && d - i < 9 && isdigit((unsigned char)s[d]))
        d++;
    if (d > i && d + 1 < n && (s[d] == '.' || s[d] == ')') && s[d + 1] == ' ') {
        *ordered = 1;
        return s + d + 2;
    }
    return NULL;
}

static void line(struct md *m, const char *s, size_t n, const char *next, size_t next_n)
{
    while (n && s[n - 1] == '\r')
        n--;
    int ordered;
    const char *it;
    if (blank(s, n)) {
        close_block(m);
    } else if (n > 0 && s[0] == '#') {
        size_t h = 0;
        while (h < n && h < 6 && s[h] == '#')
            h++;
        if (h < n && s[h] != ' ') {
            open_block(m, B_PARA);
            inline_span(m, s, n, 0);
            return;
        }
        close_block(m);
        char open[8] = "<h2>", shut[8] = "</h2>\n";
        open[2] = shut[3] = (char)('1' + (h < 5 ? h : 5));
        tag(m, open);
        size_t a = h;
        while (a < n && s[a] == ' ')
            a++;
        while (n > a && (s[n - 1] == '#' || s[n - 1] == ' '))
            n--;
        inline_span(m, s + a, n - a, 0);
        tag(m, shut);
        if (m->text)
            puts_(m, "\n");
    } else if (m->block != B_PARA && is_rule(s, n)) {
        close_block(m);
        tag(m, "<hr>\n");
    } else if (m->block == B_TABLE && m->table_rows == 1 && is_table_sep(s, n)) {
        /* the header's separator */
    } else if (s[0] == '|' && (m->block == B_TABLE || (next && is_table_sep(next, next_n)))) {
        open_block(m, B_TABLE);
        table_row(m, s, n);
    } else if ((it = item(s, n, &ordered))) {
        open_block(m, ordered ? B_OL : B_UL);
        if (m->li_open)
            puts_(m, m->text ? "\n" : "</li>\n");
        tag(m, "<li>");
        m->li_open = 1;
        inline_span(m, it, n - (size_t)(it - s), 0);
    } else if (s[0] == '>') {
        open_block(m, B_QUOTE);
        size_t a = 1 + (n > 1 && s[1] == ' ');
        inline_span(m, s + a, n - a, 0);
        puts_(m, m->text ? "\n" : " ");
    } else {
        if ((m->block == B_UL || m->block == B_OL) && (s[0] == ' ' || s[0] == '\t')) {
            /* a continuation line of the open item */
            size_t a = 0;
            while (a < n && (s[a] == ' ' || s[a] == '\t'))
                a++;
            puts_(m, " ");
            inline_span(m, s + a, n - a, 0);
            return;
        }
        if (m->block == B_PARA)
            puts_(m, "\n");
        open_block(m, B_PARA);
        inline_span(m, s, n, 0);
    }
}

static int render(const char *md, struct buf *out, int text)
{
    struct md m = {.out = out, .text = text};
    const char *p = md ? md : "";
    while (*p && !m.bad) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n >= 3 && strncmp(p, "```", 3) == 0) { /* a fence: verbatim to the closing one */
            close_block(&m);
            const char *body = eol ? eol + 1 : p + n;
            const char *end = body;
            while (*end && !(strncmp(end, "```", 3) == 0 && (end == body || end[-1] == '\n')))
                end++;
            tag(&m, "<pre><code>");
            esc(&m, body, (size_t)(end - body));
            tag(&m, "</code></pre>\n");
            if (m.text)
                puts_(&m, "\n");
            if (!*end)
                break;
            const char *after = strchr(end, '\n');
            p = after ? after + 1 : end + strlen(end);
            continue;
        }
        const char *next = eol ? eol + 1 : NULL;
        size_t next_n = next ? strcspn(next, "\n") : 0;
        line(&m, p, n, next, next_n);
        p = eol ? eol + 1 : p + n;
    }
    close_block(&m);
    return m.bad ? -1 : 0;
}

int markdown_html(const char *md, struct buf *out)
{
    return render(md, out, 0);
}

int markdown_text(const char *md, struct buf *out)
{
    return render(md, out, 1);
}

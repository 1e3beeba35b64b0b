/* csv.c — see csv.h. */
#include "gateway/lib/csv.h"
#include <stdio.h>
#include <string.h>

/* One record being read. After a "soft" error (too many fields, a field too long, out
 * of memory) the record is still scanned to its end, so the next one starts where it
 * really starts, but nothing more is stored. */
struct rec_state {
    struct csv_reader *r;
    struct csv_record *rec;
    int dropping;
};

static int is_eol(char c)
{
    return c == '\r' || c == '\n';
}

static int delim_ok(char d)
{
    return d != '"' && d != '\r' && d != '\n' && d != '\0';
}

void csv_reader_init_delim(struct csv_reader *r, const char *data, size_t len, char delim)
{
    memset(r, 0, sizeof(*r));
    r->data = data;
    r->len = data ? len : 0;
    r->line = 1;
    r->delim = delim;
    buf_init(&r->store, 0); /* bounded by the field limits instead */
    if (r->len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
}

void csv_reader_init(struct csv_reader *r, const char *data, size_t len)
{
    csv_reader_init_delim(r, data, len, ',');
}

void csv_reader_free(struct csv_reader *r)
{
    buf_free(&r->store);
}

/* Consumes one line end (CRLF counts once) at pos, if there is one. */
static void eat_eol(struct csv_reader *r)
{
    if (r->pos >= r->len || !is_eol(r->data[r->pos]))
        return;
    if (r->data[r->pos] == '\r' && r->pos + 1 < r->len && r->data[r->pos + 1] == '\n')
        r->pos++;
    r->pos++;
    r->line++;
}

static void skip_line(struct csv_reader *r)
{
    while (r->pos < r->len && !is_eol(r->data[r->pos]))
        r->pos++;
    eat_eol(r);
}

/* Line ends inside data[from..to); the CR of a CRLF is left to its LF. */
static void count_lines(struct csv_reader *r, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        char c = r->data[i];
        if (c == '\n' || (c == '\r' && (i + 1 >= r->len || r->data[i + 1] != '\n')))
            r->line++;
    }
}

static void set_error(struct csv_record *rec, const char *msg)
{
    snprintf(rec->error, sizeof(rec->error), "%s", msg);
}

static void drop_record(struct rec_state *st, const char *msg)
{
    if (st->dropping)
        return;
    st->dropping = 1;
    set_error(st->rec, msg);
}

static void keep(struct rec_state *st, const char *p, size_t n, size_t *flen)
{
    if (st->dropping)
        return;
    if (n > CSV_MAX_FIELD - *flen) {
        drop_record(st, "field too long (max 65536 bytes)");
        return;
    }
    if (buf_append(&st->r->store, p, n) < 0) {
        drop_record(st, "out of memory");
        return;
    }
    *flen += n;
}

static void read_plain(struct rec_state *st, size_t *flen)
{
    struct csv_reader *r = st->r;
    size_t start = r->pos;
    while (r->pos < r->len) {
        char c = r->data[r->pos];
        if (c == r->delim || c == '\n' || c == '\r')
            break;
        r->pos++;
    }
    keep(st, r->data + start, r->pos - start, flen);
}

/* Where to go on after a quote that never closes. Going back to the line after the
 * opening quote keeps the rows behind a stray quote. It happens at most once per input:
 * a never-closing quote means every later run of quotes has even length, and a quoted
 * field opening on such a run closes at its end; the flag keeps O(n) regardless. */
static int unterminated(struct rec_state *st, size_t open_pos, size_t open_line)
{
    struct csv_reader *r = st->r;
    set_error(st->rec, "unterminated quoted field");
    if (r->rewound)
        return -1; /* already at the end of input */
    r->rewound = 1;
    r->pos = open_pos;
    r->line = open_line;
    skip_line(r);
    return -1;
}

/* At an opening quote. Returns 0, or -1 with the error set and the reader moved on. */
static int read_quoted(struct rec_state *st, size_t *flen)
{
    struct csv_reader *r = st->r;
    size_t open_pos = r->pos, open_line = r->line;
    r->pos++;
    for (;;) {
        const char *q = memchr(r->data + r->pos, '"', r->len - r->pos);
        size_t end = q ? (size_t)(q - r->data) : r->len;
        count_lines(r, r->pos, end);
        keep(st, r->data + r->pos, end - r->pos, flen);
        r->pos = end;
        if (!q)
            return unterminated(st, open_pos, open_line);
        if (end + 1 < r->len && r->data[end + 1] == '"') {
            keep(st, "\"", 1, flen);
            r->pos = end + 2;
            continue;
        }
        r->pos = end + 1;
        break;
    }
    if (r->pos < r->len && r->data[r->pos] != r->delim && !is_eol(r->data[r->pos])) {
        set_error(st->rec, "text after closing quote");
        skip_line(r);
        return -1;
    }
    return 0;
}

static int read_field(struct rec_state *st)
{
    struct csv_reader *r = st->r;
    struct csv_record *rec = st->rec;
    size_t flen = 0;
    if (rec->nfields == CSV_MAX_FIELDS)
        drop_record(st, "too many fields (max 256)");
    if (r->pos < r->len && r->data[r->pos] == '"') {
        if (read_quoted(st, &flen) < 0)
            return -1;
    } else {
        read_plain(st, &flen);
    }
    if (st->dropping)
        return 0;
    if (buf_append(&r->store, "", 1) < 0) {
        drop_record(st, "out of memory");
        return 0;
    }
    rec->len[rec->nfields++] = flen;
    return 0;
}

int csv_next(struct csv_reader *r, struct csv_record *rec)
{
    rec->nfields = 0;
    rec->error[0] = '\0';
    rec->line = r->line;
    while (r->pos < r->len && is_eol(r->data[r->pos]))
        eat_eol(r); /* blank lines */
    if (r->pos >= r->len)
        return 0;
    rec->line = r->line;
    if (!delim_ok(r->delim)) {
        set_error(rec, "unsupported delimiter");
        r->pos = r->len;
        return -1;
    }
    buf_reset(&r->store);
    struct rec_state st = {r, rec, 0};
    for (;;) {
        if (read_field(&st) < 0) {
            rec->nfields = 0;
            return -1;
        }
        if (r->pos < r->len && r->data[r->pos] == r->delim) {
            r->pos++;
            continue;
        }
        eat_eol(r);
        break;
    }
    if (st.dropping) {
        rec->nfields = 0;
        return -1;
    }
    /* The store may have moved while growing, so pointers are set only now. */
    const char *p = r->store.data;
    for (size_t i = 0; i < rec->nfields; i++) {
        rec->field[i] = p;
        p += rec->len[i] + 1;
    }
    return 1;
}

/* ---- writer ---- */

static int needs_quotes(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
            return 1;
    return 0;
}

/* The characters spreadsheets start a formula (or DDE call) with; OWASP's list. */
static int formula_char(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

/* A cell that needs the guard: a formula start, or a value that already looks guarded
 * ("'=x", "''"), so that an importer removing one guard gets the value back exactly. */
static int formula_start(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    return formula_char(s[0]) || (s[0] == '\'' && n > 1 && (formula_char(s[1]) || s[1] == '\''));
}

static int append_doubling_quotes(struct buf *out, const char *s, size_t n)
{
    while (n > 0) {
        const char *q = memchr(s, '"', n);
        size_t k = q ? (size_t)(q - s) + 1 : n;
        if (buf_append(out, s, k) < 0)
            return -1;
        if (q && buf_append(out, "\"", 1) < 0)
            return -1;
        s += k;
        n -= k;
    }
    return 0;
}

/* A cell the reader would not give back unquoted as the first of a record: an empty one
 * (a blank line) or, at the very start of the output, one starting with U+FEFF (a BOM). */
static int first_needs_quotes(const struct buf *out, const char *s, size_t n)
{
    return n == 0 || (out->len == 0 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0);
}

int csv_put(struct buf *out, const char *s, size_t n, int first_in_record)
{
    size_t mark = out->len;
    int quoted = needs_quotes(s, n) || (first_in_record && first_needs_quotes(out, s, n));
    if (!first_in_record && buf_append(out, ",", 1) < 0)
        goto fail;
    if (quoted && buf_append(out, "\"", 1) < 0)
        goto fail;
    if (formula_start(s, n) && buf_append(out, "'", 1) < 0)
        goto fail;
    if (quoted ? append_doubling_quotes(out, s, n) < 0 : buf_append(out, s, n) < 0)
        goto fail;
    if (quoted && buf_append(out, "\"", 1) < 0)
        goto fail;
    return 0;
fail:
    /* Undo the pieces already appended: a half cell would shift every later column. */
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
    return -1;
}

int csv_end(struct buf *out)
{
    return buf_append(out, "\r\n", 2);
}

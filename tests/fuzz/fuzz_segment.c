/* fuzz_segment.c — arbitrary bytes as a segment rule → segment_compile_env (gateway/segment.h),
 * with custom fields, a record's columns, custom-object fields and hidden fields.
 * Invariants: no crash, leak or read past len; compiling twice gives the same answer;
 * on success the SQL has exactly nparams '?', is printable ASCII made of the compiler's own
 * fragments (no quote, comment or statement separator outside its few fixed literals, so no
 * user byte reached the text), and every text parameter is valid UTF-8 without NUL; on
 * failure the result is empty and the error has a position within the rule and a
 * non-empty UTF-8 message. */
#include "tests/fuzz/fuzz.h"
#include "gateway/segment.h"
#include "gateway/lib/text.h"
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static const struct segment_field fields[] = {
    {"score", "number"}, {"joined", "date"},   {"level", "select"}, {"interests", "multiselect"},
    {"note", "text"},    {"odd", "geometry"}, {NULL, "text"},      {"n0", NULL},
};

/* A record's columns (rules.c), custom-object fields and a hidden field, so the fuzzer
 * reaches every kind of predicate. */
static const struct segment_column cols[] = {
    {"deal.amount", SEGMENT_NUMBER, "d.amount"}, {"deal.stage", SEGMENT_TEXT, "ds.name"},
    {"deal.closed", SEGMENT_DATE, "DATE(d.closed_at)"},
};
static const struct segment_objfield objs[] = {
    {"equipment", "model", 7, "select"}, {"equipment", "warranty_end", 8, "date"},
    {"equipment", "hours", 9, "number"}, {"equipment", "tags", 10, "multiselect"}, {"course", "odd", 11, "geometry"},
};

static int hidden(const char *field)
{
    return strcmp(field, "uscc") == 0 || strcmp(field, "attrs.note") == 0;
}

/* The only quoted literals segment.c writes; anything else quoted would be spliced. */
static const char *const literals[] = {
    "'^-{0,1}[0-9]{1,24}([.][0-9]+){0,1}$'",
    "'^[0-9]{4}-[0-9]{2}-[0-9]{2}'",
    "'%Y-%m-%d'",
};

static void check_sql_text(const char *sql, size_t nparams)
{
    size_t marks = 0, n = strlen(sql);
    char *copy = malloc(n + 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, sql, n + 1);
    for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
        size_t k = strlen(literals[i]);
        for (char *p = strstr(copy, literals[i]); p; p = strstr(p, literals[i]))
            memset(p, 'L', k);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)copy[i];
        FUZZ_CHECK(c >= 0x20 && c < 0x7f);
        FUZZ_CHECK(c != '\'' && c != '"' && c != ';' && c != '#' && c != '`' && c != '\\');
        marks += c == '?';
    }
    FUZZ_CHECK(strstr(copy, "--") == NULL && strstr(copy, "/*") == NULL);
    FUZZ_CHECK(marks == nparams);
    free(copy);
}

static void check_ok(const struct segment_sql *s)
{
    FUZZ_CHECK(s->sql.data != NULL && s->sql.len == strlen(s->sql.data) && s->sql.len > 0);
    check_sql_text(s->sql.data, s->nparams);
    FUZZ_CHECK(s->nparams == 0 || s->params != NULL);
    for (size_t i = 0; i < s->nparams; i++) {
        const struct db_param *p = &s->params[i];
        FUZZ_CHECK(p->t == DB_TEXT || p->t == DB_I64);
        if (p->t == DB_I64) {
            FUZZ_CHECK(p->i >= 0 && p->i <= 36500);
            continue;
        }
        FUZZ_CHECK(p->s != NULL);
        FUZZ_CHECK(strlen(p->s) == p->n); /* no NUL inside; n is exact */
        FUZZ_CHECK(utf8_valid(p->s, p->n));
    }
}

static void check_err(const struct segment_sql *s, const struct segment_error *e, size_t len)
{
    FUZZ_CHECK(s->sql.data == NULL && s->sql.len == 0);
    FUZZ_CHECK(s->params == NULL && s->nparams == 0 && s->strings == NULL);
    size_t m = strlen(e->message);
    FUZZ_CHECK(m > 0 && m < sizeof(e->message));
    FUZZ_CHECK(utf8_valid(e->message, m));
    FUZZ_CHECK(e->pos <= len);
}

static int same_params(const struct segment_sql *a, const struct segment_sql *b)
{
    if (a->nparams != b->nparams)
        return 0;
    for (size_t i = 0; i < a->nparams; i++) {
        const struct db_param *x = &a->params[i], *y = &b->params[i];
        if (x->t != y->t || x->i != y->i || x->n != y->n)
            return 0;
        if (x->t == DB_TEXT && memcmp(x->s, y->s, x->n) != 0)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    /* An exact-size copy without a terminator: ASan catches any read past len. */
    char *rule = malloc(size ? size : 1);
    if (!rule)
        return 0;
    if (size)
        memcpy(rule, data, size);
    size_t nf = sizeof(fields) / sizeof(fields[0]);
    struct segment_sql a, b;
    struct segment_error ea, eb;
    struct segment_env env = {.fields = fields, .nfields = nf, .cols = cols, .ncols = sizeof(cols) / sizeof(cols[0]),
                              .objs = objs, .nobjs = sizeof(objs) / sizeof(objs[0]), .hidden = hidden};
    int rca = segment_compile_env(rule, size, &env, &a, &ea);
    int rcb = segment_compile_env(rule, size, &env, &b, &eb);
    FUZZ_CHECK(rca == 0 || rca == -1);
    FUZZ_CHECK(rca == rcb);
    if (rca == 0) {
        FUZZ_CHECK(size > 0 && size <= SEGMENT_MAX_LEN);
        check_ok(&a);
        FUZZ_CHECK(strcmp(a.sql.data, b.sql.data) == 0);
        FUZZ_CHECK(same_params(&a, &b));
    } else {
        check_err(&a, &ea, size);
        FUZZ_CHECK(ea.pos == eb.pos && strcmp(ea.message, eb.message) == 0);
    }
    segment_sql_free(&a);
    segment_sql_free(&b);
    free(rule);
    return 0;
}

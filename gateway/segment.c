/* segment.c — see segment.h. Three stages: a tokenizer over the raw bytes, a
 * recursive-descent parser that type-checks every predicate into a small AST (one
 * growable array of nodes, freed at once), and an emitter that writes whitelisted SQL
 * fragments and collects the parameters. Values are never copied into the SQL text. */
#include "gateway/segment.h"
#include "gateway/lib/text.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { SEG_SYNTAX = -1, SEG_NOMEM = -2 };

#define MAX_KEY 64          /* field_defs.key is VARCHAR(64) */
#define MAX_DAYS 36500      /* today±N */
#define MAX_TICKET_DAYS 3650
#define NUM_INT_DIGITS 24   /* DECIMAL(30,6) */
#define NUM_FRAC_DIGITS 6
#define SNIPPET 32          /* bytes of user text quoted in an error message */

/* ---- tokens ---- */

enum tok_kind { T_END, T_LPAREN, T_RPAREN, T_OP, T_WORD, T_STRING };
enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_LIKE };
static const char *const op_text[] = {"=", "!=", "<", "<=", ">", ">=", "~"};
static const char *const op_sql[] = {" = ", " <=> ", " < ", " <= ", " > ", " >= ", " LIKE "};

/* pos/len cover the whole token, quotes included for T_STRING. */
struct token {
    enum tok_kind kind;
    enum op op;
    size_t pos, len;
};

/* ---- AST ---- */

enum node_kind { N_OR, N_AND, N_NOT, N_PRED };
enum lhs_kind { L_TAG, L_STAGE, L_HAS, L_COLUMN, L_TICKETS, L_DEALS, L_ATTR, L_OBJ };
enum vtype { V_TEXT, V_NUMBER, V_DATE, V_MULTI };
_Static_assert((int)V_TEXT == (int)SEGMENT_TEXT && (int)V_NUMBER == (int)SEGMENT_NUMBER && (int)V_DATE == (int)SEGMENT_DATE,
               "segment_vtype mirrors vtype");
enum date_kind { D_LITERAL, D_TODAY, D_MINUS, D_PLUS };

/* Bytes of the rule; quoted: the span is the inside of "..." and may hold escapes. */
struct span {
    size_t pos, len;
    int quoted;
};

struct pred {
    enum lhs_kind lhs;
    enum vtype type;
    enum op op;
    const char *sql;    /* L_COLUMN: the column expression (a constant below) */
    const char *arg;    /* constant parameter: stage, identity kind, channel, deal status */
    int64_t days;       /* L_TICKETS window; D_MINUS/D_PLUS offset */
    enum date_kind date;
    struct span key;    /* L_ATTR */
    struct span val;
    int64_t field_id;   /* L_OBJ: object_fields.id */
};

struct node {
    enum node_kind kind;
    size_t a, b;
    struct pred pred;
};

struct parser {
    const char *s;
    size_t n, at;           /* at: where the tokenizer continues */
    struct token tok;       /* the current, not yet consumed token */
    const struct segment_field *fields;
    size_t nfields;
    const struct segment_column *cols;
    size_t ncols;
    const struct segment_objfield *objs;
    size_t nobjs;
    int (*hidden)(const char *field);
    struct node *nodes;
    size_t nnodes, anodes, npreds;
    struct segment_error *err;
};

/* ---- errors ---- */

/* Cuts a sequence left incomplete by snprintf truncation, so messages stay UTF-8. */
static void utf8_trim_tail(char *s)
{
    size_t len = strlen(s), i = len, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--, back++;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (i - 1 + need > len)
        s[i - 1] = '\0';
}

static int fail(struct parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (!p->err)
        return SEG_SYNTAX;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
    va_end(ap);
    utf8_trim_tail(p->err->message);
    p->err->pos = pos;
    return SEG_SYNTAX;
}

static int fail_nomem(struct parser *p)
{
    fail(p, 0, "out of memory");
    return SEG_NOMEM;
}

/* 'text' of a span for a message, cut to SNIPPET bytes on a character boundary. */
static void snippet(const char *s, size_t len, char *out, size_t size)
{
    size_t k = len;
    int cut = 0;
    if (k > SNIPPET) {
        k = SNIPPET;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        cut = 1;
    }
    snprintf(out, size, "'%.*s%s'", (int)k, s, cut ? "…" : "");
}

static void describe(const struct parser *p, const struct token *t, char *out, size_t size)
{
    if (t->kind == T_END)
        snprintf(out, size, "end of rule");
    else
        snippet(p->s + t->pos, t->len, out, size);
}

/* "<what>, found <current token>" at the current token. */
static int fail_found(struct parser *p, const char *what)
{
    char d[SNIPPET + 16];
    describe(p, &p->tok, d, sizeof(d));
    return fail(p, p->tok.pos, "%s, found %s", what, d);
}

/* ---- tokenizer ---- */

/* Length of the white space at s[i] (0 when none); U+3000 because Chinese input methods
 * type it for a space. */
static size_t space_len(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || (c >= '\t' && c <= '\r'))
        return 1;
    if (c == 0xE3 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 && (unsigned char)s[i + 2] == 0x80)
        return 3;
    return 0;
}

static int ends_word(const char *s, size_t n, size_t i)
{
    switch (s[i]) {
    case '(': case ')': case '"': case '=': case '!': case '<': case '>': case '~':
        return 1;
    default:
        return space_len(s, n, i) != 0;
    }
}

static int lex_string(struct parser *p, size_t start)
{
    size_t i = start + 1;
    while (i < p->n && p->s[i] != '"') {
        if (p->s[i] == '\\') {
            if (i + 1 < p->n && p->s[i + 1] != '"' && p->s[i + 1] != '\\')
                return fail(p, i, "unknown escape in a quoted string (only \\\" and \\\\ are allowed)");
            i++;
        }
        i++;
    }
    if (i >= p->n)
        return fail(p, start, "unterminated quoted string");
    p->tok = (struct token){.kind = T_STRING, .pos = start, .len = i + 1 - start};
    p->at = i + 1;
    return 0;
}

static int lex_op(struct parser *p, size_t i)
{
    char c = p->s[i], next = i + 1 < p->n ? p->s[i + 1] : '\0';
    enum op op;
    size_t len = 1;
    if (c == '=')
        op = OP_EQ;
    else if (c == '~')
        op = OP_LIKE;
    else if (c == '!' && next == '=')
        op = OP_NE, len = 2;
    else if (c == '!')
        return fail(p, i, "unexpected '!' (the operator is '!=')");
    else if (next == '=')
        op = c == '<' ? OP_LE : OP_GE, len = 2;
    else
        op = c == '<' ? OP_LT : OP_GT;
    p->tok = (struct token){.kind = T_OP, .op = op, .pos = i, .len = len};
    p->at = i + len;
    return 0;
}

/* Moves to the next token. */
static int advance(struct parser *p)
{
    size_t i = p->at, w;
    while (i < p->n && (w = space_len(p->s, p->n, i)) != 0)
        i += w;
    if (i >= p->n) {
        p->tok = (struct token){.kind = T_END, .pos = p->n};
        p->at = p->n;
        return 0;
    }
    char c = p->s[i];
    if (c == '(' || c == ')') {
        p->tok = (struct token){.kind = c == '(' ? T_LPAREN : T_RPAREN, .pos = i, .len = 1};
        p->at = i + 1;
        return 0;
    }
    if (c == '"')
        return lex_string(p, i);
    if (ends_word(p->s, p->n, i))
        return lex_op(p, i);
    size_t j = i;
    while (j < p->n && !ends_word(p->s, p->n, j))
        j++;
    p->tok = (struct token){.kind = T_WORD, .pos = i, .len = j - i};
    p->at = j;
    return 0;
}

static int word_is(const struct parser *p, const char *kw)
{
    size_t k = strlen(kw);
    return p->tok.kind == T_WORD && p->tok.len == k && strncasecmp(p->s + p->tok.pos, kw, k) == 0;
}

static int is_keyword(const struct parser *p)
{
    return word_is(p, "AND") || word_is(p, "OR") || word_is(p, "NOT");
}

/* The span a value token stands for (the inside of a quoted string). */
static struct span tok_span(const struct token *t)
{
    if (t->kind == T_STRING)
        return (struct span){.pos = t->pos + 1, .len = t->len - 2, .quoted = 1};
    return (struct span){.pos = t->pos, .len = t->len};
}

static int span_eq_ci(const struct parser *p, struct span sp, const char *lit)
{
    return sp.len == strlen(lit) && strncasecmp(p->s + sp.pos, lit, sp.len) == 0;
}

/* ---- AST arena ---- */

static int add_node(struct parser *p, enum node_kind kind, size_t a, size_t b, const struct pred *pr, size_t *out)
{
    if (p->nnodes == p->anodes) {
        size_t n = p->anodes ? p->anodes * 2 : 16;
        struct node *nodes = realloc(p->nodes, n * sizeof(*nodes));
        if (!nodes)
            return fail_nomem(p);
        p->nodes = nodes;
        p->anodes = n;
    }
    struct node *nd = &p->nodes[p->nnodes];
    memset(nd, 0, sizeof(*nd));
    nd->kind = kind;
    nd->a = a;
    nd->b = b;
    if (pr)
        nd->pred = *pr;
    *out = p->nnodes++;
    return 0;
}

/* ---- values ---- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* -?digits(.digits)? ; 1 when well formed, -1 when well formed but too long, 0 otherwise. */
static int check_number(const char *s, size_t n)
{
    size_t i = 0, ints = 0, fracs = 0;
    if (i < n && s[i] == '-')
        i++;
    while (i < n && is_digit(s[i]))
        i++, ints++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++, fracs++;
        if (fracs == 0)
            return 0;
    }
    if (ints == 0 || i != n)
        return 0;
    return ints > NUM_INT_DIGITS || fracs > NUM_FRAC_DIGITS ? -1 : 1;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

static int digits_value(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* YYYY-MM-DD: 1 valid, -1 the right shape but no such day (or outside DATE's range). */
static int check_date_literal(const char *s, size_t n)
{
    static const char shape[] = "dddd-dd-dd";
    if (n != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != '-')
            return 0;
    int y = digits_value(s, 4), m = digits_value(s + 5, 2), d = digits_value(s + 8, 2);
    if (y < 1000 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    return 1;
}

/* today, today-N, today+N: 1 valid, -1 N too large, 0 not this form. */
static int check_date_relative(const char *s, size_t n, enum date_kind *kind, int64_t *days)
{
    if (n < 5 || strncasecmp(s, "today", 5) != 0)
        return 0;
    if (n == 5) {
        *kind = D_TODAY;
        *days = 0;
        return 1;
    }
    if ((s[5] != '-' && s[5] != '+') || n == 6)
        return 0;
    int64_t v = 0;
    for (size_t i = 6; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
        if (v <= MAX_DAYS)
            v = v * 10 + (s[i] - '0');
    }
    if (v > MAX_DAYS)
        return -1;
    *kind = s[5] == '-' ? D_MINUS : D_PLUS;
    *days = v;
    return 1;
}

/* ---- predicates ---- */

static const char *const stages[] = {"potential", "contacted", "proposal", "won", "maintain", "renewal", "churned"};

struct builtin {
    const char *name;
    enum vtype type;
    const char *sql;
};

static const struct builtin builtins[] = {
    {"name", V_TEXT, "c.name"},
    {"customer_no", V_TEXT, "c.customer_no"},
    {"industry", V_TEXT, "c.industry"},
    {"type", V_TEXT, "c.type"},
    {"stage", V_TEXT, "c.stage"},
    {"grade", V_TEXT, "c.grade"},
    {"source", V_TEXT, "c.source"},
    {"region", V_TEXT, "c.region"},
    {"address", V_TEXT, "c.address"},
    {"uscc", V_TEXT, "c.uscc"},
    {"company", V_TEXT, "(SELECT co.name FROM companies co WHERE co.id = c.company_id)"},
    {"owner_id", V_NUMBER, "c.owner_id"},
    {"contact_days", V_NUMBER, "DATEDIFF(CURDATE(), COALESCE(c.last_contact_at, c.created_at))"},
    {"followup_days", V_NUMBER, "DATEDIFF(CURDATE(), COALESCE(c.last_followup_at, c.created_at))"},
    {"created_at", V_DATE, "DATE(c.created_at)"},
    {"last_contact_at", V_DATE, "DATE(c.last_contact_at)"},
    {"last_followup_at", V_DATE, "DATE(c.last_followup_at)"},
};

/* The name after "tag:" or "stage:" — the rest of the word, or a quoted string that
 * follows with no space. */
static int prefixed_name(struct parser *p, size_t prefix, const char *what, struct span *out)
{
    size_t end = p->tok.pos + p->tok.len;
    if (p->tok.len > prefix) {
        *out = (struct span){.pos = p->tok.pos + prefix, .len = p->tok.len - prefix};
        return advance(p);
    }
    char pre[16];
    snippet(p->s + p->tok.pos, prefix, pre, sizeof(pre));
    int rc = advance(p);
    if (rc)
        return rc;
    if (p->tok.kind != T_STRING || p->tok.pos != end)
        return fail(p, end, "expected a %s name after %s", what, pre);
    if (p->tok.len == 2)
        return fail(p, p->tok.pos, "the %s name is empty", what);
    *out = tok_span(&p->tok);
    return advance(p);
}

static int pred_tag(struct parser *p, struct pred *pr)
{
    pr->lhs = L_TAG;
    return prefixed_name(p, 4, "tag", &pr->val);
}

static int pred_stage(struct parser *p, struct pred *pr)
{
    struct span sp;
    int rc = prefixed_name(p, 6, "stage", &sp);
    if (rc)
        return rc;
    pr->lhs = L_STAGE;
    for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
        if (span_eq_ci(p, sp, stages[i])) {
            pr->arg = stages[i];
            return 0;
        }
    char d[SNIPPET + 16];
    snippet(p->s + sp.pos, sp.len, d, sizeof(d));
    return fail(p, sp.pos - (size_t)sp.quoted,
                "unknown stage %s (potential, contacted, proposal, won, maintain, renewal or churned)", d);
}

static int pred_has(struct parser *p, struct pred *pr)
{
    struct span sp = {.pos = p->tok.pos + 4, .len = p->tok.len - 4};
    if (sp.len == 0)
        return fail(p, sp.pos, "expected email or phone after 'has:'");
    pr->lhs = L_HAS;
    pr->arg = span_eq_ci(p, sp, "email") ? "email" : span_eq_ci(p, sp, "phone") ? "phone" : NULL;
    if (!pr->arg) {
        char d[SNIPPET + 16];
        snippet(p->s + sp.pos, sp.len, d, sizeof(d));
        return fail(p, sp.pos, "has: takes email or phone, found %s", d);
    }
    return advance(p);
}

static int attr_type(const char *type, enum vtype *out)
{
    static const struct { const char *name; enum vtype t; } types[] = {
        {"text", V_TEXT}, {"select", V_TEXT}, {"number", V_NUMBER}, {"date", V_DATE}, {"multiselect", V_MULTI},
    };
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i].name) == 0) {
            *out = types[i].t;
            return 0;
        }
    return -1;
}

/* attr.KEY: KEY must be [a-z0-9_] (it becomes part of a JSON path parameter) and one of
 * the caller's field definitions. */
static int field_attr(struct parser *p, struct pred *pr, const char *shown)
{
    struct span key = {.pos = p->tok.pos + 5, .len = p->tok.len - 5};
    if (key.len == 0)
        return fail(p, key.pos, "expected a custom field key after 'attr.'");
    for (size_t i = 0; i < key.len; i++) {
        char c = p->s[key.pos + i];
        if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_') || key.len > MAX_KEY)
            return fail(p, p->tok.pos, "custom field key %s may hold only a-z, 0-9 and _ (at most 64)", shown);
    }
    for (size_t i = 0; i < p->nfields; i++) {
        const char *k = p->fields[i].key;
        if (!k || strlen(k) != key.len || memcmp(k, p->s + key.pos, key.len) != 0)
            continue;
        if (attr_type(p->fields[i].type, &pr->type) != 0)
            return fail(p, p->tok.pos, "custom field %s has an unsupported type", shown);
        char perm[80];
        snprintf(perm, sizeof(perm), "attrs.%s", k);
        if (p->hidden && p->hidden(perm))
            return fail(p, p->tok.pos, "field %s is hidden from you", shown);
        pr->lhs = L_ATTR;
        pr->key = key;
        return 0;
    }
    return fail(p, p->tok.pos, "unknown custom field %s", shown);
}

/* obj.TYPE.FIELD: one of the caller's custom-object fields. */
static int field_obj(struct parser *p, struct pred *pr, const char *shown)
{
    const char *w = p->s + p->tok.pos + 4, *end = p->s + p->tok.pos + p->tok.len;
    const char *dot = memchr(w, '.', (size_t)(end - w));
    if (!dot || dot == w || dot + 1 >= end)
        return fail(p, p->tok.pos, "unknown field %s (custom objects are obj.TYPE.FIELD, e.g. obj.equipment.model)",
                    shown);
    size_t tn = (size_t)(dot - w), fn = (size_t)(end - dot - 1);
    for (size_t i = 0; i < p->nobjs; i++) {
        const struct segment_objfield *o = &p->objs[i];
        if (strlen(o->type_key) != tn || memcmp(o->type_key, w, tn) != 0 || strlen(o->field_key) != fn ||
            memcmp(o->field_key, dot + 1, fn) != 0)
            continue;
        if (attr_type(o->type, &pr->type) != 0)
            return fail(p, p->tok.pos, "custom object field %s has an unsupported type", shown);
        pr->lhs = L_OBJ;
        pr->field_id = o->field_id;
        return 0;
    }
    return fail(p, p->tok.pos, "unknown custom object field %s", shown);
}

/* tickets.CHANNEL.Nd */
static int field_tickets(struct parser *p, struct pred *pr, const char *shown)
{
    static const char *const channels[] = {"chat", "email", "sms", "any"};
    const char *w = p->s + p->tok.pos + 8, *end = p->s + p->tok.pos + p->tok.len;
    const char *dot = memchr(w, '.', (size_t)(end - w));
    if (!dot || end - dot < 3 || (end[-1] != 'd' && end[-1] != 'D'))
        return fail(p, p->tok.pos, "unknown field %s (ticket counts are tickets.CHANNEL.Nd, e.g. tickets.chat.7d)",
                    shown);
    struct span ch = {.pos = (size_t)(w - p->s), .len = (size_t)(dot - w)};
    pr->arg = NULL;
    for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++)
        if (span_eq_ci(p, ch, channels[i]))
            pr->arg = channels[i];
    if (!pr->arg)
        return fail(p, p->tok.pos, "unknown field %s (the ticket channel is chat, email, sms or any)", shown);
    int64_t days = 0;
    for (const char *d = dot + 1; d < end - 1; d++) {
        if (!is_digit(*d))
            return fail(p, p->tok.pos, "unknown field %s (the window is Nd, N days from 1 to 3650)", shown);
        if (days <= MAX_TICKET_DAYS)
            days = days * 10 + (*d - '0');
    }
    if (days < 1 || days > MAX_TICKET_DAYS)
        return fail(p, p->tok.pos, "unknown field %s (the window is Nd, N days from 1 to 3650)", shown);
    pr->lhs = L_TICKETS;
    pr->type = V_NUMBER;
    pr->days = days;
    return 0;
}

static int has_prefix_ci(const struct parser *p, const char *prefix)
{
    size_t k = strlen(prefix);
    return p->tok.len >= k && strncasecmp(p->s + p->tok.pos, prefix, k) == 0;
}

/* Resolves the FIELD word of FIELD OP VALUE. */
static int resolve_field(struct parser *p, struct pred *pr, const char *shown)
{
    struct span w = {.pos = p->tok.pos, .len = p->tok.len};
    if (has_prefix_ci(p, "attr."))
        return field_attr(p, pr, shown);
    if (has_prefix_ci(p, "tickets."))
        return field_tickets(p, pr, shown);
    if (has_prefix_ci(p, "obj."))
        return field_obj(p, pr, shown);
    if (span_eq_ci(p, w, "deals.won") || span_eq_ci(p, w, "deals.open")) {
        pr->lhs = L_DEALS;
        pr->type = V_NUMBER;
        pr->arg = span_eq_ci(p, w, "deals.won") ? "won" : "open";
        return 0;
    }
    for (size_t i = 0; i < p->ncols; i++)
        if (span_eq_ci(p, w, p->cols[i].name)) {
            pr->lhs = L_COLUMN;
            pr->type = (enum vtype)p->cols[i].type; /* same order: text, number, date */
            pr->sql = p->cols[i].sql;
            return 0;
        }
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (span_eq_ci(p, w, builtins[i].name)) {
            if (p->hidden && p->hidden(builtins[i].name))
                return fail(p, p->tok.pos, "field %s is hidden from you", shown);
            pr->lhs = L_COLUMN;
            pr->type = builtins[i].type;
            pr->sql = builtins[i].sql;
            return 0;
        }
    return fail(p, p->tok.pos, "unknown field %s", shown);
}

static int check_op(struct parser *p, const struct pred *pr, const char *shown)
{
    static const char *const type_names[] = {"text", "number", "date", "multiselect"};
    enum op op = p->tok.op;
    int ordered = op == OP_LT || op == OP_LE || op == OP_GT || op == OP_GE;
    int ok = pr->type == V_TEXT || pr->type == V_MULTI ? !ordered : op != OP_LIKE;
    if (!ok)
        return fail(p, p->tok.pos, "operator '%s' does not apply to %s field %s", op_text[op], type_names[pr->type],
                    shown);
    return 0;
}

/* Checks the value token against the field's type and records it. */
static int check_value(struct parser *p, struct pred *pr, const char *shown)
{
    struct span v = tok_span(&p->tok);
    const char *s = p->s + v.pos;
    char d[SNIPPET + 16];
    snippet(s, v.len, d, sizeof(d));
    pr->val = v;
    if (pr->type == V_NUMBER) {
        int rc = check_number(s, v.len);
        if (rc == 0)
            return fail(p, p->tok.pos, "expected a number for %s, found %s", shown, d);
        if (rc < 0)
            return fail(p, p->tok.pos, "number %s has too many digits (at most 24 before and 6 after the point)", d);
    } else if (pr->type == V_DATE) {
        int rc = check_date_relative(s, v.len, &pr->date, &pr->days);
        if (rc == 0) {
            pr->date = D_LITERAL;
            rc = check_date_literal(s, v.len);
            if (rc < 0)
                return fail(p, p->tok.pos, "%s is not a calendar date", d);
        }
        if (rc == 0)
            return fail(p, p->tok.pos, "expected a date (YYYY-MM-DD, today, today-N or today+N) for %s, found %s",
                        shown, d);
        if (rc < 0)
            return fail(p, p->tok.pos, "%s: at most 36500 days from today", d);
    }
    return 0;
}

/* FIELD OP VALUE and attr.KEY OP VALUE. */
static int pred_compare(struct parser *p, struct pred *pr)
{
    char shown[SNIPPET + 16];
    snippet(p->s + p->tok.pos, p->tok.len, shown, sizeof(shown));
    int rc = resolve_field(p, pr, shown);
    if (rc || (rc = advance(p)) != 0)
        return rc;
    if (p->tok.kind != T_OP) {
        char what[SNIPPET + 64];
        snprintf(what, sizeof(what), "expected an operator (= != < <= > >= ~) after %s", shown);
        return fail_found(p, what);
    }
    if ((rc = check_op(p, pr, shown)) != 0)
        return rc;
    pr->op = p->tok.op;
    const char *op = op_text[pr->op];
    if ((rc = advance(p)) != 0)
        return rc;
    if ((p->tok.kind != T_WORD && p->tok.kind != T_STRING) || is_keyword(p)) {
        char what[64];
        snprintf(what, sizeof(what), "expected a value after '%s'%s", op,
                 is_keyword(p) ? " (quote a value that is a keyword)" : "");
        return fail_found(p, what);
    }
    if ((rc = check_value(p, pr, shown)) != 0)
        return rc;
    return advance(p);
}

static int parse_pred(struct parser *p, size_t *out)
{
    if (p->tok.kind != T_WORD || is_keyword(p))
        return fail_found(p, "expected a condition");
    if (++p->npreds > SEGMENT_MAX_PREDICATES)
        return fail(p, p->tok.pos, "the rule has more than %d conditions", SEGMENT_MAX_PREDICATES);
    struct pred pr;
    memset(&pr, 0, sizeof(pr));
    int rc;
    if (has_prefix_ci(p, "tag:"))
        rc = pred_tag(p, &pr);
    else if (has_prefix_ci(p, "stage:"))
        rc = pred_stage(p, &pr);
    else if (has_prefix_ci(p, "has:"))
        rc = pred_has(p, &pr);
    else
        rc = pred_compare(p, &pr);
    return rc ? rc : add_node(p, N_PRED, 0, 0, &pr, out);
}

/* ---- grammar ---- */

static int parse_expr(struct parser *p, int depth, size_t *out);

static int too_deep(struct parser *p, int depth)
{
    if (depth < SEGMENT_MAX_DEPTH)
        return 0;
    return fail(p, p->tok.pos, "the rule nests deeper than %d levels", SEGMENT_MAX_DEPTH);
}

static int parse_factor(struct parser *p, int depth, size_t *out)
{
    int rc;
    if (word_is(p, "NOT")) {
        size_t child;
        if ((rc = too_deep(p, depth)) || (rc = advance(p)) || (rc = parse_factor(p, depth + 1, &child)))
            return rc;
        return add_node(p, N_NOT, child, 0, NULL, out);
    }
    if (p->tok.kind != T_LPAREN)
        return parse_pred(p, out);
    size_t open = p->tok.pos;
    if ((rc = too_deep(p, depth)) || (rc = advance(p)) || (rc = parse_expr(p, depth + 1, out)))
        return rc;
    if (p->tok.kind != T_RPAREN) {
        char what[80];
        snprintf(what, sizeof(what), "expected AND, OR or ')' to close the '(' at byte %zu", open);
        return fail_found(p, what);
    }
    return advance(p);
}

/* term := factor (AND factor)*  when !is_or;  expr := term (OR term)*  when is_or.
 * Built left-deep; the emitter flattens a chain back into one pair of parentheses. */
static int parse_chain(struct parser *p, int depth, int is_or, size_t *out)
{
    int rc = is_or ? parse_chain(p, depth, 0, out) : parse_factor(p, depth, out);
    while (rc == 0 && word_is(p, is_or ? "OR" : "AND")) {
        size_t right;
        if ((rc = advance(p)) != 0)
            break;
        rc = is_or ? parse_chain(p, depth, 0, &right) : parse_factor(p, depth, &right);
        if (rc == 0)
            rc = add_node(p, is_or ? N_OR : N_AND, *out, right, NULL, out);
    }
    return rc;
}

static int parse_expr(struct parser *p, int depth, size_t *out)
{
    return parse_chain(p, depth, 1, out);
}

/* ---- input checks ---- */

/* Offset of the first byte that is not part of well-formed UTF-8, or n. */
static size_t utf8_bad_offset(const char *s, size_t n)
{
    if (utf8_valid(s, n))
        return n;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || len > n - i || !utf8_valid(s + i, len))
            return i;
        i += len;
    }
    return n;
}

static int check_input(struct parser *p)
{
    if (p->n > SEGMENT_MAX_LEN)
        return fail(p, SEGMENT_MAX_LEN, "the rule is longer than %d bytes", SEGMENT_MAX_LEN);
    const char *nul = p->n ? memchr(p->s, '\0', p->n) : NULL;
    if (nul)
        return fail(p, (size_t)(nul - p->s), "the rule contains a NUL byte");
    size_t bad = utf8_bad_offset(p->s, p->n);
    if (bad < p->n)
        return fail(p, bad, "the rule is not valid UTF-8 (byte %zu)", bad);
    return 0;
}

static int parse_rule(struct parser *p, size_t *root)
{
    int rc = check_input(p);
    if (rc || (rc = advance(p)) != 0)
        return rc;
    if (p->tok.kind == T_END)
        return fail(p, 0, "the rule is empty");
    if ((rc = parse_expr(p, 0, root)) != 0)
        return rc;
    if (p->tok.kind == T_RPAREN)
        return fail(p, p->tok.pos, "unbalanced ')': no '(' to close");
    if (p->tok.kind != T_END)
        return fail_found(p, "expected AND, OR or end of rule");
    return 0;
}

/* ---- emitter ---- */

struct emit {
    const char *rule;
    const struct node *nodes;
    struct buf sql, strs;
    struct db_param *params;
    size_t *offs; /* per parameter: offset of its text in strs */
    size_t n, cap;
};

static int put(struct emit *e, const char *fragment)
{
    return buf_puts(&e->sql, fragment) ? SEG_NOMEM : 0;
}

static int push_param(struct emit *e, struct db_param prm, size_t off)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        struct db_param *np = realloc(e->params, cap * sizeof(*np));
        if (!np)
            return SEG_NOMEM;
        e->params = np;
        size_t *no = realloc(e->offs, cap * sizeof(*no));
        if (!no)
            return SEG_NOMEM;
        e->offs = no;
        e->cap = cap;
    }
    e->params[e->n] = prm;
    e->offs[e->n++] = off;
    return 0;
}

static int param_int(struct emit *e, int64_t v)
{
    return push_param(e, P_I(v), 0);
}

/* A text parameter; s is copied now, the pointer is set once strs stops moving. */
static int param_text(struct emit *e, const char *s, size_t n)
{
    size_t off = e->strs.len;
    if (buf_append(&e->strs, s, n) || buf_append(&e->strs, "", 1))
        return SEG_NOMEM;
    return push_param(e, (struct db_param){.t = DB_TEXT, .n = n}, off);
}

/* The value of a span as a text parameter: escapes undone, and for LIKE the wildcards
 * and the escape character escaped and the whole wrapped in %...%, so ~ is a literal
 * substring test. */
static int param_span(struct emit *e, struct span sp, int like)
{
    size_t off = e->strs.len;
    int rc = like ? buf_append(&e->strs, "%", 1) : 0;
    for (size_t i = 0; rc == 0 && i < sp.len; i++) {
        char c = e->rule[sp.pos + i];
        if (sp.quoted && c == '\\')
            c = e->rule[sp.pos + ++i];
        if (like && (c == '%' || c == '_' || c == '\\'))
            rc = buf_append(&e->strs, "\\", 1);
        if (rc == 0)
            rc = buf_append(&e->strs, &c, 1);
    }
    if (rc == 0 && like)
        rc = buf_append(&e->strs, "%", 1);
    size_t n = e->strs.len - off;
    if (rc || buf_append(&e->strs, "", 1))
        return SEG_NOMEM;
    return push_param(e, (struct db_param){.t = DB_TEXT, .n = n}, off);
}

/* '$."key"': keys were checked to be [a-z0-9_], so no quoting is needed inside. */
static int param_path(struct emit *e, struct span key)
{
    char path[MAX_KEY + 8];
    int k = snprintf(path, sizeof(path), "$.\"%.*s\"", (int)key.len, e->rule + key.pos);
    return param_text(e, path, (size_t)k);
}

/* Fragment with one '?' followed by that parameter. */
static int put_text(struct emit *e, const char *fragment, const char *value)
{
    int rc = put(e, fragment);
    return rc ? rc : param_text(e, value, strlen(value));
}

static int emit_lhs(struct emit *e, const struct pred *pr)
{
    int rc;
    switch (pr->lhs) {
    case L_COLUMN:
        return put(e, pr->sql);
    case L_TICKETS:
        rc = put(e, "(SELECT COUNT(*) FROM tickets st2 WHERE st2.customer_id = c.id");
        if (rc == 0 && strcmp(pr->arg, "any") != 0)
            rc = put_text(e, " AND st2.channel = ?", pr->arg);
        if (rc == 0)
            rc = put(e, " AND st2.created_at >= UTC_TIMESTAMP() - INTERVAL ? DAY)");
        return rc ? rc : param_int(e, pr->days);
    case L_DEALS:
        rc = put_text(e, "(SELECT COUNT(*) FROM deals sd WHERE sd.customer_id = c.id AND sd.status = ?", pr->arg);
        return rc ? rc : put(e, ")");
    default:
        break;
    }
    /* Custom fields: numbers and dates are guarded by a shape test first so that a stored
     * value of the wrong type yields NULL instead of a conversion warning (which strict
     * mode turns into an error inside INSERT ... SELECT). */
    if (pr->type == V_TEXT)
        return (rc = put(e, "JSON_VALUE(c.attrs, ?)")) ? rc : param_path(e, pr->key);
    if (pr->type == V_NUMBER)
        rc = put(e, "IF(JSON_VALUE(c.attrs, ?) REGEXP '^-{0,1}[0-9]{1,24}([.][0-9]+){0,1}$', "
                    "CAST(JSON_VALUE(c.attrs, ?) AS DECIMAL(30,6)), NULL)");
    else
        rc = put(e, "IF(JSON_VALUE(c.attrs, ?) REGEXP '^[0-9]{4}-[0-9]{2}-[0-9]{2}', "
                    "LEFT(JSON_VALUE(c.attrs, ?), 10), NULL)");
    if (rc == 0)
        rc = param_path(e, pr->key);
    return rc ? rc : param_path(e, pr->key);
}

/* Date values: a DATE for built-in columns; a 'YYYY-MM-DD' string for custom fields,
 * which are compared as strings (DATE_FORMAT's result yields to the column's collation). */
static int emit_date(struct emit *e, const struct pred *pr)
{
    int as_text = pr->lhs == L_ATTR, rc;
    switch (pr->date) {
    case D_LITERAL:
        rc = put(e, as_text ? "?" : "CAST(? AS DATE)");
        return rc ? rc : param_span(e, pr->val, 0);
    case D_TODAY:
        return put(e, as_text ? "DATE_FORMAT(CURDATE(), '%Y-%m-%d')" : "CURDATE()");
    case D_MINUS:
        rc = put(e, as_text ? "DATE_FORMAT(CURDATE() - INTERVAL ? DAY, '%Y-%m-%d')" : "(CURDATE() - INTERVAL ? DAY)");
        break;
    default:
        rc = put(e, as_text ? "DATE_FORMAT(CURDATE() + INTERVAL ? DAY, '%Y-%m-%d')" : "(CURDATE() + INTERVAL ? DAY)");
        break;
    }
    return rc ? rc : param_int(e, pr->days);
}

static int emit_rhs(struct emit *e, const struct pred *pr)
{
    int rc;
    if (pr->type == V_NUMBER) {
        rc = put(e, "CAST(? AS DECIMAL(30,6))");
        return rc ? rc : param_span(e, pr->val, 0);
    }
    if (pr->type == V_DATE)
        return emit_date(e, pr);
    rc = put(e, "?");
    return rc ? rc : param_span(e, pr->val, pr->op == OP_LIKE);
}

/* != is written NOT (x <=> v) so that a NULL x matches. */
static int emit_compare(struct emit *e, const struct pred *pr)
{
    int ne = pr->op == OP_NE, rc = ne ? put(e, "NOT (") : 0;
    if (pr->type == V_MULTI) {
        if (rc == 0)
            rc = put(e, "JSON_CONTAINS(JSON_EXTRACT(c.attrs, ?), JSON_QUOTE(?))");
        if (rc == 0)
            rc = param_path(e, pr->key);
        if (rc == 0)
            rc = param_span(e, pr->val, 0);
        return rc || !ne ? rc : put(e, " <=> 1)");
    }
    if (rc == 0)
        rc = emit_lhs(e, pr);
    if (rc == 0)
        rc = put(e, op_sql[pr->op]);
    if (rc == 0)
        rc = emit_rhs(e, pr);
    return rc || !ne ? rc : put(e, ")");
}

/* obj.TYPE.FIELD: the customer has a record whose value compares so (one probe of
 * object_values by customer and field); a multiselect's != is "no record has it". */
static int emit_obj(struct emit *e, const struct pred *pr)
{
    int multi = pr->type == V_MULTI;
    int rc = put(e, multi && pr->op == OP_NE ? "NOT EXISTS (" : "EXISTS (");
    if (rc == 0)
        rc = put(e, "SELECT 1 FROM object_values sov WHERE sov.customer_id = c.id AND sov.field_id = ? AND ");
    if (rc == 0)
        rc = param_int(e, pr->field_id);
    if (rc == 0)
        rc = put(e, pr->type == V_NUMBER ? "sov.v_num" : pr->type == V_DATE ? "sov.v_date" : "sov.v_text");
    if (rc == 0)
        rc = put(e, multi ? " = " : pr->op == OP_NE ? " <> " : op_sql[pr->op]);
    if (rc == 0 && multi)
        rc = put(e, "?") ? -1 : param_span(e, pr->val, 0);
    else if (rc == 0)
        rc = emit_rhs(e, pr);
    return rc ? rc : put(e, ")");
}

static int emit_pred(struct emit *e, const struct pred *pr)
{
    int rc;
    switch (pr->lhs) {
    case L_OBJ:
        return emit_obj(e, pr);
    case L_TAG:
        rc = put(e, "EXISTS (SELECT 1 FROM customer_tags sct JOIN tags st ON st.id = sct.tag_id "
                    "WHERE sct.customer_id = c.id AND st.name = ?)");
        return rc ? rc : param_span(e, pr->val, 0);
    case L_STAGE:
        return put_text(e, "c.stage = ?", pr->arg);
    case L_HAS:
        return put_text(e, "EXISTS (SELECT 1 FROM customer_identities si WHERE si.customer_id = c.id "
                           "AND si.kind = ? AND si.is_primary = 1)", pr->arg);
    default:
        return emit_compare(e, pr);
    }
}

/* A chain of the same operator shares one pair of parentheses. NOT is written
 * "(x) IS NOT TRUE" so that it complements the matched set even where x is NULL. */
static int emit_node(struct emit *e, size_t idx, enum node_kind parent)
{
    const struct node *nd = &e->nodes[idx];
    int rc;
    if (nd->kind == N_PRED)
        return emit_pred(e, &nd->pred);
    if (nd->kind == N_NOT) {
        rc = put(e, "((");
        if (rc == 0)
            rc = emit_node(e, nd->a, N_NOT);
        return rc ? rc : put(e, ") IS NOT TRUE)");
    }
    int open = parent != nd->kind;
    rc = open ? put(e, "(") : 0;
    if (rc == 0)
        rc = emit_node(e, nd->a, nd->kind);
    if (rc == 0)
        rc = put(e, nd->kind == N_OR ? " OR " : " AND ");
    if (rc == 0)
        rc = emit_node(e, nd->b, nd->kind);
    return rc || !open ? rc : put(e, ")");
}

static int emit_all(struct emit *e, size_t root, struct segment_sql *out)
{
    int rc = emit_node(e, root, N_PRED);
    if (rc == 0 && !e->sql.data)
        rc = put(e, "");
    if (rc)
        return rc;
    out->strings = buf_take(&e->strs);
    for (size_t i = 0; i < e->n; i++)
        if (e->params[i].t == DB_TEXT)
            e->params[i].s = out->strings + e->offs[i];
    out->sql = e->sql;
    out->params = e->params;
    out->nparams = e->n;
    buf_init(&e->sql, 0);
    e->params = NULL;
    e->n = 0;
    return 0;
}

/* ---- API ---- */

int segment_compile(const char *rule, size_t len, const struct segment_field *fields, size_t nfields,
                    struct segment_sql *out, struct segment_error *err)
{
    struct segment_env env = {.fields = fields, .nfields = nfields};
    return segment_compile_env(rule, len, &env, out, err);
}

int segment_compile_env(const char *rule, size_t len, const struct segment_env *env, struct segment_sql *out,
                        struct segment_error *err)
{
    memset(out, 0, sizeof(*out));
    buf_init(&out->sql, 0);
    if (err)
        memset(err, 0, sizeof(*err));
    struct parser p = {.s = rule ? rule : "", .n = rule ? len : 0, .fields = env->fields, .nfields = env->fields ? env->nfields : 0,
                       .cols = env->cols, .ncols = env->cols ? env->ncols : 0, .objs = env->objs,
                       .nobjs = env->objs ? env->nobjs : 0, .hidden = env->hidden, .err = err};
    size_t root = 0;
    int rc = parse_rule(&p, &root);
    if (rc == 0) {
        struct emit e = {.rule = p.s, .nodes = p.nodes};
        buf_init(&e.sql, 0);
        buf_init(&e.strs, 0);
        rc = emit_all(&e, root, out);
        buf_free(&e.sql);
        buf_free(&e.strs);
        free(e.params);
        free(e.offs);
        if (rc)
            rc = fail_nomem(&p);
    }
    free(p.nodes);
    return rc;
}

void segment_sql_free(struct segment_sql *s)
{
    if (!s)
        return;
    buf_free(&s->sql);
    free(s->params);
    free(s->strings);
    s->params = NULL;
    s->strings = NULL;
    s->nparams = 0;
}

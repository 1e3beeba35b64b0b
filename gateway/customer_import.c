/* customer_import.c — CSV import of customers; see customer_import.h for the contract. */
#include "gateway/customer_import.h"
#include "gateway/field_perms.h"
#include "gateway/customers.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/charset.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/csv.h"
#include "gateway/lib/text.h"
#include "gateway/scope.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum col { C_NAME, C_EMAIL, C_PHONE, C_COMPANY, C_INDUSTRY, C_TYPE, C_STAGE, C_GRADE, C_SOURCE, C_REGION,
           C_ADDRESS, C_USCC, C_NO, C_TAGS, C_OWNER, C_COUNT };

/* Field keys (as the API names them) and the headers people write for them. */
static const struct {
    const char *key;
    const char *aliases[8];
} columns[C_COUNT] = {
    [C_NAME] = {"name", {"姓名", "名称", "客户名称", "客户姓名", "customer name", "full name", "联系人", NULL}},
    [C_EMAIL] = {"email", {"e-mail", "邮箱", "电子邮件", "电子邮箱", "邮件", "mail", NULL}},
    [C_PHONE] = {"phone", {"mobile", "手机", "手机号", "手机号码", "电话", "联系电话", "tel", NULL}},
    [C_COMPANY] = {"company", {"公司", "企业", "公司名称", "企业名称", "单位", "company name", NULL}},
    [C_INDUSTRY] = {"industry", {"行业", "所属行业", NULL}},
    [C_TYPE] = {"type", {"类型", "客户类型", NULL}},
    [C_STAGE] = {"stage", {"阶段", "生命周期", "客户阶段", "lifecycle", NULL}},
    [C_GRADE] = {"grade", {"等级", "客户等级", "级别", NULL}},
    [C_SOURCE] = {"source", {"来源", "客户来源", NULL}},
    [C_REGION] = {"region", {"地区", "区域", "省份", NULL}},
    [C_ADDRESS] = {"address", {"地址", "联系地址", "详细地址", NULL}},
    [C_USCC] = {"uscc", {"统一社会信用代码", "信用代码", "社会信用代码", NULL}},
    [C_NO] = {"customer_no", {"客户编号", "编号", "customer number", NULL}},
    [C_TAGS] = {"tags", {"标签", "tag", NULL}},
    [C_OWNER] = {"owner_email", {"负责人邮箱", "负责人", "owner", NULL}},
};

static const char *const type_words[][2] = {{"new", "new"}, {"新客户", "new"}, {"新", "new"},
                                            {"returning", "returning"}, {"老客户", "returning"},
                                            {"回头客", "returning"}, {"churned", "churned"}, {"流失", "churned"},
                                            {"流失客户", "churned"}, {NULL, NULL}};
static const char *const stage_words[][2] = {
    {"potential", "potential"}, {"潜在", "potential"}, {"潜在客户", "potential"}, {"contacted", "contacted"},
    {"已联系", "contacted"}, {"接触", "contacted"}, {"proposal", "proposal"}, {"方案", "proposal"},
    {"报价", "proposal"}, {"won", "won"}, {"成交", "won"}, {"赢单", "won"}, {"maintain", "maintain"},
    {"维护", "maintain"}, {"renewal", "renewal"}, {"续约", "renewal"}, {"churned", "churned"},
    {"流失", "churned"}, {NULL, NULL}};

#define ATTR_BASE 1000

struct row {
    size_t line;
    char *v[C_COUNT];
    char email[CONTACT_MAX], phone[CONTACT_MAX];
    json_t *attrs, *tags;
    int64_t owner_id, match, company_id;
    char old_stage[16];
    bool has_email, has_phone; /* the matched customer already holds the row's e-mail / phone */
};

struct import {
    struct db *db;
    const struct import_opts *o;
    struct import_result *res;
    struct db_result defs;       /* field_defs */
    int *col;                    /* per CSV column: enum col, ATTR_BASE + def row, or -1 */
    size_t ncols;
    json_t *seen_email, *seen_phone, *seen_no; /* value → line, this file */
    json_t *owners, *companies, *tag_ids;      /* caches: owner e-mail → id, norm → id, name → id */
    json_t *created;             /* ids of new customers, for the audit row */
    struct row batch[IMPORT_BATCH];
    size_t nbatch;
};

/* ---- parameter lists for multi-row statements ---- */

struct bulk {
    struct buf q;
    struct db_param *p;
    size_t np, cap;
    char **owned; /* strings the parameters point into */
    size_t nowned, capowned;
};

static void bulk_init(struct bulk *b, const char *head)
{
    memset(b, 0, sizeof(*b));
    buf_init(&b->q, 0);
    buf_puts(&b->q, head);
}

static int bulk_param(struct bulk *b, struct db_param p)
{
    if (b->np == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        struct db_param *n = realloc(b->p, cap * sizeof(*n));
        if (!n)
            return -1;
        b->p = n;
        b->cap = cap;
    }
    b->p[b->np++] = p;
    return 0;
}

/* A text parameter whose storage the bulk owns (freed with it). */
static int bulk_take(struct bulk *b, char *s)
{
    if (b->nowned == b->capowned) {
        size_t cap = b->capowned ? b->capowned * 2 : 64;
        char **n = realloc(b->owned, cap * sizeof(*n));
        if (!n) {
            free(s);
            return -1;
        }
        b->owned = n;
        b->capowned = cap;
    }
    b->owned[b->nowned++] = s;
    return bulk_param(b, P_S(s));
}

static void bulk_free(struct bulk *b)
{
    buf_free(&b->q);
    free(b->p);
    for (size_t i = 0; i < b->nowned; i++)
        free(b->owned[i]);
    free(b->owned);
}

static int bulk_exec(struct import *im, struct bulk *b, struct db_result *r)
{
    if (!b->q.data)
        return DB_EOTHER;
    return db_exec(im->db, b->q.data, b->p, b->np, r);
}

/* ---- header ---- */

static int header_matches(const char *h, const char *key, const char *const *aliases)
{
    if (strcasecmp(h, key) == 0)
        return 1;
    for (size_t i = 0; aliases && aliases[i]; i++)
        if (strcasecmp(h, aliases[i]) == 0)
            return 1;
    return 0;
}

/* The field a header (or the mapping's target) names; -1 when none. */
static int field_of(struct import *im, const char *name)
{
    for (int k = 0; k < C_COUNT; k++)
        if (header_matches(name, columns[k].key, columns[k].aliases))
            return k;
    const char *attr = strncmp(name, "attrs.", 6) == 0 ? name + 6 : name;
    for (size_t i = 0; i < im->defs.nrows; i++)
        if (strcmp(attr, db_cell(&im->defs, i, 0)) == 0 || strcmp(name, db_cell(&im->defs, i, 4)) == 0)
            return ATTR_BASE + (int)i;
    return -1;
}

static int read_header(struct import *im, const struct csv_record *h)
{
    im->ncols = h->nfields;
    im->col = calloc(h->nfields, sizeof(int));
    if (!im->col)
        return -1;
    int have_name = 0;
    for (size_t i = 0; i < h->nfields; i++) {
        char name[256];
        text_copy(name, sizeof(name), h->field[i]);
        char *t = text_trim(name);
        json_t *m = im->o->mapping ? json_object_get(im->o->mapping, t) : NULL;
        if (m && !json_is_string(m) && !json_is_null(m)) {
            snprintf(im->res->error, sizeof(im->res->error),
                     "mapping for column \"%.100s\" must be a field name (or null / \"\" to skip it)", t);
            return 1;
        }
        if (m && (json_is_null(m) || !json_string_length(m))) { /* skipped on purpose, not reported */
            im->col[i] = -1;
            continue;
        }
        im->col[i] = field_of(im, m ? json_string_value(m) : t);
        if (m && im->col[i] < 0) {
            snprintf(im->res->error, sizeof(im->res->error), "mapping: \"%.100s\" is not a customer field or custom field",
                     json_string_value(m));
            return 1;
        }
        for (size_t k = 0; k < i && im->col[i] >= 0; k++)
            if (im->col[k] == im->col[i]) {
                snprintf(im->res->error, sizeof(im->res->error),
                         "columns %zu and %zu both map to the same field (skip one with ?map={\"header\":null})", k + 1,
                         i + 1);
                return 1;
            }
        if (im->col[i] < 0 && *t)
            json_array_append_new(im->res->ignored_columns, json_string(t));
        char perm[96];
        int c = im->col[i];
        if (c >= ATTR_BASE)
            snprintf(perm, sizeof(perm), "attrs.%.80s", db_cell(&im->defs, (size_t)(c - ATTR_BASE), 0));
        else if (c >= 0 && c < C_COUNT)
            text_copy(perm, sizeof(perm), c == C_OWNER ? "owner_id" : columns[c].key);
        else
            perm[0] = 0;
        if (c >= 0 && fperm_access("customer", perm) != FP_EDIT) { /* field_perms.h: not the caller's to write */
            snprintf(im->res->error, sizeof(im->res->error), "column \"%.100s\" writes %s, which you may not change", t,
                     perm);
            return 1;
        }
        have_name |= im->col[i] == C_NAME;
    }
    if (!have_name) {
        snprintf(im->res->error, sizeof(im->res->error),
                 "the header has no name column (name / 姓名 / 客户名称); every customer needs a name");
        return 1;
    }
    return 0;
}

/* ---- one row ---- */

static const char *word(const char *const table[][2], const char *v)
{
    for (size_t i = 0; table[i][0]; i++)
        if (strcasecmp(v, table[i][0]) == 0)
            return table[i][1];
    return NULL;
}

/* 2026-1-5, 2026/01/05, 2026.01.05 → 2026-01-05; -1 when not a date. */
static int norm_date(const char *v, char out[11])
{
    int y, m, d;
    char s1, s2, tail;
    if (sscanf(v, "%4d%c%2d%c%2d%c", &y, &s1, &m, &s2, &d, &tail) != 5 || s1 != s2 ||
        (s1 != '-' && s1 != '/' && s1 != '.'))
        return -1;
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
    return customer_date_valid(out) ? 0 : -1;
}

static json_t *split_list(const char *v)
{
    json_t *a = json_array();
    char *copy = strdup(v), *save = NULL;
    if (!copy)
        return a;
    /* ; | and the full-width ；，、 separate; commas are the CSV's own */
    for (char *p = copy; *p; p++)
        if (*p == '|')
            *p = ';';
    static const char *const wide[] = {"；", "，", "、", NULL};
    for (size_t w = 0; wide[w]; w++)
        for (char *p = strstr(copy, wide[w]); p; p = strstr(p, wide[w]))
            memcpy(p, ";  ", 3);
    for (char *t = copy; t; t = save) {
        save = strchr(t, ';');
        if (save)
            *save++ = '\0';
        char *x = text_trim(t);
        if (*x)
            json_array_append_new(a, json_string(x));
    }
    free(copy);
    return a;
}

static void attr_value(struct import *im, struct jf *f, struct row *rw, size_t def, const char *v)
{
    const char *key = db_cell(&im->defs, def, 0), *type = db_cell(&im->defs, def, 1);
    char fk[96], d[11];
    snprintf(fk, sizeof(fk), "attrs.%s", key);
    if (strcmp(type, "number") == 0) {
        char *end = NULL;
        double x = strtod(v, &end);
        if (!end || *end || !isfinite(x))
            jf_fail(f, fk, "must be a number");
        else
            json_object_set_new(rw->attrs, key, json_real(x));
    } else if (strcmp(type, "date") == 0) {
        if (norm_date(v, d) < 0)
            jf_fail(f, fk, "must be a date YYYY-MM-DD");
        else
            json_object_set_new(rw->attrs, key, json_string(d));
    } else if (strcmp(type, "multiselect") == 0) {
        json_object_set_new(rw->attrs, key, split_list(v));
    } else {
        json_object_set_new(rw->attrs, key, json_string(v));
    }
}

/* Only the attrs the row gives are checked for an update; a new customer also needs the
 * required ones (checked in flush, once we know which it is). */
static void check_row_attrs(struct import *im, struct jf *f, struct row *rw, int require)
{
    struct jf g;
    jf_init(&g, NULL);
    customer_attrs_check(&im->defs, &g, rw->attrs);
    const char *k;
    json_t *v;
    json_object_foreach(g.errors, k, v) {
        if (require || strcmp(json_string_value(v), "is required") != 0)
            jf_fail(f, k, json_string_value(v));
    }
    jf_free(&g);
}

static int owner_of(struct import *im, struct jf *f, struct row *rw)
{
    const char *v = rw->v[C_OWNER];
    json_t *cached = json_object_get(im->owners, v);
    if (!cached) {
        struct db_result r;
        int rc = db_exec(im->db, "SELECT a.id, COALESCE(a.team_id, 0), COALESCE(a.region, '') FROM agents a "
                                 "WHERE a.email = ? AND a.active = 1", DBP(P_S(v)), &r);
        if (rc)
            return rc;
        int64_t id = 0;
        if (r.nrows && scope_allows(im->o->me, db_cell_i64(&r, 0, 0), db_cell_i64(&r, 0, 1), db_cell(&r, 0, 2)))
            id = db_cell_i64(&r, 0, 0);
        db_result_free(&r);
        cached = json_integer(id);
        json_object_set_new(im->owners, v, cached);
    }
    rw->owner_id = json_integer_value(cached);
    if (!rw->owner_id)
        jf_fail(f, "owner_email", "no such active agent in your data scope");
    return DB_OK;
}

static void reject(struct import *im, size_t line, json_t *errors)
{
    im->res->rejected_count++;
    if (json_array_size(im->res->rejected) < IMPORT_MAX_REJECTED)
        json_array_append_new(im->res->rejected, json_pack("{s:I, s:O}", "line", (json_int_t)line, "errors", errors));
}

static void row_free(struct row *rw)
{
    for (int k = 0; k < C_COUNT; k++)
        free(rw->v[k]);
    json_decref(rw->attrs);
    json_decref(rw->tags);
    memset(rw, 0, sizeof(*rw));
}

/* Checks the identities against earlier rows of the file; remembers them when the row
 * is good. */
static void check_seen(struct import *im, struct jf *f, struct row *rw)
{
    json_t *maps[3] = {im->seen_email, im->seen_phone, im->seen_no};
    const char *vals[3] = {rw->email[0] ? rw->email : NULL, rw->phone[0] ? rw->phone : NULL, rw->v[C_NO]};
    const char *names[3] = {"email", "phone", "customer_no"};
    for (int i = 0; i < 3; i++) {
        json_t *at = vals[i] ? json_object_get(maps[i], vals[i]) : NULL;
        if (at) {
            char msg[64];
            snprintf(msg, sizeof(msg), "duplicate of line %lld", (long long)json_integer_value(at));
            jf_fail(f, names[i], msg);
        }
    }
    if (!jf_ok(f))
        return;
    for (int i = 0; i < 3; i++)
        if (vals[i])
            json_object_set_new(maps[i], vals[i], json_integer((json_int_t)rw->line));
}

static int parse_row(struct import *im, const struct csv_record *rec, struct row *rw, struct jf *f)
{
    rw->line = rec->line;
    rw->attrs = json_object();
    if (rec->nfields > im->ncols) {
        char msg[96];
        snprintf(msg, sizeof(msg), "has %zu cells but the header has %zu columns", rec->nfields, im->ncols);
        jf_fail(f, "row", msg);
        return DB_OK;
    }
    for (size_t i = 0; i < rec->nfields; i++) {
        if (im->col[i] < 0 || strlen(rec->field[i]) != rec->len[i]) {
            if (im->col[i] >= 0)
                jf_fail(f, im->col[i] < ATTR_BASE ? columns[im->col[i]].key : "row", "contains a NUL byte");
            continue;
        }
        char *v = strdup(rec->field[i]), *t = v ? text_trim(v) : NULL;
        if (!t || !*t) {
            free(v);
            continue;
        }
        if (t[0] == '\'' && t[1] && strchr("=+-@\t\r'", t[1])) /* the export's formula guard (csv_put) */
            t++;
        memmove(v, t, strlen(t) + 1);
        int col = im->col[i];
        if (col >= 0 && col < C_COUNT) {
            rw->v[col] = v;
        } else {
            attr_value(im, f, rw, (size_t)(col - ATTR_BASE), v);
            free(v);
        }
    }
    static const size_t maxlen[C_COUNT] = {[C_NAME] = 200, [C_EMAIL] = 254, [C_PHONE] = 32, [C_COMPANY] = 200,
                                           [C_INDUSTRY] = 100, [C_TYPE] = 32, [C_STAGE] = 32, [C_GRADE] = 32,
                                           [C_SOURCE] = 64, [C_REGION] = 100, [C_ADDRESS] = 500, [C_USCC] = 18,
                                           [C_NO] = 32, [C_TAGS] = 2000, [C_OWNER] = 254};
    for (int k = 0; k < C_COUNT; k++)
        if (rw->v[k] && utf8_length(rw->v[k], strlen(rw->v[k])) > maxlen[k]) {
            char msg[64];
            snprintf(msg, sizeof(msg), "is longer than %zu characters", maxlen[k]);
            jf_fail(f, columns[k].key, msg);
            free(rw->v[k]);
            rw->v[k] = NULL;
        }
    const char *why = NULL;
    if (!rw->v[C_NAME] && !jf_has(f, "name"))
        jf_fail(f, "name", "is required");
    if (rw->v[C_EMAIL] && contact_email_normalise(rw->v[C_EMAIL], rw->email, sizeof(rw->email), &why) < 0)
        jf_fail(f, "email", why);
    if (rw->v[C_PHONE] && contact_phone_normalise(rw->v[C_PHONE], rw->phone, sizeof(rw->phone), &why) < 0)
        jf_fail(f, "phone", why);
    if (rw->v[C_TYPE] && !word(type_words, rw->v[C_TYPE]))
        jf_fail(f, "type", "must be new, returning or churned (新客户, 老客户, 流失)");
    if (rw->v[C_STAGE] && !word(stage_words, rw->v[C_STAGE]))
        jf_fail(f, "stage", "must be potential, contacted, proposal, won, maintain, renewal or churned");
    if (rw->v[C_USCC] && !customer_uscc_valid(rw->v[C_USCC]))
        jf_fail(f, "uscc", "must be an 18-character unified social credit code");
    if (rw->v[C_TAGS]) {
        rw->tags = split_list(rw->v[C_TAGS]);
        size_t i;
        json_t *t;
        json_array_foreach(rw->tags, i, t) if (utf8_length(json_string_value(t), json_string_length(t)) > 64 ||
                                               json_array_size(rw->tags) > 50) {
            jf_fail(f, "tags", "at most 50 tags of at most 64 characters each");
            break;
        }
    }
    check_row_attrs(im, f, rw, 0);
    int rc = rw->v[C_OWNER] ? owner_of(im, f, rw) : DB_OK;
    if (!rc && jf_ok(f))
        check_seen(im, f, rw);
    return rc;
}

/* ---- batch: look up, then write ---- */

/* Who already holds the batch's identities (and customer numbers). */
static int match_existing(struct import *im)
{
    struct bulk b;
    bulk_init(&b, "SELECT i.kind, i.value, c.id, COALESCE(c.owner_id, 0), COALESCE(a.team_id, 0), c.region, c.stage "
                  "FROM customer_identities i JOIN customers c ON c.id = i.customer_id "
                  "LEFT JOIN agents a ON a.id = c.owner_id WHERE i.is_primary = 1 AND i.value IN (NULL");
    for (size_t i = 0; i < im->nbatch; i++) {
        struct row *rw = &im->batch[i];
        if (rw->email[0] && !bulk_param(&b, P_S(rw->email)))
            buf_puts(&b.q, ", ?");
        if (rw->phone[0] && !bulk_param(&b, P_S(rw->phone)))
            buf_puts(&b.q, ", ?");
    }
    buf_puts(&b.q, ") UNION ALL SELECT 'customer_no', c.customer_no, s.id, COALESCE(s.owner_id, 0), COALESCE(a.team_id, 0), "
                   "s.region, s.stage FROM customers c JOIN customers s ON s.id = COALESCE(c.merged_into, c.id) "
                   "LEFT JOIN agents a ON a.id = s.owner_id WHERE c.customer_no IN (NULL");
    for (size_t i = 0; i < im->nbatch; i++)
        if (im->batch[i].v[C_NO] && !bulk_param(&b, P_S(im->batch[i].v[C_NO])))
            buf_puts(&b.q, ", ?");
    buf_puts(&b.q, ")");
    struct db_result r;
    int rc = bulk_exec(im, &b, &r);
    bulk_free(&b);
    if (rc)
        return rc;
    for (size_t i = 0; i < im->nbatch; i++) {
        struct row *rw = &im->batch[i];
        struct jf f;
        jf_init(&f, NULL);
        for (size_t k = 0; k < r.nrows; k++) {
            const char *kind = db_cell(&r, k, 0), *val = db_cell(&r, k, 1);
            const char *mine = !strcmp(kind, "email") ? rw->email : !strcmp(kind, "phone") ? rw->phone : rw->v[C_NO];
            if (!mine || !*mine || strcmp(mine, val) != 0)
                continue;
            int64_t id = db_cell_i64(&r, k, 2);
            if (!scope_allows(im->o->me, db_cell_i64(&r, k, 3), db_cell_i64(&r, k, 4), db_cell(&r, k, 5)))
                jf_fail(&f, kind, "belongs to a customer outside your data scope");
            else if (rw->match && rw->match != id)
                jf_fail(&f, kind, "belongs to another customer than the row's other identities");
            rw->match = id;
            text_copy(rw->old_stage, sizeof(rw->old_stage), db_cell(&r, k, 6));
            rw->has_email |= !strcmp(kind, "email");
            rw->has_phone |= !strcmp(kind, "phone");
        }
        if (!rw->match && jf_ok(&f))
            check_row_attrs(im, &f, rw, 1);
        if (!jf_ok(&f)) {
            reject(im, rw->line, f.errors);
            rw->line = 0; /* dropped from the batch */
        }
        jf_free(&f);
    }
    db_result_free(&r);
    return DB_OK;
}

/* Company ids for the batch by the name as written (the normalised form is stored for
 * duplicate detection): one lookup of the names not seen yet, new companies inserted in
 * one statement. */
static int lookup_companies(struct import *im)
{
    struct bulk b;
    size_t n = 0;
    bulk_init(&b, "SELECT id, name FROM companies WHERE name IN (NULL");
    for (size_t i = 0; i < im->nbatch; i++) {
        const char *name = im->batch[i].line ? im->batch[i].v[C_COMPANY] : NULL;
        if (!name || json_object_get(im->companies, name))
            continue;
        json_object_set_new(im->companies, name, json_integer(0)); /* 0: to be inserted */
        buf_puts(&b.q, ", ?");
        bulk_param(&b, P_S(name));
        n++;
    }
    buf_puts(&b.q, ") ORDER BY id DESC"); /* the oldest of equal names wins: it is set last */
    struct db_result r;
    int rc = n ? bulk_exec(im, &b, &r) : DB_OK;
    for (size_t k = 0; n && !rc && k < r.nrows; k++)
        json_object_set_new(im->companies, db_cell(&r, k, 1), json_integer(db_cell_i64(&r, k, 0)));
    if (n && !rc)
        db_result_free(&r);
    bulk_free(&b);
    return rc;
}

static int companies(struct import *im)
{
    int rc = lookup_companies(im);
    struct bulk b;
    size_t n = 0;
    bulk_init(&b, "INSERT INTO companies (name, name_norm) VALUES ");
    for (size_t i = 0; i < im->nbatch && !rc; i++) {
        struct row *rw = &im->batch[i];
        if (!rw->line || !rw->v[C_COMPANY])
            continue;
        json_t *id = json_object_get(im->companies, rw->v[C_COMPANY]);
        rw->company_id = json_integer_value(id);
        if (rw->company_id || json_integer_value(id) < 0)
            continue;
        json_object_set_new(im->companies, rw->v[C_COMPANY], json_integer(-1)); /* queued once */
        char norm[800];
        contact_company_normalise(rw->v[C_COMPANY], norm, sizeof(norm));
        buf_puts(&b.q, n++ ? ", (?, ?)" : "(?, ?)");
        bulk_param(&b, P_S(rw->v[C_COMPANY]));
        bulk_take(&b, strdup(norm[0] ? norm : rw->v[C_COMPANY]));
    }
    if (!rc && n) {
        buf_puts(&b.q, " RETURNING id, name");
        struct db_result r;
        rc = bulk_exec(im, &b, &r);
        for (size_t k = 0; !rc && k < r.nrows; k++)
            json_object_set_new(im->companies, db_cell(&r, k, 1), json_integer(db_cell_i64(&r, k, 0)));
        if (!rc)
            db_result_free(&r);
    }
    for (size_t i = 0; !rc && i < im->nbatch; i++) {
        struct row *rw = &im->batch[i];
        if (rw->line && rw->v[C_COMPANY] && rw->company_id <= 0)
            rw->company_id = json_integer_value(json_object_get(im->companies, rw->v[C_COMPANY]));
    }
    bulk_free(&b);
    return rc;
}

static const char *row_type(const struct row *rw)
{
    return rw->v[C_TYPE] ? word(type_words, rw->v[C_TYPE]) : NULL;
}

static const char *row_stage(const struct row *rw)
{
    return rw->v[C_STAGE] ? word(stage_words, rw->v[C_STAGE]) : NULL;
}

static int insert_new(struct import *im, int64_t *ids, size_t *nnew)
{
    struct bulk b;
    bulk_init(&b, "INSERT INTO customers (name, company_id, industry, type, stage, grade, source, region, owner_id, uscc, "
                  "address, attrs, customer_no) VALUES ");
    size_t n = 0;
    for (size_t i = 0; i < im->nbatch; i++) {
        struct row *rw = &im->batch[i];
        if (!rw->line || rw->match)
            continue;
        buf_puts(&b.q, n++ ? ", " : "");
        buf_puts(&b.q, "(?, ?, ?, COALESCE(?, 'new'), COALESCE(?, 'potential'), ?, COALESCE(?, 'import'), ?, ?, ?, ?, ?, ?)");
        int64_t owner = rw->owner_id ? rw->owner_id : (im->o->me->scope != SCOPE_ALL ? im->o->me->id : 0);
        rw->owner_id = owner;
        bulk_param(&b, P_S(rw->v[C_NAME]));
        bulk_param(&b, P_IOPT(rw->company_id));
        bulk_param(&b, P_S(rw->v[C_INDUSTRY]));
        bulk_param(&b, P_S(row_type(rw)));
        bulk_param(&b, P_S(row_stage(rw)));
        bulk_param(&b, P_S(rw->v[C_GRADE]));
        bulk_param(&b, P_S(rw->v[C_SOURCE]));
        bulk_param(&b, P_S(rw->v[C_REGION]));
        bulk_param(&b, P_IOPT(owner));
        bulk_param(&b, P_S(rw->v[C_USCC]));
        bulk_param(&b, P_S(rw->v[C_ADDRESS]));
        bulk_take(&b, json_dumps(rw->attrs, JSON_COMPACT));
        bulk_param(&b, P_S(rw->v[C_NO]));
    }
    *nnew = n;
    int rc = DB_OK;
    if (n) {
        buf_puts(&b.q, " RETURNING id");
        struct db_result r;
        rc = bulk_exec(im, &b, &r);
        if (!rc && r.nrows != n)
            rc = DB_EOTHER;
        for (size_t k = 0; !rc && k < n; k++)
            ids[k] = db_cell_i64(&r, k, 0);
        if (!rc || r.nrows)
            db_result_free(&r);
    }
    bulk_free(&b);
    return rc;
}

/* Identities, stage history and customer numbers of the new rows, in three statements. */
static int new_children(struct import *im, const int64_t *ids, size_t n)
{
    struct bulk idn, hist, nos;
    bulk_init(&idn, "INSERT INTO customer_identities (customer_id, kind, value) VALUES ");
    bulk_init(&hist, "INSERT INTO customer_stage_history (customer_id, from_stage, to_stage, actor_id, reason) VALUES ");
    bulk_init(&nos, "UPDATE customers SET customer_no = CONCAT('C', LPAD(id, 6, '0')) WHERE customer_no IS NULL AND id IN ");
    size_t k = 0, nid = 0;
    for (size_t i = 0; i < im->nbatch; i++) {
        struct row *rw = &im->batch[i];
        if (!rw->line || rw->match)
            continue;
        rw->match = ids[k++];
        json_array_append_new(im->created, json_integer(rw->match));
        const char *kinds[2] = {"email", "phone"}, *vals[2] = {rw->email, rw->phone};
        for (int j = 0; j < 2; j++)
            if (vals[j][0]) {
                buf_puts(&idn.q, nid++ ? ", (?, ?, ?)" : "(?, ?, ?)");
                bulk_param(&idn, P_I(rw->match));
                bulk_param(&idn, P_S(kinds[j]));
                bulk_param(&idn, P_S(vals[j]));
            }
        buf_puts(&hist.q, k > 1 ? ", (?, NULL, COALESCE(?, 'potential'), ?, 'import')" : "(?, NULL, COALESCE(?, 'potential'), ?, 'import')");
        bulk_param(&hist, P_I(rw->match));
        bulk_param(&hist, P_S(row_stage(rw)));
        bulk_param(&hist, P_IOPT(im->o->me->id));
        bulk_param(&nos, P_I(rw->match));
    }
    db_put_placeholders(&nos.q, n);
    int rc = nid ? bulk_exec(im, &idn, NULL) : DB_OK;
    if (!rc && n)
        rc = bulk_exec(im, &hist, NULL);
    if (!rc && n)
        rc = bulk_exec(im, &nos, NULL);
    bulk_free(&idn);
    bulk_free(&hist);
    bulk_free(&nos);
    return rc;
}

static int tag_id(struct import *im, const char *name, int64_t *id)
{
    json_t *cached = json_object_get(im->tag_ids, name);
    if (cached) {
        *id = json_integer_value(cached);
        return DB_OK;
    }
    struct db_result r;
    int rc = db_exec(im->db, "INSERT INTO tags (name) VALUES (?) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
                     DBP(P_S(name)), &r);
    if (rc)
        return rc;
    *id = (int64_t)r.insert_id;
    db_result_free(&r);
    json_object_set_new(im->tag_ids, name, json_integer(*id));
    return DB_OK;
}

static int tags(struct import *im)
{
    struct bulk b;
    bulk_init(&b, "INSERT IGNORE INTO customer_tags (customer_id, tag_id, created_by) VALUES ");
    size_t n = 0;
    int rc = DB_OK;
    for (size_t i = 0; !rc && i < im->nbatch; i++) {
        struct row *rw = &im->batch[i];
        size_t k;
        json_t *t;
        if (!rw->line || !rw->tags)
            continue;
        json_array_foreach(rw->tags, k, t) {
            int64_t id = 0;
            if ((rc = tag_id(im, json_string_value(t), &id)))
                break;
            buf_puts(&b.q, n++ ? ", (?, ?, ?)" : "(?, ?, ?)");
            bulk_param(&b, P_I(rw->match));
            bulk_param(&b, P_I(id));
            bulk_param(&b, P_IOPT(im->o->me->id));
        }
    }
    if (!rc && n)
        rc = bulk_exec(im, &b, NULL);
    bulk_free(&b);
    return rc;
}

/* The batch's matched customers as they are now: {"id": {…}}. */
static int snapshot(struct import *im, json_t **out)
{
    struct bulk b;
    bulk_init(&b, "SELECT c.id, c.name, c.company_id, c.industry, c.type, c.stage, c.grade, c.source, c.region, "
                  "c.owner_id, c.uscc, c.address, c.attrs AS attrs__json FROM customers c WHERE c.id IN (NULL");
    for (size_t i = 0; i < im->nbatch; i++)
        if (im->batch[i].line && im->batch[i].match && !bulk_param(&b, P_I(im->batch[i].match)))
            buf_puts(&b.q, ", ?");
    buf_puts(&b.q, ")");
    struct db_result r;
    int rc = bulk_exec(im, &b, &r);
    bulk_free(&b);
    if (rc)
        return rc;
    *out = json_object();
    for (size_t i = 0; i < r.nrows; i++)
        json_object_set_new(*out, db_cell(&r, i, 0), db_row_json(&r, i));
    db_result_free(&r);
    return DB_OK;
}

/* One audit row per updated customer with its before and after (one statement). */
static int audit_updates(struct import *im, json_t *before)
{
    json_t *after = NULL;
    int rc = snapshot(im, &after);
    if (rc)
        return rc;
    struct bulk aud;
    bulk_init(&aud, "INSERT INTO audit_log (actor_id, actor_type, action, object_type, object_id, before_json, after_json, "
                    "request_id) VALUES ");
    const char *key;
    json_t *row;
    size_t n = 0;
    json_object_foreach(after, key, row) {
        buf_puts(&aud.q, n++ ? ", (?, 'agent', 'customer.imported_update', 'customer', ?, ?, ?, ?)"
                             : "(?, 'agent', 'customer.imported_update', 'customer', ?, ?, ?, ?)");
        bulk_param(&aud, P_IOPT(im->o->me->id));
        bulk_param(&aud, P_I(json_integer_value(json_object_get(row, "id"))));
        bulk_take(&aud, json_dumps(json_object_get(before, key), JSON_COMPACT));
        bulk_take(&aud, json_dumps(row, JSON_COMPACT));
        bulk_param(&aud, P_S(im->o->request_id));
    }
    rc = n ? bulk_exec(im, &aud, NULL) : DB_OK;
    bulk_free(&aud);
    json_decref(after);
    return rc;
}

/* Existing customers, the whole batch in four statements: non-empty cells win, attrs
 * merge, identities they lack are added, stage changes recorded, each change audited. */
static int update_existing(struct import *im)
{
    struct bulk up, idn, hist;
    bulk_init(&up, "UPDATE customers c JOIN (");
    bulk_init(&idn, "INSERT INTO customer_identities (customer_id, kind, value) VALUES ");
    bulk_init(&hist, "INSERT INTO customer_stage_history (customer_id, from_stage, to_stage, actor_id, reason) VALUES ");
    size_t n = 0, nid = 0, nh = 0;
    for (size_t i = 0; i < im->nbatch; i++) {
        struct row *rw = &im->batch[i];
        if (!rw->line || !rw->match)
            continue;
        buf_puts(&up.q, n++ ? " UNION ALL SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
                            : "SELECT ? AS id, ? AS name, ? AS company_id, ? AS industry, ? AS type, ? AS stage, "
                              "? AS grade, ? AS source, ? AS region, ? AS owner_id, ? AS uscc, ? AS address, ? AS attrs, "
                              "? AS dummy");
        struct db_param p[] = {P_I(rw->match), P_S(rw->v[C_NAME]), P_IOPT(rw->company_id), P_S(rw->v[C_INDUSTRY]),
                               P_S(row_type(rw)), P_S(row_stage(rw)), P_S(rw->v[C_GRADE]), P_S(rw->v[C_SOURCE]),
                               P_S(rw->v[C_REGION]), P_IOPT(rw->owner_id), P_S(rw->v[C_USCC]), P_S(rw->v[C_ADDRESS])};
        for (size_t k = 0; k < sizeof(p) / sizeof(p[0]); k++)
            bulk_param(&up, p[k]);
        bulk_take(&up, json_dumps(rw->attrs, JSON_COMPACT));
        bulk_param(&up, P_I(0));
        const char *kinds[2] = {"email", "phone"}, *vals[2] = {rw->has_email ? "" : rw->email, rw->has_phone ? "" : rw->phone};
        for (int j = 0; j < 2; j++)
            if (vals[j][0]) {
                buf_puts(&idn.q, nid++ ? ", (?, ?, ?)" : "(?, ?, ?)");
                bulk_param(&idn, P_I(rw->match));
                bulk_param(&idn, P_S(kinds[j]));
                bulk_param(&idn, P_S(vals[j]));
            }
        if (row_stage(rw) && strcmp(row_stage(rw), rw->old_stage) != 0) {
            buf_puts(&hist.q, nh++ ? ", (?, ?, ?, ?, 'import')" : "(?, ?, ?, ?, 'import')");
            bulk_param(&hist, P_I(rw->match));
            bulk_param(&hist, P_S(rw->old_stage[0] ? rw->old_stage : NULL));
            bulk_param(&hist, P_S(row_stage(rw)));
            bulk_param(&hist, P_IOPT(im->o->me->id));
        }
    }
    buf_puts(&up.q, ") v ON v.id = c.id SET c.name = COALESCE(v.name, c.name), "
                    "c.company_id = COALESCE(v.company_id, c.company_id), c.industry = COALESCE(v.industry, c.industry), "
                    "c.type = COALESCE(v.type, c.type), c.stage = COALESCE(v.stage, c.stage), "
                    "c.grade = COALESCE(v.grade, c.grade), c.source = COALESCE(v.source, c.source), "
                    "c.region = COALESCE(v.region, c.region), c.owner_id = COALESCE(v.owner_id, c.owner_id), "
                    "c.uscc = COALESCE(v.uscc, c.uscc), c.address = COALESCE(v.address, c.address), "
                    "c.attrs = JSON_MERGE_PATCH(c.attrs, v.attrs)");
    json_t *before = NULL;
    int rc = n ? snapshot(im, &before) : DB_OK;
    if (!rc && n)
        rc = bulk_exec(im, &up, NULL);
    if (!rc && nid)
        rc = bulk_exec(im, &idn, NULL);
    if (!rc && nh)
        rc = bulk_exec(im, &hist, NULL);
    if (!rc && n)
        rc = audit_updates(im, before);
    json_decref(before);
    bulk_free(&up);
    bulk_free(&idn);
    bulk_free(&hist);
    return rc;
}

static int flush(struct import *im)
{
    int rc = match_existing(im);
    size_t live = 0, updates = 0;
    for (size_t i = 0; i < im->nbatch; i++) {
        live += im->batch[i].line != 0;
        updates += im->batch[i].line && im->batch[i].match;
    }
    im->res->imported += (int64_t)(live - updates);
    im->res->updated += (int64_t)updates;
    if (!rc && !im->o->dry_run && live) {
        int64_t ids[IMPORT_BATCH];
        size_t nnew = 0;
        rc = companies(im);
        if (!rc)
            rc = update_existing(im); /* before the inserts, which make new rows matches */
        if (!rc)
            rc = insert_new(im, ids, &nnew);
        if (!rc && nnew)
            rc = new_children(im, ids, nnew);
        if (!rc)
            rc = tags(im);
    }
    for (size_t i = 0; i < im->nbatch; i++)
        row_free(&im->batch[i]);
    im->nbatch = 0;
    return rc;
}

/* ---- the run ---- */

static int decode(const char *data, size_t len, const char *charset, struct buf *out, char *err, size_t errsz)
{
    size_t bad = 0;
    int rc = charset_to_utf8(charset && *charset ? charset : "utf-8", data, len, out, &bad);
    if (rc == -1)
        snprintf(err, errsz, "line %d: bytes that are not valid %s (declare the file's charset, e.g. "
                             "Content-Type: text/csv; charset=gbk)", charset_line_of(data, len, bad),
                 charset && *charset ? charset : "UTF-8");
    else if (rc == -2)
        snprintf(err, errsz, "unsupported charset \"%.40s\" (utf-8, gbk, gb18030, big5, latin1, windows-1252)", charset);
    else if (rc < 0)
        snprintf(err, errsz, "the file is too large to convert");
    return rc;
}

static int run(struct import *im, const char *text, size_t n)
{
    struct csv_reader rd;
    struct csv_record *rec = malloc(sizeof(*rec));
    if (!rec)
        return DB_EOTHER;
    csv_reader_init(&rd, text, n);
    int got = csv_next(&rd, rec), rc = DB_OK;
    if (got != 1) {
        snprintf(im->res->error, sizeof(im->res->error), got == 0 ? "the file is empty" : "the header: %s", rec->error);
        rc = 1;
    } else {
        rc = read_header(im, rec) ? 1 : DB_OK;
    }
    while (!rc && (got = csv_next(&rd, rec)) != 0) {
        im->res->rows++;
        struct jf f;
        jf_init(&f, NULL);
        struct row *rw = &im->batch[im->nbatch];
        if (got < 0) {
            jf_fail(&f, "row", rec->error);
            rw->line = rec->line;
        } else {
            rc = parse_row(im, rec, rw, &f);
        }
        if (!jf_ok(&f)) {
            reject(im, rec->line, f.errors);
            row_free(rw);
        } else if (++im->nbatch == IMPORT_BATCH) {
            rc = flush(im);
        }
        jf_free(&f);
    }
    if (!rc && im->nbatch)
        rc = flush(im);
    for (size_t i = 0; i < im->nbatch; i++)
        row_free(&im->batch[i]);
    csv_reader_free(&rd);
    free(rec);
    return rc;
}

static int by_line(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "line"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "line"));
    return x < y ? -1 : x > y;
}

/* Rejections found at lookup time come after later lines' parse errors: sort by line. */
static void sort_rejected(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = n ? malloc(n * sizeof(*v)) : NULL;
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof(*v), by_line);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
}

static int finish(struct import *im)
{
    sort_rejected(im->res->rejected);
    if (im->o->dry_run)
        return DB_OK;
    json_t *summary = json_pack("{s:I, s:I, s:I, s:I, s:O}", "rows", (json_int_t)im->res->rows, "imported",
                                (json_int_t)im->res->imported, "updated", (json_int_t)im->res->updated, "rejected",
                                (json_int_t)im->res->rejected_count, "created_ids", im->created);
    char *s = json_dumps(summary, JSON_COMPACT);
    int rc = db_exec(im->db, "INSERT INTO audit_log (actor_id, actor_type, action, object_type, after_json, request_id) "
                             "VALUES (?, 'agent', 'customers.imported', 'customer', ?, ?)",
                     DBP(P_IOPT(im->o->me->id), P_S(s), P_S(im->o->request_id)), NULL);
    free(s);
    json_object_del(summary, "created_ids");
    if (!rc)
        rc = event_insert_crm(im->db, "customer.imported", 0, im->o->me->id, NULL, summary);
    else
        json_decref(summary);
    return rc;
}

int customer_import_run(struct db *db, const char *data, size_t len, const struct import_opts *o,
                        struct import_result *res)
{
    memset(res, 0, sizeof(*res));
    res->rejected = json_array();
    res->ignored_columns = json_array();
    struct import *im = calloc(1, sizeof(*im));
    if (!im)
        return DB_EOTHER;
    im->db = db;
    im->o = o;
    im->res = res;
    im->seen_email = json_object();
    im->seen_phone = json_object();
    im->seen_no = json_object();
    im->owners = json_object();
    im->companies = json_object();
    im->tag_ids = json_object();
    im->created = json_array();
    struct buf text;
    buf_init(&text, 0);
    int rc = customer_field_defs(db, &im->defs);
    int have_defs = rc == DB_OK;
    if (!rc && decode(data, len, o->charset, &text, res->error, sizeof(res->error)) < 0)
        rc = 1;
    if (!rc)
        rc = run(im, text.data ? text.data : "", text.len);
    if (!rc)
        rc = finish(im);
    buf_free(&text);
    if (have_defs)
        db_result_free(&im->defs);
    free(im->col);
    json_decref(im->seen_email);
    json_decref(im->seen_phone);
    json_decref(im->seen_no);
    json_decref(im->owners);
    json_decref(im->companies);
    json_decref(im->tag_ids);
    json_decref(im->created);
    free(im);
    return rc;
}

void customer_import_result_free(struct import_result *res)
{
    json_decref(res->rejected);
    json_decref(res->ignored_columns);
    res->rejected = res->ignored_columns = NULL;
}

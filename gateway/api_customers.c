/* api_customers.c — customers, their identities and tags (DESIGN.md section 9,
 * "Customers").
 *
 * Scope: sales see customers they own or their team owns; other roles see all. A
 * customer outside the caller's scope answers 404, exactly like a missing one.
 * email/phone become identities (customer_identities.is_primary = 1). If one is already
 * another customer's identity the create answers 409 {"code":"duplicate","existing_id"},
 * unless ?allow_duplicate=1: then it is stored as an unverified contact (is_primary NULL).
 * attrs are checked against field_defs on every write. Every change is audited and
 * emits customer.created / customer.updated.
 */
#include "gateway/api_handlers.h"
#include "gateway/customers.h"
#include "gateway/field_perms.h"
#include "gateway/event_tailer.h"
#include "gateway/scope.h"
#include "gateway/segment.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/csv.h"
#include "gateway/lib/json_field.h"
#include "gateway/lib/text.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CUSTOMER_SELECT \
    "SELECT c.id, c.customer_no, c.name, co.name AS company, c.company_id, c.industry, c.type, c.stage, c.grade, " \
    "c.source, c.region, c.owner_id, (SELECT ow.name FROM agents ow WHERE ow.id = c.owner_id) AS owner_name, " \
    "c.uscc, c.address, c.attrs AS attrs__json, " \
    "COALESCE((SELECT JSON_ARRAYAGG(t.name ORDER BY t.name) FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id " \
    "  WHERE ct.customer_id = c.id), '[]') AS tags__json, " \
    "(SELECT i.value FROM customer_identities i WHERE i.customer_id = c.id AND i.kind = 'email' " \
    "  ORDER BY i.is_primary DESC, i.merged_from IS NOT NULL, i.id LIMIT 1) AS email, " \
    "(SELECT i.value FROM customer_identities i WHERE i.customer_id = c.id AND i.kind = 'phone' " \
    "  ORDER BY i.is_primary DESC, i.merged_from IS NOT NULL, i.id LIMIT 1) AS phone, " \
    "c.created_at, c.updated_at, c.last_contact_at " \
    "FROM customers c LEFT JOIN companies co ON co.id = c.company_id "

/* The export's columns: the record plus the owner's e-mail (what the importer maps back). */
#define CUSTOMER_SELECT_EXPORT \
    "SELECT c.id, c.customer_no, c.name, co.name AS company, c.industry, c.type, c.stage, c.grade, c.source, c.region, " \
    "c.address, c.uscc, c.attrs AS attrs__json, ow.email AS owner_email, " \
    "COALESCE((SELECT JSON_ARRAYAGG(t.name ORDER BY t.name) FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id " \
    "  WHERE ct.customer_id = c.id), '[]') AS tags__json, " \
    "(SELECT i.value FROM customer_identities i WHERE i.customer_id = c.id AND i.kind = 'email' " \
    "  ORDER BY i.is_primary DESC, i.merged_from IS NOT NULL, i.id LIMIT 1) AS email, " \
    "(SELECT i.value FROM customer_identities i WHERE i.customer_id = c.id AND i.kind = 'phone' " \
    "  ORDER BY i.is_primary DESC, i.merged_from IS NOT NULL, i.id LIMIT 1) AS phone, c.created_at, c.last_contact_at " \
    "FROM customers c LEFT JOIN companies co ON co.id = c.company_id LEFT JOIN agents ow ON ow.id = c.owner_id "

#define CUSTOMER_SCOPE SCOPE_WHERE("c.owner_id", "c.region")
#define SCOPE_P(c) SCOPE_PARAMS(&(c)->me)

#define CUSTOMER_FILTER \
    " AND (? IS NULL OR c.name LIKE ? OR c.customer_no = ? OR EXISTS (SELECT 1 FROM customer_identities i2 " \
    "      WHERE i2.customer_id = c.id AND LOWER(i2.value) LIKE LOWER(?))) " \
    " AND (? IS NULL OR EXISTS (SELECT 1 FROM customer_tags ct2 JOIN tags t2 ON t2.id = ct2.tag_id " \
    "      WHERE ct2.customer_id = c.id AND t2.name = ?)) " \
    " AND (? IS NULL OR c.stage = ?) AND (? = 0 OR c.owner_id = ?) "

static const char *const types[] = {"new", "returning", "churned", NULL};
static const char *const stages[] = {"potential", "contacted", "proposal", "won", "maintain", "renewal", "churned", NULL};
static const char *const fields[] = {"name", "email", "phone", "company", "industry", "type", "stage", "grade",
                                     "source", "region", "owner_id", "uscc", "address", "tags", "attrs",
                                     "customer_no", NULL};

static int scoped(const struct api_ctx *c)
{
    return c->me.scope != SCOPE_ALL;
}

int customer_load(struct db *db, const struct agent_info *me, int64_t id, json_t **out)
{
    struct agent_info all = {.scope = SCOPE_ALL};
    if (!me)
        me = &all;
    return db_row_json_of(db, CUSTOMER_SELECT "WHERE c.id = ? AND c.merged_into IS NULL" CUSTOMER_SCOPE,
                     DBP(P_I(id), SCOPE_PARAMS(me)), out);
}

int customers_load_many(struct db *db, const int64_t *ids, size_t n, json_t **out)
{
    struct db_result r;
    char *list = db_id_list(ids, n);
    *out = NULL;
    int rc = list ? db_exec(db, CUSTOMER_SELECT "WHERE c.id IN (SELECT j.id FROM " DB_ID_LIST_TABLE ") "
                                "AND c.merged_into IS NULL", DBP(P_S(list)), &r)
                  : DB_EOTHER;
    free(list);
    if (rc)
        return rc;
    *out = json_object();
    for (size_t i = 0; i < r.nrows; i++)
        json_object_set_new(*out, db_cell(&r, i, 0), db_row_json(&r, i));
    db_result_free(&r);
    return DB_OK;
}

static int load_customer(struct api_ctx *c, int64_t id, int apply_scope, json_t **out)
{
    return customer_load(c->db, apply_scope ? &c->me : NULL, id, out);
}

int customer_resolve(struct db *db, int64_t id, int64_t *out)
{
    int64_t into = 0;
    int rc = db_scalar_i64(db, "SELECT COALESCE(merged_into, 0) FROM customers WHERE id = ?", DBP(P_I(id)), 0, &into);
    *out = into ? into : id;
    return rc;
}

int customer_event(struct db *db, const char *kind, json_t *customer)
{
    return event_insert_crm(db, kind, json_integer_value(json_object_get(customer, "id")),
                            json_integer_value(json_object_get(customer, "owner_id")),
                            json_string_value(json_object_get(customer, "region")),
                            json_pack("{s:O}", "customer", customer));
}

int customer_stage_changed(struct db *db, int64_t id, const char *from, const char *to, int64_t actor,
                           const char *reason)
{
    if (!to || (from && strcmp(from, to) == 0))
        return DB_OK;
    return db_exec(db, "INSERT INTO customer_stage_history (customer_id, from_stage, to_stage, actor_id, reason) "
                       "VALUES (?, ?, ?, ?, ?)", DBP(P_I(id), P_S(from), P_S(to), P_IOPT(actor), P_S(reason)), NULL);
}

/* ?q=&tag=&stage=&owner_id=&rule= of the list and the export. rule is the segment
 * language (segment.h): any field, custom field or activity figure. */
struct customer_filter {
    const char *q, *tag, *stage, *ident_like;
    char *like, *phone_like;
    int64_t owner;
    struct segment_sql rule;
    int has_rule;
};
#define FILTER_P(f) P_S((f)->q), P_S((f)->like), P_S((f)->q), P_S((f)->ident_like), P_S((f)->tag), P_S((f)->tag), \
                    P_S((f)->stage), P_S((f)->stage), P_I((f)->owner), P_I((f)->owner)

static const char *arg_or_null(struct api_ctx *c, const char *name)
{
    const char *v = api_arg(c->req, name);
    return v && *v ? v : NULL;
}

static void filter_free(struct customer_filter *f)
{
    free(f->like);
    free(f->phone_like);
    segment_sql_free(&f->rule);
}

/* 0, or -1 after answering 400. */
static int read_filter(struct api_ctx *c, struct customer_filter *f)
{
    memset(f, 0, sizeof(*f));
    if (api_arg_id(c, "owner_id", &f->owner) < 0)
        return -1;
    if (f->owner && fperm_access("customer", "owner_id") == FP_HIDDEN) { /* filtering would reveal it */
        api_error(c, 403, "forbidden_field", "owner_id is hidden from you");
        return -1;
    }
    f->q = arg_or_null(c, "q");
    f->tag = arg_or_null(c, "tag");
    f->stage = arg_or_null(c, "stage");
    if ((f->q && !utf8_valid(f->q, strlen(f->q))) || (f->tag && !utf8_valid(f->tag, strlen(f->tag)))) {
        api_error(c, 400, "bad_request", "query parameters must be UTF-8");
        return -1;
    }
    f->like = f->q ? text_like_pattern(f->q) : NULL;
    /* a phone typed as the customer wrote it finds the normalised +86… form */
    char phone[64] = "";
    const char *bad_phone;
    if (f->q && contact_phone_normalise(f->q, phone, sizeof(phone), &bad_phone) == 0)
        f->phone_like = text_like_pattern(phone + 1);
    f->ident_like = f->phone_like ? f->phone_like : f->like;
    const char *rule = arg_or_null(c, "rule");
    if (!rule)
        return 0;
    char why[260];
    int rc = customer_rule_compile(c->db, rule, &f->rule, why, sizeof(why));
    if (rc) {
        filter_free(f);
        if (rc == 1)
            api_invalid(c, json_pack("{s:s}", "rule", why));
        else
            api_error(c, 503, "unavailable", "database unavailable");
        return -1;
    }
    f->has_rule = 1;
    return 0;
}

/* head + scope + filters (+ " AND " the compiled rule) + tail, bound as pre, scope,
 * filters, rule, post. */
static int filtered(struct api_ctx *c, const struct customer_filter *f, const char *head, const struct db_param *pre,
                    size_t npre, const char *tail, const struct db_param *post, size_t npost, struct db_result *r)
{
    const struct db_param common[] = {SCOPE_P(c), FILTER_P(f)};
    size_t ncommon = sizeof(common) / sizeof(common[0]);
    struct db_param before[8 + sizeof(common) / sizeof(common[0])];
    if (npre > 8)
        return DB_EOTHER;
    if (npre)
        memcpy(before, pre, npre * sizeof(*pre));
    memcpy(before + npre, common, sizeof(common));
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, head);
    buf_puts(&q, CUSTOMER_SCOPE CUSTOMER_FILTER);
    if (f->has_rule)
        buf_puts(&q, " AND ");
    int rc = q.data ? segment_exec(c->db, q.data, f->has_rule ? &f->rule : NULL, tail, before, npre + ncommon, post,
                                   npost, r)
                    : DB_EOTHER;
    buf_free(&q);
    return rc;
}

int customers_list(struct api_ctx *c)
{
    int64_t limit, offset, total = 0;
    struct customer_filter f;
    if (api_paging(c, &limit, &offset) < 0 || read_filter(c, &f) < 0)
        return 0;
    struct db_result r;
    const struct db_param page[] = {P_I(limit), P_I(offset)};
    int rc = filtered(c, &f, "SELECT COUNT(*) FROM customers c WHERE c.merged_into IS NULL", NULL, 0, "", NULL, 0, &r);
    if (!rc) {
        total = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
        db_result_free(&r);
        rc = filtered(c, &f, CUSTOMER_SELECT "WHERE c.merged_into IS NULL", NULL, 0, "ORDER BY c.id DESC LIMIT ? OFFSET ?",
                      page, 2, &r);
    }
    filter_free(&f);
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

/* ---- export ---- */

#define EXPORT_PAGE 1000
static const char *const export_cols[] = {"customer_no", "name", "email", "phone", "company", "industry", "type",
                                          "stage", "grade", "source", "region", "address", "uscc", "owner_email",
                                          "tags", "created_at", "last_contact_at", NULL};

/* Hidden fields (field_perms.h) are not exported: the column is left out. customer_no and
 * name (the first columns) are never hidden. */
static int export_shown(const char *col)
{
    return fperm_access("customer", strcmp(col, "owner_email") == 0 ? "owner_id" : col) != FP_HIDDEN;
}

static int attr_shown(const char *key)
{
    char name[96];
    snprintf(name, sizeof(name), "attrs.%.80s", key);
    return fperm_access("customer", name) != FP_HIDDEN;
}

static int put_cell(struct buf *b, json_t *v, int first)
{
    char num[64];
    const char *s = "";
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v))
        s = num, snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        s = num, snprintf(num, sizeof(num), "%.15g", json_real_value(v));
    else if (json_is_boolean(v))
        s = json_is_true(v) ? "true" : "false";
    else if (json_is_array(v)) { /* tags, multiselect values: ";"-separated, as the importer splits them */
        struct buf j;
        buf_init(&j, 0);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (i)
                buf_puts(&j, ";");
            buf_puts(&j, json_is_string(x) ? json_string_value(x) : "");
        }
        int rc = csv_put(b, j.data ? j.data : "", j.len, first);
        buf_free(&j);
        return rc;
    }
    return csv_put(b, s, strlen(s), first);
}

static int export_page(struct api_ctx *c, const struct customer_filter *f, const struct db_result *defs, int64_t *after,
                       struct buf *out, size_t *n)
{
    struct db_result r;
    const struct db_param pre[] = {P_I(*after)}, post[] = {P_I(EXPORT_PAGE)};
    int rc = filtered(c, f, CUSTOMER_SELECT_EXPORT "WHERE c.merged_into IS NULL AND c.id > ?", pre, 1,
                      "ORDER BY c.id LIMIT ?", post, 1, &r);
    if (rc)
        return rc;
    *n = r.nrows;
    int bad = 0; /* csv_put's -1: out of memory */
    for (size_t i = 0; i < r.nrows && !bad; i++) {
        json_t *row = db_row_json(&r, i);
        *after = json_integer_value(json_object_get(row, "id"));
        for (size_t k = 0; export_cols[k] && !bad; k++)
            if (export_shown(export_cols[k]))
                bad = put_cell(out, json_object_get(row, export_cols[k]), k == 0);
        json_t *attrs = json_object_get(row, "attrs");
        for (size_t k = 0; k < defs->nrows && !bad; k++)
            if (attr_shown(db_cell(defs, k, 0)))
                bad = put_cell(out, json_object_get(attrs, db_cell(defs, k, 0)), 0);
        if (!bad)
            bad = csv_end(out);
        json_decref(row);
    }
    db_result_free(&r);
    return bad ? DB_EOTHER : DB_OK;
}

/* GET /customers/export: CSV (UTF-8 with BOM, so spreadsheets read Chinese right) of every
 * customer in scope matching the list's filters, read in pages of EXPORT_PAGE by id and
 * spooled to an unlinked temporary file that the net thread streams: memory stays
 * bounded whatever the number of customers. Formula cells are neutralised (csv_put). */
int customers_export(struct api_ctx *c)
{
    struct customer_filter f;
    if (read_filter(c, &f) < 0)
        return 0;
    struct db_result defs;
    int rc = customer_field_defs(c->db, &defs);
    if (rc) {
        filter_free(&f);
        return rc;
    }
    FILE *spool = tmpfile();
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "\xEF\xBB\xBF");
    for (size_t k = 0; export_cols[k]; k++)
        if (export_shown(export_cols[k]))
            csv_put(&b, export_cols[k], strlen(export_cols[k]), k == 0);
    for (size_t k = 0; k < defs.nrows; k++)
        if (attr_shown(db_cell(&defs, k, 0)))
            csv_put(&b, db_cell(&defs, k, 0), strlen(db_cell(&defs, k, 0)), 0);
    csv_end(&b);
    int64_t after = 0, rows = 0;
    size_t n = EXPORT_PAGE;
    while (!rc && spool && n == EXPORT_PAGE) {
        rc = export_page(c, &f, &defs, &after, &b, &n);
        rows += (int64_t)n;
        if (!rc && b.len && fwrite(b.data, 1, b.len, spool) != b.len)
            rc = DB_EOTHER;
        buf_reset(&b);
    }
    buf_free(&b);
    db_result_free(&defs);
    filter_free(&f);
    if (!spool || rc) {
        if (spool)
            fclose(spool);
        return rc ? rc : api_error(c, 503, "unavailable", "no room for the export's temporary file");
    }
    json_t *audit = json_pack("{s:I}", "rows", (json_int_t)rows);
    rc = api_audit(c, "customers.exported", "customer", 0, NULL, audit);
    json_decref(audit);
    if (rc) {
        fclose(spool);
        return rc;
    }
    fflush(spool);
    c->req->spool = spool;
    c->req->spool_len = (size_t)ftell(spool);
    c->req->status = 200;
    c->req->resp_type = "text/csv; charset=utf-8";
    text_copy(c->req->disposition, sizeof(c->req->disposition), "attachment; filename=\"customers.csv\"");
    return DB_OK;
}

/* ---- validation ---- */

struct customer_input {
    const char *name, *company, *industry, *type, *stage, *grade, *source, *region, *uscc, *address, *customer_no;
    char email[CONTACT_MAX], phone[CONTACT_MAX];
    bool has_email, has_phone, has_owner;
    int64_t owner_id;
    json_t *tags;   /* borrowed */
    json_t *attrs;  /* borrowed */
};

int customer_uscc_valid(const char *s)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    if (strlen(s) != 18)
        return 0;
    for (size_t i = 0; i < 18; i++)
        if (!strchr(alphabet, s[i]) || !s[i])
            return 0;
    return 1;
}

int customer_date_valid(const char *s)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    return !(m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static int option_allowed(json_t *options, const char *v)
{
    size_t i;
    json_t *o;
    json_array_foreach(options, i, o) {
        const char *s = json_is_string(o) ? json_string_value(o) : json_string_value(json_object_get(o, "value"));
        if (s && strcmp(s, v) == 0)
            return 1;
    }
    return 0;
}

void field_value_check(struct jf *f, const char *fk, const char *type, json_t *options, json_t *v, size_t max_chars)
{
    if (json_is_null(v))
        return;
    if (strcmp(type, "number") == 0) {
        if (!json_is_number(v))
            jf_fail(f, fk, "must be a number");
    } else if (strcmp(type, "date") == 0) {
        if (!json_is_string(v) || !customer_date_valid(json_string_value(v)))
            jf_fail(f, fk, "must be a date YYYY-MM-DD");
    } else if (strcmp(type, "select") == 0) {
        if (!json_is_string(v) || !option_allowed(options, json_string_value(v)))
            jf_fail(f, fk, "must be one of the field's options");
    } else if (strcmp(type, "multiselect") == 0) {
        size_t i;
        json_t *x;
        if (!json_is_array(v)) {
            jf_fail(f, fk, "must be an array of the field's options");
            return;
        }
        json_array_foreach(v, i, x) if (!json_is_string(x) || !option_allowed(options, json_string_value(x))) {
            jf_fail(f, fk, "must be an array of the field's options");
            return;
        }
    } else if (!json_is_string(v) || utf8_length(json_string_value(v), json_string_length(v)) > max_chars) {
        char why[64];
        snprintf(why, sizeof(why), "must be text of at most %zu characters", max_chars);
        jf_fail(f, fk, why);
    }
}

static void check_attr_value(struct jf *f, const char *key, const char *type, json_t *options, json_t *v)
{
    char fk[96];
    snprintf(fk, sizeof(fk), "attrs.%s", key);
    field_value_check(f, fk, type, options, v, 2000);
}

int customer_field_defs(struct db *db, struct db_result *out)
{
    return db_exec(db, "SELECT `key`, type, options AS options__json, required, label FROM field_defs ORDER BY position, id",
                   DBP0, out);
}

/* merged: the attrs object as it will be stored. */
void customer_attrs_check(const struct db_result *defs, struct jf *f, json_t *merged)
{
    const char *key;
    json_t *v;
    json_object_foreach(merged, key, v) {
        size_t i;
        for (i = 0; i < defs->nrows && strcmp(db_cell(defs, i, 0), key) != 0; i++)
            ;
        char fk[96];
        snprintf(fk, sizeof(fk), "attrs.%s", key);
        if (i == defs->nrows) {
            jf_fail(f, fk, "no such custom field");
            continue;
        }
        json_t *row = db_row_json(defs, i);
        check_attr_value(f, key, db_cell(defs, i, 1), json_object_get(row, "options"), v);
        json_decref(row);
    }
    for (size_t i = 0; i < defs->nrows; i++) {
        json_t *v2 = json_object_get(merged, db_cell(defs, i, 0));
        if (db_cell_i64(defs, i, 3) && (!v2 || json_is_null(v2) || (json_is_string(v2) && !json_string_length(v2)))) {
            char fk[96];
            snprintf(fk, sizeof(fk), "attrs.%s", db_cell(defs, i, 0));
            jf_fail(f, fk, "is required");
        }
    }
}

static int check_attrs(struct api_ctx *c, struct jf *f, json_t *merged)
{
    struct db_result r;
    int rc = customer_field_defs(c->db, &r);
    if (rc)
        return rc;
    customer_attrs_check(&r, f, merged);
    db_result_free(&r);
    return DB_OK;
}

/* field: the body key holding the list ("tags", or "add"/"remove" of a bulk change). */
static void check_tags(struct jf *f, const char *field, json_t *tags)
{
    jf_check_names(f, field, tags, 50, 64);
}

static int read_customer(struct api_ctx *c, struct jf *f, struct customer_input *in, bool create)
{
    jf_only(f, fields);
    in->name = jf_str(f, "name", 200, create);
    if (!create && jf_has(f, "name") && !in->name)
        jf_fail(f, "name", "must not be empty");
    const char *why = NULL, *email = jf_str(f, "email", 254, false), *phone = jf_str(f, "phone", 32, false);
    in->has_email = jf_has(f, "email");
    in->has_phone = jf_has(f, "phone");
    if (email && *email && contact_email_normalise(email, in->email, sizeof(in->email), &why) < 0)
        jf_fail(f, "email", why);
    if (phone && *phone && contact_phone_normalise(phone, in->phone, sizeof(in->phone), &why) < 0)
        jf_fail(f, "phone", why);
    in->company = jf_str(f, "company", 200, false);
    in->industry = jf_str(f, "industry", 100, false);
    in->type = jf_enum(f, "type", types, false);
    in->stage = jf_enum(f, "stage", stages, false);
    in->grade = jf_str(f, "grade", 32, false);
    in->source = jf_str(f, "source", 64, false);
    in->region = jf_str(f, "region", 100, false);
    in->address = jf_str(f, "address", 500, false);
    in->customer_no = jf_str(f, "customer_no", 32, false);
    in->uscc = jf_str(f, "uscc", 18, false);
    if (in->uscc && *in->uscc && !customer_uscc_valid(in->uscc))
        jf_fail(f, "uscc", "must be an 18-character unified social credit code");
    in->owner_id = jf_int(f, "owner_id", 1, INT64_MAX, false, &in->has_owner);
    in->tags = json_object_get(c->body, "tags");
    if (in->tags)
        check_tags(f, "tags", in->tags);
    in->attrs = json_object_get(c->body, "attrs");
    if (in->attrs && !json_is_object(in->attrs)) {
        jf_fail(f, "attrs", "must be an object of custom field values");
        in->attrs = NULL;
    }
    return in->has_owner ? crm_check_owner(c, f, "owner_id", in->owner_id) : DB_OK;
}

int customer_rule_compile(struct db *db, const char *rule, struct segment_sql *out, char *why, size_t whysz)
{
    return customer_rule_compile_with(db, rule, NULL, 0, out, why, whysz);
}

/* A rule may not name a field hidden from the caller: matching on it would reveal it. */
static int rule_field_hidden(const char *field)
{
    return fperm_access("customer", field) == FP_HIDDEN;
}

#define MAX_RULE_FIELDS 256
#define MAX_RULE_OBJFIELDS 2000

int customer_rule_compile_with(struct db *db, const char *rule, const struct segment_column *cols, size_t ncols,
                               struct segment_sql *out, char *why, size_t whysz)
{
    memset(out, 0, sizeof(*out));
    struct db_result defs, objs;
    int rc = customer_field_defs(db, &defs);
    if (rc)
        return rc;
    rc = db_exec(db, "SELECT t.type_key, f.field_key, f.id, f.type FROM object_fields f "
                     "JOIN object_types t ON t.id = f.type_id ORDER BY f.id LIMIT 2000", DBP0, &objs);
    if (rc) {
        db_result_free(&defs);
        return rc;
    }
    struct segment_field sf[MAX_RULE_FIELDS];
    struct segment_objfield *of = calloc(objs.nrows ? objs.nrows : 1, sizeof(*of));
    size_t nf = 0;
    for (; nf < defs.nrows && nf < MAX_RULE_FIELDS; nf++)
        sf[nf] = (struct segment_field){db_cell(&defs, nf, 0), db_cell(&defs, nf, 1)};
    for (size_t i = 0; of && i < objs.nrows; i++)
        of[i] = (struct segment_objfield){db_cell(&objs, i, 0), db_cell(&objs, i, 1), db_cell_i64(&objs, i, 2),
                                          db_cell(&objs, i, 3)};
    struct segment_env env = {.fields = sf, .nfields = nf, .cols = cols, .ncols = ncols, .objs = of,
                              .nobjs = of ? objs.nrows : 0, .hidden = rule_field_hidden};
    struct segment_error err;
    int ok = of ? segment_compile_env(rule, strlen(rule), &env, out, &err) : -2;
    free(of);
    db_result_free(&defs);
    db_result_free(&objs);
    if (ok == 0)
        return DB_OK;
    snprintf(why, whysz, "at %zu: %s", ok == -2 ? (size_t)0 : err.pos, ok == -2 ? "out of memory" : err.message);
    return 1;
}

int segment_exec(struct db *db, const char *head, const struct segment_sql *seg, const char *tail,
                 const struct db_param *pre, size_t npre, const struct db_param *post, size_t npost,
                 struct db_result *r)
{
    size_t nrule = seg ? seg->nparams : 0, n = npre + nrule + npost;
    struct db_param *p = calloc(n ? n : 1, sizeof(*p));
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, head);
    if (seg) {
        buf_puts(&q, "(");
        buf_puts(&q, seg->sql.data ? seg->sql.data : "FALSE");
        buf_puts(&q, ")");
    }
    buf_puts(&q, tail);
    int rc = DB_EOTHER;
    if (p && q.data) {
        if (npre)
            memcpy(p, pre, npre * sizeof(*p));
        if (nrule)
            memcpy(p + npre, seg->params, nrule * sizeof(*p));
        if (npost)
            memcpy(p + npre + nrule, post, npost * sizeof(*p));
        rc = db_exec(db, q.data, p, n, r);
    }
    free(p);
    buf_free(&q);
    return rc;
}

int crm_rule_check(struct db *db, const char *rule, struct jf *f, const char *field)
{
    struct segment_sql out;
    char why[260];
    memset(&out, 0, sizeof(out));
    int rc = customer_rule_compile(db, rule, &out, why, sizeof(why));
    segment_sql_free(&out);
    if (rc == 1)
        jf_fail(f, field, why);
    return rc == 1 ? DB_OK : rc;
}

int crm_check_owner(struct api_ctx *c, struct jf *f, const char *field, int64_t owner_id)
{
    struct db_result r;
    int rc = db_exec(c->db, "SELECT COALESCE(team_id, 0), COALESCE(region, '') FROM agents WHERE id = ? AND active = 1",
                     DBP(P_I(owner_id)), &r);
    if (rc)
        return rc;
    if (!r.nrows)
        jf_fail(f, field, "no such active agent");
    else if (owner_id != c->me.id && !scope_allows(&c->me, owner_id, db_cell_i64(&r, 0, 0), db_cell(&r, 0, 1)))
        jf_fail(f, field, "outside your data scope: you may assign records only to agents you can see");
    db_result_free(&r);
    return DB_OK;
}

int crm_written(struct api_ctx *c, const char *type, json_t *before, json_t *after)
{
    return crm_written_then(c, type, before, after, NULL);
}

int crm_written_then(struct api_ctx *c, const char *type, json_t *before, json_t *after, crm_loader reload)
{
    char kind[48];
    snprintf(kind, sizeof(kind), "%s.%s", type, before ? "updated" : "created");
    int64_t id = json_integer_value(json_object_get(after, "id"));
    /* an activity is scoped by its customer, whoever wrote it */
    json_t *owner = json_object_get(after, "customer_owner_id") ? json_object_get(after, "customer_owner_id")
                                                                 : json_object_get(after, "owner_id");
    int rc = api_audit(c, kind, type, id, before, after);
    if (!rc)
        rc = event_insert_crm(c->db, kind, json_integer_value(json_object_get(after, "customer_id")),
                              json_integer_value(owner),
                              json_string_value(json_object_get(after, "region")), json_pack("{s:O}", type, after));
    json_t *again = NULL;
    if (!rc && reload) /* the event's rules may have changed it (a new lead's owner) */
        rc = reload(c->db, NULL, id, &again);
    if (rc) {
        json_decref(after);
        return rc;
    }
    if (again) {
        json_decref(after);
        after = again;
    }
    return api_json(c, before ? 200 : 201, after);
}

/* ---- writes ---- */

int customer_company_id(struct db *db, const char *name, int64_t *id)
{
    *id = 0;
    if (!name || !*name)
        return DB_OK;
    char norm[800];
    contact_company_normalise(name, norm, sizeof(norm));
    if (!norm[0])
        text_copy(norm, sizeof(norm), name);
    /* the name as written is kept (股份有限公司 and 有限公司 are different legal names);
     * the normalised form only finds duplicates */
    int rc = db_scalar_i64(db, "SELECT id FROM companies WHERE name = ? ORDER BY id LIMIT 1", DBP(P_S(name)), 0, id);
    if (rc || *id)
        return rc;
    struct db_result r;
    rc = db_exec(db, "INSERT INTO companies (name, name_norm) VALUES (?, ?)", DBP(P_S(name), P_S(norm)), &r);
    if (!rc) {
        *id = (int64_t)r.insert_id;
        db_result_free(&r);
    }
    return rc;
}

int crm_record_event(struct db *db, const char *kind, int64_t customer, json_t *payload)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT owner_id, region FROM customers WHERE id = ?", DBP(P_I(customer)), &r);
    if (rc) {
        json_decref(payload);
        return rc;
    }
    int64_t owner = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
    char region[101] = "";
    if (r.nrows && db_cell(&r, 0, 1))
        text_copy(region, sizeof(region), db_cell(&r, 0, 1));
    db_result_free(&r);
    return event_insert_crm(db, kind, customer, owner, region, payload);
}

int customer_tag_event(struct db *db, int64_t customer, const char *tag, int added, int64_t rule_id)
{
    json_t *p = json_pack("{s:I, s:s}", "customer_id", (json_int_t)customer, "tag", tag);
    if (rule_id)
        json_object_set_new(p, "rule_id", json_integer(rule_id));
    return crm_record_event(db, added ? "customer.tagged" : "customer.untagged", customer, p);
}

/* Adds tags (replace: and removes the others); with emit, each tag the customer did not
 * have yet is a customer.tagged event, so tag.added rules run (a new customer's tags are
 * announced after its customer.created, by finish_write). */
static int set_tags(struct db *db, int64_t id, json_t *tags, int64_t actor, int replace, int emit)
{
    int rc = DB_OK;
    size_t i;
    json_t *t, *ids = json_array();
    json_array_foreach(tags, i, t) {
        struct db_result r;
        rc = db_exec(db, "INSERT INTO tags (name) VALUES (?) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
                     DBP(P_S(json_string_value(t))), &r);
        if (rc)
            break;
        int64_t tag_id = (int64_t)r.insert_id;
        db_result_free(&r);
        json_array_append_new(ids, json_integer(tag_id));
        rc = db_exec(db, "INSERT IGNORE INTO customer_tags (customer_id, tag_id, created_by) VALUES (?, ?, ?)",
                     DBP(P_I(id), P_I(tag_id), P_IOPT(actor)), &r);
        if (rc)
            break;
        uint64_t added = r.affected;
        db_result_free(&r);
        if (added && emit && (rc = customer_tag_event(db, id, json_string_value(t), 1, 0)))
            break;
    }
    char *list = rc || !replace ? NULL : json_dumps(ids, JSON_COMPACT);
    if (list)
        rc = db_exec(db, "DELETE FROM customer_tags WHERE customer_id = ? AND tag_id NOT IN (SELECT j.id FROM "
                         DB_ID_LIST_TABLE ")", DBP(P_I(id), P_S(list)), NULL);
    free(list);
    json_decref(ids);
    return rc;
}

/* Returns 1 and answers 409 when value is another customer's primary identity and
 * duplicates were not allowed; 0 when the identity was written. */
static int in_scope(struct api_ctx *c, int64_t id, int *found);

static int put_identity(struct api_ctx *c, int64_t id, const char *kind, const char *value, int replace)
{
    int64_t owner = 0;
    int rc = db_scalar_i64(c->db, "SELECT customer_id FROM customer_identities WHERE kind = ? AND value = ? "
                                  "AND is_primary = 1", DBP(P_S(kind), P_S(value)), 0, &owner);
    if (rc)
        return rc;
    if (owner == id)
        return 0;
    const char *allow = api_arg(c->req, "allow_duplicate");
    int dup_ok = allow && strcmp(allow, "1") == 0;
    if (owner && !dup_ok) {
        int visible = 0;
        if ((rc = in_scope(c, owner, &visible)))
            return rc;
        char msg[200];
        if (!visible) { /* taken, but by a customer the caller may not know about */
            snprintf(msg, sizeof(msg), "this %s belongs to a customer outside your data scope", kind);
            api_json(c, 409, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "duplicate", "message", msg, "field", kind));
            return 1;
        }
        snprintf(msg, sizeof(msg), "this %s belongs to customer %lld", kind, (long long)owner);
        api_json(c, 409, json_pack("{s:{s:s, s:s, s:I, s:s}}", "error", "code", "duplicate", "message", msg,
                                   "existing_id", (json_int_t)owner, "field", kind));
        return 1;
    }
    if (replace && (rc = db_exec(c->db, "DELETE FROM customer_identities WHERE customer_id = ? AND kind = ?",
                                 DBP(P_I(id), P_S(kind)), NULL)))
        return rc;
    rc = db_exec(c->db, "INSERT INTO customer_identities (customer_id, kind, value, is_primary) VALUES (?, ?, ?, ?)",
                 DBP(P_I(id), P_S(kind), P_S(value), owner ? P_NULL : P_I(1)), NULL);
    if (rc == DB_EDUP) { /* lost a race with another writer of the same identity */
        api_json(c, 409, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "duplicate", "message",
                                   "this identity was just taken by another customer", "field", kind));
        return 1;
    }
    return rc;
}

static json_t *merged_attrs(json_t *current, json_t *patch)
{
    json_t *m = json_is_object(current) ? json_deep_copy(current) : json_object();
    const char *k;
    json_t *v;
    void *tmp;
    if (patch)
        json_object_update(m, patch);
    json_object_foreach_safe(m, tmp, k, v) if (json_is_null(v)) json_object_del(m, k);
    return m;
}

/* A key present in the body, even as null: PATCH {"region": null} clears the field. */
static int given(const struct api_ctx *c, const char *key)
{
    return json_object_get(c->body, key) != NULL;
}

/* "" and null are both stored as NULL. */
static const char *or_null(const char *s)
{
    return s && *s ? s : NULL;
}

static int write_customer(struct api_ctx *c, int64_t id, struct customer_input *in, json_t *attrs, int created)
{
    int64_t company = 0;
    int rc = customer_company_id(c->db, in->company, &company);
    if (rc)
        return rc;
    char *attrs_s = json_dumps(attrs, JSON_COMPACT);
    rc = db_exec(c->db, "UPDATE customers SET name = COALESCE(?, name), company_id = IF(?, ?, company_id), "
                        "industry = IF(?, ?, industry), type = COALESCE(?, type), stage = COALESCE(?, stage), "
                        "grade = IF(?, ?, grade), source = IF(?, ?, source), region = IF(?, ?, region), "
                        "owner_id = IF(?, ?, owner_id), uscc = IF(?, ?, uscc), address = IF(?, ?, address), "
                        "customer_no = COALESCE(?, customer_no, CONCAT('C', LPAD(id, 6, '0'))), attrs = ? WHERE id = ?",
                 DBP(P_S(in->name), P_I(given(c, "company")), P_IOPT(company), P_I(given(c, "industry")),
                     P_S(or_null(in->industry)), P_S(in->type), P_S(in->stage), P_I(given(c, "grade")),
                     P_S(or_null(in->grade)), P_I(given(c, "source")), P_S(or_null(in->source)),
                     P_I(given(c, "region")), P_S(or_null(in->region)), P_I(in->has_owner || given(c, "owner_id")),
                     P_IOPT(in->owner_id), P_I(given(c, "uscc")), P_S(or_null(in->uscc)), P_I(given(c, "address")),
                     P_S(or_null(in->address)), P_S(or_null(in->customer_no)), P_S(attrs_s), P_I(id)),
                 NULL);
    free(attrs_s);
    if (rc == DB_EDUP) {
        api_json(c, 409, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "duplicate", "message",
                                   "customer_no is taken", "field", "customer_no"));
        return 1;
    }
    if (!rc && in->tags)
        rc = set_tags(c->db, id, in->tags, c->me.id, 1, !created);
    if (!rc && in->has_email && in->email[0])
        rc = put_identity(c, id, "email", in->email, 1);
    if (!rc && in->has_phone && in->phone[0])
        rc = put_identity(c, id, "phone", in->phone, 1);
    return rc;
}

static int finish_write(struct api_ctx *c, int64_t id, json_t *before, int created)
{
    json_t *after = NULL;
    int rc = load_customer(c, id, 0, &after);
    if (!rc)
        rc = customer_stage_changed(c->db, id, json_string_value(json_object_get(before, "stage")),
                                    json_string_value(json_object_get(after, "stage")), c->me.id,
                                    created ? "created" : "manual");
    if (!rc)
        rc = api_audit(c, created ? "customer.created" : "customer.updated", "customer", id, before, after);
    if (!rc)
        rc = customer_event(c->db, created ? "customer.created" : "customer.updated", after);
    size_t i;
    json_t *t;
    json_array_foreach(created ? json_object_get(after, "tags") : NULL, i, t) {
        if (!rc)
            rc = customer_tag_event(c->db, id, json_string_value(t), 1, 0);
    }
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, created ? 201 : 200, after);
}

int customers_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0 || api_fields_writable(c, "customer"))
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    struct customer_input in = {0};
    int rc = read_customer(c, &f, &in, true);
    json_t *attrs = merged_attrs(NULL, in.attrs);
    if (!rc)
        rc = check_attrs(c, &f, attrs);
    if (!api_checked(c, &f, &rc)) {
        json_decref(attrs);
        return rc;
    }
    if (scoped(c) && !in.has_owner) {
        in.has_owner = true;
        in.owner_id = c->me.id;
    }
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO customers (name) VALUES (?)", DBP(P_S(in.name)), &r);
    if (rc) {
        json_decref(attrs);
        return rc;
    }
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    rc = write_customer(c, id, &in, attrs, 1);
    json_decref(attrs);
    if (rc)
        return rc < 0 ? rc : 0; /* 1: a 409 was answered; the transaction rolls back */
    return finish_write(c, id, NULL, 1);
}

int customers_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0 || api_fields_writable(c, "customer"))
        return 0;
    json_t *before = NULL;
    int rc = load_customer(c, id, 1, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    /* lock the row so concurrent PATCHes of attrs do not lose each other's keys */
    rc = db_exec(c->db, "SELECT id FROM customers WHERE id = ? FOR UPDATE", DBP(P_I(id)), NULL);
    struct jf f;
    jf_init(&f, c->body);
    struct customer_input in = {0};
    if (!rc)
        rc = read_customer(c, &f, &in, false);
    json_t *attrs = merged_attrs(json_object_get(before, "attrs"), in.attrs);
    if (!rc)
        rc = check_attrs(c, &f, attrs);
    if (!api_checked(c, &f, &rc)) {
        json_decref(attrs);
        json_decref(before);
        return rc;
    }
    if (!rc && in.has_email && !in.email[0])
        rc = db_exec(c->db, "DELETE FROM customer_identities WHERE customer_id = ? AND kind = 'email'", DBP(P_I(id)), NULL);
    if (!rc && in.has_phone && !in.phone[0])
        rc = db_exec(c->db, "DELETE FROM customer_identities WHERE customer_id = ? AND kind = 'phone'", DBP(P_I(id)), NULL);
    if (!rc)
        rc = write_customer(c, id, &in, attrs, 1);
    json_decref(attrs);
    if (rc) {
        json_decref(before);
        return rc < 0 ? rc : 0;
    }
    rc = finish_write(c, id, before, 0);
    json_decref(before);
    return rc;
}

/* ---- identities and tags ---- */

static int in_scope(struct api_ctx *c, int64_t id, int *found)
{
    int64_t n = 0;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM customers c WHERE c.id = ? AND c.merged_into IS NULL"
                                  CUSTOMER_SCOPE, DBP(P_I(id), SCOPE_P(c)), 0, &n);
    *found = n > 0;
    return rc;
}

int customers_identities(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    int found = 0;
    int rc = in_scope(c, id, &found);
    if (rc || !found)
        return rc ? rc : api_not_found(c);
    return api_rows(c, "SELECT id, kind, value, is_primary IS NOT NULL AS verified__bool, created_at "
                       "FROM customer_identities WHERE customer_id = ? ORDER BY id", DBP(P_I(id)));
}

int customers_identity_add(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    int found = 0;
    int rc = in_scope(c, id, &found);
    if (rc || !found)
        return rc ? rc : api_not_found(c);
    if (api_body_object(c) < 0)
        return 0;
    static const char *const kinds[] = {"email", "phone", "chat", "external", NULL};
    static const char *const allowed[] = {"kind", "value", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    const char *kind = jf_enum(&f, "kind", kinds, true);
    const char *value = jf_str(&f, "value", 255, true), *why = NULL;
    char norm[CONTACT_MAX] = "";
    if (kind && value) {
        if (strcmp(kind, "email") == 0 && contact_email_normalise(value, norm, sizeof(norm), &why) < 0)
            jf_fail(&f, "value", why);
        else if (strcmp(kind, "phone") == 0 && contact_phone_normalise(value, norm, sizeof(norm), &why) < 0)
            jf_fail(&f, "value", why);
        else if (!norm[0])
            text_copy(norm, sizeof(norm), value);
    }
    if (!api_checked(c, &f, &rc))
        return rc;
    rc = put_identity(c, id, kind, norm, 0);
    if (rc)
        return rc < 0 ? rc : 0;
    json_t *after = json_pack("{s:s, s:s}", "kind", kind, "value", norm);
    rc = api_audit(c, "customer.identity_added", "customer", id, NULL, after);
    json_decref(after);
    if (rc)
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "SELECT id, kind, value, is_primary IS NOT NULL AS verified__bool, created_at "
                        "FROM customer_identities WHERE customer_id = ? AND kind = ? AND value = ? ORDER BY id DESC LIMIT 1",
                 DBP(P_I(id), P_S(kind), P_S(norm)), &r);
    if (rc)
        return rc;
    json_t *ident = r.nrows ? db_row_json(&r, 0) : json_object();
    db_result_free(&r);
    return api_json(c, 201, ident);
}

int customers_identity_delete(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], iid = c->req->params.id[1];
    int found = 0;
    int rc = in_scope(c, id, &found);
    if (rc || !found)
        return rc ? rc : api_not_found(c);
    struct db_result r;
    rc = db_exec(c->db, "DELETE FROM customer_identities WHERE id = ? AND customer_id = ?", DBP(P_I(iid), P_I(id)), &r);
    if (rc)
        return rc;
    uint64_t n = r.affected;
    db_result_free(&r);
    if (!n)
        return api_not_found(c);
    json_t *before = json_pack("{s:I}", "identity_id", (json_int_t)iid);
    rc = api_audit(c, "customer.identity_removed", "customer", id, before, NULL);
    json_decref(before);
    return rc ? rc : api_json(c, 204, NULL);
}

int customers_tags_add(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    int found = 0;
    int rc = in_scope(c, id, &found);
    if (rc || !found)
        return rc ? rc : api_not_found(c);
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"tags", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    json_t *tags = json_object_get(c->body, "tags");
    if (!tags)
        jf_fail(&f, "tags", "is required");
    else
        check_tags(&f, "tags", tags);
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *before = NULL;
    if ((rc = load_customer(c, id, 0, &before)) || (rc = set_tags(c->db, id, tags, c->me.id, 0, 1))) {
        json_decref(before);
        return rc;
    }
    rc = finish_write(c, id, before, 0);
    json_decref(before);
    return rc;
}

int customers_tag_delete(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    int found = 0;
    int rc = in_scope(c, id, &found);
    if (rc || !found)
        return rc ? rc : api_not_found(c);
    json_t *before = NULL;
    if ((rc = load_customer(c, id, 0, &before)))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "DELETE ct FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id "
                        "WHERE ct.customer_id = ? AND t.name = ?", DBP(P_I(id), P_S(c->req->params.str[1])), &r);
    if (rc || r.affected == 0) {
        if (!rc)
            db_result_free(&r);
        json_decref(before);
        return rc ? rc : api_not_found(c);
    }
    db_result_free(&r);
    rc = finish_write(c, id, before, 0);
    json_decref(before);
    return rc;
}

/* POST /customers/bulk-tags {"ids":[…], "add":[…], "remove":[…]}: customers outside the
 * caller's scope are skipped and listed as not_found, exactly like missing ones. */
int customers_bulk_tags(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"ids", "add", "remove", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    json_t *ids = json_object_get(c->body, "ids"), *add = json_object_get(c->body, "add");
    json_t *rem = json_object_get(c->body, "remove"), *x;
    size_t i;
    if (!json_is_array(ids) || !json_array_size(ids) || json_array_size(ids) > 1000)
        jf_fail(&f, "ids", "must be an array of 1..1000 customer ids");
    else
        json_array_foreach(ids, i, x) if (!json_is_integer(x) || json_integer_value(x) < 1) {
            jf_fail(&f, "ids", "must be an array of 1..1000 customer ids");
            break;
        }
    if (add)
        check_tags(&f, "add", add);
    if (rem)
        check_tags(&f, "remove", rem);
    if (!add && !rem)
        jf_fail(&f, "add", "give tags to add or to remove");
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *missing = json_array();
    int64_t updated = 0;
    json_array_foreach(ids, i, x) {
        int64_t id = json_integer_value(x);
        json_t *before = NULL;
        if ((rc = load_customer(c, id, 1, &before)))
            break;
        if (!before) {
            json_array_append_new(missing, json_integer(id));
            continue;
        }
        if (add)
            rc = set_tags(c->db, id, add, c->me.id, 0, 1);
        size_t k;
        json_t *t;
        if (rem)
            json_array_foreach(rem, k, t) if (!rc) rc = db_exec(c->db, "DELETE ct FROM customer_tags ct JOIN tags tg ON "
                                                                       "tg.id = ct.tag_id WHERE ct.customer_id = ? AND tg.name = ?",
                                                                DBP(P_I(id), P_S(json_string_value(t))), NULL);
        json_t *after = NULL;
        if (!rc)
            rc = load_customer(c, id, 0, &after);
        if (!rc && !json_equal(json_object_get(before, "tags"), json_object_get(after, "tags"))) {
            updated++;
            rc = api_audit(c, "customer.updated", "customer", id, before, after);
            if (!rc)
                rc = customer_event(c->db, "customer.updated", after);
        }
        json_decref(before);
        json_decref(after);
        if (rc)
            break;
    }
    if (rc) {
        json_decref(missing);
        return rc;
    }
    return api_json(c, 200, json_pack("{s:I, s:o}", "updated", (json_int_t)updated, "not_found", missing));
}

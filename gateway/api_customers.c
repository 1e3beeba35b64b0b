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
#include "gateway/lib/contact.h"
#include "gateway/lib/json_field.h"
#include "gateway/lib/text.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CUSTOMER_SELECT \
    "SELECT c.id, c.customer_no, c.name, co.name AS company, c.company_id, c.industry, c.type, c.stage, c.grade, " \
    "c.source, c.region, c.owner_id, c.uscc, c.address, c.attrs AS attrs__json, " \
    "COALESCE((SELECT JSON_ARRAYAGG(t.name ORDER BY t.name) FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id " \
    "  WHERE ct.customer_id = c.id), '[]') AS tags__json, " \
    "(SELECT i.value FROM customer_identities i WHERE i.customer_id = c.id AND i.kind = 'email' " \
    "  ORDER BY i.is_primary DESC, i.id LIMIT 1) AS email, " \
    "(SELECT i.value FROM customer_identities i WHERE i.customer_id = c.id AND i.kind = 'phone' " \
    "  ORDER BY i.is_primary DESC, i.id LIMIT 1) AS phone, " \
    "c.created_at, c.updated_at, c.last_contact_at " \
    "FROM customers c LEFT JOIN companies co ON co.id = c.company_id "

/* Parameters: scoped (0/1), me.id, me.team_id. */
#define CUSTOMER_SCOPE \
    " AND (? = 0 OR c.owner_id = ? OR c.owner_id IN (SELECT a.id FROM agents a WHERE a.team_id = ?)) "
#define SCOPE_P(c) P_I(scoped(c)), P_I((c)->me.id), P_I((c)->me.team_id)

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
    return c->me.role_bit == ROLE_SALES;
}

static int load_customer(struct api_ctx *c, int64_t id, int apply_scope, json_t **out)
{
    struct db_result r;
    int rc = db_exec(c->db, CUSTOMER_SELECT "WHERE c.id = ? AND c.merged_into IS NULL" CUSTOMER_SCOPE,
                     DBP(P_I(id), P_I(apply_scope ? scoped(c) : 0), P_I(c->me.id), P_I(c->me.team_id)), &r);
    if (rc)
        return rc;
    *out = r.nrows ? db_row_json(&r, 0) : NULL;
    db_result_free(&r);
    return DB_OK;
}

/* "%q%" with LIKE's wildcards escaped. */
static char *like_pattern(const char *q)
{
    size_t n = strlen(q);
    char *out = malloc(n * 2 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            out[o++] = '\\';
        out[o++] = q[i];
    }
    out[o++] = '%';
    out[o] = '\0';
    return out;
}

int customers_list(struct api_ctx *c)
{
    int64_t limit, offset, owner = 0, total = 0;
    if (api_paging(c, &limit, &offset) < 0 || api_arg_id(c, "owner_id", &owner) < 0)
        return 0;
    const char *q = api_arg(c->req, "q"), *tag = api_arg(c->req, "tag"), *stage = api_arg(c->req, "stage");
    if (q && !*q)
        q = NULL;
    if (tag && !*tag)
        tag = NULL;
    if (stage && !*stage)
        stage = NULL;
    if ((q && !utf8_valid(q, strlen(q))) || (tag && !utf8_valid(tag, strlen(tag))))
        return api_error(c, 400, "bad_request", "query parameters must be UTF-8");
    char *like = q ? like_pattern(q) : NULL;
    /* a phone typed as the customer wrote it finds the normalised +86… form */
    char phone[64] = "";
    const char *why;
    char *phone_like = NULL;
    if (q && contact_phone_normalise(q, phone, sizeof(phone), &why) == 0)
        phone_like = like_pattern(phone + 1);
    const char *ident_like = phone_like ? phone_like : like;
#define FILTER_P P_S(q), P_S(like), P_S(q), P_S(ident_like), P_S(tag), P_S(tag), P_S(stage), P_S(stage), \
                 P_I(owner), P_I(owner)
    struct db_result r;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM customers c WHERE c.merged_into IS NULL" CUSTOMER_SCOPE
                                  CUSTOMER_FILTER, DBP(SCOPE_P(c), FILTER_P), 0, &total);
    if (!rc)
        rc = db_exec(c->db, CUSTOMER_SELECT "WHERE c.merged_into IS NULL" CUSTOMER_SCOPE CUSTOMER_FILTER
                            "ORDER BY c.id DESC LIMIT ? OFFSET ?", DBP(SCOPE_P(c), FILTER_P, P_I(limit), P_I(offset)), &r);
#undef FILTER_P
    free(like);
    free(phone_like);
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

int customers_get(struct api_ctx *c)
{
    json_t *o = NULL;
    int rc = load_customer(c, c->req->params.id[0], 1, &o);
    if (rc)
        return rc;
    if (!o)
        return api_not_found(c);
    struct db_result r;
    rc = db_exec(c->db, "SELECT id, kind, value, is_primary IS NOT NULL AS verified__bool, created_at "
                        "FROM customer_identities WHERE customer_id = ? ORDER BY id", DBP(P_I(c->req->params.id[0])), &r);
    if (rc) {
        json_decref(o);
        return rc;
    }
    json_object_set_new(o, "identities", db_rows_json(&r));
    db_result_free(&r);
    return api_json(c, 200, o);
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

static int uscc_valid(const char *s)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    if (strlen(s) != 18)
        return 0;
    for (size_t i = 0; i < 18; i++)
        if (!strchr(alphabet, s[i]) || !s[i])
            return 0;
    return 1;
}

static int date_valid(const char *s)
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

static void check_attr_value(struct jf *f, const char *key, const char *type, json_t *options, json_t *v)
{
    char fk[96];
    snprintf(fk, sizeof(fk), "attrs.%s", key);
    if (json_is_null(v))
        return;
    if (strcmp(type, "number") == 0) {
        if (!json_is_number(v))
            jf_fail(f, fk, "must be a number");
    } else if (strcmp(type, "date") == 0) {
        if (!json_is_string(v) || !date_valid(json_string_value(v)))
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
    } else if (!json_is_string(v) || utf8_length(json_string_value(v), json_string_length(v)) > 2000) {
        jf_fail(f, fk, "must be text of at most 2000 characters");
    }
}

/* merged: the attrs object as it will be stored. */
static int check_attrs(struct api_ctx *c, struct jf *f, json_t *merged)
{
    struct db_result r;
    int rc = db_exec(c->db, "SELECT `key`, type, options AS options__json, required FROM field_defs", DBP0, &r);
    if (rc)
        return rc;
    const char *key;
    json_t *v;
    json_object_foreach(merged, key, v) {
        size_t i;
        for (i = 0; i < r.nrows && strcmp(db_cell(&r, i, 0), key) != 0; i++)
            ;
        char fk[96];
        snprintf(fk, sizeof(fk), "attrs.%s", key);
        if (i == r.nrows) {
            jf_fail(f, fk, "no such custom field");
            continue;
        }
        json_t *row = db_row_json(&r, i);
        check_attr_value(f, key, db_cell(&r, i, 1), json_object_get(row, "options"), v);
        json_decref(row);
    }
    for (size_t i = 0; i < r.nrows; i++) {
        json_t *v2 = json_object_get(merged, db_cell(&r, i, 0));
        if (db_cell_i64(&r, i, 3) && (!v2 || json_is_null(v2) || (json_is_string(v2) && !json_string_length(v2)))) {
            char fk[96];
            snprintf(fk, sizeof(fk), "attrs.%s", db_cell(&r, i, 0));
            jf_fail(f, fk, "is required");
        }
    }
    db_result_free(&r);
    return DB_OK;
}

static void check_tags(struct jf *f, json_t *tags)
{
    size_t i;
    json_t *t;
    if (!json_is_array(tags) || json_array_size(tags) > 50) {
        jf_fail(f, "tags", "must be an array of at most 50 tag names");
        return;
    }
    json_array_foreach(tags, i, t) {
        const char *s = json_string_value(t);
        if (!s || !*s || !utf8_valid(s, strlen(s)) || utf8_length(s, strlen(s)) > 64) {
            jf_fail(f, "tags", "each tag must be a name of 1..64 characters");
            return;
        }
    }
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
    if (in->uscc && *in->uscc && !uscc_valid(in->uscc))
        jf_fail(f, "uscc", "must be an 18-character unified social credit code");
    in->owner_id = jf_int(f, "owner_id", 1, INT64_MAX, false, &in->has_owner);
    in->tags = json_object_get(c->body, "tags");
    if (in->tags)
        check_tags(f, in->tags);
    in->attrs = json_object_get(c->body, "attrs");
    if (in->attrs && !json_is_object(in->attrs)) {
        jf_fail(f, "attrs", "must be an object of custom field values");
        in->attrs = NULL;
    }
    if (in->has_owner) {
        int64_t team = -1;
        int rc = db_scalar_i64(c->db, "SELECT COALESCE(team_id, 0) FROM agents WHERE id = ? AND active = 1",
                               DBP(P_I(in->owner_id)), -1, &team);
        if (rc)
            return rc;
        if (team < 0)
            jf_fail(f, "owner_id", "no such active agent");
        else if (scoped(c) && in->owner_id != c->me.id && (team == 0 || team != c->me.team_id))
            jf_fail(f, "owner_id", "sales may assign customers only within their team");
    }
    return DB_OK;
}

/* ---- writes ---- */

static int company_id_for(struct db *db, const char *name, int64_t *id)
{
    *id = 0;
    if (!name || !*name)
        return DB_OK;
    char norm[800];
    size_t o = 0;
    int space = 0;
    for (const char *p = name; *p && o + 2 < sizeof(norm); p++) {
        if (isspace((unsigned char)*p)) {
            space = o > 0;
            continue;
        }
        if (space)
            norm[o++] = ' ';
        space = 0;
        norm[o++] = (char)tolower((unsigned char)*p);
    }
    norm[o] = '\0';
    int rc = db_scalar_i64(db, "SELECT id FROM companies WHERE name_norm = ? ORDER BY id LIMIT 1", DBP(P_S(norm)), 0, id);
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

static int set_tags(struct db *db, int64_t id, json_t *tags, int64_t actor, int replace)
{
    int rc = replace ? db_exec(db, "DELETE FROM customer_tags WHERE customer_id = ?", DBP(P_I(id)), NULL) : DB_OK;
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        if (rc)
            break;
        struct db_result r;
        rc = db_exec(db, "INSERT INTO tags (name) VALUES (?) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
                     DBP(P_S(json_string_value(t))), &r);
        if (rc)
            break;
        int64_t tag_id = (int64_t)r.insert_id;
        db_result_free(&r);
        rc = db_exec(db, "INSERT IGNORE INTO customer_tags (customer_id, tag_id, created_by) VALUES (?, ?, ?)",
                     DBP(P_I(id), P_I(tag_id), P_IOPT(actor)), NULL);
    }
    return rc;
}

/* Returns 1 and answers 409 when value is another customer's primary identity and
 * duplicates were not allowed; 0 when the identity was written. */
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
        char msg[200];
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

static int write_customer(struct api_ctx *c, int64_t id, struct customer_input *in, json_t *attrs)
{
    int64_t company = 0;
    int rc = company_id_for(c->db, in->company, &company);
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
        rc = set_tags(c->db, id, in->tags, c->me.id, 1);
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
        rc = api_audit(c, created ? "customer.created" : "customer.updated", "customer", id, before, after);
    if (!rc)
        rc = api_event(c, created ? "customer.created" : "customer.updated", 0, id,
                       json_integer_value(json_object_get(after, "owner_id")), 0,
                       json_pack("{s:O}", "customer", after));
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, created ? 201 : 200, after);
}

int customers_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
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
    rc = write_customer(c, id, &in, attrs);
    json_decref(attrs);
    if (rc)
        return rc < 0 ? rc : 0; /* 1: a 409 was answered; the transaction rolls back */
    return finish_write(c, id, NULL, 1);
}

int customers_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
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
        rc = write_customer(c, id, &in, attrs);
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
        check_tags(&f, tags);
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *before = NULL;
    if ((rc = load_customer(c, id, 0, &before)) || (rc = set_tags(c->db, id, tags, c->me.id, 0))) {
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

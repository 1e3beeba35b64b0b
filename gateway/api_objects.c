/* api_objects.c — custom objects over REST (docs/objects.md): type definitions at
 * /api/v1/object-types (admin writes, everyone reads) and records at
 * /api/v1/objects/{type}.
 *
 * A record's values live twice: as JSON in object_records.data (what reads return) and as
 * one typed row per value in object_values (what filters, sorting and segment conditions
 * use, by index (field_id, v_*)). Both are rewritten together in the request's
 * transaction. A record is visible and writable exactly when its customer is in the
 * caller's data scope (scope.h); otherwise it is a 404, in lists too.
 */
#include "gateway/api_handlers.h"
#include "gateway/customers.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/objects.h"
#include "gateway/scope.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 50
#define MAX_TEXT 255 /* a text value is also its filter key (object_values.v_text) */

#define TYPE_COLUMNS                                                                                                   \
    "SELECT t.id, t.type_key AS `key`, t.label, t.label_plural, JSON_OBJECT('deal', "                                 \
    "JSON_EXTRACT(IF(t.relate_deal, 'true', 'false'), '$'), 'ticket', JSON_EXTRACT(IF(t.relate_ticket, 'true', "      \
    "'false'), '$')) AS relations__json, t.title_field, t.created_at, t.updated_at"
/* what the API shows: with the number of records */
#define TYPE_SELECT TYPE_COLUMNS ", (SELECT COUNT(*) FROM object_records r WHERE r.type_id = t.id) AS records FROM object_types t "
/* what requests about records need */
#define TYPE_DEF TYPE_COLUMNS " FROM object_types t "

#define RECORD_SELECT                                                                                                  \
    "SELECT r.id, t.type_key AS type, r.customer_id, c.name AS customer_name, r.deal_id, r.ticket_id, r.title, "      \
    "r.data AS values__json, r.created_at, r.updated_at FROM object_records r JOIN object_types t ON t.id = r.type_id " \
    "JOIN customers c ON c.id = r.customer_id "
#define RECORD_SCOPE SCOPE_WHERE("c.owner_id", "c.region")

/* ---- types ---- */

/* Gives each type of types (an array; type_id 0: every type, else that one alone) its
 * "fields" in order. They come from their own query: as a JSON_ARRAYAGG(… ORDER BY …)
 * subquery of the type's row, MariaDB built an on-disk temporary table for every execution
 * (as it did for a ticket's attachments, api_tickets.c). */
static int add_fields(struct db *db, json_t *types, int64_t type_id)
{
    size_t i;
    json_t *t;
    json_array_foreach(types, i, t) {
        json_object_set_new(t, "fields", json_array());
    }
    if (!json_array_size(types))
        return DB_OK;
#define FIELD_COLUMNS "SELECT f.type_id, f.id, f.field_key AS `key`, f.label, f.type, f.options AS options__json, " \
                      "f.required AS required__bool FROM object_fields f "
    struct db_result r;
    int rc = type_id ? db_exec(db, FIELD_COLUMNS "WHERE f.type_id = ? ORDER BY f.position, f.id", DBP(P_I(type_id)), &r)
                     : db_exec(db, FIELD_COLUMNS "ORDER BY f.position, f.id", DBP0, &r);
#undef FIELD_COLUMNS
    if (rc)
        return rc;
    for (size_t k = 0; k < r.nrows; k++) {
        int64_t owner = db_cell_i64(&r, k, 0);
        json_array_foreach(types, i, t) {
            if (json_integer_value(json_object_get(t, "id")) != owner)
                continue;
            json_t *f = db_row_json(&r, k);
            json_object_del(f, "type_id");
            json_array_append_new(json_object_get(t, "fields"), f);
            break;
        }
    }
    db_result_free(&r);
    return DB_OK;
}

/* One type's row (sql selects it by p) with its fields; *out NULL when there is none. */
static int type_row(struct db *db, const char *sql, const struct db_param *p, size_t np, json_t **out)
{
    struct db_result r;
    *out = NULL;
    int rc = db_exec(db, sql, p, np, &r);
    if (rc)
        return rc;
    json_t *rows = db_rows_json(&r);
    db_result_free(&r);
    if (json_array_size(rows) && !(rc = add_fields(db, rows, json_integer_value(json_object_get(json_array_get(rows, 0), "id")))))
        *out = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return rc;
}

static int type_load(struct db *db, const char *key, json_t **out)
{
    return type_row(db, TYPE_SELECT "WHERE t.type_key = ?", DBP(P_S(key)), out);
}

static int type_def(struct db *db, const char *key, json_t **out)
{
    return type_row(db, TYPE_DEF "WHERE t.type_key = ?", DBP(P_S(key)), out);
}

static json_t *type_field(json_t *type, const char *key)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(type, "fields"), i, f) {
        if (key && strcmp(json_string_value(json_object_get(f, "key")), key) == 0)
            return f;
    }
    return NULL;
}

static const char *fstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t fint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int key_valid(const char *k, size_t max)
{
    size_t n = k ? strlen(k) : 0;
    if (n == 0 || n > max || k[0] < 'a' || k[0] > 'z')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
            return 0;
    return 1;
}

static void check_options(struct jf *g, json_t *fd, const char *type)
{
    json_t *opts = json_object_get(fd, "options");
    int select = type && (strcmp(type, "select") == 0 || strcmp(type, "multiselect") == 0);
    if (!select) {
        if (opts && !json_is_null(opts))
            jf_fail(g, "options", "only select and multiselect fields have options");
        return;
    }
    if (!json_is_array(opts) || json_array_size(opts) == 0 || json_array_size(opts) > 100) {
        jf_fail(g, "options", "1 to 100 distinct options");
        return;
    }
    size_t i, k;
    json_t *o, *p;
    json_array_foreach(opts, i, o) {
        if (!json_is_string(o) || !json_string_length(o) || utf8_length(json_string_value(o), json_string_length(o)) > 255) {
            jf_fail(g, "options", "each option is text of 1 to 255 characters");
            return;
        }
        json_array_foreach(opts, k, p) {
            if (k < i && json_equal(o, p)) {
                jf_fail(g, "options", "options must be distinct");
                return;
            }
        }
    }
}

/* The fields array of a type definition; existing: the stored type (PATCH) whose fields
 * may not change type. */
static void check_fields(struct jf *f, json_t *fields, json_t *existing)
{
    static const char *const types[] = {"text", "number", "date", "select", "multiselect", NULL};
    static const char *const allowed[] = {"key", "label", "type", "options", "required", "id", NULL};
    if (!json_is_array(fields) || json_array_size(fields) == 0 || json_array_size(fields) > MAX_FIELDS) {
        jf_fail(f, "fields", "1 to 50 fields");
        return;
    }
    size_t i, k;
    json_t *fd, *other;
    json_array_foreach(fields, i, fd) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "fields[%zu]", i);
        if (!json_is_object(fd)) {
            jf_fail(f, prefix, "each field is an object {key, label, type}");
            continue;
        }
        struct jf g;
        jf_init(&g, fd);
        jf_only(&g, allowed);
        const char *key = fstr(fd, "key");
        if (!key_valid(key, 64))
            jf_fail(&g, "key", "a-z, 0-9 and _, starting with a letter, at most 64");
        json_array_foreach(fields, k, other) {
            if (k < i && key && fstr(other, "key") && strcmp(key, fstr(other, "key")) == 0) {
                jf_fail(&g, "key", "two fields have this key");
                break;
            }
        }
        jf_name(&g, "label", 200, true);
        const char *type = jf_enum(&g, "type", types, true);
        json_t *old = existing ? type_field(existing, key) : NULL;
        if (old && type && strcmp(type, fstr(old, "type")) != 0)
            jf_fail(&g, "type", "a field's type cannot change (add a new field instead)");
        check_options(&g, fd, type);
        if (json_object_get(fd, "required") && !json_is_boolean(json_object_get(fd, "required")))
            jf_fail(&g, "required", "true or false");
        jf_absorb(f, &g, prefix);
    }
}

/* def: the type as it will be (stored type overlaid with the body). */
static void check_type(struct jf *f, json_t *def, json_t *existing, int create)
{
    static const char *const allowed[] = {"key", "label", "label_plural", "relations", "title_field", "fields", NULL};
    jf_only(f, allowed);
    if (create && !key_valid(fstr(def, "key"), 40))
        jf_fail(f, "key", "a-z, 0-9 and _, starting with a letter, at most 40");
    if (!create && jf_has(f, "key") && !json_equal(json_object_get(f->body, "key"), json_object_get(existing, "key")))
        jf_fail(f, "key", "a type's key cannot change");
    jf_name(f, "label", 200, create);
    jf_str(f, "label_plural", 200, false);
    json_t *rel = json_object_get(def, "relations");
    if (jf_has(f, "relations")) {
        const char *k;
        json_t *v;
        int ok = json_is_object(rel);
        json_object_foreach(ok ? rel : NULL, k, v) {
            ok &= (strcmp(k, "deal") == 0 || strcmp(k, "ticket") == 0) && json_is_boolean(v);
        }
        if (!ok)
            jf_fail(f, "relations", "{\"deal\": bool, \"ticket\": bool}");
    }
    check_fields(f, json_object_get(def, "fields"), existing);
    const char *tf = fstr(def, "title_field");
    json_t *tfd = tf ? type_field(def, tf) : NULL;
    if (tf && (!tfd || (strcmp(fstr(tfd, "type"), "text") != 0 && strcmp(fstr(tfd, "type"), "select") != 0)))
        jf_fail(f, "title_field", "must name a text or select field of the type");
}

/* The stored title field: the one named, else the first text field. */
static const char *title_field_of(json_t *def)
{
    const char *tf = fstr(def, "title_field");
    if (tf && type_field(def, tf))
        return tf;
    size_t i;
    json_t *fd;
    json_array_foreach(json_object_get(def, "fields"), i, fd) {
        if (strcmp(fstr(fd, "type"), "text") == 0)
            return fstr(fd, "key");
    }
    return NULL;
}

static int write_fields(struct db *db, int64_t type_id, json_t *fields, json_t *existing)
{
    int rc = DB_OK;
    size_t i;
    json_t *fd;
    json_array_foreach(json_object_get(existing, "fields"), i, fd) {
        const char *key = fstr(fd, "key");
        int kept = 0;
        size_t k;
        json_t *n;
        json_array_foreach(fields, k, n) {
            kept |= strcmp(fstr(n, "key"), key) == 0;
        }
        if (kept || rc)
            continue;
        rc = db_exec(db, "DELETE FROM object_fields WHERE id = ?", DBP(P_I(fint(fd, "id"))), NULL);
        if (!rc) /* the record JSON forgets it too */
            rc = db_exec(db, "UPDATE object_records SET data = JSON_REMOVE(data, CONCAT('$.', ?)) WHERE type_id = ? "
                             "AND JSON_CONTAINS_PATH(data, 'one', CONCAT('$.', ?))",
                         DBP(P_S(key), P_I(type_id), P_S(key)), NULL);
    }
    json_array_foreach(fields, i, fd) {
        if (rc)
            break;
        json_t *opts = json_object_get(fd, "options");
        char *o = opts && !json_is_null(opts) ? json_dumps(opts, JSON_COMPACT) : NULL;
        rc = db_exec(db, "INSERT INTO object_fields (type_id, field_key, label, type, options, required, position) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE label = VALUES(label), "
                         "options = VALUES(options), required = VALUES(required), position = VALUES(position)",
                     DBP(P_I(type_id), P_S(fstr(fd, "key")), P_S(fstr(fd, "label")), P_S(fstr(fd, "type")), P_S(o),
                         P_I(json_is_true(json_object_get(fd, "required"))), P_I(i)),
                     NULL);
        free(o);
    }
    return rc;
}

int object_types_list(struct api_ctx *c)
{
    struct db_result r;
    int rc = db_exec(c->db, TYPE_SELECT "ORDER BY t.label, t.id", DBP0, &r);
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    if ((rc = add_fields(c->db, items, 0))) {
        json_decref(items);
        return rc;
    }
    size_t n = json_array_size(items);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)n));
}

int object_types_get(struct api_ctx *c)
{
    json_t *t = NULL;
    int rc = type_load(c->db, c->req->params.str[0], &t);
    if (rc || !t)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, t);
}

static int save_type(struct api_ctx *c, int64_t id, json_t *def, json_t *before)
{
    json_t *rel = json_object_get(def, "relations");
    const char *title = title_field_of(def);
    int rc = db_exec(c->db, "UPDATE object_types SET label = ?, label_plural = ?, relate_deal = ?, relate_ticket = ?, "
                            "title_field = ? WHERE id = ?",
                     DBP(P_S(fstr(def, "label")), P_S(fstr(def, "label_plural")),
                         P_I(json_is_true(json_object_get(rel, "deal"))), P_I(json_is_true(json_object_get(rel, "ticket"))),
                         P_S(title), P_I(id)), NULL);
    if (!rc)
        rc = write_fields(c->db, id, json_object_get(def, "fields"), before);
    if (!rc && before) /* the title field may be another one now */
        rc = db_exec(c->db, "UPDATE object_records SET title = LEFT(JSON_UNQUOTE(JSON_EXTRACT(data, CONCAT('$.', ?))), 255) "
                            "WHERE type_id = ?", DBP(P_S(title ? title : "-"), P_I(id)), NULL);
    if (rc)
        return rc;
    json_t *after = NULL;
    rc = type_row(c->db, TYPE_SELECT "WHERE t.id = ?", DBP(P_I(id)), &after);
    if (rc || !after)
        return rc ? rc : DB_EOTHER;
    rc = api_audit(c, before ? "object_type.updated" : "object_type.created", "object_type", id, before, after);
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, before ? 200 : 201, after);
}

int object_types_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    check_type(&f, c->body, NULL, 1);
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO object_types (type_key, label) VALUES (?, ?)",
                 DBP(P_S(fstr(c->body, "key")), P_S(fstr(c->body, "label"))), &r);
    if (rc == DB_EDUP)
        return api_duplicate(c, "key", "an object type with this key exists");
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return save_type(c, id, c->body, NULL);
}

int object_types_update(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    const char *key = c->req->params.str[0];
    json_t *before = NULL;
    int rc = db_exec(c->db, "SELECT id FROM object_types WHERE type_key = ? FOR UPDATE", DBP(P_S(key)), NULL);
    if (!rc)
        rc = type_load(c->db, key, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    json_t *def = jf_overlay(before, c->body);
    struct jf f;
    jf_init(&f, c->body);
    check_type(&f, def, before, 0);
    if (api_checked(c, &f, &rc))
        rc = save_type(c, fint(before, "id"), def, before);
    json_decref(def);
    json_decref(before);
    return rc;
}

int object_types_delete(struct api_ctx *c)
{
    json_t *before = NULL;
    int rc = db_exec(c->db, "SELECT id FROM object_types WHERE type_key = ? FOR UPDATE", DBP(P_S(c->req->params.str[0])),
                     NULL);
    if (!rc)
        rc = type_load(c->db, c->req->params.str[0], &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    if (fint(before, "records") > 0) {
        json_decref(before);
        return api_error(c, 409, "in_use", "the type still has records; delete them first");
    }
    rc = db_exec(c->db, "DELETE FROM object_types WHERE id = ?", DBP(P_I(fint(before, "id"))), NULL);
    if (!rc)
        rc = api_audit(c, "object_type.deleted", "object_type", fint(before, "id"), before, NULL);
    json_decref(before);
    return rc ? rc : api_json(c, 204, NULL);
}

/* ---- records ---- */

static int record_load(struct api_ctx *c, int64_t type_id, int64_t id, json_t **out)
{
    return db_row_json_of(c->db, RECORD_SELECT "WHERE r.id = ? AND r.type_id = ?" RECORD_SCOPE,
                          DBP(P_I(id), P_I(type_id), SCOPE_PARAMS(&c->me)), out);
}

/* The type named by the path, or a 404 answered (*t NULL, returns 0). */
static int path_type(struct api_ctx *c, json_t **t)
{
    int rc = type_def(c->db, c->req->params.str[0], t);
    if (!rc && !*t)
        api_error(c, 404, "not_found", "no such object type");
    return rc;
}

/* The values as they will be stored (merged over old for PATCH), checked into f. */
static json_t *check_values(struct jf *f, json_t *type, json_t *given, json_t *old)
{
    json_t *vals = old ? json_deep_copy(old) : json_object();
    if (given && !json_is_object(given)) {
        jf_fail(f, "values", "an object of field values");
        return vals;
    }
    const char *k;
    json_t *v;
    json_object_foreach(given, k, v) {
        char fk[96];
        snprintf(fk, sizeof(fk), "values.%.80s", k);
        json_t *fd = type_field(type, k);
        if (!fd) {
            jf_fail(f, fk, "no such field in this type");
            continue;
        }
        field_value_check(f, fk, fstr(fd, "type"), json_object_get(fd, "options"), v, MAX_TEXT);
        if (json_is_number(v) && (json_number_value(v) >= 1e24 || json_number_value(v) <= -1e24))
            jf_fail(f, fk, "must be a number between -10^24 and 10^24"); /* object_values.v_num */
        if (json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
            json_object_del(vals, k);
        else
            json_object_set(vals, k, v);
    }
    size_t i;
    json_t *fd;
    json_array_foreach(json_object_get(type, "fields"), i, fd) {
        if (json_is_true(json_object_get(fd, "required")) && !json_object_get(vals, fstr(fd, "key"))) {
            char fk[96];
            snprintf(fk, sizeof(fk), "values.%.80s", fstr(fd, "key"));
            jf_fail(f, fk, "required");
        }
    }
    return vals;
}

/* customer_id in the caller's scope; deal_id / ticket_id of that customer and allowed by
 * the type. */
static int check_links(struct api_ctx *c, struct jf *f, json_t *type, int64_t customer, int64_t deal, int64_t ticket)
{
    json_t *cu = NULL;
    int rc = customer ? customer_load(c->db, &c->me, customer, &cu) : DB_OK;
    if (rc)
        return rc;
    if (!cu)
        jf_fail(f, "customer_id", customer ? "no such customer in your scope" : "required");
    json_decref(cu);
    json_t *rel = json_object_get(type, "relations");
    static const struct { const char *field, *rel, *sql; } links[] = {
        {"deal_id", "deal", "SELECT COUNT(*) FROM deals WHERE id = ? AND customer_id = ?"},
        {"ticket_id", "ticket", "SELECT COUNT(*) FROM tickets WHERE id = ? AND customer_id = ?"},
    };
    int64_t ids[] = {deal, ticket};
    for (size_t i = 0; i < 2 && !rc; i++) {
        if (!ids[i])
            continue;
        if (!json_is_true(json_object_get(rel, links[i].rel))) {
            jf_fail(f, links[i].field, "this object type is not related to that kind of record");
            continue;
        }
        int64_t n = 0;
        rc = db_scalar_i64(c->db, links[i].sql, DBP(P_I(ids[i]), P_I(customer)), 0, &n);
        if (!rc && !n)
            jf_fail(f, links[i].field, "not a record of this customer");
    }
    return rc;
}

/* Rewrites the typed value rows of a record from its values. */
static int write_values(struct db *db, json_t *type, int64_t id, int64_t customer, json_t *vals)
{
    int rc = db_exec(db, "DELETE FROM object_values WHERE record_id = ?", DBP(P_I(id)), NULL);
    const char *k;
    json_t *v;
    json_object_foreach(vals, k, v) {
        json_t *fd = type_field(type, k);
        if (rc || !fd)
            continue;
        const char *t = fstr(fd, "type");
        json_t *one = json_is_array(v) ? v : NULL;
        size_t n = one ? json_array_size(one) : 1;
        for (size_t seq = 0; seq < n && !rc; seq++) {
            json_t *x = one ? json_array_get(one, seq) : v;
            char num[48] = "", text[1024] = "";
            if (json_is_number(x))
                snprintf(num, sizeof(num), "%.6f", json_number_value(x));
            if (json_is_string(x))
                utf8_truncate_copy(text, sizeof(text), json_string_value(x), 255);
            int is_num = strcmp(t, "number") == 0, is_date = strcmp(t, "date") == 0;
            rc = db_exec(db, "INSERT INTO object_values (record_id, field_id, seq, type_id, customer_id, v_text, v_num, "
                             "v_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         DBP(P_I(id), P_I(fint(fd, "id")), P_I(seq), P_I(fint(type, "id")), P_I(customer),
                             P_S(!is_num && !is_date ? text : NULL), P_S(is_num ? num : NULL), P_S(is_date ? text : NULL)),
                         NULL);
        }
    }
    return rc;
}

static int record_written(struct api_ctx *c, json_t *type, int64_t id, json_t *before, int status)
{
    json_t *after = NULL;
    int rc = db_row_json_of(c->db, RECORD_SELECT "WHERE r.id = ?", DBP(P_I(id)), &after);
    if (rc || !after)
        return rc ? rc : DB_EOTHER;
    const char *action = status == 201 ? "object.created" : "object.updated";
    rc = api_audit(c, action, fstr(type, "key"), id, before, after);
    if (!rc)
        rc = crm_record_event(c->db, action, fint(after, "customer_id"), json_pack("{s:O}", "object", after));
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, status, after);
}

static const char *title_of(json_t *type, json_t *vals, char *out, size_t size)
{
    const char *tf = fstr(type, "title_field");
    json_t *v = tf ? json_object_get(vals, tf) : NULL;
    if (!json_is_string(v))
        return NULL;
    utf8_truncate_copy(out, size, json_string_value(v), 255);
    return out;
}

/* Every text and option of the record, one per line, for ?q= (its first
 * SEARCH_TEXT_MAX characters: object_records.search_text stays in the row, so a search
 * scans rows, not pages elsewhere). */
#define SEARCH_TEXT_MAX 2000
static void search_text_of(json_t *type, json_t *vals, struct buf *out)
{
    const char *k;
    json_t *v;
    json_object_foreach(vals, k, v) {
        json_t *fd = type_field(type, k);
        const char *t = fd ? fstr(fd, "type") : "number";
        if (strcmp(t, "number") == 0 || strcmp(t, "date") == 0)
            continue;
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
            if (json_is_string(x)) {
                buf_puts(out, json_string_value(x));
                buf_puts(out, "\n");
            }
        }
    }
}

static int write_record(struct api_ctx *c, json_t *type, int64_t id, int64_t customer, int64_t deal, int64_t ticket,
                        json_t *vals)
{
    char title[1024];
    char *data = json_dumps(vals, JSON_COMPACT | JSON_SORT_KEYS);
    struct buf search;
    buf_init(&search, 0);
    search_text_of(type, vals, &search);
    char *clipped = malloc(search.len + 1);
    if (clipped)
        utf8_truncate_copy(clipped, search.len + 1, search.data ? search.data : "", SEARCH_TEXT_MAX);
    int rc = db_exec(c->db, "UPDATE object_records SET customer_id = ?, deal_id = ?, ticket_id = ?, title = ?, data = ?, "
                            "search_text = LOWER(?) WHERE id = ?",
                     DBP(P_I(customer), P_IOPT(deal), P_IOPT(ticket), P_S(title_of(type, vals, title, sizeof(title))),
                         P_S(data), P_S(clipped ? clipped : ""), P_I(id)), NULL);
    free(clipped);
    buf_free(&search);
    free(data);
    return rc ? rc : write_values(c->db, type, id, customer, vals);
}

static int64_t body_id(struct jf *f, const char *key, bool required)
{
    bool has = false;
    return jf_int(f, key, 1, INT64_MAX, required, &has);
}

int objects_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    json_t *type = NULL;
    int rc = path_type(c, &type);
    if (rc || !type)
        return rc;
    static const char *const allowed[] = {"customer_id", "deal_id", "ticket_id", "values", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    int64_t customer = body_id(&f, "customer_id", true), deal = body_id(&f, "deal_id", false),
            ticket = body_id(&f, "ticket_id", false);
    json_t *vals = check_values(&f, type, json_object_get(c->body, "values"), NULL);
    rc = customer ? check_links(c, &f, type, customer, deal, ticket) : DB_OK;
    struct db_result r;
    if (api_checked(c, &f, &rc)) {
        rc = db_exec(c->db, "INSERT INTO object_records (type_id, customer_id, data, created_by) VALUES (?, ?, '{}', ?)",
                     DBP(P_I(fint(type, "id")), P_I(customer), P_IOPT(c->me.id)), &r);
        if (!rc) {
            int64_t id = (int64_t)r.insert_id;
            db_result_free(&r);
            rc = write_record(c, type, id, customer, deal, ticket, vals);
            if (!rc)
                rc = record_written(c, type, id, NULL, 201);
        }
    }
    json_decref(vals);
    json_decref(type);
    return rc;
}

int objects_get(struct api_ctx *c)
{
    json_t *type = NULL, *rec = NULL;
    int rc = path_type(c, &type);
    if (rc || !type)
        return rc;
    rc = record_load(c, fint(type, "id"), c->req->params.id[1], &rec);
    json_decref(type);
    if (rc || !rec)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, rec);
}

int objects_update(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    json_t *type = NULL, *before = NULL;
    int rc = path_type(c, &type);
    if (rc || !type)
        return rc;
    int64_t id = c->req->params.id[1];
    rc = db_exec(c->db, "SELECT id FROM object_records WHERE id = ? FOR UPDATE", DBP(P_I(id)), NULL);
    if (!rc)
        rc = record_load(c, fint(type, "id"), id, &before);
    if (rc || !before) {
        json_decref(type);
        return rc ? rc : api_not_found(c);
    }
    static const char *const allowed[] = {"customer_id", "deal_id", "ticket_id", "values", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    int64_t customer = jf_has(&f, "customer_id") ? body_id(&f, "customer_id", true) : fint(before, "customer_id");
    int64_t deal = jf_has(&f, "deal_id") ? body_id(&f, "deal_id", false) : fint(before, "deal_id");
    int64_t ticket = jf_has(&f, "ticket_id") ? body_id(&f, "ticket_id", false) : fint(before, "ticket_id");
    json_t *vals = check_values(&f, type, json_object_get(c->body, "values"), json_object_get(before, "values"));
    rc = customer ? check_links(c, &f, type, customer, deal, ticket) : DB_OK;
    if (api_checked(c, &f, &rc)) {
        rc = write_record(c, type, id, customer, deal, ticket, vals);
        if (!rc)
            rc = record_written(c, type, id, before, 200);
    }
    json_decref(vals);
    json_decref(before);
    json_decref(type);
    return rc;
}

int objects_delete(struct api_ctx *c)
{
    json_t *type = NULL, *before = NULL;
    int rc = path_type(c, &type);
    if (rc || !type)
        return rc;
    int64_t id = c->req->params.id[1];
    rc = db_exec(c->db, "SELECT id FROM object_records WHERE id = ? FOR UPDATE", DBP(P_I(id)), NULL);
    if (!rc)
        rc = record_load(c, fint(type, "id"), id, &before);
    if (!rc && before)
        rc = db_exec(c->db, "DELETE FROM object_records WHERE id = ?", DBP(P_I(id)), NULL);
    if (!rc && before)
        rc = api_audit(c, "object.deleted", fstr(type, "key"), id, before, NULL);
    if (!rc && before)
        rc = crm_record_event(c->db, "object.deleted", fint(before, "customer_id"),
                              json_pack("{s:{s:I, s:s}}", "object", "id", (json_int_t)id, "type", fstr(type, "key")));
    int found = before != NULL;
    json_decref(before);
    json_decref(type);
    if (rc || !found)
        return rc ? rc : api_not_found(c);
    return api_json(c, 204, NULL);
}

/* ---- lists: filters over the typed value rows ----
 *
 * The statement is built from fixed fragments; every value is a parameter. Its shape is
 * chosen for the indexes (bench/objects.js): the first field filter drives, as the set of
 * matching record ids read from ix_object_values_<type> (field_id, v_*, record_id); further
 * filters are EXISTS probes on the record's value rows (primary key); customers are joined
 * only when the caller's data scope needs them; and the page's full rows are read only for
 * the ids of the page. */

#define MAX_QP 48

struct query {
    struct buf drive, drive_on, where; /* "… m STRAIGHT_JOIN ", the join's condition, " AND …" */
    int by_value;                /* the driving filter is one value row per record (not a multiselect) */
    struct db_param dp[MAX_QP], wp[MAX_QP];
    size_t nd, nw;
    char *held[2 * MAX_QP];      /* the texts the parameters point into */
    size_t nheld;
};

static int qpush(struct db_param *arr, size_t *n, struct db_param p)
{
    if (*n >= MAX_QP)
        return -1;
    arr[(*n)++] = p;
    return 0;
}

static const char *hold(struct query *q, const char *s)
{
    char *d = q->nheld < 2 * MAX_QP ? strdup(s) : NULL;
    if (d)
        q->held[q->nheld++] = d;
    return d;
}

static void query_free(struct query *q)
{
    buf_free(&q->drive);
    buf_free(&q->drive_on);
    buf_free(&q->where);
    for (size_t i = 0; i < q->nheld; i++)
        free(q->held[i]);
}

/* The right-hand side of one comparison into b/params: 0, or 1 for a bad value. */
static int rhs(struct query *q, struct buf *b, struct db_param *arr, size_t *n, const char *t, int contains,
               const char *value)
{
    if (strcmp(t, "date") == 0) {
        if (strcmp(value, "today") == 0)
            return buf_puts(b, "CURDATE()") < 0 ? -1 : 0;
        if (strncmp(value, "today", 5) == 0 && (value[5] == '+' || value[5] == '-') && value[6]) {
            int64_t days = 0;
            if (text_parse_i64(value + 6, &days) < 0 || days < 0 || days > 36500)
                return 1;
            buf_puts(b, value[5] == '+' ? "(CURDATE() + INTERVAL ? DAY)" : "(CURDATE() - INTERVAL ? DAY)");
            return qpush(arr, n, P_I(days));
        }
        if (!customer_date_valid(value))
            return 1;
        buf_puts(b, "CAST(? AS DATE)");
        return qpush(arr, n, P_S(hold(q, value)));
    }
    if (strcmp(t, "number") == 0) {
        char *end = NULL;
        if (!*value || strlen(value) > 40 || (strtod(value, &end), *end))
            return 1;
        buf_puts(b, "CAST(? AS DECIMAL(30,6))");
        return qpush(arr, n, P_S(hold(q, value)));
    }
    buf_puts(b, "?");
    if (!contains)
        return qpush(arr, n, P_S(hold(q, value)));
    char *like = text_like_pattern(value);
    int bad = like ? qpush(arr, n, P_S(hold(q, like))) : -1;
    free(like);
    return bad;
}

/* One f.KEY[.op]=value filter; 1 after answering 400. */
static int add_filter(struct api_ctx *c, struct query *q, json_t *type, const char *name, const char *value)
{
    static const struct { const char *suffix, *sql; } ops[] = {
        {".gt", " > "}, {".gte", " >= "}, {".lt", " < "}, {".lte", " <= "}, {".contains", " LIKE "},
    };
    char key[80];
    text_copy(key, sizeof(key), name + 2);
    const char *op = " = ";
    int contains = 0;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t kl = strlen(key), sl = strlen(ops[i].suffix);
        if (kl > sl && strcmp(key + kl - sl, ops[i].suffix) == 0) {
            key[kl - sl] = 0;
            op = ops[i].sql;
            contains = i == 4;
        }
    }
    char msg[200];
    json_t *fd = type_field(type, key);
    const char *t = fd ? fstr(fd, "type") : NULL;
    int ordered = strcmp(op, " = ") != 0 && !contains;
    if (!fd || (ordered && strcmp(t, "number") != 0 && strcmp(t, "date") != 0) || (contains && strcmp(t, "text") != 0)) {
        snprintf(msg, sizeof(msg), "%.80s: %s", name, !fd ? "no such field" : "this comparison does not apply to the field");
        api_error(c, 400, "bad_request", msg);
        return 1;
    }
    int first = q->drive.len == 0, multi = strcmp(t, "multiselect") == 0;
    struct buf *b = first ? &q->drive_on : &q->where;
    struct db_param *arr = first ? q->dp : q->wp;
    size_t *n = first ? &q->nd : &q->nw;
    /* the first filter drives: its value rows, one per record (a multiselect's options
     * are several rows: then the distinct record ids) */
    const char *col = strcmp(t, "number") == 0 ? "v_num" : strcmp(t, "date") == 0 ? "v_date" : "v_text";
    if (first && multi) {
        buf_puts(&q->drive, "(SELECT DISTINCT v.record_id AS id FROM object_values v WHERE v.field_id = ? AND v.");
        b = &q->drive;
    } else if (first) {
        buf_puts(&q->drive, "object_values m STRAIGHT_JOIN ");
        buf_puts(b, "m.field_id = ? AND m.");
        q->by_value = 1;
    } else {
        buf_puts(b, " AND EXISTS (SELECT 1 FROM object_values v WHERE v.record_id = r.id AND v.field_id = ? AND v.");
    }
    buf_puts(b, col);
    buf_puts(b, op);
    int bad = qpush(arr, n, P_I(fint(fd, "id")));
    if (!bad)
        bad = rhs(q, b, arr, n, t, contains, value);
    if (first && multi) {
        buf_puts(&q->drive, ") m STRAIGHT_JOIN ");
        buf_puts(&q->drive_on, "r.id = m.id");
    } else if (!first) {
        buf_puts(b, ")");
    }
    if (bad) {
        snprintf(msg, sizeof(msg), bad < 0 ? "%.80s: too many filters" : "%.80s: not a %s", name, t);
        api_error(c, 400, "bad_request", msg);
        return 1;
    }
    return 0;
}

/* The query string's filters into q; 1 after answering 400. */
static int list_filters(struct api_ctx *c, json_t *type, struct query *q)
{
    static const char *const links[] = {"customer_id", "deal_id", "ticket_id"};
    static const char *const link_sql[] = {" AND r.customer_id = ?", " AND r.deal_id = ?", " AND r.ticket_id = ?"};
    for (size_t i = 0; i < 3; i++) {
        int64_t v = 0;
        if (api_arg_id(c, links[i], &v) < 0)
            return 1;
        if (v) {
            buf_puts(&q->where, link_sql[i]);
            qpush(q->wp, &q->nw, P_I(v));
        }
    }
    const char *search = api_arg(c->req, "q");
    if (search && *search) { /* any text or option, anywhere in the value (search_text) */
        char *like = text_like_pattern(search);
        buf_puts(&q->where, " AND r.search_text LIKE LOWER(?)"); /* lower-cased both sides: a byte compare */
        qpush(q->wp, &q->nw, P_S(hold(q, like ? like : "%")));
        free(like);
    }
    for (size_t i = 0; i < c->req->nargs; i++)
        if (strncmp(c->req->args[i].name, "f.", 2) == 0 &&
            add_filter(c, q, type, c->req->args[i].name, c->req->args[i].value))
            return 1;
    return 0;
}

/* sort=KEY / -KEY: by the field's first value, then by id; default newest first. The
 * inner statement yields (id, k) and the outer one orders the page the same way. */
static int sort_of(struct api_ctx *c, json_t *type, const char **key_sql, const char **order, int64_t *field)
{
    static const char *const cols[] = {"sv.v_text", "sv.v_num", "sv.v_date"};
    const char *sort = api_arg(c->req, "sort");
    *key_sql = "NULL";
    *field = 0;
    *order = sort && strcmp(sort, "id") == 0 ? " ORDER BY id" : " ORDER BY id DESC";
    if (!sort || strcmp(sort, "id") == 0 || strcmp(sort, "-id") == 0)
        return 0;
    int desc = sort[0] == '-';
    json_t *fd = type_field(type, sort + desc);
    if (!fd) {
        char msg[160];
        snprintf(msg, sizeof(msg), "sort: no such field %.80s", sort + desc);
        api_error(c, 400, "bad_request", msg);
        return 1;
    }
    const char *t = fstr(fd, "type");
    *key_sql = cols[strcmp(t, "number") == 0 ? 1 : strcmp(t, "date") == 0 ? 2 : 0];
    *order = desc ? " ORDER BY k DESC, id DESC" : " ORDER BY k, id";
    *field = fint(fd, "id");
    return 0;
}

/* Appends the parts of a NULL-terminated list to b. */
static void puts_all(struct buf *b, const char *const *parts)
{
    for (size_t i = 0; parts[i]; i++)
        buf_puts(b, parts[i]);
}

/* The statements' shapes:
 *   no filter at all:  the type's records by (type_id, id), counted apart (index only);
 *   one value filter and nothing else: the value rows alone (covering index, already in
 *                      record order), the total from the same pass (COUNT(*) OVER ());
 *   otherwise:         the driving value rows joined to their records, the other filters
 *                      as probes, the total from the same pass.
 * Customers are joined only for a data scope narrower than "all"; the page's rows are read
 * in full for the page's ids only. */
static int run_list(struct api_ctx *c, json_t *type, struct query *q, const char *key_sql, const char *order,
                    int64_t sort_field)
{
    int64_t limit, offset, total = 0;
    if (api_paging(c, &limit, &offset) < 0)
        return 0;
    int scoped = c->me.scope != SCOPE_ALL, driven = q->drive.len > 0;
    int windowed = driven; /* driven by a value filter: the total in the same pass */
    int values_only = driven && q->by_value && !q->where.len && !sort_field;
    struct buf from, where, count, list;
    buf_init(&from, 0);
    buf_init(&where, 0);
    buf_init(&count, 0);
    buf_init(&list, 0);
    struct db_param p[2 * MAX_QP + 16];
    size_t n = 0;
    const struct db_param sp[] = {SCOPE_PARAMS(&c->me)};
    if (values_only) {
        const char *const f[] = {"object_values m", scoped ? " JOIN customers c ON c.id = m.customer_id" : "", NULL};
        const char *const w[] = {" WHERE ", q->drive_on.data, scoped ? RECORD_SCOPE : "", NULL};
        puts_all(&from, f);
        puts_all(&where, w);
        memcpy(p, q->dp, q->nd * sizeof(*p));
        n = q->nd;
    } else {
        const char *const f[] = {q->drive.data ? q->drive.data : "", "object_records r",
                                 !driven ? "" : q->by_value ? " ON r.id = m.record_id AND " : " ON ",
                                 driven ? q->drive_on.data : "",
                                 scoped ? " JOIN customers c ON c.id = r.customer_id" : "",
                                 sort_field ? " LEFT JOIN object_values sv ON sv.record_id = r.id AND sv.field_id = ? "
                                              "AND sv.seq = 0" : "", NULL};
        const char *const w[] = {" WHERE r.type_id = ?", scoped ? RECORD_SCOPE : "", q->where.data ? q->where.data : "",
                                 NULL};
        puts_all(&from, f);
        puts_all(&where, w);
        memcpy(p, q->dp, q->nd * sizeof(*p));
        n = q->nd;
        if (sort_field)
            p[n++] = P_I(sort_field);
        p[n++] = P_I(fint(type, "id"));
    }
    if (scoped) {
        memcpy(p + n, sp, sizeof(sp));
        n += sizeof(sp) / sizeof(sp[0]);
    }
    memcpy(p + n, q->wp, q->nw * sizeof(*p));
    n += q->nw;
    const char *id = values_only ? "m.record_id" : "r.id";
    const char *outer = strcmp(order, " ORDER BY id DESC") == 0 ? " ORDER BY p.id DESC"
                        : strcmp(order, " ORDER BY id") == 0    ? " ORDER BY p.id"
                        : strstr(order, "DESC")                 ? " ORDER BY p.k DESC, p.id DESC"
                                                                : " ORDER BY p.k, p.id";
    const char *const count_parts[] = {"SELECT COUNT(*) FROM ", from.data ? from.data : "", where.data ? where.data : "",
                                       NULL};
    const char *const list_parts[] = {
        "SELECT p.id, t.type_key AS type, r.customer_id, c.name AS customer_name, r.deal_id, r.ticket_id, r.title, "
        "r.data AS values__json, r.created_at, r.updated_at, p.total FROM (SELECT ", id, " AS id, ", key_sql, " AS k, ",
        windowed ? "COUNT(*) OVER ()" : "0", " AS total FROM ", from.data ? from.data : "", where.data ? where.data : "",
        order, " LIMIT ? OFFSET ?) p JOIN object_records r ON r.id = p.id JOIN object_types t ON t.id = r.type_id "
        "JOIN customers c ON c.id = r.customer_id", outer, NULL};
    puts_all(&count, count_parts);
    puts_all(&list, list_parts);
    int rc = from.data && where.data && count.data && list.data ? DB_OK : DB_EOTHER;
    p[n] = P_I(limit);
    p[n + 1] = P_I(offset);
    struct db_result r;
    if (!rc)
        rc = db_exec(c->db, list.data, p, n + 2, &r);
    /* a filtered list has its total in every row; otherwise (or past the last page) count */
    if (!rc && (!windowed || !r.nrows))
        rc = db_scalar_i64(c->db, count.data, p, n, 0, &total);
    buf_free(&from);
    buf_free(&where);
    buf_free(&count);
    buf_free(&list);
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        if (windowed)
            total = json_integer_value(json_object_get(it, "total"));
        json_object_del(it, "total");
    }
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

int objects_list(struct api_ctx *c)
{
    json_t *type = NULL;
    int rc = path_type(c, &type);
    if (rc || !type)
        return rc;
    struct query q;
    memset(&q, 0, sizeof(q));
    buf_init(&q.drive, 0);
    buf_init(&q.drive_on, 0);
    buf_init(&q.where, 0);
    const char *key_sql, *order;
    int64_t sort_field = 0;
    if (!sort_of(c, type, &key_sql, &order, &sort_field) && !list_filters(c, type, &q))
        rc = run_list(c, type, &q, key_sql, order, sort_field);
    query_free(&q);
    json_decref(type);
    return rc;
}

/* ---- the customer 360 ---- */

int objects_of_customer(struct db *db, int64_t customer_id, json_t **out)
{
    *out = NULL;
    struct db_result r;
    int rc = db_exec(db, TYPE_DEF "ORDER BY t.label, t.id", DBP0, &r);
    if (rc)
        return rc;
    json_t *types = db_rows_json(&r), *t;
    db_result_free(&r);
    if ((rc = add_fields(db, types, 0))) {
        json_decref(types);
        return rc;
    }
    for (size_t i = 0; i < json_array_size(types) && !rc; i++) {
        t = json_array_get(types, i);
        json_t *items = NULL;
        int64_t total = 0;
        rc = db_scalar_i64(db, "SELECT COUNT(*) FROM object_records WHERE customer_id = ? AND type_id = ?",
                           DBP(P_I(customer_id), P_I(fint(t, "id"))), 0, &total);
        if (!rc)
            rc = db_exec(db, RECORD_SELECT "WHERE r.customer_id = ? AND r.type_id = ? ORDER BY r.id DESC LIMIT 20",
                         DBP(P_I(customer_id), P_I(fint(t, "id"))), &r);
        if (!rc) {
            items = db_rows_json(&r);
            db_result_free(&r);
        }
        json_object_set_new(t, "type", json_string(fstr(t, "key")));
        json_object_set_new(t, "total", json_integer(total));
        json_object_set_new(t, "items", items ? items : json_array());
    }
    if (rc) {
        json_decref(types);
        return rc;
    }
    *out = types;
    return DB_OK;
}

/* api_crm_admin.c — what administrators configure in the CRM: custom fields
 * (/api/v1/field-defs), dynamic tag rules (/api/v1/tag-rules) and the audit log
 * (/api/v1/audit).
 *
 * Custom fields: key [a-z][a-z0-9_]* (at most 64; it is the name in attrs, segments and
 * templates, so it never changes), label (Chinese welcome), type text / number / date /
 * select / multiselect, options for the select types, required flag, position. Values
 * are checked on every customer write (customers.h). Deleting a field removes its values
 * from every customer in the same transaction.
 *
 * Tag rules: the rule text is compiled with the segment language (segment.h) before it
 * is stored, so a broken rule is a 422 naming the position, never a worker error later.
 *
 * Every change is audited.
 */
#include "gateway/api_handlers.h"
#include "gateway/customers.h"
#include "gateway/lib/text.h"
#include "gateway/segment.h"
#include <stdio.h>
#include <string.h>

/* ---- custom fields ---- */

#define FIELD_SELECT \
    "SELECT id, `key`, label, type, options AS options__json, required AS required__bool, position, created_at " \
    "FROM field_defs "

static const char *const field_types[] = {"text", "number", "date", "select", "multiselect", NULL};

int field_defs_list(struct api_ctx *c)
{
    return api_rows(c, FIELD_SELECT "ORDER BY position, id", DBP0);
}

static int key_valid(const char *k)
{
    size_t n = strlen(k);
    if (!n || n > 64 || k[0] < 'a' || k[0] > 'z')
        return 0;
    return strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* options: 1..200 distinct strings (or {"value","label"}) of at most 100 characters. */
static void check_options(struct jf *f, json_t *opts)
{
    size_t i, k;
    json_t *o;
    if (!json_is_array(opts) || !json_array_size(opts) || json_array_size(opts) > 200) {
        jf_fail(f, "options", "must be an array of 1..200 options");
        return;
    }
    json_array_foreach(opts, i, o) {
        const char *v = json_is_string(o) ? json_string_value(o) : json_string_value(json_object_get(o, "value"));
        if (!v || !*v || !utf8_valid(v, strlen(v)) || utf8_length(v, strlen(v)) > 100) {
            jf_fail(f, "options", "each option must be a text of 1..100 characters (or {value, label})");
            return;
        }
        for (k = 0; k < i; k++) {
            json_t *p = json_array_get(opts, k);
            const char *w = json_is_string(p) ? json_string_value(p) : json_string_value(json_object_get(p, "value"));
            if (w && strcmp(v, w) == 0) {
                jf_fail(f, "options", "options must be distinct");
                return;
            }
        }
    }
}


int field_defs_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"key", "label", "type", "options", "required", "position", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    const char *key = jf_str(&f, "key", 64, true), *label = jf_str(&f, "label", 200, true);
    const char *type = jf_enum(&f, "type", field_types, true);
    bool has_pos;
    int64_t pos = jf_int(&f, "position", -1000000, 1000000, false, &has_pos);
    bool required = jf_bool(&f, "required", false);
    json_t *opts = json_object_get(c->body, "options");
    if (key && !key_valid(key))
        jf_fail(&f, "key", "must start with a-z and hold only a-z, 0-9 and _ (at most 64)");
    if (type && (!strcmp(type, "select") || !strcmp(type, "multiselect")))
        check_options(&f, opts);
    else if (opts && !json_is_null(opts))
        jf_fail(&f, "options", "only select and multiselect fields have options");
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    char *opts_s = opts && !json_is_null(opts) ? json_dumps(opts, JSON_COMPACT) : NULL;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO field_defs (`key`, label, type, options, required, position) VALUES (?, ?, ?, ?, ?, ?)",
                 DBP(P_S(key), P_S(label), P_S(type), P_S(opts_s), P_I(required), P_I(has_pos ? pos : 0)), &r);
    free(opts_s);
    if (rc == DB_EDUP)
        return api_duplicate(c, "key", "a custom field with this key exists");
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return api_written(c, FIELD_SELECT "WHERE id = ?", "field_def", id, NULL, 201);
}

int field_defs_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = db_row_json_of(c->db, FIELD_SELECT "WHERE id = ? FOR UPDATE", DBP(P_I(id)), &before);
    if (rc)
        return rc;
    if (!before)
        return api_not_found(c);
    static const char *const allowed[] = {"label", "options", "required", "position", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    if (jf_has(&f, "key") || jf_has(&f, "type"))
        jf_fail(&f, jf_has(&f, "key") ? "key" : "type", "cannot be changed; add a new field instead");
    const char *label = jf_str(&f, "label", 200, false);
    bool has_pos;
    int64_t pos = jf_int(&f, "position", -1000000, 1000000, false, &has_pos);
    const char *type = json_string_value(json_object_get(before, "type"));
    json_t *opts = json_object_get(c->body, "options");
    if (opts && (!strcmp(type, "select") || !strcmp(type, "multiselect")))
        check_options(&f, opts);
    else if (opts)
        jf_fail(&f, "options", "only select and multiselect fields have options");
    json_t *req = json_object_get(c->body, "required");
    if (req && !json_is_boolean(req))
        jf_fail(&f, "required", "must be true or false");
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
    char *opts_s = opts ? json_dumps(opts, JSON_COMPACT) : NULL;
    rc = db_exec(c->db, "UPDATE field_defs SET label = COALESCE(?, label), options = COALESCE(?, options), "
                        "required = COALESCE(?, required), position = COALESCE(?, position) WHERE id = ?",
                 DBP(P_S(label), P_S(opts_s), req ? P_I(json_is_true(req)) : P_NULL, has_pos ? P_I(pos) : P_NULL,
                     P_I(id)), NULL);
    free(opts_s);
    if (!rc)
        rc = api_written(c, FIELD_SELECT "WHERE id = ?", "field_def", id, before, 200);
    json_decref(before);
    return rc;
}

int field_defs_delete(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    json_t *before = NULL;
    int rc = db_row_json_of(c->db, FIELD_SELECT "WHERE id = ? FOR UPDATE", DBP(P_I(id)), &before);
    if (rc)
        return rc;
    if (!before)
        return api_not_found(c);
    char path[80];
    snprintf(path, sizeof(path), "$.%s", json_string_value(json_object_get(before, "key"))); /* key_valid: [a-z0-9_] */
    rc = db_exec(c->db, "UPDATE customers SET attrs = JSON_REMOVE(attrs, ?) WHERE JSON_EXISTS(attrs, ?)",
                 DBP(P_S(path), P_S(path)), NULL);
    if (!rc)
        rc = db_exec(c->db, "DELETE FROM field_defs WHERE id = ?", DBP(P_I(id)), NULL);
    if (!rc) /* its permissions go with it (field_perms.h) */
        rc = db_exec(c->db, "DELETE FROM field_permissions WHERE object = 'customer' AND field = CONCAT('attrs.', ?)",
                     DBP(P_S(json_string_value(json_object_get(before, "key")))), NULL);
    if (!rc)
        rc = api_audit(c, "field_def.deleted", "field_def", id, before, NULL);
    json_decref(before);
    return rc ? rc : api_json(c, 204, NULL);
}

/* ---- dynamic tag rules ---- */

#define TAG_RULE_SELECT \
    "SELECT id, name, tag, event_kind, rule, notify_owner AS notify_owner__bool, enabled AS enabled__bool, fired, " \
    "created_at, updated_at FROM tag_rules "

static const char *const rule_events[] = {"schedule", "customer.created", "customer.updated", "ticket.created",
                                          "message.created", "deal.created", "deal.stage_changed",
                                          "activity.created", NULL};

static int read_tag_rule(struct api_ctx *c, struct jf *f, bool create)
{
    static const char *const allowed[] = {"name", "tag", "event_kind", "rule", "notify_owner", "enabled", NULL};
    jf_only(f, allowed);
    jf_name(f, "name", 100, create);
    jf_name(f, "tag", 64, create);
    jf_enum(f, "event_kind", rule_events, create);
    const char *rule = jf_str(f, "rule", 4000, create);
    json_t *b;
    if ((b = json_object_get(c->body, "notify_owner")) && !json_is_boolean(b))
        jf_fail(f, "notify_owner", "must be true or false");
    if ((b = json_object_get(c->body, "enabled")) && !json_is_boolean(b))
        jf_fail(f, "enabled", "must be true or false");
    return rule ? crm_rule_check(c->db, rule, f, "rule") : DB_OK;
}


int tag_rules_list(struct api_ctx *c)
{
    return api_rows(c, TAG_RULE_SELECT "ORDER BY id", DBP0);
}

static const char *bstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static struct db_param bopt(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return v ? P_I(json_is_true(v)) : P_NULL;
}

int tag_rules_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    int rc = read_tag_rule(c, &f, true);
    if (!api_checked(c, &f, &rc))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO tag_rules (name, tag, event_kind, rule, notify_owner, enabled) "
                        "VALUES (?, ?, ?, ?, COALESCE(?, 0), COALESCE(?, 1))",
                 DBP(P_S(bstr(c->body, "name")), P_S(bstr(c->body, "tag")), P_S(bstr(c->body, "event_kind")),
                     P_S(bstr(c->body, "rule")), bopt(c->body, "notify_owner"), bopt(c->body, "enabled")), &r);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return api_written(c, TAG_RULE_SELECT "WHERE id = ?", "tag_rule", id, NULL, 201);
}

int tag_rules_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = db_row_json_of(c->db, TAG_RULE_SELECT "WHERE id = ? FOR UPDATE", DBP(P_I(id)), &before);
    if (rc)
        return rc;
    if (!before)
        return api_not_found(c);
    struct jf f;
    jf_init(&f, c->body);
    rc = read_tag_rule(c, &f, false);
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
    rc = db_exec(c->db, "UPDATE tag_rules SET name = COALESCE(?, name), tag = COALESCE(?, tag), "
                        "event_kind = COALESCE(?, event_kind), rule = COALESCE(?, rule), "
                        "notify_owner = COALESCE(?, notify_owner), enabled = COALESCE(?, enabled) WHERE id = ?",
                 DBP(P_S(bstr(c->body, "name")), P_S(bstr(c->body, "tag")), P_S(bstr(c->body, "event_kind")),
                     P_S(bstr(c->body, "rule")), bopt(c->body, "notify_owner"), bopt(c->body, "enabled"), P_I(id)),
                 NULL);
    if (!rc)
        rc = api_written(c, TAG_RULE_SELECT "WHERE id = ?", "tag_rule", id, before, 200);
    json_decref(before);
    return rc;
}

int tag_rules_delete(struct api_ctx *c)
{
    return api_delete_audited(c, TAG_RULE_SELECT "WHERE id = ? FOR UPDATE", "DELETE FROM tag_rules WHERE id = ?",
                              "tag_rule");
}

/* ---- audit ---- */

int audit_list(struct api_ctx *c)
{
    int64_t limit, offset, object = 0, actor = 0, total = 0;
    if (api_paging(c, &limit, &offset) < 0 || api_arg_id(c, "object_id", &object) < 0 ||
        api_arg_id(c, "actor_id", &actor) < 0)
        return 0;
    const char *type = api_arg(c->req, "object_type");
    type = type && *type ? type : NULL;
    if (type && (!utf8_valid(type, strlen(type)) || strlen(type) > 64))
        return api_error(c, 400, "bad_request", "object_type is too long");
#define AUDIT_WHERE "WHERE (? IS NULL OR object_type = ?) AND (? = 0 OR object_id = ?) AND (? = 0 OR actor_id = ?) "
#define AUDIT_P P_S(type), P_S(type), P_I(object), P_I(object), P_I(actor), P_I(actor)
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM audit_log " AUDIT_WHERE, DBP(AUDIT_P), 0, &total);
    struct db_result r;
    if (!rc)
        rc = db_exec(c->db, "SELECT id, actor_id, actor_type, action, object_type, object_id, before_json AS before__json, "
                            "after_json AS after__json, request_id, at FROM audit_log " AUDIT_WHERE
                            "ORDER BY id DESC LIMIT ? OFFSET ?", DBP(AUDIT_P, P_I(limit), P_I(offset)), &r);
#undef AUDIT_P
#undef AUDIT_WHERE
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

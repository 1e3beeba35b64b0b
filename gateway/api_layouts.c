/* api_layouts.c — page layouts (/api/v1/layouts/{object}; contract docs/layouts.md): how
 * the console orders and groups the fields of the customer, deal and custom-object pages.
 * Everyone reads (the pages need it); admins write. A layout names each field at most once;
 * fields it does not place are shown after its groups (so a new custom field is never lost),
 * and a field that no longer exists is dropped when the layout is read. */
#include "gateway/api_handlers.h"
#include "gateway/customers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const customer_fields[] = {"name", "customer_no", "company", "industry", "type", "stage", "grade",
                                              "source", "region", "address", "uscc", "owner_id", "email", "phone",
                                              "tags", NULL};
static const char *const deal_fields[] = {"title", "amount", "currency", "stage_id", "probability", "expected_close",
                                          "payment_due", "owner_id", "win_loss_reason", "competitor", NULL};

/* The fields of object in their default order; NULL when there is no such object. */
static int fields_of(struct db *db, const char *object, json_t **out)
{
    *out = NULL;
    const char *const *fixed = strcmp(object, "customer") == 0 ? customer_fields
                               : strcmp(object, "deal") == 0   ? deal_fields
                                                               : NULL;
    struct db_result r;
    int rc;
    if (fixed) {
        json_t *a = json_array();
        for (size_t i = 0; fixed[i]; i++)
            json_array_append_new(a, json_string(fixed[i]));
        if (fixed == customer_fields) {
            if ((rc = customer_field_defs(db, &r))) {
                json_decref(a);
                return rc;
            }
            for (size_t i = 0; i < r.nrows; i++) {
                char name[96];
                snprintf(name, sizeof(name), "attrs.%.80s", db_cell(&r, i, 0));
                json_array_append_new(a, json_string(name));
            }
            db_result_free(&r);
        }
        *out = a;
        return DB_OK;
    }
    if (strncmp(object, "obj.", 4) != 0)
        return DB_OK;
    rc = db_exec(db, "SELECT f.field_key FROM object_fields f JOIN object_types t ON t.id = f.type_id "
                     "WHERE t.type_key = ? ORDER BY f.position, f.id", DBP(P_S(object + 4)), &r);
    if (rc)
        return rc;
    int64_t exists = r.nrows;
    if (!exists && (rc = db_scalar_i64(db, "SELECT COUNT(*) FROM object_types WHERE type_key = ?",
                                       DBP(P_S(object + 4)), 0, &exists)) != DB_OK) {
        db_result_free(&r);
        return rc;
    }
    if (exists) {
        *out = json_array();
        for (size_t i = 0; i < r.nrows; i++)
            json_array_append_new(*out, json_string(db_cell(&r, i, 0)));
    }
    db_result_free(&r);
    return DB_OK;
}

/* The stored groups minus vanished fields, plus an "Other" group of unplaced ones. */
static json_t *effective(json_t *groups, json_t *fields, int stored)
{
    json_t *out = json_array(), *placed = json_array(), *g;
    size_t i;
    json_array_foreach(groups, i, g) {
        json_t *keep = json_array(), *f;
        size_t k;
        json_array_foreach(json_object_get(g, "fields"), k, f) {
            if (jf_array_has(fields, json_string_value(f)) && !jf_array_has(placed, json_string_value(f))) {
                json_array_append(keep, f);
                json_array_append(placed, f);
            }
        }
        json_array_append_new(out, json_pack("{s:O, s:o}", "title", json_object_get(g, "title"), "fields", keep));
    }
    json_t *rest = json_array(), *f;
    json_array_foreach(fields, i, f) {
        if (!jf_array_has(placed, json_string_value(f)))
            json_array_append(rest, f);
    }
    if (json_array_size(rest))
        json_array_append_new(out, json_pack("{s:s, s:o}", "title", stored ? "Other 其他" : "Details 详情", "fields", rest));
    else
        json_decref(rest);
    json_decref(placed);
    return out;
}

static int answer(struct api_ctx *c, const char *object, json_t *fields, int status)
{
    json_t *row = NULL;
    int rc = db_row_json_of(c->db, "SELECT groups_json AS groups__json, updated_at FROM layouts WHERE object = ?",
                            DBP(P_S(object)), &row);
    if (rc)
        return rc;
    json_t *groups = effective(row ? json_object_get(row, "groups") : NULL, fields, row != NULL);
    json_t *out = json_pack("{s:s, s:o, s:b, s:O, s:O?}", "object", object, "groups", groups, "customised", row != NULL,
                            "fields", fields, "updated_at", row ? json_object_get(row, "updated_at") : NULL);
    json_decref(row);
    return api_json(c, status, out);
}

int layouts_get(struct api_ctx *c)
{
    const char *object = c->req->params.str[0];
    json_t *fields = NULL;
    int rc = fields_of(c->db, object, &fields);
    if (rc || !fields)
        return rc ? rc : api_error(c, 404, "not_found", "no such page (customer, deal or obj.TYPE)");
    rc = answer(c, object, fields, 200);
    json_decref(fields);
    return rc;
}

static void check_groups(struct jf *f, json_t *groups, json_t *fields)
{
    if (!json_is_array(groups) || !json_array_size(groups) || json_array_size(groups) > 20) {
        jf_fail(f, "groups", "1 to 20 groups {title, fields}");
        return;
    }
    json_t *seen = json_array(), *g;
    size_t i;
    json_array_foreach(groups, i, g) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "groups[%zu]", i);
        struct jf h;
        jf_init(&h, g);
        static const char *const keys[] = {"title", "fields", NULL};
        if (!json_is_object(g)) {
            jf_fail(f, prefix, "a group {title, fields}");
            jf_free(&h);
            continue;
        }
        jf_only(&h, keys);
        jf_name(&h, "title", 100, true);
        json_t *list = json_object_get(g, "fields"), *x;
        size_t k;
        if (!json_is_array(list))
            jf_fail(&h, "fields", "an array of field names");
        else
            json_array_foreach(list, k, x) {
                const char *name = json_string_value(x);
                if (!name || !jf_array_has(fields, name)) {
                    jf_fail(&h, "fields", "names a field this page does not have");
                    break;
                }
                if (jf_array_has(seen, name)) {
                    jf_fail(&h, "fields", "a field may be placed once");
                    break;
                }
                json_array_append(seen, x);
            }
        jf_absorb(f, &h, prefix);
    }
    json_decref(seen);
}

int layouts_put(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    const char *object = c->req->params.str[0];
    json_t *fields = NULL;
    int rc = fields_of(c->db, object, &fields);
    if (rc || !fields)
        return rc ? rc : api_error(c, 404, "not_found", "no such page (customer, deal or obj.TYPE)");
    static const char *const allowed[] = {"groups", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    json_t *groups = json_object_get(c->body, "groups");
    check_groups(&f, groups, fields);
    if (api_checked(c, &f, &rc)) {
        char *g = json_dumps(groups, JSON_COMPACT);
        rc = db_exec(c->db, "INSERT INTO layouts (object, groups_json, updated_by) VALUES (?, ?, ?) "
                            "ON DUPLICATE KEY UPDATE groups_json = VALUES(groups_json), updated_by = VALUES(updated_by)",
                     DBP(P_S(object), P_S(g), P_IOPT(c->me.id)), NULL);
        free(g);
        if (!rc)
            rc = api_audit(c, "layout.updated", "layout", 0, NULL, c->body);
        if (!rc)
            rc = answer(c, object, fields, 200);
    }
    json_decref(fields);
    return rc;
}

int layouts_delete(struct api_ctx *c)
{
    const char *object = c->req->params.str[0];
    json_t *fields = NULL;
    int rc = fields_of(c->db, object, &fields), found = fields != NULL;
    json_decref(fields);
    if (rc || !found)
        return rc ? rc : api_error(c, 404, "not_found", "no such page (customer, deal or obj.TYPE)");
    rc = db_exec(c->db, "DELETE FROM layouts WHERE object = ?", DBP(P_S(object)), NULL);
    if (!rc)
        rc = api_audit(c, "layout.reset", "layout", 0, NULL, NULL);
    return rc ? rc : api_json(c, 204, NULL);
}

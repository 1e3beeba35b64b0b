/* api_field_perms.c — the field-permission matrix (/api/v1/field-permissions, admin;
 * contract docs/field-permissions.md). GET answers every row and the catalogue of fields a
 * row may name; PUT replaces the whole matrix in one transaction, audits it, and emits
 * field_permissions.updated so every gateway process's event tailer reloads its copy. */
#include "gateway/api_handlers.h"
#include "gateway/customers.h"
#include "gateway/field_perms.h"
#include <stdio.h>
#include <string.h>

static json_t *catalogue(const struct db_result *defs)
{
    json_t *cu = json_array(), *deal = json_array();
    for (size_t i = 0; fperm_customer_fields[i]; i++)
        json_array_append_new(cu, json_string(fperm_customer_fields[i]));
    for (size_t i = 0; i < defs->nrows; i++) {
        char name[96];
        snprintf(name, sizeof(name), "attrs.%.80s", db_cell(defs, i, 0));
        json_array_append_new(cu, json_string(name));
    }
    for (size_t i = 0; fperm_deal_fields[i]; i++)
        json_array_append_new(deal, json_string(fperm_deal_fields[i]));
    return json_pack("{s:o, s:o}", "customer", cu, "deal", deal);
}

static int answer(struct api_ctx *c, int status)
{
    struct db_result defs, r;
    int rc = customer_field_defs(c->db, &defs);
    if (rc)
        return rc;
    rc = db_exec(c->db, "SELECT role, object, field, access FROM field_permissions ORDER BY role, object, field", DBP0, &r);
    if (rc) {
        db_result_free(&defs);
        return rc;
    }
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    json_t *cat = catalogue(&defs);
    db_result_free(&defs);
    return api_json(c, status, json_pack("{s:o, s:o, s:I}", "items", items, "catalogue", cat, "total",
                                          (json_int_t)json_array_size(items)));
}

int field_perms_get(struct api_ctx *c)
{
    return answer(c, 200);
}

int field_perms_put(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"items", NULL};
    static const char *const roles[] = {"manager", "agent", "sales", "marketer", NULL};
    static const char *const objects[] = {"customer", "deal", NULL};
    static const char *const accesses[] = {"hidden", "read", NULL};
    static const char *const keys[] = {"role", "object", "field", "access", NULL};
    struct db_result defs;
    int rc = customer_field_defs(c->db, &defs);
    if (rc)
        return rc;
    json_t *cat = catalogue(&defs);
    db_result_free(&defs);
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    json_t *items = json_object_get(c->body, "items"), *x, *y;
    size_t i, k;
    if (!json_is_array(items) || json_array_size(items) > 2000)
        jf_fail(&f, "items", "an array of at most 2000 {role, object, field, access}");
    else
        json_array_foreach(items, i, x) {
            char prefix[32];
            snprintf(prefix, sizeof(prefix), "items[%zu]", i);
            struct jf g;
            jf_init(&g, x);
            if (!json_is_object(x)) {
                jf_fail(&f, prefix, "an object {role, object, field, access}");
                jf_free(&g);
                continue;
            }
            jf_only(&g, keys);
            jf_enum(&g, "role", roles, true);
            const char *obj = jf_enum(&g, "object", objects, true);
            jf_enum(&g, "access", accesses, true);
            const char *field = json_string_value(json_object_get(x, "field"));
            if (obj && !jf_array_has(json_object_get(cat, obj), field))
                jf_fail(&g, "field", "not a field permissions can name (see catalogue)");
            json_array_foreach(items, k, y) {
                if (k < i && json_equal(json_object_get(x, "role"), json_object_get(y, "role")) &&
                    json_equal(json_object_get(x, "object"), json_object_get(y, "object")) &&
                    json_equal(json_object_get(x, "field"), json_object_get(y, "field"))) {
                    jf_fail(&g, "field", "listed twice for this role");
                    break;
                }
            }
            jf_absorb(&f, &g, prefix);
        }
    json_decref(cat);
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *before = NULL;
    struct db_result r;
    rc = db_exec(c->db, "SELECT role, object, field, access FROM field_permissions ORDER BY role, object, field FOR UPDATE",
                 DBP0, &r);
    if (!rc) {
        before = db_rows_json(&r);
        db_result_free(&r);
        rc = db_exec(c->db, "DELETE FROM field_permissions", DBP0, NULL);
    }
    json_array_foreach(items, i, x) {
        if (rc)
            break;
        rc = db_exec(c->db, "INSERT INTO field_permissions (role, object, field, access, updated_by) VALUES (?, ?, ?, ?, ?)",
                     DBP(P_S(json_string_value(json_object_get(x, "role"))),
                         P_S(json_string_value(json_object_get(x, "object"))),
                         P_S(json_string_value(json_object_get(x, "field"))),
                         P_S(json_string_value(json_object_get(x, "access"))), P_IOPT(c->me.id)), NULL);
    }
    if (!rc)
        rc = api_audit(c, "field_permissions.updated", "field_permissions", 0, before, items);
    json_decref(before);
    if (!rc)
        rc = api_event(c, "field_permissions.updated", 0, 0, 0, 0, json_pack("{s:I}", "rows", (json_int_t)json_array_size(items)));
    return rc ? rc : answer(c, 200);
}

/* GET /field-permissions/mine: what the caller's role may not edit, for the console to
 * show read-only fields as such ({"customer": {"uscc": "read"}, "deal": {...}}). */
int field_perms_mine(struct api_ctx *c)
{
    json_t *out = json_pack("{s:{}, s:{}}", "customer", "deal");
    if (fperm_role_index(c->me.role) < 0)
        return api_json(c, 200, out);
    struct db_result r;
    int rc = db_exec(c->db, "SELECT object, field, access FROM field_permissions WHERE role = ?", DBP(P_S(c->me.role)),
                     &r);
    if (rc) {
        json_decref(out);
        return rc;
    }
    for (size_t i = 0; i < r.nrows; i++)
        json_object_set_new(json_object_get(out, db_cell(&r, i, 0)), db_cell(&r, i, 1), json_string(db_cell(&r, i, 2)));
    db_result_free(&r);
    return api_json(c, 200, out);
}

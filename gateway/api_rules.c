/* api_rules.c — the rule designer's API (/api/v1/rules, admin; contract docs/rules.md):
 * rules with their versions, dry runs against a chosen record, and the firing log.
 *
 * Every change that alters what a rule does (name, description, trigger, conditions,
 * actions, the enabled switch) is a new version, kept in rule_versions; a firing records
 * the version that ran. A dry run executes the rule for real inside a savepoint that is
 * rolled back before the answer, so it shows exactly what would happen — including the
 * rules its actions would set off — and leaves nothing behind.
 */
#include "gateway/api_handlers.h"
#include "gateway/rules.h"
#include <string.h>

#define RULE_SELECT                                                                                                    \
    "SELECT r.id, r.name, r.description, r.trigger_kind AS `trigger`, r.schedule_record, r.conditions, "               \
    "r.actions AS actions__json, r.position, r.enabled AS enabled__bool, r.version, r.system_key, "                    \
    "(SELECT COUNT(*) FROM rule_firings f WHERE f.rule_id = r.id AND f.outcome IN ('done', 'held')) AS fired, "        \
    "(SELECT MAX(f.created_at) FROM rule_firings f WHERE f.rule_id = r.id) AS last_fired_at, r.created_at, "           \
    "r.updated_at FROM rules r "

#define FIRING_SELECT                                                                                                  \
    "SELECT f.id, f.rule_id, r.name AS rule_name, f.rule_version, f.trigger_kind AS `trigger`, f.event_id, "           \
    "f.record_type, f.record_id, f.outcome, f.reason, f.actions AS actions__json, f.depth, f.created_at "              \
    "FROM rule_firings f JOIN rules r ON r.id = f.rule_id "

static const char *const rule_fields[] = {"name", "description", "trigger", "schedule_record", "conditions",
                                          "actions", "position", "enabled", NULL};

/* def is the rule as it will be (jf_overlay of the stored one and the body), checked as a
 * whole: a new trigger changes what the conditions and actions may name. */
static int check_rule(struct api_ctx *c, struct jf *f, json_t *def, bool create)
{
    static const char *const records[] = {"customer", "deal", NULL};
    jf_only(f, rule_fields);
    jf_name(f, "name", 200, create);
    jf_str(f, "description", 2000, false);
    bool has = false;
    jf_int(f, "position", -1000000, 1000000, false, &has);
    if (jf_has(f, "enabled") && !json_is_boolean(json_object_get(c->body, "enabled")))
        jf_fail(f, "enabled", "true or false");
    if (jf_has(f, "schedule_record") && !json_is_null(json_object_get(c->body, "schedule_record")))
        jf_enum(f, "schedule_record", records, false);
    json_t *cond = json_object_get(def, "conditions");
    if (cond && !json_is_null(cond) && (!json_is_string(cond) || strlen(json_string_value(cond)) > 4000))
        jf_fail(f, "conditions", "a rule of at most 4000 bytes");
    const char *trigger = json_string_value(json_object_get(def, "trigger"));
    if (!trigger)
        jf_fail(f, "trigger", "required");
    if (!json_object_get(def, "actions"))
        jf_fail(f, "actions", "required");
    else if (json_is_array(json_object_get(def, "actions")) && !json_array_size(json_object_get(def, "actions")))
        jf_fail(f, "actions", "at least one action");
    return rules_check(c->db, f, trigger, json_string_value(json_object_get(def, "schedule_record")),
                       json_string_value(cond), json_object_get(def, "actions"));
}

static int save_version(struct api_ctx *c, int64_t id)
{
    return db_exec(c->db, "INSERT INTO rule_versions (rule_id, version, name, description, trigger_kind, schedule_record, "
                          "conditions, actions, enabled, changed_by) SELECT id, version, name, description, trigger_kind, "
                          "schedule_record, conditions, actions, enabled, ? FROM rules WHERE id = ?",
                   DBP(P_IOPT(c->me.id), P_I(id)), NULL);
}

int rules_list(struct api_ctx *c)
{
    const char *trigger = api_arg(c->req, "trigger");
    return api_rows(c, RULE_SELECT "WHERE (? IS NULL OR r.trigger_kind = ?) ORDER BY r.trigger_kind, r.position, r.id",
                    DBP(P_S(trigger), P_S(trigger)));
}

int rules_get(struct api_ctx *c)
{
    json_t *o = NULL;
    int rc = db_row_json_of(c->db, RULE_SELECT "WHERE r.id = ?", DBP(P_I(c->req->params.id[0])), &o);
    if (rc || !o)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, o);
}

int rules_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    json_t *def = jf_overlay(NULL, c->body);
    int rc = check_rule(c, &f, def, true);
    if (!api_checked(c, &f, &rc)) {
        json_decref(def);
        return rc;
    }
    char *actions = json_dumps(json_object_get(def, "actions"), JSON_COMPACT);
    const char *cond = json_string_value(json_object_get(def, "conditions"));
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO rules (name, description, trigger_kind, schedule_record, conditions, actions, "
                        "position, enabled, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 DBP(P_S(json_string_value(json_object_get(def, "name"))),
                     P_S(json_string_value(json_object_get(def, "description"))),
                     P_S(json_string_value(json_object_get(def, "trigger"))),
                     P_S(json_string_value(json_object_get(def, "schedule_record"))), P_S(cond ? cond : ""), P_S(actions),
                     P_I(json_integer_value(json_object_get(def, "position"))),
                     P_I(json_is_true(json_object_get(def, "enabled"))), P_IOPT(c->me.id)),
                 &r);
    free(actions);
    json_decref(def);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    rc = save_version(c, id);
    return rc ? rc : api_written(c, RULE_SELECT "WHERE r.id = ?", "rule", id, NULL, 201);
}

/* Writes def over rule id; a new version when what the rule does changed. */
static int write_rule(struct api_ctx *c, int64_t id, json_t *before, json_t *def)
{
    static const char *const versioned[] = {"name", "trigger", "schedule_record", "conditions", "actions", "enabled",
                                            NULL};
    int changed = 0;
    for (size_t i = 0; versioned[i]; i++) {
        json_t *a = json_object_get(before, versioned[i]), *b = json_object_get(def, versioned[i]);
        if (!json_equal(a ? a : json_null(), b ? b : json_null()))
            changed = 1;
    }
    char *actions = json_dumps(json_object_get(def, "actions"), JSON_COMPACT);
    const char *cond = json_string_value(json_object_get(def, "conditions"));
    int rc = db_exec(c->db, "UPDATE rules SET name = ?, description = ?, trigger_kind = ?, schedule_record = ?, "
                            "conditions = ?, actions = ?, position = ?, enabled = ?, version = version + ? WHERE id = ?",
                     DBP(P_S(json_string_value(json_object_get(def, "name"))),
                         P_S(json_string_value(json_object_get(def, "description"))),
                         P_S(json_string_value(json_object_get(def, "trigger"))),
                         P_S(json_string_value(json_object_get(def, "schedule_record"))), P_S(cond ? cond : ""),
                         P_S(actions), P_I(json_integer_value(json_object_get(def, "position"))),
                         P_I(json_is_true(json_object_get(def, "enabled"))), P_I(changed), P_I(id)),
                     NULL);
    free(actions);
    if (!rc && changed)
        rc = save_version(c, id);
    return rc ? rc : api_written(c, RULE_SELECT "WHERE r.id = ?", "rule", id, before, 200);
}

static int load_locked(struct api_ctx *c, int64_t id, json_t **before)
{
    int rc = db_exec(c->db, "SELECT id FROM rules WHERE id = ? FOR UPDATE", DBP(P_I(id)), NULL);
    return rc ? rc : db_row_json_of(c->db, RULE_SELECT "WHERE r.id = ?", DBP(P_I(id)), before);
}

int rules_update(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    int64_t id = c->req->params.id[0];
    json_t *before = NULL;
    int rc = load_locked(c, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    struct jf f;
    jf_init(&f, c->body);
    json_t *def = jf_overlay(before, c->body);
    rc = check_rule(c, &f, def, false);
    if (api_checked(c, &f, &rc))
        rc = write_rule(c, id, before, def);
    json_decref(def);
    json_decref(before);
    return rc;
}

int rules_delete(struct api_ctx *c)
{
    return api_delete_audited(c, RULE_SELECT "WHERE r.id = ? FOR UPDATE", "DELETE FROM rules WHERE id = ?", "rule");
}

int rules_versions(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], n = 0;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM rules WHERE id = ?", DBP(P_I(id)), 0, &n);
    if (rc || !n)
        return rc ? rc : api_not_found(c);
    return api_rows(c, "SELECT v.version, v.name, v.description, v.trigger_kind AS `trigger`, v.schedule_record, "
                       "v.conditions, v.actions AS actions__json, v.enabled AS enabled__bool, v.changed_by, "
                       "a.name AS changed_by_name, v.changed_at FROM rule_versions v LEFT JOIN agents a ON a.id = v.changed_by "
                       "WHERE v.rule_id = ? ORDER BY v.version DESC",
                    DBP(P_I(id)));
}

/* POST /rules/{id}/versions/{v}/restore: version v (its switch included) becomes the
 * current one, as a new version; checked again, since fields it names may be gone. */
int rules_restore(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], v = c->req->params.id[1];
    json_t *before = NULL, *old = NULL;
    int rc = load_locked(c, id, &before);
    if (!rc && before)
        rc = db_row_json_of(c->db, "SELECT name, description, trigger_kind AS `trigger`, schedule_record, conditions, "
                                   "actions AS actions__json, enabled AS enabled__bool FROM rule_versions "
                                   "WHERE rule_id = ? AND version = ?",
                            DBP(P_I(id), P_I(v)), &old);
    if (rc || !before || !old) {
        json_decref(before);
        return rc ? rc : api_not_found(c);
    }
    json_t *def = jf_overlay(before, old);
    struct jf f;
    jf_init(&f, old);
    rc = rules_check(c->db, &f, json_string_value(json_object_get(def, "trigger")),
                     json_string_value(json_object_get(def, "schedule_record")),
                     json_string_value(json_object_get(def, "conditions")), json_object_get(def, "actions"));
    if (api_checked(c, &f, &rc))
        rc = write_rule(c, id, before, def);
    json_decref(def);
    json_decref(old);
    json_decref(before);
    return rc;
}

/* Runs the dry run inside a savepoint and answers what it saw. */
static int dry_run(struct api_ctx *c, json_t *def, int64_t record)
{
    int rc = db_exec(c->db, "SAVEPOINT sb_dry_run", DBP0, NULL);
    json_t *out = NULL;
    if (!rc)
        rc = rules_dry_run(c->db, def, record, c->me.id, &out);
    int undo = rc == DB_ERETRY || rc == DB_EGONE ? DB_OK : db_exec(c->db, "ROLLBACK TO SAVEPOINT sb_dry_run", DBP0, NULL);
    if (rc < 0 || undo) {
        json_decref(out);
        return rc < 0 ? rc : undo;
    }
    if (rc == 1)
        return api_error(c, 404, "not_found", "no such record for this trigger");
    return api_json(c, 200, out);
}

static int64_t record_arg(struct jf *f)
{
    bool has = false;
    return jf_int(f, "record_id", 1, INT64_MAX, true, &has);
}

int rules_test_draft(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"rule", "record_id", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    int64_t record = record_arg(&f);
    json_t *rule = json_object_get(c->body, "rule");
    int rc = DB_OK;
    if (!json_is_object(rule)) {
        jf_fail(&f, "rule", "the rule to try: {trigger, conditions, actions}");
    } else {
        struct jf g;
        jf_init(&g, rule);
        const char *trigger = json_string_value(json_object_get(rule, "trigger"));
        if (!trigger)
            jf_fail(&g, "trigger", "required");
        if (!json_is_array(json_object_get(rule, "actions")))
            jf_fail(&g, "actions", "required");
        rc = rules_check(c->db, &g, trigger, json_string_value(json_object_get(rule, "schedule_record")),
                         json_string_value(json_object_get(rule, "conditions")), json_object_get(rule, "actions"));
        jf_absorb(&f, &g, "rule");
    }
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *def = json_deep_copy(rule);
    json_object_del(def, "id"); /* a draft: nothing is logged against a stored rule */
    rc = dry_run(c, def, record);
    json_decref(def);
    return rc;
}

int rules_test(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"record_id", NULL};
    json_t *def = NULL;
    int rc = db_row_json_of(c->db, RULE_SELECT "WHERE r.id = ?", DBP(P_I(c->req->params.id[0])), &def);
    if (rc || !def)
        return rc ? rc : api_not_found(c);
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    int64_t record = record_arg(&f);
    if (api_checked(c, &f, &rc))
        rc = dry_run(c, def, record);
    json_decref(def);
    return rc;
}

int rules_firings(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0], n = 0;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM rules WHERE id = ?", DBP(P_I(id)), 0, &n);
    if (rc || !n)
        return rc ? rc : api_not_found(c);
    return api_paged(c, "SELECT COUNT(*) FROM rule_firings f WHERE f.rule_id = ?",
                     FIRING_SELECT "WHERE f.rule_id = ? ORDER BY f.id DESC LIMIT ? OFFSET ?", DBP(P_I(id)));
}

int rule_firings_list(struct api_ctx *c)
{
    static const char *const kinds[] = {"customer", "lead", "deal", "ticket", "campaign", NULL};
    const char *type = api_arg(c->req, "record_type");
    int64_t record = 0;
    if (api_arg_id(c, "record_id", &record) < 0)
        return 0;
    int ok = !type;
    for (size_t i = 0; type && kinds[i]; i++)
        ok |= strcmp(type, kinds[i]) == 0;
    if (!ok)
        return api_error(c, 400, "bad_request", "record_type is customer, lead, deal, ticket or campaign");
    return api_paged(c,
                     "SELECT COUNT(*) FROM rule_firings f WHERE (? IS NULL OR f.record_type = ?) "
                     "AND (? = 0 OR f.record_id = ?)",
                     FIRING_SELECT "WHERE (? IS NULL OR f.record_type = ?) AND (? = 0 OR f.record_id = ?) "
                                   "ORDER BY f.id DESC LIMIT ? OFFSET ?",
                     DBP(P_S(type), P_S(type), P_I(record), P_I(record)));
}

/* api_routing.c — routing rules, SLA policies and the routing settings of teams (issue
 * 7), for admins (managers read). Rules are JSON documents validated field by field: a
 * bad rule is refused with 422 naming the field and changes nothing. The default rule
 * cannot be deleted or given conditions (it must always match). Every change is audited;
 * the router reads rules fresh for each ticket it classifies, so a change applies to the
 * next ticket at once. */
#include "gateway/api_handlers.h"
#include "gateway/lib/json_field.h"
#include "gateway/lib/text.h"
#include <stdlib.h>
#include <string.h>

#define RULE_SELECT \
    "SELECT r.id, r.position, r.name, r.enabled AS enabled__bool, r.is_default AS is_default__bool, " \
    "r.match_json AS `match__json`, r.required_skills AS required_skills__json, " \
    "r.optional_skills AS optional_skills__json, r.team_id, r.priority, r.created_at, r.updated_at " \
    "FROM routing_rules r "

static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};
static const char *const channels[] = {"chat", "email", "sms", "phone", "web", NULL};

static int load_rule(struct db *db, int64_t id, json_t **out)
{
    struct db_result r;
    int rc = db_exec(db, RULE_SELECT "WHERE r.id = ?", DBP(P_I(id)), &r);
    if (rc)
        return rc;
    *out = r.nrows ? db_row_json(&r, 0) : NULL;
    db_result_free(&r);
    return DB_OK;
}

int routing_rules_list(struct api_ctx *c)
{
    return api_rows(c, RULE_SELECT "ORDER BY r.is_default, r.position, r.id", DBP0);
}

static int strings_ok(json_t *a, size_t max_items, size_t max_len, const char *const *choices)
{
    size_t i;
    json_t *v;
    if (!json_is_array(a) || json_array_size(a) > max_items)
        return 0;
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        if (!s || !*s || strlen(s) > max_len)
            return 0;
        if (choices) {
            int hit = 0;
            for (size_t k = 0; choices[k]; k++)
                hit |= strcmp(s, choices[k]) == 0;
            if (!hit)
                return 0;
        }
    }
    return 1;
}

static void check_match(struct jf *f, json_t *m)
{
    static const char *const keys[] = {"channels", "mailbox_ids", "keywords", "tags", "languages", NULL};
    static const char *const languages[] = {"zh", "en", NULL};
    const char *k;
    json_t *v;
    if (!json_is_object(m)) {
        jf_fail(f, "match", "must be an object of channels, mailbox_ids, keywords, tags, languages");
        return;
    }
    json_object_foreach(m, k, v) {
        int known = 0;
        for (size_t i = 0; keys[i]; i++)
            known |= strcmp(k, keys[i]) == 0;
        if (!known) {
            jf_fail(f, "match", "only channels, mailbox_ids, keywords, tags and languages may be given");
            return;
        }
    }
    if ((v = json_object_get(m, "channels")) && !strings_ok(v, 5, 8, channels))
        jf_fail(f, "match", "channels: an array of chat, email, sms, phone, web");
    if ((v = json_object_get(m, "keywords")) && !strings_ok(v, 100, 100, NULL))
        jf_fail(f, "match", "keywords: at most 100 non-empty strings of up to 100 characters");
    if ((v = json_object_get(m, "tags")) && !strings_ok(v, 50, 64, NULL))
        jf_fail(f, "match", "tags: at most 50 tag names");
    if ((v = json_object_get(m, "languages")) && !strings_ok(v, 2, 2, languages))
        jf_fail(f, "match", "languages: zh and/or en");
    if ((v = json_object_get(m, "mailbox_ids"))) {
        size_t i;
        json_t *x;
        int ok = json_is_array(v) && json_array_size(v) <= 50;
        json_array_foreach(v, i, x) ok &= json_is_integer(x) && json_integer_value(x) > 0;
        if (!ok)
            jf_fail(f, "match", "mailbox_ids: an array of mailbox ids");
    }
}

static void check_skills(struct jf *f, const char *key, json_t *a)
{
    size_t i;
    json_t *s;
    int ok = json_is_array(a) && json_array_size(a) <= 8;
    json_array_foreach(a, i, s) {
        const char *name = json_string_value(json_object_get(s, "skill"));
        json_t *lvl = json_object_get(s, "min_level");
        ok &= json_is_object(s) && json_object_size(s) <= 2 && name && *name && strlen(name) <= 64 &&
              (!lvl || (json_is_integer(lvl) && json_integer_value(lvl) >= 1 && json_integer_value(lvl) <= 10));
    }
    if (!ok)
        jf_fail(f, key, "an array of at most 8 {\"skill\": name, \"min_level\": 1..10}");
}

struct rule_in {
    const char *name, *priority;
    int64_t position, team;
    bool has_position, has_team, enabled, clear_team, clear_priority; /* null clears */
    char *match, *required, *optional; /* JSON text, owned */
};

static void rule_in_free(struct rule_in *in)
{
    free(in->match);
    free(in->required);
    free(in->optional);
}

static char *dump_checked(struct jf *f, const char *key, void (*check)(struct jf *, const char *, json_t *))
{
    json_t *v = json_object_get(f->body, key);
    if (!v)
        return NULL;
    check(f, key, v);
    return json_dumps(v, JSON_COMPACT);
}

static void check_match_key(struct jf *f, const char *key, json_t *v)
{
    (void)key;
    check_match(f, v);
}

static int read_rule(struct api_ctx *c, struct jf *f, struct rule_in *in, bool create, bool is_default)
{
    static const char *const allowed[] = {"name", "position", "enabled", "match", "required_skills", "optional_skills",
                                          "team_id", "priority", NULL};
    memset(in, 0, sizeof(*in));
    jf_init(f, c->body);
    jf_only(f, allowed);
    in->name = jf_str(f, "name", 100, create);
    if (in->name && !*in->name)
        jf_fail(f, "name", "must not be empty");
    in->position = jf_int(f, "position", 0, 1000000, false, &in->has_position);
    in->enabled = jf_bool(f, "enabled", true);
    in->clear_priority = json_is_null(json_object_get(c->body, "priority"));
    in->clear_team = json_is_null(json_object_get(c->body, "team_id"));
    if (!in->clear_priority)
        in->priority = jf_enum(f, "priority", priorities, false);
    if (!in->clear_team)
        in->team = jf_int(f, "team_id", 1, INT64_MAX, false, &in->has_team);
    in->match = dump_checked(f, "match", check_match_key);
    in->required = dump_checked(f, "required_skills", check_skills);
    in->optional = dump_checked(f, "optional_skills", check_skills);
    if (is_default && in->match && strcmp(in->match, "{}") != 0)
        jf_fail(f, "match", "the default rule matches everything; it cannot have conditions");
    int rc = DB_OK;
    int64_t n = 1;
    if (in->has_team && (rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM teams WHERE id = ?", DBP(P_I(in->team)), 0, &n)) == DB_OK &&
        !n)
        jf_fail(f, "team_id", "no such team");
    return rc;
}

int routing_rules_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    struct rule_in in;
    int rc = read_rule(c, &f, &in, true, false);
    if (!api_checked(c, &f, &rc)) {
        rule_in_free(&in);
        return rc;
    }
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO routing_rules (position, name, enabled, match_json, required_skills, optional_skills, "
                        "team_id, priority) VALUES (?, ?, ?, COALESCE(?, '{}'), COALESCE(?, '[]'), COALESCE(?, '[]'), ?, ?)",
                 DBP(P_I(in.has_position ? in.position : 100), P_S(in.name), P_I(in.enabled), P_S(in.match),
                     P_S(in.required), P_S(in.optional), P_IOPT(in.team), P_S(in.priority)), &r);
    rule_in_free(&in);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    json_t *rule = NULL;
    if ((rc = load_rule(c->db, id, &rule)) || (rc = api_audit(c, "routing_rule.create", "routing_rule", id, NULL, rule))) {
        json_decref(rule);
        return rc;
    }
    return api_json(c, 201, rule);
}

int routing_rules_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = load_rule(c->db, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    struct jf f;
    struct rule_in in;
    rc = read_rule(c, &f, &in, false, json_is_true(json_object_get(before, "is_default")));
    if (!api_checked(c, &f, &rc)) {
        rule_in_free(&in);
        json_decref(before);
        return rc;
    }
    rc = db_exec(c->db, "UPDATE routing_rules SET name = COALESCE(?, name), position = IF(?, ?, position), "
                        "enabled = IF(?, ?, enabled), match_json = COALESCE(?, match_json), "
                        "required_skills = COALESCE(?, required_skills), optional_skills = COALESCE(?, optional_skills), "
                        "team_id = IF(?, ?, team_id), priority = IF(?, NULL, COALESCE(?, priority)) WHERE id = ?",
                 DBP(P_S(in.name), P_I(in.has_position), P_I(in.position), P_I(jf_has(&f, "enabled")), P_I(in.enabled),
                     P_S(in.match), P_S(in.required), P_S(in.optional), P_I(in.has_team || in.clear_team),
                     P_IOPT(in.clear_team ? 0 : in.team), P_I(in.clear_priority), P_S(in.priority), P_I(id)), NULL);
    rule_in_free(&in);
    json_t *after = NULL;
    if (!rc && !(rc = load_rule(c->db, id, &after)))
        rc = api_audit(c, "routing_rule.update", "routing_rule", id, before, after);
    json_decref(before);
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, 200, after);
}

int routing_rules_delete(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    json_t *before = NULL;
    int rc = load_rule(c->db, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    if (json_is_true(json_object_get(before, "is_default"))) {
        json_decref(before);
        return api_error(c, 409, "default_rule", "the default rule always matches; it cannot be deleted");
    }
    rc = db_exec(c->db, "DELETE FROM routing_rules WHERE id = ?", DBP(P_I(id)), NULL);
    if (!rc)
        rc = api_audit(c, "routing_rule.delete", "routing_rule", id, before, NULL);
    json_decref(before);
    return rc ? rc : api_json(c, 204, NULL);
}

/* ---- SLA policies ---- */

int sla_policies_list(struct api_ctx *c)
{
    return api_rows(c, "SELECT id, priority, channel, first_response_mins, resolution_mins FROM sla_policies "
                       "ORDER BY FIELD(priority, 'urgent','high','normal','low'), channel IS NOT NULL, channel", DBP0);
}

/* PUT {priority, channel|null, first_response_mins, resolution_mins}: one target, upserted. */
int sla_policies_put(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"priority", "channel", "first_response_mins", "resolution_mins", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    bool has;
    const char *priority = jf_enum(&f, "priority", priorities, true);
    const char *channel = jf_enum(&f, "channel", channels, false);
    int64_t first = jf_int(&f, "first_response_mins", 1, 525600, true, &has);
    int64_t resolution = jf_int(&f, "resolution_mins", 1, 525600, true, &has);
    if (jf_ok(&f) && resolution < first)
        jf_fail(&f, "resolution_mins", "must not be shorter than first_response_mins");
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    rc = db_exec(c->db, "INSERT INTO sla_policies (priority, channel, first_response_mins, resolution_mins) VALUES (?, ?, ?, ?) "
                        "ON DUPLICATE KEY UPDATE first_response_mins = VALUES(first_response_mins), "
                        "resolution_mins = VALUES(resolution_mins)",
                 DBP(P_S(priority), P_S(channel), P_I(first), P_I(resolution)), NULL);
    json_t *after = json_pack("{s:s, s:s?, s:I, s:I}", "priority", priority, "channel", channel, "first_response_mins",
                              (json_int_t)first, "resolution_mins", (json_int_t)resolution);
    if (!rc)
        rc = api_audit(c, "sla_policy.put", "sla_policy", 0, NULL, after);
    json_decref(after);
    return rc ? rc : sla_policies_list(c);
}

/* api_agents.c — agents (with skills and per-channel capacity) and teams. Admins write;
 * managers read; everyone may read themselves. Changes to agents are audited without
 * the password hash. */
#include "gateway/api_handlers.h"
#include "gateway/auth.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/json_field.h"
#include "gateway/lib/text.h"
#include <string.h>

#define AGENT_SELECT \
    "SELECT a.id, a.email, a.name, a.role, a.team_id, a.region, a.active AS active__bool, a.created_at, " \
    "a.last_login_at, COALESCE(p.status, 'offline') AS presence, a.data_scope, " \
    "COALESCE((SELECT JSON_ARRAYAGG(JSON_OBJECT('name', s.skill, 'level', s.level) ORDER BY s.skill) " \
    "  FROM agent_skills s WHERE s.agent_id = a.id), '[]') AS skills__json, " \
    "COALESCE((SELECT JSON_OBJECTAGG(k.channel, k.max_load) FROM agent_capacity k WHERE k.agent_id = a.id), '{}') " \
    "  AS capacity__json " \
    "FROM agents a LEFT JOIN agent_presence p ON p.agent_id = a.id "

static const char *const roles[] = {"admin", "manager", "agent", "sales", "marketer", NULL};
static const char *const agent_fields[] = {"email", "name", "role", "team_id", "region", "password",
                                           "skills", "capacity", "active", "data_scope", NULL};
static const char *const scopes[] = {"own", "team", "region", "all", NULL};

static int load_agent(struct db *db, int64_t id, json_t **out)
{
    struct db_result r;
    int rc = db_exec(db, AGENT_SELECT "WHERE a.id = ? AND a.kind = 'person'", DBP(P_I(id)), &r);
    if (rc)
        return rc;
    *out = r.nrows ? db_row_json(&r, 0) : NULL;
    db_result_free(&r);
    return DB_OK;
}

int agents_list(struct api_ctx *c)
{
    /* API keys' agents are not people (api_keys.h) */
    return api_paged(c, "SELECT COUNT(*) FROM agents WHERE kind = 'person'",
                     AGENT_SELECT "WHERE a.kind = 'person' ORDER BY a.id LIMIT ? OFFSET ?", DBP0);
}

int agents_get(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (!(c->me.role_bit & (ROLE_ADMIN | ROLE_MANAGER)) && id != c->me.id)
        return api_not_found(c);
    json_t *a = NULL;
    int rc = load_agent(c->db, id, &a);
    if (rc)
        return rc;
    return a ? api_json(c, 200, a) : api_not_found(c);
}

/* skills: [{"name","level"}]; capacity: {"chat":n,"email":n,"sms":n}. */
static void check_skills(struct jf *f, json_t *skills)
{
    size_t i;
    json_t *s;
    if (!json_is_array(skills) || json_array_size(skills) > 100) {
        jf_fail(f, "skills", "must be an array of at most 100 {\"name\",\"level\"} objects");
        return;
    }
    json_array_foreach(skills, i, s) {
        const char *name = json_string_value(json_object_get(s, "name"));
        json_t *lv = json_object_get(s, "level");
        if (!name || !*name || utf8_length(name, strlen(name)) > 64 || !utf8_valid(name, strlen(name)) ||
            !json_is_integer(lv) || json_integer_value(lv) < 1 || json_integer_value(lv) > 10) {
            jf_fail(f, "skills", "each skill needs a name (1..64 characters) and a level from 1 to 10");
            return;
        }
    }
}

static void check_capacity(struct jf *f, json_t *cap)
{
    const char *k;
    json_t *v;
    if (!json_is_object(cap)) {
        jf_fail(f, "capacity", "must be an object like {\"chat\":3,\"email\":10,\"sms\":5}");
        return;
    }
    json_object_foreach(cap, k, v) {
        if ((strcmp(k, "chat") && strcmp(k, "email") && strcmp(k, "sms")) || !json_is_integer(v) ||
            json_integer_value(v) < 0 || json_integer_value(v) > 1000) {
            jf_fail(f, "capacity", "keys chat, email, sms with integers 0..1000");
            return;
        }
    }
}

static int write_skills(struct db *db, int64_t id, json_t *skills)
{
    int rc = db_exec(db, "DELETE FROM agent_skills WHERE agent_id = ?", DBP(P_I(id)), NULL);
    size_t i;
    json_t *s;
    json_array_foreach(skills, i, s) {
        if (rc)
            break;
        rc = db_exec(db, "INSERT INTO agent_skills (agent_id, skill, level) VALUES (?, ?, ?) "
                         "ON DUPLICATE KEY UPDATE level = VALUES(level)",
                     DBP(P_I(id), P_S(json_string_value(json_object_get(s, "name"))),
                         P_I(json_integer_value(json_object_get(s, "level")))), NULL);
    }
    return rc;
}

static int write_capacity(struct db *db, int64_t id, json_t *cap)
{
    const char *k;
    json_t *v;
    int rc = DB_OK;
    json_object_foreach(cap, k, v) {
        if (rc)
            break;
        rc = db_exec(db, "INSERT INTO agent_capacity (agent_id, channel, max_load) VALUES (?, ?, ?) "
                         "ON DUPLICATE KEY UPDATE max_load = VALUES(max_load)",
                     DBP(P_I(id), P_S(k), P_I(json_integer_value(v))), NULL);
    }
    return rc;
}

struct agent_input {
    char email[CONTACT_MAX];
    const char *name, *role, *region, *password, *data_scope;
    int64_t team_id;
    bool has_team, has_email, active;
    json_t *skills, *capacity;
};

static int read_agent(struct api_ctx *c, struct jf *f, struct agent_input *in, bool create)
{
    jf_only(f, agent_fields);
    const char *email = jf_str(f, "email", 254, create);
    const char *why = NULL;
    in->has_email = email != NULL;
    if (email && contact_email_normalise(email, in->email, sizeof(in->email), &why) < 0)
        jf_fail(f, "email", why);
    text_lower(in->email);
    in->name = jf_str(f, "name", 200, create);
    in->role = jf_enum(f, "role", roles, create);
    in->region = jf_str(f, "region", 100, false);
    in->data_scope = jf_enum(f, "data_scope", scopes, false);
    in->password = jf_str(f, "password", 200, false);
    if (in->password && strlen(in->password) < 10)
        jf_fail(f, "password", "must be at least 10 characters");
    in->team_id = jf_int(f, "team_id", 1, INT64_MAX, false, &in->has_team);
    in->active = jf_bool(f, "active", true);
    in->skills = json_object_get(c->body, "skills");
    in->capacity = json_object_get(c->body, "capacity");
    if (in->skills)
        check_skills(f, in->skills);
    if (in->capacity)
        check_capacity(f, in->capacity);
    if (in->has_team) {
        int64_t n = 0;
        int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM teams WHERE id = ?", DBP(P_I(in->team_id)), 0, &n);
        if (rc)
            return rc;
        if (!n)
            jf_fail(f, "team_id", "no such team");
    }
    return DB_OK;
}

int agents_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    struct agent_input in = {0};
    int rc = read_agent(c, &f, &in, true);
    if (!api_checked(c, &f, &rc))
        return rc;
    char generated[32] = "", hash[AUTH_HASH_MAX];
    if (!in.password) {
        auth_generate_password(generated, sizeof(generated));
        in.password = generated;
    }
    if (auth_hash_password(in.password, hash) < 0)
        return api_error(c, 500, "internal", "password hashing failed");
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO agents (email, name, role, team_id, region, password_hash, active, data_scope) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 DBP(P_S(in.email), P_S(in.name), P_S(in.role), P_IOPT(in.team_id), P_S(in.region), P_S(hash),
                     P_I(in.active), P_S(in.data_scope)), &r);
    if (rc == DB_EDUP)
        return api_error(c, 409, "duplicate", "an agent with this email exists");
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    if ((in.skills && (rc = write_skills(c->db, id, in.skills))) ||
        (in.capacity && (rc = write_capacity(c->db, id, in.capacity))))
        return rc;
    json_t *a = NULL;
    if ((rc = load_agent(c->db, id, &a)) || (rc = api_audit(c, "agent.created", "agent", id, NULL, a))) {
        json_decref(a);
        return rc;
    }
    if (generated[0])
        json_object_set_new(a, "password", json_string(generated)); /* shown once */
    return api_json(c, 201, a);
}

int agents_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = load_agent(c->db, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    struct jf f;
    jf_init(&f, c->body);
    struct agent_input in = {0};
    rc = read_agent(c, &f, &in, false);
    if (!rc && in.name == NULL && jf_has(&f, "name"))
        jf_fail(&f, "name", "must not be empty");
    bool has_active = jf_has(&f, "active"), has_team_key = jf_has(&f, "team_id"), has_region = jf_has(&f, "region");
    bool has_scope = jf_has(&f, "data_scope");
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
    char hash[AUTH_HASH_MAX] = "";
    if (in.password && auth_hash_password(in.password, hash) < 0) {
        json_decref(before);
        return api_error(c, 500, "internal", "password hashing failed");
    }
    rc = db_exec(c->db, "UPDATE agents SET email = COALESCE(?, email), name = COALESCE(?, name), "
                        "role = COALESCE(?, role), region = IF(?, ?, region), team_id = IF(?, ?, team_id), "
                        "password_hash = COALESCE(?, password_hash), active = IF(?, ?, active), "
                        "data_scope = IF(?, ?, data_scope) WHERE id = ?",
                 DBP(P_S(in.has_email ? in.email : NULL), P_S(in.name), P_S(in.role), P_I(has_region),
                     P_S(in.region), P_I(has_team_key), P_IOPT(in.team_id), P_S(hash[0] ? hash : NULL),
                     P_I(has_active), P_I(in.active), P_I(has_scope), P_S(in.data_scope), P_I(id)), NULL);
    if (rc == DB_EDUP) {
        json_decref(before);
        return api_error(c, 409, "duplicate", "an agent with this email exists");
    }
    if (!rc && in.password)
        rc = db_exec(c->db, "DELETE FROM sessions WHERE agent_id = ? AND agent_id <> ?", DBP(P_I(id), P_I(c->me.id)), NULL);
    if (!rc && in.skills)
        rc = write_skills(c->db, id, in.skills);
    if (!rc && in.capacity)
        rc = write_capacity(c->db, id, in.capacity);
    if (!rc && has_active && !in.active)
        rc = db_exec(c->db, "DELETE FROM sessions WHERE agent_id = ?", DBP(P_I(id)), NULL);
    if (!rc && ((has_active && !in.active) || in.password || in.role || has_team_key || has_scope ||
                has_region)) /* their sockets re-authenticate (scope and region decide what they are sent) */
        rc = api_event(c, "session.revoked", 0, 0, id, 0, json_pack("{s:b}", "all", 1));
    json_t *after = NULL;
    if (!rc)
        rc = load_agent(c->db, id, &after);
    if (!rc)
        rc = api_audit(c, "agent.updated", "agent", id, before, after);
    json_decref(before);
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, 200, after);
}

/* ---- teams ---- */

#define TEAM_MISSING 1 /* team_write_db: no such team */
static int team_write_db(struct api_ctx *c, int64_t *id_io, const char *name, const char *desc, const char *hours);
static int team_answer(struct api_ctx *c, int64_t id, int rc);

#define TEAM_SELECT "SELECT t.id, t.name, t.description, t.created_at, t.auto_accept AS auto_accept__bool, " \
    "t.accept_timeout_secs, t.utc_offset_mins, t.business_hours AS business_hours__json, t.after_hours_reply, " \
    "(SELECT COUNT(*) FROM agents a WHERE a.team_id = t.id) AS agent_count, t.manager_id FROM teams t "

int teams_list(struct api_ctx *c)
{
    return api_rows(c, TEAM_SELECT "ORDER BY t.name", DBP0);
}

int teams_get(struct api_ctx *c)
{
    struct db_result r;
    int rc = db_exec(c->db, TEAM_SELECT "WHERE t.id = ?", DBP(P_I(c->req->params.id[0])), &r);
    if (rc)
        return rc;
    json_t *t = r.nrows ? db_row_json(&r, 0) : NULL;
    db_result_free(&r);
    return t ? api_json(c, 200, t) : api_not_found(c);
}

static int hhmm(const char *s)
{
    int h, m;
    char extra;
    return s && sscanf(s, "%2d:%2d%c", &h, &m, &extra) == 2 && h >= 0 && h <= 24 && m >= 0 && m < 60 &&
                   (h < 24 || m == 0) ? h * 60 + m : -1;
}

/* {"mon":[["09:00","18:00"]], …}: known days, intervals that start before they end. */
static void check_hours(struct jf *f, json_t *h)
{
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};
    const char *k;
    json_t *v;
    int ok = json_is_object(h);
    json_object_foreach(h, k, v) {
        int known = 0;
        for (size_t i = 0; days[i]; i++)
            known |= strcmp(k, days[i]) == 0;
        ok &= known && json_is_array(v) && json_array_size(v) <= 6;
        size_t i;
        json_t *iv;
        json_array_foreach(v, i, iv) {
            int from = hhmm(json_string_value(json_array_get(iv, 0))), to = hhmm(json_string_value(json_array_get(iv, 1)));
            ok &= json_array_size(iv) == 2 && from >= 0 && to > from;
        }
    }
    if (!ok)
        jf_fail(f, "business_hours", "an object of mon..sun, each a list of [\"HH:MM\", \"HH:MM\"] intervals; {} = always open");
}

static int team_write(struct api_ctx *c, int64_t id)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const fields[] = {"name", "description", "auto_accept", "accept_timeout_secs", "utc_offset_mins",
                                         "business_hours", "after_hours_reply", "manager_id", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, fields);
    const char *name = jf_name(&f, "name", 100, id == 0);
    const char *desc = jf_str(&f, "description", 500, false);
    bool has_timeout, has_offset;
    int64_t timeout = jf_int(&f, "accept_timeout_secs", 5, 3600, false, &has_timeout);
    int64_t offset = jf_int(&f, "utc_offset_mins", -720, 840, false, &has_offset);
    bool auto_accept = jf_bool(&f, "auto_accept", false);
    const char *reply = jf_str(&f, "after_hours_reply", 1000, false);
    json_t *hours = json_object_get(c->body, "business_hours");
    if (hours)
        check_hours(&f, hours);
    bool has_manager;
    int64_t manager = jf_int(&f, "manager_id", 1, INT64_MAX, false, &has_manager);
    int rc = DB_OK, has_manager_key = jf_has(&f, "manager_id");
    if (has_manager) {
        int64_t n = 0;
        rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM agents WHERE id = ? AND active = 1", DBP(P_I(manager)), 0, &n);
        if (!rc && !n)
            jf_fail(&f, "manager_id", "no such active agent");
    }
    if (!api_checked(c, &f, &rc))
        return rc;
    char *hours_text = hours ? json_dumps(hours, JSON_COMPACT) : NULL;
    rc = team_write_db(c, &id, name, desc, hours_text);
    free(hours_text);
    if (!rc)
        rc = db_exec(c->db, "UPDATE teams SET auto_accept = IF(?, ?, auto_accept), "
                            "accept_timeout_secs = IF(?, ?, accept_timeout_secs), utc_offset_mins = IF(?, ?, utc_offset_mins), "
                            "after_hours_reply = IF(?, ?, after_hours_reply), manager_id = IF(?, ?, manager_id) WHERE id = ?",
                     DBP(P_I(jf_has(&f, "auto_accept")), P_I(auto_accept), P_I(has_timeout), P_I(timeout), P_I(has_offset),
                         P_I(offset), P_I(jf_has(&f, "after_hours_reply")), P_S(reply), P_I(has_manager_key),
                         P_IOPT(manager), P_I(id)), NULL);
    return team_answer(c, id, rc);
}

/* name/description/hours: insert or update; *id is the team's (set when created). */
static int team_write_db(struct api_ctx *c, int64_t *id_io, const char *name, const char *desc, const char *hours)
{
    int64_t id = *id_io;
    int rc;
    struct db_result r;
    if (id == 0) {
        rc = db_exec(c->db, "INSERT INTO teams (name, description, business_hours) VALUES (?, ?, COALESCE(?, '{}'))",
                     DBP(P_S(name), P_S(desc), P_S(hours)), &r);
        if (!rc) {
            *id_io = (int64_t)r.insert_id;
            db_result_free(&r);
        }
    } else {
        rc = db_exec(c->db, "UPDATE teams SET name = COALESCE(?, name), description = COALESCE(?, description), "
                            "business_hours = COALESCE(?, business_hours) WHERE id = ?",
                     DBP(P_S(name), P_S(desc), P_S(hours), P_I(id)), &r);
        if (!rc && r.affected == 0) {
            db_result_free(&r);
            return TEAM_MISSING;
        }
        if (!rc)
            db_result_free(&r);
    }
    return rc;
}

static int team_answer(struct api_ctx *c, int64_t id, int rc)
{
    struct db_result r;
    if (rc == TEAM_MISSING)
        return api_not_found(c);
    if (rc == DB_EDUP)
        return api_error(c, 409, "duplicate", "a team with this name exists");
    if (rc)
        return rc;
    int created = c->req->method == HTTP_POST;
    rc = db_exec(c->db, TEAM_SELECT "WHERE t.id = ?", DBP(P_I(id)), &r);
    if (rc)
        return rc;
    json_t *t = db_row_json(&r, 0);
    db_result_free(&r);
    rc = api_audit(c, created ? "team.created" : "team.updated", "team", id, NULL, t);
    if (rc) {
        json_decref(t);
        return rc;
    }
    return api_json(c, created ? 201 : 200, t);
}

int teams_create(struct api_ctx *c)
{
    return team_write(c, 0);
}

int teams_update(struct api_ctx *c)
{
    return team_write(c, c->req->params.id[0]);
}

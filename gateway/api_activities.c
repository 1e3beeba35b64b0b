/* api_activities.c — follow-up records (/api/v1/activities) and the reminders they and
 * the reminder worker produce (/api/v1/reminders, /api/v1/reminder-rules).
 *
 * An activity (跟进记录) is written by its owner on a customer in their scope: date,
 * method (call/visit/email/wechat/other), content, next step and next date. It moves the
 * customer's last_followup_at and last_contact_at forward (never back), and a next date
 * queues a reminder for the owner at that time. Activities are visible with their
 * customer (the customer's data scope); only the owner, an admin or a manager edits one.
 *
 * Reminders are per agent: an agent lists and completes their own; admins may list
 * anyone's with ?agent_id=. Policies (reminder_rules) are edited by admins.
 */
#include "gateway/api_handlers.h"
#include "gateway/customers.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/text.h"
#include "gateway/scope.h"
#include <stdio.h>
#include <string.h>

#define ACTIVITY_SELECT \
    "SELECT a.id, a.customer_id, cu.name AS customer_name, a.deal_id, a.owner_id, ag.name AS owner_name, a.method, " \
    "a.content, a.next_step, a.next_at, a.happened_at, a.created_at, cu.region AS region, " \
    "cu.owner_id AS customer_owner_id " \
    "FROM activities a JOIN customers cu ON cu.id = a.customer_id LEFT JOIN agents ag ON ag.id = a.owner_id "
#define ACTIVITY_SCOPE SCOPE_WHERE("cu.owner_id", "cu.region")

static const char *const methods[] = {"call", "visit", "email", "wechat", "other", NULL};

static int64_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* "2026-11-23", "2026-11-23T09:30:00Z" or "2026-11-23 09:30:00" → MariaDB's
 * "YYYY-MM-DD HH:MM:SS" (UTC), or -1. */
static int parse_when(const char *s, char out[20])
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    size_t n = strlen(s);
    char date[11];
    if (n < 10 || text_copy_n(date, sizeof(date), s, 10) < 0 || !customer_date_valid(date))
        return -1;
    if (sscanf(s, "%4d-%2d-%2d", &y, &mo, &d) != 3)
        return -1;
    if (n > 10) {
        char sep, z = 0;
        int k = sscanf(s + 10, "%c%2d:%2d:%2d%c", &sep, &h, &mi, &se, &z);
        if (k < 4 || (sep != 'T' && sep != ' ') || h > 23 || mi > 59 || se > 59 || (k == 5 && z != 'Z') ||
            n > (k == 5 ? 20u : 19u))
            return -1;
    }
    snprintf(out, 20, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, se);
    return 0;
}

int activities_list(struct api_ctx *c)
{
    int64_t limit, offset, customer = 0, deal = 0, owner = 0, total = 0;
    if (api_paging(c, &limit, &offset) < 0 || api_arg_id(c, "customer_id", &customer) < 0 ||
        api_arg_id(c, "deal_id", &deal) < 0 || api_arg_id(c, "owner_id", &owner) < 0)
        return 0;
#define ACT_FILTER " AND (? = 0 OR a.customer_id = ?) AND (? = 0 OR a.deal_id = ?) AND (? = 0 OR a.owner_id = ?) "
#define FILTER_P P_I(customer), P_I(customer), P_I(deal), P_I(deal), P_I(owner), P_I(owner)
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM activities a JOIN customers cu ON cu.id = a.customer_id "
                                  "WHERE 1 = 1" ACTIVITY_SCOPE ACT_FILTER, DBP(SCOPE_PARAMS(&c->me), FILTER_P), 0, &total);
    struct db_result r;
    if (!rc)
        rc = db_exec(c->db, ACTIVITY_SELECT "WHERE 1 = 1" ACTIVITY_SCOPE ACT_FILTER
                            "ORDER BY a.happened_at DESC, a.id DESC LIMIT ? OFFSET ?",
                     DBP(SCOPE_PARAMS(&c->me), FILTER_P, P_I(limit), P_I(offset)), &r);
#undef FILTER_P
#undef ACT_FILTER
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

static int activity_load(struct api_ctx *c, int64_t id, json_t **out)
{
    return db_row_json_of(c->db, ACTIVITY_SELECT "WHERE a.id = ?" ACTIVITY_SCOPE, DBP(P_I(id), SCOPE_PARAMS(&c->me)), out);
}

struct activity_input {
    int64_t customer_id, deal_id;
    bool has_customer, has_deal;
    const char *method, *content, *next_step;
    char next_at[20], happened_at[20];
};

static int read_activity(struct api_ctx *c, struct jf *f, struct activity_input *in, bool create)
{
    static const char *const allowed[] = {"customer_id", "deal_id", "method", "content", "next_step", "next_at",
                                          "happened_at", NULL};
    jf_only(f, allowed);
    int64_t stored = in->customer_id; /* an update: the activity's own customer */
    in->customer_id = jf_int(f, "customer_id", 1, INT64_MAX, create, &in->has_customer);
    if (!create && in->has_customer)
        jf_fail(f, "customer_id", "cannot be changed");
    if (!create)
        in->customer_id = stored;
    in->deal_id = jf_int(f, "deal_id", 1, INT64_MAX, false, &in->has_deal);
    in->method = jf_enum(f, "method", methods, create);
    in->content = jf_str(f, "content", 4000, create);
    in->next_step = jf_str(f, "next_step", 1000, false);
    const char *next = jf_str(f, "next_at", 32, false), *when = jf_str(f, "happened_at", 32, false);
    if (next && parse_when(next, in->next_at) < 0)
        jf_fail(f, "next_at", "must be a date YYYY-MM-DD or a UTC time YYYY-MM-DDTHH:MM:SSZ");
    if (when && parse_when(when, in->happened_at) < 0)
        jf_fail(f, "happened_at", "must be a date YYYY-MM-DD or a UTC time YYYY-MM-DDTHH:MM:SSZ");
    int rc = DB_OK;
    if (create && in->has_customer) {
        json_t *cu = NULL;
        rc = customer_load(c->db, &c->me, in->customer_id, &cu);
        if (!rc && !cu)
            jf_fail(f, "customer_id", "no such customer in your scope");
        json_decref(cu);
    }
    if (!rc && in->has_deal && in->customer_id > 0) {
        int64_t ok = 0;
        rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM deals WHERE id = ? AND customer_id = ?",
                           DBP(P_I(in->deal_id), P_I(in->customer_id)), 0, &ok);
        if (!rc && !ok)
            jf_fail(f, "deal_id", "no such deal of this customer");
    }
    return rc;
}

/* The customer's follow-up clock, and the owner's reminder for the next step. */
static int after_activity(struct api_ctx *c, json_t *a)
{
    int64_t id = jint(a, "id");
    int rc = db_exec(c->db, "UPDATE customers cu JOIN activities a ON a.id = ? SET "
                            "cu.last_followup_at = GREATEST(COALESCE(cu.last_followup_at, a.happened_at), a.happened_at), "
                            "cu.last_contact_at = GREATEST(COALESCE(cu.last_contact_at, a.happened_at), a.happened_at) "
                            "WHERE cu.id = a.customer_id", DBP(P_I(id)), NULL);
    if (rc || !json_string_value(json_object_get(a, "next_at")))
        return rc;
    char key[64], msg[600];
    snprintf(key, sizeof(key), "activity:%lld", (long long)id);
    snprintf(msg, sizeof(msg), "Follow up with %.150s: %.400s",
             json_string_value(json_object_get(a, "customer_name")),
             json_string_value(json_object_get(a, "next_step")) ? json_string_value(json_object_get(a, "next_step"))
                                                                 : "next step due");
    /* an edited date moves the pending reminder instead of adding a second one */
    return db_exec(c->db, "INSERT INTO reminders (kind, agent_id, customer_id, deal_id, message, dedupe_key, due_at) "
                          "SELECT 'next_step', a.owner_id, a.customer_id, a.deal_id, ?, ?, a.next_at FROM activities a "
                          "WHERE a.id = ? AND a.owner_id IS NOT NULL "
                          "ON DUPLICATE KEY UPDATE message = VALUES(message), due_at = VALUES(due_at), "
                          "notified_at = IF(done_at IS NULL, NULL, notified_at)",
                   DBP(P_S(msg), P_S(key), P_I(id)), NULL);
}

static int activity_written(struct api_ctx *c, int64_t id, json_t *before)
{
    json_t *after = NULL;
    int rc = activity_load(c, id, &after);
    if (rc || !after)
        return rc ? rc : DB_EOTHER;
    rc = after_activity(c, after);
    if (rc) {
        json_decref(after);
        return rc;
    }
    return crm_written(c, "activity", before, after);
}

int activities_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    struct activity_input in = {0};
    int rc = read_activity(c, &f, &in, true);
    if (!api_checked(c, &f, &rc))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO activities (customer_id, deal_id, owner_id, method, content, next_step, next_at, "
                        "happened_at) VALUES (?, ?, ?, ?, ?, ?, ?, COALESCE(?, NOW(3)))",
                 DBP(P_I(in.customer_id), P_IOPT(in.deal_id), P_I(c->me.id), P_S(in.method), P_S(in.content),
                     P_S(in.next_step), P_S(in.next_at[0] ? in.next_at : NULL),
                     P_S(in.happened_at[0] ? in.happened_at : NULL)), &r);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return activity_written(c, id, NULL);
}

int activities_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = activity_load(c, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    if (jint(before, "owner_id") != c->me.id && c->me.role_bit != ROLE_ADMIN && c->me.role_bit != ROLE_MANAGER) {
        json_decref(before);
        return api_error(c, 403, "forbidden", "only the author, a manager or an admin edits a follow-up");
    }
    struct jf f;
    jf_init(&f, c->body);
    struct activity_input in = {.customer_id = jint(before, "customer_id")};
    rc = read_activity(c, &f, &in, false);
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
    rc = db_exec(c->db, "UPDATE activities SET method = COALESCE(?, method), content = COALESCE(?, content), "
                        "next_step = IF(?, ?, next_step), next_at = IF(?, ?, next_at), "
                        "happened_at = COALESCE(?, happened_at), deal_id = IF(?, ?, deal_id) WHERE id = ?",
                 DBP(P_S(in.method), P_S(in.content), P_I(json_object_get(c->body, "next_step") != NULL),
                     P_S(in.next_step), P_I(json_object_get(c->body, "next_at") != NULL),
                     P_S(in.next_at[0] ? in.next_at : NULL), P_S(in.happened_at[0] ? in.happened_at : NULL),
                     P_I(in.has_deal), P_IOPT(in.deal_id), P_I(id)), NULL);
    if (!rc)
        rc = activity_written(c, id, before);
    json_decref(before);
    return rc;
}

/* ---- reminders ---- */

int reminders_list(struct api_ctx *c)
{
    int64_t limit, offset, agent = 0, total = 0;
    if (api_paging(c, &limit, &offset) < 0 || api_arg_id(c, "agent_id", &agent) < 0)
        return 0;
    if (agent && agent != c->me.id && c->me.role_bit != ROLE_ADMIN)
        return api_error(c, 403, "forbidden", "only admins list other agents' reminders");
    if (!agent)
        agent = c->me.id;
    const char *st = api_arg(c->req, "status");
    int status = !st || !strcmp(st, "open") ? 0 : !strcmp(st, "done") ? 1 : !strcmp(st, "all") ? 2 : -1;
    if (status < 0)
        return api_error(c, 400, "bad_request", "status must be open, done or all");
#define REM_WHERE "WHERE r.agent_id = ? AND (? = 2 OR (? = 0 AND r.done_at IS NULL) OR (? = 1 AND r.done_at IS NOT NULL)) "
#define REM_P P_I(agent), P_I(status), P_I(status), P_I(status)
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM reminders r " REM_WHERE, DBP(REM_P), 0, &total);
    struct db_result r;
    if (!rc)
        rc = db_exec(c->db, "SELECT r.id, r.kind, r.agent_id, r.customer_id, cu.name AS customer_name, r.deal_id, "
                            "r.message, r.due_at, r.notified_at, r.done_at, r.created_at FROM reminders r "
                            "LEFT JOIN customers cu ON cu.id = r.customer_id " REM_WHERE
                            "ORDER BY r.done_at IS NOT NULL, r.due_at, r.id LIMIT ? OFFSET ?",
                     DBP(REM_P, P_I(limit), P_I(offset)), &r);
#undef REM_P
#undef REM_WHERE
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

int reminders_update(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"done", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    if (!json_is_boolean(json_object_get(c->body, "done")))
        jf_fail(&f, "done", "must be true or false");
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    int64_t id = c->req->params.id[0], mine = 0;
    rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM reminders WHERE id = ? AND agent_id = ? FOR UPDATE",
                       DBP(P_I(id), P_I(c->me.id)), 0, &mine);
    if (rc || !mine)
        return rc ? rc : api_not_found(c);
    rc = db_exec(c->db, "UPDATE reminders SET done_at = IF(?, COALESCE(done_at, NOW(3)), NULL) WHERE id = ?",
                 DBP(P_I(json_is_true(json_object_get(c->body, "done"))), P_I(id)), NULL);
    struct db_result r;
    if (!rc)
        rc = db_exec(c->db, "SELECT id, kind, customer_id, deal_id, message, due_at, notified_at, done_at FROM reminders "
                            "WHERE id = ?", DBP(P_I(id)), &r);
    if (rc)
        return rc;
    json_t *o = r.nrows ? db_row_json(&r, 0) : json_object();
    db_result_free(&r);
    return api_json(c, 200, o);
}

int reminder_rules_list(struct api_ctx *c)
{
    return api_rows(c, "SELECT kind, days, enabled AS enabled__bool FROM reminder_rules ORDER BY kind", DBP0);
}

int reminder_rules_put(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"rules", NULL};
    static const char *const kinds[] = {"payment_due", NULL}; /* the others are rules (rules.h) */
    static const char *const rule_keys[] = {"kind", "days", "enabled", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    json_t *rules = json_object_get(c->body, "rules"), *x;
    size_t i;
    if (!json_is_array(rules) || json_array_size(rules) > 1)
        jf_fail(&f, "rules", "must be an array of {kind, days, enabled}");
    else
        json_array_foreach(rules, i, x) {
            struct jf g;
            bool has;
            jf_init(&g, x);
            jf_only(&g, rule_keys);
            jf_enum(&g, "kind", kinds, true);
            jf_int(&g, "days", 0, 3650, false, &has);
            if (!jf_ok(&g))
                jf_fail(&f, "rules", "each rule needs a kind (payment_due; the no-follow-up and mature-deal reminders are "
                                    "rules now, see /api/v1/rules), days 0..3650");
            jf_free(&g);
        }
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    json_array_foreach(rules, i, x) {
        json_t *d = json_object_get(x, "days"), *e = json_object_get(x, "enabled");
        if (!rc)
            rc = db_exec(c->db, "UPDATE reminder_rules SET days = COALESCE(?, days), enabled = COALESCE(?, enabled) "
                                "WHERE kind = ?",
                         DBP(d ? P_I(json_integer_value(d)) : P_NULL, e ? P_I(json_is_true(e)) : P_NULL,
                             P_S(json_string_value(json_object_get(x, "kind")))), NULL);
    }
    if (!rc)
        rc = api_audit(c, "reminder_rules.updated", "reminder_rules", 0, NULL, rules);
    return rc ? rc : reminder_rules_list(c);
}

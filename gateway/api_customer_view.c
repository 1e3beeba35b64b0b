/* api_customer_view.c — the customer 360 (GET /api/v1/customers/{id}) and its timeline
 * (GET /api/v1/customers/{id}/timeline).
 *
 * One view of a customer: the record, identities, lifecycle history, tickets, deals,
 * follow-ups, open reminders, attachments, suppressions (opt-outs) and one timeline that
 * interleaves messages on every channel, lifecycle changes, follow-ups, deal stage
 * changes and merges, newest first.
 *
 * An absorbed (merged) customer's id resolves to its survivor ("resolved_from" says so).
 * The customer must be in the caller's data scope (else 404); deals inside the 360 are
 * filtered by the deal's own scope as well, so a colleague's deal outside it stays
 * invisible even on a shared customer.
 */
#include "gateway/api_handlers.h"
#include "gateway/objects.h"
#include "gateway/customers.h"
#include "gateway/lib/text.h"
#include "gateway/scope.h"
#include <string.h>

#define TIMELINE_MAX 200

/* A page ends at a cursor "TIME~KIND~ID" (every item carries its own as "cursor"): items
 * strictly after it in the timeline order (at DESC, kind, id DESC), so items sharing a
 * millisecond are neither skipped nor repeated. A bare TIME means "older than TIME".
 * Parameters of one branch: customer, then T, T, T, K, K, I, then its limit. */
#define AFTER_CURSOR(at, kind, id) \
    " AND (? IS NULL OR " at " < ? OR (" at " = ? AND (" kind " > ? OR (" kind " = ? AND " id " < ?)))) "

/* Each branch is bounded and uses its (customer_id, …) index; the outer query interleaves.
 * No branch may yield a TEXT column (a merge's `moved`, a JSON of a dozen counts, is cut to VARCHAR):
 * one would make MariaDB build the union's temporary table on disk for every view. */
#define TIMELINE_SQL \
    "SELECT t.*, (SELECT ag.name FROM agents ag WHERE ag.id = t.actor_id AND t.actor_type = 'agent') AS actor_name, " \
    "CONCAT(DATE_FORMAT(t.at, '%Y-%m-%dT%H:%i:%s.%fZ'), '~', t.kind, '~', t.id) AS `cursor` FROM (" \
    "(SELECT 'message' AS kind, m.created_at AS at, m.id, m.ticket_id, m.channel, m.direction, m.author_type AS actor_type, " \
    "  m.author_id AS actor_id, LEFT(COALESCE(m.body_visible, m.body_text), 300) AS text, NULL AS from_value, " \
    "  m.status AS to_value, m.internal AS internal__bool, NULL AS deal_id FROM messages m " \
    "  WHERE m.customer_id = ?" AFTER_CURSOR("m.created_at", "'message'", "m.id") \
    "  ORDER BY m.created_at DESC, m.id DESC LIMIT ?) " \
    "UNION ALL " \
    "(SELECT 'stage', h.at, h.id, NULL, NULL, NULL, IF(h.actor_id IS NULL, 'system', 'agent'), h.actor_id, h.reason, " \
    "  h.from_stage, h.to_stage, 0, NULL FROM customer_stage_history h " \
    "  WHERE h.customer_id = ?" AFTER_CURSOR("h.at", "'stage'", "h.id") "ORDER BY h.at DESC, h.id DESC LIMIT ?) " \
    "UNION ALL " \
    "(SELECT 'activity', a.happened_at, a.id, NULL, a.method, NULL, 'agent', a.owner_id, LEFT(a.content, 300), " \
    "  a.next_step, DATE_FORMAT(a.next_at, '%Y-%m-%dT%H:%i:%sZ'), 0, a.deal_id FROM activities a " \
    "  WHERE a.customer_id = ?" AFTER_CURSOR("a.happened_at", "'activity'", "a.id") \
    "  ORDER BY a.happened_at DESC, a.id DESC LIMIT ?) " \
    "UNION ALL " \
    "(SELECT 'deal_stage', h.at, h.id, NULL, NULL, NULL, IF(h.actor_id IS NULL, 'system', 'agent'), h.actor_id, d.title, " \
    "  fs.name, ts.name, 0, d.id FROM deal_stage_history h JOIN deals d ON d.id = h.deal_id " \
    "  JOIN customers cu ON cu.id = d.customer_id " \
    "  LEFT JOIN pipeline_stages fs ON fs.id = h.from_stage_id JOIN pipeline_stages ts ON ts.id = h.to_stage_id " \
    "  WHERE d.customer_id = ?" AFTER_CURSOR("h.at", "'deal_stage'", "h.id") SCOPE_WHERE("d.owner_id", "cu.region") \
    "  ORDER BY h.at DESC, h.id DESC LIMIT ?) " \
    "UNION ALL " \
    "(SELECT 'merge', g.at, g.id, NULL, NULL, NULL, IF(g.actor_id IS NULL, 'system', 'agent'), g.actor_id, " \
    "  LEFT(g.moved, 1000), g.absorbed_id, NULL, 0, NULL FROM customer_merges g " \
    "  WHERE g.survivor_id = ?" AFTER_CURSOR("g.at", "'merge'", "g.id") "ORDER BY g.at DESC, g.id DESC LIMIT ?) " \
    ") t ORDER BY t.at DESC, t.kind, t.id DESC LIMIT ?"

struct cursor {
    char at[32];  /* "YYYY-MM-DD HH:MM:SS.ffffff" */
    char kind[16];
    int64_t id;
    int has_at, has_key;
};

static int timeline(struct api_ctx *c, int64_t id, const struct cursor *cur, int64_t limit, json_t **out)
{
    const char *t = cur && cur->has_at ? cur->at : NULL, *k = cur && cur->has_key ? cur->kind : NULL;
    int64_t i = cur && cur->has_key ? cur->id : 0;
#define B P_I(id), P_S(t), P_S(t), P_S(t), P_S(k), P_S(k), P_I(i)
    struct db_result r;
    int rc = db_exec(c->db, TIMELINE_SQL,
                     DBP(B, P_I(limit), B, P_I(limit), B, P_I(limit), B, SCOPE_PARAMS(&c->me), P_I(limit), B,
                         P_I(limit), P_I(limit)),
                     &r);
#undef B
    if (rc)
        return rc;
    *out = db_rows_json(&r);
    db_result_free(&r);
    return DB_OK;
}

/* "2026-11-23T10:00:00Z", "…T10:00:00.123Z" or an item's cursor "…Z~kind~id"; -1 when
 * it is none of them. */
static int parse_cursor(const char *s, struct cursor *cur)
{
    static const char *const kinds[] = {"message", "stage", "activity", "deal_stage", "merge", NULL};
    int y, mo, d, h, mi, se, n = 0;
    memset(cur, 0, sizeof(*cur));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19 || mo < 1 || mo > 12 ||
        d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
        return -1;
    const char *p = s + 19;
    char frac[8] = "0";
    if (*p == '.') {
        size_t f = strspn(p + 1, "0123456789");
        if (f < 1 || f > 6)
            return -1;
        text_copy_n(frac, sizeof(frac), p + 1, f);
        p += 1 + f;
    }
    if (*p++ != 'Z')
        return -1;
    snprintf(cur->at, sizeof(cur->at), "%04d-%02d-%02d %02d:%02d:%02d.%s", y, mo, d, h, mi, se, frac);
    cur->has_at = 1;
    if (!*p)
        return 0;
    const char *tilde = *p == '~' ? strchr(p + 1, '~') : NULL;
    if (!tilde || text_copy_n(cur->kind, sizeof(cur->kind), p + 1, (size_t)(tilde - p - 1)) < 0 ||
        text_parse_i64(tilde + 1, &cur->id) < 0 || cur->id < 1)
        return -1;
    for (size_t i = 0; kinds[i]; i++)
        if (strcmp(kinds[i], cur->kind) == 0)
            return (cur->has_key = 1) - 1;
    return -1;
}

/* next_before: the last item's cursor when the page is full (there may be more). */
static json_t *next_before(json_t *items, int64_t limit)
{
    size_t n = json_array_size(items);
    if (!n || (int64_t)n < limit)
        return json_null();
    return json_incref(json_object_get(json_array_get(items, n - 1), "cursor"));
}

/* Adds key: [rows of sql] to o. */
static int attach(struct api_ctx *c, json_t *o, const char *key, const char *sql, const struct db_param *p, size_t np)
{
    struct db_result r;
    int rc = db_exec(c->db, sql, p, np, &r);
    if (rc)
        return rc;
    json_object_set_new(o, key, db_rows_json(&r));
    db_result_free(&r);
    return DB_OK;
}

#define DEAL_COLUMNS \
    "d.id, d.title, d.stage_id, s.name AS stage, d.status, d.amount, d.currency, d.expected_close, " \
    "COALESCE(d.probability, s.probability) AS probability, d.owner_id, d.payment_due, d.updated_at "

static int attach_children(struct api_ctx *c, json_t *o, int64_t id)
{
    int rc = attach(c, o, "identities",
                    "SELECT id, kind, value, is_primary IS NOT NULL AS verified__bool, merged_from, created_at "
                    "FROM customer_identities WHERE customer_id = ? ORDER BY id", DBP(P_I(id)));
    if (!rc)
        rc = attach(c, o, "stage_history",
                    "SELECT from_stage, to_stage, actor_id, reason, at FROM customer_stage_history "
                    "WHERE customer_id = ? ORDER BY at DESC, id DESC LIMIT 50", DBP(P_I(id)));
    if (!rc)
        rc = attach(c, o, "tickets",
                    "SELECT id, channel, subject, status, priority, team_id, assignee_id, created_at, last_message_at "
                    "FROM tickets WHERE customer_id = ? ORDER BY id DESC LIMIT 50", DBP(P_I(id)));
    if (!rc)
        rc = attach(c, o, "deals",
                    "SELECT " DEAL_COLUMNS "FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id "
                    "JOIN customers cu ON cu.id = d.customer_id WHERE d.customer_id = ? "
                    SCOPE_WHERE("d.owner_id", "cu.region") "ORDER BY d.id DESC LIMIT 100",
                    DBP(P_I(id), SCOPE_PARAMS(&c->me)));
    if (!rc)
        rc = attach(c, o, "activities",
                    "SELECT a.id, a.deal_id, a.owner_id, ag.name AS owner_name, a.method, a.content, a.next_step, "
                    "a.next_at, a.happened_at FROM activities a LEFT JOIN agents ag ON ag.id = a.owner_id "
                    "WHERE a.customer_id = ? ORDER BY a.happened_at DESC, a.id DESC LIMIT 50", DBP(P_I(id)));
    if (!rc)
        rc = attach(c, o, "reminders",
                    "SELECT r.id, r.kind, r.agent_id, r.deal_id, r.message, r.due_at FROM reminders r "
                    "LEFT JOIN deals d ON d.id = r.deal_id LEFT JOIN customers cu ON cu.id = d.customer_id "
                    "WHERE r.customer_id = ? AND r.done_at IS NULL "
                    "AND (r.deal_id IS NULL OR (TRUE" SCOPE_WHERE("d.owner_id", "cu.region") ")) "
                    "ORDER BY r.due_at LIMIT 50", DBP(P_I(id), SCOPE_PARAMS(&c->me)));
    if (!rc)
        rc = attach(c, o, "attachments",
                    "SELECT a.id, a.filename, a.content_type, a.size, a.message_id, m.ticket_id, a.created_at, "
                    "CONCAT('/api/v1/attachments/', a.id, '/content') AS url "
                    "FROM messages m JOIN attachments a ON a.message_id = m.id "
                    "WHERE m.customer_id = ? AND a.sha256 IS NOT NULL ORDER BY a.id DESC LIMIT 50", DBP(P_I(id)));
    if (!rc)
        rc = attach(c, o, "suppressions",
                    "SELECT s.channel, s.value, s.reason, s.created_at FROM suppressions s "
                    "JOIN customer_identities i ON i.value = s.value AND i.kind = IF(s.channel = 'sms', 'phone', 'email') "
                    "WHERE i.customer_id = ? ORDER BY s.id", DBP(P_I(id)));
    if (!rc)
        rc = attach(c, o, "merged_from", "SELECT absorbed_id AS id, at FROM customer_merges WHERE survivor_id = ? ORDER BY id",
                    DBP(P_I(id)));
    json_t *objects = NULL;
    if (!rc && (rc = objects_of_customer(c->db, id, &objects)) == DB_OK)
        json_object_set_new(o, "objects", objects);
    return rc;
}

/* Follows a merge and loads the record in scope; *o NULL when not visible. */
static int load_resolved(struct api_ctx *c, int64_t asked, int64_t *id, json_t **o)
{
    int rc = customer_resolve(c->db, asked, id);
    if (!rc)
        rc = customer_load(c->db, &c->me, *id, o);
    if (!rc && *o && *id != asked)
        json_object_set_new(*o, "resolved_from", json_integer(asked));
    return rc;
}

int customers_get(struct api_ctx *c)
{
    int64_t id = 0;
    json_t *o = NULL;
    int rc = load_resolved(c, c->req->params.id[0], &id, &o);
    if (rc || !o)
        return rc ? rc : api_not_found(c);
    json_t *tl = NULL;
    rc = attach_children(c, o, id);
    if (!rc)
        rc = timeline(c, id, NULL, 50, &tl);
    if (rc) {
        json_decref(o);
        return rc;
    }
    json_object_set_new(o, "timeline_next", next_before(tl, 50));
    json_object_set_new(o, "timeline", tl);
    rc = attach(c, o, "campaigns",
                "SELECT r.campaign_id, cp.name, r.channel, r.address, r.state, r.skip_reason, r.sent_at, r.delivered_at, "
                "r.opened_at, r.clicked_at, r.unsubscribed_at FROM campaign_recipients r "
                "JOIN campaigns cp ON cp.id = r.campaign_id WHERE r.customer_id = ? OR r.customer_id IN "
                "(SELECT m.id FROM customers m WHERE m.merged_into = ?) ORDER BY r.id DESC LIMIT 50",
                DBP(P_I(id), P_I(id)));
    if (rc) {
        json_decref(o);
        return rc;
    }
    return api_json(c, 200, o);
}

int customers_timeline(struct api_ctx *c)
{
    int64_t id = 0, limit = 50;
    json_t *o = NULL;
    int rc = load_resolved(c, c->req->params.id[0], &id, &o);
    if (rc || !o)
        return rc ? rc : api_not_found(c);
    json_decref(o);
    const char *before = api_arg(c->req, "before"), *lim = api_arg(c->req, "limit");
    struct cursor cur;
    if (before && parse_cursor(before, &cur) < 0)
        return api_error(c, 400, "bad_request", "before must be a UTC time like 2026-11-23T10:00:00Z or an item's cursor");
    if (lim && (text_parse_i64(lim, &limit) < 0 || limit < 1 || limit > TIMELINE_MAX))
        return api_error(c, 400, "bad_request", "limit must be 1..200");
    json_t *items = NULL;
    rc = timeline(c, id, before ? &cur : NULL, limit, &items);
    if (rc)
        return rc;
    json_t *next = next_before(items, limit);
    return api_json(c, 200, json_pack("{s:o, s:I, s:o}", "items", items, "total", (json_int_t)json_array_size(items),
                                      "next_before", next));

}

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
#include "gateway/customers.h"
#include "gateway/lib/text.h"
#include "gateway/scope.h"
#include <string.h>

#define TIMELINE_MAX 200

/* Each branch is bounded and uses its (customer_id, …) index; the outer query interleaves.
 * Parameters: (customer, before, limit) five times, then the scope and the final limit. */
#define TIMELINE_SQL \
    "SELECT * FROM (" \
    "(SELECT 'message' AS kind, m.created_at AS at, m.id, m.ticket_id, m.channel, m.direction, m.author_type AS actor_type, " \
    "  m.author_id AS actor_id, LEFT(COALESCE(m.body_visible, m.body_text), 300) AS text, NULL AS from_value, " \
    "  m.status AS to_value, m.internal AS internal__bool FROM messages m " \
    "  WHERE m.customer_id = ? AND (? IS NULL OR m.created_at < ?) ORDER BY m.id DESC LIMIT ?) " \
    "UNION ALL " \
    "(SELECT 'stage', h.at, h.id, NULL, NULL, NULL, IF(h.actor_id IS NULL, 'system', 'agent'), h.actor_id, h.reason, " \
    "  h.from_stage, h.to_stage, 0 FROM customer_stage_history h " \
    "  WHERE h.customer_id = ? AND (? IS NULL OR h.at < ?) ORDER BY h.at DESC LIMIT ?) " \
    "UNION ALL " \
    "(SELECT 'activity', a.happened_at, a.id, NULL, a.method, NULL, 'agent', a.owner_id, LEFT(a.content, 300), " \
    "  a.next_step, DATE_FORMAT(a.next_at, '%Y-%m-%dT%H:%i:%sZ'), 0 FROM activities a " \
    "  WHERE a.customer_id = ? AND (? IS NULL OR a.happened_at < ?) ORDER BY a.happened_at DESC LIMIT ?) " \
    "UNION ALL " \
    "(SELECT 'deal_stage', h.at, d.id, NULL, NULL, NULL, IF(h.actor_id IS NULL, 'system', 'agent'), h.actor_id, d.title, " \
    "  fs.name, ts.name, 0 FROM deal_stage_history h JOIN deals d ON d.id = h.deal_id " \
    "  JOIN customers cu ON cu.id = d.customer_id " \
    "  LEFT JOIN pipeline_stages fs ON fs.id = h.from_stage_id JOIN pipeline_stages ts ON ts.id = h.to_stage_id " \
    "  WHERE d.customer_id = ? AND (? IS NULL OR h.at < ?) " SCOPE_WHERE("d.owner_id", "cu.region") \
    "  ORDER BY h.at DESC LIMIT ?) " \
    "UNION ALL " \
    "(SELECT 'merge', g.at, g.absorbed_id, NULL, NULL, NULL, IF(g.actor_id IS NULL, 'system', 'agent'), g.actor_id, " \
    "  g.moved, NULL, NULL, 0 FROM customer_merges g " \
    "  WHERE g.survivor_id = ? AND (? IS NULL OR g.at < ?) ORDER BY g.at DESC LIMIT ?) " \
    ") t ORDER BY at DESC, kind, id DESC LIMIT ?"

static int timeline(struct api_ctx *c, int64_t id, const char *before, int64_t limit, json_t **out)
{
    struct db_result r;
    int rc = db_exec(c->db, TIMELINE_SQL,
                     DBP(P_I(id), P_S(before), P_S(before), P_I(limit), P_I(id), P_S(before), P_S(before), P_I(limit),
                         P_I(id), P_S(before), P_S(before), P_I(limit), P_I(id), P_S(before), P_S(before),
                         SCOPE_PARAMS(&c->me), P_I(limit), P_I(id), P_S(before), P_S(before), P_I(limit), P_I(limit)),
                     &r);
    if (rc)
        return rc;
    *out = db_rows_json(&r);
    db_result_free(&r);
    return DB_OK;
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
                    "SELECT id, kind, agent_id, deal_id, message, due_at FROM reminders "
                    "WHERE customer_id = ? AND done_at IS NULL ORDER BY due_at LIMIT 50", DBP(P_I(id)));
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
    json_object_set_new(o, "timeline", tl);
    json_object_set_new(o, "campaigns", json_array()); /* the campaign ledger arrives with issue 9 */
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
    if (before && (strlen(before) < 10 || strlen(before) > 30 || !utf8_valid(before, strlen(before))))
        return api_error(c, 400, "bad_request", "before must be a time like 2026-11-23T10:00:00Z");
    if (lim && (text_parse_i64(lim, &limit) < 0 || limit < 1 || limit > TIMELINE_MAX))
        return api_error(c, 400, "bad_request", "limit must be 1..200");
    char when[32] = "";
    if (before) { /* the API's ISO form to MariaDB's */
        text_copy(when, sizeof(when), before);
        for (char *p = when; *p; p++)
            if (*p == 'T')
                *p = ' ';
            else if (*p == 'Z')
                *p = '\0';
    }
    json_t *items = NULL;
    rc = timeline(c, id, before ? when : NULL, limit, &items);
    if (rc)
        return rc;
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)json_array_size(items)));
}

/* api_tickets.c — tickets and their messages (DESIGN.md section 9, "Tickets and
 * messages").
 *
 * Scope (DESIGN.md section 10), in SQL: admin all; manager their team's tickets and
 * tickets without a team; agent tickets assigned to them or unassigned in their team;
 * sales tickets of customers they own. Out of scope answers 404.
 * A reply (POST messages, internal=false) is stored as an outbound message plus an
 * outbox row in the same transaction — the sender workers pick it up; the reply is
 * never "sent" before it is durable. Every change emits ticket.* / message.* events;
 * a reassignment also tells the previous assignee (ticket.unassigned).
 */
#include "gateway/api_handlers.h"
#include "gateway/event_tailer.h"
#include "gateway/routing_rules.h"
#include "gateway/tickets.h"
#include "gateway/lib/json_field.h"
#include "gateway/lib/sms_text.h"
#include "gateway/csat.h"
#include "gateway/lib/text.h"
#include <stdlib.h>
#include <string.h>

#define TICKET_SELECT \
    "SELECT t.id, t.customer_id, cu.name AS customer_name, t.channel, t.subject, t.status, t.priority, t.team_id, " \
    "t.assignee_id, a.name AS assignee_name, t.required_skills AS required_skills__json, t.sla_due_at, " \
    "t.first_response_at, t.solved_at, t.csat, t.created_at, t.updated_at, t.last_message_at, " \
    "t.queued_at, t.offer_agent_id, t.offer_expires_at, t.routing_stage, t.assign_reason AS assign_reason__json, " \
    "t.optional_skills AS optional_skills__json, t.sla_breached AS sla_breached__bool, t.rule_id, " \
    "rr.name AS rule_name, t.campaign_id, cp.name AS campaign_name, " \
    "t.flagged_at, t.flag_reason, " \
    "(t.channel = 'sms' AND EXISTS (SELECT 1 FROM suppressions s JOIN customer_identities ci ON ci.kind = 'phone' " \
    "  AND ci.value = s.value WHERE s.channel = 'sms' AND ci.customer_id = t.customer_id)) AS opted_out__bool " \
    "FROM tickets t JOIN customers cu ON cu.id = t.customer_id LEFT JOIN agents a ON a.id = t.assignee_id " \
    "LEFT JOIN routing_rules rr ON rr.id = t.rule_id LEFT JOIN campaigns cp ON cp.id = t.campaign_id "

#define TICKET_SCOPE \
    " AND (? = 'admin' " \
    "  OR (? = 'manager' AND (? = 0 OR t.team_id = ? OR t.team_id IS NULL)) " \
    "  OR (? = 'agent' AND (t.assignee_id = ? OR t.offer_agent_id = ? " \
    "                       OR (t.assignee_id IS NULL AND (t.team_id IS NULL OR t.team_id = ?)))) " \
    "  OR (? = 'sales' AND cu.owner_id = ?)) "
#define SCOPE_P(me) P_S((me)->role), P_S((me)->role), P_I((me)->team_id), P_I((me)->team_id), \
    P_S((me)->role), P_I((me)->id), P_I((me)->id), P_I((me)->team_id), P_S((me)->role), P_I((me)->id)

#define TICKET_FILTER \
    " AND (? IS NULL OR t.status = ?) AND (? IS NULL OR t.channel = ?) " \
    " AND (? = 0 OR (? = -1 AND t.assignee_id IS NULL) OR t.assignee_id = ?) " \
    " AND (? = 0 OR t.team_id = ?) AND (? = 0 OR t.customer_id = ?) "

/* MESSAGE_COLUMNS "FROM messages m" MESSAGE_AUTHOR "WHERE …": a ticket's messages are read
 * FORCE INDEX (ix_messages_ticket), which also gives their order — while the table is young
 * MariaDB's statistics made it walk the primary key instead. */
#define MESSAGE_COLUMNS \
    "SELECT m.id, m.ticket_id, m.direction, m.channel, m.author_type, m.author_id, ag.name AS author_name, " \
    "m.body_text, m.body_html, m.body_visible, m.segments, m.encoding, m.status, m.kb_article_id, " \
    "IF(m.status IN ('failed','ambiguous','queued'), (SELECT o.error FROM outbox o FORCE INDEX (ix_outbox_message) WHERE o.message_id = m.id " \
    "  ORDER BY o.id DESC LIMIT 1), NULL) AS error, m.internal AS internal__bool, m.created_at, " \
    "EXISTS (SELECT 1 FROM attachments at WHERE at.message_id = m.id) AS has_attachments__bool "
#define MESSAGE_AUTHOR " LEFT JOIN agents ag ON ag.id = m.author_id AND m.author_type = 'agent' "

/* A message's attachments come from a second query, asked only when a message has any: as a
 * JSON_ARRAYAGG(… ORDER BY) subquery per message, MariaDB built an on-disk temporary table
 * for every execution of the prepared statement — even for a ticket without attachments —
 * which was most of a ticket read's cost (bench/RESULTS.md, http_read). */
#define ATTACHMENT_SELECT \
    "SELECT at.message_id, at.id, at.filename, at.content_type, at.size, at.sha256, " \
    "at.storage <=> 'db' AS stored__bool, at.url FROM attachments at "

static const struct sb_config *tickets_cfg; /* capacity weights for accept; NULL: no check */

void tickets_init(const struct sb_config *cfg)
{
    tickets_cfg = cfg;
}

static const char *const statuses[] = {"new", "open", "pending", "solved", "closed", NULL};
static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};
static const char *const channels[] = {"chat", "email", "sms", "phone", "web", NULL};

int ticket_load(struct db *db, const struct agent_info *me, int64_t id, json_t **out)
{
    struct db_result r;
    int rc = me ? db_exec(db, TICKET_SELECT "WHERE t.id = ?" TICKET_SCOPE, DBP(P_I(id), SCOPE_P(me)), &r)
                : db_exec(db, TICKET_SELECT "WHERE t.id = ?", DBP(P_I(id)), &r);
    if (rc)
        return rc;
    *out = r.nrows ? db_row_json(&r, 0) : NULL;
    db_result_free(&r);
    return DB_OK;
}

int ticket_load_many(struct db *db, const int64_t *ids, size_t n, json_t **out)
{
    enum { CHUNK = 64 };
    *out = json_array();
    int rc = DB_OK;
    for (size_t at = 0; !rc && at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        struct db_param p[CHUNK];
        for (size_t i = 0; i < k; i++)
            p[i] = P_I(ids[at + i]);
        struct db_result r;
        rc = db_exec_list(db, TICKET_SELECT "WHERE t.id IN ", k, "", p, k, &r);
        for (size_t i = 0; !rc && i < r.nrows; i++)
            json_array_append_new(*out, db_row_json(&r, i));
        if (!rc)
            db_result_free(&r);
    }
    return rc;
}

static int64_t jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* The message of msgs (ordered by id) with this id, or NULL. */
static json_t *message_by_id(json_t *msgs, int64_t id)
{
    size_t lo = 0, hi = json_array_size(msgs);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t at = jint(json_array_get(msgs, mid), "id");
        if (at == id)
            return json_array_get(msgs, mid);
        if (at < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Gives every message of msgs (rows of MESSAGE_COLUMNS ordered by id) its "attachments"
 * array, reading them — one query for all, by ticket (ticket_id) or by the one message —
 * only when a message has any. */
static int add_attachments(struct db *db, json_t *msgs, int64_t ticket_id)
{
    size_t i, with = 0;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        with += json_is_true(json_object_get(m, "has_attachments"));
        json_object_del(m, "has_attachments");
        json_object_set_new(m, "attachments", json_array());
    }
    if (!with)
        return DB_OK;
    struct db_result r;
    int rc = ticket_id ? db_exec(db, ATTACHMENT_SELECT "JOIN messages m ON m.id = at.message_id WHERE m.ticket_id = ? "
                                     "ORDER BY at.id", DBP(P_I(ticket_id)), &r)
                       : db_exec(db, ATTACHMENT_SELECT "WHERE at.message_id = ? ORDER BY at.id",
                                 DBP(P_I(jint(json_array_get(msgs, 0), "id"))), &r);
    if (rc)
        return rc;
    for (size_t k = 0; k < r.nrows; k++) {
        json_t *owner = message_by_id(msgs, db_cell_i64(&r, k, 0));
        json_t *a = db_row_json(&r, k);
        json_object_del(a, "message_id");
        if (owner)
            json_array_append(json_object_get(owner, "attachments"), a);
        json_decref(a);
    }
    db_result_free(&r);
    return DB_OK;
}

int ticket_messages_load(struct db *db, int64_t ticket_id, json_t **out)
{
    struct db_result r;
    int rc = db_exec(db, MESSAGE_COLUMNS "FROM messages m FORCE INDEX (ix_messages_ticket)" MESSAGE_AUTHOR
                         "WHERE m.ticket_id = ? ORDER BY m.id", DBP(P_I(ticket_id)), &r);
    if (rc)
        return rc;
    *out = db_rows_json(&r);
    db_result_free(&r);
    if ((rc = add_attachments(db, *out, ticket_id))) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int tickets_list(struct api_ctx *c)
{
    int64_t limit, offset, assignee = 0, team = 0, customer = 0, total = 0;
    if (api_paging(c, &limit, &offset) < 0)
        return 0;
    const char *status = api_arg(c->req, "status"), *channel = api_arg(c->req, "channel");
    const char *as = api_arg(c->req, "assignee_id");
    if (as && strcmp(as, "me") == 0)
        assignee = c->me.id;
    else if (as && strcmp(as, "none") == 0)
        assignee = -1;
    else if (api_arg_id(c, "assignee_id", &assignee) < 0)
        return 0;
    if (api_arg_id(c, "team_id", &team) < 0 || api_arg_id(c, "customer_id", &customer) < 0)
        return 0;
    if (status && !*status)
        status = NULL;
    if (channel && !*channel)
        channel = NULL;
#define FILTER_P P_S(status), P_S(status), P_S(channel), P_S(channel), P_I(assignee), P_I(assignee), P_I(assignee), P_I(team), \
                 P_I(team), P_I(customer), P_I(customer)
    struct db_result r;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM tickets t JOIN customers cu ON cu.id = t.customer_id "
                                  "WHERE 1" TICKET_SCOPE TICKET_FILTER, DBP(SCOPE_P(&c->me), FILTER_P), 0, &total);
    if (!rc)
        rc = db_exec(c->db, TICKET_SELECT "WHERE 1" TICKET_SCOPE TICKET_FILTER
                            "ORDER BY t.id DESC LIMIT ? OFFSET ?", DBP(SCOPE_P(&c->me), FILTER_P, P_I(limit), P_I(offset)), &r);
#undef FILTER_P
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

int tickets_get(struct api_ctx *c)
{
    json_t *t = NULL, *msgs = NULL;
    int rc = ticket_load(c->db, &c->me, c->req->params.id[0], &t);
    if (rc || !t)
        return rc ? rc : api_not_found(c);
    if ((rc = ticket_messages_load(c->db, jint(t, "id"), &msgs))) {
        json_decref(t);
        return rc;
    }
    json_object_set_new(t, "messages", msgs);
    struct db_result r;
    if ((rc = db_exec(c->db, "SELECT address, role FROM ticket_participants WHERE ticket_id = ? ORDER BY created_at, address",
                      DBP(P_I(jint(t, "id"))), &r))) {
        json_decref(t);
        return rc;
    }
    json_object_set_new(t, "participants", db_rows_json(&r));
    db_result_free(&r);
    api_cacheable_ticket(c, jint(t, "id"), jint(t, "team_id"), jint(t, "assignee_id"), jint(t, "offer_agent_id"));
    return api_json(c, 200, t);
}

/* Types a browser may show inline from a blob URL; anything else downloads as bytes. */
static const char *download_type(const char *type)
{
    static const char *const safe[] = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
                                       "text/plain", NULL};
    for (size_t i = 0; type && safe[i]; i++)
        if (strcmp(type, safe[i]) == 0)
            return safe[i];
    return "application/octet-stream";
}

/* The chunks of one content hash, concatenated; a filename as RFC 6266 filename*. */
static int send_content(struct api_ctx *c, const struct db_result *meta)
{
    struct api_req *q = c->req;
    struct db_result r;
    int rc = db_exec(c->db, "SELECT data FROM attachment_chunks WHERE sha256 = ? ORDER BY seq", DBP(P_S(db_cell(meta, 0, 2))),
                     &r);
    if (rc)
        return rc;
    buf_reset(&q->resp);
    for (size_t i = 0; i < r.nrows; i++)
        buf_append(&q->resp, db_cell(&r, i, 0), r.lens[i]);
    db_result_free(&r);
    if (q->resp.len != strtoull(db_cell(meta, 0, 3), NULL, 10))
        return api_error(c, 500, "content_damaged", "the stored content does not have the recorded size");
    q->status = 200;
    q->resp_type = download_type(db_cell(meta, 0, 1));
    const char *name = db_cell(meta, 0, 0) ? db_cell(meta, 0, 0) : "attachment";
    struct buf d;
    buf_init(&d, 0);
    buf_puts(&d, "attachment; filename*=UTF-8''");
    for (const unsigned char *p = (const unsigned char *)name; *p && d.len < sizeof(q->disposition) - 4; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(".-_~", *p))
            buf_append(&d, (const char *)p, 1);
        else
            buf_printf(&d, "%%%02X", *p);
    }
    text_copy(q->disposition, sizeof(q->disposition), d.data ? d.data : "attachment");
    buf_free(&d);
    return 0;
}

/* GET /api/v1/attachments/{id}/content: the bytes, when the caller may see the ticket. */
int attachment_content(struct api_ctx *c)
{
    struct db_result r;
    int rc = db_exec(c->db, "SELECT at.filename, at.content_type, at.sha256, at.size, m.ticket_id FROM attachments at "
                            "JOIN messages m ON m.id = at.message_id WHERE at.id = ? AND at.storage = 'db'",
                     DBP(P_I(c->req->params.id[0])), &r);
    if (rc)
        return rc;
    json_t *t = NULL;
    if (r.nrows && (rc = ticket_load(c->db, &c->me, strtoll(db_cell(&r, 0, 4), NULL, 10), &t)) == DB_OK && t) {
        json_decref(t);
        rc = send_content(c, &r);
    } else if (!rc) {
        rc = api_not_found(c);
    }
    db_result_free(&r);
    return rc;
}

/* Checks that referenced rows exist (and the customer is visible to the caller). */
static int check_refs(struct api_ctx *c, struct jf *f, int64_t customer, int64_t team, int64_t assignee)
{
    int64_t n = 0;
    int rc = DB_OK;
    if (customer) {
        rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM customers c WHERE c.id = ? AND c.merged_into IS NULL "
                                  "AND (? <> 'sales' OR c.owner_id = ? OR c.owner_id IN "
                                  "(SELECT a.id FROM agents a WHERE a.team_id = ?))",
                           DBP(P_I(customer), P_S(c->me.role), P_I(c->me.id), P_I(c->me.team_id)), 0, &n);
        if (!rc && !n)
            jf_fail(f, "customer_id", "no such customer");
    }
    if (!rc && team) {
        rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM teams WHERE id = ?", DBP(P_I(team)), 0, &n);
        if (!rc && !n)
            jf_fail(f, "team_id", "no such team");
    }
    if (!rc && assignee) {
        rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM agents WHERE id = ? AND active = 1", DBP(P_I(assignee)), 0, &n);
        if (!rc && !n)
            jf_fail(f, "assignee_id", "no such active agent");
    }
    return rc;
}

int ticket_event(struct db *db, const char *kind, json_t *t, json_t *payload)
{
    return event_insert(db, kind, jint(t, "id"), jint(t, "customer_id"), jint(t, "assignee_id"), jint(t, "team_id"),
                        payload);
}

static int emit(struct api_ctx *c, const char *kind, json_t *ticket)
{
    return api_event(c, kind, jint(ticket, "id"), jint(ticket, "customer_id"), jint(ticket, "assignee_id"),
                     jint(ticket, "team_id"), json_pack("{s:O}", "ticket", ticket));
}

/* Tells the agents who saw a ticket in the unassigned queue that it is gone from there:
 * addressed to nobody (so they may see it), carrying nothing but its id. */
static int ticket_taken_event(struct db *db, json_t *t)
{
    return event_insert(db, "ticket.taken", jint(t, "id"), 0, 0, jint(t, "team_id"),
                        json_pack("{s:I, s:I}", "ticket_id", (json_int_t)jint(t, "id"), "assignee_id",
                                  (json_int_t)jint(t, "assignee_id")));
}

int tickets_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"customer_id", "channel", "subject", "priority", "team_id", "assignee_id", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    bool has;
    int64_t customer = jf_int(&f, "customer_id", 1, INT64_MAX, true, &has);
    const char *channel = jf_enum(&f, "channel", channels, true);
    const char *subject = jf_str(&f, "subject", 500, false);
    const char *priority = jf_enum(&f, "priority", priorities, false);
    int64_t team = jf_int(&f, "team_id", 1, INT64_MAX, false, &has);
    int64_t assignee = jf_int(&f, "assignee_id", 1, INT64_MAX, false, &has);
    int rc = check_refs(c, &f, customer, team, assignee);
    if (!api_checked(c, &f, &rc))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO tickets (customer_id, channel, subject, priority, team_id, assignee_id, status) "
                        "VALUES (?, ?, ?, COALESCE(?, 'normal'), ?, ?, IF(? IS NULL, 'new', 'open'))",
                 DBP(P_I(customer), P_S(channel), P_S(subject), P_S(priority), P_IOPT(team), P_IOPT(assignee),
                     P_IOPT(assignee)), &r);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    if ((rc = ticket_queue_sync(c->db, id)) || (rc = routing_classify(c->db, id)))
        return rc;
    json_t *t = NULL;
    if ((rc = ticket_load(c->db, NULL, id, &t)) || (rc = emit(c, "ticket.created", t)) ||
        (assignee && (rc = emit(c, "ticket.assigned", t)))) {
        json_decref(t);
        return rc;
    }
    return api_json(c, 201, t);
}

int tickets_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = ticket_load(c->db, &c->me, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    static const char *const allowed[] = {"status", "priority", "subject", "team_id", "assignee_id", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    bool has_team = false, has_assignee = false;
    const char *status = jf_enum(&f, "status", statuses, false);
    const char *priority = jf_enum(&f, "priority", priorities, false);
    const char *subject = jf_str(&f, "subject", 500, false);
    int64_t team = jf_int(&f, "team_id", 1, INT64_MAX, false, &has_team);
    int64_t assignee = jf_int(&f, "assignee_id", 1, INT64_MAX, false, &has_assignee);
    has_team = has_team || (jf_has(&f, "team_id") && json_is_null(json_object_get(c->body, "team_id")));
    has_assignee = has_assignee || (jf_has(&f, "assignee_id") && json_is_null(json_object_get(c->body, "assignee_id")));
    rc = check_refs(c, &f, 0, team, assignee);
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
    rc = db_exec(c->db, "UPDATE tickets SET status = COALESCE(?, status), priority = COALESCE(?, priority), "
                            "subject = COALESCE(?, subject), team_id = IF(?, ?, team_id), "
                            "assignee_id = IF(?, ?, assignee_id), "
                            "solved_at = CASE WHEN ? IN ('solved','closed') THEN COALESCE(solved_at, NOW(3)) "
                            "  WHEN ? IS NOT NULL THEN NULL ELSE solved_at END WHERE id = ?",
                     DBP(P_S(status), P_S(priority), P_S(subject), P_I(has_team), P_IOPT(team), P_I(has_assignee),
                         P_IOPT(assignee), P_S(status), P_S(status), P_I(id)), NULL);
    if (!rc)
        rc = ticket_queue_sync(c->db, id);
    if (!rc && status && strcmp(status, "solved") == 0) /* asked once, the first time */
        rc = csat_ask(c->db, id);
    json_t *after = NULL;
    if (!rc)
        rc = ticket_load(c->db, NULL, id, &after);
    int64_t old_assignee = jint(before, "assignee_id"), new_assignee = after ? jint(after, "assignee_id") : 0;
    if (!rc)
        rc = emit(c, "ticket.updated", after);
    const char *was = json_string_value(json_object_get(before, "status"));
    if (!rc && status && strcmp(status, "solved") == 0 && was && strcmp(was, "solved") != 0 && strcmp(was, "closed") != 0)
        rc = emit(c, "ticket.solved", after); /* for webhooks: the moment it was solved, once */
    if (!rc && has_assignee && new_assignee != old_assignee) {
        if (new_assignee)
            rc = emit(c, "ticket.assigned", after);
        if (!rc && new_assignee && !old_assignee)
            rc = ticket_taken_event(c->db, after);
        if (!rc && old_assignee)
            rc = api_event(c, "ticket.unassigned", id, jint(after, "customer_id"), old_assignee, jint(before, "team_id"),
                           json_pack("{s:I, s:I}", "ticket_id", (json_int_t)id, "previous_assignee_id",
                                     (json_int_t)old_assignee));
    }
    json_decref(before);
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, 200, after);
}

int tickets_messages(struct api_ctx *c)
{
    json_t *t = NULL, *msgs = NULL;
    int rc = ticket_load(c->db, &c->me, c->req->params.id[0], &t);
    if (rc || !t)
        return rc ? rc : api_not_found(c);
    json_decref(t);
    if ((rc = ticket_messages_load(c->db, c->req->params.id[0], &msgs)))
        return rc;
    size_t n = json_array_size(msgs);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", msgs, "total", (json_int_t)n));
}

/* The address a reply on this channel goes to. */
static int recipient_for(struct db *db, int64_t customer, const char *channel, char *out, size_t outsz)
{
    const char *kind = strcmp(channel, "email") == 0 ? "email" : strcmp(channel, "sms") == 0 ? "phone" : "chat";
    struct db_result r;
    int rc = db_exec(db, "SELECT value FROM customer_identities WHERE customer_id = ? AND kind = ? "
                         "ORDER BY is_primary DESC, id DESC LIMIT 1", DBP(P_I(customer), P_S(kind)), &r);
    if (rc)
        return rc;
    out[0] = '\0';
    if (r.nrows)
        text_copy(out, outsz, db_cell(&r, 0, 0));
    db_result_free(&r);
    return DB_OK;
}

static int load_message(struct db *db, int64_t id, json_t **msg)
{
    struct db_result r;
    int rc = db_exec(db, MESSAGE_COLUMNS "FROM messages m" MESSAGE_AUTHOR "WHERE m.id = ?", DBP(P_I(id)), &r);
    if (rc)
        return rc;
    json_t *rows = db_rows_json(&r);
    db_result_free(&r);
    *msg = NULL;
    if (json_array_size(rows) && !(rc = add_attachments(db, rows, 0)))
        *msg = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return rc;
}

/* keyword_reply: the answer to STOP/START/HELP, sent even to a number that opted out */
static int queue_outbound(struct db *db, json_t *t, int64_t mid, const char *to, const char *body, bool keyword_reply)
{
    json_t *payload = json_pack("{s:I, s:I, s:s?, s:s}", "message_id", (json_int_t)mid, "ticket_id",
                                (json_int_t)jint(t, "id"), "subject", json_string_value(json_object_get(t, "subject")),
                                "body_text", body);
    if (keyword_reply)
        json_object_set_new(payload, "keyword_reply", json_true());
    char *ps = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    int rc = db_exec(db, "INSERT INTO outbox (message_id, channel, recipient, payload) VALUES (?, ?, ?, ?)",
                     DBP(P_I(mid), P_S(json_string_value(json_object_get(t, "channel"))), P_S(to), P_S(ps)), NULL);
    free(ps);
    return rc;
}

int ticket_reply(struct db *db, const struct agent_info *me, int64_t ticket_id, const char *body, bool internal,
                 const char *client_id, json_t **msg)
{
    *msg = NULL;
    json_t *t = NULL;
    int rc = ticket_load(db, me, ticket_id, &t);
    if (rc || !t)
        return rc ? rc : TICKET_NOT_FOUND;
    /* Serialise replies on one ticket: first_response_at is set once, and a repeated
     * client_id is found by its twin that holds the lock (not raced past). */
    rc = db_exec(db, "SELECT id FROM tickets WHERE id = ? FOR UPDATE", DBP(P_I(ticket_id)), NULL);
    char ext[128] = "";
    if (!rc && client_id && *client_id) {
        int64_t existing = 0;
        snprintf(ext, sizeof(ext), "agent:%lld:%s", (long long)me->id, client_id);
        rc = db_scalar_i64(db, "SELECT id FROM messages WHERE external_id = ? AND author_id = ? LIMIT 1",
                           DBP(P_S(ext), P_I(me->id)), 0, &existing);
        if (!rc && existing) {
            json_decref(t);
            return load_message(db, existing, msg);
        }
    }
    const char *channel = json_string_value(json_object_get(t, "channel"));
    int is_chat = strcmp(channel, "chat") == 0;
    char to[256] = "";
    if (!rc && !internal) {
        if (strcmp(channel, "email") && strcmp(channel, "sms") && !is_chat)
            rc = TICKET_NOT_DELIVERABLE;
        else if (!is_chat && !(rc = recipient_for(db, jint(t, "customer_id"), channel, to, sizeof(to))) && !to[0])
            rc = TICKET_NO_RECIPIENT;
    }
    int64_t opted_out = 0;
    if (!rc && to[0] && strcmp(channel, "sms") == 0 &&
        !(rc = db_scalar_i64(db, "SELECT COUNT(*) FROM suppressions WHERE channel = 'sms' AND value = ?",
                             DBP(P_S(to)), 0, &opted_out)) && opted_out)
        rc = TICKET_OPTED_OUT;
    struct sms_count sc = {0};
    if (strcmp(channel, "sms") == 0)
        sms_count_text(body, &sc);
    struct db_result r;
    if (!rc)
        rc = db_exec(db, "INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, author_id, "
                         "body_text, internal, status, external_id, segments, encoding) "
                         "VALUES (?, ?, 'out', ?, 'agent', ?, ?, ?, ?, ?, ?, ?)",
                     DBP(P_I(ticket_id), P_I(jint(t, "customer_id")), P_S(channel), P_I(me->id), P_S(body),
                         P_I(internal), P_S(internal ? "note" : is_chat ? "sent" : "queued"), P_S(ext[0] ? ext : NULL),
                         P_IOPT((int64_t)sc.segments), P_S(sc.segments ? sms_encoding_name(sc.encoding) : NULL)),
                     &r);
    int64_t mid = 0;
    if (!rc) {
        mid = (int64_t)r.insert_id;
        db_result_free(&r);
    }
    if (!rc && !internal && !is_chat) /* chat replies reach the customer through the event feed */
        rc = queue_outbound(db, t, mid, to, body, false);
    if (!rc && !internal)
        /* the first answer: the SLA clock moves on to the resolution target, with fresh
         * warning/breach flags (a late first answer was reported when it became late);
         * left to right, so these see first_response_at before it is set */
        rc = db_exec(db, "UPDATE tickets t SET sla_breached = IF(t.first_response_at IS NULL, 0, t.sla_breached), "
                         "sla_warned = IF(t.first_response_at IS NULL, 0, t.sla_warned), "
                         "sla_due_at = IF(t.first_response_at IS NULL AND t.sla_due_at IS NOT NULL, "
                         "  (SELECT t.created_at + INTERVAL p.resolution_mins MINUTE FROM sla_policies p WHERE "
                         "   p.priority = t.priority AND (p.channel = t.channel OR p.channel IS NULL) "
                         "   ORDER BY p.channel IS NULL LIMIT 1), t.sla_due_at), "
                         "first_response_at = COALESCE(t.first_response_at, NOW(3)), "
                         "status = IF(t.status = 'new', 'open', t.status), last_message_at = NOW(3) WHERE t.id = ?",
                     DBP(P_I(ticket_id)), NULL);
    if (!rc)
        rc = load_message(db, mid, msg);
    if (!rc)
        rc = event_insert(db, "message.created", ticket_id, jint(t, "customer_id"), jint(t, "assignee_id"),
                          jint(t, "team_id"), json_pack("{s:O}", "message", *msg));
    json_t *after = NULL; /* status and first response may have changed */
    if (!rc && !internal && !(rc = ticket_load(db, NULL, ticket_id, &after)) && after)
        rc = event_insert(db, "ticket.updated", ticket_id, jint(after, "customer_id"), jint(after, "assignee_id"),
                          jint(after, "team_id"), json_pack("{s:O}", "ticket", after));
    json_decref(after);
    json_decref(t);
    return rc;
}

int ticket_accept(struct db *db, const struct agent_info *me, int64_t ticket_id, json_t **ticket)
{
    *ticket = NULL;
    json_t *t = NULL;
    int rc = ticket_load(db, me, ticket_id, &t);
    if (!rc && !t) { /* out of scope now: because someone took it, or it never was ours to see */
        int64_t taken = 0;
        rc = db_scalar_i64(db, "SELECT COUNT(*) FROM tickets WHERE id = ? AND assignee_id IS NOT NULL AND assignee_id <> ?",
                           DBP(P_I(ticket_id), P_I(me->id)), 0, &taken);
        return rc ? rc : taken ? TICKET_NOT_AVAILABLE : TICKET_NOT_FOUND;
    }
    if (rc)
        return rc;
    /* Lock my agent row, then the ticket, and decide on fresh values: an offer to me is
     * already counted in my load; taking anything else must fit my capacity (an offer can
     * lapse between the agent's click and this transaction). */
    int room = 1;
    if (tickets_cfg &&
        (rc = routing_agent_room(db, tickets_cfg, me->id, json_string_value(json_object_get(t, "channel")), 0, &room))) {
        json_decref(t);
        return rc;
    }
    json_decref(t);
    struct db_result cur;
    if ((rc = db_exec(db, "SELECT COALESCE(assignee_id, 0), COALESCE(offer_agent_id, 0) FROM tickets WHERE id = ? FOR UPDATE",
                      DBP(P_I(ticket_id)), &cur)))
        return rc;
    int64_t holder = cur.nrows ? db_cell_i64(&cur, 0, 0) : -1, offer = cur.nrows ? db_cell_i64(&cur, 0, 1) : 0;
    db_result_free(&cur);
    if (holder != 0 && holder != me->id)
        return TICKET_NOT_AVAILABLE;
    if (offer != 0 && offer != me->id)
        return TICKET_NOT_AVAILABLE;
    if (holder == 0 && offer == 0 && room <= 0)
        return TICKET_AT_CAPACITY;
    struct db_result r;
    rc = db_exec(db, "UPDATE tickets SET assignee_id = ?, status = IF(status = 'new', 'open', status) "
                     "WHERE id = ? AND (assignee_id IS NULL OR assignee_id = ?) AND (offer_agent_id IS NULL OR offer_agent_id = ?)",
                 DBP(P_I(me->id), P_I(ticket_id), P_I(me->id), P_I(me->id)), &r);
    if (rc)
        return rc;
    uint64_t n = r.affected;
    db_result_free(&r);
    if (!n)
        return TICKET_NOT_AVAILABLE;
    if ((rc = db_exec(db, "UPDATE ticket_offers SET outcome = 'accepted' WHERE ticket_id = ? AND agent_id = ? "
                          "AND outcome = 'offered'", DBP(P_I(ticket_id), P_I(me->id)), NULL)) ||
        (rc = ticket_queue_sync(db, ticket_id)))
        return rc;
    if ((rc = ticket_load(db, NULL, ticket_id, ticket)))
        return rc;
    t = *ticket;
    rc = event_insert(db, "ticket.assigned", ticket_id, jint(t, "customer_id"), me->id, jint(t, "team_id"),
                      json_pack("{s:O}", "ticket", t));
    return rc ? rc : ticket_taken_event(db, t);
}

static const char *const outcome_codes[] = {"", "not_found", "no_recipient", "not_deliverable", "not_available",
                                            "opted_out", "at_capacity"};
static const char *const outcome_texts[] = {"", "no such ticket", "the customer has no address on this channel",
                                            "replies on this channel cannot be sent; post an internal note",
                                            "the ticket is assigned to someone else",
                                            "the customer opted out of SMS (texted STOP); they can text START to "
                                            "opt in again, or use another channel",
                                            "you are at your capacity on this channel; finish a conversation first"};

const char *ticket_outcome_text(int rc, const char **code)
{
    int ok = rc > 0 && rc <= TICKET_AT_CAPACITY;
    *code = ok ? outcome_codes[rc] : "error";
    return ok ? outcome_texts[rc] : "unexpected outcome";
}

static int answer_outcome(struct api_ctx *c, int rc)
{
    const char *code;
    switch (rc) {
    case TICKET_OPTED_OUT:
    case TICKET_AT_CAPACITY:
        return api_error(c, 409, rc == TICKET_OPTED_OUT ? "opted_out" : "at_capacity", ticket_outcome_text(rc, &code));
    case TICKET_NOT_FOUND:
        return api_not_found(c);
    case TICKET_NO_RECIPIENT:
        return api_invalid(c, json_pack("{s:s}", "body_text", "the customer has no address on this ticket's channel"));
    case TICKET_NOT_DELIVERABLE:
        return api_invalid(c, json_pack("{s:s}", "internal", "replies on this channel cannot be sent; post an internal note"));
    case TICKET_NOT_AVAILABLE:
        return api_error(c, 409, "not_available", "the ticket is assigned to someone else");
    default:
        return rc;
    }
}

int tickets_message_add(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"body_text", "internal", "client_id", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    const char *body = jf_str(&f, "body_text", 100000, true);
    const char *client_id = jf_str(&f, "client_id", 64, false);
    bool internal = jf_bool(&f, "internal", false);
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *msg = NULL;
    rc = ticket_reply(c->db, &c->me, c->req->params.id[0], body, internal, client_id, &msg);
    if (rc)
        return answer_outcome(c, rc);
    return api_json(c, 201, msg);
}

/* POST /tickets/{id}/transfer {team_id?, assignee_id?, note?}: reassigns and keeps the
 * history with an internal system note. */
int tickets_transfer(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = ticket_load(c->db, &c->me, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    static const char *const allowed[] = {"team_id", "assignee_id", "skill", "min_level", "note", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    bool has_team = false, has_assignee = false, has_level = false;
    int64_t team = jf_int(&f, "team_id", 1, INT64_MAX, false, &has_team);
    int64_t assignee = jf_int(&f, "assignee_id", 1, INT64_MAX, false, &has_assignee);
    const char *skill = jf_str(&f, "skill", 64, false);
    int64_t level = jf_int(&f, "min_level", 1, 10, false, &has_level);
    const char *note = jf_str(&f, "note", 2000, false);
    if (!has_team && !has_assignee && !skill)
        jf_fail(&f, "team_id", "give a team_id, an assignee_id or a skill to transfer to");
    if (skill && has_assignee)
        jf_fail(&f, "skill", "a transfer to a skill goes back to the router: give no assignee_id with it");
    rc = check_refs(c, &f, 0, team, assignee);
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
    /* to a skill: the router finds someone who has it (optional skills dropped, the wait restarts) */
    json_t *req = skill ? json_pack("[{s:s, s:I}]", "skill", skill, "min_level", (json_int_t)(has_level ? level : 1)) : NULL;
    char *req_text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    rc = db_exec(c->db, "UPDATE tickets SET team_id = IF(?, ?, team_id), assignee_id = ?, "
                        "required_skills = COALESCE(?, required_skills), optional_skills = IF(? IS NULL, optional_skills, '[]'), "
                        "queued_at = IF(? IS NULL, queued_at, NULL) WHERE id = ?",
                 DBP(P_I(has_team), P_IOPT(team), P_IOPT(assignee), P_S(req_text), P_S(req_text), P_S(req_text), P_I(id)),
                 NULL);
    free(req_text);
    if (!rc)
        rc = ticket_queue_sync(c->db, id);
    json_t *after = NULL;
    if (!rc)
        rc = ticket_load(c->db, NULL, id, &after);
    if (!rc) {
        struct buf b;
        buf_init(&b, 4096);
        buf_printf(&b, "Transferred by %s", c->me.name);
        struct db_result tr;
        if (has_team && !(rc = db_exec(c->db, "SELECT name FROM teams WHERE id = ?", DBP(P_I(team)), &tr))) {
            buf_printf(&b, " to team %s", tr.nrows ? db_cell(&tr, 0, 0) : "?");
            db_result_free(&tr);
        }
        if (json_string_value(json_object_get(after, "assignee_name")))
            buf_printf(&b, " to %s", json_string_value(json_object_get(after, "assignee_name")));
        if (skill)
            buf_printf(&b, " to someone with %s ≥ %lld", skill, (long long)(has_level ? level : 1));
        if (note && *note)
            buf_printf(&b, ": %s", note);
        struct db_result ins;
        if (!rc)
            rc = db_exec(c->db, "INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, author_id, "
                                "body_text, internal, status) VALUES (?, ?, 'out', ?, 'system', ?, ?, 1, 'note')",
                         DBP(P_I(id), P_I(jint(after, "customer_id")),
                             P_S(json_string_value(json_object_get(after, "channel"))), P_I(c->me.id), P_S(b.data)), &ins);
        buf_free(&b);
        json_t *note_msg = NULL;
        if (!rc) {
            int64_t mid = (int64_t)ins.insert_id;
            db_result_free(&ins);
            rc = load_message(c->db, mid, &note_msg);
        }
        if (!rc && note_msg)
            rc = api_event(c, "message.created", id, jint(after, "customer_id"), jint(after, "assignee_id"),
                           jint(after, "team_id"), json_pack("{s:o}", "message", note_msg));
    }
    if (!rc)
        rc = emit(c, "ticket.updated", after);
    int64_t old_assignee = jint(before, "assignee_id");
    if (!rc && assignee && assignee != old_assignee)
        rc = emit(c, "ticket.assigned", after);
    if (!rc && assignee && !old_assignee)
        rc = ticket_taken_event(c->db, after);
    if (!rc && old_assignee && old_assignee != assignee)
        rc = api_event(c, "ticket.unassigned", id, jint(after, "customer_id"), old_assignee, jint(before, "team_id"),
                       json_pack("{s:I, s:I}", "ticket_id", (json_int_t)id, "previous_assignee_id", (json_int_t)old_assignee));
    json_decref(before);
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, 200, after);
}

/* The agents see a message's delivery state change. */
int ticket_message_event(struct db *db, int64_t message_id, const char *status, const char *error)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT m.ticket_id, t.customer_id, COALESCE(t.assignee_id, 0), COALESCE(t.team_id, 0) "
                         "FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE m.id = ?",
                     DBP(P_I(message_id)), &r);
    if (rc || !r.nrows) {
        db_result_free(&r);
        return rc;
    }
    int64_t ticket = db_cell_i64(&r, 0, 0);
    rc = event_insert(db, "message.updated", ticket, db_cell_i64(&r, 0, 1), db_cell_i64(&r, 0, 2), db_cell_i64(&r, 0, 3),
                      json_pack("{s:{s:I, s:I, s:s, s:s?}}", "message", "id", (json_int_t)message_id, "ticket_id",
                                (json_int_t)ticket, "status", status, "error", error));
    db_result_free(&r);
    return rc;
}

int ticket_queue_sync(struct db *db, int64_t id)
{
    /* left to right: the stage resets only for a ticket that was not waiting */
    return db_exec(db, "UPDATE tickets SET "
                       "routing_stage = IF(queued_at IS NULL, 0, routing_stage), "
                       "offer_agent_id = IF(assignee_id IS NULL AND status IN ('new','open'), offer_agent_id, NULL), "
                       "offer_expires_at = IF(offer_agent_id IS NULL, NULL, offer_expires_at), "
                       "queued_at = IF(assignee_id IS NULL AND status IN ('new','open'), COALESCE(queued_at, NOW(3)), NULL) "
                       "WHERE id = ?", DBP(P_I(id)), NULL);
}

static int bot_message(struct db *db, int64_t ticket_id, const char *body, bool keyword_reply, const char *to_override,
                       int64_t kb_article_id, int64_t *message_id);

int ticket_bot_reply(struct db *db, int64_t ticket_id, const char *body, bool keyword_reply, const char *to_override)
{
    int64_t mid = 0;
    return bot_message(db, ticket_id, body, keyword_reply, to_override, 0, &mid);
}

int ticket_bot_offer(struct db *db, int64_t ticket_id, const char *body, int64_t kb_article_id, int64_t *message_id)
{
    return bot_message(db, ticket_id, body, false, NULL, kb_article_id, message_id);
}

static int bot_message(struct db *db, int64_t ticket_id, const char *body, bool keyword_reply, const char *to_override,
                       int64_t kb_article_id, int64_t *message_id)
{
    *message_id = 0;
    json_t *t = NULL;
    int rc = ticket_load(db, NULL, ticket_id, &t);
    if (rc || !t)
        return rc;
    const char *channel = json_string_value(json_object_get(t, "channel"));
    int sends = strcmp(channel, "email") == 0 || strcmp(channel, "sms") == 0;
    char to[256] = "";
    if (sends && to_override)
        text_copy(to, sizeof(to), to_override);
    else if (sends && (rc = recipient_for(db, jint(t, "customer_id"), channel, to, sizeof(to))))
        goto out;
    if (sends && !to[0])
        goto out; /* nowhere to send it */
    struct sms_count sc = {0};
    if (strcmp(channel, "sms") == 0)
        sms_count_text(body, &sc);
    struct db_result r;
    rc = db_exec(db, "INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, status, "
                     "segments, encoding, kb_article_id) VALUES (?, ?, 'out', ?, 'bot', ?, ?, ?, ?, ?)",
                 DBP(P_I(ticket_id), P_I(jint(t, "customer_id")), P_S(channel), P_S(body),
                     P_S(sends ? "queued" : "sent"), P_IOPT((int64_t)sc.segments),
                     P_S(sc.segments ? sms_encoding_name(sc.encoding) : NULL), P_IOPT(kb_article_id)), &r);
    if (rc)
        goto out;
    int64_t mid = *message_id = (int64_t)r.insert_id;
    db_result_free(&r);
    if (sends && (rc = queue_outbound(db, t, mid, to, body, keyword_reply)))
        goto out;
    json_t *msg = NULL;
    if (!(rc = load_message(db, mid, &msg)) && msg)
        rc = event_insert(db, "message.created", ticket_id, jint(t, "customer_id"), jint(t, "assignee_id"),
                          jint(t, "team_id"), json_pack("{s:o}", "message", msg));
out:
    json_decref(t);
    return rc;
}

int ticket_decline(struct db *db, const struct agent_info *me, int64_t ticket_id)
{
    struct db_result r;
    int rc = db_exec(db, "UPDATE tickets SET offer_agent_id = NULL, offer_expires_at = NULL WHERE id = ? AND offer_agent_id = ?",
                     DBP(P_I(ticket_id), P_I(me->id)), &r);
    if (rc)
        return rc;
    uint64_t n = r.affected;
    db_result_free(&r);
    if (!n)
        return TICKET_NOT_AVAILABLE; /* not (or no longer) offered to me */
    rc = db_exec(db, "UPDATE ticket_offers SET outcome = 'declined' WHERE ticket_id = ? AND agent_id = ? AND outcome = 'offered'",
                 DBP(P_I(ticket_id), P_I(me->id)), NULL);
    if (!rc)
        rc = event_insert(db, "ticket.offer_withdrawn", ticket_id, 0, me->id, 0,
                          json_pack("{s:I, s:I, s:s}", "ticket_id", (json_int_t)ticket_id, "agent_id", (json_int_t)me->id,
                                    "reason", "declined"));
    return rc;
}

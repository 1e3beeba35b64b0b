/* api_approvals.c — approvals (/api/v1/approvals; contract docs/rules.md): a change a
 * rule's request_approval action held (today: starting a campaign) waits here until an
 * approver decides.
 *
 * Who: an approver is an active agent of the approval's role, or an admin — never the
 * agent who asked. Admins see every approval, managers those of their role and their own
 * requests, everyone else only their own requests; anything else answers 404.
 * Deciding locks the row, so two approvers cannot both decide; approving carries the held
 * change out in the same transaction (a campaign that can no longer start makes the
 * approval fail with 409 and nothing changes); rejecting needs a comment. The requester
 * hears about the decision (a reminder); every step is audited and emits approval.updated.
 */
#include "gateway/api_handlers.h"
#include "gateway/rules.h"
#include <stdio.h>
#include <string.h>

#define APPROVAL_SELECT                                                                                                \
    "SELECT p.id, p.kind, p.record_type, p.record_id, p.summary, p.role, p.status, p.rule_id, p.requested_by, "       \
    "ra.name AS requested_by_name, p.decided_by, da.name AS decided_by_name, p.decided_at, p.decision_comment, "       \
    "p.created_at, (p.status = 'pending' AND COALESCE(p.requested_by, 0) <> me.id "                                    \
    "AND (me.role = 'admin' OR me.role = p.role)) AS can_decide__bool, "                                             \
    "COALESCE((SELECT JSON_ARRAYAGG(JSON_OBJECT('id', k.id, 'agent_id', k.agent_id, 'agent_name', ka.name, "           \
    "'body', k.body, 'created_at', DATE_FORMAT(k.created_at, '%Y-%m-%dT%H:%i:%s.%fZ')) ORDER BY k.id) "                  \
    "FROM approval_comments k LEFT JOIN agents ka ON ka.id = k.agent_id WHERE k.approval_id = p.id), '[]') "          \
    "AS comments__json " APPROVAL_FROM "LEFT JOIN agents ra ON ra.id = p.requested_by "                                \
    "LEFT JOIN agents da ON da.id = p.decided_by "
/* the caller as a one-row table, so every statement binds it first: (me.id, me.role) */
#define APPROVAL_FROM "FROM (SELECT ? AS id, ? AS role) me JOIN approvals p "
#define ME_P(c) P_I((c)->me.id), P_S((c)->me.role)
/* what the caller may see */
#define APPROVAL_VISIBLE " (me.role = 'admin' OR p.requested_by = me.id OR (me.role = 'manager' AND p.role = 'manager')) "

int approval_load(struct api_ctx *c, int64_t id, json_t **out)
{
    return db_row_json_of(c->db, APPROVAL_SELECT "WHERE p.id = ? AND" APPROVAL_VISIBLE, DBP(ME_P(c), P_I(id)), out);
}

int approvals_list(struct api_ctx *c)
{
    static const char *const states[] = {"pending", "approved", "rejected", "cancelled", NULL};
    const char *status = api_arg(c->req, "status"), *mine = api_arg(c->req, "mine");
    int ok = !status;
    for (size_t i = 0; status && states[i]; i++)
        ok |= strcmp(status, states[i]) == 0;
    if (!ok)
        return api_error(c, 400, "bad_request", "status is pending, approved, rejected or cancelled");
    int only_mine = mine && strcmp(mine, "1") == 0;
    return api_paged(c,
                     "SELECT COUNT(*) " APPROVAL_FROM "WHERE" APPROVAL_VISIBLE "AND (? IS NULL OR p.status = ?) "
                     "AND (? = 0 OR p.requested_by = me.id)",
                     APPROVAL_SELECT "WHERE" APPROVAL_VISIBLE "AND (? IS NULL OR p.status = ?) "
                     "AND (? = 0 OR p.requested_by = me.id) ORDER BY p.status = 'pending' DESC, p.id DESC LIMIT ? OFFSET ?",
                     DBP(ME_P(c), P_S(status), P_S(status), P_I(only_mine)));
}

int approvals_get(struct api_ctx *c)
{
    json_t *o = NULL;
    int rc = approval_load(c, c->req->params.id[0], &o);
    if (rc || !o)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, o);
}

static int add_comment(struct api_ctx *c, int64_t id, const char *body)
{
    return db_exec(c->db, "INSERT INTO approval_comments (approval_id, agent_id, body) VALUES (?, ?, ?)",
                   DBP(P_I(id), P_IOPT(c->me.id), P_S(body)), NULL);
}

static int approval_event(struct api_ctx *c, int64_t id, const char *status)
{
    return api_event(c, "approval.updated", 0, 0, 0, 0,
                     json_pack("{s:I, s:s}", "approval_id", (json_int_t)id, "status", status));
}

int approvals_comment(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"body", NULL};
    int64_t id = c->req->params.id[0];
    json_t *o = NULL;
    int rc = approval_load(c, id, &o);
    if (rc || !o)
        return rc ? rc : api_not_found(c);
    json_decref(o);
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    const char *body = jf_str(&f, "body", 2000, true);
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *after = json_pack("{s:s}", "comment", body);
    rc = add_comment(c, id, body);
    if (!rc)
        rc = api_audit(c, "approval.commented", "approval", id, NULL, after);
    json_decref(after);
    if (!rc)
        rc = approval_event(c, id, "commented");
    if (rc)
        return rc;
    json_t *now = NULL;
    if ((rc = approval_load(c, id, &now)) || !now)
        return rc ? rc : DB_EOTHER;
    return api_json(c, 201, now);
}

/* approve (1) or reject (0) */
static int decide(struct api_ctx *c, int approve)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"comment", NULL};
    int64_t id = c->req->params.id[0];
    int rc = db_exec(c->db, "SELECT id FROM approvals WHERE id = ? FOR UPDATE", DBP(P_I(id)), NULL);
    json_t *before = NULL;
    if (!rc)
        rc = approval_load(c, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    const char *status = json_string_value(json_object_get(before, "status"));
    if (strcmp(status, "pending") != 0) {
        char msg[120];
        snprintf(msg, sizeof(msg), "the approval is already %s", status);
        json_decref(before);
        return api_error(c, 409, "conflict", msg);
    }
    if (!json_is_true(json_object_get(before, "can_decide"))) {
        int own = json_integer_value(json_object_get(before, "requested_by")) == c->me.id;
        json_decref(before);
        return api_error(c, 403, "forbidden", own ? "you cannot decide your own request"
                                                  : "only an approver of this role or an admin can decide");
    }
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    const char *comment = jf_str(&f, "comment", 2000, !approve);
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
    const char *to = approve ? "approved" : "rejected";
    rc = db_exec(c->db, "UPDATE approvals SET status = ?, decided_by = ?, decided_at = NOW(3), decision_comment = ? "
                        "WHERE id = ?", DBP(P_S(to), P_I(c->me.id), P_S(comment), P_I(id)), NULL);
    if (!rc) /* the approvers' reminders are answered */
        rc = db_exec(c->db, "UPDATE reminders SET done_at = NOW(3) WHERE kind = 'approval' AND done_at IS NULL "
                            "AND dedupe_key LIKE CONCAT('approval:', ?, ':%')", DBP(P_I(id)), NULL);
    if (!rc && approve && strcmp(json_string_value(json_object_get(before, "kind")), "campaign.start") == 0) {
        rc = campaign_start_approved(c, json_integer_value(json_object_get(before, "record_id")), id);
        if (rc == 1) { /* answered 409: the campaign can no longer start */
            json_decref(before);
            return 0;
        }
    }
    int64_t requester = json_integer_value(json_object_get(before, "requested_by"));
    if (!rc && requester) {
        char msg[900], key[64];
        snprintf(msg, sizeof(msg), "%s by %s: %.500s%s%.300s", approve ? "Approved" : "Rejected", c->me.name,
                 json_string_value(json_object_get(before, "summary")), comment ? " — " : "", comment ? comment : "");
        snprintf(key, sizeof(key), "approval:%lld:decided", (long long)id);
        rc = rules_reminder(c->db, "approval", requester, 0, 0, msg, key, 0);
    }
    json_t *after = NULL;
    if (!rc)
        rc = approval_load(c, id, &after);
    if (!rc) {
        char action[32];
        snprintf(action, sizeof(action), "approval.%s", to);
        rc = api_audit(c, action, "approval", id, before, after);
    }
    if (!rc)
        rc = approval_event(c, id, to);
    json_decref(before);
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, 200, after);
}

int approvals_approve(struct api_ctx *c)
{
    return decide(c, 1);
}

int approvals_reject(struct api_ctx *c)
{
    return decide(c, 0);
}

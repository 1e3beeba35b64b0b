/* csat.c — see csat.h. */
#include "gateway/csat.h"
#include "gateway/log.h"
#include "gateway/signed_link.h"
#include "gateway/tickets.h"
#include <stdio.h>
#include <string.h>

static const struct sb_config *cfg;

void csat_init(const struct sb_config *config)
{
    cfg = config;
}

int csat_ask(struct db *db, int64_t ticket_id)
{
    if (!cfg || strcmp(cfg->quality.csat, "yes") != 0)
        return DB_OK;
    struct db_result r;
    int rc = db_exec(db, "UPDATE tickets SET csat_asked_at = NOW(3) WHERE id = ? AND csat_asked_at IS NULL AND csat IS NULL",
                     DBP(P_I(ticket_id)), &r);
    if (rc)
        return rc;
    int first = r.affected > 0;
    db_result_free(&r);
    if (!first)
        return DB_OK;
    char token[SIGNED_TOKEN_MAX], text[700];
    if ((rc = signed_link_token(db, "csat", ticket_id, token)))
        return rc;
    const char *base = cfg->server.public_url[0] ? cfg->server.public_url : "http://localhost";
    snprintf(text, sizeof(text),
             "您的问题已处理完毕。请为本次服务打分（1–5 分）：%s/csat/%s\n"
             "Your request is solved. How did we do? Rate us from 1 to 5: %s/csat/%s",
             base, token, base, token);
    rc = ticket_bot_reply(db, ticket_id, text, false, NULL);
    if (rc > 0) { /* no address, or a channel we cannot write to: no survey, not an error */
        log_info("csat", "event=not_asked ticket=%lld outcome=%d", (long long)ticket_id, rc);
        return DB_OK;
    }
    return rc;
}

int csat_record(struct db *db, int64_t ticket_id, int rating, const char *comment, int *stored)
{
    struct db_result r;
    *stored = 0;
    int rc = db_exec(db, "INSERT IGNORE INTO csat_responses (ticket_id, rating, comment, agent_id, team_id, channel) "
                         "SELECT id, ?, ?, assignee_id, team_id, channel FROM tickets WHERE id = ?",
                     DBP(P_I(rating), P_S(comment && *comment ? comment : NULL), P_I(ticket_id)), &r);
    if (rc)
        return rc;
    int inserted = r.affected > 0;
    db_result_free(&r);
    int64_t have = 0;
    rc = db_scalar_i64(db, "SELECT rating FROM csat_responses WHERE ticket_id = ?", DBP(P_I(ticket_id)), 0, &have);
    if (rc)
        return rc;
    if (!have)
        return CSAT_NO_TICKET;
    *stored = (int)have;
    if (!inserted)
        return CSAT_ALREADY;
    rc = db_exec(db, "UPDATE tickets SET csat = ? WHERE id = ?", DBP(P_I(rating), P_I(ticket_id)), NULL);
    json_t *t = NULL;
    if (!rc)
        rc = ticket_load(db, NULL, ticket_id, &t);
    if (!rc && t)
        rc = ticket_event(db, "ticket.csat", t, json_pack("{s:I, s:i}", "ticket_id", (json_int_t)ticket_id, "rating", rating));
    json_decref(t);
    return rc ? rc : CSAT_RECORDED;
}

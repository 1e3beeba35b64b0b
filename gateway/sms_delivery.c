/* sms_delivery.c — see sms_delivery.h. */
#include "gateway/sms_delivery.h"
#include "gateway/campaign_results.h"
#include "gateway/tickets.h"
#include <stdio.h>
#include <string.h>

int sms_delivery_store(struct db *db, const char *provider_id, const char *status, const char *error_code)
{
    /* error_code before status: MariaDB assigns left to right and later terms see new values */
    return db_exec(db, "INSERT INTO sms_delivery (provider_id, status, error_code) VALUES (?, ?, ?) "
                       "ON DUPLICATE KEY UPDATE "
                       "error_code = IF(FIELD(VALUES(status), 'queued','sending','sent','delivered','undelivered','failed') > "
                       "               FIELD(status, 'queued','sending','sent','delivered','undelivered','failed'), "
                       "               VALUES(error_code), error_code), "
                       "status = IF(FIELD(VALUES(status), 'queued','sending','sent','delivered','undelivered','failed') > "
                       "            FIELD(status, 'queued','sending','sent','delivered','undelivered','failed'), "
                       "            VALUES(status), status)",
                   DBP(P_S(provider_id), P_S(status), P_S(error_code)), NULL);
}

int sms_delivery_apply(struct db *db, const char *provider_id)
{
    struct db_result d, o;
    int rc = db_exec(db, "SELECT status, COALESCE(error_code, '') FROM sms_delivery WHERE provider_id = ?",
                     DBP(P_S(provider_id)), &d);
    if (rc)
        return rc;
    if (!d.nrows) {
        db_result_free(&d);
        return DB_OK;
    }
    /* a campaign's message (its ledger row) or a ticket's (its outbox row) */
    rc = campaign_sms_report(db, provider_id, db_cell(&d, 0, 0), db_cell(&d, 0, 1));
    if (!rc)
        rc = db_exec(db, "SELECT id, COALESCE(message_id, 0), COALESCE(delivery, '') FROM outbox "
                         "WHERE channel = 'sms' AND provider_id = ? FOR UPDATE", DBP(P_S(provider_id)), &o);
    if (rc) {
        db_result_free(&d);
        return rc;
    }
    if (!o.nrows || strcmp(db_cell(&o, 0, 2), db_cell(&d, 0, 0)) == 0) /* unknown yet, or nothing new */
        goto out;
    const char *st = db_cell(&d, 0, 0), *code = db_cell(&d, 0, 1);
    int bad = strcmp(st, "undelivered") == 0 || strcmp(st, "failed") == 0;
    char error[160] = "";
    if (bad)
        snprintf(error, sizeof(error), "not delivered (%s%s%s)", st, *code ? ", error " : "", code);
    int64_t mid = db_cell_i64(&o, 0, 1);
    rc = db_exec(db, "UPDATE outbox SET delivery = ?, state = IF(?, 'failed', state), error = IF(?, ?, error) WHERE id = ?",
                 DBP(P_S(st), P_I(bad), P_I(bad), P_S(error), P_I(db_cell_i64(&o, 0, 0))), NULL);
    const char *mstatus = bad ? "failed" : strcmp(st, "delivered") == 0 ? "delivered" : NULL;
    if (!rc && mid && mstatus)
        rc = db_exec(db, "UPDATE messages SET status = ? WHERE id = ?", DBP(P_S(mstatus), P_I(mid)), NULL);
    if (!rc && mid && mstatus)
        rc = ticket_message_event(db, mid, mstatus, bad ? error : NULL);
out:
    db_result_free(&d);
    db_result_free(&o);
    return rc;
}

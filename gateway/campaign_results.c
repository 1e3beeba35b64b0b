/* campaign_results.c — see campaign_results.h. */
#include "campaign_results.h"
#include "gateway/lib/text.h"
#include <stdio.h>
#include <string.h>

static int64_t reply_days = 7, attribution_days = 30;

void campaign_results_init(const struct sb_config *cfg)
{
    reply_days = cfg->campaigns.reply_days;
    attribution_days = cfg->campaigns.attribution_days;
}

int campaign_email_report(struct db *db, const char *message_id, const char *action, const char *status,
                          const char *diag, int *matched)
{
    struct db_result r;
    *matched = 0;
    int rc = db_exec(db, "SELECT id, COALESCE(address, '') FROM campaign_recipients WHERE provider_id = ? "
                         "AND channel = 'email' LIMIT 1", DBP(P_S(message_id)), &r);
    if (rc)
        return rc;
    if (!r.nrows) {
        db_result_free(&r);
        return DB_OK;
    }
    *matched = 1;
    int64_t id = db_cell_i64(&r, 0, 0);
    char address[256];
    text_copy(address, sizeof(address), db_cell(&r, 0, 1));
    db_result_free(&r);
    if (strcmp(action, "failed") == 0) {
        char why[255];
        snprintf(why, sizeof(why), "%s%s%s", status, *status && *diag ? " " : "", diag);
        rc = db_exec(db, "UPDATE campaign_recipients SET bounced_at = COALESCE(bounced_at, NOW(3)), bounce_reason = ? "
                         "WHERE id = ?", DBP(P_S(why), P_I(id)), NULL);
        if (!rc && status[0] == '5' && address[0]) /* permanent: never again to this address */
            rc = db_exec(db, "INSERT IGNORE INTO suppressions (channel, value, reason) VALUES ('email', ?, 'bounce')",
                         DBP(P_S(address)), NULL);
        return rc;
    }
    if (strcmp(action, "delivered") == 0 || strcmp(action, "relayed") == 0)
        return db_exec(db, "UPDATE campaign_recipients SET delivered_at = COALESCE(delivered_at, NOW(3)) WHERE id = ?",
                       DBP(P_I(id)), NULL);
    return DB_OK; /* delayed, expanded: nothing final yet */
}

int campaign_sms_report(struct db *db, const char *provider_id, const char *status, const char *error_code)
{
    int bad = strcmp(status, "undelivered") == 0 || strcmp(status, "failed") == 0;
    if (!bad && strcmp(status, "delivered") != 0)
        return DB_OK;
    char why[96];
    snprintf(why, sizeof(why), "%s%s%s", status, error_code && *error_code ? ", error " : "",
             error_code ? error_code : "");
    return db_exec(db, "UPDATE campaign_recipients SET "
                       "delivered_at = IF(?, delivered_at, COALESCE(delivered_at, NOW(3))), "
                       "bounced_at = IF(?, COALESCE(bounced_at, NOW(3)), bounced_at), "
                       "bounce_reason = IF(?, ?, bounce_reason) WHERE provider_id = ? AND channel = 'sms'",
                   DBP(P_I(bad), P_I(bad), P_I(bad), P_S(why), P_S(provider_id)), NULL);
}

int campaign_reply_of_email(struct db *db, const char *message_id, size_t n, int64_t *recipient)
{
    *recipient = 0;
    if (n == 0 || n > 255)
        return DB_OK;
    return db_scalar_i64(db, "SELECT id FROM campaign_recipients WHERE provider_id = ? AND channel = 'email' LIMIT 1",
                         DBP(P_SN(message_id, n)), 0, recipient);
}

int campaign_reply_of_sms(struct db *db, int64_t customer_id, int64_t *recipient)
{
    return campaign_replies_of_sms(db, &customer_id, 1, recipient);
}

int campaign_replies_of_sms(struct db *db, const int64_t *customers, size_t n, int64_t *recipients)
{
    enum { CHUNK = 100 };
    int rc = DB_OK;
    for (size_t i = 0; i < n; i++)
        recipients[i] = 0;
    for (size_t at = 0; !rc && at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        struct db_param p[CHUNK + 1];
        p[0] = P_I(reply_days);
        for (size_t i = 0; i < k; i++)
            p[i + 1] = P_I(customers[at + i]);
        struct db_result r;
        rc = db_exec_list(db, "SELECT customer_id, id FROM campaign_recipients WHERE channel = 'sms' AND state = 'sent' "
                              "AND sent_at > NOW(3) - INTERVAL ? DAY AND customer_id IN ", k,
                          " ORDER BY sent_at DESC, id DESC", p, k + 1, &r);
        if (rc)
            break;
        for (size_t row = 0; row < r.nrows; row++) /* the latest first: keep the first per customer */
            for (size_t i = at; i < at + k; i++)
                if (customers[i] == db_cell_i64(&r, row, 0) && !recipients[i])
                    recipients[i] = db_cell_i64(&r, row, 1);
        db_result_free(&r);
    }
    return rc;
}

int campaign_sms_stopped(struct db *db, int64_t customer_id)
{
    int64_t id = 0;
    int rc = campaign_reply_of_sms(db, customer_id, &id);
    if (rc || !id)
        return rc;
    return db_exec(db, "UPDATE campaign_recipients SET unsubscribed_at = COALESCE(unsubscribed_at, NOW(3)) WHERE id = ?",
                   DBP(P_I(id)), NULL);
}

int campaign_reply_record(struct db *db, int64_t recipient, int64_t ticket)
{
    int rc = db_exec(db, "UPDATE campaign_recipients SET replied_at = COALESCE(replied_at, NOW(3)), "
                         "reply_ticket_id = COALESCE(reply_ticket_id, ?) WHERE id = ?",
                     DBP(P_IOPT(ticket), P_I(recipient)), NULL);
    if (!rc && ticket > 0)
        rc = db_exec(db, "UPDATE tickets t JOIN campaign_recipients r ON r.id = ? SET t.campaign_id = r.campaign_id "
                         "WHERE t.id = ? AND t.campaign_id IS NULL", DBP(P_I(recipient), P_I(ticket)), NULL);
    return rc;
}

int64_t campaign_attribution_days(void)
{
    return attribution_days;
}

int campaign_revenue(struct db *db, int64_t campaign, json_t *stats)
{
    struct db_result r;
    int rc = db_exec(db, ATTRIBUTED_DEALS("d.currency", "(SELECT created_at FROM campaigns WHERE id = ?)",
                                          "r.campaign_id = ?", "d.currency"),
                     DBP(P_I(attribution_days), P_I(campaign), P_I(campaign)), &r);
    if (rc)
        return rc;
    json_t *revenue = json_object();
    int64_t deals = 0;
    for (size_t i = 0; i < r.nrows; i++) {
        deals += db_cell_i64(&r, i, 1);
        json_object_set_new(revenue, db_cell(&r, i, 0), json_string(db_cell(&r, i, 2)));
    }
    db_result_free(&r);
    json_object_set_new(stats, "deals", json_integer(deals));
    json_object_set_new(stats, "revenue", revenue);
    return DB_OK;
}

/* The report's window: campaigns started in it; a sequence step (which runs as long as
 * its sequence) by the messages it sent in it. Parameters: days, days. */
#define REPORT_WINDOW \
    "((c.kind = 'campaign' AND c.started_at >= NOW(3) - INTERVAL ? DAY) " \
    "OR (c.kind = 'sequence_step' AND r.sent_at >= NOW(3) - INTERVAL ? DAY))"

static json_t *rate(int64_t n, int64_t of)
{
    return of > 0 ? json_real((double)(n * 10000 / of) / 10000.0) : json_null();
}

static const char *const counted[] = {"campaigns", "sequence_steps", "recipients", "sent", "delivered", "bounced", "failed",
                                      "opened", "clicked", "replied", "unsubscribed"};
#define NCOUNTED (sizeof(counted) / sizeof(counted[0]))

static json_t *channel_row(void)
{
    json_t *o = json_object();
    for (size_t k = 0; k < NCOUNTED; k++)
        json_object_set_new(o, counted[k], json_integer(0));
    json_object_set_new(o, "deals", json_integer(0));
    json_object_set_new(o, "revenue", json_object());
    return o;
}

int campaign_channel_report(struct db *db, int64_t days, json_t **out)
{
    struct db_result r;
    *out = NULL;
    int rc = db_exec(db, "SELECT c.channel, COUNT(DISTINCT IF(c.kind = 'campaign', c.id, NULL)), "
                         "COUNT(DISTINCT IF(c.kind = 'sequence_step', c.id, NULL)), SUM(r.state <> 'skipped'), "
                         "SUM(r.state = 'sent'), COUNT(r.delivered_at), COUNT(r.bounced_at), SUM(r.state = 'failed'), "
                         "COUNT(r.opened_at), COUNT(r.clicked_at), COUNT(r.replied_at), COUNT(r.unsubscribed_at) "
                         "FROM campaigns c JOIN campaign_recipients r ON r.campaign_id = c.id "
                         "WHERE " REPORT_WINDOW " GROUP BY c.channel",
                     DBP(P_I(days), P_I(days)), &r);
    if (rc)
        return rc;
    json_t *chans = json_pack("{s:o, s:o}", "email", channel_row(), "sms", channel_row());
    for (size_t i = 0; i < r.nrows; i++) {
        json_t *o = json_object_get(chans, db_cell(&r, i, 0));
        for (size_t k = 0; o && k < NCOUNTED; k++)
            json_object_set_new(o, counted[k], json_integer(db_cell_i64(&r, i, k + 1)));
    }
    db_result_free(&r);
    rc = db_exec(db, ATTRIBUTED_DEALS("c.channel, d.currency", "NOW(3) - INTERVAL ? DAY", REPORT_WINDOW,
                                      "c.channel, d.currency"),
                 DBP(P_I(attribution_days), P_I(days), P_I(days), P_I(days)), &r);
    if (rc) {
        json_decref(chans);
        return rc;
    }
    for (size_t i = 0; i < r.nrows; i++) {
        json_t *o = json_object_get(chans, db_cell(&r, i, 0));
        if (!o)
            continue;
        json_object_set_new(o, "deals", json_integer(json_integer_value(json_object_get(o, "deals")) +
                                                     db_cell_i64(&r, i, 2)));
        json_object_set_new(json_object_get(o, "revenue"), db_cell(&r, i, 1), json_string(db_cell(&r, i, 3)));
    }
    db_result_free(&r);
    const char *key;
    json_t *o;
    json_object_foreach(chans, key, o) {
        int64_t sent = json_integer_value(json_object_get(o, "sent"));
        json_t *rates = json_object();
        static const char *const over_sent[] = {"delivered", "bounced", "opened", "clicked", "replied", "unsubscribed"};
        for (size_t k = 0; k < sizeof(over_sent) / sizeof(over_sent[0]); k++)
            json_object_set_new(rates, over_sent[k], rate(json_integer_value(json_object_get(o, over_sent[k])), sent));
        json_object_set_new(rates, "deals", rate(json_integer_value(json_object_get(o, "deals")), sent));
        json_object_set_new(o, "rates", rates);
    }
    *out = json_pack("{s:I, s:I, s:o}", "days", (json_int_t)days, "attribution_days", (json_int_t)attribution_days,
                     "channels", chans);
    return *out ? DB_OK : DB_EOTHER;
}

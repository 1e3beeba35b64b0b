/* campaign_results.h — what came back from a campaign (issue 9, point 5), kept on its
 * ledger row (campaign_recipients) and counted from there:
 *
 *   bounced    an e-mail delivery report (RFC 3464) naming the Message-ID we sent with
 *              Action: failed, or an SMS report undelivered/failed; a permanent e-mail
 *              failure (status 5.x.x) also suppresses the address (reason "bounce").
 *   delivered  Action: delivered / an SMS report "delivered".
 *   replied    an e-mail whose In-Reply-To/References names a campaign message, or an SMS
 *              from a customer within [campaigns] reply_days of a campaign SMS to them;
 *              the ticket it opened remembers the campaign (tickets.campaign_id).
 *   revenue    deals won within [campaigns] attribution_days after a campaign was sent to
 *              the customer, each deal to the LAST campaign that reached them before the
 *              win (last touch), summed per currency.
 *
 * Thread: any thread with its own connection, inside the caller's transaction (ingest's
 * writer, the SMS report webhook, API handlers); campaign_results_init before any starts.
 * Errors: db_rc values. Unknown ids are not errors: *matched / *recipient say 0.
 */
#ifndef SB_CAMPAIGN_RESULTS_H
#define SB_CAMPAIGN_RESULTS_H
#include <jansson.h>
#include <stdint.h>
#include "gateway/config.h"
#include "gateway/db.h"

/* The two windows from [campaigns] (defaults 7 and 30 days until called). */
void campaign_results_init(const struct sb_config *cfg);
/* An e-mail delivery report about message_id (ours, "<…>"): action is the report's
 * Action (failed, delayed, delivered, relayed, expanded), status its Status ("5.1.1"),
 * diag a short text for the agent. *matched = 1 when it named a campaign message. */
int campaign_email_report(struct db *db, const char *message_id, const char *action, const char *status,
                          const char *diag, int *matched);
/* An SMS report (sms_delivery's status and error code) for the provider's message id. */
int campaign_sms_report(struct db *db, const char *provider_id, const char *status, const char *error_code);
/* The ledger row an inbound message answers: by Message-ID (email) or, for an SMS, the
 * latest campaign SMS sent to the customer within reply_days. *recipient 0 = none. */
int campaign_reply_of_email(struct db *db, const char *message_id, size_t n, int64_t *recipient);
int campaign_reply_of_sms(struct db *db, int64_t customer_id, int64_t *recipient);
/* A STOP from the customer: the latest campaign SMS within reply_days is unsubscribed. */
int campaign_sms_stopped(struct db *db, int64_t customer_id);
/* Records the reply (first reply time kept) and links a new ticket (ticket 0: none). */
int campaign_reply_record(struct db *db, int64_t recipient, int64_t ticket);
/* The campaign's attributed deals into stats: "deals" (count) and "revenue" ({currency:
 * amount as a string with two decimals}). */
int campaign_revenue(struct db *db, int64_t campaign, json_t *stats);
/* Per channel over campaigns started in the last `days` and sequence steps' messages sent
 * in them: campaigns, sequence_steps, recipients, sent,
 * delivered, bounced, failed, opened, clicked, replied, unsubscribed, deals, revenue,
 * and rates over sent. *out {"days", "attribution_days", "channels": {"email": {…}, "sms": {…}}}. */
int campaign_channel_report(struct db *db, int64_t days, json_t **out);

/* Won deals of the ledger rows `rows_where` selects (r.…), each to the last campaign
 * message that reached the customer before the win, within attribution_days (the first
 * parameter: campaign_attribution_days()); grouped by `group`. The last-touch test: no
 * later sent row of the same customer before the win. The answer's last two columns are
 * the count and the sum. */
#define ATTRIBUTED_DEALS(cols, rows_where, group) \
    "SELECT " cols ", COUNT(*), SUM(d.amount) FROM campaign_recipients r " \
    "JOIN campaigns c ON c.id = r.campaign_id " \
    "JOIN deals d ON d.customer_id = r.customer_id AND d.status = 'won' " \
    "  AND d.closed_at >= r.sent_at AND d.closed_at < r.sent_at + INTERVAL ? DAY " \
    "WHERE r.state = 'sent' AND " rows_where " AND NOT EXISTS (SELECT 1 FROM campaign_recipients r2 " \
    "  WHERE r2.customer_id = d.customer_id AND r2.state = 'sent' AND r2.sent_at <= d.closed_at " \
    "  AND (r2.sent_at > r.sent_at OR (r2.sent_at = r.sent_at AND r2.id > r.id))) " \
    "GROUP BY " group
int64_t campaign_attribution_days(void);

#endif

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
/* The same for n customers at once (the ingest writer's batch): recipients[i] for
 * customers[i], 0 = none. */
int campaign_replies_of_sms(struct db *db, const int64_t *customers, size_t n, int64_t *recipients);
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

/* Won deals attributed to campaign messages, last touch: a deal counts for the latest
 * message sent to its customer at or before its close, if that was within
 * attribution_days (the first parameter: campaign_attribution_days()). Driven from the
 * deals closed since since_sql (an SQL expression: no message of the campaigns asked
 * about was sent before it), so its cost follows those deals, not the whole ledger.
 * rows_where (over r, the deciding ledger row, and c, its campaign) picks the campaigns;
 * grouped by `group`. The answer's last two columns are the count and the sum. */
#define ATTRIBUTED_DEALS(cols, since_sql, rows_where, group) \
    "SELECT " cols ", COUNT(*), SUM(d.amount) FROM deals d " \
    "JOIN campaign_recipients r ON r.id = (SELECT r3.id FROM campaign_recipients r3 " \
    "  WHERE r3.customer_id = d.customer_id AND r3.state = 'sent' AND r3.sent_at <= d.closed_at " \
    "  AND r3.sent_at > d.closed_at - INTERVAL ? DAY ORDER BY r3.sent_at DESC, r3.id DESC LIMIT 1) " \
    "JOIN campaigns c ON c.id = r.campaign_id " \
    "WHERE d.status = 'won' AND d.closed_at >= " since_sql " AND " rows_where " GROUP BY " group
int64_t campaign_attribution_days(void);

#endif

/* campaigns.h — what the campaign API (api_campaigns.c) and the campaign sender
 * (workers/campaigns.c) share: the signed per-recipient unsubscribe token, and the
 * unsubscribe itself.
 *
 * Token: a signed_link.h token of purpose "unsubscribe" over the ledger row id: it
 * cannot be guessed from another one and names exactly one ledger row.
 *
 * Thread: db-pool threads and the sender thread (the key is read once under a mutex).
 * Errors: db_rc values; campaign_token_verify returns 1 for a valid token, 0 otherwise.
 */
#ifndef SB_CAMPAIGNS_H
#define SB_CAMPAIGNS_H
#include <stddef.h>
#include <stdint.h>
#include "gateway/db.h"

#define CAMPAIGN_TOKEN_MAX 64

/* A ledger row's address for the customer CUST (an SQL expression): its primary identity
 * on the channel — queued, or skipped with the reason (no_address, suppressed). The joins'
 * parameters: the identity kind ("email" or "phone"), the channel. Every writer of
 * campaign_recipients (the sender's materialiser, sequences, rules) uses these. */
#define LEDGER_ADDRESS_COLUMNS \
    "i.value, IF(i.value IS NULL OR s.id IS NOT NULL, 'skipped', 'queued'), " \
    "IF(i.value IS NULL, 'no_address', IF(s.id IS NOT NULL, 'suppressed', NULL)) "
#define LEDGER_ADDRESS_JOINS(cust) \
    "LEFT JOIN customer_identities i ON i.customer_id = " cust " AND i.kind = ? AND i.is_primary = 1 " \
    "LEFT JOIN suppressions s ON s.channel = ? AND s.value = i.value "

int campaign_token(struct db *db, int64_t recipient_id, char out[CAMPAIGN_TOKEN_MAX]);
int campaign_token_verify(struct db *db, const char *token, int64_t *recipient_id);
/* The rendered HTML with tracking for one recipient: http(s) links (but the unsubscribe
 * link) go through base/c/TOKEN?u=URL&s=SIG, a signed redirect that records clicked_at;
 * opens adds a 1x1 image base/o/TOKEN that records opened_at. *out is the caller's. */
int campaign_track_html(struct db *db, int64_t recipient_id, const char *base, const char *html, int clicks,
                        int opens, char **out);
/* Suppresses the recipient's address on its channel (reason "unsubscribe") and marks the
 * ledger row; idempotent. */
int campaign_unsubscribe(struct db *db, int64_t recipient_id);

#endif

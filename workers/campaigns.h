/* campaigns.h — the campaign sender: materialises each started campaign's ledger
 * (campaign_recipients) from its segment, then sends it through the channel's sender,
 * at most once per recipient.
 *
 * Materialising: `INSERT IGNORE … SELECT` in keyset pages of the segment (inside the data
 * scope of the campaign's author), one row per customer: queued with the customer's
 * primary address, or skipped with a counted reason (no_address, suppressed). The UNIQUE
 * key makes a second start add nothing.
 *
 * Sending, per round: claim up to a batch of queued rows of sending campaigns `FOR UPDATE
 * SKIP LOCKED` (two processes never take the same row), re-check suppressions (an address
 * that unsubscribed since the start is skipped, not sent), mark them `sending` with a
 * lease and COMMIT; render each (template.h) and hand the batch to the channel; store
 * sent / failed / queued again (a temporary failure, at most 3 attempts) / ambiguous (no
 * answer after the data went out). Rows still `sending` after their lease — a crash
 * mid-send — become `ambiguous`: listed, never re-sent without an explicit resend.
 * A paused or cancelled campaign is not claimed from (within one round); a campaign with
 * nothing queued or sending is finished (campaign.finished event).
 *
 * Owns: its thread and connection. Thread: start/stop from main only.
 * Errors: start returns -1 when the thread cannot start; database errors are logged and
 * the round retried.
 */
#ifndef SB_WORKER_CAMPAIGNS_H
#define SB_WORKER_CAMPAIGNS_H
#include "gateway/channel.h"
#include "gateway/config.h"

int campaign_sender_start(const struct sb_config *cfg, const struct channel_ops *const *channels);
void campaign_sender_stop(void);

#endif

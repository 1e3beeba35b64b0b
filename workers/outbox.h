/* outbox.h — the outbound dispatcher: claims queued outbox rows of each enabled channel
 * (`SELECT … FOR UPDATE SKIP LOCKED` on (state, next_attempt_at, id), so several gateway
 * processes never send the same row), marks them `sending` under a lease, hands a batch to
 * the channel (channel.h), and stores each outcome with the message's status and a
 * `message.updated` event for the agents:
 *
 *   queued → sending → sent | queued (retry after [outbox] retry_secs × 1, 4, 20, 60, 120 …, at most
 *   8 attempts, then failed) | failed | ambiguous
 *
 * Rows still `sending` when their lease ran out (a crash mid-send) become `ambiguous` and
 * are never re-sent automatically: the agent sees them and decides.
 *
 * Owns: its thread and connection. Thread: start/stop from main; outbox_wake from any.
 * Errors: outbox_start returns -1 when the thread cannot start; database errors are
 * logged and retried on the next round.
 */
#ifndef SB_OUTBOX_H
#define SB_OUTBOX_H
#include "gateway/channel.h"
#include "gateway/config.h"

int outbox_start(const struct sb_config *cfg, const struct channel_ops *const *channels);
void outbox_wake(void);
void outbox_stop(void);

#endif

/* webhooks.h — the webhook worker: from the change feed to signed POSTs (issue 11).
 *
 *   fan-out   follows `events` after its cursor (worker_cursors 'webhook_events', locked
 *             FOR UPDATE: one gateway process handles an event; events younger than
 *             [crm] settle_ms wait, ids commit out of order) and queues one
 *             webhook_deliveries row per active subscription and public kind
 *             (gateway/webhooks.h), UNIQUE so an event is never queued twice;
 *   delivery  claims due rows (FOR UPDATE SKIP LOCKED, leased for twice the timeout
 *             plus a second), POSTs them concurrently on one libcurl multi handle and settles
 *             each: 2xx ⇒ delivered; otherwise retrying after [webhooks] retry_base_ms
 *             doubling per attempt up to retry_max_ms, failed after max_attempts. A lease
 *             that runs out (a crash mid-POST) puts the row back to retrying: at least
 *             once, receivers dedupe by event id. disable_after failed attempts in a row
 *             disable the webhook and leave every admin a reminder (the console notice).
 *
 * The request: POST url, Content-Type application/json, the stored body, headers
 * Switchboard-Event-Id, -Event, -Delivery, -Attempt, -Timestamp (unix seconds) and
 * -Signature: "v1=" hex HMAC-SHA256(secret, timestamp "." body). No redirects, no proxy,
 * http/https only; the connect-time address must be public unless the host is in
 * [webhooks] allow_hosts.
 *
 * Owns: its thread, connection and curl handles. Thread: start/stop from main only.
 * Errors: logged; a failed pass is retried (the cursor and the rows move only with work).
 */
#ifndef SB_WORKER_WEBHOOKS_H
#define SB_WORKER_WEBHOOKS_H
#include "gateway/config.h"

int webhook_worker_start(const struct sb_config *cfg);
void webhook_worker_stop(void);

#endif

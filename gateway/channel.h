/* channel.h — the ops table of an outbound channel (DESIGN.md section 2: like curl's
 * protocol handlers or Postfix's transports). The outbox worker claims rows of a
 * channel, lets the channel prepare them (database lookups it needs), hands the batch to
 * send() (network, no database), records what the channel must remember (e.g. e-mail
 * Message-IDs for threading) and stores each outcome.
 *
 * Outcomes: SEND_OK (provider_id set), SEND_RETRY (temporary: the row is queued again with
 * backoff, or after retry_after_secs), SEND_FAILED (permanent: error shown to the agent),
 * SEND_AMBIGUOUS (the provider may have it — never re-sent automatically).
 *
 * prepare() may itself settle an item (outcome SEND_FAILED, or SEND_RETRY with
 * not_attempted for a rate limit) and return DB_OK: only items still SEND_OK are sent.
 *
 * Thread: prepare/send/record run on the channel's own outbox worker thread only (one
 * thread per channel, so a slow mail server never delays SMS).
 */
#ifndef SB_CHANNEL_H
#define SB_CHANNEL_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "gateway/config.h"
#include "gateway/db.h"

enum send_outcome { SEND_OK, SEND_RETRY, SEND_FAILED, SEND_AMBIGUOUS };

struct outbox_item {
    int64_t id, message_id, ticket_id;
    int attempts;
    char recipient[256];
    json_t *payload;           /* from the outbox row; prepare() may add to it */
    /* out */
    enum send_outcome outcome;
    char provider_id[256];
    char error[512];
    int64_t retry_after_secs;  /* 0: the worker's backoff */
    int not_attempted;         /* SEND_RETRY before trying (a rate limit): the attempt is not counted */
    int suppress;              /* the provider says the recipient opted out: record a suppression */
};

struct channel_ops {
    const char *name;                                   /* outbox.channel */
    int (*enabled)(const struct sb_config *cfg);        /* configured to send? */
    int (*prepare)(struct db *db, struct outbox_item *it);       /* may be NULL */
    void (*send)(const struct sb_config *cfg, struct outbox_item *items, size_t n);
    int (*record)(struct db *db, const struct outbox_item *it);  /* after SEND_OK; may be NULL */
    /* optional bulk forms, used instead of prepare / record when set: a channel that sends
     * many small messages saves a statement or two per message */
    int (*prepare_batch)(struct db *db, struct outbox_item *items, size_t n);
    int (*record_batch)(struct db *db, struct outbox_item *const *items, size_t n);
    size_t batch;              /* rows claimed per round (≤ OUTBOX_BATCH_MAX; 0 = 20) */
    int lease_secs;            /* how long a batch may take before its rows count as crashed (0 = 120) */
};

#define OUTBOX_BATCH_MAX 200

#endif

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
 * Thread: prepare/send/record run on the outbox worker thread only.
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
};

struct channel_ops {
    const char *name;                                   /* outbox.channel */
    int (*enabled)(const struct sb_config *cfg);        /* configured to send? */
    int (*prepare)(struct db *db, struct outbox_item *it);       /* may be NULL */
    void (*send)(const struct sb_config *cfg, struct outbox_item *items, size_t n);
    int (*record)(struct db *db, const struct outbox_item *it);  /* after SEND_OK; may be NULL */
};

#endif

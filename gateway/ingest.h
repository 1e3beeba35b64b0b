/* ingest.h — the one way inbound customer messages enter the database (DESIGN.md
 * sections 3 and 5): find the customer by identity (create when new), find the open
 * ticket of that customer on that channel (or the ticket the channel's threading chose),
 * insert the message unless its (channel, external_id) exists, write events — for many
 * messages in ONE transaction (group commit: everything waiting, up to [ingest]
 * batch_max, gathered for at most batch_wait_us), and only after COMMIT report each
 * message as stored. A failed message is rolled back to its savepoint alone; a lost
 * connection or deadlock retries the whole batch, so nothing is reported stored that
 * is not committed, and nothing is stored twice.
 *
 * Owns: the writer threads ([ingest] writers), each with its connection and queue (a lane);
 * a message's lane is chosen by its sender's identity, so one sender's messages are stored
 * in arrival order by one writer. A submitted message belongs to the writer until its
 * done() callback runs — on the writer thread, after commit; done must not block
 * (channels use loop_post to reach sockets) and then owns the message again.
 * Thread: ingest_submit from any thread.
 * Errors: ingest_submit returns INGEST_ESTOPPING when the writer is stopping and
 * INGEST_EBUSY when [ingest] queue_max messages already wait (back-pressure: a flood is
 * refused at the door, where the sender can retry, instead of growing the queue without
 * bound); either way the message is not taken and the caller still owns it.
 * In done(), msg->rc is 0 (stored, or duplicate with msg->duplicate = 1) or a negative
 * db_rc / INGEST_EINVAL for a message that cannot be stored (bad channel, bad identity).
 */
#ifndef SB_INGEST_H
#define SB_INGEST_H
#include <jansson.h>
#include <stdint.h>
#include "gateway/config.h"

#define INGEST_EINVAL (-100)
#define INGEST_ESTOPPING (-1)
#define INGEST_EBUSY (-2)

struct ingest_attachment {
    char *filename;      /* owned, may be NULL */
    char *content_type;  /* owned, may be NULL */
    size_t size;
    char sha256[65];     /* hex of the content */
    char *data;          /* owned: size bytes, or NULL for metadata only */
    char *url;           /* owned: content kept by reference (MMS media), or NULL */
};

struct ingest_msg {
    /* in */
    char channel[8];           /* chat | email | sms */
    char external_id[256];     /* provider message id; unique per channel */
    char identity_kind[16];    /* email | phone | chat | external */
    char identity_value[256];  /* normalised */
    char name[201];            /* sender display name, may be empty */
    char subject[501];
    char *body_text;           /* owned by the message (free'd by ingest_msg_free) */
    char *body_html;
    int64_t ticket_hint;       /* ticket chosen by channel threading, or 0 */
    /* e-mail threading (channel "email"; DESIGN.md section 5): the message's own
     * Message-ID is recorded for later replies; In-Reply-To and References are looked up
     * among the Message-IDs we stored or sent; failing that a "[#123]" subject token counts
     * only when the sender already takes part in ticket 123; otherwise a new ticket. */
    char email_message_id[256];
    char in_reply_to[256];
    char *references;          /* space-separated ids, owned; may be NULL */
    int64_t mailbox_id;        /* the mailbox it came from (new tickets remember it), or 0 */
    /* a delivery report (RFC 3464; action "" = not one): one about a campaign message is
     * applied to the campaign's ledger (campaign_results.h) and stored nowhere else
     * (out: absorbed = 1); any other report is a message like the rest */
    char dsn_action[16], dsn_status[16], dsn_diag[160], dsn_original_id[256];
    int keyword;               /* an SMS keyword (STOP, HELP…): stored, but no campaign reply */
    char *body_visible;        /* body_text with quoted history collapsed, owned; NULL = same */
    int segments;              /* SMS: segments the text cost, and "gsm7"/"ucs2"; else 0 / "" */
    char encoding[8];
    /* To/Cc addr-specs, space-separated, owned, may be NULL: recorded as the ticket's
     * participants (minus our own mailbox addresses) */
    char *to_addrs, *cc_addrs;
    /* attachments stored with the message (owned, n_attachments of them): content with
     * data != NULL is stored by hash in attachment_chunks, else only the metadata */
    struct ingest_attachment *attachments;
    size_t n_attachments;
    /* out */
    int rc;
    int duplicate;
    int new_ticket;
    int new_customer;
    int absorbed;
    int64_t campaign_recipient; /* the campaign message this answers (campaign_results.h), or 0 */
    int64_t message_id, ticket_id, customer_id;
    int64_t assignee_id, team_id; /* of the ticket, for routing its events */
    /* completion */
    void (*done)(struct ingest_msg *m);
    void *user;
    struct ingest_msg *next;   /* queue link, private */
    int bulk;                  /* private: stored by its batch's bulk pass */
    int64_t sender_known;      /* private: the bulk pass's look-up of the sender in this
                                * transaction: the customer, -1 none, 0 not looked up */
};

/* Starts the writers; -1 when they could not start or already run (ingest_stop first). */
int ingest_start(const struct sb_config *cfg);
int ingest_submit(struct ingest_msg *m);
/* Commits everything already submitted, then stops the writer. */
void ingest_stop(void);
void ingest_msg_free(struct ingest_msg *m);

#endif

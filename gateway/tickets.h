/* tickets.h — ticket operations shared by the REST handlers (api_tickets.c) and the
 * agent websocket: load within the caller's scope, reply, accept.
 *
 * Scope (DESIGN.md section 10): admin all; manager their team's and unteamed tickets;
 * agent tickets assigned to them, or unassigned in their team or without a team; sales
 * tickets of customers they own. Outside the scope a ticket does not exist.
 *
 * Thread: db-pool threads, inside the caller's transaction (they write events).
 * Errors: negative db_rc, or TICKET_OK / one of the TICKET_* outcomes below.
 */
#ifndef SB_TICKETS_H
#define SB_TICKETS_H
#include <jansson.h>
#include <stdbool.h>
#include "gateway/api.h"

enum ticket_outcome {
    TICKET_OK = 0,
    TICKET_NOT_FOUND = 1,      /* missing or out of scope */
    TICKET_NO_RECIPIENT = 2,   /* the customer has no address on the ticket's channel */
    TICKET_NOT_DELIVERABLE = 3,/* a channel without sending (phone, web): notes only */
    TICKET_NOT_AVAILABLE = 4,  /* accept: someone else has it */
    TICKET_OPTED_OUT = 5,      /* the recipient opted out of this channel (SMS STOP) */
    TICKET_AT_CAPACITY = 6,    /* accept: taking it would put the agent over capacity */
};

/* Passes an offer made to me on: the router gives the ticket to the next agent. */
int ticket_decline(struct db *db, const struct agent_info *me, int64_t ticket_id);
/* Gives the capacity weights ([routing]) to ticket_accept; main calls it once. */
void tickets_init(const struct sb_config *cfg);
/* Many tickets without scope, in any order, as a JSON array (*out, always set). */
int ticket_load_many(struct db *db, const int64_t *ids, size_t n, json_t **out);
/* me == NULL loads without scope. *out is NULL when not found. */
int ticket_load(struct db *db, const struct agent_info *me, int64_t id, json_t **out);
/* A ticket's messages in order, each with its "attachments" (no scope check: the caller
 * loaded the ticket with ticket_load first). Reads them without a temporary table on disk
 * (test_ticket_read.c). *out is NULL on an error. */
int ticket_messages_load(struct db *db, int64_t ticket_id, json_t **out);
/* Stores an agent's reply or internal note. client_id (may be NULL) makes it idempotent:
 * the same agent and client_id return the message stored the first time. A chat reply is
 * delivered by the event feed to the customer's socket; e-mail/SMS replies get an outbox
 * row in the same transaction. *msg receives the message JSON. */
int ticket_reply(struct db *db, const struct agent_info *me, int64_t ticket_id, const char *body, bool internal,
                 const char *client_id, json_t **msg);
/* Assigns an unassigned ticket (or one already theirs) to me. */
int ticket_accept(struct db *db, const struct agent_info *me, int64_t ticket_id, json_t **ticket);

/* Keeps the routing fields true to the ticket after any change: waiting (queued_at) exactly
 * while unassigned and new/open, a fresh wait restarting at overflow stage 0, and no offer
 * once it is assigned or closed. Call after every write to assignee_id or status. */
int ticket_queue_sync(struct db *db, int64_t id);
/* An automatic answer on the ticket's channel (after-hours reply, SMS keyword answers):
 * stored as a bot message, sent through the outbox for e-mail/SMS to the customer's
 * address on that channel, shown to agents (message.created). keyword_reply: the answer
 * to STOP/START/HELP, which goes out even to a number that opted out. to_override (or NULL)
 * is the address to use instead (the number that texted the keyword). */
int ticket_bot_reply(struct db *db, int64_t ticket_id, const char *body, bool keyword_reply, const char *to_override);
/* A bot message offering a knowledge-base article (chat self-service, kb_answer.h):
 * ticket_bot_reply's message with kb_article_id set; *message_id is the new message. */
int ticket_bot_offer(struct db *db, int64_t ticket_id, const char *body, int64_t kb_article_id, int64_t *message_id);
/* An event about the ticket t (as ticket_load gives it), addressed as its own events are
 * (customer, assignee, team); payload is consumed. */
int ticket_event(struct db *db, const char *kind, json_t *t, json_t *payload);
/* The machine code and agent-facing text of a TICKET_* outcome (rc > 0). */
const char *ticket_outcome_text(int rc, const char **code);
/* message.updated for the agents: a message's delivery status (and error) changed. */
int ticket_message_event(struct db *db, int64_t message_id, const char *status, const char *error);

#endif

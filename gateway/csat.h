/* csat.h — customer satisfaction surveys (issue 10, point 5).
 *
 * When a ticket is first solved, the customer gets one bot message on the ticket's channel
 * (e-mail and SMS through the outbox, chat on the conversation) asking for a 1–5 rating
 * at [server] public_url/csat/{token} (signed_link.h, purpose "csat": one ticket, not
 * guessable). The page shows the five choices and never rates by itself (mail scanners
 * follow links); its POST records the rating. One rating per ticket: the first counts and a
 * second changes nothing (csat_responses UNIQUE per ticket), kept with the agent, team and
 * channel the ticket had, and in tickets.csat; the agents see `ticket.csat`.
 *
 * Thread: db-pool threads, inside the caller's transaction. [quality] csat = no: no survey.
 * Errors: db_rc values; csat_record returns CSAT_* outcomes as well.
 */
#ifndef SB_CSAT_H
#define SB_CSAT_H
#include <stdint.h>
#include "gateway/config.h"
#include "gateway/db.h"

enum { CSAT_RECORDED = 0, CSAT_ALREADY = 1, CSAT_NO_TICKET = 2 };

void csat_init(const struct sb_config *cfg);
/* The ticket was just solved: ask once (a ticket that cannot be written to is skipped). */
int csat_ask(struct db *db, int64_t ticket_id);
/* rating 1..5 (checked by the caller), comment may be NULL. *stored: the rating that
 * counts (this one, or the earlier one). */
int csat_record(struct db *db, int64_t ticket_id, int rating, const char *comment, int *stored);

#endif

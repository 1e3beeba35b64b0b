/* kb_answer.h — chat self-service (issue 10, point 4): a new chat conversation whose first
 * message matches a published article well enough gets a bot message offering it, with
 * "this solved it" / "talk to a person" under it in the widget; the ticket waits for the
 * answer (status pending: the router does not hand it out).
 *
 *   solved          the ticket is solved as self-served (tickets.self_served = 1), the
 *                   article gets a helpful vote, the customer a short thanks; no survey;
 *   talk to a person, or any new message from the customer
 *                   the ticket opens and queues as usual (ingest reopens a pending ticket
 *                   on a message); the agent sees the whole bot exchange in the ticket.
 *
 * "Well enough": the next article's relevance is lower than the best one's by [kb]
 * auto_answer_margin percent (a close second means the question is ambiguous: a person
 * answers), and the best one covers [kb] auto_answer_coverage percent of the question's
 * telling characters (Chinese characters and word letters, not the asking ones such as
 * 请问/怎么/how/do: "请问怎么退款" is about 退款) with tokens it has. Relevance alone is
 * no measure: it grows with the number of articles. [kb] auto_answer = no: never.
 *
 * Thread: kb_answer_offer on the ingest writer, kb_answer_reply on db-pool threads; both
 * inside the caller's transaction. Errors: db_rc values; kb_answer_reply also returns
 * KB_ANSWER_STALE when the offer is not the ticket's open one (answered, or moved on).
 */
#ifndef SB_KB_ANSWER_H
#define SB_KB_ANSWER_H
#include <stdbool.h>
#include <stdint.h>
#include "gateway/config.h"
#include "gateway/db.h"

enum { KB_ANSWER_STALE = 1 };

void kb_answer_init(const struct sb_config *cfg);
int kb_answer_offer(struct db *db, int64_t ticket_id, const char *subject, const char *text);
int kb_answer_reply(struct db *db, int64_t ticket_id, int64_t message_id, bool solved);

#endif

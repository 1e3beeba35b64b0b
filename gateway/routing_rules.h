/* routing_rules.h — the routing rules of issue 7 applied to one ticket: the first enabled
 * rule (in position order, the default rule last) whose conditions all match — channel,
 * mailbox, keywords in the subject and first message (case-insensitive substrings, so
 * Chinese works as well as English), customer tags, language (zh when the text holds CJK)
 * — gives the ticket its required and optional skills, a team when it has none, a higher
 * priority (never a lower one) and its SLA due time (sla_policies: the most specific row
 * for its priority and channel). Called in the transaction that creates the ticket, so
 * ticket.created already shows the result; the router classifies leftovers.
 *
 * Owns: nothing. Thread: any, with its connection, inside the caller's transaction.
 * Errors: negative db_rc. A ticket no rule matches (the default rule deleted by hand)
 * stays unclassified and waits.
 */
#ifndef SB_ROUTING_RULES_H
#define SB_ROUTING_RULES_H
#include <stdint.h>
#include "gateway/config.h"
#include "gateway/db.h"

int routing_classify(struct db *db, int64_t ticket_id);
/* The same when the caller knows the ticket's facts (the ingest writer, which just wrote
 * them): saves reading them back. */
struct routing_facts {
    const char *channel, *subject, *body;
    int64_t mailbox_id, customer_id;
    int customer_is_new;
};
/* rules: the rules as loaded once for many tickets (routing_ruleset_load, inside the same
 * transaction), or NULL to read them now. */
struct routing_ruleset;
int routing_classify_known(struct db *db, int64_t ticket_id, const struct routing_facts *rf,
                           const struct routing_ruleset *rules);
/* The same for n tickets (ids[i] with facts rf[i]): one UPDATE per rule that matched some. */
int routing_classify_many(struct db *db, const int64_t *ids, const struct routing_facts *rf, size_t n,
                          const struct routing_ruleset *rules);
int routing_ruleset_load(struct db *db, struct routing_ruleset **out);
void routing_ruleset_free(struct routing_ruleset *rs);

/* Capacity: under the lock on the agent's row (taken here, FOR UPDATE; with skip_locked a
 * row another transaction holds answers *room = -1 at once instead of waiting), whether
 * one more ticket of channel fits the agent's per-channel maximum and total units. Every
 * path that raises an agent's load (router offers, accepting or taking a ticket that was
 * not offered to them) goes through here, so no two can push an agent over. An agent
 * without a capacity for the channel has no limit there (and gets no offers on it). */
int routing_agent_room(struct db *db, const struct sb_config *cfg, int64_t agent, const char *channel, int skip_locked,
                       int *room);
int64_t routing_weight(const struct sb_config *cfg, const char *channel);

#endif

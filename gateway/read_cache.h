/* read_cache.h — GET /api/v1/tickets/{id} answered on the net thread, from memory.
 *
 * A ticket read costs four statements (session, ticket, messages, participants: ~0.7 ms
 * of MariaDB time on the bench machine), so a console that polls, or many agents looking
 * at one ticket, made the database the limit of the read path (bench/RESULTS.md,
 * http_read). This keeps, per node, the last answer of each ticket read (the body is the
 * same for every viewer; only whether one may see it differs) and each session a read
 * used (token hash → agent), and answers a read again from them when:
 *
 *   - the session was seen by this node's db pool at most [server] read_cache_ms ago and
 *     is a console session (an API key is checked in the database every time: its
 *     per-key rate limit and IP rules must see every request);
 *   - the view was read at most read_cache_ms ago and nothing dropped it since;
 *   - the agent's role may use the route and the ticket is in its scope — the same rule as
 *     api_tickets.c's TICKET_SCOPE, here for admin, manager and agent (ticket_in_scope);
 *     anything else (a sales agent, out of scope, unknown) goes to the database, which
 *     answers authoritatively. The cache never answers 401, 403 or 404.
 *
 * Dropped (read_cache_drop_*), all on the net thread:
 *   - a ticket.* / message.* event of the change feed drops that ticket's view, any other
 *     event (customer renamed or merged, agent changed, a suppression…) everything — the
 *     event is delivered before it is pushed to sockets, so a console that reads after a
 *     push reads the change; other nodes' changes arrive the same way (≤ 50 ms);
 *   - a request of this node that wrote, answered to a logged-in client, drops everything
 *     before its answer is sent, so a client reads its own writes (a logout, a role change,
 *     a reply) at once;
 *   - read_cache_ms bounds what no event announces.
 * A view read by the pool is kept only if nothing was dropped between the request's
 * arrival and its answer (a drop generation per ticket slot, and one for everything), so
 * a read that raced a change never stores the older state.
 *
 * Owns: both tables and the bodies. Thread: the net thread only (no locks).
 * Errors: none; a full table or a body over the size limit is simply not kept.
 */
#ifndef SB_READ_CACHE_H
#define SB_READ_CACHE_H
#include <stddef.h>
#include <stdint.h>
#include "gateway/api.h"
#include "gateway/event_tailer.h"

void read_cache_init(int64_t ttl_ms);
void read_cache_free(void);

/* On arrival of a request that matched a route: the generation to hand back to
 * read_cache_keep. */
uint64_t read_cache_generation(const struct api_req *r);
/* 1: the answer (200, body) is in r->resp; 0: ask the database. */
int read_cache_answer(struct api_req *r);
/* After the pool answered: keeps the session and the view the handler marked
 * (api_req.view_*), unless something was dropped since gen. */
void read_cache_keep(const struct api_req *r, uint64_t gen);

void read_cache_drop_ticket(int64_t ticket_id);
void read_cache_drop_all(void);
/* The change feed's rule above, for a batch about to be pushed. */
void read_cache_drop_events(const struct event_batch *b);

/* The ticket scope rule for a cached view (api_tickets.c, TICKET_SCOPE); 0 for the roles
 * it does not cover. Ids of 0 are NULL. */
int read_cache_in_scope(const struct agent_info *me, int64_t team_id, int64_t assignee_id, int64_t offer_agent_id);

#endif

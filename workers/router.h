/* router.h — skill-based routing (issue 7; DESIGN.md section 6). Each round:
 *
 *   1. offers that expired, or whose agent is no longer online, are withdrawn (the ticket
 *      waits again and goes to someone else first: "the next agent");
 *   2. waiting tickets not yet classified meet the routing rules (first match in order;
 *      the default rule last): required and optional skills, team when it has none,
 *      priority (raised, never lowered), the SLA due time; a ticket whose team is closed
 *      gets the team's after-hours reply once and waits;
 *   3. waiting tickets (SKIP LOCKED, so two routers in two processes split them) in order of
 *      priority then waiting time are offered — or, for auto-accept teams, assigned — to the
 *      eligible agent: online, with free capacity on the ticket's channel and in total
 *      units, holding every required skill (and, before the overflow wait, every optional
 *      one) at the minimum level, in the ticket's team until the team wait; best skill
 *      match first, then least load, then longest idle. The agent's row is locked (SKIP
 *      LOCKED: a row another router holds means the next candidate) and the load counted
 *      again under that lock before the ticket is given, so two routers can never put an
 *      agent over capacity. Waiting past [routing] escalate_secs tells the managers once;
 *   4. SLA warnings at 80 % of the time to the due moment, and breaches, go to the team.
 * Every offer and assignment records why (rule, skills, load, idle time, candidates).
 *
 * Owns: its thread and connection. Thread: start/stop from main; router_wake from any.
 * Errors: router_start returns -1 when the thread cannot start; database errors are
 * logged and the round is retried later.
 */
#ifndef SB_ROUTER_H
#define SB_ROUTER_H
#include "gateway/config.h"
#include "gateway/db.h"

int router_start(const struct sb_config *cfg);
/* One SLA pass (step 4) on db, in its own transaction: warnings and breaches now due.
 * Reads only the due tickets (tickets.sla_check_at). Any thread with its own db; the
 * router's thread calls it every round. Returns a db_rc. */
int router_sla_pass(struct db *db);
void router_wake(void);
void router_stop(void);

#endif

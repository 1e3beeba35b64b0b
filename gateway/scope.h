/* scope.h — data scopes (DESIGN.md section 10): which CRM records (customers, leads,
 * deals, activities) an agent may see, as one SQL predicate every list, read, update and
 * export appends, and as one C test for websocket events.
 *
 * Levels: own (records the agent owns), team (owned by anyone in the agent's team),
 * region (own, plus records whose region equals the agent's region), all. An agent's
 * agents.data_scope overrides the role's default: admin, agent (service reads every
 * customer it may be handed) and marketer all; manager and sales team. A record outside
 * the scope is treated exactly like a missing one (404), and counts and searches run the
 * same predicate, so nothing about it leaks.
 *
 * Owns: nothing. Thread: any. Errors: none (pure functions and SQL text).
 */
#ifndef SB_SCOPE_H
#define SB_SCOPE_H
#include <stdbool.h>
#include <stdint.h>

enum scope_level { SCOPE_OWN = 0, SCOPE_TEAM = 1, SCOPE_REGION = 2, SCOPE_ALL = 3 };

struct agent_info;

/* role_bit: ROLE_*; data_scope: agents.data_scope or NULL for the role's default. */
int scope_level_of(unsigned role_bit, const char *data_scope);
const char *scope_name(int level);
/* The level named by s ("own", "team", "region", "all"), or -1. */
int scope_parse(const char *s);

/* A CRM event about a record owned by owner_id (whose team is owner_team, region
 * region) may be pushed to me. */
bool scope_allows(const struct agent_info *me, int64_t owner_id, int64_t owner_team, const char *region);

/* " AND (<the row is in the caller's scope>) " for a row whose owner column is `owner`
 * and region column is `region` (SQL expressions written in the caller's source).
 * Its parameters, in order: SCOPE_PARAMS(me) — six of them. */
#define SCOPE_WHERE(owner, region)                                                                   \
    " AND (? = 3 OR " owner " = ? OR (? = 1 AND " owner " IN (SELECT sa.id FROM agents sa "          \
    "WHERE sa.team_id = ?)) OR (? = 2 AND " region " = ?)) "
#define SCOPE_PARAMS(me)                                                                             \
    P_I((me)->scope), P_I((me)->id), P_I((me)->scope), P_I((me)->team_id > 0 ? (me)->team_id : -1), \
        P_I((me)->scope), P_S((me)->region[0] ? (me)->region : NULL)

#endif

/* scope.c — data scope levels; see scope.h. */
#include "gateway/scope.h"
#include "gateway/api.h"
#include <string.h>
#include <strings.h>

static const char *const names[] = {"own", "team", "region", "all"};

int scope_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

const char *scope_name(int level)
{
    return level >= 0 && level < 4 ? names[level] : "own";
}

int scope_level_of(unsigned role_bit, const char *data_scope)
{
    int l = scope_parse(data_scope);
    if (l >= 0)
        return l;
    return role_bit == ROLE_MANAGER || role_bit == ROLE_SALES ? SCOPE_TEAM : SCOPE_ALL;
}

bool scope_allows(const struct agent_info *me, int64_t owner_id, int64_t owner_team, const char *region)
{
    if (me->scope == SCOPE_ALL || (owner_id && owner_id == me->id))
        return true;
    if (me->scope == SCOPE_TEAM)
        return owner_team > 0 && owner_team == me->team_id;
    if (me->scope == SCOPE_REGION)
        return region && *region && me->region[0] && strcasecmp(region, me->region) == 0;
    return false;
}

/* api_keys.h — API keys for integrations (ERP, websites): created by admins with a role
 * (and team) like an agent's, shown once, stored as a SHA-256 only, revocable, optionally
 * expiring, used as "Authorization: Bearer sbk_…", rate-limited, last use recorded.
 *
 * A key acts as its own agents row of kind 'integration' (never logs in: no usable
 * password; never routed: no presence; not listed with the people), so audit entries,
 * ownership and data scopes work for keys exactly as for people.
 *
 * Rate limit: a token bucket per key in this process: rate_per_minute requests at once,
 * refilled continuously at rate_per_minute per minute; over it ⇒ 429 rate_limited with
 * Retry-After. (Each gateway process keeps its own buckets.)
 * Last use: last_used_at/last_used_ip, written at most every 5 s per key.
 *
 * Owns: the bucket table (mutex). Thread: db-pool threads.
 * Errors: api_key_authenticate returns 1 (authenticated), 0 (no such usable key, or rate
 * limited: then retry_after > 0), or a negative db_rc.
 */
#ifndef SB_API_KEYS_H
#define SB_API_KEYS_H
#include "gateway/api.h"

#define API_KEY_PREFIX "sbk_"

int api_key_authenticate(struct db *db, const char *token, const char *ip, struct agent_info *me,
                         int64_t *retry_after);

int api_keys_list(struct api_ctx *c);
int api_keys_create(struct api_ctx *c);
int api_keys_get(struct api_ctx *c);
int api_keys_revoke(struct api_ctx *c);

#endif

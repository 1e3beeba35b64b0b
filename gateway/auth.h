/* auth.h — agents' passwords (argon2id, libsodium), session tokens, login throttling.
 *
 * A session token is 32 random bytes, base64url; only its SHA-256 is stored (sessions.
 * token_hash), so a leaked database does not leak usable tokens. Tokens arrive as
 * "Authorization: Bearer" or the HttpOnly SameSite=Strict cookie sb_session.
 * Login failures are counted per account and per IP in this process (sliding window,
 * [auth] login_max_failures / login_max_ip / login_window_secs) ⇒ 429 with Retry-After.
 *
 * Owns: the throttle table (mutex). Thread: db-pool threads and the CLI.
 * Errors: 0 / -1, or db_rc values where a database is involved.
 */
#ifndef SB_AUTH_H
#define SB_AUTH_H
#include <stddef.h>
#include <sodium.h>
#include "gateway/api.h"

#define AUTH_HASH_MAX crypto_pwhash_STRBYTES

int auth_init(const struct sb_config *cfg);
int auth_hash_password(const char *password, char out[AUTH_HASH_MAX]);
/* Random readable password for "agent add" without --password-stdin. */
void auth_generate_password(char *out, size_t outsz);
unsigned auth_role_bit(const char *role);
/* Resolves the token of c->req (a session token, or an API key "sbk_…": api_keys.h) into
 * c->me. Returns 1 when authenticated, 0 when not (an API key over its rate: with
 * c->req->retry_after set), or a negative db_rc. */
int auth_authenticate(struct api_ctx *c);
/* The caller's identity from the first row of r, columns col… : a.id, a.role,
 * COALESCE(a.team_id, 0), a.name, a.email, COALESCE(a.region, ''), a.data_scope. */
void auth_agent_from_row(const struct db_result *r, size_t col, struct agent_info *me);
/* Same for a raw token (websocket auth frame / cookie). */
int auth_token_agent(struct db *db, const char *token, struct agent_info *me);

/* First 16 hex digits of the token's SHA-256: names a session in events without
 * revealing anything usable. */
void auth_session_id(const char *token, char out[17]);

int auth_login(struct api_ctx *c);
int auth_logout(struct api_ctx *c);
int auth_me(struct api_ctx *c);

#endif

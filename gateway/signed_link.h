/* signed_link.h — ids in public links, signed so they cannot be guessed or altered:
 * unsubscribe and tracking links of campaigns, CSAT survey links.
 *
 * Token: "<id>-<first 16 bytes of HMAC-SHA256(key, "<purpose>:<id>") in hex>"; the key is
 * settings.unsubscribe_key (made by migration 010, the same on every node; read once).
 * A token of one purpose is worthless for another.
 *
 * Thread: any thread with its own connection (the key is loaded once under a mutex).
 * Errors: db_rc values; signed_link_verify returns 1 for a valid token, 0 otherwise.
 */
#ifndef SB_SIGNED_LINK_H
#define SB_SIGNED_LINK_H
#include <stddef.h>
#include <stdint.h>
#include "gateway/db.h"

#define SIGNED_TOKEN_MAX 64

int signed_link_token(struct db *db, const char *purpose, int64_t id, char out[SIGNED_TOKEN_MAX]);
int signed_link_verify(struct db *db, const char *purpose, const char *token, int64_t *id);
/* The MAC (32 hex digits) of head followed by tail, for signatures over more than an id. */
int signed_link_mac(struct db *db, const char *head, const char *tail, char out[33]);

#endif

/* mailboxes.h — support mailboxes of the e-mail channel: the admin REST resource
 * (/api/v1/mailboxes) and the upsert of [mailbox.NAME] config sections when `serve`
 * starts (DESIGN.md section 9, "CLI and config").
 *
 * The IMAP secret is write-only: responses say "has_secret" instead. Every change is
 * audited. Config-defined mailboxes are matched by name; their fields follow the config
 * on each start (source "config"); ones created over REST are left alone.
 *
 * Thread: handlers on db-pool threads; mailboxes_sync_config on the main thread before
 * the server starts. Errors: handlers per api.h; sync returns 0 or -1 with a message.
 */
#ifndef SB_MAILBOXES_H
#define SB_MAILBOXES_H
#include <stddef.h>
#include "gateway/api.h"
#include "gateway/config.h"

int mailboxes_list(struct api_ctx *c);
int mailboxes_get(struct api_ctx *c);
int mailboxes_create(struct api_ctx *c);
int mailboxes_update(struct api_ctx *c);
int mailboxes_sync_config(const struct sb_config *cfg, char *err, size_t errsz);

#endif

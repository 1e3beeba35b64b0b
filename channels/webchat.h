/* webchat.h — the web chat channel: the customers' websocket /ws/chat (docs/api.md).
 *
 * A visitor is a random token (kept by the widget, stored only as SHA-256 in
 * chat_visitors); its customer and conversation (a chat ticket) are created by the
 * ingest writer with the first message, under the identity ('chat', 'v<visitor id>').
 * Messages go through the ingest writer and are acknowledged only after COMMIT; the
 * visitor-scoped external id "v<visitor>:<client_id>" makes a repeated client_id
 * idempotent. Agent replies reach the visitor's sockets through the event feed, so they
 * arrive on whichever node holds the socket; a reconnecting visitor catches up with
 * everything after the last message id it saw.
 *
 * Owns: the visitor sockets and an index of them by conversation. Thread: the endpoint
 * callbacks, webchat_deliver and webchat_agent_typing run on the net thread.
 */
#ifndef SB_WEBCHAT_H
#define SB_WEBCHAT_H
#include <stdbool.h>
#include <stdint.h>
#include "gateway/api.h"
#include "gateway/config.h"
#include "gateway/event_tailer.h"
#include "gateway/ws.h"

extern const struct ws_endpoint webchat_endpoint;

void webchat_init(const struct sb_config *cfg);
/* Agent replies and ticket changes for the conversations open here; does not free b. */
void webchat_deliver(const struct event_batch *b);
/* An agent typing in a conversation. */
/* An agent typing in a conversation they may see. */
void webchat_agent_typing(const struct agent_info *me, int64_t ticket_id, bool typing);

#endif

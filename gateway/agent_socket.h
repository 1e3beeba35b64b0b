/* agent_socket.h — the console's websocket, /ws/agent (DESIGN.md section 9, docs/api.md).
 *
 * Authentication: the sb_session cookie of the upgrade, or a first frame
 * {"type":"auth","token":T}; answered {"type":"auth_ok","agent":{...}}. A socket not
 * authenticated within 5 s, or whose first frame is not auth, is closed with 4401.
 * Then: events the agent may see (event_tailer.h) are pushed as they commit; the client
 * sends presence, ping, reply (acked after COMMIT, idempotent by client_id), accept and
 * typing. Errors come back as {"type":"error","code","message"} and the socket stays.
 * While an agent has a socket here its presence heartbeat is refreshed; the housekeeping
 * worker turns agents without heartbeat offline after [server] presence_grace_secs.
 *
 * Visibility (DESIGN.md section 10, tickets.h): admin all; manager their team's and
 * unteamed events; agent events of tickets assigned to them, or unassigned in their team
 * or without a team; sales and marketer events addressed to them.
 *
 * Thread: everything here runs on the net thread.
 */
#ifndef SB_AGENT_SOCKET_H
#define SB_AGENT_SOCKET_H
#include <stdbool.h>
#include <stdint.h>
#include "gateway/api.h"
#include "gateway/config.h"
#include "gateway/event_tailer.h"
#include "gateway/ws.h"

extern const struct ws_endpoint agent_socket_endpoint;

void agent_socket_init(const struct sb_config *cfg);
/* Pushes the batch to the sockets allowed to see each event; does not free it. */
void agent_socket_deliver(const struct event_batch *b);
/* Once a second (server hook): presence heartbeats. */
void agent_socket_tick(void);
/* A customer typing in a conversation: told to the agents who may see the ticket. */
void agent_socket_customer_typing(int64_t ticket_id, int64_t assignee_id, int64_t team_id, bool typing);
/* May this agent see (and act on) a ticket with this assignee and team? (tickets.h rules) */
bool agent_may_see(const struct agent_info *me, int64_t ticket_id, int64_t assignee_id, int64_t team_id);
/* Where an agent's typing goes (the chat channel registers itself; main wires it); the
 * receiver checks agent_may_see with what it knows of the ticket. */
typedef void (*agent_typing_fn)(const struct agent_info *me, int64_t ticket_id, bool typing);
void agent_socket_on_agent_typing(agent_typing_fn fn);

#endif

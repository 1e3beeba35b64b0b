/* agent_socket.h — the console's websocket, /ws/agent (DESIGN.md section 9).
 *
 * Authentication: the sb_session cookie of the upgrade, or a first frame
 * {"type":"auth","token":T}; answered {"type":"auth_ok","agent":{...}}. A socket not
 * authenticated within 5 s, or whose first frame is not auth, is closed with 4401.
 * Then: events the agent may see (event_tailer.h) are pushed as they commit; the client
 * may send {"type":"presence","status":"online|away|offline"} and {"type":"ping"}.
 * Errors come back as {"type":"error","code","message"}.
 *
 * Visibility (DESIGN.md section 10): admin all; manager their team's and unteamed
 * events; agent events about tickets assigned to them or unassigned in their team;
 * sales and marketer events addressed to them.
 *
 * Thread: the endpoint callbacks and agent_socket_deliver run on the net thread.
 */
#ifndef SB_AGENT_SOCKET_H
#define SB_AGENT_SOCKET_H
#include "gateway/event_tailer.h"
#include "gateway/ws.h"

extern const struct ws_endpoint agent_socket_endpoint;
void agent_socket_deliver(struct event_batch *b);

#endif

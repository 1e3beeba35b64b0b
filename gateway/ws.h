/* ws.h — websocket endpoints on the shared lws context.
 *
 * An endpoint is an ops table (path + callbacks), like a curl protocol handler. server.c
 * binds each upgrade to the endpoint whose path equals the request path, rejects
 * upgrades to unknown paths, and, for same_origin endpoints, an Origin that is present
 * but differs from [server] public_url. Frames are reassembled up to the endpoint's max_frame (else the
 * socket is closed with 1009).
 *
 * Thread: everything here runs on, and may only be called from, the net thread. Other
 * threads reach a socket by loop_post() with a ws_conn they hold a reference to
 * (ws_ref on the net thread before handing it off; ws_unref on the net thread after).
 * Errors: ws_send returns -1 when the socket is closed or its queue is over its bound
 * (the slow consumer is then closed: it resynchronises by reconnecting).
 */
#ifndef SB_WS_H
#define SB_WS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct ws_conn;

struct ws_endpoint {
    const char *path;
    size_t max_frame;      /* 0 = [server] ws_frame_limit */
    bool same_origin;      /* reject an Origin other than public_url (the console); an
                            * embeddable endpoint (the chat widget) leaves it false */
    int (*on_open)(struct ws_conn *c);          /* <0 refuses */
    void (*on_frame)(struct ws_conn *c, const char *data, size_t len);
    void (*on_timer)(struct ws_conn *c);
    void (*on_close)(struct ws_conn *c);
};

int ws_send(struct ws_conn *c, const char *data, size_t len);
int ws_send_str(struct ws_conn *c, const char *s);
/* Serialises and sends o (consumed). */
int ws_send_json(struct ws_conn *c, json_t *o);
/* {"type":"error","code","message","client_id"?}: the protocol's error frame. */
int ws_send_error(struct ws_conn *c, const char *code, const char *message, const char *client_id);
void ws_close(struct ws_conn *c, int code, const char *reason);
void ws_set_timer(struct ws_conn *c, int64_t usecs);
bool ws_alive(const struct ws_conn *c);
void ws_ref(struct ws_conn *c);
void ws_unref(struct ws_conn *c);
uint64_t ws_id(const struct ws_conn *c);
void *ws_user(const struct ws_conn *c);
void ws_set_user(struct ws_conn *c, void *user);
/* The sb_session cookie presented with the upgrade ("" when none). */
const char *ws_cookie_token(const struct ws_conn *c);
const char *ws_peer_ip(const struct ws_conn *c);
/* Iterate live sockets of one endpoint (for event fan-out). */
struct ws_conn *ws_first(const struct ws_endpoint *ep);
struct ws_conn *ws_next(struct ws_conn *c);

#endif

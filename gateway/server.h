/* server.h — the net thread: one libwebsockets context on a libev loop that this module
 * creates itself (a "foreign loop"), so that SIGTERM/SIGINT get our own watchers and a
 * graceful drain: stop accepting, let in-flight requests finish and their transactions
 * commit, write their responses, then return.
 *
 * Owns: the lws context, the libev loop, every socket, the static-file cache.
 * Thread: server_run blocks the calling (main) thread, which becomes the net thread.
 * Errors: server_run returns 0 after a clean drain, -1 when the context could not be
 * created (port in use, evlib plugin missing), with one log line saying which.
 */
#ifndef SB_SERVER_H
#define SB_SERVER_H
#include "gateway/config.h"
#include "gateway/ws.h"

struct server_hooks {
    const struct ws_endpoint *const *endpoints; /* NULL-terminated */
    void (*on_started)(void);  /* net thread, after listening */
    void (*on_draining)(void); /* net thread, when a stop signal arrived */
    void (*on_tick)(void);     /* net thread, once a second */
};

int server_run(const struct sb_config *cfg, const struct server_hooks *hooks);
/* A file of [server] www_dir as loaded at start ("/openapi.json"): 0 with its bytes (valid
 * while the server runs; read-only, so any thread may read them), -1 when there is none. */
int server_static_file(const char *url, const char **data, size_t *len);

#endif

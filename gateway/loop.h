/* loop.h — handing work back to the net thread.
 *
 * Any thread may call loop_post(fn, arg): fn(arg) then runs on the net thread, in order
 * of posting, after lws_cancel_service() has woken the event loop (DESIGN.md section 3;
 * libwebsockets' minimal-ws-server-threads pattern). This is the only way other threads
 * reach sockets.
 *
 * Owns: the completion queue (mutex-protected). Errors: loop_post returns -1 when the
 * loop is gone (shutdown finished); the caller then owns arg again.
 */
#ifndef SB_LOOP_H
#define SB_LOOP_H

typedef void (*loop_fn)(void *arg);

int loop_post(loop_fn fn, void *arg);
/* Net thread only: runs everything posted so far. */
void loop_drain(void);
/* Set by server.c when the lws context exists. */
void loop_attach(void *lws_context);
/* The loop has stopped: posts still queue (nothing is lost or leaked) but wake nobody;
 * main drains them on its own thread once the other threads have stopped. */
void loop_quiesce(void);
/* After the final drain: posts fail from now on. */
void loop_detach(void);

#endif

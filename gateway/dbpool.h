/* dbpool.h — N threads, each owning one struct db, running jobs in FIFO order.
 *
 * A job's run(db, arg) executes on a pool thread; its done(arg), when given, is then
 * posted to the net thread (loop_post). The pool never touches sockets.
 * Owns: the threads, their connections and the job queue. Thread: dbpool_submit from any
 * thread; start/stop from the main thread.
 * Errors: dbpool_submit returns -1 when the pool is stopping (the caller answers 503).
 */
#ifndef SB_DBPOOL_H
#define SB_DBPOOL_H
#include "gateway/config.h"
#include "gateway/db.h"
#include "gateway/loop.h"

typedef void (*dbpool_run_fn)(struct db *db, void *arg);

int dbpool_start(const struct sb_config *cfg);
int dbpool_submit(dbpool_run_fn run, loop_fn done, void *arg);
/* Jobs queued or running. */
int dbpool_busy(void);
/* Finishes every queued job, then joins the threads. */
void dbpool_stop(void);

#endif

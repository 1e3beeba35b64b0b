/* housekeeping.h — a background loop for what expires: agents whose presence heartbeat
 * stopped go offline after [server] presence_grace_secs (swept every few seconds), and
 * login sessions past their expiry are deleted (each minute, in batches of 1000, so it
 * never holds long locks). Later issues add their own chores here.
 *
 * Owns: its thread and database connection. Thread: start/stop from main only.
 * Errors: start returns -1 when the thread cannot be created; database errors are logged
 * and retried on the next round.
 */
#ifndef SB_HOUSEKEEPING_H
#define SB_HOUSEKEEPING_H
#include "gateway/config.h"

int housekeeping_start(const struct sb_config *cfg);
void housekeeping_stop(void);

#endif

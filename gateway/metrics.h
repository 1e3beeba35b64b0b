/* metrics.h — process counters and histograms, rendered in Prometheus text format.
 *
 * Owns: the counters. Thread: any (a mutex guards the tables; updates are cheap).
 * Errors: none; a full label table drops further distinct labels into "other".
 */
#ifndef SB_METRICS_H
#define SB_METRICS_H
#include <stdint.h>
#include "gateway/lib/buf.h"

int64_t metrics_now_us(void);
void metrics_http(const char *route, int status, int64_t dur_us);
void metrics_pool_wait(int64_t us);
void metrics_ws_open(int delta);
void metrics_ingest_batch(int64_t n);
void metrics_db_unavailable(void);
void metrics_read_cache_hit(void);
/* outbox_depth < 0 when the database could not be asked. */
void metrics_render(struct buf *out, int64_t outbox_depth);

#endif

/* event_tailer.h — the change feed: every state change writes an `events` row in its own
 * transaction (event_insert); one thread per process tails the table by id and hands
 * batches to the net thread, which pushes them to the websocket subscribers allowed to
 * see them (DESIGN.md section 3). Nodes share nothing but MariaDB: a local commit wakes
 * the tailer at once (event_tailer_wake), other nodes' events are found by polling every
 * 50 ms.
 *
 * Ids are allocated at INSERT but become visible at COMMIT, so a lower id can appear
 * after a higher one. The tailer therefore stops at a gap and waits up to
 * GAP_GRACE_MS for it to fill before stepping over it (a rolled-back insert leaves a
 * permanent gap); the ids stepped over are looked for again (by primary key, less often
 * as they age) for five minutes, so an event whose transaction committed later than that
 * (a big group commit under load) is delivered late, never lost.
 *
 * Owns: its thread and connection; each posted batch belongs to the deliver callback,
 * which must call event_batch_free. Thread: event_insert on any thread holding a struct db
 * inside a transaction; wake from any thread; start/stop from main.
 * Errors: event_insert returns a db_rc; the tailer logs and retries on its own.
 */
#ifndef SB_EVENT_TAILER_H
#define SB_EVENT_TAILER_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "gateway/db.h"

struct event {
    int64_t id;
    char kind[64];
    int64_t ticket_id, customer_id, agent_id, team_id;
    char region[101]; /* CRM events: the record's region, for the region data scope */
    char *json; /* the frame sent to sockets: {"type":kind,"event_id":..,"ticket_id":..,...payload} */
    size_t json_len;
    /* the frame for a role (field_perms.h index) that may not see some of its fields;
     * NULL: json as it is */
    char *json_role[4];
};

struct event_batch {
    size_t n;
    struct event ev[];
};

typedef void (*event_deliver_fn)(struct event_batch *b); /* runs on the net thread */

/* payload (an object or NULL) is consumed. */
struct event_row {
    const char *kind;
    int64_t ticket_id, customer_id, agent_id, team_id;
    json_t *payload; /* taken, like event_insert's */
};
/* Many events in few statements (bulk writers: the ingest writer, router, outbox): as
 * event_insert for each row in order — one INSERT per 100 rows when no enabled rule
 * listens to their kinds (rules_listening), else row by row with their rules. Every
 * payload is consumed, also on failure. */
int event_insert_many(struct db *db, struct event_row *rows, size_t n);
/* A worker's place in the change feed (worker_cursors `name`), locked FOR UPDATE until the
 * caller's transaction ends, so two processes never handle an event twice; the first
 * call starts at the present, not at the beginning of history. */
int event_cursor_lock(struct db *db, const char *name, int64_t *last);
int event_cursor_advance(struct db *db, const char *name, int64_t last);
/* A cursor reader's events (`WHERE id > cursor ORDER BY id LIMIT n`, with column col =
 * `created_at < NOW(3) - INTERVAL settle`): keeps the rows before the first one still
 * settling. The reader stops there — it neither skips past an event whose neighbours may
 * still commit nor reads the whole unsettled tail on every pass. */
void event_keep_settled(struct db_result *r, size_t col);
/* A cursor reader's pass begins: event_cursor_lock, then whether the next event after it
 * exists and is older than settle_us (one row read) — *settled 0: end the pass there rather
 * than read a batch that would be thrown away. */
int event_cursor_take(struct db *db, const char *name, int64_t settle_us, int64_t *last, int *settled);
int event_insert(struct db *db, const char *kind, int64_t ticket_id, int64_t customer_id, int64_t agent_id,
                 int64_t team_id, json_t *payload);
/* A CRM record's event (customer.*, deal.*, lead.*, activity.*, object.*): agent_id is the record's
 * owner, team_id the owner's team (looked up here), region the record's region, so the
 * net thread can apply data scopes (scope.h) without reading the record. */
int event_insert_crm(struct db *db, const char *kind, int64_t customer_id, int64_t owner_id, const char *region,
                     json_t *payload);
/* True for the kinds event_insert_crm writes. */
int event_is_crm(const char *kind);
int event_tailer_start(const struct sb_config *cfg, event_deliver_fn deliver);
void event_tailer_wake(void);
void event_tailer_stop(void);
void event_batch_free(struct event_batch *b);

#endif

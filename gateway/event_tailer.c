/* event_tailer.c — see event_tailer.h. */
#include "gateway/event_tailer.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/metrics.h"
#include "gateway/bgthread.h"
#include "gateway/field_perms.h"
#include "gateway/rules.h"
#include <stdlib.h>
#include <string.h>

#define POLL_MS 50
#define GAP_GRACE_MS 1000
#define BATCH 500

static struct bgthread bg = BGTHREAD_INIT;
static const struct sb_config *cfg;
static event_deliver_fn deliver;

int event_is_crm(const char *kind)
{
    static const char *const prefixes[] = {"customer.", "deal.", "lead.", "activity.", "object.", NULL};
    for (size_t i = 0; prefixes[i]; i++)
        if (strncmp(kind, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

int event_insert_crm(struct db *db, const char *kind, int64_t customer_id, int64_t owner_id, const char *region,
                     json_t *payload)
{
    char *s = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    struct db_result r;
    int rc = db_exec(db, "INSERT INTO events (kind, customer_id, agent_id, team_id, region, payload) "
                         "VALUES (?, ?, ?, (SELECT a.team_id FROM agents a WHERE a.id = ?), ?, ?)",
                     DBP(P_S(kind), P_IOPT(customer_id), P_IOPT(owner_id), P_I(owner_id), P_S(region && *region ? region : NULL),
                         P_S(s ? s : "{}")), &r);
    free(s);
    if (!rc) {
        int64_t id = (int64_t)r.insert_id;
        db_result_free(&r);
        rc = rules_on_event(db, id, kind, 0, customer_id, payload);
    }
    json_decref(payload);
    return rc;
}

int event_insert(struct db *db, const char *kind, int64_t ticket_id, int64_t customer_id, int64_t agent_id,
                 int64_t team_id, json_t *payload)
{
    char *p = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    struct db_result r;
    int rc = db_exec(db, "INSERT INTO events (kind, ticket_id, customer_id, agent_id, team_id, payload) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                     DBP(P_S(kind), P_IOPT(ticket_id), P_IOPT(customer_id), P_IOPT(agent_id), P_IOPT(team_id),
                         P_S(p ? p : "{}")), &r);
    free(p);
    if (!rc) {
        int64_t id = (int64_t)r.insert_id;
        db_result_free(&r);
        rc = rules_on_event(db, id, kind, ticket_id, customer_id, payload);
    }
    json_decref(payload);
    return rc;
}

#define EVENT_CHUNK 100 /* a whole outbox batch in one statement */

/* One multi-row INSERT of rows nobody's rules listen to (no ids needed). No RETURNING:
 * Connector/C 3.3 reports a prepared INSERT … RETURNING that fails (a duplicate, a lock
 * timeout) as a success and leaves the connection out of sync (docs/decisions.md). */
static int insert_quiet(struct db *db, struct event_row *rows, size_t k)
{
    struct db_param p[EVENT_CHUNK * 6];
    char *text[EVENT_CHUNK];
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, "INSERT INTO events (kind, ticket_id, customer_id, agent_id, team_id, payload) VALUES ");
    db_put_rows(&q, k, "(?, ?, ?, ?, ?, ?)");
    for (size_t i = 0; i < k; i++) {
        struct event_row *e = &rows[i];
        text[i] = e->payload ? json_dumps(e->payload, JSON_COMPACT) : NULL;
        p[i * 6] = P_S(e->kind);
        p[i * 6 + 1] = P_IOPT(e->ticket_id);
        p[i * 6 + 2] = P_IOPT(e->customer_id);
        p[i * 6 + 3] = P_IOPT(e->agent_id);
        p[i * 6 + 4] = P_IOPT(e->team_id);
        p[i * 6 + 5] = P_S(text[i] ? text[i] : "{}");
    }
    int rc = q.data ? db_exec(db, q.data, p, k * 6, NULL) : DB_EOTHER;
    for (size_t i = 0; i < k; i++)
        free(text[i]);
    buf_free(&q);
    return rc;
}

int event_insert_many(struct db *db, struct event_row *rows, size_t n)
{
    int rc = DB_OK;
    for (size_t at = 0; !rc && at < n; at += EVENT_CHUNK) {
        size_t k = n - at < EVENT_CHUNK ? n - at : EVENT_CHUNK;
        /* a chunk with an event some enabled rule listens to goes row by row, in order, each
         * with its rules (they need its id); the rest in one statement */
        int heard = 0;
        for (size_t i = 0; !rc && !heard && i < k; i++)
            rc = rules_listening(db, rows[at + i].kind, &heard);
        if (!rc && !heard)
            rc = insert_quiet(db, rows + at, k);
        for (size_t i = 0; !rc && heard && i < k; i++) {
            struct event_row *e = &rows[at + i];
            rc = event_insert(db, e->kind, e->ticket_id, e->customer_id, e->agent_id, e->team_id, e->payload);
            e->payload = NULL; /* event_insert took it */
        }
    }
    for (size_t i = 0; i < n; i++) { /* consumed, also after a failure */
        json_decref(rows[i].payload);
        rows[i].payload = NULL;
    }
    return rc;
}

void event_tailer_wake(void)
{
    bgthread_wake(&bg);
}

void event_batch_free(struct event_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->ev[i].json);
        for (int k = 0; k < FP_ROLES; k++)
            free(b->ev[i].json_role[k]);
    }
    free(b);
}

static void build_frame(struct event *e, const char *created_at, const char *payload)
{
    json_t *o = json_loads(payload ? payload : "{}", 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    json_object_set_new(o, "type", json_string(e->kind));
    json_object_set_new(o, "event_id", json_integer(e->id));
    if (e->ticket_id)
        json_object_set_new(o, "ticket_id", json_integer(e->ticket_id));
    if (e->customer_id && !json_object_get(o, "customer_id"))
        json_object_set_new(o, "customer_id", json_integer(e->customer_id));
    if (created_at)
        json_object_set_new(o, "at", json_string(created_at));
    e->json = json_dumps(o, JSON_COMPACT);
    e->json_len = e->json ? strlen(e->json) : 0;
    json_decref(o);
}

/* The tailer's field permissions: every role's hidden fields, reloaded when they change
 * (a field_permissions.updated event) and every FPERM_RELOAD_US anyway. */
#define FPERM_RELOAD_US (30LL * 1000000)
static struct fperm_snapshot perms;
static int64_t perms_at_us;

static void redact_frames(struct event *e)
{
    _Static_assert(FP_ROLES == sizeof(e->json_role) / sizeof(e->json_role[0]), "one frame per role");
    for (int k = 0; k < FP_ROLES && e->json; k++) {
        if (!fperm_set_hides_any(perms.role[k]))
            continue;
        json_t *o = json_loads(e->json, 0, NULL);
        fperm_set_redact(perms.role[k], o);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (s && strcmp(s, e->json) == 0) {
            free(s);
            continue;
        }
        e->json_role[k] = s ? s : strdup("{\"type\":\"redacted\"}");
    }
}

static void deliver_on_loop(void *arg)
{
    deliver(arg);
}

static void post_batch(struct event_batch *b)
{
    if (!b->n || loop_post(deliver_on_loop, b) < 0)
        event_batch_free(b);
}

#define EVENT_COLUMNS \
    "SELECT id, kind, COALESCE(ticket_id,0), COALESCE(customer_id,0), COALESCE(agent_id,0), " \
    "COALESCE(team_id,0), payload, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ'), region FROM events "

static void event_from_row(struct event *e, const struct db_result *r, size_t i)
{
    e->id = db_cell_i64(r, i, 0);
    text_copy(e->kind, sizeof(e->kind), db_cell(r, i, 1));
    e->ticket_id = db_cell_i64(r, i, 2);
    e->customer_id = db_cell_i64(r, i, 3);
    e->agent_id = db_cell_i64(r, i, 4);
    e->team_id = db_cell_i64(r, i, 5);
    text_copy(e->region, sizeof(e->region), db_cell(r, i, 8) ? db_cell(r, i, 8) : "");
    build_frame(e, db_cell(r, i, 7), db_cell(r, i, 6));
    redact_frames(e);
}

/* Ids the tailer stepped over at a gap: a transaction that took longer than the grace
 * period to commit (a big ingest batch under load) commits them later. They are looked
 * for (late_once) until they turn up — delivered late, never lost — or for LATE_KEEP_US
 * (a rolled-back transaction leaves its ids unused for good). */
#define LATE_MAX 8192
#define LATE_KEEP_US (300LL * 1000000)
static struct late_id {
    int64_t id, since_us, next_us; /* looked for again at next_us: soon at first, then less often */
} late[LATE_MAX];
static size_t nlate;

static void late_add(int64_t from, int64_t to, int64_t now)
{
    int64_t kept = 0;
    for (int64_t id = from; id <= to && nlate < LATE_MAX; id++, kept++)
        late[nlate++] = (struct late_id){id, now, now};
    log_info("events", "event=gap_stepped_over from=%lld to=%lld", (long long)from, (long long)to);
    if (kept <= to - from)
        log_warn("events", "event=gap_skipped from=%lld to=%lld", (long long)from + kept, (long long)to);
}

static void late_found(int64_t id)
{
    for (size_t k = 0; k < nlate; k++)
        if (late[k].id == id) {
            late[k] = late[--nlate];
            return;
        }
}

/* The late ids that have committed since, by primary key, LATE_CHUNK at a time (a JSON_TABLE
 * semi-join here read the whole events table on every pass). Each id is looked for again
 * after twice its age so far (at most every 10 s): a gap that never fills (a rolled-back
 * insert, a bulk insert's unused ids) costs a dozen lookups, not one per pass. */
#define LATE_CHUNK 64
static int late_once(struct db *db)
{
    int64_t now = metrics_now_us(), ids[LATE_MAX];
    size_t n = 0, expired = 0;
    for (size_t i = 0; i < nlate; i++) {
        if (now - late[i].since_us > LATE_KEEP_US)
            expired++;
        else
            late[n++] = late[i];
    }
    if (expired)
        log_info("events", "event=gap_closed count=%zu (ids never committed)", expired);
    nlate = n;
    n = 0;
    for (size_t i = 0; i < nlate; i++) { /* a snapshot of the due ones: late[] shrinks as ids turn up */
        if (late[i].next_us > now)
            continue;
        int64_t age = now - late[i].since_us;
        late[i].next_us = now + (age < 5000000 ? age * 2 + 100000 : 10000000);
        ids[n++] = late[i].id;
    }
    int rc = DB_OK;
    for (size_t at = 0; !rc && at < n; at += LATE_CHUNK) {
        size_t k = n - at < LATE_CHUNK ? n - at : LATE_CHUNK;
        struct db_param p[LATE_CHUNK];
        for (size_t i = 0; i < k; i++)
            p[i] = P_I(ids[at + i]);
        struct db_result r;
        rc = db_exec_list(db, EVENT_COLUMNS "WHERE id IN ", k, " ORDER BY id", p, k, &r);
        if (rc)
            break;
        struct event_batch *b = r.nrows ? calloc(1, sizeof(*b) + r.nrows * sizeof(struct event)) : NULL;
        for (size_t i = 0; b && i < r.nrows; i++) {
            struct event *e = &b->ev[b->n++];
            event_from_row(e, &r, i);
            late_found(e->id);
            log_info("events", "event=late_delivered id=%lld", (long long)e->id);
        }
        db_result_free(&r);
        if (b)
            post_batch(b);
    }
    return rc;
}

/* Reads what follows *last; advances *last over contiguous ids, and over a gap once it
 * is older than the grace period (its ids are then looked for as late ones). */
static int tail_once(struct db *db, int64_t *last, int64_t *gap_since_us)
{
    struct db_result r;
    int rc = db_exec(db, EVENT_COLUMNS "WHERE id > ? ORDER BY id LIMIT 500", DBP(P_I(*last)), &r);
    if (rc)
        return rc;
    struct event_batch *b = calloc(1, sizeof(*b) + r.nrows * sizeof(struct event));
    if (!b) {
        db_result_free(&r);
        return DB_EOTHER;
    }
    int64_t now = metrics_now_us();
    int reload = now - perms_at_us > FPERM_RELOAD_US;
    for (size_t i = 0; i < r.nrows && !reload; i++)
        reload = strcmp(db_cell(&r, i, 1), "field_permissions.updated") == 0;
    if (reload && fperm_snapshot_load(db, &perms) == DB_OK)
        perms_at_us = now;
    for (size_t i = 0; i < r.nrows; i++) {
        int64_t id = db_cell_i64(&r, i, 0);
        if (id != *last + 1) {
            if (!*gap_since_us)
                *gap_since_us = now;
            if (now - *gap_since_us < GAP_GRACE_MS * 1000LL)
                break;
            late_add(*last + 1, id - 1, now);
        }
        *gap_since_us = 0;
        event_from_row(&b->ev[b->n++], &r, i);
        *last = id;
    }
    db_result_free(&r);
    post_batch(b);
    return DB_OK;
}

static void tailer_main(struct bgthread *self)
{
    struct db *db = db_new(cfg, 1);
    int64_t last = -1, gap_since = 0, late_at_us = 0;
    int wait_ms = 0;
    while (bgthread_wait(self, wait_ms)) {
        if (last < 0 && db_scalar_i64(db, "SELECT COALESCE(MAX(id), 0) FROM events", DBP0, 0, &last) != DB_OK) {
            last = -1;
            wait_ms = 500;
            continue;
        }
        int rc = tail_once(db, &last, &gap_since);
        if (!rc && nlate && metrics_now_us() - late_at_us > 200000) { /* a few times a second is soon enough */
            late_at_us = metrics_now_us();
            rc = late_once(db);
        }
        wait_ms = rc ? 500 : (gap_since ? 10 : POLL_MS);
    }
    fperm_snapshot_free(&perms);
    perms_at_us = 0;
    nlate = 0;
    db_free(db);
}

int event_tailer_start(const struct sb_config *config, event_deliver_fn fn)
{
    cfg = config;
    deliver = fn;
    return bgthread_start(&bg, tailer_main, NULL);
}

void event_tailer_stop(void)
{
    bgthread_stop(&bg);
}

void event_keep_settled(struct db_result *r, size_t col)
{
    size_t n = 0;
    while (n < r->nrows && db_cell_i64(r, n, col) == 1)
        n++;
    db_result_truncate(r, n);
}

int event_cursor_lock(struct db *db, const char *name, int64_t *last)
{
    int rc = db_scalar_i64(db, "SELECT last_id FROM worker_cursors WHERE name = ? FOR UPDATE", DBP(P_S(name)), -1, last);
    if (rc || *last >= 0)
        return rc;
    rc = db_exec(db, "INSERT INTO worker_cursors (name, last_id) SELECT ?, COALESCE(MAX(id), 0) FROM events",
                 DBP(P_S(name)), NULL);
    return rc ? rc
              : db_scalar_i64(db, "SELECT last_id FROM worker_cursors WHERE name = ? FOR UPDATE", DBP(P_S(name)), 0, last);
}

int event_cursor_advance(struct db *db, const char *name, int64_t last)
{
    return db_exec(db, "UPDATE worker_cursors SET last_id = ?, ran_at = NOW(3) WHERE name = ?", DBP(P_I(last), P_S(name)),
                   NULL);
}

int event_cursor_take(struct db *db, const char *name, int64_t settle_us, int64_t *last, int *settled)
{
    int64_t v = 0;
    int rc = event_cursor_lock(db, name, last);
    if (!rc)
        rc = db_scalar_i64(db, "SELECT created_at < NOW(3) - INTERVAL ? MICROSECOND FROM events WHERE id > ? "
                               "ORDER BY id LIMIT 1", DBP(P_I(settle_us), P_I(*last)), 0, &v);
    *settled = !rc && v == 1;
    return rc;
}

/* outbox.c — see outbox.h. */
#include "outbox.h"
#include "gateway/bgthread.h"
#include "gateway/event_tailer.h"
#include "gateway/tickets.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ATTEMPTS 8
#define IDLE_MS 500
#define MAX_LANES 8

/* One worker thread per enabled channel. */
struct lane {
    struct bgthread bg;
    const struct channel_ops *ops;
};

static struct lane lanes[MAX_LANES];
static size_t nlanes;
static const struct sb_config *cfg;

static int64_t backoff_secs(int attempts)
{
    static const int64_t steps[] = {1, 4, 20, 60, 120, 120, 240, 480};
    return cfg->outbox.retry_secs * steps[attempts <= 0 ? 0 : attempts > 8 ? 7 : attempts - 1];
}

struct recovery {
    const char *channel;
    int n;
};

static int recover_tx(struct db *db, void *arg)
{
    struct recovery *rec = arg;
    struct db_result r;
    int rc = db_exec(db, "SELECT id, message_id FROM outbox WHERE state = 'sending' AND lease_until < NOW(3) "
                         "AND channel = ? LIMIT 500 FOR UPDATE SKIP LOCKED", DBP(P_S(rec->channel)), &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        int64_t mid = db_cell_i64(&r, i, 1);
        rc = db_exec(db, "UPDATE outbox SET state = 'ambiguous', error = 'interrupted while sending: it may or may "
                         "not have been delivered' WHERE id = ?", DBP(P_I(db_cell_i64(&r, i, 0))), NULL);
        if (!rc && mid)
            rc = db_exec(db, "UPDATE messages SET status = 'ambiguous' WHERE id = ?", DBP(P_I(mid)), NULL);
        if (!rc && mid)
            rc = ticket_message_event(db, mid, "ambiguous", "interrupted while sending");
    }
    rec->n = (int)r.nrows;
    db_result_free(&r);
    return rc;
}

struct claim {
    const struct channel_ops *ops;
    struct outbox_item *items;
    size_t n;
};

static int claim_tx(struct db *db, void *arg)
{
    struct claim *c = arg;
    struct db_result r;
    c->n = 0;
    size_t batch = c->ops->batch ? c->ops->batch : 20;
    int lease = c->ops->lease_secs ? c->ops->lease_secs : 120;
    /* ORDER BY without the constant state: with it, MariaDB 10.11 filesorts this prepared
     * statement (every queued row read and sorted per claim; a SQL PREPARE does not), with
     * it gone the claim walks ix_outbox_claim in order and stops at the batch (bench/RESULTS.md) */
    int rc = db_exec(db, "SELECT id, COALESCE(message_id, 0), recipient, payload, attempts FROM outbox "
                         "WHERE state = 'queued' AND next_attempt_at <= NOW(3) AND channel = ? "
                         "ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED",
                     DBP(P_S(c->ops->name), P_I(batch > OUTBOX_BATCH_MAX ? OUTBOX_BATCH_MAX : batch)), &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        struct outbox_item *it = &c->items[c->n];
        memset(it, 0, sizeof(*it));
        it->id = db_cell_i64(&r, i, 0);
        it->message_id = db_cell_i64(&r, i, 1);
        text_copy(it->recipient, sizeof(it->recipient), db_cell(&r, i, 2));
        it->payload = json_loads(db_cell(&r, i, 3), 0, NULL);
        it->attempts = (int)db_cell_i64(&r, i, 4) + 1;
        it->ticket_id = json_integer_value(json_object_get(it->payload, "ticket_id"));
        c->n++;
    }
    db_result_free(&r);
    if (rc || !c->n)
        return rc;
    struct db_param p[OUTBOX_BATCH_MAX + 1];
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, "UPDATE outbox SET state = 'sending', attempts = attempts + 1, "
                 "lease_until = NOW(3) + INTERVAL ? SECOND WHERE id IN ");
    db_put_placeholders(&q, c->n);
    p[0] = P_I(lease);
    for (size_t i = 0; i < c->n; i++)
        p[i + 1] = P_I(c->items[i].id);
    rc = q.data ? db_exec(db, q.data, p, c->n + 1, NULL) : DB_EOTHER;
    buf_free(&q);
    return rc;
}

static void forget(struct claim *c)
{
    for (size_t i = 0; i < c->n; i++)
        json_decref(c->items[i].payload);
    c->n = 0;
}

struct results {
    const struct channel_ops *ops;
    struct outbox_item *items;
    size_t n;
};

static int store_one(struct db *db, const struct channel_ops *ops, struct outbox_item *it)
{
    int rc;
    const char *status;
    if (it->outcome == SEND_RETRY && it->attempts >= MAX_ATTEMPTS) {
        it->outcome = SEND_FAILED;
        snprintf(it->error + strlen(it->error), sizeof(it->error) - strlen(it->error), " (gave up after %d attempts)",
                 it->attempts);
    }
    switch (it->outcome) { /* SEND_OK rows go through store_sent, in bulk */
    case SEND_RETRY:
        status = "queued";
        rc = db_exec(db, "UPDATE outbox SET state = 'queued', error = ?, lease_until = NULL, "
                         "attempts = attempts - ?, next_attempt_at = NOW(3) + INTERVAL ? SECOND WHERE id = ?",
                     DBP(P_S(it->error), P_I(it->not_attempted ? 1 : 0),
                         P_I(it->retry_after_secs > 0 ? it->retry_after_secs : backoff_secs(it->attempts)),
                         P_I(it->id)), NULL);
        break;
    case SEND_FAILED:
        status = "failed";
        rc = db_exec(db, "UPDATE outbox SET state = 'failed', error = ?, lease_until = NULL WHERE id = ?",
                     DBP(P_S(it->error), P_I(it->id)), NULL);
        break;
    default:
        status = "ambiguous";
        rc = db_exec(db, "UPDATE outbox SET state = 'ambiguous', error = ?, lease_until = NULL WHERE id = ?",
                     DBP(P_S(it->error), P_I(it->id)), NULL);
        break;
    }
    if (!rc && it->suppress)
        rc = db_exec(db, "INSERT IGNORE INTO suppressions (channel, value, reason, message_id) "
                         "VALUES (?, ?, 'provider: recipient unsubscribed', ?)",
                     DBP(P_S(ops->name), P_S(it->recipient), P_IOPT(it->message_id)), NULL);
    if (!rc && it->message_id)
        rc = db_exec(db, "UPDATE messages SET status = ? WHERE id = ?", DBP(P_S(status), P_I(it->message_id)), NULL);
    if (!rc && it->message_id && it->outcome != SEND_RETRY)
        rc = ticket_message_event(db, it->message_id, status, it->error);
    log_info("outbox", "event=%s outbox=%lld message=%lld channel=%s attempt=%d%s%s", status, (long long)it->id,
             (long long)it->message_id, ops->name, it->attempts, it->error[0] ? " error=" : "", it->error);
    return rc;
}

/* The sent rows of a batch in a few statements: outbox rows and messages marked sent,
 * their message.updated events in bulk, then the channel's record. */
static int store_sent(struct db *db, const struct channel_ops *ops, struct outbox_item *const *ok, size_t n)
{
    enum { CHUNK = 100 }; /* one set of statements for a whole SMS batch (channels/sms_http.c) */
    int rc = DB_OK;
    for (size_t at = 0; !rc && at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK, np = 0, nm = 0;
        struct db_param p[CHUNK * 3], pm[CHUNK];
        struct buf q, qm;
        buf_init(&q, 0);
        buf_init(&qm, 0);
        buf_puts(&q, "UPDATE outbox SET state = 'sent', error = NULL, lease_until = NULL, provider_id = CASE id");
        for (size_t i = 0; i < k; i++) {
            buf_puts(&q, " WHEN ? THEN ?");
            p[np++] = P_I(ok[at + i]->id);
            p[np++] = P_S(ok[at + i]->provider_id);
        }
        buf_puts(&q, " END WHERE id IN ");
        db_put_placeholders(&q, k);
        for (size_t i = 0; i < k; i++) {
            p[np++] = P_I(ok[at + i]->id);
            if (ok[at + i]->message_id)
                pm[nm++] = P_I(ok[at + i]->message_id);
        }
        rc = q.data ? db_exec(db, q.data, p, np, NULL) : DB_EOTHER;
        buf_puts(&qm, "UPDATE messages SET status = 'sent' WHERE id IN ");
        db_put_placeholders(&qm, nm);
        if (!rc && nm)
            rc = qm.data ? db_exec(db, qm.data, pm, nm, NULL) : DB_EOTHER;
        /* message.updated for the agents, as ticket_message_event builds it, in bulk */
        struct db_result r;
        buf_reset(&qm);
        buf_puts(&qm, "SELECT m.id, m.ticket_id, t.customer_id, COALESCE(t.assignee_id, 0), COALESCE(t.team_id, 0) "
                      "FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE m.id IN ");
        db_put_placeholders(&qm, nm);
        if (!rc && nm && !(rc = qm.data ? db_exec(db, qm.data, pm, nm, &r) : DB_EOTHER)) {
            struct event_row rows[CHUNK];
            for (size_t i = 0; i < r.nrows; i++)
                rows[i] = (struct event_row){"message.updated", db_cell_i64(&r, i, 1), db_cell_i64(&r, i, 2),
                                             db_cell_i64(&r, i, 3), db_cell_i64(&r, i, 4),
                                             json_pack("{s:{s:I, s:I, s:s, s:n}}", "message", "id",
                                                       (json_int_t)db_cell_i64(&r, i, 0), "ticket_id",
                                                       (json_int_t)db_cell_i64(&r, i, 1), "status", "sent", "error")};
            rc = event_insert_many(db, rows, r.nrows);
            db_result_free(&r);
        }
        buf_free(&q);
        buf_free(&qm);
    }
    if (!rc && ops->record_batch) /* last: it may move the messages on (delivered) */
        rc = ops->record_batch(db, ok, n);
    for (size_t i = 0; !rc && !ops->record_batch && ops->record && i < n; i++)
        rc = ops->record(db, ok[i]);
    if (!rc)
        log_info("outbox", "event=sent count=%zu channel=%s", n, ops->name);
    return rc;
}

static int results_tx(struct db *db, void *arg)
{
    struct results *res = arg;
    int rc = DB_OK;
    struct outbox_item *ok[OUTBOX_BATCH_MAX];
    size_t nok = 0;
    for (size_t i = 0; !rc && i < res->n; i++) {
        if (res->items[i].outcome == SEND_OK)
            ok[nok++] = &res->items[i];
        else
            rc = store_one(db, res->ops, &res->items[i]);
    }
    return rc ? rc : store_sent(db, res->ops, ok, nok);
}

/* Claims, sends and stores one batch of a channel; returns how many rows it handled. */
static size_t round_for(struct db *db, const struct channel_ops *ops)
{
    struct outbox_item items[OUTBOX_BATCH_MAX];
    struct claim c = {ops, items, 0};
    if (db_transaction(db, claim_tx, &c) != DB_OK) {
        forget(&c);
        return 0;
    }
    for (size_t i = 0; i < c.n; i++)
        items[i].outcome = SEND_OK; /* prepare may settle it otherwise */
    if (ops->prepare_batch && c.n && ops->prepare_batch(db, items, c.n) != DB_OK)
        for (size_t i = 0; i < c.n; i++) { /* the database hiccuped: try again soon, no attempt lost */
            items[i].outcome = SEND_RETRY;
            items[i].not_attempted = 1;
            text_copy(items[i].error, sizeof(items[i].error), "could not prepare the message (database error)");
        }
    for (size_t i = 0; i < c.n; i++) {
        if (!items[i].payload || (!ops->prepare_batch && ops->prepare && ops->prepare(db, &items[i]) != DB_OK)) {
            items[i].outcome = SEND_FAILED;
            text_copy(items[i].error, sizeof(items[i].error), "could not prepare the message (ticket or payload missing)");
        }
    }
    /* only the prepared ones go out; the others keep their failure */
    struct outbox_item *go[OUTBOX_BATCH_MAX];
    size_t ngo = 0;
    for (size_t i = 0; i < c.n; i++)
        if (items[i].outcome == SEND_OK)
            go[ngo++] = &items[i];
    if (ngo) {
        static _Thread_local struct outbox_item batch[OUTBOX_BATCH_MAX];
        for (size_t i = 0; i < ngo; i++)
            batch[i] = *go[i];
        ops->send(cfg, batch, ngo);
        for (size_t i = 0; i < ngo; i++)
            *go[i] = batch[i];
    }
    struct results res = {ops, items, c.n};
    /* the rows stay leased until this commits; if it cannot, the lease makes them ambiguous */
    if (c.n && db_transaction(db, results_tx, &res) != DB_OK)
        log_error("outbox", "event=results_not_stored count=%zu channel=%s", c.n, ops->name);
    else if (c.n)
        event_tailer_wake();
    size_t n = c.n;
    forget(&c);
    return n;
}

static void outbox_main(struct bgthread *self)
{
    const struct channel_ops *ops = ((struct lane *)self->arg)->ops;
    struct db *db = db_new(cfg, 1);
    int wait_ms = 0;
    time_t recovered_at = 0;
    while (bgthread_wait(self, wait_ms)) {
        /* Leases last minutes: looking for lapsed ones once a second is plenty, and a busy
         * lane saves a transaction per batch (bench/queue_claim.js). */
        time_t now = time(NULL);
        struct recovery rec = {ops->name, 0};
        if (now != recovered_at && db_transaction(db, recover_tx, &rec) == DB_OK && rec.n) {
            log_warn("outbox", "event=recovered_ambiguous count=%d channel=%s", rec.n, ops->name);
            event_tailer_wake();
        }
        recovered_at = now;
        wait_ms = round_for(db, ops) ? 0 : IDLE_MS;
    }
    db_free(db);
}

int outbox_start(const struct sb_config *config, const struct channel_ops *const *chs)
{
    cfg = config;
    for (size_t i = 0; chs[i] && nlanes < MAX_LANES; i++) {
        if (!chs[i]->enabled(cfg))
            continue;
        struct lane *l = &lanes[nlanes];
        *l = (struct lane){.bg = BGTHREAD_INIT, .ops = chs[i]};
        if (bgthread_start(&l->bg, outbox_main, l) < 0)
            return -1;
        nlanes++;
        log_info("outbox", "event=started channel=%s", chs[i]->name);
    }
    return 0;
}

void outbox_wake(void)
{
    for (size_t i = 0; i < nlanes; i++)
        bgthread_wake(&lanes[i].bg);
}

void outbox_stop(void)
{
    for (size_t i = 0; i < nlanes; i++)
        bgthread_stop(&lanes[i].bg);
    nlanes = 0;
}

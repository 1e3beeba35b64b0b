/* outbox_claim.c — the queue-claiming benchmark's probe (bench/queue_claim.js, issue 13).
 *
 *   outbox_claim product   WORKERS ROWS MAX_SECS
 *   outbox_claim reference WORKERS ROWS MAX_SECS
 *
 * Both drain ROWS queued `sms` rows of the outbox of the database named by the usual
 * SWITCHBOARD_DATABASE_* environment, with WORKERS threads each on its own connection, and
 * print "ROWS SECONDS ROWS_PER_SEC" once every row is `sent` (or MAX_SECS passed).
 *
 * product:   the gateway's own outbound dispatcher (workers/outbox.c, linked from
 *            libswitchboard.a) with WORKERS lanes on a channel whose send() succeeds at once,
 *            so what is measured is its claim, lease, bulk store of the outcome, the
 *            messages' status and their message.updated events — everything but the network.
 * reference: a bare `SELECT … FOR UPDATE SKIP LOCKED` loop: claim a batch of the same size
 *            (same index order, READ COMMITTED like the gateway), mark it sending, commit,
 *            mark it sent, commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>
#include "gateway/config.h"
#include "gateway/db.h"
#include "gateway/lib/buf.h"
#include "gateway/log.h"
#include "workers/outbox.h"

enum { BATCH = 100 }; /* the SMS channel's batch (channels/sms_http.c) */

static struct sb_config cfg;
static long long rows_wanted;
static volatile int stop_reference;

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int null_enabled(const struct sb_config *c)
{
    (void)c;
    return 1;
}

/* Every message "sent" at once: only the dispatcher's own work is left to measure. */
static void null_send(const struct sb_config *c, struct outbox_item *items, size_t n)
{
    (void)c;
    for (size_t i = 0; i < n; i++) {
        items[i].outcome = SEND_OK;
        snprintf(items[i].provider_id, sizeof(items[i].provider_id), "bench-%lld", (long long)items[i].id);
    }
}

static const struct channel_ops null_sms = {
    .name = "sms", .enabled = null_enabled, .send = null_send, .batch = BATCH, .lease_secs = 300,
};

static long long sent_rows(struct db *db)
{
    int64_t n = -1;
    if (db_scalar_i64(db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'", NULL, 0, -1, &n) != DB_OK)
        return -1;
    return (long long)n;
}

/* One claim round of the reference loop; returns the rows it moved, or -1. */
static int reference_round(struct db *db)
{
    struct db_result r;
    struct db_param p[BATCH];
    struct buf q;
    int n = -1;
    if (db_begin(db) != DB_OK)
        return -1;
    if (db_exec(db, "SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= NOW(3) AND channel = 'sms' "
                    "ORDER BY next_attempt_at, id LIMIT 100 FOR UPDATE SKIP LOCKED", NULL, 0, &r) != DB_OK) {
        db_rollback(db);
        return -1;
    }
    for (size_t i = 0; i < r.nrows; i++)
        p[i] = P_I(db_cell_i64(&r, i, 0));
    size_t k = r.nrows;
    db_result_free(&r);
    if (!k)
        return db_commit(db) == DB_OK ? 0 : -1;
    buf_init(&q, 0);
    buf_puts(&q, "UPDATE outbox SET state = 'sending', attempts = attempts + 1, lease_until = NOW(3) + INTERVAL 300 SECOND "
                 "WHERE id IN ");
    db_put_placeholders(&q, k);
    if (!q.data || db_exec(db, q.data, p, k, NULL) != DB_OK || db_commit(db) != DB_OK)
        goto out;
    buf_reset(&q);
    buf_puts(&q, "UPDATE outbox SET state = 'sent', lease_until = NULL WHERE id IN ");
    db_put_placeholders(&q, k);
    if (q.data && db_exec(db, q.data, p, k, NULL) == DB_OK)
        n = (int)k;
out:
    if (n < 0)
        db_rollback(db);
    buf_free(&q);
    return n;
}

static void *reference_worker(void *arg)
{
    (void)arg;
    db_thread_init();
    struct db *db = db_new(&cfg, 1);
    while (db && !stop_reference) {
        int n = reference_round(db);
        if (n < 0)
            break;
        if (n == 0)
            usleep(1000); /* as the gateway: a short nap on an empty queue */
    }
    db_free(db);
    db_thread_end();
    return NULL;
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc != 5 || (strcmp(argv[1], "product") != 0 && strcmp(argv[1], "reference") != 0)) {
        fprintf(stderr, "usage: outbox_claim product|reference WORKERS ROWS MAX_SECS\n");
        return 2;
    }
    int workers = atoi(argv[2]);
    rows_wanted = atoll(argv[3]);
    double max_secs = atof(argv[4]);
    if (workers < 1 || workers > 32 || rows_wanted < 1 || max_secs <= 0) {
        fprintf(stderr, "outbox_claim: WORKERS 1..32, ROWS and MAX_SECS positive\n");
        return 2;
    }
    if (config_load(&cfg, "/dev/null", 0, err, sizeof(err)) < 0) {
        fprintf(stderr, "outbox_claim: %s\n", err);
        return 2;
    }
    log_set_level(LOG_WARN);
    db_library_init();
    struct db *db = db_new(&cfg, 1);
    if (!db || sent_rows(db) < 0) {
        fprintf(stderr, "outbox_claim: cannot reach the database\n");
        return 1;
    }
    pthread_t th[32];
    const struct channel_ops *lanes[33] = {0};
    double t0 = now_secs();
    if (argv[1][0] == 'p') {
        for (int i = 0; i < workers; i++)
            lanes[i] = &null_sms;
        if (outbox_start(&cfg, lanes) < 0)
            return 1;
    } else {
        for (int i = 0; i < workers; i++)
            pthread_create(&th[i], NULL, reference_worker, NULL);
    }
    long long done = 0;
    /* counted seldom: the count is a scan that would compete with what it measures */
    while ((done = sent_rows(db)) >= 0 && done < rows_wanted && now_secs() - t0 < max_secs)
        usleep(25000);
    double secs = now_secs() - t0;
    if (argv[1][0] == 'p') {
        outbox_stop();
    } else {
        stop_reference = 1;
        for (int i = 0; i < workers; i++)
            pthread_join(th[i], NULL);
    }
    db_free(db);
    db_library_end();
    printf("%lld %.4f %.1f\n", done, secs, (double)done / secs);
    return done == rows_wanted ? 0 : 1;
}

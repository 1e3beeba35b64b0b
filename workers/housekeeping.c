/* housekeeping.c — see housekeeping.h. */
#include "housekeeping.h"
#include "gateway/bgthread.h"
#include "gateway/db.h"
#include "gateway/event_tailer.h"
#include "gateway/log.h"
#include "gateway/metrics.h"

#define SESSIONS_EVERY_US (60 * 1000000LL)

static struct bgthread bg = BGTHREAD_INIT;
static const struct sb_config *cfg;

static void expire_sessions(struct db *db)
{
    struct db_result r;
    do {
        if (db_exec(db, "DELETE FROM sessions WHERE expires_at < NOW(3) LIMIT 1000", DBP0, &r))
            return;
        if (r.affected)
            log_info("housekeeping", "event=sessions_expired count=%llu", (unsigned long long)r.affected);
        db_result_free(&r);
    } while (r.affected == 1000);
}

/* Agents whose heartbeat stopped (no socket on any node for the grace period) go
 * offline, with an event; SKIP LOCKED lets several nodes sweep side by side. */
static int presence_tx(struct db *db, void *arg)
{
    int *changed = arg;
    struct db_result r;
    int rc = db_exec(db, "SELECT p.agent_id, COALESCE(a.team_id, 0) FROM agent_presence p JOIN agents a ON a.id = p.agent_id "
                         "WHERE p.status <> 'offline' AND (p.heartbeat_at IS NULL OR p.heartbeat_at < NOW(3) - INTERVAL ? SECOND) "
                         "LIMIT 500 FOR UPDATE SKIP LOCKED",
                     DBP(P_I(cfg->server.presence_grace_secs)), &r);
    *changed = 0;
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        int64_t agent = db_cell_i64(&r, i, 0);
        rc = db_exec(db, "UPDATE agent_presence SET status = 'offline', changed_at = NOW(3) WHERE agent_id = ?",
                     DBP(P_I(agent)), NULL);
        if (!rc)
            rc = event_insert(db, "agent.presence", 0, 0, agent, db_cell_i64(&r, i, 1),
                              json_pack("{s:I, s:s, s:s}", "agent_id", (json_int_t)agent, "status", "offline",
                                        "reason", "no_heartbeat"));
        (*changed)++;
    }
    db_result_free(&r);
    return rc;
}

static void housekeeping_main(struct bgthread *self)
{
    struct db *db = db_new(cfg, 1);
    int64_t grace = cfg->server.presence_grace_secs;
    int sweep_ms = (int)(grace > 10 ? 5000 : grace * 500);
    int64_t sessions_due = 0;
    do {
        int changed = 0;
        if (db_transaction(db, presence_tx, &changed) == DB_OK && changed) {
            log_info("housekeeping", "event=agents_offline count=%d", changed);
            event_tailer_wake();
        }
        if (metrics_now_us() >= sessions_due) {
            expire_sessions(db);
            sessions_due = metrics_now_us() + SESSIONS_EVERY_US;
        }
    } while (bgthread_wait(self, sweep_ms));
    db_free(db);
}

int housekeeping_start(const struct sb_config *config)
{
    cfg = config;
    return bgthread_start(&bg, housekeeping_main, NULL);
}

void housekeeping_stop(void)
{
    bgthread_stop(&bg);
}

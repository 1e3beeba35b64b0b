/* housekeeping.c — see housekeeping.h. */
#include "housekeeping.h"
#include "gateway/bgthread.h"
#include "gateway/db.h"
#include "gateway/log.h"

#define ROUND_MS 60000

static struct bgthread bg = BGTHREAD_INIT;

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

static void housekeeping_main(struct bgthread *self)
{
    struct db *db = db_new(self->arg, 1);
    do
        expire_sessions(db);
    while (bgthread_wait(self, ROUND_MS));
    db_free(db);
}

int housekeeping_start(const struct sb_config *cfg)
{
    return bgthread_start(&bg, housekeeping_main, (void *)cfg);
}

void housekeeping_stop(void)
{
    bgthread_stop(&bg);
}

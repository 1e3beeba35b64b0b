/* housekeeping.c — see housekeeping.h. */
#include "housekeeping.h"
#include "gateway/db.h"
#include "gateway/log.h"
#include <pthread.h>
#include <time.h>

#define ROUND_SECS 60

static const struct sb_config *cfg;
static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stopping, started;

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

static void *housekeeping_main(void *unused)
{
    (void)unused;
    db_thread_init();
    struct db *db = db_new(cfg, 1);
    pthread_mutex_lock(&mu);
    while (!stopping) {
        pthread_mutex_unlock(&mu);
        expire_sessions(db);
        pthread_mutex_lock(&mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ROUND_SECS;
        while (!stopping && pthread_cond_timedwait(&cv, &mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&mu);
    db_free(db);
    db_thread_end();
    return NULL;
}

int housekeeping_start(const struct sb_config *config)
{
    cfg = config;
    stopping = 0;
    if (pthread_create(&thread, NULL, housekeeping_main, NULL) != 0)
        return -1;
    started = 1;
    return 0;
}

void housekeeping_stop(void)
{
    if (!started)
        return;
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    started = 0;
}

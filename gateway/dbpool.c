/* dbpool.c — see dbpool.h. */
#include "gateway/dbpool.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct job {
    dbpool_run_fn run;
    loop_fn done;
    void *arg;
    int64_t queued_us;
    struct job *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct job *head, *tail;
static int busy, stopping, nthreads;
static pthread_t *threads;
static const struct sb_config *config;

static void *worker(void *unused)
{
    (void)unused;
    db_thread_init();
    struct db *db = db_new(config, 1);
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!head && !stopping)
            pthread_cond_wait(&cv, &mu);
        struct job *j = head;
        if (!j) {
            pthread_mutex_unlock(&mu);
            break;
        }
        head = j->next;
        if (!head)
            tail = NULL;
        pthread_mutex_unlock(&mu);
        metrics_pool_wait(metrics_now_us() - j->queued_us);
        j->run(db, j->arg);
        if (j->done && loop_post(j->done, j->arg) < 0)
            log_error("dbpool", "event=completion_lost reason=loop_gone");
        free(j);
        pthread_mutex_lock(&mu); /* no wake-up: only idle workers wait on cv, for jobs */
        busy--;
        pthread_mutex_unlock(&mu);
    }
    db_free(db);
    db_thread_end();
    return NULL;
}

int dbpool_start(const struct sb_config *cfg)
{
    config = cfg;
    nthreads = (int)cfg->database.pool_size;
    threads = calloc((size_t)nthreads, sizeof(pthread_t));
    if (!threads)
        return -1;
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i], NULL, worker, NULL) != 0)
            return -1;
    return 0;
}

int dbpool_submit(dbpool_run_fn run, loop_fn done, void *arg)
{
    struct job *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    *j = (struct job){run, done, arg, metrics_now_us(), NULL};
    pthread_mutex_lock(&mu);
    if (stopping) {
        pthread_mutex_unlock(&mu);
        free(j);
        return -1;
    }
    if (tail)
        tail->next = j;
    else
        head = j;
    tail = j;
    busy++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return 0;
}

int dbpool_busy(void)
{
    pthread_mutex_lock(&mu);
    int b = busy;
    pthread_mutex_unlock(&mu);
    return b;
}

void dbpool_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    threads = NULL;
    nthreads = 0;
}

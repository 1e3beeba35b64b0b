/* bgthread.c — see bgthread.h. */
#include "gateway/bgthread.h"
#include "gateway/db.h"
#include <time.h>

static void *trampoline(void *arg)
{
    struct bgthread *b = arg;
    db_thread_init();
    b->run(b);
    db_thread_end();
    return NULL;
}

int bgthread_start(struct bgthread *b, void (*run)(struct bgthread *self), void *arg)
{
    b->run = run;
    b->arg = arg;
    b->stopping = b->woken = false;
    if (pthread_create(&b->thread, NULL, trampoline, b) != 0)
        return -1;
    b->started = true;
    return 0;
}

void bgthread_stop(struct bgthread *b)
{
    if (!b->started)
        return;
    pthread_mutex_lock(&b->mu);
    b->stopping = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    b->started = false;
}

void bgthread_wake(struct bgthread *b)
{
    pthread_mutex_lock(&b->mu);
    b->woken = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

bool bgthread_wait(struct bgthread *b, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&b->mu);
    while (!b->woken && !b->stopping)
        if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) != 0)
            break;
    b->woken = false;
    bool go_on = !b->stopping;
    pthread_mutex_unlock(&b->mu);
    return go_on;
}

bool bgthread_stopping(struct bgthread *b)
{
    pthread_mutex_lock(&b->mu);
    bool s = b->stopping;
    pthread_mutex_unlock(&b->mu);
    return s;
}

/* bgthread.h — the life of a background loop thread (event tailer, housekeeping, the
 * workers of later issues): start, sleep until woken or a timeout, stop and join.
 *
 * Owns: the thread and its mutex/condition. Thread: start/stop from main; wake from any
 * thread; wait only from the loop thread itself. The loop function should return soon
 * after bgthread_wait() answers false.
 * Errors: bgthread_start returns -1 when the thread cannot be created.
 */
#ifndef SB_BGTHREAD_H
#define SB_BGTHREAD_H
#include <pthread.h>
#include <stdbool.h>

struct bgthread {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping, woken, started;
    void (*run)(struct bgthread *self);
    void *arg;
};

#define BGTHREAD_INIT {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER}

int bgthread_start(struct bgthread *b, void (*run)(struct bgthread *self), void *arg);
void bgthread_stop(struct bgthread *b);
void bgthread_wake(struct bgthread *b);
/* Sleeps up to ms milliseconds, or until woken; false once stopping. */
bool bgthread_wait(struct bgthread *b, int ms);
bool bgthread_stopping(struct bgthread *b);

#endif

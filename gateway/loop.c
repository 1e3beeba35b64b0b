/* loop.c — see loop.h. */
#include "gateway/loop.h"
#include <libwebsockets.h>
#include <pthread.h>
#include <stdlib.h>

struct posted {
    loop_fn fn;
    void *arg;
    struct posted *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct posted *head, *tail;
static struct lws_context *ctx;
static int accepting;

void loop_attach(void *lws_context)
{
    pthread_mutex_lock(&mu);
    ctx = lws_context;
    accepting = 1;
    pthread_mutex_unlock(&mu);
}

void loop_quiesce(void)
{
    pthread_mutex_lock(&mu);
    ctx = NULL;
    pthread_mutex_unlock(&mu);
}

void loop_detach(void)
{
    pthread_mutex_lock(&mu);
    ctx = NULL;
    accepting = 0;
    pthread_mutex_unlock(&mu);
}

int loop_post(loop_fn fn, void *arg)
{
    struct posted *p = malloc(sizeof(*p));
    if (!p)
        return -1;
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&mu);
    if (!accepting) {
        pthread_mutex_unlock(&mu);
        free(p);
        return -1;
    }
    if (tail)
        tail->next = p;
    else
        head = p;
    tail = p;
    if (ctx)
        lws_cancel_service(ctx);
    pthread_mutex_unlock(&mu);
    return 0;
}

void loop_drain(void)
{
    pthread_mutex_lock(&mu);
    struct posted *p = head;
    head = tail = NULL;
    pthread_mutex_unlock(&mu);
    while (p) {
        struct posted *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

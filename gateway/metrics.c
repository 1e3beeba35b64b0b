/* metrics.c — see metrics.h. */
#include "gateway/metrics.h"
#include "gateway/lib/text.h"
#include <pthread.h>
#include <string.h>
#include <time.h>

#define MAX_SERIES 256
#define NB 14

static const double bounds[NB - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

struct histo {
    uint64_t b[NB];
    uint64_t count;
    double sum;
};

struct series {
    char route[64];
    int status;
    uint64_t count;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct series series[MAX_SERIES];
static size_t nseries;
static struct histo http_latency, pool_wait, ingest_batch;
static int64_t ws_open;
static uint64_t db_unavailable, read_cache_hits;

int64_t metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void observe(struct histo *h, double v, const double *bnd)
{
    size_t i = 0;
    while (i < NB - 1 && v > bnd[i])
        i++;
    h->b[i]++;
    h->count++;
    h->sum += v;
}

void metrics_http(const char *route, int status, int64_t dur_us)
{
    pthread_mutex_lock(&mu);
    size_t i;
    for (i = 0; i < nseries; i++)
        if (series[i].status == status && strcmp(series[i].route, route) == 0)
            break;
    if (i == nseries && nseries < MAX_SERIES) {
        text_copy(series[i].route, sizeof(series[i].route), route);
        series[i].status = status;
        nseries++;
    }
    if (i < nseries)
        series[i].count++;
    observe(&http_latency, (double)dur_us / 1e6, bounds);
    pthread_mutex_unlock(&mu);
}

void metrics_pool_wait(int64_t us)
{
    pthread_mutex_lock(&mu);
    observe(&pool_wait, (double)us / 1e6, bounds);
    pthread_mutex_unlock(&mu);
}

static const double batch_bounds[NB - 1] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10000};

void metrics_ingest_batch(int64_t n)
{
    pthread_mutex_lock(&mu);
    observe(&ingest_batch, (double)n, batch_bounds);
    pthread_mutex_unlock(&mu);
}

void metrics_ws_open(int delta)
{
    pthread_mutex_lock(&mu);
    ws_open += delta;
    pthread_mutex_unlock(&mu);
}

void metrics_read_cache_hit(void)
{
    pthread_mutex_lock(&mu);
    read_cache_hits++;
    pthread_mutex_unlock(&mu);
}

void metrics_db_unavailable(void)
{
    pthread_mutex_lock(&mu);
    db_unavailable++;
    pthread_mutex_unlock(&mu);
}

static void render_histo(struct buf *o, const char *name, const char *help, const struct histo *h, const double *bnd)
{
    buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < NB; i++) {
        cum += h->b[i];
        if (i < NB - 1)
            buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, bnd[i], (unsigned long long)cum);
        else
            buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    buf_printf(o, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

void metrics_render(struct buf *o, int64_t outbox_depth)
{
    pthread_mutex_lock(&mu);
    buf_puts(o, "# HELP switchboard_http_requests_total HTTP requests by route and status.\n"
                "# TYPE switchboard_http_requests_total counter\n");
    for (size_t i = 0; i < nseries; i++)
        buf_printf(o, "switchboard_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", series[i].route,
                   series[i].status, (unsigned long long)series[i].count);
    render_histo(o, "switchboard_http_request_duration_seconds", "Request latency from first byte to response queued.",
                 &http_latency, bounds);
    render_histo(o, "switchboard_db_pool_wait_seconds", "Time a job waited for a database thread.", &pool_wait, bounds);
    render_histo(o, "switchboard_ingest_batch_size", "Inbound messages committed per group-commit transaction.",
                 &ingest_batch, batch_bounds);
    buf_printf(o, "# HELP switchboard_websockets_open Open websocket connections.\n"
                  "# TYPE switchboard_websockets_open gauge\nswitchboard_websockets_open %lld\n",
               (long long)ws_open);
    buf_printf(o, "# HELP switchboard_db_unavailable_total Requests answered 503 because the database was unreachable.\n"
                  "# TYPE switchboard_db_unavailable_total counter\nswitchboard_db_unavailable_total %llu\n",
               (unsigned long long)db_unavailable);
    buf_printf(o, "# HELP switchboard_read_cache_hits_total Ticket reads answered from memory (read_cache.h).\n"
                  "# TYPE switchboard_read_cache_hits_total counter\nswitchboard_read_cache_hits_total %llu\n",
               (unsigned long long)read_cache_hits);
    pthread_mutex_unlock(&mu);
    if (outbox_depth >= 0)
        buf_printf(o, "# HELP switchboard_outbox_depth Outbox rows queued or being sent.\n"
                      "# TYPE switchboard_outbox_depth gauge\nswitchboard_outbox_depth %lld\n",
                   (long long)outbox_depth);
}

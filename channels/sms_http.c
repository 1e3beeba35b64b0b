/* sms_http.c — see sms_http.h. */
#include "sms_http.h"
#include "sms_twilio.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/rate_limit.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/sms_delivery.h"
#include <curl/curl.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ANSWER_MAX (64 * 1024)

const struct sms_provider *sms_provider_for(const struct sb_config *cfg)
{
    static const struct sms_provider *const all[] = {&sms_twilio, NULL};
    for (size_t i = 0; all[i]; i++)
        if (strcmp(cfg->sms.provider, all[i]->name) == 0)
            return all[i];
    return NULL;
}

static const struct sb_config *the_cfg; /* for prepare(), which gets none */

static int enabled(const struct sb_config *cfg)
{
    the_cfg = cfg;
    return cfg->sms.api_base[0] && cfg->sms.account_sid[0] && (cfg->sms.from[0] || cfg->sms.messaging_service_sid[0]);
}

/* Before sending, in three statements for the batch: numbers that texted STOP get nothing
 * but the confirmation of it; a number that had its share this minute (counting older rows
 * of it going out now) waits, without using up an attempt. */
static int prepare_batch(struct db *db, struct outbox_item *items, size_t n)
{
    struct db_param p[OUTBOX_BATCH_MAX + 1];
    struct buf list;
    buf_init(&list, 0);
    db_put_placeholders(&list, n);
    for (size_t i = 0; i < n; i++)
        p[i] = P_S(items[i].recipient);
    struct buf q;
    buf_init(&q, 0);
    buf_printf(&q, "SELECT value FROM suppressions WHERE channel = 'sms' AND value IN %s", list.data ? list.data : "()");
    struct db_result sup, recent, ahead;
    int rc = q.data ? db_exec(db, q.data, p, n, &sup) : DB_EOTHER;
    buf_reset(&q);
    buf_printf(&q, "SELECT recipient, COUNT(*) FROM outbox WHERE channel = 'sms' AND recipient IN %s AND state IN "
                   "('sent','ambiguous') AND updated_at > NOW(3) - INTERVAL 1 MINUTE GROUP BY recipient",
               list.data ? list.data : "()");
    if (!rc && (rc = q.data ? db_exec(db, q.data, p, n, &recent) : DB_EOTHER))
        db_result_free(&sup);
    buf_reset(&q);
    buf_printf(&q, "SELECT recipient, id FROM outbox WHERE channel = 'sms' AND recipient IN %s AND state = 'sending'",
               list.data ? list.data : "()");
    if (!rc && (rc = q.data ? db_exec(db, q.data, p, n, &ahead) : DB_EOTHER)) {
        db_result_free(&sup);
        db_result_free(&recent);
    }
    buf_free(&q);
    buf_free(&list);
    if (rc)
        return rc;
    int64_t per_min = the_cfg ? the_cfg->sms.recipient_per_min : 6;
    for (size_t i = 0; i < n; i++) {
        struct outbox_item *it = &items[i];
        int opted_out = 0;
        for (size_t k = 0; k < sup.nrows; k++)
            opted_out |= strcmp(db_cell(&sup, k, 0), it->recipient) == 0;
        if (opted_out && !json_is_true(json_object_get(it->payload, "keyword_reply"))) {
            it->outcome = SEND_FAILED;
            text_copy(it->error, sizeof(it->error), "the recipient opted out of SMS (STOP); they can text START to opt in");
            continue;
        }
        int64_t count = 0; /* sent this minute, plus older rows of this number going out now */
        for (size_t k = 0; k < recent.nrows; k++)
            if (strcmp(db_cell(&recent, k, 0), it->recipient) == 0)
                count += db_cell_i64(&recent, k, 1);
        for (size_t k = 0; k < ahead.nrows; k++)
            if (strcmp(db_cell(&ahead, k, 0), it->recipient) == 0 && db_cell_i64(&ahead, k, 1) < it->id)
                count++;
        if (count >= per_min) {
            it->outcome = SEND_RETRY;
            it->not_attempted = 1;
            it->retry_after_secs = 20;
            snprintf(it->error, sizeof(it->error), "waiting: at most %lld messages a minute to one number",
                     (long long)per_min);
        }
    }
    db_result_free(&sup);
    db_result_free(&recent);
    db_result_free(&ahead);
    return DB_OK;
}

/* Delivery reports that came before we knew the provider's ids are applied now. */
static int record_batch(struct db *db, struct outbox_item *const *items, size_t n)
{
    struct db_param p[OUTBOX_BATCH_MAX];
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, "SELECT provider_id FROM sms_delivery WHERE provider_id IN ");
    db_put_placeholders(&q, n);
    for (size_t i = 0; i < n; i++)
        p[i] = P_S(items[i]->provider_id);
    struct db_result r;
    int rc = n && q.data ? db_exec(db, q.data, p, n, &r) : DB_OK;
    buf_free(&q);
    if (rc || !n)
        return rc;
    for (size_t i = 0; !rc && i < r.nrows; i++)
        rc = sms_delivery_apply(db, db_cell(&r, i, 0));
    db_result_free(&r);
    return rc;
}

/* ---- one request ---- */

struct xfer {
    CURL *easy;
    struct outbox_item *it;
    struct sms_request req;
    size_t body_len, body_sent;
    struct buf answer;
    long retry_after;
};

static size_t on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb, left = x->body_len - x->body_sent;
    if (n > left)
        n = left;
    memcpy(dst, x->req.body + x->body_sent, n);
    x->body_sent += n;
    return n;
}

static size_t on_write(char *src, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    if (x->answer.len + n <= ANSWER_MAX)
        buf_append(&x->answer, src, n);
    return n;
}

static size_t on_header(char *src, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(src, "retry-after:", 12) == 0) {
        char v[32];
        text_copy_n(v, sizeof(v), src + 12, n - 12);
        long secs = strtol(v, NULL, 10);
        x->retry_after = secs > 0 && secs < 86400 ? secs : -1;
    }
    return n;
}

static int start(const struct sb_config *cfg, CURLM *multi, const struct sms_provider *p, struct xfer *x,
                 const char *status_url)
{
    const char *text = json_string_value(json_object_get(x->it->payload, "body_text"));
    if (p->build(cfg, x->it->recipient, text ? text : "", status_url, &x->req) < 0)
        return -1;
    x->body_len = strlen(x->req.body);
    x->retry_after = -1;
    buf_init(&x->answer, 0);
    CURL *e = x->easy = curl_easy_init();
    if (!e)
        return -1;
    curl_easy_setopt(e, CURLOPT_URL, x->req.url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    /* streamed, not POSTFIELDS: libcurl cannot rewind it, so it never re-sends a request
     * whose reused connection died — that would be a possible second SMS */
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERPWD, x->req.userpwd);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)cfg->sms.timeout_secs);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 4L); /* an idle connection older than this may be closing */
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    static struct curl_slist *headers;
    if (!headers) /* the outbox thread only */
        headers = curl_slist_append(curl_slist_append(NULL, "Accept: application/json"),
                                    "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    return curl_multi_add_handle(multi, e) == CURLM_OK ? 0 : -1;
}

static void finish(const struct sms_provider *p, struct xfer *x, CURLcode res)
{
    struct outbox_item *it = x->it;
    long status = 0, sent_bytes = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &sent_bytes);
    if (res == CURLE_OK && status > 0) {
        struct sms_answer a = {status, x->answer.data, x->answer.len, x->retry_after};
        int unsubscribed = 0;
        p->classify(&a, it, &unsubscribed);
        it->suppress = unsubscribed;
    } else if (sent_bytes > 0 || x->body_sent > 0) {
        it->outcome = SEND_AMBIGUOUS;
        snprintf(it->error, sizeof(it->error), "no answer from the SMS provider after the message was sent (%s): "
                                               "it may or may not have been delivered", curl_easy_strerror(res));
    } else {
        it->outcome = SEND_RETRY;
        snprintf(it->error, sizeof(it->error), "cannot reach the SMS provider: %s", curl_easy_strerror(res));
    }
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The outbox's SMS lane and the campaign sender both call this: one at a time, sharing
 * the connections and the pace ([sms] rate_per_sec is the process's, whoever sends). */
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;
static void send_batch_locked(const struct sb_config *cfg, struct outbox_item *items, size_t n);

static void send_batch(const struct sb_config *cfg, struct outbox_item *items, size_t n)
{
    pthread_mutex_lock(&send_lock);
    send_batch_locked(cfg, items, n);
    pthread_mutex_unlock(&send_lock);
}

static void send_batch_locked(const struct sb_config *cfg, struct outbox_item *items, size_t n)
{
    static CURLM *multi;
    static struct rate_limit pace;
    static int ready;
    const struct sms_provider *p = sms_provider_for(cfg);
    if (!ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        multi = curl_multi_init();
        curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)cfg->sms.max_inflight);
        rate_init(&pace, (double)cfg->sms.rate_per_sec, (double)cfg->sms.rate_per_sec, now_us());
        ready = 1;
    }
    struct xfer *xs = calloc(n ? n : 1, sizeof(*xs));
    char status_url[CFG_STR + 32] = ""; /* without a public URL the provider cannot report back */
    if (cfg->server.public_url[0])
        snprintf(status_url, sizeof(status_url), "%s/webhooks/sms/status", cfg->server.public_url);
    size_t next = 0, active = 0;
    for (size_t i = 0; i < n; i++)
        items[i].outcome = SEND_RETRY;
    while (xs && p && multi && (next < n || active)) {
        while (next < n && active < (size_t)cfg->sms.max_inflight && rate_take(&pace, now_us())) {
            struct xfer *x = &xs[next];
            x->it = &items[next++];
            if (start(cfg, multi, p, x, status_url) < 0) {
                text_copy(x->it->error, sizeof(x->it->error), "cannot build the request (number or text too long?)");
                x->it->outcome = SEND_FAILED;
                continue;
            }
            active++;
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode res = m->data.result;
            finish(p, x, res);
            curl_multi_remove_handle(multi, x->easy);
            curl_easy_cleanup(x->easy);
            x->easy = NULL;
            active--;
        }
        if (next < n || active)
            curl_multi_poll(multi, NULL, 0, next < n && active < (size_t)cfg->sms.max_inflight ? 20 : 200, NULL);
    }
    for (size_t i = 0; xs && i < n; i++) {
        if (xs[i].easy) { /* not reached: every started transfer finishes above */
            curl_multi_remove_handle(multi, xs[i].easy);
            curl_easy_cleanup(xs[i].easy);
        }
        free(xs[i].req.body);
        buf_free(&xs[i].answer);
    }
    if (!xs || !p)
        for (size_t i = 0; i < n; i++)
            text_copy(items[i].error, sizeof(items[i].error), !p ? "no such SMS provider" : "out of memory");
    free(xs);
}

const struct channel_ops sms_http_channel = {
    .name = "sms",
    .enabled = enabled,
    .send = send_batch,
    .prepare_batch = prepare_batch,
    .record_batch = record_batch,
    .batch = 100,
    .lease_secs = 300,
};

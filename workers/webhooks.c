/* webhooks.c — the webhook worker; see webhooks.h. */
#include "webhooks.h"
#include "gateway/bgthread.h"
#include "gateway/db.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/ip_class.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/webhooks.h"
#include <curl/curl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENTS_PER_PASS 500
#define CLAIM 32

static struct bgthread bg = BGTHREAD_INIT;
static const struct sb_config *cfg;

/* ---- fan-out: events into the queue ---- */

struct subscription {
    int64_t id;
    json_t *kinds;
};

static bool wants(const struct subscription *s, const char *kind)
{
    size_t i;
    json_t *k;
    json_array_foreach(s->kinds, i, k) {
        const char *v = json_string_value(k);
        if (v && (strcmp(v, "*") == 0 || strcmp(v, kind) == 0))
            return true;
    }
    return false;
}

/* The event's data: its payload, with the ids the events row carries. */
static json_t *event_data(const struct db_result *ev, size_t i)
{
    json_t *p = json_loads(db_cell(ev, i, 4), 0, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        p = json_object();
    }
    if (db_cell(ev, i, 2) && !json_object_get(p, "ticket_id"))
        json_object_set_new(p, "ticket_id", json_integer(db_cell_i64(ev, i, 2)));
    if (db_cell(ev, i, 3) && !json_object_get(p, "customer_id"))
        json_object_set_new(p, "customer_id", json_integer(db_cell_i64(ev, i, 3)));
    return p;
}

static int queue_event(struct db *db, const struct db_result *ev, size_t i, const struct subscription *subs, size_t nsubs)
{
    json_t *data = event_data(ev, i);
    const char *kinds[WEBHOOK_MAX_KINDS];
    size_t nk = webhook_kinds_of(db_cell(ev, i, 1), data, kinds);
    json_t *row = db_row_json(ev, i); /* created_at in the API's ISO form */
    const char *at = json_string_value(json_object_get(row, "created_at"));
    int rc = DB_OK;
    for (size_t k = 0; k < nk && !rc; k++) {
        char id[40];
        if (k == 0)
            snprintf(id, sizeof(id), "%lld", (long long)db_cell_i64(ev, i, 0));
        else /* a moment inside the event (deal.won): its own id */
            snprintf(id, sizeof(id), "%lld.%zu", (long long)db_cell_i64(ev, i, 0), k);
        char *body = NULL;
        for (size_t s = 0; s < nsubs && !rc; s++) {
            if (!wants(&subs[s], kinds[k]))
                continue;
            if (!body && !(body = webhook_body(id, kinds[k], at ? at : "", data)))
                rc = DB_EOTHER;
            if (!rc)
                rc = db_exec(db, "INSERT IGNORE INTO webhook_deliveries (webhook_id, event_id, event, body) "
                                 "VALUES (?, ?, ?, ?)", DBP(P_I(subs[s].id), P_S(id), P_S(kinds[k]), P_S(body)), NULL);
        }
        free(body);
    }
    json_decref(row);
    json_decref(data);
    return rc;
}

/* The pass's settled events, their payloads only when a webhook may want them: with no
 * active webhook the cursor just moves past them. */
static int fanout_tx(struct db *db, void *arg)
{
    int *did = arg;
    int64_t last = 0;
    struct db_result ev, w;
    int settled = 0;
    int rc = event_cursor_take(db, "webhook_events", cfg->crm.settle_ms * 1000, &last, &settled);
    if (rc || !settled)
        return rc;
    if ((rc = db_exec(db, "SELECT id, events FROM webhooks WHERE active = 1", DBP0, &w)))
        return rc;
    rc = db_exec(db, "SELECT id, kind, ticket_id, customer_id, IF(?, payload, NULL), created_at, "
                     "created_at < NOW(3) - INTERVAL ? MICROSECOND FROM events WHERE id > ? ORDER BY id LIMIT ?",
                 DBP(P_I(w.nrows > 0), P_I(cfg->crm.settle_ms * 1000), P_I(last), P_I(EVENTS_PER_PASS)), &ev);
    if (rc) {
        db_result_free(&w);
        return rc;
    }
    event_keep_settled(&ev, 6);
    struct subscription *subs = ev.nrows ? calloc(w.nrows + 1, sizeof(*subs)) : NULL;
    for (size_t s = 0; subs && s < w.nrows; s++) {
        subs[s].id = db_cell_i64(&w, s, 0);
        subs[s].kinds = json_loads(db_cell(&w, s, 1), 0, NULL);
    }
    if (ev.nrows && !subs)
        rc = DB_EOTHER;
    for (size_t i = 0; !rc && w.nrows && i < ev.nrows; i++)
        rc = queue_event(db, &ev, i, subs, w.nrows);
    if (!rc && ev.nrows) {
        rc = event_cursor_advance(db, "webhook_events", db_cell_i64(&ev, ev.nrows - 1, 0));
        *did = 1;
    }
    for (size_t s = 0; subs && s < w.nrows; s++)
        json_decref(subs[s].kinds);
    free(subs);
    db_result_free(&w);
    db_result_free(&ev);
    return rc;
}

/* ---- delivery ---- */

struct job {
    int64_t id, webhook_id, attempt;
    char event_id[40], event[64];
    char *url, *secret, *body;
    CURL *h;
    struct curl_slist *headers;
    long status;
    CURLcode result;
    bool allowed; /* the host is in allow_hosts: private addresses are fine */
    char error[CURL_ERROR_SIZE];
};

struct batch {
    struct job jobs[CLAIM];
    size_t n;
    time_t recovered_at; /* lapsed leases are looked for once a second, not every pass */
};

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct job *j = &b->jobs[i];
        if (j->h)
            curl_easy_cleanup(j->h);
        curl_slist_free_all(j->headers);
        free(j->url);
        free(j->secret);
        free(j->body);
    }
    b->n = 0;
}

static int claim_tx(struct db *db, void *arg)
{
    struct batch *b = arg;
    batch_free(b);
    struct db_result r;
    int rc = DB_OK;
    time_t now = time(NULL);
    if (now != b->recovered_at) {
        b->recovered_at = now;
        rc = db_exec(db, "UPDATE webhook_deliveries SET state = 'retrying', lease_until = NULL, "
                         "last_error = 'interrupted: the gateway stopped during the attempt' "
                         "WHERE state = 'sending' AND lease_until < NOW(3)", DBP0, NULL);
    }
    if (!rc)
        rc = db_exec(db, "SELECT d.id, d.webhook_id, d.event_id, d.event, d.body, d.attempts + 1, w.url, w.secret "
                         "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
                         "WHERE d.state IN ('queued', 'retrying') AND d.next_attempt_at <= NOW(3) AND w.active = 1 "
                         "ORDER BY d.next_attempt_at, d.id LIMIT ? FOR UPDATE SKIP LOCKED",
                     DBP(P_I(CLAIM)), &r);
    if (rc)
        return rc;
    if (!r.nrows) {
        db_result_free(&r);
        return DB_OK;
    }
    int64_t ids[CLAIM];
    for (size_t i = 0; i < r.nrows && i < CLAIM; i++) {
        struct job *j = &b->jobs[b->n++];
        memset(j, 0, sizeof(*j));
        j->id = ids[i] = db_cell_i64(&r, i, 0);
        j->webhook_id = db_cell_i64(&r, i, 1);
        text_copy(j->event_id, sizeof(j->event_id), db_cell(&r, i, 2));
        text_copy(j->event, sizeof(j->event), db_cell(&r, i, 3));
        j->body = strdup(db_cell(&r, i, 4));
        j->attempt = db_cell_i64(&r, i, 5);
        j->url = strdup(db_cell(&r, i, 6));
        j->secret = strdup(db_cell(&r, i, 7));
    }
    db_result_free(&r);
    char *list = db_id_list(ids, b->n);
    /* twice the attempt's time limit: a settle that is merely slow is not taken for a crash */
    rc = list ? db_exec(db, "UPDATE webhook_deliveries d JOIN " DB_ID_LIST_TABLE " ON j.id = d.id "
                            "SET d.state = 'sending', d.attempts = d.attempts + 1, "
                            "d.lease_until = NOW(3) + INTERVAL ? MICROSECOND",
                        DBP(P_S(list), P_I((2 * cfg->webhooks.timeout_ms + 1000) * 1000)), NULL)
              : DB_EOTHER;
    free(list);
    return rc;
}

/* libcurl's socket opener: refuses a non-public address unless the host is allowed, so a
 * name that resolves differently now than when it was checked cannot reach inside. */
static curl_socket_t open_checked(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct job *j = clientp;
    (void)purpose;
    if (!j->allowed && !ip_is_public(&a->addr)) {
        text_copy(j->error, sizeof(j->error), "refused: the host resolved to a private or loopback address");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n; /* the receiver's answer does not matter, only its status */
}

static void signature(const struct job *j, long long ts, char out[3 + crypto_auth_hmacsha256_BYTES * 2 + 1])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    char prefix[24];
    int n = snprintf(prefix, sizeof(prefix), "%lld.", ts);
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)j->secret, strlen(j->secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)prefix, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)j->body, strlen(j->body));
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "v1=", 3);
    sodium_bin2hex(out + 3, crypto_auth_hmacsha256_BYTES * 2 + 1, mac, sizeof(mac));
}

static int add_header(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_header(struct job *j, const char *fmt, ...)
{
    char line[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    struct curl_slist *l = curl_slist_append(j->headers, line);
    if (!l)
        return -1;
    j->headers = l;
    return 0;
}

static int prepare(struct job *j)
{
    j->allowed = webhook_url_host_allowed(j->url);
    long long ts = (long long)time(NULL);
    char sig[3 + crypto_auth_hmacsha256_BYTES * 2 + 1];
    signature(j, ts, sig);
    if (add_header(j, "Content-Type: application/json") || add_header(j, "Switchboard-Event-Id: %s", j->event_id) ||
        add_header(j, "Switchboard-Event: %s", j->event) ||
        add_header(j, "Switchboard-Delivery: %lld", (long long)j->id) ||
        add_header(j, "Switchboard-Attempt: %lld", (long long)j->attempt) ||
        add_header(j, "Switchboard-Timestamp: %lld", ts) || add_header(j, "Switchboard-Signature: %s", sig) ||
        add_header(j, "Expect:"))
        return -1;
    if (!(j->h = curl_easy_init()))
        return -1;
    CURL *h = j->h;
    curl_easy_setopt(h, CURLOPT_URL, j->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->webhooks.timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "Switchboard-Webhooks/1");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->body));
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, j);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->error);
    curl_easy_setopt(h, CURLOPT_PRIVATE, j);
    if (cfg->tls.ca_file[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->tls.ca_file);
    return 0;
}

/* Every job of b at once; returns when all have an outcome. */
static void perform(CURLM *m, struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct job *j = &b->jobs[i];
        j->result = CURLE_FAILED_INIT;
        if (prepare(j) == 0)
            curl_multi_add_handle(m, j->h);
        else
            text_copy(j->error, sizeof(j->error), "out of memory");
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(m, NULL, 0, 200, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct job *j = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        j->result = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &j->status);
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->jobs[i].h)
            curl_multi_remove_handle(m, b->jobs[i].h);
}

static int64_t backoff_ms(int64_t attempt)
{
    int64_t ms = cfg->webhooks.retry_base_ms;
    for (int64_t k = 1; k < attempt && ms < cfg->webhooks.retry_max_ms; k++)
        ms *= 2;
    return ms < cfg->webhooks.retry_max_ms ? ms : cfg->webhooks.retry_max_ms;
}

/* A webhook that failed disable_after times in a row is switched off; the admins hear. */
static int maybe_disable(struct db *db, const struct job *j)
{
    struct db_result r;
    int rc = db_exec(db, "UPDATE webhooks SET active = 0, disabled_at = NOW(3), disabled_reason = ? "
                         "WHERE id = ? AND active = 1 AND failure_count >= ?",
                     DBP(P_S("too many failed deliveries in a row"), P_I(j->webhook_id), P_I(cfg->webhooks.disable_after)),
                     &r);
    if (rc)
        return rc;
    bool disabled = r.affected > 0;
    db_result_free(&r);
    if (!disabled)
        return DB_OK;
    char message[600], key[64];
    snprintf(message, sizeof(message), "Webhook #%lld 已停用：连续投递失败 · Webhook #%lld to %.300s was disabled after "
             "%lld failed deliveries in a row (last: %.120s). Fix the receiver, then enable it again.",
             (long long)j->webhook_id, (long long)j->webhook_id, j->url, (long long)cfg->webhooks.disable_after, j->error);
    snprintf(key, sizeof(key), "webhook_disabled:%lld:%lld", (long long)j->webhook_id, (long long)time(NULL));
    log_warn("webhooks", "event=webhook_disabled webhook=%lld", (long long)j->webhook_id);
    return db_exec(db, "INSERT IGNORE INTO reminders (kind, agent_id, message, dedupe_key) "
                       "SELECT 'webhook_disabled', a.id, ?, ? FROM agents a "
                       "WHERE a.role = 'admin' AND a.active = 1 AND a.kind = 'person'",
                   DBP(P_S(message), P_S(key)), NULL);
}

static int settle_one(struct db *db, struct job *j)
{
    bool ok = j->result == CURLE_OK && j->status >= 200 && j->status < 300;
    if (ok) {
        int rc = db_exec(db, "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = NOW(3), last_status = ?, "
                             "last_error = NULL, lease_until = NULL WHERE id = ? AND state = 'sending'",
                         DBP(P_I(j->status), P_I(j->id)), NULL);
        return rc ? rc : db_exec(db, "UPDATE webhooks SET failure_count = 0, last_delivery_at = NOW(3), last_status = ? "
                                     "WHERE id = ?", DBP(P_I(j->status), P_I(j->webhook_id)), NULL);
    }
    char why[CURL_ERROR_SIZE + 64];
    if (j->result == CURLE_OK)
        snprintf(why, sizeof(why), "the receiver answered HTTP %ld", j->status);
    else
        snprintf(why, sizeof(why), "%s", j->error[0] ? j->error : curl_easy_strerror(j->result));
    text_copy(j->error, sizeof(j->error), why);
    bool last = j->attempt >= cfg->webhooks.max_attempts;
    int rc = db_exec(db, "UPDATE webhook_deliveries SET state = ?, last_status = ?, last_error = LEFT(?, 500), "
                         "lease_until = NULL, next_attempt_at = NOW(3) + INTERVAL ? MICROSECOND "
                         "WHERE id = ? AND state = 'sending'",
                     DBP(P_S(last ? "failed" : "retrying"), j->result == CURLE_OK ? P_I(j->status) : P_NULL, P_S(why),
                         P_I(backoff_ms(j->attempt) * 1000), P_I(j->id)), NULL);
    if (!rc)
        rc = db_exec(db, "UPDATE webhooks SET failure_count = failure_count + 1, last_delivery_at = NOW(3), "
                         "last_status = ? WHERE id = ?",
                     DBP(j->result == CURLE_OK ? P_I(j->status) : P_NULL, P_I(j->webhook_id)), NULL);
    if (!rc)
        rc = maybe_disable(db, j);
    log_info("webhooks", "event=attempt_failed delivery=%lld webhook=%lld attempt=%lld final=%d why=\"%s\"",
             (long long)j->id, (long long)j->webhook_id, (long long)j->attempt, last, why);
    return rc;
}

static int settle_tx(struct db *db, void *arg)
{
    struct batch *b = arg;
    int rc = DB_OK;
    for (size_t i = 0; i < b->n && !rc; i++)
        rc = settle_one(db, &b->jobs[i]);
    return rc;
}

static void webhooks_main(struct bgthread *self)
{
    struct db *db = db_new(cfg, 1);
    CURLM *m = curl_multi_init();
    struct batch *b = calloc(1, sizeof(*b));
    while (m && b && !bgthread_stopping(self)) {
        int did = 0;
        if (db_transaction(db, fanout_tx, &did) < 0)
            log_warn("webhooks", "event=fanout_failed");
        if (db_transaction(db, claim_tx, b) < 0) {
            log_warn("webhooks", "event=claim_failed");
            batch_free(b);
        }
        if (b->n) {
            perform(m, b);
            if (db_transaction(db, settle_tx, b) < 0) /* the leases run out: retried later */
                log_warn("webhooks", "event=settle_failed n=%zu", b->n);
            batch_free(b);
            continue;
        }
        if (!did)
            bgthread_wait(self, 200);
    }
    free(b);
    if (m)
        curl_multi_cleanup(m);
    db_free(db);
}

int webhook_worker_start(const struct sb_config *config)
{
    cfg = config;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return bgthread_start(&bg, webhooks_main, NULL);
}

void webhook_worker_stop(void)
{
    bgthread_stop(&bg);
}

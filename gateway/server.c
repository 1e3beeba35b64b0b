/* server.c — see server.h.
 *
 * One protocol (protocols[0]) serves HTTP and every websocket endpoint: libwebsockets
 * binds upgrades that name no subprotocol, and unmatched HTTP URLs, to protocols[0], so
 * the endpoint is chosen here by path (ws.h). HTTP requests matching the REST table go
 * to the db pool; GET/HEAD of a file under [server] www_dir is answered from memory on
 * this thread; anything else is a JSON 404/405. Responses are written only in WRITEABLE.
 *
 * A struct conn outlives its wsi when a db-pool job still holds it: the job's reference
 * keeps it alive and conn->wsi = NULL tells the completion that nobody is listening.
 */
#include "gateway/server.h"
#include "gateway/api.h"
#include "gateway/api_sms.h"
#include "gateway/dbpool.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/metrics.h"
#include "gateway/read_cache.h"
#include <dirent.h>
#include <ev.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define WS_QUEUE_MAX_BYTES (8u << 20)
#define TX_CHUNK 16384
#define MAX_ENDPOINTS 8
#define WS_PING_SECS 30

enum conn_kind { CONN_HTTP, CONN_WS };
enum http_phase { PH_RECEIVING, PH_AT_POOL, PH_WRITING };

struct wsmsg {
    struct wsmsg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE + len */
};

struct static_file {
    char url[256];
    char *data;
    size_t len;
    const char *type;
};

struct conn {
    int refs;                 /* the socket holds one until WSI_DESTROY; each pool job one */
    struct lws *wsi;          /* NULL once the socket is gone */
    enum conn_kind kind;
    uint64_t id;
    int64_t kill_at_us;       /* our deadlines: lws 4.1's libev timers are unreliable */
    int64_t timer_at_us;      /* endpoint timer (ws_set_timer) */
    struct conn *aprev, *anext; /* every live socket */
    int linked;
    /* http: the transaction in progress */
    struct api_req *req;
    uint64_t cache_gen;       /* read_cache_generation at dispatch */
    enum http_phase phase;
    int too_large;
    int must_close;           /* answer, then close the connection */
    int dispatched;           /* lws may still report BODY_COMPLETION after a body-less POST */
    int pool_returned;        /* the pool job ended (on_api_done ran) */
    int deferred_ready;       /* a deferred answer is complete (on_deferred_done ran) */
    int headers_done;
    size_t sent;
    const char *out;
    size_t out_len;
    const struct static_file *file;
    /* ws */
    const struct ws_endpoint *ep;
    int ep_idx;
    int ws_open;
    struct buf rx;
    struct wsmsg *qh, *qt;
    size_t q_bytes;
    int close_code;
    char close_reason[64];
    int64_t last_rx_us;       /* any frame or pong */
    int ping_due;             /* send a ping at the next WRITEABLE */
    int64_t ping_sent_us;
    void *user;
    char cookie_token[160];
    char ip[64];
    struct conn *prev, *next; /* in its endpoint's list */
};

static const struct sb_config *cfg;
static const struct server_hooks *hooks;
static struct lws_context *context;
static struct ev_loop *loop;
static ev_signal sig_term, sig_int;
static ev_timer drain_timer, tick_timer;
static int access_log; /* [log] access */
static ev_prepare log_flusher; /* the held access lines go out before the loop blocks */
static int draining;
static int64_t drain_started_us;
static int inflight;
static uint64_t next_id = 1;
static struct static_file *files;
static size_t nfiles;
static struct conn *all_conns;
static struct conn *ep_heads[MAX_ENDPOINTS];
static const struct ws_endpoint *endpoints[MAX_ENDPOINTS];
static size_t nendpoints;
static unsigned char tx[LWS_PRE + TX_CHUNK];

/* ---------- connections ---------- */

static int64_t secs_from_now(int64_t secs)
{
    return metrics_now_us() + secs * 1000000;
}

static struct conn *conn_of(struct lws *wsi)
{
    return wsi ? lws_get_opaque_user_data(wsi) : NULL;
}

/* Called when lws instantiates a socket: the socket owns one reference. */
static struct conn *conn_new(struct lws *wsi)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->refs = 1;
    c->wsi = wsi;
    c->kind = CONN_HTTP;
    c->id = next_id++;
    buf_init(&c->rx, 0);
    lws_get_peer_simple(wsi, c->ip, sizeof(c->ip));
    c->anext = all_conns;
    if (all_conns)
        all_conns->aprev = c;
    all_conns = c;
    c->linked = 1;
    lws_set_opaque_user_data(wsi, c);
    /* the request headers must arrive within timeout_secs (slowloris) */
    c->kill_at_us = secs_from_now(cfg->server.timeout_secs);
    return c;
}

/* Ends the HTTP transaction in progress, if any (idempotent). */
static void req_end(struct conn *c)
{
    if (!c->req)
        return;
    api_req_free(c->req);
    c->req = NULL;
    inflight--;
    c->phase = PH_RECEIVING;
    c->too_large = c->must_close = c->dispatched = c->headers_done = 0;
    c->sent = c->out_len = 0;
    c->out = NULL;
    c->file = NULL;
}

static void conn_unref(struct conn *c)
{
    if (--c->refs > 0)
        return;
    req_end(c);
    buf_free(&c->rx);
    while (c->qh) {
        struct wsmsg *m = c->qh;
        c->qh = m->next;
        free(m);
    }
    free(c);
}

static void ws_closed(struct conn *c)
{
    if (!c->ws_open)
        return;
    c->ws_open = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        ep_heads[c->ep_idx] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    metrics_ws_open(-1);
    if (c->ep->on_close)
        c->ep->on_close((struct ws_conn *)c);
}

/* The socket is gone (WSI_DESTROY, the last word lws says about a wsi). */
static void conn_destroyed(struct conn *c)
{
    if (!c || !c->linked)
        return;
    c->linked = 0;
    if (c->aprev)
        c->aprev->anext = c->anext;
    else
        all_conns = c->anext;
    if (c->anext)
        c->anext->aprev = c->aprev;
    c->wsi = NULL;
    ws_closed(c);
    if (c->phase != PH_AT_POOL)
        req_end(c); /* a pool job still using the request ends it in on_api_done */
    conn_unref(c);
}

/* ---------- static files ---------- */

static const char *mime_type(const char *path)
{
    static const char *const map[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".ico", "image/x-icon"},
        {".json", "application/json"},         {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(dot, map[i][0]) == 0)
            return map[i][1];
    return "application/octet-stream";
}

static int load_file(const char *fs_path, const char *url)
{
    FILE *f = fopen(fs_path, "rb");
    if (!f)
        return -1;
    struct buf b;
    buf_init(&b, 16u << 20);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(&b, chunk, n) < 0)
            rc = -1;
    fclose(f);
    struct static_file *nf = rc ? NULL : realloc(files, (nfiles + 1) * sizeof(*files));
    if (!nf) {
        buf_free(&b);
        return -1;
    }
    files = nf;
    struct static_file *sf = &files[nfiles++];
    text_copy(sf->url, sizeof(sf->url), url);
    sf->len = b.len;
    sf->data = buf_take(&b);
    sf->type = mime_type(url);
    return 0;
}

static void load_dir(const char *dir, const char *url_prefix, int depth)
{
    DIR *d = opendir(dir);
    if (!d || depth > 4) {
        if (d)
            closedir(d);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char fs[1024], url[512];
        snprintf(fs, sizeof(fs), "%s/%s", dir, e->d_name);
        snprintf(url, sizeof(url), "%s/%s", url_prefix, e->d_name);
        struct stat st;
        if (stat(fs, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            load_dir(fs, url, depth + 1);
        else if (S_ISREG(st.st_mode) && load_file(fs, url) < 0)
            log_warn("server", "event=static_load_failed file=%s", fs);
    }
    closedir(d);
}

static const struct static_file *static_find(const char *path)
{
    char want[300];
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (int pass = 0; pass < 2; pass++) {
        /* second pass: "/chat" → "/chat.html" */
        snprintf(want, sizeof(want), pass ? "%s.html" : "%s", path);
        for (size_t i = 0; i < nfiles; i++)
            if (strcmp(files[i].url, want) == 0)
                return &files[i];
    }
    return NULL;
}

int server_static_file(const char *url, const char **data, size_t *len)
{
    const struct static_file *f = static_find(url);
    if (!f)
        return -1;
    *data = (const char *)f->data;
    *len = f->len;
    return 0;
}

/* ---------- HTTP ---------- */

static void header_copy(struct lws *wsi, enum lws_token_indexes t, char *dst, size_t sz)
{
    dst[0] = '\0';
    if (lws_hdr_total_length(wsi, t) <= 0 || lws_hdr_copy(wsi, dst, (int)sz, t) < 0)
        dst[0] = '\0';
}

static void cookie_token(const char *cookie, char *out, size_t outsz)
{
    out[0] = '\0';
    for (const char *p = cookie; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 11 && strncmp(p, "sb_session=", 11) == 0) {
            text_copy_n(out, outsz, p + 11, n - 11);
            return;
        }
        p = end;
    }
}

static enum http_method request_method(struct lws *wsi)
{
    static const struct { enum lws_token_indexes tok; enum http_method m; } map[] = {
        {WSI_TOKEN_GET_URI, HTTP_GET},       {WSI_TOKEN_POST_URI, HTTP_POST},
        {WSI_TOKEN_PUT_URI, HTTP_PUT},       {WSI_TOKEN_PATCH_URI, HTTP_PATCH},
        {WSI_TOKEN_DELETE_URI, HTTP_DELETE}, {WSI_TOKEN_HEAD_URI, HTTP_HEAD},
        {WSI_TOKEN_OPTIONS_URI, HTTP_OPTIONS},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (lws_hdr_total_length(wsi, map[i].tok) > 0)
            return map[i].m;
    return HTTP_OTHER;
}

static void parse_args(struct lws *wsi, struct api_req *r)
{
    char frag[2048];
    for (int i = 0; r->nargs < API_MAX_ARGS; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        char *eq = strchr(frag, '=');
        if (eq)
            *eq = '\0';
        r->args[r->nargs].name = strdup(frag);
        r->args[r->nargs].value = strdup(eq ? eq + 1 : "");
        r->nargs++;
    }
}

static void parse_authorization(struct lws *wsi, struct api_req *r)
{
    char auth[256];
    header_copy(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, auth, sizeof(auth));
    if (strncasecmp(auth, "Bearer ", 7) == 0)
        text_copy(r->bearer, sizeof(r->bearer), text_trim(auth + 7));
    char cookie[1024];
    header_copy(wsi, WSI_TOKEN_HTTP_COOKIE, cookie, sizeof(cookie));
    cookie_token(cookie, r->cookie_token, sizeof(r->cookie_token));
}

static int64_t content_length(struct lws *wsi)
{
    char v[32];
    int64_t n = 0;
    header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, v, sizeof(v));
    return v[0] && text_parse_i64(v, &n) == 0 ? n : 0;
}

static void respond_now(struct lws *wsi, struct conn *c)
{
    c->phase = PH_WRITING;
    c->out = c->req->resp.data;
    c->out_len = c->req->spool ? c->req->spool_len : c->req->resp.len;
    if (c->req->spool)
        rewind(c->req->spool);
    c->kill_at_us = secs_from_now(4 * cfg->server.timeout_secs); /* a client that never reads */
    lws_callback_on_writable(wsi);
}

static void on_api_run(struct db *db, void *arg)
{
    struct conn *c = arg;
    api_dispatch(db, c->req);
}

static void api_answered(struct conn *c)
{
    if (c->req && c->req->wrote && c->req->me.id > 0)
        read_cache_drop_all(); /* before the answer: the client reads its own write */
    else if (c->req)
        read_cache_keep(c->req, c->cache_gen);
    if (c->wsi)
        respond_now(c->wsi, c);
    else
        req_end(c); /* the client left; the transaction still ran to its end */
    conn_unref(c);
}

/* Both callbacks run on the net thread, in either order: the pool job's end and a deferred
 * answer (api_defer); the later of the two answers and drops the job's reference. */
static void on_api_done(void *arg)
{
    struct conn *c = arg;
    c->pool_returned = 1;
    if (c->req && c->req->deferred && !c->deferred_ready)
        return;
    api_answered(c);
}

static void on_deferred_done(void *arg)
{
    struct conn *c = arg;
    c->deferred_ready = 1;
    if (c->pool_returned)
        api_answered(c);
}

/* Bulk uploads (ROUTE_LARGE_BODY: CSV imports) get [server] import_limit instead of
 * body_limit; the route is known from the method and path before the body arrives. */
static int64_t body_limit_for(const struct api_req *r)
{
    struct route_params p;
    int i = route_match(api_routes, api_n_routes, r->method, r->path, &p);
    if (i >= 0 && (api_routes[i].flags & ROUTE_LARGE_BODY))
        return cfg->server.import_limit;
    return cfg->server.body_limit;
}

static void dispatch(struct lws *wsi, struct conn *c)
{
    struct api_req *r = c->req;
    if (c->dispatched)
        return;
    c->dispatched = 1;
    if (c->too_large) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body larger than %lld bytes", (long long)body_limit_for(r));
        api_req_error(r, 413, "payload_too_large", msg);
        respond_now(wsi, c);
        return;
    }
    if (draining) {
        api_req_error(r, 503, "shutting_down", "server is shutting down");
        respond_now(wsi, c);
        return;
    }
    r->route_idx = route_match(api_routes, api_n_routes, r->method, r->path, &r->params);
    if (r->route_idx < 0) {
        const struct static_file *f = NULL;
        if (r->route_idx == ROUTE_NOT_FOUND && (r->method == HTTP_GET || r->method == HTTP_HEAD))
            f = static_find(r->path);
        if (f) {
            c->file = f;
            r->status = 200;
            r->resp_type = f->type;
            respond_now(wsi, c);
            c->out = f->data;
            c->out_len = f->len;
            return;
        }
        if (r->route_idx == ROUTE_BAD_METHOD)
            api_req_error(r, 405, "method_not_allowed", "method not allowed on this resource");
        else
            api_req_error(r, 404, "not_found", "no such resource");
        respond_now(wsi, c);
        return;
    }
    if (read_cache_answer(r)) {
        respond_now(wsi, c);
        return;
    }
    c->cache_gen = read_cache_generation(r);
    c->phase = PH_AT_POOL;
    c->kill_at_us = 0; /* the pool always answers; the request is not the client's to stall */
    c->refs++;
    c->pool_returned = c->deferred_ready = 0;
    r->finish = on_deferred_done;
    r->finish_arg = c;
    r->t_queued_us = metrics_now_us();
    if (dbpool_submit(on_api_run, on_api_done, c) < 0) {
        c->refs--;
        c->phase = PH_RECEIVING;
        api_req_error(r, 503, "unavailable", "server is shutting down");
        respond_now(wsi, c);
    }
}

static int on_http(struct lws *wsi, struct conn *c, const char *uri)
{
    req_end(c); /* nothing should be left, but never leak a transaction */
    struct api_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    c->req = r;
    inflight++;
    r->id = next_id++;
    r->route_idx = ROUTE_NOT_FOUND;
    r->t_start_us = metrics_now_us();
    r->method = request_method(wsi);
    text_copy(r->path, sizeof(r->path), uri);
    text_copy(r->ip, sizeof(r->ip), c->ip);
    header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, r->content_type, sizeof(r->content_type));
    const char *sig = api_sms_signature_header();
    if (sig && lws_hdr_custom_copy(wsi, r->signature, (int)sizeof(r->signature), sig, (int)strlen(sig)) < 0)
        r->signature[0] = '\0';
    buf_init(&r->resp, 0);
    parse_args(wsi, r);
    parse_authorization(wsi, r);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        /* lws 4.1 does not de-chunk request bodies; refuse clearly and close, so the
         * chunks are never read as the next request */
        c->must_close = 1;
        c->dispatched = 1;
        api_req_error(r, 411, "length_required", "send the body with a Content-Length (chunked bodies are not accepted)");
        respond_now(wsi, c);
        return 0;
    }
    int64_t clen = content_length(wsi), limit = body_limit_for(r);
    buf_init(&r->body, (size_t)limit);
    if (clen > limit)
        c->too_large = 1;
    if (clen > 0 && (r->method == HTTP_POST || r->method == HTTP_PUT || r->method == HTTP_PATCH ||
                     r->method == HTTP_DELETE)) {
        c->kill_at_us = secs_from_now(cfg->server.timeout_secs); /* the body must follow */
        return 0;
    }
    dispatch(wsi, c);
    return 0;
}

static int on_http_body(struct conn *c, const void *in, size_t len)
{
    if (!c->req)
        return -1;
    if (c->dispatched || c->too_large)
        return 0; /* drain and discard; a too-large body is answered 413 at completion */
    if (buf_append(&c->req->body, in, len) < 0)
        c->too_large = 1;
    return 0;
}

static void log_request(const struct conn *c)
{
    const struct api_req *r = c->req;
    int64_t dur = metrics_now_us() - r->t_start_us;
    const char *route = r->route_idx >= 0 ? api_routes[r->route_idx].name : (c->file ? "static" : "unmatched");
    metrics_http(route, r->status, dur);
    if (!access_log)
        return;
    char path[300];
    log_info("http", "req=%llu conn=%llu ip=%s method=%s path=%s route=%s status=%d bytes=%zu dur_us=%lld",
             (unsigned long long)r->id, (unsigned long long)c->id, r->ip, http_method_name(r->method),
             log_quote(path, sizeof(path), r->path), route, r->status, c->out_len, (long long)dur);
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p, unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
                                       (int)strlen(value), p, end);
}

static int write_headers(struct lws *wsi, struct conn *c)
{
    struct api_req *r = c->req;
    unsigned char hb[LWS_PRE + 2048];
    unsigned char *start = hb + LWS_PRE, *p = start, *end = hb + sizeof(hb) - 1;
    char rid[24];
    snprintf(rid, sizeof(rid), "%llu", (unsigned long long)r->id);
    if (lws_add_http_common_headers(wsi, (unsigned int)r->status, r->resp_type ? r->resp_type : "application/json",
                                    c->out_len, &p, end) ||
        add_header(wsi, "x-request-id:", rid, &p, end) ||
        add_header(wsi, "x-content-type-options:", "nosniff", &p, end) ||
        add_header(wsi, "referrer-policy:", "no-referrer", &p, end))
        return -1;
    if (c->file && strncmp(c->file->type, "text/html", 9) == 0 &&
        (add_header(wsi, "content-security-policy:",
                    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
                    &p, end) ||
         add_header(wsi, "x-frame-options:", "DENY", &p, end)))
        return -1;
    if (!c->file && add_header(wsi, "cache-control:", "no-store", &p, end))
        return -1;
    if (r->set_cookie[0] && add_header(wsi, "set-cookie:", r->set_cookie, &p, end))
        return -1;
    if (r->retry_after[0] && add_header(wsi, "retry-after:", r->retry_after, &p, end))
        return -1;
    if (r->location[0] && add_header(wsi, "location:", r->location, &p, end))
        return -1;
    if (r->disposition[0] && (add_header(wsi, "content-disposition:", r->disposition, &p, end) ||
                              add_header(wsi, "content-security-policy:", "sandbox; default-src 'none'", &p, end)))
        return -1;
    if ((draining || c->too_large || c->must_close) && add_header(wsi, "connection:", "close", &p, end))
        return -1;
    return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

static int finish_http(struct lws *wsi, struct conn *c)
{
    int close = draining || c->too_large || c->must_close;
    log_request(c);
    req_end(c);
    if (close)
        return -1;
    c->kill_at_us = secs_from_now(cfg->server.timeout_secs); /* keep-alive idle */
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_http_writeable(struct lws *wsi, struct conn *c)
{
    if (!c->req || c->phase != PH_WRITING)
        return 0;
    if (!c->headers_done) {
        if (write_headers(wsi, c) < 0)
            return -1;
        c->headers_done = 1;
        if (c->out_len == 0 || c->req->method == HTTP_HEAD)
            return finish_http(wsi, c);
        lws_callback_on_writable(wsi);
        return 0;
    }
    size_t left = c->out_len - c->sent;
    size_t n = left < TX_CHUNK ? left : TX_CHUNK;
    if (c->req->spool) { /* a spooled export: one chunk from the file per WRITEABLE */
        if (fread(tx + LWS_PRE, 1, n, c->req->spool) != n)
            return -1;
    } else {
        memcpy(tx + LWS_PRE, c->out + c->sent, n);
    }
    int final = n == left;
    if (lws_write(wsi, tx + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    c->sent += n;
    c->kill_at_us = secs_from_now(4 * cfg->server.timeout_secs); /* a slow reader of a big body is still reading */
    if (final)
        return finish_http(wsi, c);
    lws_callback_on_writable(wsi);
    return 0;
}

/* ---------- websockets ---------- */

static int endpoint_for(struct lws *wsi)
{
    char uri[256];
    header_copy(wsi, WSI_TOKEN_GET_URI, uri, sizeof(uri));
    for (size_t i = 0; i < nendpoints; i++)
        if (strcmp(uri, endpoints[i]->path) == 0)
            return (int)i;
    return -1;
}

static int origin_ok(struct lws *wsi)
{
    char origin[300];
    header_copy(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
    return !origin[0] || strcmp(origin, cfg->server.public_url) == 0;
}

static int on_ws_filter(struct lws *wsi)
{
    int idx = endpoint_for(wsi);
    if (draining || idx < 0)
        return 1;
    if (endpoints[idx]->same_origin && !origin_ok(wsi)) {
        log_warn("ws", "event=origin_rejected");
        return 1;
    }
    return 0;
}

static int on_ws_open(struct lws *wsi, struct conn *c)
{
    int idx = endpoint_for(wsi);
    if (idx < 0)
        return -1;
    if (c->req) { /* the upgrade request was a transaction of its own */
        log_request(c);
        req_end(c);
    }
    c->kind = CONN_WS;
    c->kill_at_us = 0;
    c->ep = endpoints[idx];
    c->ep_idx = idx;
    char cookie[1024];
    header_copy(wsi, WSI_TOKEN_HTTP_COOKIE, cookie, sizeof(cookie));
    cookie_token(cookie, c->cookie_token, sizeof(c->cookie_token));
    c->next = ep_heads[idx];
    if (c->next)
        c->next->prev = c;
    ep_heads[idx] = c;
    c->ws_open = 1;
    c->last_rx_us = metrics_now_us();
    metrics_ws_open(1);
    if (c->ep->on_open && c->ep->on_open((struct ws_conn *)c) < 0)
        return -1;
    return 0;
}

static int on_ws_receive(struct lws *wsi, struct conn *c, const void *in, size_t len)
{
    c->last_rx_us = metrics_now_us();
    size_t limit = c->ep->max_frame ? c->ep->max_frame : (size_t)cfg->server.ws_frame_limit;
    if (c->rx.len + len > limit) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"frame too large", 15);
        return -1;
    }
    if (buf_append(&c->rx, in, len) < 0)
        return -1;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    if (c->ep->on_frame)
        c->ep->on_frame((struct ws_conn *)c, c->rx.data, c->rx.len);
    buf_reset(&c->rx);
    return 0;
}

static int on_ws_writeable(struct lws *wsi, struct conn *c)
{
    if (c->ping_due) {
        unsigned char ping[LWS_PRE + 1];
        c->ping_due = 0;
        if (lws_write(wsi, ping + LWS_PRE, 0, LWS_WRITE_PING) < 0)
            return -1;
        if (c->qh || c->close_code)
            lws_callback_on_writable(wsi);
        return 0;
    }
    struct wsmsg *m = c->qh;
    if (!m) {
        if (!c->close_code)
            return 0;
        lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)c->close_reason,
                         strlen(c->close_reason));
        return -1;
    }
    c->qh = m->next;
    if (!c->qh)
        c->qt = NULL;
    c->q_bytes -= m->len;
    int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    free(m);
    if (n < 0)
        return -1;
    if (c->qh || c->close_code)
        lws_callback_on_writable(wsi);
    return 0;
}

int ws_send(struct ws_conn *wc, const char *data, size_t len)
{
    struct conn *c = (struct conn *)wc;
    if (!c->wsi || !c->ws_open || c->close_code)
        return -1;
    if (c->q_bytes + len > WS_QUEUE_MAX_BYTES) {
        log_warn("ws", "event=slow_consumer conn=%llu queued=%zu", (unsigned long long)c->id, c->q_bytes);
        ws_close(wc, 4008, "slow consumer");
        return -1;
    }
    struct wsmsg *m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, data, len);
    if (c->qt)
        c->qt->next = m;
    else
        c->qh = m;
    c->qt = m;
    c->q_bytes += len;
    lws_callback_on_writable(c->wsi);
    return 0;
}

int ws_send_str(struct ws_conn *c, const char *s)
{
    return ws_send(c, s, strlen(s));
}

int ws_send_json(struct ws_conn *c, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    int rc = s ? ws_send_str(c, s) : -1;
    free(s);
    json_decref(o);
    return rc;
}

int ws_send_error(struct ws_conn *c, const char *code, const char *message, const char *client_id)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    if (o && client_id && *client_id)
        json_object_set_new(o, "client_id", json_string(client_id));
    return ws_send_json(c, o);
}

void ws_close(struct ws_conn *wc, int code, const char *reason)
{
    struct conn *c = (struct conn *)wc;
    if (!c->wsi || c->close_code)
        return;
    c->close_code = code;
    text_copy(c->close_reason, sizeof(c->close_reason), reason);
    c->kill_at_us = secs_from_now(5); /* queued frames and the close handshake, then gone */
    lws_callback_on_writable(c->wsi);
}

void ws_set_timer(struct ws_conn *wc, int64_t usecs)
{
    struct conn *c = (struct conn *)wc;
    c->timer_at_us = usecs < 0 ? 0 : metrics_now_us() + usecs;
}

bool ws_alive(const struct ws_conn *wc) { return ((const struct conn *)wc)->wsi != NULL; }
void ws_ref(struct ws_conn *wc) { ((struct conn *)wc)->refs++; }
void ws_unref(struct ws_conn *wc) { conn_unref((struct conn *)wc); }
uint64_t ws_id(const struct ws_conn *wc) { return ((const struct conn *)wc)->id; }
void *ws_user(const struct ws_conn *wc) { return ((const struct conn *)wc)->user; }
void ws_set_user(struct ws_conn *wc, void *user) { ((struct conn *)wc)->user = user; }
const char *ws_cookie_token(const struct ws_conn *wc) { return ((const struct conn *)wc)->cookie_token; }
const char *ws_peer_ip(const struct ws_conn *wc) { return ((const struct conn *)wc)->ip; }

struct ws_conn *ws_first(const struct ws_endpoint *ep)
{
    for (size_t i = 0; i < nendpoints; i++)
        if (endpoints[i] == ep)
            return (struct ws_conn *)ep_heads[i];
    return NULL;
}

struct ws_conn *ws_next(struct ws_conn *wc)
{
    return (struct ws_conn *)((struct conn *)wc)->next;
}

/* ---------- the protocol callback ---------- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct conn *c = conn_of(wsi);
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return draining ? 1 : 0;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        return conn_new(wsi) ? 0 : -1;
    case LWS_CALLBACK_HTTP:
        return c ? on_http(wsi, c, in) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        return c ? on_http_body(c, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!c || !c->req)
            return -1;
        dispatch(wsi, c);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return c ? on_http_writeable(wsi, c) : -1;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return on_ws_filter(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return c ? on_ws_open(wsi, c) : -1;
    case LWS_CALLBACK_RECEIVE:
        return c && c->ws_open ? on_ws_receive(wsi, c, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c)
            c->last_rx_us = metrics_now_us();
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c && c->ws_open ? on_ws_writeable(wsi, c) : -1;
    case LWS_CALLBACK_CLOSED:
        if (c)
            ws_closed(c);
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        conn_destroyed(c);
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        loop_drain();
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"switchboard", callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

/* ---------- loop, signals, drain ---------- */

/* A silent websocket gets a ping after WS_PING_SECS; one silent for ws_idle_secs is
 * closed (pongs count as traffic). */
static void check_ws_idle(struct conn *c, int64_t now)
{
    int64_t idle = now - c->last_rx_us;
    if (idle > cfg->server.ws_idle_secs * 1000000) {
        log_info("ws", "event=idle_close conn=%llu idle_ms=%lld", (unsigned long long)c->id, (long long)(idle / 1000));
        ws_close((struct ws_conn *)c, 1001, "idle");
    } else if (idle > WS_PING_SECS * 1000000LL && !c->ping_due && c->wsi &&
               now - c->ping_sent_us > WS_PING_SECS * 1000000LL) {
        c->ping_due = 1;
        c->ping_sent_us = now;
        lws_callback_on_writable(c->wsi);
    }
}

static void on_prepare(struct ev_loop *l, ev_prepare *w, int revents)
{
    (void)l, (void)w, (void)revents;
    log_flush();
}

/* Deadlines, once a second. lws 4.1.6's libev plugin re-arms its timer with
 * ev_timer_set() on an active watcher (a no-op in libev), so lws timeouts and wsi timers
 * may never fire; we keep our own: slow headers and bodies, idle keep-alive, clients that
 * do not read, unanswered close handshakes, and endpoint timers (ws auth deadline). */
static void on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
    int64_t now = metrics_now_us();
    struct conn *next;
    for (struct conn *c = all_conns; c; c = next) {
        next = c->anext;
        if (c->kill_at_us && now >= c->kill_at_us && c->wsi) {
            log_info("server", "event=deadline conn=%llu kind=%s phase=%d", (unsigned long long)c->id,
                     c->kind == CONN_WS ? "ws" : "http", (int)c->phase);
            c->kill_at_us = 0;
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC); /* destroys c's socket */
        } else if (c->timer_at_us && now >= c->timer_at_us && c->ws_open) {
            c->timer_at_us = 0;
            if (c->ep->on_timer)
                c->ep->on_timer((struct ws_conn *)c);
        } else if (c->ws_open && !c->close_code) {
            check_ws_idle(c, now);
        }
    }
    if (hooks && hooks->on_tick)
        hooks->on_tick();
}

static void on_drain_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    int64_t waited = metrics_now_us() - drain_started_us;
    if ((inflight <= 0 && dbpool_busy() == 0) || waited > 20 * 1000000LL) {
        log_info("server", "event=drained inflight=%d waited_ms=%lld", inflight, (long long)(waited / 1000));
        ev_break(l, EVBREAK_ALL);
    }
}

static void on_signal(struct ev_loop *l, ev_signal *w, int revents)
{
    (void)revents;
    if (draining)
        return;
    draining = 1;
    drain_started_us = metrics_now_us();
    log_info("server", "event=shutdown signal=%d inflight=%d", w->signum, inflight);
    /* Stop accepting: FILTER_NETWORK_CONNECTION now refuses new sockets. (lws 4.1.6's
     * lws_context_deprecate() would close the listener, but it touches the freed listen
     * wsi and crashes; see docs/decisions.md.) */
    if (hooks && hooks->on_draining)
        hooks->on_draining();
    ev_timer_init(&drain_timer, on_drain_tick, 0.0, 0.02);
    ev_timer_start(l, &drain_timer);
}

static void lws_log_emit(int level, const char *line)
{
    char q[512];
    size_t n = strlen(line);
    char tmp[480];
    text_copy_n(tmp, sizeof(tmp), line, n && line[n - 1] == '\n' ? n - 1 : n);
    if (level & LLL_ERR)
        log_error("lws", "msg=%s", log_quote(q, sizeof(q), tmp));
    else
        log_warn("lws", "msg=%s", log_quote(q, sizeof(q), tmp));
}

/* lws sizes its fd tables from RLIMIT_NOFILE when the context is created: raise the
 * soft limit to the hard one first, or 10,000 chat sockets would not fit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_info("server", "event=fd_limit soft=%llu", (unsigned long long)rl.rlim_cur);
}

int server_run(const struct sb_config *config, const struct server_hooks *h)
{
    cfg = config;
    access_log = strcmp(cfg->log.access, "yes") == 0;
    read_cache_init(cfg->server.read_cache_ms);
    hooks = h;
    for (size_t i = 0; h && h->endpoints && h->endpoints[i] && i < MAX_ENDPOINTS; i++)
        endpoints[nendpoints++] = h->endpoints[i];
    load_dir(cfg->server.www_dir, "", 0);
    log_info("server", "event=static_loaded files=%zu dir=%s", nfiles, cfg->server.www_dir);

    raise_fd_limit();
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    loop = ev_default_loop(EVFLAG_AUTO);
    ev_signal_init(&sig_term, on_signal, SIGTERM);
    ev_signal_init(&sig_int, on_signal, SIGINT);
    ev_signal_start(loop, &sig_term);
    ev_signal_start(loop, &sig_int);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *foreign[1] = {loop};
    info.port = (int)cfg->server.port;
    info.iface = cfg->server.host;
    info.protocols = protocols;
    info.foreign_loops = foreign;
    info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (strchr(cfg->server.host, '.'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.timeout_secs = (unsigned int)cfg->server.timeout_secs;
    info.keepalive_timeout = (int)cfg->server.timeout_secs;
    info.max_http_header_data = 8192;
    info.pt_serv_buf_size = 32768;
    context = lws_create_context(&info);
    if (!context) {
        log_error("server", "event=start_failed listen=%s reason=\"lws context creation failed: port in use, "
                            "or the libev event-library plugin (package libwebsockets-evlib-ev) is missing\"",
                  cfg->server.listen);
        return -1;
    }
    loop_attach(context);
    log_info("server", "event=listening listen=%s public_url=%s event_lib=libev backend=%s", cfg->server.listen,
             cfg->server.public_url, ev_backend(loop) == EVBACKEND_EPOLL ? "epoll" : "other");
    if (hooks && hooks->on_started)
        hooks->on_started();
    ev_timer_init(&tick_timer, on_tick, 1.0, 1.0);
    ev_timer_start(loop, &tick_timer);
    ev_prepare_init(&log_flusher, on_prepare);
    ev_prepare_start(loop, &log_flusher);
    log_hold();
    ev_run(loop, 0);
    log_release();
    ev_prepare_stop(loop, &log_flusher);
    ev_timer_stop(loop, &tick_timer);
    /* Closing sockets may still submit jobs (a last presence heartbeat): their completions
     * queue up and main drains them after the pool has finished (see loop.h). */
    loop_quiesce();
    lws_context_destroy(context);
    context = NULL;
    read_cache_free();
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].data);
    free(files);
    files = NULL;
    nfiles = 0;
    return 0;
}

/* read_cache.c — see read_cache.h. */
#include "gateway/read_cache.h"
#include "gateway/api_handlers.h"
#include "gateway/api_keys.h"
#include "gateway/metrics.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_SLOTS 1024
#define VIEW_SLOTS 4096
#define VIEW_MAX_BYTES (1u << 20)    /* a bigger ticket is always read from the database */
#define TOTAL_MAX_BYTES (64u << 20)  /* all bodies together */

/* An entry serves only while its gen_all is the current one: dropping everything is one
 * increment, however busy the change feed. */
struct session_slot {
    unsigned char hash[32];
    int64_t at_us; /* 0: empty */
    uint32_t gen_all;
    struct agent_info me;
};

struct view_slot {
    int64_t ticket_id, team_id, assignee_id, offer_agent_id;
    int64_t at_us;
    uint32_t gen_all;
    char *body;
    size_t len;
};

static int64_t ttl_us;
static struct session_slot *sessions;
static struct view_slot *views;
static size_t total_bytes;
/* Drop generations: everything, and per view slot (only ever incremented). */
static uint32_t gen_all, gen_slot[VIEW_SLOTS];

void read_cache_init(int64_t ttl_ms)
{
    ttl_us = ttl_ms * 1000;
    if (ttl_us <= 0)
        return;
    sessions = calloc(SESSION_SLOTS, sizeof(*sessions));
    views = calloc(VIEW_SLOTS, sizeof(*views));
    if (!sessions || !views)
        read_cache_free(); /* no cache is slower, never wrong */
}

static void view_clear(struct view_slot *v)
{
    total_bytes -= v->len;
    free(v->body);
    memset(v, 0, sizeof(*v));
}

void read_cache_free(void)
{
    for (size_t i = 0; views && i < VIEW_SLOTS; i++)
        view_clear(&views[i]);
    free(views);
    free(sessions);
    views = NULL;
    sessions = NULL;
    ttl_us = 0;
}

static size_t view_slot_of(int64_t ticket_id)
{
    return (size_t)((uint64_t)ticket_id % VIEW_SLOTS);
}

/* The console token a request authenticates with, as auth_authenticate picks it; NULL for
 * none or an API key. */
static const char *session_token(const struct api_req *r)
{
    const char *tok = r->bearer[0] ? r->bearer : r->cookie_token;
    size_t n = strlen(tok);
    if (n < 20 || n > 100 || strncmp(tok, API_KEY_PREFIX, strlen(API_KEY_PREFIX)) == 0)
        return NULL;
    return tok;
}

static struct session_slot *session_slot_of(const unsigned char hash[32])
{
    uint64_t k;
    memcpy(&k, hash, sizeof(k));
    return &sessions[k % SESSION_SLOTS];
}

static int is_ticket_read(const struct api_req *r)
{
    return ttl_us > 0 && r->method == HTTP_GET && r->route_idx >= 0 && api_routes[r->route_idx].handler == tickets_get;
}

uint64_t read_cache_generation(const struct api_req *r)
{
    uint32_t slot = is_ticket_read(r) ? gen_slot[view_slot_of(r->params.id[0])] : 0;
    return (uint64_t)gen_all << 32 | slot;
}

int read_cache_in_scope(const struct agent_info *me, int64_t team_id, int64_t assignee_id, int64_t offer_agent_id)
{
    if (strcmp(me->role, "admin") == 0)
        return 1;
    if (strcmp(me->role, "manager") == 0)
        return me->team_id == 0 || team_id == 0 || team_id == me->team_id;
    if (strcmp(me->role, "agent") == 0)
        return assignee_id == me->id || offer_agent_id == me->id ||
               (assignee_id == 0 && (team_id == 0 || team_id == me->team_id));
    return 0; /* sales (by customer owner) and the rest: the database decides */
}

int read_cache_answer(struct api_req *r)
{
    if (!is_ticket_read(r))
        return 0;
    const char *tok = session_token(r);
    if (!tok)
        return 0;
    int64_t now = metrics_now_us();
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)tok, strlen(tok));
    const struct session_slot *s = session_slot_of(h);
    if (!s->at_us || s->gen_all != gen_all || now - s->at_us > ttl_us || memcmp(s->hash, h, sizeof(h)) != 0)
        return 0;
    const struct view_slot *v = &views[view_slot_of(r->params.id[0])];
    if (!v->body || v->gen_all != gen_all || v->ticket_id != r->params.id[0] || now - v->at_us > ttl_us)
        return 0;
    if (!(api_routes[r->route_idx].roles & s->me.role_bit) ||
        !read_cache_in_scope(&s->me, v->team_id, v->assignee_id, v->offer_agent_id))
        return 0;
    buf_reset(&r->resp);
    if (buf_append(&r->resp, v->body, v->len) < 0)
        return 0;
    r->status = 200;
    r->resp_type = NULL;
    metrics_read_cache_hit();
    return 1;
}

static void keep_session(const struct api_req *r, int64_t now)
{
    const char *tok = session_token(r);
    if (!tok || !r->session_authed)
        return;
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)tok, strlen(tok));
    struct session_slot *s = session_slot_of(h);
    memcpy(s->hash, h, sizeof(h));
    s->me = r->me;
    s->at_us = now;
    s->gen_all = gen_all;
}

/* Frees the bodies everything-drops have made useless (they wait for their slot to be
 * reused otherwise). */
static void sweep_dropped(void)
{
    for (size_t i = 0; i < VIEW_SLOTS; i++)
        if (views[i].body && views[i].gen_all != gen_all)
            view_clear(&views[i]);
}

void read_cache_keep(const struct api_req *r, uint64_t gen)
{
    if (!is_ticket_read(r) || r->status != 200 || r->spool || r->view_ticket_id != r->params.id[0] ||
        gen != read_cache_generation(r))
        return; /* something may have changed while the database was asked */
    size_t len = r->resp.len;
    struct view_slot *v = &views[view_slot_of(r->view_ticket_id)];
    view_clear(v);
    if (len > VIEW_MAX_BYTES)
        return;
    if (total_bytes + len > TOTAL_MAX_BYTES)
        sweep_dropped();
    if (total_bytes + len > TOTAL_MAX_BYTES || !(v->body = malloc(len ? len : 1)))
        return;
    int64_t now = metrics_now_us();
    memcpy(v->body, r->resp.data, len);
    v->len = len;
    total_bytes += len;
    v->ticket_id = r->view_ticket_id;
    v->team_id = r->view_team_id;
    v->assignee_id = r->view_assignee_id;
    v->offer_agent_id = r->view_offer_agent_id;
    v->at_us = now;
    v->gen_all = gen_all;
    keep_session(r, now);
}

void read_cache_drop_ticket(int64_t ticket_id)
{
    if (ttl_us <= 0)
        return;
    size_t i = view_slot_of(ticket_id);
    gen_slot[i]++;
    if (views[i].body)
        view_clear(&views[i]);
}

void read_cache_drop_all(void)
{
    if (ttl_us <= 0)
        return;
    gen_all++;
}

void read_cache_drop_events(const struct event_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct event *e = &b->ev[i];
        if (e->ticket_id > 0 && (strncmp(e->kind, "ticket.", 7) == 0 || strncmp(e->kind, "message.", 8) == 0))
            read_cache_drop_ticket(e->ticket_id);
        else
            read_cache_drop_all();
    }
}

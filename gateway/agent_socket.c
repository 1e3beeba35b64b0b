/* agent_socket.c — see agent_socket.h. */
#include "gateway/agent_socket.h"
#include "gateway/field_perms.h"
#include "gateway/api.h"
#include "gateway/auth.h"
#include "gateway/dbpool.h"
#include "gateway/event_tailer.h"
#include "gateway/scope.h"
#include "gateway/lib/rate_limit.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/tickets.h"
#include <stdlib.h>
#include <string.h>

#define AUTH_DEADLINE_US (5 * 1000000LL)
#define MAX_REPLY_CHARS 100000

struct agent_conn {
    int authed;
    int auth_pending;
    struct agent_info me;
    char token[160];          /* re-checked by every job: a revoked session acts no more */
    char session[17];         /* auth_session_id(token) */
    struct rate_limit rl;
};

/* One job type for the frames that need the database. */
enum job_kind { JOB_AUTH, JOB_PRESENCE, JOB_REPLY, JOB_ACCEPT, JOB_DECLINE };
#define JOB_REVOKED 100

struct job {
    enum job_kind kind;
    struct ws_conn *ws;
    struct agent_info me;
    char token[160];
    char status[16];
    char client_id[65];
    int64_t ticket_id;
    char *body;
    bool internal;
    int rc;
    json_t *result;
};

static const struct sb_config *cfg;
static agent_typing_fn typing_hook;
static int64_t last_heartbeat_us;

void agent_socket_init(const struct sb_config *config)
{
    cfg = config;
}

void agent_socket_on_agent_typing(agent_typing_fn fn)
{
    typing_hook = fn;
}


/* ---- database jobs ---- */

static int presence_tx(struct db *db, void *arg)
{
    struct job *j = arg;
    int rc = db_exec(db, "INSERT INTO agent_presence (agent_id, status, heartbeat_at, changed_at) "
                         "VALUES (?, ?, NOW(3), NOW(3)) ON DUPLICATE KEY UPDATE "
                         "changed_at = IF(status = VALUES(status), changed_at, NOW(3)), "
                         "status = VALUES(status), heartbeat_at = NOW(3)",
                     DBP(P_I(j->me.id), P_S(j->status)), NULL);
    if (!rc)
        rc = event_insert(db, "agent.presence", 0, 0, j->me.id, j->me.team_id,
                          json_pack("{s:I, s:s}", "agent_id", (json_int_t)j->me.id, "status", j->status));
    return rc;
}

static int reply_tx(struct db *db, void *arg)
{
    struct job *j = arg;
    json_decref(j->result);
    j->result = NULL;
    return ticket_reply(db, &j->me, j->ticket_id, j->body, j->internal, j->client_id, &j->result);
}

static int accept_tx(struct db *db, void *arg)
{
    struct job *j = arg;
    json_decref(j->result);
    j->result = NULL;
    return ticket_accept(db, &j->me, j->ticket_id, &j->result);
}

static int decline_tx(struct db *db, void *arg)
{
    struct job *j = arg;
    return ticket_decline(db, &j->me, j->ticket_id);
}

static void on_job_run(struct db *db, void *arg)
{
    struct job *j = arg;
    if (j->kind != JOB_AUTH) { /* the session may have ended since the socket authenticated */
        struct agent_info now;
        int ok = auth_token_agent(db, j->token, &now);
        if (ok != 1 || now.role_bit != j->me.role_bit || now.team_id != j->me.team_id || now.scope != j->me.scope ||
            strcmp(now.region, j->me.region) != 0) {
            j->rc = ok < 0 ? ok : JOB_REVOKED;
            return;
        }
    }
    switch (j->kind) {
    case JOB_AUTH:
        j->rc = auth_token_agent(db, j->token, &j->me);
        break;
    case JOB_PRESENCE:
        j->rc = db_transaction(db, presence_tx, j);
        break;
    case JOB_REPLY:
        j->rc = db_transaction(db, reply_tx, j);
        break;
    case JOB_ACCEPT:
        j->rc = db_transaction(db, accept_tx, j);
        break;
    case JOB_DECLINE:
        j->rc = db_transaction(db, decline_tx, j);
        break;
    }
    if (j->rc == DB_OK && j->kind != JOB_AUTH)
        event_tailer_wake();
}

static void heartbeat_now(int64_t agent_id);

static void finish_auth(struct job *j, struct agent_conn *ac)
{
    ac->auth_pending = 0;
    if (j->rc == 1) {
        ac->authed = 1;
        ac->me = j->me;
        text_copy(ac->token, sizeof(ac->token), j->token);
        auth_session_id(j->token, ac->session);
        heartbeat_now(j->me.id); /* a reconnect within the grace period keeps the agent online */
        ws_set_timer(j->ws, -1);
        ws_send_json(j->ws, json_pack("{s:s, s:{s:I, s:s, s:s, s:s, s:I}}", "type", "auth_ok", "agent", "id",
                                   (json_int_t)j->me.id, "name", j->me.name, "email", j->me.email, "role",
                                   j->me.role, "team_id", (json_int_t)j->me.team_id));
    } else if (j->rc < 0) {
        ws_send_error(j->ws, "unavailable", "database unavailable; reconnect shortly", NULL);
        ws_close(j->ws, 1013, "try again later");
    } else {
        ws_close(j->ws, 4401, "unauthorized");
    }
}

static void finish_outcome(struct job *j)
{
    const char *code, *text = j->rc > 0 ? ticket_outcome_text(j->rc, &code) : NULL;
    if (j->rc == JOB_REVOKED)
        ws_close(j->ws, 4401, "session ended");
    else if (j->rc > 0 && (j->kind == JOB_ACCEPT || j->kind == JOB_DECLINE)) /* say which ticket */
        ws_send_json(j->ws, json_pack("{s:s, s:s, s:s, s:I}", "type", "error", "code", code, "message", text, "ticket_id",
                                      (json_int_t)j->ticket_id));
    else if (j->rc > 0)
        ws_send_error(j->ws, code, text, j->client_id);
    else if (j->rc < 0)
        ws_send_error(j->ws, "unavailable", "not saved: the database is unavailable; retry", j->client_id);
    else if (j->kind == JOB_REPLY)
        ws_send_json(j->ws, json_pack("{s:s, s:s, s:I, s:I}", "type", "ack", "client_id", j->client_id, "message_id",
                                   (json_int_t)json_integer_value(json_object_get(j->result, "id")), "ticket_id",
                                   (json_int_t)j->ticket_id));
    else if (j->kind == JOB_ACCEPT)
        ws_send_json(j->ws, json_pack("{s:s, s:I}", "type", "accepted", "ticket_id", (json_int_t)j->ticket_id));
    else if (j->kind == JOB_DECLINE)
        ws_send_json(j->ws, json_pack("{s:s, s:I}", "type", "declined", "ticket_id", (json_int_t)j->ticket_id));
    else if (j->kind == JOB_PRESENCE)
        ws_send_json(j->ws, json_pack("{s:s, s:s}", "type", "presence_ok", "status", j->status));
}

static void on_job_done(void *arg)
{
    struct job *j = arg;
    struct agent_conn *ac = ws_alive(j->ws) ? ws_user(j->ws) : NULL;
    if (ac && j->kind == JOB_AUTH)
        finish_auth(j, ac);
    else if (ac)
        finish_outcome(j);
    json_decref(j->result);
    free(j->body);
    ws_unref(j->ws);
    free(j);
}

static struct job *job_new(enum job_kind kind, struct ws_conn *ws, const struct agent_conn *ac)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->kind = kind;
    j->ws = ws;
    if (ac) {
        j->me = ac->me;
        text_copy(j->token, sizeof(j->token), ac->token);
    }
    return j;
}

static void submit(struct job *j)
{
    ws_ref(j->ws);
    if (dbpool_submit(on_job_run, on_job_done, j) < 0) {
        ws_send_error(j->ws, "unavailable", "server is shutting down", j->client_id);
        ws_unref(j->ws);
        free(j->body);
        free(j);
    }
}

/* ---- frames ---- */

static void start_auth(struct ws_conn *ws, struct agent_conn *ac, const char *token)
{
    struct job *j = job_new(JOB_AUTH, ws, NULL);
    if (!j || text_copy(j->token, sizeof(j->token), token) < 0) {
        free(j);
        ws_close(ws, 4401, "unauthorized");
        return;
    }
    ac->auth_pending = 1;
    submit(j);
}

static int on_open(struct ws_conn *ws)
{
    struct agent_conn *ac = calloc(1, sizeof(*ac));
    if (!ac)
        return -1;
    rate_init(&ac->rl, 40, 20, metrics_now_us());
    ws_set_user(ws, ac);
    ws_set_timer(ws, AUTH_DEADLINE_US);
    if (ws_cookie_token(ws)[0])
        start_auth(ws, ac, ws_cookie_token(ws));
    return 0;
}

static int64_t ticket_arg(json_t *msg)
{
    json_t *t = json_object_get(msg, "ticket_id");
    return json_is_integer(t) && json_integer_value(t) > 0 ? json_integer_value(t) : 0;
}

static void handle_presence(struct ws_conn *ws, struct agent_conn *ac, json_t *msg)
{
    const char *st = json_string_value(json_object_get(msg, "status"));
    if (!st || (strcmp(st, "online") && strcmp(st, "away") && strcmp(st, "offline"))) {
        ws_send_error(ws, "invalid", "status must be online, away or offline", NULL);
        return;
    }
    struct job *j = job_new(JOB_PRESENCE, ws, ac);
    if (!j)
        return;
    text_copy(j->status, sizeof(j->status), st);
    submit(j);
}

static void handle_reply(struct ws_conn *ws, struct agent_conn *ac, json_t *msg)
{
    const char *cid = json_string_value(json_object_get(msg, "client_id"));
    const char *body = json_string_value(json_object_get(msg, "body"));
    json_t *internal = json_object_get(msg, "internal");
    int64_t ticket = ticket_arg(msg);
    if (!cid || !*cid || strlen(cid) > 64) {
        ws_send_error(ws, "invalid", "client_id must be 1..64 characters", NULL);
        return;
    }
    if (!ticket || !body || strspn(body, " \t\r\n") == strlen(body) || (internal && !json_is_boolean(internal))) {
        ws_send_error(ws, "invalid", "reply needs ticket_id, a non-empty body and internal true/false", cid);
        return;
    }
    if (utf8_length(body, strlen(body)) > MAX_REPLY_CHARS) {
        ws_send_error(ws, "too_long", "the reply is longer than 100000 characters", cid);
        return;
    }
    struct job *j = job_new(JOB_REPLY, ws, ac);
    if (!j || !(j->body = strdup(body))) {
        free(j);
        return;
    }
    text_copy(j->client_id, sizeof(j->client_id), cid);
    j->ticket_id = ticket;
    j->internal = json_is_true(internal);
    submit(j);
}

/* accept (take the ticket) or decline (pass an offer on to the next agent) */
static void handle_offer(struct ws_conn *ws, struct agent_conn *ac, json_t *msg, enum job_kind kind)
{
    int64_t ticket = ticket_arg(msg);
    if (!ticket) {
        ws_send_error(ws, "invalid", kind == JOB_ACCEPT ? "accept needs a ticket_id" : "decline needs a ticket_id", NULL);
        return;
    }
    struct job *j = job_new(kind, ws, ac);
    if (!j)
        return;
    j->ticket_id = ticket;
    submit(j);
}

static void handle_typing(struct ws_conn *ws, const struct agent_conn *ac, json_t *msg)
{
    int64_t ticket = ticket_arg(msg);
    if (!ticket) {
        ws_send_error(ws, "invalid", "typing needs a ticket_id", NULL);
        return;
    }
    if (typing_hook)
        typing_hook(&ac->me, ticket, json_is_true(json_object_get(msg, "typing")));
}

static void dispatch_frame(struct ws_conn *ws, struct agent_conn *ac, json_t *msg, const char *type)
{
    if (strcmp(type, "ping") == 0)
        ws_send_str(ws, "{\"type\":\"pong\"}");
    else if (strcmp(type, "presence") == 0)
        handle_presence(ws, ac, msg);
    else if (strcmp(type, "reply") == 0)
        handle_reply(ws, ac, msg);
    else if (strcmp(type, "accept") == 0)
        handle_offer(ws, ac, msg, JOB_ACCEPT);
    else if (strcmp(type, "decline") == 0)
        handle_offer(ws, ac, msg, JOB_DECLINE);
    else if (strcmp(type, "typing") == 0)
        handle_typing(ws, ac, msg);
    else if (strcmp(type, "auth") == 0)
        ws_send_error(ws, "already_authenticated", "this socket is already authenticated", NULL);
    else
        ws_send_error(ws, "unknown_type", "unknown frame type", NULL);
}

static void on_frame(struct ws_conn *ws, const char *data, size_t len)
{
    struct agent_conn *ac = ws_user(ws);
    json_t *msg = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!ac->authed) {
        if (ac->auth_pending)
            ws_send_error(ws, "auth_pending", "wait for auth_ok", NULL);
        else if (type && strcmp(type, "auth") == 0 && json_string_value(json_object_get(msg, "token")))
            start_auth(ws, ac, json_string_value(json_object_get(msg, "token")));
        else
            ws_close(ws, 4401, "unauthorized");
    } else if (!json_is_object(msg) || !type) {
        ws_send_error(ws, "invalid", "frames must be JSON objects with a type", NULL);
    } else if (!rate_take(&ac->rl, metrics_now_us())) {
        ws_send_error(ws, "rate_limited", "too many frames; slow down",
                   json_string_value(json_object_get(msg, "client_id")));
    } else {
        dispatch_frame(ws, ac, msg, type);
    }
    json_decref(msg);
}

static void on_timer(struct ws_conn *ws)
{
    struct agent_conn *ac = ws_user(ws);
    if (!ac->authed)
        ws_close(ws, 4401, "unauthorized");
}

/* The agent's last socket here is gone: stamp the heartbeat now, so the grace period
 * before "offline" counts from this moment. */
static void on_close(struct ws_conn *ws)
{
    struct agent_conn *ac = ws_user(ws);
    int others = 0;
    for (struct ws_conn *o = ws_first(&agent_socket_endpoint); ac && ac->authed && o && !others; o = ws_next(o)) {
        struct agent_conn *oc = ws_user(o);
        others = o != ws && oc && oc->authed && oc->me.id == ac->me.id;
    }
    if (ac && ac->authed && !others)
        heartbeat_now(ac->me.id);
    free(ac);
    ws_set_user(ws, NULL);
}

/* ---- fan-out ---- */

/* ticket_id: unassigned tickets are visible to the agents who may take them; other
 * events without an addressee are not. */
static int visible(const struct agent_info *me, int64_t ticket_id, int64_t agent_id, int64_t team_id);

bool agent_may_see(const struct agent_info *me, int64_t ticket_id, int64_t assignee_id, int64_t team_id)
{
    return visible(me, ticket_id, assignee_id, team_id);
}

static int visible(const struct agent_info *me, int64_t ticket_id, int64_t agent_id, int64_t team_id)
{
    switch (me->role_bit) {
    case ROLE_ADMIN:
        return 1;
    case ROLE_MANAGER:
        return !me->team_id || !team_id || team_id == me->team_id || agent_id == me->id;
    case ROLE_AGENT:
        return agent_id == me->id || (ticket_id && !agent_id && (!team_id || team_id == me->team_id));
    default:
        return agent_id == me->id;
    }
}

/* CRM records follow the data scope of scope.h, for the roles that work the CRM (service
 * agents and marketers read customers on demand; a push per change would be noise);
 * everything else the ticket rules. */
static int event_visible(const struct agent_info *me, const struct event *e)
{
    if (strcmp(e->kind, "reminder.due") == 0) /* personal, even for admins */
        return e->agent_id == me->id;
    if (strncmp(e->kind, "campaign.", 9) == 0) /* whoever may read campaigns */
        return (me->role_bit & (ROLE_ADMIN | ROLE_MANAGER | ROLE_MARKETER)) != 0;
    if (!e->ticket_id && event_is_crm(e->kind))
        return (me->role_bit & (ROLE_ADMIN | ROLE_MANAGER | ROLE_SALES)) &&
               scope_allows(me, e->agent_id, e->team_id, e->region);
    return visible(me, e->ticket_id, e->agent_id, e->team_id);
}

/* session.revoked: close the sockets of that session (or of every session of the agent). */
static void revoke(const struct event *e)
{
    json_t *o = json_loads(e->json, 0, NULL);
    const char *sid = json_string_value(json_object_get(o, "session"));
    int all = json_is_true(json_object_get(o, "all"));
    for (struct ws_conn *ws = ws_first(&agent_socket_endpoint); ws; ws = ws_next(ws)) {
        struct agent_conn *ac = ws_user(ws);
        if (ac && ac->authed && ac->me.id == e->agent_id && (all || (sid && strcmp(sid, ac->session) == 0))) {
            ac->authed = 0;
            ws_close(ws, 4401, "session ended");
        }
    }
    json_decref(o);
}

void agent_socket_deliver(const struct event_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->ev[i].kind, "session.revoked") == 0)
            revoke(&b->ev[i]);
    for (struct ws_conn *ws = ws_first(&agent_socket_endpoint); ws; ws = ws_next(ws)) {
        struct agent_conn *ac = ws_user(ws);
        if (!ac || !ac->authed)
            continue;
        int role = fperm_role_index(ac->me.role); /* fields hidden from the role: its own frame */
        for (size_t i = 0; i < b->n; i++) {
            const struct event *e = &b->ev[i];
            if (!e->json || strncmp(e->kind, "session.", 8) == 0 || !event_visible(&ac->me, e))
                continue;
            if (role >= 0 && e->json_role[role])
                ws_send_str(ws, e->json_role[role]);
            else
                ws_send(ws, e->json, e->json_len);
        }
    }
}

void agent_socket_customer_typing(int64_t ticket_id, int64_t assignee_id, int64_t team_id, bool typing)
{
    char frame[128];
    snprintf(frame, sizeof(frame), "{\"type\":\"typing\",\"ticket_id\":%lld,\"from\":\"customer\",\"typing\":%s}",
             (long long)ticket_id, typing ? "true" : "false");
    for (struct ws_conn *ws = ws_first(&agent_socket_endpoint); ws; ws = ws_next(ws)) {
        struct agent_conn *ac = ws_user(ws);
        if (ac && ac->authed && visible(&ac->me, ticket_id, assignee_id, team_id))
            ws_send_str(ws, frame);
    }
}

/* ---- presence heartbeats ---- */

struct heartbeat_job {
    size_t n;
    int64_t ids[];
};

static int heartbeat_tx(struct db *db, void *arg)
{
    struct heartbeat_job *h = arg;
    int rc = DB_OK;
    for (size_t i = 0; !rc && i < h->n; i++)
        rc = db_exec(db, "UPDATE agent_presence SET heartbeat_at = NOW(3) WHERE agent_id = ?", DBP(P_I(h->ids[i])), NULL);
    return rc;
}

static void on_heartbeat_run(struct db *db, void *arg)
{
    if (db_transaction(db, heartbeat_tx, arg))
        log_warn("presence", "event=heartbeat_failed");
}

static void on_heartbeat_done(void *arg)
{
    free(arg);
}

static void heartbeat_now(int64_t agent_id)
{
    struct heartbeat_job *h = malloc(sizeof(*h) + sizeof(int64_t));
    if (!h)
        return;
    h->n = 1;
    h->ids[0] = agent_id;
    if (dbpool_submit(on_heartbeat_run, on_heartbeat_done, h) < 0)
        free(h);
}

void agent_socket_tick(void)
{
    int64_t now = metrics_now_us();
    int64_t every = cfg->server.presence_grace_secs * 1000000 / 4;
    /* ticks are a second apart with jitter: a little slack keeps the cadence */
    if (now - last_heartbeat_us < (every < 1000000 ? 1000000 : every) - 200000)
        return;
    last_heartbeat_us = now;
    size_t n = 0, cap = 64;
    struct heartbeat_job *h = malloc(sizeof(*h) + cap * sizeof(int64_t));
    if (!h)
        return;
    for (struct ws_conn *ws = ws_first(&agent_socket_endpoint); ws; ws = ws_next(ws)) {
        struct agent_conn *ac = ws_user(ws);
        if (!ac || !ac->authed)
            continue;
        size_t k = 0;
        while (k < n && h->ids[k] != ac->me.id)
            k++;
        if (k < n)
            continue;
        if (n == cap) {
            struct heartbeat_job *bigger = realloc(h, sizeof(*h) + cap * 2 * sizeof(int64_t));
            if (!bigger)
                break;
            h = bigger;
            cap *= 2;
        }
        h->ids[n++] = ac->me.id;
    }
    h->n = n;
    if (!n || dbpool_submit(on_heartbeat_run, on_heartbeat_done, h) < 0)
        free(h);
}

const struct ws_endpoint agent_socket_endpoint = {
    .path = "/ws/agent",
    .max_frame = 0,
    .same_origin = true,
    .on_open = on_open,
    .on_frame = on_frame,
    .on_timer = on_timer,
    .on_close = on_close,
};

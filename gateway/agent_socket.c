/* agent_socket.c — see agent_socket.h. */
#include "gateway/agent_socket.h"
#include "gateway/api.h"
#include "gateway/auth.h"
#include "gateway/dbpool.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include <stdlib.h>
#include <string.h>

#define AUTH_DEADLINE_US (5 * 1000000LL)

struct agent_conn {
    int authed;
    int auth_pending;
    struct agent_info me;
};

struct auth_job {
    struct ws_conn *ws;
    char token[160];
    int rc;
    struct agent_info me;
    json_t *agent;
};

struct presence_job {
    struct ws_conn *ws;
    int64_t agent_id, team_id;
    char status[16];
    int rc;
};

static void send_error(struct ws_conn *ws, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    char *s = json_dumps(o, JSON_COMPACT);
    if (s)
        ws_send_str(ws, s);
    free(s);
    json_decref(o);
}

static void on_auth_run(struct db *db, void *arg)
{
    struct auth_job *j = arg;
    j->rc = auth_token_agent(db, j->token, &j->me);
    if (j->rc == 1)
        j->agent = json_pack("{s:I, s:s, s:s, s:s, s:I}", "id", (json_int_t)j->me.id, "name", j->me.name, "email",
                             j->me.email, "role", j->me.role, "team_id", (json_int_t)j->me.team_id);
}

static void on_auth_done(void *arg)
{
    struct auth_job *j = arg;
    struct agent_conn *ac = ws_alive(j->ws) ? ws_user(j->ws) : NULL;
    if (ac) {
        ac->auth_pending = 0;
        if (j->rc == 1) {
            ac->authed = 1;
            ac->me = j->me;
            ws_set_timer(j->ws, -1);
            json_t *o = json_pack("{s:s, s:O}", "type", "auth_ok", "agent", j->agent);
            char *s = json_dumps(o, JSON_COMPACT);
            ws_send_str(j->ws, s);
            free(s);
            json_decref(o);
        } else if (j->rc < 0) {
            send_error(j->ws, "unavailable", "database unavailable; reconnect shortly");
            ws_close(j->ws, 1013, "try again later");
        } else {
            ws_close(j->ws, 4401, "unauthorized");
        }
    }
    json_decref(j->agent);
    ws_unref(j->ws);
    free(j);
}

static void start_auth(struct ws_conn *ws, struct agent_conn *ac, const char *token)
{
    struct auth_job *j = calloc(1, sizeof(*j));
    if (!j || text_copy(j->token, sizeof(j->token), token) < 0) {
        free(j);
        ws_close(ws, 4401, "unauthorized");
        return;
    }
    j->ws = ws;
    ws_ref(ws);
    ac->auth_pending = 1;
    if (dbpool_submit(on_auth_run, on_auth_done, j) < 0) {
        ws_unref(ws);
        free(j);
        ws_close(ws, 1001, "going away");
    }
}

static int on_open(struct ws_conn *ws)
{
    struct agent_conn *ac = calloc(1, sizeof(*ac));
    if (!ac)
        return -1;
    ws_set_user(ws, ac);
    ws_set_timer(ws, AUTH_DEADLINE_US);
    if (ws_cookie_token(ws)[0])
        start_auth(ws, ac, ws_cookie_token(ws));
    return 0;
}

static void on_presence_run(struct db *db, void *arg)
{
    struct presence_job *j = arg;
    for (int attempt = 0; attempt < 3; attempt++) {
        j->rc = db_begin(db);
        if (!j->rc)
            j->rc = db_exec(db, "INSERT INTO agent_presence (agent_id, status, heartbeat_at, changed_at) "
                                "VALUES (?, ?, NOW(3), NOW(3)) ON DUPLICATE KEY UPDATE "
                                "changed_at = IF(status = VALUES(status), changed_at, NOW(3)), "
                                "status = VALUES(status), heartbeat_at = NOW(3)",
                            DBP(P_I(j->agent_id), P_S(j->status)), NULL);
        if (!j->rc)
            j->rc = event_insert(db, "agent.presence", 0, 0, j->agent_id, j->team_id,
                                 json_pack("{s:I, s:s}", "agent_id", (json_int_t)j->agent_id, "status", j->status));
        if (!j->rc)
            j->rc = db_commit(db);
        else
            db_rollback(db);
        if (j->rc != DB_ERETRY)
            break;
    }
    if (!j->rc)
        event_tailer_wake();
}

static void on_presence_done(void *arg)
{
    struct presence_job *j = arg;
    if (ws_alive(j->ws)) {
        if (j->rc)
            send_error(j->ws, "unavailable", "presence not saved; database unavailable");
        else {
            char s[96];
            snprintf(s, sizeof(s), "{\"type\":\"presence_ok\",\"status\":\"%s\"}", j->status);
            ws_send_str(j->ws, s);
        }
    }
    ws_unref(j->ws);
    free(j);
}

static void handle_presence(struct ws_conn *ws, struct agent_conn *ac, json_t *msg)
{
    const char *st = json_string_value(json_object_get(msg, "status"));
    if (!st || (strcmp(st, "online") && strcmp(st, "away") && strcmp(st, "offline"))) {
        send_error(ws, "invalid", "status must be online, away or offline");
        return;
    }
    struct presence_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->ws = ws;
    j->agent_id = ac->me.id;
    j->team_id = ac->me.team_id;
    text_copy(j->status, sizeof(j->status), st);
    ws_ref(ws);
    if (dbpool_submit(on_presence_run, on_presence_done, j) < 0) {
        ws_unref(ws);
        free(j);
    }
}

static void on_frame(struct ws_conn *ws, const char *data, size_t len)
{
    struct agent_conn *ac = ws_user(ws);
    json_t *msg = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!ac->authed) {
        if (ac->auth_pending) {
            send_error(ws, "auth_pending", "wait for auth_ok");
        } else if (type && strcmp(type, "auth") == 0 && json_string_value(json_object_get(msg, "token"))) {
            start_auth(ws, ac, json_string_value(json_object_get(msg, "token")));
        } else {
            ws_close(ws, 4401, "unauthorized");
        }
    } else if (!msg || !type) {
        send_error(ws, "malformed", "frames must be JSON objects with a type");
    } else if (strcmp(type, "ping") == 0) {
        ws_send_str(ws, "{\"type\":\"pong\"}");
    } else if (strcmp(type, "presence") == 0) {
        handle_presence(ws, ac, msg);
    } else if (strcmp(type, "auth") == 0) {
        send_error(ws, "already_authenticated", "this socket is already authenticated");
    } else {
        send_error(ws, "unknown_type", "unknown frame type");
    }
    json_decref(msg);
}

static void on_timer(struct ws_conn *ws)
{
    struct agent_conn *ac = ws_user(ws);
    if (!ac->authed)
        ws_close(ws, 4401, "unauthorized");
}

static void on_close(struct ws_conn *ws)
{
    free(ws_user(ws));
    ws_set_user(ws, NULL);
}

static int visible(const struct agent_conn *ac, const struct event *e)
{
    const struct agent_info *me = &ac->me;
    switch (me->role_bit) {
    case ROLE_ADMIN:
        return 1;
    case ROLE_MANAGER:
        return !me->team_id || !e->team_id || e->team_id == me->team_id || e->agent_id == me->id;
    case ROLE_AGENT:
        return e->agent_id == me->id || (!e->agent_id && e->team_id && e->team_id == me->team_id);
    default:
        return e->agent_id == me->id;
    }
}

void agent_socket_deliver(struct event_batch *b)
{
    for (struct ws_conn *ws = ws_first(&agent_socket_endpoint); ws; ws = ws_next(ws)) {
        struct agent_conn *ac = ws_user(ws);
        if (!ac || !ac->authed)
            continue;
        for (size_t i = 0; i < b->n; i++)
            if (b->ev[i].json && visible(ac, &b->ev[i]))
                ws_send(ws, b->ev[i].json, b->ev[i].json_len);
    }
    event_batch_free(b);
}

const struct ws_endpoint agent_socket_endpoint = {
    .path = "/ws/agent",
    .max_frame = 0,
    .on_open = on_open,
    .on_frame = on_frame,
    .on_timer = on_timer,
    .on_close = on_close,
};

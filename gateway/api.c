/* api.c — see api.h. */
#include "gateway/api.h"
#include "gateway/field_perms.h"
#include "gateway/rules.h"
#include "gateway/auth.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/metrics.h"
#include <stdlib.h>
#include <string.h>

#define TX_ATTEMPTS 4

void api_req_free(struct api_req *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nargs; i++) {
        free(r->args[i].name);
        free(r->args[i].value);
    }
    buf_free(&r->body);
    buf_free(&r->resp);
    if (r->spool)
        fclose(r->spool);
    free(r);
}

const char *api_arg(const struct api_req *r, const char *name)
{
    for (size_t i = 0; i < r->nargs; i++)
        if (strcmp(r->args[i].name, name) == 0)
            return r->args[i].value;
    return NULL;
}

static void set_json(struct api_req *r, int status, json_t *body)
{
    buf_reset(&r->resp);
    r->status = status;
    r->resp_type = "application/json; charset=utf-8";
    if (!body)
        return;
    /* 15 significant digits: a DECIMAL rounded to 4 places reads 0.6667, not the double's
     * 0.66669999999999996 (15 is what a double holds exactly in decimal) */
    char *s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (s) {
        buf_puts(&r->resp, s);
        free(s);
    }
    json_decref(body);
}

void api_req_error(struct api_req *r, int status, const char *code, const char *message)
{
    set_json(r, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

int api_json(struct api_ctx *c, int status, json_t *body)
{
    if (body && status < 300)
        fperm_redact(body); /* hidden fields never leave (field_perms.h) */
    set_json(c->req, status, body);
    return 0;
}

int api_fields_writable(struct api_ctx *c, const char *object)
{
    char field[96];
    if (!fperm_write_denied(object, c->body, field, sizeof(field)))
        return 0;
    char msg[200];
    snprintf(msg, sizeof(msg), "you may not change the %s field %s", object, field);
    api_json(c, 403, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "forbidden_field", "message", msg, "field", field));
    return 1;
}

int api_error(struct api_ctx *c, int status, const char *code, const char *message)
{
    api_req_error(c->req, status, code, message);
    return 0;
}

int api_invalid(struct api_ctx *c, json_t *fields)
{
    set_json(c->req, 422, json_pack("{s:{s:s, s:s, s:o}}", "error", "code", "validation_failed", "message",
                                    "some fields are invalid", "fields", fields));
    return 0;
}

int api_reject(struct api_ctx *c, struct jf *f)
{
    json_t *e = f->errors;
    f->errors = NULL;
    return api_invalid(c, e);
}

int api_checked(struct api_ctx *c, struct jf *f, int *rc)
{
    if (*rc) {
        jf_free(f);
        return 0;
    }
    if (!jf_ok(f)) {
        *rc = api_reject(c, f);
        return 0;
    }
    jf_free(f);
    return 1;
}

int api_rows(struct api_ctx *c, const char *sql, const struct db_param *p, size_t np)
{
    struct db_result r;
    int rc = db_exec(c->db, sql, p, np, &r);
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    size_t n = r.nrows;
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)n));
}

int api_not_found(struct api_ctx *c)
{
    return api_error(c, 404, "not_found", "no such resource");
}

int api_body_object(struct api_ctx *c)
{
    struct api_req *r = c->req;
    if (r->content_type[0] && strncasecmp(r->content_type, "application/json", 16) != 0) {
        api_error(c, 415, "unsupported_media_type", "send the body as application/json");
        return -1;
    }
    json_error_t err;
    json_t *j = r->body.len ? json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &err) : NULL;
    if (!j || !json_is_object(j)) {
        char msg[220];
        if (j)
            snprintf(msg, sizeof(msg), "the body must be a JSON object");
        else if (!r->body.len)
            snprintf(msg, sizeof(msg), "a JSON body is required");
        else
            snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %s", err.line, err.column, err.text);
        json_decref(j);
        api_error(c, 400, "malformed_json", msg);
        return -1;
    }
    json_decref(c->body);
    c->body = j;
    return 0;
}

int api_arg_id(struct api_ctx *c, const char *name, int64_t *out)
{
    const char *v = api_arg(c->req, name);
    *out = 0;
    if (!v || !*v)
        return 0;
    if (text_parse_i64(v, out) < 0 || *out <= 0) {
        char msg[120];
        snprintf(msg, sizeof(msg), "query parameter %s must be a positive integer", name);
        api_error(c, 400, "bad_request", msg);
        return -1;
    }
    return 0;
}

int api_paging(struct api_ctx *c, int64_t *limit, int64_t *offset)
{
    int64_t page = 1, per = 50;
    const char *p = api_arg(c->req, "page"), *pp = api_arg(c->req, "per_page");
    if ((p && (text_parse_i64(p, &page) < 0 || page < 1 || page > 1000000)) ||
        (pp && (text_parse_i64(pp, &per) < 0 || per < 1 || per > 200))) {
        api_error(c, 400, "bad_request", "page must be ≥ 1 and per_page 1..200");
        return -1;
    }
    *limit = per;
    *offset = (page - 1) * per;
    return 0;
}

int api_audit(struct api_ctx *c, const char *action, const char *object_type, int64_t object_id,
              json_t *before, json_t *after)
{
    char *b = before ? json_dumps(before, JSON_COMPACT) : NULL;
    char *a = after ? json_dumps(after, JSON_COMPACT) : NULL;
    char rid[24];
    snprintf(rid, sizeof(rid), "%llu", (unsigned long long)c->req->id);
    int rc = db_exec(c->db, "INSERT INTO audit_log (actor_id, actor_type, action, object_type, object_id, "
                            "before_json, after_json, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     DBP(P_IOPT(c->me.id), P_S(c->me.api_key ? "api" : "agent"), P_S(action), P_S(object_type), P_IOPT(object_id), P_S(b), P_S(a),
                         P_S(rid)), NULL);
    free(b);
    free(a);
    return rc;
}

int api_written(struct api_ctx *c, const char *select_sql, const char *type, int64_t id, json_t *before, int status)
{
    json_t *after = NULL;
    int rc = db_row_json_of(c->db, select_sql, DBP(P_I(id)), &after);
    if (rc || !after)
        return rc ? rc : api_not_found(c);
    char action[80];
    snprintf(action, sizeof(action), "%s.%s", type, before ? "updated" : "created");
    rc = api_audit(c, action, type, id, before, after);
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, status, after);
}

int api_paged(struct api_ctx *c, const char *count_sql, const char *list_sql, const struct db_param *p, size_t np)
{
    int64_t limit, offset, total = 0;
    struct db_param all[API_PAGED_MAX_PARAMS + 2];
    if (np > API_PAGED_MAX_PARAMS)
        return DB_EOTHER;
    if (api_paging(c, &limit, &offset) < 0)
        return 0;
    int rc = db_scalar_i64(c->db, count_sql, p, np, 0, &total);
    if (rc)
        return rc;
    if (np)
        memcpy(all, p, np * sizeof(*p));
    all[np] = P_I(limit);
    all[np + 1] = P_I(offset);
    struct db_result r;
    if ((rc = db_exec(c->db, list_sql, all, np + 2, &r)))
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

int api_delete_audited(struct api_ctx *c, const char *select_sql, const char *delete_sql, const char *type)
{
    int64_t id = c->req->params.id[0];
    json_t *before = NULL;
    int rc = db_row_json_of(c->db, select_sql, DBP(P_I(id)), &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    char action[80];
    snprintf(action, sizeof(action), "%s.deleted", type);
    rc = db_exec(c->db, delete_sql, DBP(P_I(id)), NULL);
    if (!rc)
        rc = api_audit(c, action, type, id, before, NULL);
    json_decref(before);
    return rc ? rc : api_json(c, 204, NULL);
}

int api_duplicate(struct api_ctx *c, const char *field, const char *message)
{
    return api_json(c, 409, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "duplicate", "message", message, "field",
                                      field));
}

int api_event(struct api_ctx *c, const char *kind, int64_t ticket_id, int64_t customer_id, int64_t agent_id,
              int64_t team_id, json_t *payload)
{
    return event_insert(c->db, kind, ticket_id, customer_id, agent_id, team_id, payload);
}

void api_cacheable_ticket(struct api_ctx *c, int64_t ticket_id, int64_t team_id, int64_t assignee_id,
                          int64_t offer_agent_id)
{
    c->req->view_ticket_id = ticket_id;
    c->req->view_team_id = team_id;
    c->req->view_assignee_id = assignee_id;
    c->req->view_offer_agent_id = offer_agent_id;
}

void api_defer(struct api_ctx *c)
{
    c->req->deferred = 1;
}

void api_deferred_done(struct api_req *req)
{
    if (loop_post(req->finish, req->finish_arg) < 0) /* the loop is gone: nobody waits for the answer */
        log_warn("api", "event=deferred_answer_dropped req=%llu", (unsigned long long)req->id);
}

/* One attempt: transaction around the handler, commit only a success. */
static int run_once(struct api_ctx *c)
{
    int tx = !(c->route->flags & ROUTE_NO_TX);
    int rc = tx ? db_begin_lazy(c->db) : DB_OK;
    if (rc)
        return rc;
    int64_t was = rules_set_actor(c->me.id); /* rules the request sets off act on its behalf */
    fperm_request_begin(c->db, c->authed ? c->me.role : NULL);
    rc = c->route->handler(c);
    fperm_request_end();
    rules_set_actor(was);
    c->wrote = !tx || !db_tx_idle(c->db); /* without a transaction of ours, assume it wrote */
    if (!tx)
        return rc;
    if (rc == DB_OK && c->req->status > 0 && c->req->status < 400)
        return db_commit(c->db);
    db_rollback(c->db); /* a lost connection rolls back by itself */
    return rc;
}

static void answer_db_failure(struct api_ctx *c, int rc)
{
    if (rc == DB_EGONE) {
        metrics_db_unavailable();
        text_copy(c->req->retry_after, sizeof(c->req->retry_after), "1");
        api_error(c, 503, "database_unavailable", "the database is unreachable; retry shortly");
    } else if (rc == DB_ERETRY) {
        api_error(c, 503, "busy", "the request conflicted with others too often; retry");
    } else if (rc == DB_EDUP) {
        api_error(c, 409, "conflict", "a record with the same unique value exists");
    } else if (rc == DB_EINUSE) {
        api_error(c, 409, "in_use", "other records still use this one (a campaign, a sequence step…); remove them first");
    } else {
        api_error(c, 500, "internal", "internal error; see the server log for this request id");
    }
}

void api_dispatch(struct db *db, struct api_req *req)
{
    struct api_ctx c = {.db = db, .req = req, .route = &api_routes[req->route_idx]};
    int rc = DB_OK;
    if (!(c.route->flags & ROUTE_PUBLIC)) {
        rc = auth_authenticate(&c);
        if (rc == DB_EGONE) /* a stale connection after a database restart: reconnect once */
            rc = auth_authenticate(&c);
        if (rc < 0) {
            answer_db_failure(&c, rc);
            goto out;
        }
        if (!c.authed && req->retry_after[0]) {
            api_error(&c, 429, "rate_limited", "this API key made too many requests; see Retry-After");
            goto out;
        }
        if (!c.authed) {
            api_error(&c, 401, "unauthorized", "log in first (Authorization: Bearer TOKEN)");
            goto out;
        }
        if (!(c.route->roles & c.me.role_bit)) {
            api_error(&c, 403, "forbidden", "your role may not do this");
            goto out;
        }
        req->me = c.me;
        req->session_authed = !c.me.api_key;
    }
    for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
        req->status = 0;
        buf_reset(&req->resp);
        req->set_cookie[0] = '\0';
        req->view_ticket_id = 0;
        rc = run_once(&c);
        if (rc != DB_ERETRY && !(rc == DB_EGONE && attempt == 0 && !req->status))
            break;
        log_warn("api", "event=retry req=%llu attempt=%d rc=%d", (unsigned long long)req->id, attempt + 1, rc);
    }
    if (req->deferred && !rc) /* the handler answers later (api_deferred_done) */
        goto out;
    if (req->deferred) /* it failed before it handed the work on: answer now */
        req->deferred = 0;
    if (rc)
        answer_db_failure(&c, rc);
    else if (!req->status)
        api_error(&c, 500, "internal", "handler produced no response");
    else if (req->status < 400 && c.wrote) /* a read leaves no event to push: don't wake the tailer */
        event_tailer_wake();
out:
    req->wrote = c.wrote;
    json_decref(c.body);
}

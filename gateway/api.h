/* api.h — a REST request on its way through the gateway, and the helpers handlers use.
 *
 * Life of a request: the net thread (server.c) parses it into struct api_req and hands it
 * to a db-pool thread; api_dispatch() authenticates, checks the route's roles, runs the
 * handler inside one transaction (retrying the whole handler on deadlock/lock-wait),
 * commits only when the answer is 2xx/3xx and rolls back otherwise — so a 4xx never
 * leaves a write behind; then the net thread writes the response.
 *
 * Owns: nothing global. Thread: api_dispatch and every handler run on db-pool threads.
 * Errors: handlers return 0 with the response set through api_json/api_error, or a
 * negative db_rc: DB_EGONE ⇒ 503, DB_ERETRY ⇒ rerun, anything else ⇒ 500.
 */
#ifndef SB_API_H
#define SB_API_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "gateway/db.h"
#include "gateway/http_route.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/json_field.h"

#define API_MAX_ARGS 32

struct api_arg {
    char *name;
    char *value;
};

struct agent_info {
    int64_t id;
    char role[16];
    unsigned role_bit;
    int64_t team_id;
    char name[201];
    char email[255];
    char region[101];  /* for the region data scope */
    int scope;         /* enum scope_level (scope.h): the CRM records this agent sees */
    bool api_key;      /* authenticated by an API key (api_keys.h): audited as actor_type 'api' */
};

struct api_req {
    uint64_t id;
    enum http_method method;
    char path[1024];
    struct api_arg args[API_MAX_ARGS];
    size_t nargs;
    char bearer[160];       /* Authorization: Bearer ... */
    char cookie_token[160]; /* sb_session cookie */
    char content_type[128];
    char signature[160];    /* the webhook signature header (api_sms_signature_header) */
    char ip[64];
    struct buf body;
    int64_t t_start_us;
    int64_t t_queued_us;
    int route_idx;
    struct route_params params;
    /* response */
    int status;
    const char *resp_type;
    struct buf resp;
    char set_cookie[320];
    char retry_after[16];
    char location[1400];    /* a redirect's target (3xx) */
    char disposition[600];  /* Content-Disposition of a download (then sandboxed by CSP) */
    FILE *spool;            /* when set, the body is this (unlinked) file, resp_len bytes, streamed
                               by the net thread in chunks instead of resp (large exports) */
    size_t spool_len;
    /* a deferred answer (api_defer): set by the server before dispatch */
    int deferred;
    void (*finish)(void *arg);
    void *finish_arg;
    /* for the read cache (read_cache.h), set by api_dispatch */
    struct agent_info me;   /* who asked, when session_authed */
    bool session_authed;    /* by a console session (not an API key) */
    bool wrote;             /* the handler's transaction wrote (or it ran without one) */
    /* a ticket view any viewer in its scope may be given as it is (api_cacheable_ticket) */
    int64_t view_ticket_id, view_team_id, view_assignee_id, view_offer_agent_id;
};


struct api_ctx {
    struct db *db;
    struct api_req *req;
    const struct route *route;
    struct agent_info me;
    bool authed;
    json_t *body;          /* parsed JSON body (object) once api_body_object() succeeded */
    bool wrote;            /* the handler's transaction sent a write (or it ran without one) */
};

void api_req_free(struct api_req *r);
const char *api_arg(const struct api_req *r, const char *name);

/* Runs on a db-pool thread. */
void api_dispatch(struct db *db, struct api_req *req);

/* Response helpers: api_json takes ownership of body (may be NULL for no content). */
int api_json(struct api_ctx *c, int status, json_t *body);
int api_error(struct api_ctx *c, int status, const char *code, const char *message);
/* 422 validation_failed with {"fields":{...}}; takes ownership of fields. */
int api_invalid(struct api_ctx *c, json_t *fields);
int api_not_found(struct api_ctx *c);
/* Answers 200 {"items":[every row of the query],"total":N} (short, unpaged lists). */
int api_rows(struct api_ctx *c, const char *sql, const struct db_param *p, size_t np);
#define API_PAGED_MAX_PARAMS 62
/* Answers one page, 200 {"items":[…],"total":N}: count_sql counts what list_sql lists,
 * both over p[0..np) (at most API_PAGED_MAX_PARAMS); list_sql ends in "LIMIT ? OFFSET ?", bound from
 * ?page=&per_page= (a bad value answers 400). */
int api_paged(struct api_ctx *c, const char *count_sql, const char *list_sql, const struct db_param *p, size_t np);
/* 422 with the errors collected in f; frees f. */
int api_reject(struct api_ctx *c, struct jf *f);
/* Ends a validation step and frees f. Returns 1 when the handler may go on; 0 when it
 * must return *rc: a database error (negative), or 0 after answering 422 with f's errors. */
int api_checked(struct api_ctx *c, struct jf *f, int *rc);
/* Fills an error JSON into req directly (net thread answers without a handler). */
void api_req_error(struct api_req *r, int status, const char *code, const char *message);
/* A handler that answers later frees its pool thread: it calls api_defer(c) and returns 0
 * (no transaction of its own: ROUTE_NO_TX); later, on any thread, it fills c->req's answer
 * (api_req_error, or status/resp) and calls api_deferred_done(req) exactly once. The SMS
 * webhook answers so after the ingest writer's COMMIT. */
void api_defer(struct api_ctx *c);
/* The answer (200) is the whole view of this ticket, the same for every viewer whose scope
 * holds it (team, assignee, offered agent; 0 for NULL): the net thread may keep it
 * (read_cache.h). */
void api_cacheable_ticket(struct api_ctx *c, int64_t ticket_id, int64_t team_id, int64_t assignee_id,
                          int64_t offer_agent_id);
void api_deferred_done(struct api_req *req);

/* Field-level permissions (field_perms.h): when the body writes a field of object
 * ("customer", "deal") that the caller's role may only read or not see, answers 403
 * {"error":{"code":"forbidden_field","field":…}} and returns 1; else 0. */
int api_fields_writable(struct api_ctx *c, const char *object);
/* Parses the body as a JSON object; on failure answers 400/415 and returns -1. */
int api_body_object(struct api_ctx *c);
/* ?page=&per_page= (defaults 1 and 50, per_page max 200); invalid values ⇒ 400, -1. */
int api_paging(struct api_ctx *c, int64_t *limit, int64_t *offset);
/* ?name= as an id (>0); absent ⇒ 0; invalid ⇒ 400 and -1. */
int api_arg_id(struct api_ctx *c, const char *name, int64_t *out);

/* Audit a change inside the current transaction (DESIGN.md section 10). before/after
 * may be NULL; they are not consumed. */
int api_audit(struct api_ctx *c, const char *action, const char *object_type, int64_t object_id,
              json_t *before, json_t *after);
/* After a write to a configuration object (a custom field, tag rule, segment, template):
 * loads it with select_sql (whose one parameter is the id), audits TYPE.created or
 * TYPE.updated (before NULL = created) and answers status with it. */
int api_written(struct api_ctx *c, const char *select_sql, const char *type, int64_t id, json_t *before, int status);
/* DELETE of such an object: locks and loads it (select_sql … FOR UPDATE), runs delete_sql
 * (its one parameter is the id), audits TYPE.deleted, answers 204; 404 when missing. */
int api_delete_audited(struct api_ctx *c, const char *select_sql, const char *delete_sql, const char *type);
/* 409 {"error":{"code":"duplicate","message":…,"field":…}}. */
int api_duplicate(struct api_ctx *c, const char *field, const char *message);
/* Event row inside the current transaction; payload is consumed. Wakes the local tailer
 * after commit. */
int api_event(struct api_ctx *c, const char *kind, int64_t ticket_id, int64_t customer_id,
              int64_t agent_id, int64_t team_id, json_t *payload);

/* The route table (api_routes.c). */
extern const struct route api_routes[];
extern const size_t api_n_routes;

#endif

/* api_deals.c — the sales pipeline: stages (/api/v1/pipeline-stages) and deals
 * (/api/v1/deals).
 *
 * A deal belongs to a customer, sits in one stage and has an owner; its data scope is
 * the owner's (region: the customer's region), exactly like customers (scope.h), and a
 * deal outside it answers 404. Moving a deal to another stage, in one transaction:
 * records deal_stage_history with the seconds spent in the stage it left; sets status
 * from the stage's kind (won/lost close it; lost needs a win_loss_reason); audits; emits
 * deal.stage_changed, on which the seed rules (rules.h) move the customer's lifecycle
 * forward to the stage's customer_stage and tell the owner's team manager about a stage
 * marked notify_manager ("mature") — in the same transaction.
 */
#include "gateway/api_handlers.h"
#include "gateway/customers.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/text.h"
#include "gateway/scope.h"
#include <stdio.h>
#include <string.h>

#define DEAL_SELECT \
    "SELECT d.id, d.customer_id, cu.name AS customer_name, d.title, d.stage_id, s.name AS stage, s.kind AS stage_kind, " \
    "d.status, d.amount, d.currency, d.expected_close, COALESCE(d.probability, s.probability) AS probability, " \
    "d.probability IS NOT NULL AS probability_set__bool, d.owner_id, ag.name AS owner_name, d.win_loss_reason, " \
    "d.competitor, d.payment_due, d.lead_id, d.stage_entered_at, d.closed_at, d.created_at, d.updated_at, " \
    "cu.region AS region " \
    "FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id JOIN customers cu ON cu.id = d.customer_id " \
    "LEFT JOIN agents ag ON ag.id = d.owner_id "
#define DEAL_SCOPE SCOPE_WHERE("d.owner_id", "cu.region")


int deal_load(struct db *db, const struct agent_info *me, int64_t id, json_t **out)
{
    struct agent_info all = {.scope = SCOPE_ALL};
    return db_row_json_of(db, DEAL_SELECT "WHERE d.id = ?" DEAL_SCOPE, DBP(P_I(id), SCOPE_PARAMS(me ? me : &all)), out);
}

static int64_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* A key present in the body, even as null: PATCH {"payment_due": null} clears it. */
static int given(const struct api_ctx *c, const char *key)
{
    return json_object_get(c->body, key) != NULL;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- pipeline stages ---- */

int pipeline_stages_list(struct api_ctx *c)
{
    return api_rows(c, "SELECT id, name, position, probability, kind, notify_manager AS notify_manager__bool, "
                       "customer_stage, active AS active__bool FROM pipeline_stages ORDER BY active DESC, position, id",
                    DBP0);
}

static void check_stage(struct jf *f, json_t *st, size_t i, int *open, int *won, int *lost)
{
    static const char *const kinds[] = {"open", "won", "lost", NULL};
    static const char *const cstages[] = {"potential", "contacted", "proposal", "won", "maintain", "renewal", "churned", NULL};
    static const char *const allowed[] = {"id", "name", "position", "probability", "kind", "notify_manager",
                                          "customer_stage", "active", NULL};
    struct jf g;
    jf_init(&g, st);
    jf_only(&g, allowed);
    jf_str(&g, "name", 64, true);
    bool has;
    jf_int(&g, "probability", 0, 100, false, &has);
    jf_int(&g, "position", -1000000, 1000000, false, &has);
    jf_int(&g, "id", 1, INT64_MAX, false, &has);
    const char *kind = jf_enum(&g, "kind", kinds, false);
    jf_enum(&g, "customer_stage", cstages, false);
    if (jf_bool(&g, "active", true)) {
        *open += !kind || strcmp(kind, "open") == 0;
        *won += kind && strcmp(kind, "won") == 0;
        *lost += kind && strcmp(kind, "lost") == 0;
    }
    jf_bool(&g, "notify_manager", false);
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "stages[%zu]", i);
    jf_absorb(f, &g, prefix);
}

static int put_stage(struct db *db, json_t *st, size_t i)
{
    json_t *cs = json_object_get(st, "customer_stage");
    json_t *prob = json_object_get(st, "probability"), *pos = json_object_get(st, "position");
    const char *kind = jstr(st, "kind") ? jstr(st, "kind") : "open";
    int64_t id = jint(st, "id");
    int nm = json_is_true(json_object_get(st, "notify_manager"));
    int active = !json_is_false(json_object_get(st, "active"));
    int64_t position = pos && json_is_integer(pos) ? json_integer_value(pos) : (int64_t)(i + 1) * 10;
    int64_t p = prob && json_is_integer(prob) ? json_integer_value(prob) : 0;
    if (id) {
        int64_t known = 0;
        int rc = db_scalar_i64(db, "SELECT COUNT(*) FROM pipeline_stages WHERE id = ?", DBP(P_I(id)), 0, &known);
        if (rc || !known)
            return rc ? rc : 1; /* 1: no such stage */
        return db_exec(db, "UPDATE pipeline_stages SET name = ?, position = ?, probability = ?, kind = ?, "
                           "notify_manager = ?, customer_stage = ?, active = ? WHERE id = ?",
                       DBP(P_S(jstr(st, "name")), P_I(position), P_I(p), P_S(kind), P_I(nm), P_S(json_string_value(cs)),
                           P_I(active), P_I(id)), NULL);
    }
    return db_exec(db, "INSERT INTO pipeline_stages (name, position, probability, kind, notify_manager, customer_stage, "
                       "active) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   DBP(P_S(jstr(st, "name")), P_I(position), P_I(p), P_S(kind), P_I(nm), P_S(json_string_value(cs)),
                       P_I(active)), NULL);
}

/* PUT {"stages":[…]}: the whole pipeline. Stages left out are deactivated (deals keep
 * pointing at them); at least one open, one won and one lost stage must stay active. */
int pipeline_stages_put(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"stages", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    json_t *stages = json_object_get(c->body, "stages");
    int open = 0, won = 0, lost = 0, rc = DB_OK;
    size_t i;
    json_t *st;
    if (!json_is_array(stages) || json_array_size(stages) > 30)
        jf_fail(&f, "stages", "must be an array of at most 30 stages");
    else
        json_array_foreach(stages, i, st) {
            if (!json_is_object(st))
                jf_fail(&f, "stages", "each stage must be an object");
            else
                check_stage(&f, st, i, &open, &won, &lost);
        }
    json_array_foreach(stages, i, st) {
        for (size_t k = 0; jf_ok(&f) && k < i; k++)
            if (jstr(st, "name") && jstr(json_array_get(stages, k), "name") &&
                strcmp(jstr(st, "name"), jstr(json_array_get(stages, k), "name")) == 0)
                jf_fail(&f, "stages", "stage names must be unique");
    }
    if (jf_ok(&f) && (!open || !won || !lost))
        jf_fail(&f, "stages", "the pipeline needs at least one active open, one won and one lost stage");
    if (!api_checked(c, &f, &rc))
        return rc;
    rc = db_exec(c->db, "UPDATE pipeline_stages SET active = 0", DBP0, NULL);
    json_array_foreach(stages, i, st) {
        if (!rc)
            rc = put_stage(c->db, st, i);
        if (rc == 1) {
            char fk[48];
            snprintf(fk, sizeof(fk), "stages[%zu].id", i);
            return api_invalid(c, json_pack("{s:s}", fk, "no such stage"));
        }
    }
    if (!rc)
        rc = api_audit(c, "pipeline.updated", "pipeline", 0, NULL, stages);
    return rc ? rc : pipeline_stages_list(c);
}

/* ---- deals ---- */

int deals_list(struct api_ctx *c)
{
    int64_t limit, offset, stage = 0, owner = 0, customer = 0, total = 0;
    if (api_paging(c, &limit, &offset) < 0 || api_arg_id(c, "stage_id", &stage) < 0 ||
        api_arg_id(c, "owner_id", &owner) < 0 || api_arg_id(c, "customer_id", &customer) < 0)
        return 0;
    const char *status = api_arg(c->req, "status");
    if (status && !*status)
        status = NULL;
    if (status && strcmp(status, "open") && strcmp(status, "won") && strcmp(status, "lost"))
        return api_error(c, 400, "bad_request", "status must be open, won or lost");
#define DEAL_FILTER " AND (? = 0 OR d.stage_id = ?) AND (? = 0 OR d.owner_id = ?) AND (? = 0 OR d.customer_id = ?) " \
                    " AND (? IS NULL OR d.status = ?) AND cu.merged_into IS NULL "
#define FILTER_P P_I(stage), P_I(stage), P_I(owner), P_I(owner), P_I(customer), P_I(customer), P_S(status), P_S(status)
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM deals d JOIN customers cu ON cu.id = d.customer_id WHERE 1 = 1"
                                  DEAL_SCOPE DEAL_FILTER, DBP(SCOPE_PARAMS(&c->me), FILTER_P), 0, &total);
    struct db_result r;
    if (!rc)
        rc = db_exec(c->db, DEAL_SELECT "WHERE 1 = 1" DEAL_SCOPE DEAL_FILTER "ORDER BY s.position, d.updated_at DESC, d.id DESC "
                            "LIMIT ? OFFSET ?", DBP(SCOPE_PARAMS(&c->me), FILTER_P, P_I(limit), P_I(offset)), &r);
#undef FILTER_P
#undef DEAL_FILTER
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

int deals_get(struct api_ctx *c)
{
    json_t *d = NULL;
    int rc = deal_load(c->db, &c->me, c->req->params.id[0], &d);
    if (rc || !d)
        return rc ? rc : api_not_found(c);
    struct db_result r;
    rc = db_exec(c->db, "SELECT h.from_stage_id, fs.name AS from_stage, h.to_stage_id, ts.name AS to_stage, h.actor_id, "
                        "h.secs_in_from, h.at FROM deal_stage_history h LEFT JOIN pipeline_stages fs ON fs.id = h.from_stage_id "
                        "JOIN pipeline_stages ts ON ts.id = h.to_stage_id WHERE h.deal_id = ? ORDER BY h.at, h.id",
                 DBP(P_I(c->req->params.id[0])), &r);
    if (rc) {
        json_decref(d);
        return rc;
    }
    json_object_set_new(d, "history", db_rows_json(&r));
    db_result_free(&r);
    return api_json(c, 200, d);
}

struct deal_input {
    int64_t customer_id, stage_id, owner_id, probability;
    bool has_customer, has_stage, has_owner, has_probability, has_amount;
    const char *title, *currency, *expected_close, *payment_due, *reason, *competitor;
    char amount[32];
};


static int read_deal(struct api_ctx *c, struct jf *f, struct deal_input *in, bool create)
{
    static const char *const allowed[] = {"customer_id", "title", "stage_id", "amount", "currency", "expected_close",
                                          "probability", "owner_id", "win_loss_reason", "competitor", "payment_due",
                                          NULL};
    jf_only(f, allowed);
    in->customer_id = jf_int(f, "customer_id", 1, INT64_MAX, create, &in->has_customer);
    if (!create && in->has_customer)
        jf_fail(f, "customer_id", "cannot be changed; merge the customers instead");
    in->title = jf_str(f, "title", 200, create);
    in->stage_id = jf_int(f, "stage_id", 1, INT64_MAX, false, &in->has_stage);
    in->has_amount = jf_money(f, "amount", in->amount);
    in->currency = jf_str(f, "currency", 3, false);
    if (in->currency && (strlen(in->currency) != 3 || strspn(in->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
        jf_fail(f, "currency", "must be a three-letter ISO 4217 code such as CNY or USD");
    in->expected_close = jf_str(f, "expected_close", 10, false);
    if (in->expected_close && !customer_date_valid(in->expected_close))
        jf_fail(f, "expected_close", "must be a date YYYY-MM-DD");
    in->payment_due = jf_str(f, "payment_due", 10, false);
    if (in->payment_due && !customer_date_valid(in->payment_due))
        jf_fail(f, "payment_due", "must be a date YYYY-MM-DD");
    in->probability = jf_int(f, "probability", 0, 100, false, &in->has_probability);
    in->owner_id = jf_int(f, "owner_id", 1, INT64_MAX, false, &in->has_owner);
    in->reason = jf_str(f, "win_loss_reason", 500, false);
    in->competitor = jf_str(f, "competitor", 500, false);
    int rc = in->has_owner ? crm_check_owner(c, f, "owner_id", in->owner_id) : DB_OK;
    if (!rc && in->has_customer && create) {
        json_t *cu = NULL;
        rc = customer_load(c->db, &c->me, in->customer_id, &cu);
        if (!rc && !cu)
            jf_fail(f, "customer_id", "no such customer in your scope");
        json_decref(cu);
    }
    if (!rc && in->has_stage) {
        int64_t ok = 0;
        rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM pipeline_stages WHERE id = ? AND active = 1",
                           DBP(P_I(in->stage_id)), 0, &ok);
        if (!rc && !ok)
            jf_fail(f, "stage_id", "no such active pipeline stage");
    }
    return rc;
}

int deal_stage_entered(struct api_ctx *c, json_t *before, json_t *after)
{
    int64_t from = jint(before, "stage_id"), to = jint(after, "stage_id");
    int rc = db_exec(c->db, "INSERT INTO deal_stage_history (deal_id, from_stage_id, to_stage_id, actor_id, secs_in_from) "
                            "VALUES (?, ?, ?, ?, ?)",
                     DBP(P_I(jint(after, "id")), P_IOPT(from), P_I(to), P_IOPT(c->me.id),
                         from ? P_I(jint(before, "secs_in_stage")) : P_NULL), NULL);
    if (!rc)
        rc = event_insert_crm(c->db, "deal.stage_changed", jint(after, "customer_id"), jint(after, "owner_id"),
                              jstr(after, "region"),
                              json_pack("{s:O, s:I, s:I}", "deal", after, "from_stage_id", (json_int_t)from,
                                        "to_stage_id", (json_int_t)to));
    return rc;
}

static int write_deal(struct api_ctx *c, int64_t id, const struct deal_input *in)
{
    return db_exec(c->db,
                   "UPDATE deals d JOIN pipeline_stages s ON s.id = COALESCE(?, d.stage_id) SET "
                   "d.title = COALESCE(?, d.title), d.amount = COALESCE(?, d.amount), d.currency = COALESCE(?, d.currency), "
                   "d.expected_close = IF(?, ?, d.expected_close), d.payment_due = IF(?, ?, d.payment_due), "
                   "d.probability = IF(?, ?, d.probability), d.owner_id = COALESCE(?, d.owner_id), "
                   "d.win_loss_reason = IF(?, ?, d.win_loss_reason), d.competitor = IF(?, ?, d.competitor), "
                   "d.stage_entered_at = IF(s.id <> d.stage_id, NOW(3), d.stage_entered_at), "
                   "d.closed_at = IF(s.kind = 'open', NULL, IF(s.id <> d.stage_id OR d.closed_at IS NULL, NOW(3), d.closed_at)), "
                   "d.status = s.kind, d.stage_id = s.id WHERE d.id = ?",
                   DBP(P_IOPT(in->has_stage ? in->stage_id : 0), P_S(in->title), P_S(in->has_amount ? in->amount : NULL),
                       P_S(in->currency), P_I(given(c, "expected_close")), P_S(in->expected_close),
                       P_I(given(c, "payment_due")), P_S(in->payment_due),
                       P_I(given(c, "probability")), in->has_probability ? P_I(in->probability) : P_NULL,
                       P_IOPT(in->has_owner ? in->owner_id : 0), P_I(given(c, "win_loss_reason")),
                       P_S(in->reason), P_I(given(c, "competitor")), P_S(in->competitor), P_I(id)),
                   NULL);
}

/* Lost deals need their reason (the loss analysis is only as good as this field). */
static int check_closed(struct api_ctx *c, json_t *after)
{
    const char *reason = jstr(after, "win_loss_reason");
    if (strcmp(jstr(after, "status"), "lost") == 0 && (!reason || !*reason)) {
        api_invalid(c, json_pack("{s:s}", "win_loss_reason", "is required when a deal is lost"));
        return 1;
    }
    return 0;
}

static int finish_deal(struct api_ctx *c, int64_t id, json_t *before)
{
    json_t *after = NULL;
    int rc = deal_load(c->db, NULL, id, &after);
    if (rc || !after)
        return rc ? rc : DB_EOTHER;
    if (check_closed(c, after)) {
        json_decref(after);
        return 0;
    }
    if (!before || jint(before, "stage_id") != jint(after, "stage_id"))
        rc = deal_stage_entered(c, before, after);
    json_object_del(before, "secs_in_stage");
    if (rc) {
        json_decref(after);
        return rc;
    }
    return crm_written_then(c, "deal", before, after, deal_load);
}

int deals_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0 || api_fields_writable(c, "deal"))
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    struct deal_input in = {0};
    int rc = read_deal(c, &f, &in, true);
    if (!api_checked(c, &f, &rc))
        return rc;
    if (!in.has_stage && (rc = db_scalar_i64(c->db, "SELECT id FROM pipeline_stages WHERE active = 1 AND kind = 'open' "
                                                    "ORDER BY position, id LIMIT 1", DBP0, 0, &in.stage_id)))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO deals (customer_id, title, stage_id, owner_id) VALUES (?, ?, ?, ?)",
                 DBP(P_I(in.customer_id), P_S(in.title), P_I(in.stage_id), P_I(in.has_owner ? in.owner_id : c->me.id)),
                 &r);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    in.has_stage = false; /* already there: no "moved" on creation */
    if ((rc = write_deal(c, id, &in)))
        return rc;
    return finish_deal(c, id, NULL);
}

int deals_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0 || api_fields_writable(c, "deal"))
        return 0;
    json_t *before = NULL;
    int rc = db_exec(c->db, "SELECT id FROM deals WHERE id = ? FOR UPDATE", DBP(P_I(id)), NULL);
    if (!rc)
        rc = deal_load(c->db, &c->me, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    int64_t secs = 0;
    rc = db_scalar_i64(c->db, "SELECT TIMESTAMPDIFF(SECOND, stage_entered_at, NOW(3)) FROM deals WHERE id = ?",
                       DBP(P_I(id)), 0, &secs);
    json_object_set_new(before, "secs_in_stage", json_integer(secs < 0 ? 0 : secs));
    struct jf f;
    jf_init(&f, c->body);
    struct deal_input in = {0};
    if (!rc)
        rc = read_deal(c, &f, &in, false);
    if (!api_checked(c, &f, &rc) || (rc = write_deal(c, id, &in))) {
        json_decref(before);
        return rc;
    }
    rc = finish_deal(c, id, before);
    json_decref(before);
    return rc;
}

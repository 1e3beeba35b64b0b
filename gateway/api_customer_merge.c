/* api_customer_merge.c — duplicate candidates and merging two customers.
 *
 * Candidates (GET /api/v1/customers/duplicates): a customer holding an unverified copy of
 * another's e-mail or phone (stored with ?allow_duplicate=1), and customers at the same
 * company, compared by the normalised company name (contact_company_normalise: spacing,
 * full-width forms and suffixes such as 有限公司 ignored). Both sides must be in the
 * caller's data scope; one row per pair with every reason. A pair a person declared
 * different (POST /customers/duplicates/dismiss {"a_id","b_id"}) is not proposed again.
 *
 * Merge (POST /api/v1/customers/{survivor}/merge {"from_id"}): in one transaction, with
 * both rows locked in id order, every child row of the absorbed customer moves to the
 * survivor — identities (verified ones stay verified; a now-redundant unverified copy is
 * dropped), tickets, messages, deals, leads, activities, reminders, lifecycle history,
 * tags — empty fields of the survivor are filled from the absorbed record, custom fields
 * merged (the survivor's values win), the absorbed row keeps merged_into (its id keeps
 * resolving, also for customers merged into it before), a customer_merges row counts what
 * moved, and the audit log and a customer.merged event record it. Because inbound mail,
 * SMS and chat find their customer through identities, the absorbed customer's old
 * addresses land on the survivor from the next message on.
 */
#include "gateway/api_handlers.h"
#include "gateway/field_perms.h"
#include "gateway/customers.h"
#include "gateway/scope.h"
#include <string.h>

#define PAIRS_SQL \
    "FROM (" \
    "  SELECT LEAST(p.customer_id, u.customer_id) AS a_id, GREATEST(p.customer_id, u.customer_id) AS b_id, " \
    "         u.kind AS reason, u.value AS detail " \
    "  FROM customer_identities u JOIN customer_identities p " \
    "    ON p.kind = u.kind AND p.value = u.value AND p.is_primary = 1 AND p.customer_id <> u.customer_id " \
    "  WHERE u.is_primary IS NULL " \
    "  UNION ALL " \
    "  SELECT a.id, b.id, 'company', coa.name FROM customers a JOIN companies coa ON coa.id = a.company_id " \
    "  JOIN companies cob ON cob.name_norm = coa.name_norm JOIN customers b ON b.company_id = cob.id AND b.id > a.id " \
    "  WHERE a.merged_into IS NULL AND b.merged_into IS NULL " \
    ") x JOIN customers ca ON ca.id = x.a_id JOIN customers cb ON cb.id = x.b_id " \
    "WHERE ca.merged_into IS NULL AND cb.merged_into IS NULL " \
    "AND NOT EXISTS (SELECT 1 FROM customer_distinct_pairs dp WHERE dp.a_id = x.a_id AND dp.b_id = x.b_id) " \
    SCOPE_WHERE("ca.owner_id", "ca.region") SCOPE_WHERE("cb.owner_id", "cb.region") \
    /* a company hidden from the caller (field_perms.h) is no reason they may see */ \
    " AND (? = 0 OR x.reason <> 'company') "

int customers_duplicates(struct api_ctx *c)
{
    int company_hidden = fperm_access("customer", "company") == FP_HIDDEN;
    int64_t limit, offset, total = 0;
    if (api_paging(c, &limit, &offset) < 0)
        return 0;
    int rc = db_scalar_i64(c->db, "SELECT COUNT(DISTINCT x.a_id, x.b_id) " PAIRS_SQL,
                           DBP(SCOPE_PARAMS(&c->me), SCOPE_PARAMS(&c->me), P_I(company_hidden)), 0, &total);
    if (rc)
        return rc;
    struct db_result r;
    rc = db_exec(c->db,
                 "SELECT JSON_OBJECT('id', ca.id, 'name', ca.name, 'customer_no', ca.customer_no) AS a__json, "
                 "JSON_OBJECT('id', cb.id, 'name', cb.name, 'customer_no', cb.customer_no) AS b__json, "
                 "JSON_ARRAYAGG(DISTINCT x.reason) AS reasons__json, "
                 "JSON_ARRAYAGG(JSON_OBJECT('reason', x.reason, 'value', x.detail)) AS matches__json " PAIRS_SQL
                 "GROUP BY x.a_id, x.b_id ORDER BY x.b_id DESC, x.a_id DESC LIMIT ? OFFSET ?",
                 DBP(SCOPE_PARAMS(&c->me), SCOPE_PARAMS(&c->me), P_I(company_hidden), P_I(limit), P_I(offset)), &r);
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

int customers_duplicates_dismiss(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"a_id", "b_id", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    bool has;
    int64_t a = jf_int(&f, "a_id", 1, INT64_MAX, true, &has), b = jf_int(&f, "b_id", 1, INT64_MAX, true, &has);
    if (jf_ok(&f) && a == b)
        jf_fail(&f, "b_id", "must differ from a_id");
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *ca = NULL, *cb = NULL;
    if (!(rc = customer_load(c->db, &c->me, a, &ca)))
        rc = customer_load(c->db, &c->me, b, &cb);
    int found = ca && cb;
    json_decref(ca);
    json_decref(cb);
    if (rc || !found)
        return rc ? rc : api_not_found(c);
    int64_t lo = a < b ? a : b, hi = a < b ? b : a;
    rc = db_exec(c->db, "INSERT IGNORE INTO customer_distinct_pairs (a_id, b_id, actor_id) VALUES (?, ?, ?)",
                 DBP(P_I(lo), P_I(hi), P_IOPT(c->me.id)), NULL);
    json_t *after = json_pack("{s:I, s:I}", "a_id", (json_int_t)lo, "b_id", (json_int_t)hi);
    if (!rc)
        rc = api_audit(c, "customer.not_duplicate", "customer", lo, NULL, after);
    json_decref(after);
    return rc ? rc : api_json(c, 204, NULL);
}

/* ---- merge ---- */

struct move {
    const char *what;
    const char *sql; /* parameters: survivor, absorbed */
};

/* Order matters only for identities: redundant unverified copies go before the move. */
static const struct move moves[] = {
    {NULL, "DELETE u FROM customer_identities u JOIN customer_identities p ON p.kind = u.kind AND p.value = u.value "
           "AND p.is_primary = 1 AND p.customer_id IN (?, ?) WHERE u.is_primary IS NULL AND u.customer_id IN (?, ?)"},
    {"identities", "UPDATE customer_identities SET customer_id = ?, merged_from = ? WHERE customer_id = ?"},
    {"tickets", "UPDATE tickets SET customer_id = ? WHERE customer_id = ?"},
    {"messages", "UPDATE messages SET customer_id = ? WHERE customer_id = ?"},
    {"deals", "UPDATE deals SET customer_id = ? WHERE customer_id = ?"},
    {"leads", "UPDATE leads SET customer_id = ? WHERE customer_id = ?"},
    {"activities", "UPDATE activities SET customer_id = ? WHERE customer_id = ?"},
    {"objects", "UPDATE object_records SET customer_id = ? WHERE customer_id = ?"},
    {"object_values", "UPDATE object_values SET customer_id = ? WHERE customer_id = ?"}, /* the copy segment conditions read */
    {"reminders", "UPDATE reminders SET customer_id = ? WHERE customer_id = ?"},
    /* its lifecycle moves along; its birth reads "merged" there: the survivor was not created twice */
    {"stage_history", "UPDATE customer_stage_history SET customer_id = ?, reason = IF(reason = 'created', 'merged', reason) "
                      "WHERE customer_id = ?"},
    /* a campaign that reached both keeps the absorbed row there (the ledger is UNIQUE per
     * campaign and customer); the 360 shows it through merged_into */
    {"campaign_history", "UPDATE IGNORE campaign_recipients SET customer_id = ? WHERE customer_id = ?"},
    {"tags", "INSERT IGNORE INTO customer_tags (customer_id, tag_id, created_at, created_by) "
             "SELECT ?, tag_id, created_at, created_by FROM customer_tags WHERE customer_id = ?"},
    {NULL, "DELETE FROM customer_tags WHERE customer_id = ? AND ? > 0"},
    {"earlier_merges", "UPDATE customers SET merged_into = ? WHERE merged_into = ?"},
};

static int move_children(struct db *db, int64_t survivor, int64_t absorbed, json_t *moved)
{
    for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
        struct db_result r;
        int rc;
        if (i == 0)
            rc = db_exec(db, moves[i].sql, DBP(P_I(survivor), P_I(absorbed), P_I(survivor), P_I(absorbed)), &r);
        else if (i == 1)
            rc = db_exec(db, moves[i].sql, DBP(P_I(survivor), P_I(absorbed), P_I(absorbed)), &r);
        else if (moves[i].what == NULL) /* the tag clean-up: its parameters are (absorbed, 1) */
            rc = db_exec(db, moves[i].sql, DBP(P_I(absorbed), P_I(1)), &r);
        else
            rc = db_exec(db, moves[i].sql, DBP(P_I(survivor), P_I(absorbed)), &r);
        if (rc)
            return rc;
        if (moves[i].what)
            json_object_set_new(moved, moves[i].what, json_integer((json_int_t)r.affected));
        db_result_free(&r);
    }
    return DB_OK;
}

/* Empty survivor fields take the absorbed values; attrs merge with the survivor winning. */
static int fill_survivor(struct db *db, int64_t survivor, int64_t absorbed)
{
    return db_exec(db,
                   "UPDATE customers s JOIN customers a ON a.id = ? SET "
                   "s.company_id = COALESCE(s.company_id, a.company_id), s.industry = COALESCE(s.industry, a.industry), "
                   "s.grade = COALESCE(s.grade, a.grade), s.source = COALESCE(s.source, a.source), "
                   "s.region = COALESCE(s.region, a.region), s.owner_id = COALESCE(s.owner_id, a.owner_id), "
                   "s.uscc = COALESCE(s.uscc, a.uscc), s.address = COALESCE(s.address, a.address), "
                   "s.attrs = JSON_MERGE_PATCH(a.attrs, s.attrs), "
                   "s.last_contact_at = GREATEST(COALESCE(s.last_contact_at, a.last_contact_at), "
                   "  COALESCE(a.last_contact_at, s.last_contact_at)), "
                   "s.last_followup_at = GREATEST(COALESCE(s.last_followup_at, a.last_followup_at), "
                   "  COALESCE(a.last_followup_at, s.last_followup_at)), "
                   "s.type = IF(s.type = 'new' AND a.type <> 'new', a.type, s.type) "
                   "WHERE s.id = ?",
                   DBP(P_I(absorbed), P_I(survivor)), NULL);
}

static int lock_pair(struct api_ctx *c, int64_t a, int64_t b)
{
    return db_exec(c->db, "SELECT id FROM customers WHERE id IN (?, ?) ORDER BY id FOR UPDATE", DBP(P_I(a), P_I(b)), NULL);
}

int customers_merge(struct api_ctx *c)
{
    int64_t survivor = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"from_id", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    bool has = false;
    int64_t absorbed = jf_int(&f, "from_id", 1, INT64_MAX, true, &has);
    if (has && absorbed == survivor)
        jf_fail(&f, "from_id", "a customer cannot be merged into itself");
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *s_before = NULL, *a_before = NULL, *after = NULL, *moved = json_object();
    if ((rc = lock_pair(c, survivor, absorbed)) || (rc = customer_load(c->db, &c->me, survivor, &s_before)) ||
        (rc = customer_load(c->db, &c->me, absorbed, &a_before)))
        goto out;
    if (!s_before) {
        rc = api_not_found(c);
        goto out;
    }
    if (!a_before) {
        rc = api_error(c, 404, "not_found", "from_id: no such customer in your scope (or already merged)");
        goto out;
    }
    if ((rc = move_children(c->db, survivor, absorbed, moved)) || (rc = fill_survivor(c->db, survivor, absorbed)) ||
        (rc = db_exec(c->db, "UPDATE customers SET merged_into = ? WHERE id = ?", DBP(P_I(survivor), P_I(absorbed)), NULL)))
        goto out;
    char *moved_s = json_dumps(moved, JSON_COMPACT);
    rc = db_exec(c->db, "INSERT INTO customer_merges (survivor_id, absorbed_id, actor_id, moved) VALUES (?, ?, ?, ?)",
                 DBP(P_I(survivor), P_I(absorbed), P_IOPT(c->me.id), P_S(moved_s)), NULL);
    free(moved_s);
    if (rc || (rc = customer_load(c->db, NULL, survivor, &after)))
        goto out;
    json_t *before = json_pack("{s:O, s:O}", "survivor", s_before, "absorbed", a_before);
    json_t *audit_after = json_pack("{s:O, s:O}", "survivor", after, "moved", moved);
    rc = api_audit(c, "customer.merged", "customer", survivor, before, audit_after);
    json_decref(before);
    json_decref(audit_after);
    if (!rc)
        rc = api_audit(c, "customer.merged_away", "customer", absorbed, a_before, NULL);
    if (!rc) {
        json_object_set_new(after, "merged_from_id", json_integer(absorbed));
        rc = customer_event(c->db, "customer.merged", after);
    }
    if (!rc) {
        json_object_set_new(after, "moved", json_incref(moved));
        rc = api_json(c, 200, after);
        after = NULL;
    }
out:
    json_decref(s_before);
    json_decref(a_before);
    json_decref(after);
    json_decref(moved);
    return rc;
}

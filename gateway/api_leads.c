/* api_leads.c — sales leads (/api/v1/leads): entry, grading A/B/C, assignment, and
 * conversion into a customer plus a deal.
 *
 * Assignment when no owner is given is the seed rule "Lead assignment by region"
 * (rules.h, lead.created ⇒ assign_owner region_least_busy): the active sales agent of the
 * lead's region with the fewest open leads, else the least busy sales agent; it runs in
 * the creating transaction, so the answer already shows the owner. assigned_by records
 * who decided (manual / region / least_busy).
 *
 * Conversion (POST /leads/{id}/convert): finds the customer by the lead's e-mail or phone
 * identity or creates one (owner = the lead's owner, stage contacted, source from the
 * lead), then opens a deal in the first open stage (or the one given); the lead becomes
 * converted with both ids. A converted lead answers 409.
 *
 * Scope: the lead's owner and region (scope.h); out of scope ⇒ 404.
 */
#include "gateway/api_handlers.h"
#include "gateway/customers.h"
#include "gateway/event_tailer.h"
#include "gateway/field_perms.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/text.h"
#include "gateway/scope.h"
#include <stdio.h>
#include <string.h>

#define LEAD_SELECT \
    "SELECT l.id, l.name, l.company, l.email, l.phone, l.source, l.grade, l.region, l.owner_id, ag.name AS owner_name, " \
    "l.assigned_by, l.status, l.notes, l.customer_id, l.deal_id, l.created_at, l.updated_at " \
    "FROM leads l LEFT JOIN agents ag ON ag.id = l.owner_id "
#define LEAD_SCOPE SCOPE_WHERE("l.owner_id", "l.region")

static const char *const grades[] = {"A", "B", "C", NULL};

static int lead_load(struct db *db, const struct agent_info *me, int64_t id, json_t **out)
{
    struct agent_info all = {.scope = SCOPE_ALL};
    return db_row_json_of(db, LEAD_SELECT "WHERE l.id = ?" LEAD_SCOPE, DBP(P_I(id), SCOPE_PARAMS(me ? me : &all)), out);
}

static int64_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int leads_list(struct api_ctx *c)
{
    int64_t limit, offset, owner = 0, total = 0;
    if (api_paging(c, &limit, &offset) < 0 || api_arg_id(c, "owner_id", &owner) < 0)
        return 0;
    const char *status = api_arg(c->req, "status"), *grade = api_arg(c->req, "grade"), *q = api_arg(c->req, "q");
    status = status && *status ? status : NULL;
    grade = grade && *grade ? grade : NULL;
    q = q && *q ? q : NULL;
    if (q && !utf8_valid(q, strlen(q)))
        return api_error(c, 400, "bad_request", "q must be UTF-8");
#define LEAD_FILTER " AND (? IS NULL OR l.status = ?) AND (? IS NULL OR l.grade = ?) AND (? = 0 OR l.owner_id = ?) " \
                    " AND (? IS NULL OR INSTR(l.name, ?) > 0 OR INSTR(l.company, ?) > 0 OR l.email = ? OR l.phone = ?) "
#define FILTER_P P_S(status), P_S(status), P_S(grade), P_S(grade), P_I(owner), P_I(owner), P_S(q), P_S(q), P_S(q), \
                 P_S(q), P_S(q)
    int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM leads l WHERE 1 = 1" LEAD_SCOPE LEAD_FILTER,
                           DBP(SCOPE_PARAMS(&c->me), FILTER_P), 0, &total);
    struct db_result r;
    if (!rc)
        rc = db_exec(c->db, LEAD_SELECT "WHERE 1 = 1" LEAD_SCOPE LEAD_FILTER "ORDER BY l.id DESC LIMIT ? OFFSET ?",
                     DBP(SCOPE_PARAMS(&c->me), FILTER_P, P_I(limit), P_I(offset)), &r);
#undef FILTER_P
#undef LEAD_FILTER
    if (rc)
        return rc;
    json_t *items = db_rows_json(&r);
    db_result_free(&r);
    return api_json(c, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total));
}

int leads_get(struct api_ctx *c)
{
    json_t *l = NULL;
    int rc = lead_load(c->db, &c->me, c->req->params.id[0], &l);
    if (rc || !l)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, l);
}

struct lead_input {
    const char *name, *company, *source, *grade, *region, *notes, *status;
    char email[CONTACT_MAX], phone[CONTACT_MAX];
    bool has_owner;
    int64_t owner_id;
};

static int read_lead(struct api_ctx *c, struct jf *f, struct lead_input *in, bool create)
{
    static const char *const allowed[] = {"name", "company", "email", "phone", "source", "grade", "region",
                                          "owner_id", "notes", "status", NULL};
    static const char *const statuses[] = {"new", "working", "disqualified", NULL};
    jf_only(f, allowed);
    in->name = jf_str(f, "name", 200, create);
    in->company = jf_str(f, "company", 200, false);
    in->source = jf_str(f, "source", 64, false);
    in->grade = jf_enum(f, "grade", grades, false);
    in->region = jf_str(f, "region", 100, false);
    in->notes = jf_str(f, "notes", 2000, false);
    in->status = jf_enum(f, "status", statuses, false);
    const char *email = jf_str(f, "email", 254, false), *phone = jf_str(f, "phone", 32, false), *why = NULL;
    if (email && contact_email_normalise(email, in->email, sizeof(in->email), &why) < 0)
        jf_fail(f, "email", why);
    if (phone && contact_phone_normalise(phone, in->phone, sizeof(in->phone), &why) < 0)
        jf_fail(f, "phone", why);
    in->owner_id = jf_int(f, "owner_id", 1, INT64_MAX, false, &in->has_owner);
    return in->has_owner ? crm_check_owner(c, f, "owner_id", in->owner_id) : DB_OK;
}

static int lead_written(struct api_ctx *c, int64_t id, json_t *before)
{
    json_t *after = NULL;
    int rc = lead_load(c->db, NULL, id, &after);
    if (rc || !after)
        return rc ? rc : DB_EOTHER;
    return crm_written_then(c, "lead", before, after, lead_load);
}

int leads_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    struct lead_input in = {0};
    int rc = read_lead(c, &f, &in, true);
    if (!api_checked(c, &f, &rc))
        return rc;
    int64_t owner = in.has_owner ? in.owner_id : 0;
    const char *by = in.has_owner ? "manual" : NULL;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO leads (name, company, email, phone, source, grade, region, owner_id, assigned_by, "
                        "status, notes) VALUES (?, ?, ?, ?, ?, COALESCE(?, 'C'), ?, ?, ?, COALESCE(?, 'new'), ?)",
                 DBP(P_S(in.name), P_S(in.company), P_S(in.email[0] ? in.email : NULL), P_S(in.phone[0] ? in.phone : NULL),
                     P_S(in.source), P_S(in.grade), P_S(in.region), P_IOPT(owner), P_S(by), P_S(in.status), P_S(in.notes)),
                 &r);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return lead_written(c, id, NULL);
}

int leads_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = db_exec(c->db, "SELECT id FROM leads WHERE id = ? FOR UPDATE", DBP(P_I(id)), NULL);
    if (!rc)
        rc = lead_load(c->db, &c->me, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    struct jf f;
    jf_init(&f, c->body);
    struct lead_input in = {0};
    rc = read_lead(c, &f, &in, false);
    if (jf_ok(&f) && strcmp(jstr(before, "status"), "converted") == 0)
        jf_fail(&f, "status", "a converted lead is closed; edit its customer and deal instead");
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
#define GIVEN(k) P_I(json_object_get(c->body, k) != NULL)
    rc = db_exec(c->db, "UPDATE leads SET name = COALESCE(?, name), company = IF(?, ?, company), email = IF(?, ?, email), "
                        "phone = IF(?, ?, phone), source = IF(?, ?, source), grade = COALESCE(?, grade), "
                        "region = IF(?, ?, region), owner_id = IF(?, ?, owner_id), "
                        "assigned_by = IF(?, 'manual', assigned_by), notes = IF(?, ?, notes), status = COALESCE(?, status) "
                        "WHERE id = ?",
                 DBP(P_S(in.name), GIVEN("company"), P_S(in.company), GIVEN("email"), P_S(in.email[0] ? in.email : NULL),
                     GIVEN("phone"), P_S(in.phone[0] ? in.phone : NULL), GIVEN("source"), P_S(in.source), P_S(in.grade),
                     GIVEN("region"), P_S(in.region), P_I(in.has_owner), P_IOPT(in.owner_id), P_I(in.has_owner),
                     GIVEN("notes"), P_S(in.notes), P_S(in.status), P_I(id)),
                 NULL);
#undef GIVEN
    if (!rc)
        rc = lead_written(c, id, before);
    json_decref(before);
    return rc;
}

/* ---- conversion ---- */

#define LEAD_CUSTOMER_HIDDEN 2 /* lead_customer: the identity belongs to a customer outside the scope */

/* The customer a lead becomes: an existing one by identity, else a new one. */
static int lead_customer(struct api_ctx *c, json_t *lead, int64_t *customer, int *created)
{
    const char *kinds[2] = {"email", "phone"}, *vals[2] = {jstr(lead, "email"), jstr(lead, "phone")};
    int rc = DB_OK;
    *customer = 0;
    *created = 0;
    for (int i = 0; i < 2 && !*customer && !rc; i++)
        if (vals[i])
            rc = db_scalar_i64(c->db, "SELECT customer_id FROM customer_identities WHERE kind = ? AND value = ? "
                                      "AND is_primary = 1", DBP(P_S(kinds[i]), P_S(vals[i])), 0, customer);
    if (!rc && *customer)
        rc = customer_resolve(c->db, *customer, customer);
    if (rc)
        return rc;
    if (*customer) { /* never attach to (or reveal) a customer the caller may not see */
        json_t *cu = NULL;
        rc = customer_load(c->db, &c->me, *customer, &cu);
        int visible = cu != NULL;
        json_decref(cu);
        return rc ? rc : visible ? DB_OK : LEAD_CUSTOMER_HIDDEN;
    }
    int64_t company = 0;
    struct db_result r;
    if ((rc = customer_company_id(c->db, jstr(lead, "company"), &company)) ||
        (rc = db_exec(c->db, "INSERT INTO customers (name, company_id, source, region, owner_id, stage) "
                             "VALUES (?, ?, COALESCE(?, 'lead'), ?, ?, 'contacted')",
                      DBP(P_S(jstr(lead, "name")), P_IOPT(company), P_S(jstr(lead, "source")), P_S(jstr(lead, "region")),
                          P_IOPT(jint(lead, "owner_id"))), &r)))
        return rc;
    *customer = (int64_t)r.insert_id;
    *created = 1;
    db_result_free(&r);
    rc = db_exec(c->db, "UPDATE customers SET customer_no = CONCAT('C', LPAD(id, 6, '0')) WHERE id = ?",
                 DBP(P_I(*customer)), NULL);
    for (int i = 0; i < 2 && !rc; i++)
        if (vals[i])
            rc = db_exec(c->db, "INSERT INTO customer_identities (customer_id, kind, value) VALUES (?, ?, ?)",
                         DBP(P_I(*customer), P_S(kinds[i]), P_S(vals[i])), NULL);
    if (!rc)
        rc = customer_stage_changed(c->db, *customer, NULL, "contacted", c->me.id, "lead");
    return rc;
}

static int read_conversion(struct api_ctx *c, struct jf *f, const char **title, char amount[32], int64_t *stage)
{
    static const char *const allowed[] = {"title", "amount", "currency", "stage_id", "expected_close", NULL};
    json_t *deal = json_object_get(c->body, "deal");
    static const char *const top[] = {"deal", NULL};
    jf_only(f, top);
    if (!deal)
        return DB_OK;
    if (!json_is_object(deal)) {
        jf_fail(f, "deal", "must be an object");
        return DB_OK;
    }
    struct jf g;
    jf_init(&g, deal);
    jf_only(&g, allowed);
    *title = jf_str(&g, "title", 200, false);
    bool has;
    *stage = jf_int(&g, "stage_id", 1, INT64_MAX, false, &has);
    json_t *a = json_object_get(deal, "amount");
    if (a && (!json_is_number(a) || json_number_value(a) < 0 || json_number_value(a) > 1e13))
        jf_fail(&g, "amount", "must be a number from 0 to 10000000000000");
    else if (a)
        snprintf(amount, 32, "%.2f", json_number_value(a));
    const char *cur = jf_str(&g, "currency", 3, false), *close = jf_str(&g, "expected_close", 10, false);
    if (cur && (strlen(cur) != 3 || strspn(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
        jf_fail(&g, "currency", "must be a three-letter ISO 4217 code such as CNY or USD");
    if (close && !customer_date_valid(close))
        jf_fail(&g, "expected_close", "must be a date YYYY-MM-DD");
    jf_absorb(f, &g, "deal");
    int64_t ok = 1;
    int rc = *stage ? db_scalar_i64(c->db, "SELECT COUNT(*) FROM pipeline_stages WHERE id = ? AND active = 1 "
                                           "AND kind = 'open'", DBP(P_I(*stage)), 0, &ok) : DB_OK;
    if (!rc && !ok)
        jf_fail(f, "deal.stage_id", "no such active open stage");
    return rc;
}

int leads_convert(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (!c->req->body.len) {
        c->body = json_object();
    } else if (api_body_object(c) < 0) {
        return 0;
    }
    char field[96];
    if (fperm_write_denied("deal", json_object_get(c->body, "deal"), field, sizeof(field))) {
        char msg[160];
        snprintf(msg, sizeof(msg), "you may not set the deal field %s", field);
        return api_json(c, 403, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "forbidden_field", "message", msg,
                                          "field", field));
    }
    json_t *lead = NULL;
    int rc = db_exec(c->db, "SELECT id FROM leads WHERE id = ? FOR UPDATE", DBP(P_I(id)), NULL);
    if (!rc)
        rc = lead_load(c->db, &c->me, id, &lead);
    if (rc || !lead)
        return rc ? rc : api_not_found(c);
    const char *title = NULL;
    char amount[32] = "0";
    int64_t stage = 0, customer = 0, deal = 0;
    int created = 0;
    struct jf f;
    jf_init(&f, c->body);
    rc = read_conversion(c, &f, &title, amount, &stage);
    if (!api_checked(c, &f, &rc))
        goto out;
    if (strcmp(jstr(lead, "status"), "converted") == 0) {
        rc = api_error(c, 409, "conflict", "this lead is already converted");
        goto out;
    }
    if ((rc = lead_customer(c, lead, &customer, &created)) == LEAD_CUSTOMER_HIDDEN) {
        rc = api_error(c, 409, "duplicate", "the lead's e-mail or phone belongs to a customer outside your data scope; "
                                            "ask their owner or a manager to convert it");
        goto out;
    }
    if (rc)
        goto out;
    if (!stage && (rc = db_scalar_i64(c->db, "SELECT id FROM pipeline_stages WHERE active = 1 AND kind = 'open' "
                                             "ORDER BY position, id LIMIT 1", DBP0, 0, &stage)))
        goto out;
    json_t *dj = json_object_get(c->body, "deal");
    const char *cur = json_string_value(json_object_get(dj, "currency"));
    const char *close = json_string_value(json_object_get(dj, "expected_close"));
    char deftitle[260];
    snprintf(deftitle, sizeof(deftitle), "%.200s", jstr(lead, "company") ? jstr(lead, "company") : jstr(lead, "name"));
    struct db_result r;
    if ((rc = db_exec(c->db, "INSERT INTO deals (customer_id, title, stage_id, amount, currency, expected_close, owner_id, "
                             "lead_id) VALUES (?, ?, ?, ?, COALESCE(?, 'CNY'), ?, ?, ?)",
                      DBP(P_I(customer), P_S(title ? title : deftitle), P_I(stage), P_S(amount), P_S(cur), P_S(close),
                          P_IOPT(jint(lead, "owner_id")), P_I(id)), &r)))
        goto out;
    deal = (int64_t)r.insert_id;
    db_result_free(&r);
    rc = db_exec(c->db, "UPDATE leads SET status = 'converted', customer_id = ?, deal_id = ? WHERE id = ?",
                 DBP(P_I(customer), P_I(deal), P_I(id)), NULL);
    json_t *cj = NULL, *after = NULL, *dl = NULL;
    if (!rc)
        rc = deal_load(c->db, NULL, deal, &dl);
    if (!rc && dl) /* like any new deal: history, the customer's lifecycle, a notify stage's reminder */
        rc = deal_stage_entered(c, NULL, dl);
    if (!rc && dl)
        rc = api_audit(c, "deal.created", "deal", deal, NULL, dl);
    if (!rc && dl)
        rc = event_insert_crm(c->db, "deal.created", customer, jint(dl, "owner_id"), jstr(dl, "region"),
                              json_pack("{s:O}", "deal", dl));
    json_decref(dl);
    if (!rc)
        rc = customer_load(c->db, NULL, customer, &cj);
    if (!rc && created)
        rc = api_audit(c, "customer.created", "customer", customer, NULL, cj);
    if (!rc && created)
        rc = customer_event(c->db, "customer.created", cj);
    if (!rc)
        rc = lead_load(c->db, NULL, id, &after);
    if (!rc)
        rc = api_audit(c, "lead.converted", "lead", id, lead, after);
    if (!rc)
        rc = event_insert_crm(c->db, "lead.converted", jint(cj, "id"), jint(after, "owner_id"), jstr(after, "region"),
                              json_pack("{s:O, s:I, s:I}", "lead", after, "customer_id", (json_int_t)jint(cj, "id"),
                                        "deal_id", (json_int_t)deal));
    if (!rc)
        rc = api_json(c, 200, json_pack("{s:o, s:o, s:I, s:b}", "lead", after, "customer", cj, "deal_id",
                                        (json_int_t)deal, "customer_created", created));
    else {
        json_decref(cj);
        json_decref(after);
    }
out:
    json_decref(lead);
    return rc;
}

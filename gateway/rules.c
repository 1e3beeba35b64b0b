/* rules.c — see rules.h and docs/rules.md. */
#include "gateway/rules.h"
#include "gateway/campaigns.h"
#include "gateway/customers.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/segment.h"
#include "gateway/template.h"
#include "gateway/webhooks.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- triggers and the records they are about ---- */

enum subject { S_CUSTOMER, S_LEAD, S_DEAL, S_TICKET, S_CAMPAIGN };
static const char *const subject_names[] = {"customer", "lead", "deal", "ticket", "campaign"};

struct trigger {
    const char *name;
    const char *event;  /* the change-feed kind that fires it (NULL: gate or schedule) */
    enum subject subject;
    int gate;
    const char *status; /* deal.won / deal.lost: the deal's status after the change */
};

static const struct trigger triggers[] = {
    {"customer.created", "customer.created", S_CUSTOMER, 0, NULL},
    {"customer.updated", "customer.updated", S_CUSTOMER, 0, NULL},
    {"tag.added", "customer.tagged", S_CUSTOMER, 0, NULL},
    {"lead.created", "lead.created", S_LEAD, 0, NULL},
    {"lead.converted", "lead.converted", S_LEAD, 0, NULL},
    {"deal.created", "deal.created", S_DEAL, 0, NULL},
    {"deal.stage_changed", "deal.stage_changed", S_DEAL, 0, NULL},
    {"deal.won", "deal.stage_changed", S_DEAL, 0, "won"},
    {"deal.lost", "deal.stage_changed", S_DEAL, 0, "lost"},
    {"ticket.created", "ticket.created", S_TICKET, 0, NULL},
    {"ticket.solved", "ticket.solved", S_TICKET, 0, NULL},
    {"message.created", "message.created", S_TICKET, 0, NULL},
    {"activity.created", "activity.created", S_CUSTOMER, 0, NULL},
    {"object.created", "object.created", S_CUSTOMER, 0, NULL},
    {"object.updated", "object.updated", S_CUSTOMER, 0, NULL},
    {"campaign.start_requested", NULL, S_CAMPAIGN, 1, NULL},
    {"schedule", NULL, S_CUSTOMER, 0, NULL},
};
#define NTRIGGERS (sizeof(triggers) / sizeof(triggers[0]))

static const struct trigger *trigger_named(const char *name)
{
    for (size_t i = 0; name && i < NTRIGGERS; i++)
        if (strcmp(triggers[i].name, name) == 0)
            return &triggers[i];
    return NULL;
}

int rules_trigger_known(const char *trigger)
{
    return trigger_named(trigger) != NULL;
}

/* The record's own columns a condition may name (segment_column: fixed SQL over the
 * aliases of subject_from below). */
static const struct segment_column lead_cols[] = {
    {"lead.name", SEGMENT_TEXT, "l.name"},       {"lead.company", SEGMENT_TEXT, "l.company"},
    {"lead.source", SEGMENT_TEXT, "l.source"},   {"lead.grade", SEGMENT_TEXT, "l.grade"},
    {"lead.region", SEGMENT_TEXT, "l.region"},   {"lead.status", SEGMENT_TEXT, "l.status"},
    {"lead.owner_id", SEGMENT_NUMBER, "l.owner_id"},
};
static const struct segment_column deal_cols[] = {
    {"deal.title", SEGMENT_TEXT, "d.title"},
    {"deal.stage", SEGMENT_TEXT, "ds.name"},
    {"deal.stage_kind", SEGMENT_TEXT, "ds.kind"},
    {"deal.status", SEGMENT_TEXT, "d.status"},
    {"deal.currency", SEGMENT_TEXT, "d.currency"},
    {"deal.customer_stage", SEGMENT_TEXT, "ds.customer_stage"},
    {"deal.amount", SEGMENT_NUMBER, "d.amount"},
    {"deal.probability", SEGMENT_NUMBER, "COALESCE(d.probability, ds.probability)"},
    {"deal.owner_id", SEGMENT_NUMBER, "d.owner_id"},
    {"deal.stage_notify", SEGMENT_NUMBER, "ds.notify_manager"},
};
static const struct segment_column ticket_cols[] = {
    {"ticket.channel", SEGMENT_TEXT, "t.channel"},   {"ticket.priority", SEGMENT_TEXT, "t.priority"},
    {"ticket.status", SEGMENT_TEXT, "t.status"},     {"ticket.subject", SEGMENT_TEXT, "t.subject"},
    {"ticket.team_id", SEGMENT_NUMBER, "t.team_id"}, {"ticket.assignee_id", SEGMENT_NUMBER, "t.assignee_id"},
};
static const struct segment_column campaign_cols[] = {
    {"campaign.name", SEGMENT_TEXT, "cp.name"},
    {"campaign.channel", SEGMENT_TEXT, "cp.channel"},
    {"campaign.audience", SEGMENT_NUMBER, "ev.audience"},
};
static const struct segment_column tag_col = {"event.tag", SEGMENT_TEXT, "ev.tag"};

/* Every evaluation binds (tag, audience, record id) first. */
#define EV "SELECT 1 FROM (SELECT CAST(? AS CHAR(200)) AS tag, CAST(? AS SIGNED) AS audience) ev "
static const char *const subject_from[] = {
    [S_CUSTOMER] = EV "JOIN customers c ON c.id = ? WHERE ",
    [S_LEAD] = EV "JOIN leads l ON l.id = ? LEFT JOIN customers c ON c.id = l.customer_id WHERE ",
    [S_DEAL] = EV "JOIN deals d ON d.id = ? JOIN pipeline_stages ds ON ds.id = d.stage_id "
                  "LEFT JOIN customers c ON c.id = d.customer_id WHERE ",
    [S_TICKET] = EV "JOIN tickets t ON t.id = ? LEFT JOIN customers c ON c.id = t.customer_id WHERE ",
    [S_CAMPAIGN] = EV "JOIN campaigns cp ON cp.id = ? LEFT JOIN customers c ON 1 = 0 WHERE ",
};
static const char *const subject_exists[] = {
    [S_CUSTOMER] = "SELECT COUNT(*) FROM customers WHERE id = ? AND merged_into IS NULL",
    [S_LEAD] = "SELECT COUNT(*) FROM leads WHERE id = ?",
    [S_DEAL] = "SELECT COUNT(*) FROM deals WHERE id = ?",
    [S_TICKET] = "SELECT COUNT(*) FROM tickets WHERE id = ?",
    [S_CAMPAIGN] = "SELECT COUNT(*) FROM campaigns WHERE id = ? AND kind = 'campaign'",
};

static size_t subject_cols(enum subject s, const struct trigger *t, struct segment_column *out)
{
    static const struct { const struct segment_column *c; size_t n; } sets[] = {
        [S_CUSTOMER] = {NULL, 0},
        [S_LEAD] = {lead_cols, sizeof(lead_cols) / sizeof(lead_cols[0])},
        [S_DEAL] = {deal_cols, sizeof(deal_cols) / sizeof(deal_cols[0])},
        [S_TICKET] = {ticket_cols, sizeof(ticket_cols) / sizeof(ticket_cols[0])},
        [S_CAMPAIGN] = {campaign_cols, sizeof(campaign_cols) / sizeof(campaign_cols[0])},
    };
    size_t n = sets[s].n;
    if (n)
        memcpy(out, sets[s].c, n * sizeof(*out));
    if (t && strcmp(t->name, "tag.added") == 0)
        out[n++] = tag_col;
    return n;
}

static int compile_conditions(struct db *db, const char *cond, enum subject s, const struct trigger *t,
                              struct segment_sql *out, char *why, size_t whysz)
{
    struct segment_column cols[16];
    size_t nc = subject_cols(s, t, cols);
    return customer_rule_compile_with(db, cond, cols, nc, out, why, whysz);
}

/* ---- the chain of rules running on this thread ---- */

static __thread struct chain {
    int64_t ids[RULES_MAX_DEPTH];
    char names[RULES_MAX_DEPTH][64];
    int depth;
    json_t *collect; /* a dry run: every firing seen, in order */
    int64_t actor;   /* the agent whose request started the chain (approvals) */
} chain;

static const char *const sp_set[RULES_MAX_DEPTH] = {"SAVEPOINT sb_rule_1", "SAVEPOINT sb_rule_2", "SAVEPOINT sb_rule_3",
                                                     "SAVEPOINT sb_rule_4", "SAVEPOINT sb_rule_5"};
static const char *const sp_undo[RULES_MAX_DEPTH] = {
    "ROLLBACK TO SAVEPOINT sb_rule_1", "ROLLBACK TO SAVEPOINT sb_rule_2", "ROLLBACK TO SAVEPOINT sb_rule_3",
    "ROLLBACK TO SAVEPOINT sb_rule_4", "ROLLBACK TO SAVEPOINT sb_rule_5"};

static void chain_text(char *out, size_t size, const char *last)
{
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < chain.depth; i++) {
        buf_puts(&b, chain.names[i]);
        buf_puts(&b, " → ");
    }
    buf_puts(&b, last);
    text_copy(out, size, b.data ? b.data : "");
    buf_free(&b);
}

int64_t rules_set_actor(int64_t agent)
{
    int64_t was = chain.actor;
    chain.actor = agent;
    return was;
}

/* ---- a rule and one firing of it ---- */

struct rule {
    int64_t id, version;
    char name[201];
    const struct trigger *trg;
    enum subject subject;
    char *conditions;
    json_t *actions;
    struct segment_sql cond; /* conditions compiled on first use (matches) */
    int compiled;            /* 0: not yet; 1: cond holds them; -1: they no longer compile */
};

static void rule_clear(struct rule *r)
{
    free(r->conditions);
    json_decref(r->actions);
    if (r->compiled > 0)
        segment_sql_free(&r->cond);
    memset(r, 0, sizeof(*r));
}

struct firing {
    struct db *db;
    const struct rule *r;
    int64_t record, event_id;
    char occasion[40]; /* what makes this firing unique for its rule and record */
    int64_t customer, deal;
    json_t *ctx;       /* the template data: {customer, lead, deal, ticket, campaign} */
    json_t *results;
    int64_t approval_id;
};

struct act_result {
    const char *outcome; /* done, skipped, failed, held */
    char detail[300];
};

static void said(struct act_result *res, const char *outcome, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void said(struct act_result *res, const char *outcome, const char *fmt, ...)
{
    res->outcome = outcome;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
    va_end(ap);
}

static const char *astr(json_t *a, const char *k)
{
    return json_string_value(json_object_get(a, k));
}

static int64_t aint(json_t *a, const char *k)
{
    return json_integer_value(json_object_get(a, k));
}

static int audit_system(struct db *db, const char *action, const char *type, int64_t id, json_t *before, json_t *after)
{
    char *b = before ? json_dumps(before, JSON_COMPACT) : NULL;
    char *a = after ? json_dumps(after, JSON_COMPACT) : NULL;
    int rc = db_exec(db, "INSERT INTO audit_log (actor_type, action, object_type, object_id, before_json, after_json) "
                         "VALUES ('system', ?, ?, ?, ?, ?)",
                     DBP(P_S(action), P_S(type), P_IOPT(id), P_S(b), P_S(a)), NULL);
    free(b);
    free(a);
    return rc;
}

/* text rendered against the firing's records (plain text: reminders, titles). */
static char *render(const struct firing *f, const char *src, const char *dflt)
{
    if (!src || !*src)
        src = dflt;
    struct buf out;
    buf_init(&out, 0);
    struct template_error err;
    if (template_render_string(src, strlen(src), f->ctx, TEMPLATE_TEXT, NULL, NULL, &out, &err) != 0) {
        buf_free(&out);
        return strdup(src);
    }
    char *s = strdup(out.data ? out.data : "");
    buf_free(&out);
    return s;
}

/* The record's owner (a ticket: its assignee); 0 when there is none. */
static int owner_of(const struct firing *f, int64_t *owner)
{
    static const char *const sql[] = {
        [S_CUSTOMER] = "SELECT owner_id FROM customers WHERE id = ?",
        [S_LEAD] = "SELECT owner_id FROM leads WHERE id = ?",
        [S_DEAL] = "SELECT owner_id FROM deals WHERE id = ?",
        [S_TICKET] = "SELECT assignee_id FROM tickets WHERE id = ?",
        [S_CAMPAIGN] = "SELECT created_by FROM campaigns WHERE id = ?",
    };
    *owner = 0;
    return db_scalar_i64(f->db, sql[f->r->subject], DBP(P_I(f->record)), 0, owner);
}

int rules_reminder(struct db *db, const char *kind, int64_t agent, int64_t customer, int64_t deal, const char *message,
                   const char *dedupe_key, int due_days)
{
    return db_exec(db, "INSERT IGNORE INTO reminders (kind, agent_id, customer_id, deal_id, message, dedupe_key, due_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, NOW(3) + INTERVAL ? DAY)",
                   DBP(P_S(kind), P_I(agent), P_IOPT(customer), P_IOPT(deal), P_S(message), P_S(dedupe_key), P_I(due_days)),
                   NULL);
}

/* ---- actions: one row per type (check the parameters, run) ---- */

#define ON_CUSTOMER (1u << S_CUSTOMER | 1u << S_LEAD | 1u << S_DEAL | 1u << S_TICKET)
#define ON_ANY (ON_CUSTOMER | 1u << S_CAMPAIGN)

struct action_op {
    const char *type;
    unsigned subjects;
    int gate_only;
    const char *const *params; /* the parameter names it accepts, besides type */
    void (*check)(struct db *db, struct jf *g, json_t *a);
    int (*run)(struct firing *f, json_t *a, struct act_result *res);
};

static void check_tag(struct db *db, struct jf *g, json_t *a)
{
    (void)db;
    (void)a;
    jf_name(g, "tag", 64, true);
}

/* tag / untag the record's customer: the audit row and customer.tagged/untagged event (so
 * tag.added rules run in turn). */
static int tag_change(struct firing *f, json_t *a, struct act_result *res, int add)
{
    const char *tag = astr(a, "tag");
    if (!f->customer) {
        said(res, "skipped", "the %s has no customer", subject_names[f->r->subject]);
        return DB_OK;
    }
    struct db_result r;
    int rc;
    if (add) {
        rc = db_exec(f->db, "INSERT INTO tags (name) VALUES (?) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
                     DBP(P_S(tag)), &r);
        if (rc)
            return rc;
        int64_t tag_id = (int64_t)r.insert_id;
        db_result_free(&r);
        rc = db_exec(f->db, "INSERT IGNORE INTO customer_tags (customer_id, tag_id) VALUES (?, ?)",
                     DBP(P_I(f->customer), P_I(tag_id)), &r);
    } else {
        rc = db_exec(f->db, "DELETE ct FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id "
                            "WHERE ct.customer_id = ? AND t.name = ?", DBP(P_I(f->customer), P_S(tag)), &r);
    }
    if (rc)
        return rc;
    uint64_t n = r.affected;
    db_result_free(&r);
    if (!n) {
        said(res, "skipped", add ? "already tagged %s" : "not tagged %s", tag);
        return DB_OK;
    }
    json_t *after = json_pack("{s:s, s:I}", "tag", tag, "rule_id", (json_int_t)f->r->id);
    rc = audit_system(f->db, add ? "customer.tagged" : "customer.untagged", "customer", f->customer, NULL, after);
    json_decref(after);
    if (!rc)
        rc = customer_tag_event(f->db, f->customer, tag, add, f->r->id);
    if (!rc)
        said(res, "done", "%s %s", add ? "tagged" : "untagged", tag);
    return rc;
}

static int run_tag(struct firing *f, json_t *a, struct act_result *res)
{
    return tag_change(f, a, res, 1);
}

static int run_untag(struct firing *f, json_t *a, struct act_result *res)
{
    return tag_change(f, a, res, 0);
}

/* set_field: the customer columns a rule may set, each with its own statement. */
static const struct {
    const char *field;
    const char *sql;
    const char *const *choices;
    size_t max;
} settable[] = {
    {"grade", "UPDATE customers SET grade = ? WHERE id = ?", NULL, 32},
    {"industry", "UPDATE customers SET industry = ? WHERE id = ?", NULL, 100},
    {"source", "UPDATE customers SET source = ? WHERE id = ?", NULL, 64},
    {"region", "UPDATE customers SET region = ? WHERE id = ?", NULL, 100},
    {"type", "UPDATE customers SET type = ? WHERE id = ?", (const char *const[]){"new", "returning", "churned", NULL}, 16},
    {"stage", "UPDATE customers SET stage = ? WHERE id = ?",
     (const char *const[]){"potential", "contacted", "proposal", "won", "maintain", "renewal", "churned", NULL}, 16},
};
#define NSETTABLE (sizeof(settable) / sizeof(settable[0]))

static int settable_index(const char *field)
{
    for (size_t i = 0; field && i < NSETTABLE; i++)
        if (strcmp(settable[i].field, field) == 0)
            return (int)i;
    return -1;
}

static int field_def_type(struct db *db, const char *key, char *type, size_t size)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT type FROM field_defs WHERE `key` = ?", DBP(P_S(key)), &r);
    if (rc)
        return rc;
    type[0] = 0;
    if (r.nrows)
        text_copy(type, size, db_cell(&r, 0, 0));
    db_result_free(&r);
    return DB_OK;
}

static void check_set_field(struct db *db, struct jf *g, json_t *a)
{
    const char *field = jf_str(g, "field", 80, true);
    json_t *v = json_object_get(a, "value");
    if (!field)
        return;
    if (strncmp(field, "attr.", 5) == 0) {
        char type[16];
        if (field_def_type(db, field + 5, type, sizeof(type)) == DB_OK && !type[0])
            jf_fail(g, "field", "no such custom field");
        if (!json_is_string(v) && !json_is_number(v) && !json_is_array(v))
            jf_fail(g, "value", "a text, number or list of options");
        return;
    }
    int k = settable_index(field);
    if (k < 0) {
        jf_fail(g, "field", "one of grade, industry, source, region, type, stage or attr.KEY");
        return;
    }
    if (settable[k].choices)
        jf_enum(g, "value", settable[k].choices, true);
    else
        jf_str(g, "value", settable[k].max, true);
}

static int set_attr(struct firing *f, const char *key, json_t *value, json_t *before, struct act_result *res)
{
    json_t *attrs = json_deep_copy(json_object_get(before, "attrs"));
    if (!json_is_object(attrs)) {
        json_decref(attrs);
        attrs = json_object();
    }
    json_object_set(attrs, key, value);
    struct db_result defs;
    int rc = customer_field_defs(f->db, &defs);
    if (rc) {
        json_decref(attrs);
        return rc;
    }
    struct jf g;
    jf_init(&g, NULL);
    customer_attrs_check(&defs, &g, attrs);
    db_result_free(&defs);
    if (!jf_ok(&g)) {
        char *why = json_dumps(g.errors, JSON_COMPACT);
        said(res, "failed", "attr.%s: %s", key, why ? why : "invalid");
        free(why);
        jf_free(&g);
        json_decref(attrs);
        return 1;
    }
    jf_free(&g);
    char *s = json_dumps(attrs, JSON_COMPACT);
    rc = db_exec(f->db, "UPDATE customers SET attrs = ? WHERE id = ?", DBP(P_S(s), P_I(f->customer)), NULL);
    free(s);
    json_decref(attrs);
    return rc;
}

static int run_set_field(struct firing *f, json_t *a, struct act_result *res)
{
    const char *field = astr(a, "field");
    json_t *value = json_object_get(a, "value");
    if (!f->customer) {
        said(res, "skipped", "the %s has no customer", subject_names[f->r->subject]);
        return DB_OK;
    }
    json_t *before = NULL, *after = NULL;
    int rc = customer_load(f->db, NULL, f->customer, &before);
    if (rc || !before)
        return rc ? rc : DB_EOTHER;
    if (strncmp(field, "attr.", 5) == 0) {
        rc = set_attr(f, field + 5, value, before, res);
    } else {
        int k = settable_index(field);
        rc = k < 0 ? DB_EOTHER : db_exec(f->db, settable[k].sql, DBP(P_S(json_string_value(value)), P_I(f->customer)), NULL);
        const char *from = json_string_value(json_object_get(before, "stage"));
        if (!rc && strcmp(field, "stage") == 0 && from && strcmp(from, json_string_value(value)) != 0)
            rc = customer_stage_changed(f->db, f->customer, from, json_string_value(value), 0, "rule");
    }
    if (!rc)
        rc = customer_load(f->db, NULL, f->customer, &after);
    if (!rc && json_equal(before, after))
        said(res, "skipped", "%s is already so", field);
    else if (!rc) {
        rc = audit_system(f->db, "customer.updated", "customer", f->customer, before, after);
        if (!rc)
            rc = customer_event(f->db, "customer.updated", after);
        if (!rc)
            said(res, "done", "set %s", field);
    }
    json_decref(before);
    json_decref(after);
    return rc;
}

static void check_assign(struct db *db, struct jf *g, json_t *a)
{
    (void)db;
    static const char *const strategies[] = {"region_least_busy", "least_busy", "agent", NULL};
    const char *s = jf_enum(g, "strategy", strategies, true);
    bool has = false;
    jf_int(g, "agent_id", 1, INT64_MAX, s && strcmp(s, "agent") == 0, &has);
    if (json_object_get(a, "only_unowned") && !json_is_boolean(json_object_get(a, "only_unowned")))
        jf_fail(g, "only_unowned", "true or false");
}

int rules_least_busy_sales(struct db *db, const char *region, int64_t *owner, const char **by)
{
    *owner = 0;
    *by = NULL;
    for (int pass = region && *region ? 0 : 1; pass < 2; pass++) {
        struct db_result r;
        int rc = db_exec(db, "SELECT a.id FROM agents a WHERE a.role = 'sales' AND a.active = 1 "
                             "AND (? = 1 OR a.region = ?) ORDER BY a.id FOR UPDATE",
                         DBP(P_I(pass), P_S(region)), &r);
        if (rc)
            return rc;
        size_t n = r.nrows;
        db_result_free(&r);
        if (!n)
            continue;
        rc = db_scalar_i64(db, "SELECT a.id FROM agents a LEFT JOIN leads l ON l.owner_id = a.id "
                               "AND l.status IN ('new', 'working') WHERE a.role = 'sales' AND a.active = 1 "
                               "AND (? = 1 OR a.region = ?) GROUP BY a.id ORDER BY COUNT(l.id), a.id LIMIT 1",
                           DBP(P_I(pass), P_S(region)), 0, owner);
        *by = pass ? "least_busy" : "region";
        return rc;
    }
    return DB_OK;
}

static const char *const assign_sql[] = {
    [S_CUSTOMER] = "SELECT owner_id, region FROM customers WHERE id = ? FOR UPDATE",
    [S_LEAD] = "SELECT owner_id, region FROM leads WHERE id = ? FOR UPDATE",
    [S_DEAL] = "SELECT d.owner_id, c.region FROM deals d LEFT JOIN customers c ON c.id = d.customer_id WHERE d.id = ? "
               "FOR UPDATE",
};

static int assigned_event(struct firing *f, int64_t owner, const char *by)
{
    enum subject s = f->r->subject;
    json_t *before = NULL, *after = NULL;
    int rc = DB_OK;
    if (s == S_LEAD) {
        rc = db_exec(f->db, "UPDATE leads SET owner_id = ?, assigned_by = ? WHERE id = ?",
                     DBP(P_I(owner), P_S(by), P_I(f->record)), NULL);
        if (!rc)
            rc = db_row_json_of(f->db, "SELECT id, name, region, owner_id, assigned_by, status, customer_id FROM leads "
                                       "WHERE id = ?", DBP(P_I(f->record)), &after);
        if (!rc)
            rc = audit_system(f->db, "lead.updated", "lead", f->record, NULL, after);
        if (!rc)
            rc = event_insert_crm(f->db, "lead.updated", 0, owner, json_string_value(json_object_get(after, "region")),
                                  json_pack("{s:O}", "lead", after));
    } else if (s == S_CUSTOMER) {
        rc = customer_load(f->db, NULL, f->record, &before);
        if (!rc)
            rc = db_exec(f->db, "UPDATE customers SET owner_id = ? WHERE id = ?", DBP(P_I(owner), P_I(f->record)), NULL);
        if (!rc)
            rc = customer_load(f->db, NULL, f->record, &after);
        if (!rc)
            rc = audit_system(f->db, "customer.updated", "customer", f->record, before, after);
        if (!rc && after)
            rc = customer_event(f->db, "customer.updated", after);
    } else {
        rc = deal_load(f->db, NULL, f->record, &before);
        if (!rc)
            rc = db_exec(f->db, "UPDATE deals SET owner_id = ? WHERE id = ?", DBP(P_I(owner), P_I(f->record)), NULL);
        if (!rc)
            rc = deal_load(f->db, NULL, f->record, &after);
        if (!rc)
            rc = audit_system(f->db, "deal.updated", "deal", f->record, before, after);
        if (!rc && after)
            rc = event_insert_crm(f->db, "deal.updated", f->customer, owner,
                                  json_string_value(json_object_get(after, "region")), json_pack("{s:O}", "deal", after));
    }
    json_decref(before);
    json_decref(after);
    return rc;
}

static int run_assign(struct firing *f, json_t *a, struct act_result *res)
{
    struct db_result r;
    int rc = db_exec(f->db, assign_sql[f->r->subject], DBP(P_I(f->record)), &r);
    if (rc)
        return rc;
    int64_t cur = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
    char region[101] = "";
    if (r.nrows && db_cell(&r, 0, 1))
        text_copy(region, sizeof(region), db_cell(&r, 0, 1));
    db_result_free(&r);
    json_t *only = json_object_get(a, "only_unowned");
    if (cur && !json_is_false(only)) {
        said(res, "skipped", "already owned by agent %lld", (long long)cur);
        return DB_OK;
    }
    const char *strategy = astr(a, "strategy"), *by = "manual";
    int64_t owner = 0;
    if (strcmp(strategy, "agent") == 0)
        rc = db_scalar_i64(f->db, "SELECT id FROM agents WHERE id = ? AND active = 1", DBP(P_I(aint(a, "agent_id"))), 0,
                           &owner);
    else
        rc = rules_least_busy_sales(f->db, strcmp(strategy, "least_busy") == 0 ? NULL : region, &owner, &by);
    if (rc)
        return rc;
    if (!owner) {
        said(res, "skipped", strcmp(strategy, "agent") == 0 ? "the agent is not active" : "no active sales agent");
        return DB_OK;
    }
    if (owner == cur) {
        said(res, "skipped", "already owned by agent %lld", (long long)cur);
        return DB_OK;
    }
    rc = assigned_event(f, owner, by);
    if (!rc)
        said(res, "done", "owner agent %lld (%s)", (long long)owner, by);
    return rc;
}

static void check_notify(struct db *db, struct jf *g, json_t *a)
{
    (void)db;
    (void)a;
    static const char *const to[] = {"owner", "manager", "role", "agent", NULL};
    static const char *const roles[] = {"admin", "manager", "agent", "sales", "marketer", NULL};
    const char *t = jf_enum(g, "to", to, true);
    if (t && strcmp(t, "role") == 0)
        jf_enum(g, "role", roles, true);
    bool has = false;
    jf_int(g, "agent_id", 1, INT64_MAX, t && strcmp(t, "agent") == 0, &has);
    const char *m = jf_str(g, "message", 1000, false);
    struct template *tp = NULL;
    struct template_error err;
    if (m && template_compile(m, strlen(m), &tp, &err) != 0)
        jf_fail(g, "message", "the template does not compile");
    template_free(tp);
    if (json_object_get(a, "once") && !json_is_boolean(json_object_get(a, "once")))
        jf_fail(g, "once", "true or false");
    const char *kind = jf_str(g, "kind", 32, false);
    for (const char *k = kind; k && *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || *k == '_')) {
            jf_fail(g, "kind", "a-z and _ only");
            break;
        }
}

/* The agents a notify/create_task action addresses: an array of ids. */
static int recipients(struct firing *f, json_t *a, const char *to, json_t *out, struct act_result *res)
{
    int64_t owner = 0, id = 0;
    int rc = DB_OK;
    if (strcmp(to, "agent") == 0) {
        rc = db_scalar_i64(f->db, "SELECT id FROM agents WHERE id = ? AND active = 1", DBP(P_I(aint(a, "agent_id"))), 0,
                           &id);
    } else if (strcmp(to, "role") == 0) {
        struct db_result r;
        rc = db_exec(f->db, "SELECT id FROM agents WHERE role = ? AND active = 1 ORDER BY id",
                     DBP(P_S(astr(a, "role"))), &r);
        for (size_t i = 0; !rc && i < r.nrows; i++)
            json_array_append_new(out, json_integer(db_cell_i64(&r, i, 0)));
        if (!rc)
            db_result_free(&r);
    } else if ((rc = owner_of(f, &owner)) == DB_OK && owner && strcmp(to, "manager") == 0) {
        rc = db_scalar_i64(f->db, "SELECT t.manager_id FROM agents a JOIN teams t ON t.id = a.team_id WHERE a.id = ?",
                           DBP(P_I(owner)), 0, &id);
    } else {
        id = owner;
    }
    if (!rc && id)
        json_array_append_new(out, json_integer(id));
    if (!rc && !json_array_size(out))
        said(res, "skipped", strcmp(to, "manager") == 0 ? (owner ? "the owner's team has no manager" : "no owner")
                             : strcmp(to, "owner") == 0 ? "no owner" : "nobody to tell");
    return rc;
}

/* once: at most one reminder per rule and record (a deal: per stage it is in) instead of
 * one per occasion. */
static int remind_all(struct firing *f, json_t *who, const char *kind, const char *msg, int due_days, int once)
{
    size_t i;
    json_t *x;
    int rc = DB_OK;
    int64_t stage = 0;
    if (once && f->r->subject == S_DEAL &&
        (rc = db_scalar_i64(f->db, "SELECT stage_id FROM deals WHERE id = ?", DBP(P_I(f->record)), 0, &stage)))
        return rc;
    json_array_foreach(who, i, x) {
        char key[160], occasion[40];
        if (once)
            snprintf(occasion, sizeof(occasion), "once%s%lld", stage ? "-s" : "", (long long)stage);
        else
            text_copy(occasion, sizeof(occasion), f->occasion);
        snprintf(key, sizeof(key), "rule:%lld:%s:%s:%lld", (long long)f->r->id, occasion,
                 subject_names[f->r->subject], (long long)f->record);
        rc = rules_reminder(f->db, kind, json_integer_value(x), f->customer, f->deal, msg, key, due_days);
        if (rc)
            break;
    }
    return rc;
}

static int run_notify(struct firing *f, json_t *a, struct act_result *res)
{
    json_t *who = json_array();
    int rc = recipients(f, a, astr(a, "to"), who, res);
    if (!rc && json_array_size(who)) {
        char dflt[300];
        snprintf(dflt, sizeof(dflt), "Rule “%s” fired", f->r->name);
        char *msg = render(f, astr(a, "message"), dflt);
        const char *kind = astr(a, "kind") && *astr(a, "kind") ? astr(a, "kind") : "rule";
        rc = remind_all(f, who, kind, msg ? msg : dflt, 0, json_is_true(json_object_get(a, "once")));
        if (!rc) {
            char *ids = json_dumps(who, JSON_COMPACT);
            said(res, "done", "reminded %s: %.200s", ids ? ids : "", msg ? msg : "");
            free(ids);
        }
        free(msg);
    }
    json_decref(who);
    return rc;
}

static void check_task(struct db *db, struct jf *g, json_t *a)
{
    (void)db;
    (void)a;
    static const char *const to[] = {"owner", "agent", NULL};
    jf_str(g, "title", 500, true);
    bool has = false;
    jf_int(g, "due_days", 0, 365, false, &has);
    const char *t = jf_enum(g, "assignee", to, false);
    jf_int(g, "agent_id", 1, INT64_MAX, t && strcmp(t, "agent") == 0, &has);
}

static int run_task(struct firing *f, json_t *a, struct act_result *res)
{
    json_t *who = json_array();
    const char *to = astr(a, "assignee") ? astr(a, "assignee") : "owner";
    int rc = recipients(f, a, to, who, res);
    if (!rc && json_array_size(who)) {
        char *title = render(f, astr(a, "title"), "Follow up");
        int days = (int)aint(a, "due_days");
        rc = remind_all(f, who, "task", title ? title : "Follow up", days, 0);
        if (!rc)
            said(res, "done", "task for agent %lld due in %d day%s: %.200s",
                 (long long)json_integer_value(json_array_get(who, 0)), days, days == 1 ? "" : "s", title ? title : "");
        free(title);
    }
    json_decref(who);
    return rc;
}

static void check_priority(struct db *db, struct jf *g, json_t *a)
{
    (void)db;
    (void)a;
    static const char *const up[] = {"high", "urgent", NULL};
    jf_enum(g, "priority", up, true);
}

static int run_priority(struct firing *f, json_t *a, struct act_result *res)
{
    const char *to = astr(a, "priority");
    struct db_result r;
    int rc = db_exec(f->db, "UPDATE tickets SET priority = ? WHERE id = ? AND "
                            "FIELD(priority, 'low', 'normal', 'high', 'urgent') < FIELD(?, 'low', 'normal', 'high', 'urgent')",
                     DBP(P_S(to), P_I(f->record), P_S(to)), &r);
    if (rc)
        return rc;
    uint64_t n = r.affected;
    db_result_free(&r);
    if (!n) {
        said(res, "skipped", "the ticket is already %s or higher", to);
        return DB_OK;
    }
    json_t *t = NULL;
    rc = db_row_json_of(f->db, "SELECT id, customer_id, assignee_id, team_id, priority, status FROM tickets WHERE id = ?",
                        DBP(P_I(f->record)), &t);
    if (!rc && t) {
        rc = audit_system(f->db, "ticket.updated", "ticket", f->record, NULL, t);
        if (!rc)
            rc = event_insert(f->db, "ticket.updated", f->record, f->customer,
                              json_integer_value(json_object_get(t, "assignee_id")),
                              json_integer_value(json_object_get(t, "team_id")),
                              json_pack("{s:I, s:s, s:s}", "ticket_id", (json_int_t)f->record, "priority", to, "by", "rule"));
    }
    json_decref(t);
    if (!rc)
        said(res, "done", "priority %s", to);
    return rc;
}

static void check_sequence(struct db *db, struct jf *g, json_t *a)
{
    (void)a;
    bool has = false;
    int64_t id = jf_int(g, "sequence_id", 1, INT64_MAX, true, &has);
    int64_t n = 0;
    if (has && db_scalar_i64(db, "SELECT COUNT(*) FROM sequences WHERE id = ?", DBP(P_I(id)), 0, &n) == DB_OK && !n)
        jf_fail(g, "sequence_id", "no such sequence");
}

static int run_sequence(struct firing *f, json_t *a, struct act_result *res)
{
    int64_t seq = aint(a, "sequence_id");
    if (!f->customer) {
        said(res, "skipped", "the %s has no customer", subject_names[f->r->subject]);
        return DB_OK;
    }
    struct db_result r;
    int rc = db_exec(f->db, "SELECT enabled FROM sequences WHERE id = ?", DBP(P_I(seq)), &r);
    if (rc)
        return rc;
    int found = r.nrows > 0, enabled = found && db_cell_i64(&r, 0, 0);
    db_result_free(&r);
    if (!found) {
        said(res, "failed", "sequence %lld no longer exists", (long long)seq);
        return 1;
    }
    if (!enabled) {
        said(res, "skipped", "sequence %lld is disabled", (long long)seq);
        return DB_OK;
    }
    rc = db_exec(f->db, "INSERT IGNORE INTO sequence_enrollments (sequence_id, customer_id, next_at) VALUES (?, ?, NOW(3))",
                 DBP(P_I(seq), P_I(f->customer)), &r);
    if (rc)
        return rc;
    uint64_t n = r.affected;
    db_result_free(&r);
    if (n)
        said(res, "done", "enrolled in sequence %lld", (long long)seq);
    else
        said(res, "skipped", "already enrolled in sequence %lld", (long long)seq);
    return DB_OK;
}

static void check_send(struct db *db, struct jf *g, json_t *a)
{
    (void)a;
    bool has = false;
    int64_t id = jf_int(g, "template_id", 1, INT64_MAX, true, &has);
    int64_t n = 0;
    if (has && db_scalar_i64(db, "SELECT COUNT(*) FROM templates WHERE id = ?", DBP(P_I(id)), 0, &n) == DB_OK && !n)
        jf_fail(g, "template_id", "no such template");
}

/* send_template: through the campaign ledger, in a hidden campaign of this rule and
 * template (kind sequence_step: never listed, started or paused by hand), so the sender
 * renders it for the customer with an unsubscribe link, honours suppressions and quiet
 * hours, and sends it at most once per customer. */
static int run_send(struct firing *f, json_t *a, struct act_result *res)
{
    int64_t tpl = aint(a, "template_id");
    if (!f->customer) {
        said(res, "skipped", "the %s has no customer", subject_names[f->r->subject]);
        return DB_OK;
    }
    struct db_result r;
    int rc = db_exec(f->db, "SELECT channel, name FROM templates WHERE id = ?", DBP(P_I(tpl)), &r);
    if (rc)
        return rc;
    if (!r.nrows) {
        db_result_free(&r);
        said(res, "failed", "template %lld no longer exists", (long long)tpl);
        return 1;
    }
    char channel[8], cname[300];
    text_copy(channel, sizeof(channel), db_cell(&r, 0, 0));
    snprintf(cname, sizeof(cname), "Rule “%.120s” · %.120s", f->r->name, db_cell(&r, 0, 1));
    db_result_free(&r);
    rc = db_exec(f->db, "INSERT INTO campaigns (name, channel, template_id, kind, status, started_at, rule_id) "
                        "VALUES (?, ?, ?, 'sequence_step', 'sending', NOW(3), ?) "
                        "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), status = 'sending'",
                 DBP(P_S(cname), P_S(channel), P_I(tpl), P_IOPT(f->r->id)), &r);
    if (rc)
        return rc;
    int64_t camp = (int64_t)r.insert_id;
    db_result_free(&r);
    const char *kind = strcmp(channel, "sms") == 0 ? "phone" : "email";
    rc = db_exec(f->db, "INSERT IGNORE INTO campaign_recipients (campaign_id, customer_id, channel, address, state, "
                        "skip_reason) SELECT ?, ?, ?, " LEDGER_ADDRESS_COLUMNS "FROM (SELECT 1) one "
                        LEDGER_ADDRESS_JOINS("?") "LIMIT 1",
                 DBP(P_I(camp), P_I(f->customer), P_S(channel), P_I(f->customer), P_S(kind), P_S(channel)), &r);
    if (rc)
        return rc;
    uint64_t n = r.affected;
    db_result_free(&r);
    if (!n) {
        said(res, "skipped", "this rule already sent template %lld to the customer", (long long)tpl);
        return DB_OK;
    }
    rc = db_exec(f->db, "SELECT state, COALESCE(skip_reason, ''), COALESCE(address, '') FROM campaign_recipients "
                        "WHERE campaign_id = ? AND customer_id = ? AND channel = ?",
                 DBP(P_I(camp), P_I(f->customer), P_S(channel)), &r);
    if (rc)
        return rc;
    if (r.nrows && strcmp(db_cell(&r, 0, 0), "skipped") == 0)
        said(res, "skipped", "not sent: %s", db_cell(&r, 0, 1));
    else
        said(res, "done", "queued %s to %.200s", channel, r.nrows ? db_cell(&r, 0, 2) : "");
    db_result_free(&r);
    return DB_OK;
}

static void check_webhook(struct db *db, struct jf *g, json_t *a)
{
    (void)a;
    bool has = false;
    int64_t id = jf_int(g, "webhook_id", 1, INT64_MAX, true, &has);
    int64_t n = 0;
    if (has && db_scalar_i64(db, "SELECT COUNT(*) FROM webhooks WHERE id = ?", DBP(P_I(id)), 0, &n) == DB_OK && !n)
        jf_fail(g, "webhook_id", "no such webhook");
}

static int run_webhook(struct firing *f, json_t *a, struct act_result *res)
{
    int64_t hook = aint(a, "webhook_id"), active = -1;
    int rc = db_scalar_i64(f->db, "SELECT active FROM webhooks WHERE id = ?", DBP(P_I(hook)), -1, &active);
    if (rc)
        return rc;
    if (active < 0) {
        said(res, "failed", "webhook %lld no longer exists", (long long)hook);
        return 1;
    }
    if (!active) {
        said(res, "skipped", "webhook %lld is disabled", (long long)hook);
        return DB_OK;
    }
    char id[96], at[32];
    snprintf(id, sizeof(id), "rule.%lld.%s.%lld", (long long)f->r->id, f->occasion, (long long)f->record);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *data = json_pack("{s:{s:I, s:s, s:I}, s:s, s:s, s:I, s:O}", "rule", "id", (json_int_t)f->r->id, "name",
                             f->r->name, "version", (json_int_t)f->r->version, "trigger", f->r->trg->name, "record_type",
                             subject_names[f->r->subject], "record_id", (json_int_t)f->record, "records", f->ctx);
    char *body = webhook_body(id, "rule.fired", at, data);
    json_decref(data);
    if (!body)
        return DB_EOTHER;
    rc = db_exec(f->db, "INSERT IGNORE INTO webhook_deliveries (webhook_id, event_id, event, body) VALUES (?, ?, ?, ?)",
                 DBP(P_I(hook), P_S(id), P_S("rule.fired"), P_S(body)), NULL);
    free(body);
    if (!rc)
        said(res, "done", "queued rule.fired for webhook %lld", (long long)hook);
    return rc;
}

static const char *const lifecycle[] = {"potential", "contacted", "proposal", "won", "maintain", "renewal", NULL};

static int lifecycle_rank(const char *s)
{
    for (int i = 0; s && lifecycle[i]; i++)
        if (strcmp(s, lifecycle[i]) == 0)
            return i;
    return -1;
}

static int run_lifecycle(struct firing *f, json_t *a, struct act_result *res)
{
    (void)a;
    struct db_result r;
    int rc = db_exec(f->db, "SELECT cu.stage, s.customer_stage FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id "
                            "JOIN customers cu ON cu.id = d.customer_id WHERE d.id = ? FOR UPDATE", DBP(P_I(f->record)), &r);
    if (rc)
        return rc;
    if (!r.nrows || !db_cell(&r, 0, 1)) {
        db_result_free(&r);
        said(res, "skipped", "the deal's stage moves no lifecycle");
        return DB_OK;
    }
    char from[16], to[16];
    text_copy(from, sizeof(from), db_cell(&r, 0, 0));
    text_copy(to, sizeof(to), db_cell(&r, 0, 1));
    db_result_free(&r);
    if (strcmp(from, to) == 0 || (lifecycle_rank(to) >= 0 && lifecycle_rank(from) >= lifecycle_rank(to))) {
        said(res, "skipped", "the customer is already %s (never moved backwards to %s)", from, to);
        return DB_OK;
    }
    json_t *before = NULL, *after = NULL;
    rc = customer_load(f->db, NULL, f->customer, &before);
    if (!rc)
        rc = db_exec(f->db, "UPDATE customers SET stage = ? WHERE id = ?", DBP(P_S(to), P_I(f->customer)), NULL);
    if (!rc)
        rc = customer_stage_changed(f->db, f->customer, from, to, chain.actor, "deal");
    if (!rc)
        rc = customer_load(f->db, NULL, f->customer, &after);
    if (!rc)
        rc = audit_system(f->db, "customer.updated", "customer", f->customer, before, after);
    if (!rc && after)
        rc = customer_event(f->db, "customer.updated", after);
    json_decref(before);
    json_decref(after);
    if (!rc)
        said(res, "done", "customer lifecycle %s → %s", from, to);
    return rc;
}

static void check_approval(struct db *db, struct jf *g, json_t *a)
{
    (void)db;
    (void)a;
    static const char *const roles[] = {"manager", "admin", NULL};
    jf_enum(g, "role", roles, true);
    const char *s = jf_str(g, "summary", 500, false);
    struct template *tp = NULL;
    struct template_error err;
    if (s && template_compile(s, strlen(s), &tp, &err) != 0)
        jf_fail(g, "summary", "the template does not compile");
    template_free(tp);
}

static int run_approval(struct firing *f, json_t *a, struct act_result *res)
{
    char dflt[300];
    snprintf(dflt, sizeof(dflt), "Start campaign “{{campaign.name}}” ({{campaign.audience}} recipients)");
    char *summary = render(f, astr(a, "summary"), dflt);
    const char *role = astr(a, "role");
    struct db_result r;
    int rc = db_exec(f->db, "INSERT INTO approvals (kind, record_type, record_id, summary, role, rule_id, requested_by) "
                            "VALUES ('campaign.start', ?, ?, ?, ?, ?, ?)",
                     DBP(P_S(subject_names[f->r->subject]), P_I(f->record), P_S(summary ? summary : dflt), P_S(role),
                         P_IOPT(f->r->id), P_IOPT(chain.actor)), &r);
    if (rc == DB_EDUP) { /* already held by another rule of this gate */
        rc = db_scalar_i64(f->db, "SELECT id FROM approvals WHERE pending_key = CONCAT('campaign.start:', ?)",
                           DBP(P_I(f->record)), 0, &f->approval_id);
        free(summary);
        if (!rc)
            said(res, "held", "approval %lld is already pending", (long long)f->approval_id);
        return rc;
    }
    if (rc) {
        free(summary);
        return rc;
    }
    f->approval_id = (int64_t)r.insert_id;
    db_result_free(&r);
    char msg[700], key[64];
    snprintf(msg, sizeof(msg), "Approval needed: %.600s", summary ? summary : dflt);
    snprintf(key, sizeof(key), "approval:%lld:0", (long long)f->approval_id);
    rc = db_exec(f->db, "SELECT id FROM agents WHERE role IN (?, 'admin') AND active = 1 AND kind = 'person' "
                        "AND id <> ? ORDER BY id", DBP(P_S(role), P_I(chain.actor)), &r);
    if (!rc) {
        for (size_t i = 0; !rc && i < r.nrows; i++)
            rc = rules_reminder(f->db, "approval", db_cell_i64(&r, i, 0), 0, 0, msg, key, 0);
        db_result_free(&r);
    }
    json_t *after = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)f->approval_id, "summary", summary ? summary : dflt,
                              "role", role, "status", "pending");
    char *as = json_dumps(after, JSON_COMPACT);
    if (!rc)
        rc = db_exec(f->db, "INSERT INTO audit_log (actor_id, actor_type, action, object_type, object_id, after_json) "
                            "VALUES (?, ?, 'approval.requested', 'approval', ?, ?)",
                     DBP(P_IOPT(chain.actor), P_S(chain.actor ? "agent" : "system"), P_I(f->approval_id), P_S(as)), NULL);
    free(as);
    json_decref(after);
    if (!rc)
        rc = event_insert(f->db, "approval.updated", 0, 0, 0, 0,
                          json_pack("{s:I, s:s}", "approval_id", (json_int_t)f->approval_id, "status", "pending"));
    if (!rc)
        said(res, "held", "approval %lld requested from %s: %.200s", (long long)f->approval_id, role,
             summary ? summary : dflt);
    free(summary);
    return rc;
}

static const struct action_op ops[] = {
    {"tag", ON_CUSTOMER, 0, (const char *const[]){"tag", NULL}, check_tag, run_tag},
    {"untag", ON_CUSTOMER, 0, (const char *const[]){"tag", NULL}, check_tag, run_untag},
    {"set_field", ON_CUSTOMER, 0, (const char *const[]){"field", "value", NULL}, check_set_field, run_set_field},
    {"assign_owner", 1u << S_CUSTOMER | 1u << S_LEAD | 1u << S_DEAL, 0,
     (const char *const[]){"strategy", "agent_id", "only_unowned", NULL}, check_assign, run_assign},
    {"notify", ON_ANY, 0, (const char *const[]){"to", "role", "agent_id", "message", "kind", "once", NULL}, check_notify,
     run_notify},
    {"create_task", ON_CUSTOMER, 0, (const char *const[]){"title", "due_days", "assignee", "agent_id", NULL}, check_task,
     run_task},
    {"raise_priority", 1u << S_TICKET, 0, (const char *const[]){"priority", NULL}, check_priority, run_priority},
    {"enrol_sequence", ON_CUSTOMER, 0, (const char *const[]){"sequence_id", NULL}, check_sequence, run_sequence},
    {"send_template", ON_CUSTOMER, 0, (const char *const[]){"template_id", NULL}, check_send, run_send},
    {"call_webhook", ON_ANY, 0, (const char *const[]){"webhook_id", NULL}, check_webhook, run_webhook},
    {"advance_lifecycle", 1u << S_DEAL, 0, (const char *const[]){NULL}, NULL, run_lifecycle},
    {"request_approval", 1u << S_CAMPAIGN, 1, (const char *const[]){"role", "summary", NULL}, check_approval,
     run_approval},
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static const struct action_op *op_named(const char *type)
{
    for (size_t i = 0; type && i < NOPS; i++)
        if (strcmp(ops[i].type, type) == 0)
            return &ops[i];
    return NULL;
}

/* ---- validation ---- */

static void check_action(struct db *db, struct jf *f, json_t *a, size_t i, const struct trigger *t, enum subject s)
{
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "actions[%zu]", i);
    if (!json_is_object(a)) {
        jf_fail(f, prefix, "must be an object with a type");
        return;
    }
    struct jf g;
    jf_init(&g, a);
    const struct action_op *op = op_named(astr(a, "type"));
    if (!op) {
        jf_fail(&g, "type", "unknown action type");
        jf_absorb(f, &g, prefix);
        return;
    }
    const char *allowed[12] = {"type"};
    size_t n = 1;
    for (size_t k = 0; op->params[k] && n < 11; k++)
        allowed[n++] = op->params[k];
    allowed[n] = NULL;
    jf_only(&g, allowed);
    if (op->check)
        op->check(db, &g, a);
    if (t && !(op->subjects & (1u << s)))
        jf_fail(&g, "type", "does not apply to this trigger's record");
    if (t && op->gate_only && !t->gate)
        jf_fail(&g, "type", "only a gate trigger (campaign.start_requested) can wait for an approval");
    jf_absorb(f, &g, prefix);
}

static enum subject subject_for(const struct trigger *t, const char *schedule_record)
{
    if (t && strcmp(t->name, "schedule") == 0 && schedule_record && strcmp(schedule_record, "deal") == 0)
        return S_DEAL;
    return t ? t->subject : S_CUSTOMER;
}

int rules_check(struct db *db, struct jf *f, const char *trigger, const char *schedule_record, const char *conditions,
                json_t *actions)
{
    const struct trigger *t = trigger_named(trigger);
    if (trigger && !t)
        jf_fail(f, "trigger", "unknown trigger");
    if (t && strcmp(t->name, "schedule") == 0 && (!schedule_record || (strcmp(schedule_record, "customer") != 0 &&
                                                                        strcmp(schedule_record, "deal") != 0)))
        jf_fail(f, "schedule_record", "a schedule rule is about customer or deal records");
    enum subject s = subject_for(t, schedule_record);
    if (t && conditions && *conditions) {
        struct segment_sql seg;
        char why[300];
        int rc = compile_conditions(db, conditions, s, t, &seg, why, sizeof(why));
        segment_sql_free(&seg);
        if (rc < 0)
            return rc;
        if (rc == 1)
            jf_fail(f, "conditions", why);
    }
    if (actions && (!json_is_array(actions) || json_array_size(actions) > 20))
        jf_fail(f, "actions", "must be an array of at most 20 actions");
    else if (actions) {
        size_t i;
        json_t *a;
        json_array_foreach(actions, i, a) {
            check_action(db, f, a, i, t, s);
        }
    }
    return DB_OK;
}

/* ---- evaluation ---- */

struct subject_facts {
    const char *tag;
    int64_t audience;
};

/* Compiled once per loaded rule: inside a rules batch the loaded rules are kept, so a
 * batch of events compiles each rule's conditions once, not once per event. */
static int rule_conditions(struct db *db, struct rule *r)
{
    if (r->compiled)
        return DB_OK;
    char why[300];
    int rc = compile_conditions(db, r->conditions, r->subject, r->trg, &r->cond, why, sizeof(why));
    if (rc) {
        segment_sql_free(&r->cond);
        if (rc != 1)
            return rc;
        log_warn("rules", "rule %lld: conditions no longer compile: %s", (long long)r->id, why);
    }
    r->compiled = rc ? -1 : 1; /* -1: a field it names was deleted since: the rule cannot match */
    return DB_OK;
}

static int matches(struct db *db, struct rule *r, int64_t record, const struct subject_facts *sf, int *yes)
{
    *yes = 0;
    const struct db_param pre[] = {P_S(sf && sf->tag ? sf->tag : NULL), P_I(sf ? sf->audience : 0), P_I(record)};
    struct db_result res;
    int empty = !r->conditions || !*r->conditions;
    int rc = empty ? DB_OK : rule_conditions(db, r);
    if (rc || r->compiled < 0)
        return rc;
    rc = empty ? segment_exec(db, subject_from[r->subject], NULL, "TRUE LIMIT 1", pre, 3, NULL, 0, &res)
               : segment_exec(db, subject_from[r->subject], &r->cond, " LIMIT 1", pre, 3, NULL, 0, &res);
    if (rc)
        return rc;
    *yes = res.nrows > 0;
    db_result_free(&res);
    return DB_OK;
}

/* The firing's records: ids and the template data. */
static int load_facts(struct firing *f, const struct subject_facts *sf)
{
    static const char *const sql[] = {
        [S_LEAD] = "SELECT id, name, company, email, phone, source, grade, region, owner_id, status, customer_id "
                   "FROM leads WHERE id = ?",
        [S_TICKET] = "SELECT id, subject, channel, status, priority, customer_id, assignee_id, team_id FROM tickets "
                     "WHERE id = ?",
        [S_CAMPAIGN] = "SELECT id, name, channel, status, created_by FROM campaigns WHERE id = ?",
    };
    enum subject s = f->r->subject;
    json_t *rec = NULL, *cust = NULL;
    int rc = DB_OK;
    f->customer = f->deal = 0;
    if (s == S_CUSTOMER)
        f->customer = f->record;
    else if (s == S_DEAL && (rc = deal_load(f->db, NULL, f->record, &rec)) == DB_OK && rec) {
        f->deal = f->record;
        f->customer = json_integer_value(json_object_get(rec, "customer_id"));
    } else if (s != S_DEAL && (rc = db_row_json_of(f->db, sql[s], DBP(P_I(f->record)), &rec)) == DB_OK && rec)
        f->customer = json_integer_value(json_object_get(rec, "customer_id"));
    if (!rc && rec && s == S_CAMPAIGN)
        json_object_set_new(rec, "audience", json_integer(sf ? sf->audience : 0));
    if (!rc && f->customer)
        rc = customer_load(f->db, NULL, f->customer, &cust);
    if (!rc && cust) {
        int64_t days = 0;
        rc = db_scalar_i64(f->db, "SELECT DATEDIFF(CURDATE(), COALESCE(last_followup_at, created_at)) FROM customers "
                                  "WHERE id = ?", DBP(P_I(f->customer)), 0, &days);
        json_object_set_new(cust, "followup_days", json_integer(days));
    }
    f->ctx = json_object();
    if (rec)
        json_object_set_new(f->ctx, subject_names[s], rec);
    if (cust)
        json_object_set_new(f->ctx, "customer", cust);
    if (sf && sf->tag)
        json_object_set_new(f->ctx, "event", json_pack("{s:s}", "tag", sf->tag));
    return rc;
}

static int log_firing(struct db *db, const struct rule *r, const struct firing *f, const char *outcome,
                      const char *reason, json_t *results)
{
    if (chain.collect) {
        json_t *c = json_pack("{s:I, s:s, s:b, s:s, s:s?, s:O?, s:i}", "rule_id", (json_int_t)r->id, "name", r->name,
                              "matched", 1, "outcome", outcome, "reason", reason, "actions", results, "depth", chain.depth + 1);
        json_array_append_new(chain.collect, c);
    }
    if (!r->id) /* a draft being tried: nothing to log against */
        return DB_OK;
    char *a = results ? json_dumps(results, JSON_COMPACT) : NULL;
    int rc = db_exec(db, "INSERT INTO rule_firings (rule_id, rule_version, trigger_kind, event_id, record_type, record_id, "
                         "outcome, reason, actions, depth) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     DBP(P_I(r->id), P_I(r->version), P_S(r->trg->name), P_IOPT(f->event_id),
                         P_S(subject_names[r->subject]), P_I(f->record), P_S(outcome), P_S(reason), P_S(a),
                         P_I(chain.depth + 1)), NULL);
    free(a);
    return rc;
}

static int log_stopped(struct db *db, const struct rule *r, const struct firing *f, const char *reason)
{
    json_t *none = json_array();
    int rc = log_firing(db, r, f, "stopped", reason, none);
    json_decref(none);
    return rc;
}

static int is_fatal(int rc)
{
    return rc == DB_ERETRY || rc == DB_EGONE;
}

/* Runs the actions under savepoint `depth`; a failure undoes them. *outcome: done,
 * failed or held. */
static int run_actions(struct firing *f, const char **outcome, char *reason, size_t rsz)
{
    int d = chain.depth;
    int rc = db_exec(f->db, sp_set[d], DBP0, NULL);
    if (rc)
        return rc;
    chain.ids[d] = f->r->id;
    text_copy(chain.names[d], sizeof(chain.names[d]), f->r->name);
    chain.depth++;
    *outcome = "done";
    size_t i;
    json_t *a;
    json_array_foreach(f->r->actions, i, a) {
        struct act_result res = {.outcome = "done"};
        const struct action_op *op = op_named(astr(a, "type"));
        int arc = op && (op->subjects & (1u << f->r->subject)) ? op->run(f, a, &res) : 1;
        if (!op)
            said(&res, "failed", "unknown action type");
        if (is_fatal(arc)) {
            rc = arc;
            break;
        }
        if (arc < 0)
            said(&res, "failed", "database error: %.200s", db_error(f->db));
        else if (arc > 0 && strcmp(res.outcome, "failed") != 0)
            said(&res, "failed", "does not apply to a %s", subject_names[f->r->subject]);
        json_array_append_new(f->results, json_pack("{s:s, s:s, s:s}", "type", op ? op->type : "?", "outcome",
                                                    res.outcome, "detail", res.detail));
        if (strcmp(res.outcome, "held") == 0)
            *outcome = "held";
        if (strcmp(res.outcome, "failed") == 0) {
            *outcome = "failed";
            snprintf(reason, rsz, "action %zu (%s) failed: %s; the rule's other actions were undone", i + 1,
                     op ? op->type : "?", res.detail);
            rc = db_exec(f->db, sp_undo[d], DBP0, NULL);
            f->approval_id = 0;
            break;
        }
    }
    chain.depth--;
    return rc;
}

/* One rule for one record: evaluate, guard the chain, act, log. */
static int fire(struct db *db, struct rule *r, int64_t record, int64_t event_id, const char *occasion,
                const struct subject_facts *sf, int64_t *approval_id)
{
    int yes = 0;
    int rc = matches(db, r, record, sf, &yes);
    if (rc || !yes)
        return rc;
    struct firing f = {.db = db, .r = r, .record = record, .event_id = event_id};
    text_copy(f.occasion, sizeof(f.occasion), occasion);
    char reason[600] = "";
    for (int i = 0; i < chain.depth; i++)
        if (chain.ids[i] == r->id) {
            char path[400];
            chain_text(path, sizeof(path), r->name);
            snprintf(reason, sizeof(reason), "loop: rule %lld already ran in this chain (%s)", (long long)r->id, path);
            return log_stopped(db, r, &f, reason);
        }
    if (chain.depth >= RULES_MAX_DEPTH) {
        char path[400];
        chain_text(path, sizeof(path), r->name);
        snprintf(reason, sizeof(reason), "depth limit: a chain of at most %d rules (%s)", RULES_MAX_DEPTH, path);
        return log_stopped(db, r, &f, reason);
    }
    f.results = json_array();
    const char *outcome = "done";
    rc = load_facts(&f, sf);
    if (!rc)
        rc = run_actions(&f, &outcome, reason, sizeof(reason));
    if (!rc)
        rc = log_firing(db, r, &f, outcome, reason[0] ? reason : NULL, f.results);
    if (!rc && approval_id && f.approval_id)
        *approval_id = f.approval_id;
    json_decref(f.results);
    json_decref(f.ctx);
    return rc;
}

/* The enabled rules of each trigger read during this thread's rules batch (bit i of
 * loaded: held[i] has triggers[i]'s, possibly none), kept until the batch ends. */
static __thread struct {
    int open;
    uint32_t loaded;
    struct {
        struct rule *v;
        size_t n;
    } held[NTRIGGERS];
} batch;
_Static_assert(NTRIGGERS <= 32, "one bit per trigger");

static void rules_free(struct rule *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rule_clear(&v[i]);
    free(v);
}

void rules_batch_begin(void)
{
    rules_batch_end();
    batch.open = 1;
}

void rules_batch_end(void)
{
    for (size_t i = 0; i < NTRIGGERS; i++)
        if (batch.loaded & (1u << i))
            rules_free(batch.held[i].v, batch.held[i].n);
    memset(&batch, 0, sizeof(batch));
}

#define RULE_COLUMNS "SELECT id, version, name, conditions, actions, schedule_record FROM rules "

/* Row i of a RULE_COLUMNS result into *out, a rule of trigger t. */
static void rule_from_row(const struct db_result *r, size_t i, const struct trigger *t, struct rule *out)
{
    memset(out, 0, sizeof(*out));
    out->id = db_cell_i64(r, i, 0);
    out->version = db_cell_i64(r, i, 1);
    text_copy(out->name, sizeof(out->name), db_cell(r, i, 2));
    out->conditions = strdup(db_cell(r, i, 3) ? db_cell(r, i, 3) : "");
    out->actions = json_loads(db_cell(r, i, 4), 0, NULL);
    if (!json_is_array(out->actions)) {
        json_decref(out->actions);
        out->actions = json_array();
    }
    out->trg = t;
    out->subject = subject_for(t, db_cell(r, i, 5));
}

/* The enabled rules of a trigger, in order; give them back with rules_put. */
static int load_rules(struct db *db, const struct trigger *t, struct rule **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t ti = (size_t)(t - triggers);
    if (batch.open && (batch.loaded & (1u << ti))) {
        *out = batch.held[ti].v;
        *n = batch.held[ti].n;
        return DB_OK;
    }
    struct db_result r;
    int rc = db_exec(db, RULE_COLUMNS "WHERE enabled = 1 AND trigger_kind = ? ORDER BY position, id",
                     DBP(P_S(t->name)), &r);
    if (rc)
        return rc;
    struct rule *v = r.nrows ? calloc(r.nrows, sizeof(*v)) : NULL;
    if (r.nrows && !v) {
        db_result_free(&r);
        return DB_EOTHER;
    }
    for (size_t i = 0; i < r.nrows; i++)
        rule_from_row(&r, i, t, &v[i]);
    *n = r.nrows;
    *out = v;
    db_result_free(&r);
    if (batch.open) {
        batch.held[ti].v = v;
        batch.held[ti].n = *n;
        batch.loaded |= 1u << ti;
    }
    return DB_OK;
}

/* Frees what load_rules gave unless the open batch keeps it. */
static void rules_put(const struct trigger *t, struct rule *v, size_t n)
{
    size_t ti = (size_t)(t - triggers);
    if (batch.open && (batch.loaded & (1u << ti)) && batch.held[ti].v == v)
        return;
    rules_free(v, n);
}

static int64_t payload_id(json_t *payload, const char *obj, const char *key)
{
    json_t *o = obj ? json_object_get(payload, obj) : payload;
    return json_integer_value(json_object_get(o, key));
}

static int64_t event_record(const struct trigger *t, int64_t ticket_id, int64_t customer_id, json_t *payload)
{
    switch (t->subject) {
    case S_CUSTOMER:
        if (customer_id)
            return customer_id;
        return payload_id(payload, "customer", "id") ? payload_id(payload, "customer", "id")
                                                     : payload_id(payload, "activity", "customer_id");
    case S_LEAD:
        return payload_id(payload, "lead", "id");
    case S_DEAL:
        return payload_id(payload, "deal", "id");
    case S_TICKET:
        return ticket_id ? ticket_id : payload_id(payload, NULL, "ticket_id");
    default:
        return 0;
    }
}

int rules_listening(struct db *db, const char *kind, int *heard)
{
    *heard = 0;
    int rc = DB_OK;
    for (size_t i = 0; !rc && !*heard && i < NTRIGGERS; i++) {
        if (!triggers[i].event || strcmp(triggers[i].event, kind) != 0)
            continue;
        struct rule *v;
        size_t n;
        rc = load_rules(db, &triggers[i], &v, &n); /* once a batch inside rules_batch */
        *heard = n > 0;
        rules_put(&triggers[i], v, n);
    }
    return rc;
}

static int run_trigger(struct db *db, const struct trigger *t, int64_t record, int64_t event_id, const char *occasion,
                       const struct subject_facts *sf, int64_t *approval_id)
{
    struct rule *v;
    size_t n;
    int rc = load_rules(db, t, &v, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = fire(db, &v[i], record, event_id, occasion, sf, approval_id);
    rules_put(t, v, n);
    return rc;
}

int rules_on_event(struct db *db, int64_t event_id, const char *kind, int64_t ticket_id, int64_t customer_id,
                   json_t *payload)
{
    int rc = DB_OK;
    for (size_t i = 0; !rc && i < NTRIGGERS; i++) {
        const struct trigger *t = &triggers[i];
        if (!t->event || strcmp(t->event, kind) != 0)
            continue;
        const char *status = json_string_value(json_object_get(json_object_get(payload, "deal"), "status"));
        if (t->status && (!status || strcmp(status, t->status) != 0))
            continue;
        int64_t record = event_record(t, ticket_id, customer_id, payload);
        if (!record)
            continue;
        struct subject_facts sf = {.tag = json_string_value(json_object_get(payload, "tag"))};
        char occasion[32];
        snprintf(occasion, sizeof(occasion), "e%lld", (long long)event_id);
        rc = run_trigger(db, t, record, event_id, occasion, &sf, NULL);
    }
    return rc;
}

/* ---- gates, dry runs and schedules ---- */

/* How many customers a campaign's segment holds now (0 when its rule no longer compiles). */
static int campaign_audience(struct db *db, int64_t campaign, int64_t *n)
{
    *n = 0;
    struct db_result r;
    int rc = db_exec(db, "SELECT s.rule FROM campaigns cp JOIN segments s ON s.id = cp.segment_id WHERE cp.id = ?",
                     DBP(P_I(campaign)), &r);
    if (rc || !r.nrows) {
        if (!rc)
            db_result_free(&r);
        return rc;
    }
    struct segment_sql seg;
    char why[300];
    rc = customer_rule_compile(db, db_cell(&r, 0, 0) ? db_cell(&r, 0, 0) : "", &seg, why, sizeof(why));
    db_result_free(&r);
    if (rc == 1) {
        segment_sql_free(&seg);
        return DB_OK;
    }
    if (!rc)
        rc = segment_exec(db, "SELECT COUNT(*) FROM customers c WHERE c.merged_into IS NULL AND ", &seg, "", NULL, 0, NULL,
                          0, &r);
    segment_sql_free(&seg);
    if (rc)
        return rc;
    *n = db_cell_i64(&r, 0, 0);
    db_result_free(&r);
    return DB_OK;
}

static int facts_for(struct db *db, enum subject s, int64_t record, struct subject_facts *sf)
{
    memset(sf, 0, sizeof(*sf));
    return s == S_CAMPAIGN ? campaign_audience(db, record, &sf->audience) : DB_OK;
}

int rules_gate(struct db *db, const char *trigger, int64_t record_id, int64_t actor, int64_t *approval_id)
{
    *approval_id = 0;
    const struct trigger *t = trigger_named(trigger);
    if (!t || !t->gate)
        return DB_EOTHER;
    struct subject_facts sf;
    int64_t saved = chain.actor;
    chain.actor = actor;
    int rc = facts_for(db, t->subject, record_id, &sf);
    if (!rc) {
        char occasion[40];
        snprintf(occasion, sizeof(occasion), "g%lld", (long long)time(NULL));
        rc = run_trigger(db, t, record_id, 0, occasion, &sf, approval_id);
    }
    chain.actor = saved;
    return rc;
}

int rules_dry_run(struct db *db, json_t *def, int64_t record_id, int64_t actor, json_t **out)
{
    *out = NULL;
    struct rule r = {.id = json_integer_value(json_object_get(def, "id")),
                     .version = json_integer_value(json_object_get(def, "version"))};
    r.trg = trigger_named(json_string_value(json_object_get(def, "trigger")));
    if (!r.trg)
        return DB_EOTHER;
    r.subject = subject_for(r.trg, json_string_value(json_object_get(def, "schedule_record")));
    text_copy(r.name, sizeof(r.name), json_string_value(json_object_get(def, "name")) ? json_string_value(json_object_get(def, "name")) : "(draft)");
    const char *cond = json_string_value(json_object_get(def, "conditions"));
    r.conditions = strdup(cond ? cond : "");
    r.actions = json_incref(json_object_get(def, "actions"));
    int64_t exists = 0;
    int rc = db_scalar_i64(db, subject_exists[r.subject], DBP(P_I(record_id)), 0, &exists);
    if (rc || !exists) {
        rule_clear(&r);
        return rc ? rc : 1;
    }
    struct subject_facts sf;
    rc = facts_for(db, r.subject, record_id, &sf);
    struct chain saved = chain;
    memset(&chain, 0, sizeof(chain));
    chain.actor = actor;
    chain.collect = json_array();
    if (!rc)
        rc = fire(db, &r, record_id, 0, "dry", &sf, NULL);
    json_t *seen = chain.collect;
    chain = saved;
    if (!rc) {
        json_t *top = NULL, *chained = json_array(), *x;
        size_t i;
        json_array_foreach(seen, i, x) {
            if (!top && json_integer_value(json_object_get(x, "depth")) == 1)
                top = x;
            else
                json_array_append(chained, x);
        }
        json_t *acts = top ? json_object_get(top, "actions") : NULL;
        acts = acts ? json_incref(acts) : json_array();
        *out = json_pack("{s:b, s:s?, s:s?, s:o, s:o}", "matched", top != NULL, "outcome",
                         top ? json_string_value(json_object_get(top, "outcome")) : NULL, "reason",
                         top ? json_string_value(json_object_get(top, "reason")) : NULL, "actions", acts,
                         "chained", chained);
    }
    json_decref(seen);
    rule_clear(&r);
    return rc;
}

/* The records a schedule rule matches that it has not fired for: head/tail around its
 * conditions; the records that stopped matching: stale. */
static const char *const sched_new[] = {
    [S_CUSTOMER] = "SELECT c.id FROM customers c WHERE c.merged_into IS NULL AND NOT EXISTS (SELECT 1 FROM rule_matches m "
                   "WHERE m.rule_id = ? AND m.record_id = c.id) AND ",
    [S_DEAL] = "SELECT d.id FROM deals d JOIN pipeline_stages ds ON ds.id = d.stage_id LEFT JOIN customers c ON "
               "c.id = d.customer_id WHERE NOT EXISTS (SELECT 1 FROM rule_matches m WHERE m.rule_id = ? AND "
               "m.record_id = d.id) AND ",
};
static const char *const sched_stale[] = {
    [S_CUSTOMER] = "SELECT m.record_id FROM rule_matches m LEFT JOIN customers c ON c.id = m.record_id "
                   "AND c.merged_into IS NULL AND ",
    [S_DEAL] = "SELECT m.record_id FROM rule_matches m LEFT JOIN (deals d JOIN pipeline_stages ds ON ds.id = d.stage_id "
               "LEFT JOIN customers c ON c.id = d.customer_id) ON d.id = m.record_id AND ",
};

static int schedule_rule(struct db *db, struct rule *r, int *done)
{
    int empty = !*r->conditions, rc = empty ? DB_OK : rule_conditions(db, r);
    if (rc || r->compiled < 0)
        return rc;
    struct db_result stale, fresh;
    const struct db_param id[] = {P_I(r->id)};
    const struct segment_sql *cond = empty ? NULL : &r->cond;
    rc = segment_exec(db, sched_stale[r->subject], cond,
                      r->subject == S_DEAL ? (empty ? "TRUE WHERE m.rule_id = ? AND d.id IS NULL LIMIT 5000"
                                                    : " WHERE m.rule_id = ? AND d.id IS NULL LIMIT 5000")
                                           : (empty ? "TRUE WHERE m.rule_id = ? AND c.id IS NULL LIMIT 5000"
                                                    : " WHERE m.rule_id = ? AND c.id IS NULL LIMIT 5000"),
                      NULL, 0, id, 1, &stale);
    if (!rc) {
        for (size_t i = 0; !rc && i < stale.nrows; i++)
            rc = db_exec(db, "DELETE FROM rule_matches WHERE rule_id = ? AND record_id = ?",
                         DBP(P_I(r->id), P_I(db_cell_i64(&stale, i, 0))), NULL);
        db_result_free(&stale);
    }
    if (!rc)
        rc = segment_exec(db, sched_new[r->subject], cond, empty ? "TRUE LIMIT 500" : " LIMIT 500", id, 1, NULL, 0,
                          &fresh);
    if (rc)
        return rc;
    char occasion[40];
    snprintf(occasion, sizeof(occasion), "s%lld", (long long)time(NULL));
    for (size_t i = 0; !rc && i < fresh.nrows; i++) {
        int64_t rec = db_cell_i64(&fresh, i, 0);
        rc = db_exec(db, "INSERT IGNORE INTO rule_matches (rule_id, record_id) VALUES (?, ?)", DBP(P_I(r->id), P_I(rec)),
                     NULL);
        if (!rc)
            rc = fire(db, r, rec, 0, occasion, NULL, NULL);
        if (!rc)
            (*done)++;
    }
    db_result_free(&fresh);
    return rc;
}

struct sched_arg {
    int64_t rule_id;
    int *done;
};

static int schedule_tx(struct db *db, void *arg)
{
    struct sched_arg *a = arg;
    static const struct trigger *sched;
    if (!sched)
        sched = trigger_named("schedule");
    struct db_result r;
    /* the rule row is the lock: two processes never evaluate one rule at once */
    int rc = db_exec(db, RULE_COLUMNS "WHERE id = ? AND enabled = 1 AND trigger_kind = 'schedule' FOR UPDATE",
                     DBP(P_I(a->rule_id)), &r);
    if (rc || !r.nrows) {
        if (!rc)
            db_result_free(&r);
        return rc;
    }
    struct rule rule;
    rule_from_row(&r, 0, sched, &rule);
    db_result_free(&r);
    rc = schedule_rule(db, &rule, a->done);
    rule_clear(&rule);
    return rc;
}

/* Approvals still pending after remind_hours remind their approvers again. */
static int approvals_tx(struct db *db, void *arg)
{
    const int *hours = arg;
    struct db_result r;
    int rc = db_exec(db, "SELECT p.id, p.role, p.summary, COALESCE(p.requested_by, 0), "
                         "TIMESTAMPDIFF(HOUR, p.created_at, NOW(3)) FROM approvals p WHERE p.status = 'pending' "
                         "AND COALESCE(p.reminded_at, p.created_at) < NOW(3) - INTERVAL ? HOUR LIMIT 200 FOR UPDATE SKIP LOCKED",
                     DBP(P_I(*hours)), &r);
    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        int64_t id = db_cell_i64(&r, i, 0);
        char msg[700], key[64];
        snprintf(msg, sizeof(msg), "Still waiting for your approval (%lld h): %.600s", (long long)db_cell_i64(&r, i, 4),
                 db_cell(&r, i, 2));
        snprintf(key, sizeof(key), "approval:%lld:%lld", (long long)id, (long long)time(NULL));
        struct db_result who;
        rc = db_exec(db, "SELECT id FROM agents WHERE role IN (?, 'admin') AND active = 1 AND kind = 'person' AND id <> ?",
                     DBP(P_S(db_cell(&r, i, 1)), P_I(db_cell_i64(&r, i, 3))), &who);
        if (!rc) {
            for (size_t k = 0; !rc && k < who.nrows; k++)
                rc = rules_reminder(db, "approval", db_cell_i64(&who, k, 0), 0, 0, msg, key, 0);
            db_result_free(&who);
        }
        if (!rc)
            rc = db_exec(db, "UPDATE approvals SET reminded_at = NOW(3) WHERE id = ?", DBP(P_I(id)), NULL);
    }
    db_result_free(&r);
    return rc;
}

int rules_schedule_pass(struct db *db, int remind_hours, int *done)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT id FROM rules WHERE enabled = 1 AND trigger_kind = 'schedule' ORDER BY position, id",
                     DBP0, &r);
    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        struct sched_arg a = {.rule_id = db_cell_i64(&r, i, 0), .done = done};
        rc = db_transaction(db, schedule_tx, &a);
    }
    db_result_free(&r);
    if (!rc)
        rc = db_transaction(db, approvals_tx, &remind_hours);
    return rc;
}

/* crm.c — the CRM worker; see crm.h. */
#include "crm.h"
#include "gateway/bgthread.h"
#include "gateway/customers.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/buf.h"
#include "gateway/log.h"
#include "gateway/rules.h"
#include "gateway/segment.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_CHUNK 500   /* customers examined per statement */
#define EVENTS_PER_PASS 1000
#define DELIVER_PER_PASS 200

static struct bgthread bg = BGTHREAD_INIT;
static const struct sb_config *cfg;

struct tag_rule {
    int64_t id, tag_id;
    char tag[65], event_kind[65];
    int notify_owner;
    struct segment_sql seg;
};

struct rules {
    struct tag_rule *v;
    size_t n;
};

static void rules_free(struct rules *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        segment_sql_free(&rs->v[i].seg);
    free(rs->v);
    rs->n = 0;
    rs->v = NULL;
}

static int tag_id_for(struct db *db, const char *name, int64_t *id)
{
    struct db_result r;
    int rc = db_exec(db, "INSERT INTO tags (name) VALUES (?) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
                     DBP(P_S(name)), &r);
    if (rc)
        return rc;
    *id = (int64_t)r.insert_id;
    db_result_free(&r);
    return DB_OK;
}

/* Enabled rules, compiled against the current custom fields. A rule that no longer
 * compiles (a custom field was deleted) is skipped with a warning. */
static int load_rules(struct db *db, struct rules *rs)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT id, tag, event_kind, rule, notify_owner FROM tag_rules WHERE enabled = 1 ORDER BY id", DBP0, &r);
    if (rc)
        return rc;
    rs->v = calloc(r.nrows ? r.nrows : 1, sizeof(*rs->v));
    rs->n = 0;
    for (size_t i = 0; rs->v && i < r.nrows && !rc; i++) {
        struct tag_rule *t = &rs->v[rs->n];
        char why[260];
        int ok = customer_rule_compile(db, db_cell(&r, i, 3), &t->seg, why, sizeof(why));
        if (ok == 1) {
            log_warn("crm", "event=tag_rule_broken rule=%lld reason=\"%s\"", (long long)db_cell_i64(&r, i, 0), why);
            segment_sql_free(&t->seg);
            continue;
        }
        if ((rc = ok))
            break;
        t->id = db_cell_i64(&r, i, 0);
        snprintf(t->tag, sizeof(t->tag), "%s", db_cell(&r, i, 1));
        snprintf(t->event_kind, sizeof(t->event_kind), "%s", db_cell(&r, i, 2));
        t->notify_owner = (int)db_cell_i64(&r, i, 4);
        rs->n++;
        rc = tag_id_for(db, t->tag, &t->tag_id);
    }
    db_result_free(&r);
    return rs->v ? rc : DB_EOTHER;
}

/* ---- tagging ---- */

/* Records one tagging (or untagging) of customer row i of r: audit, event, notice. */
static int tagged_one(struct db *db, const struct tag_rule *t, const struct db_result *r, size_t i, int added)
{
    int64_t cust = db_cell_i64(r, i, 0), owner = db_cell_i64(r, i, 1);
    json_t *a = json_pack("{s:s, s:I, s:b}", "tag", t->tag, "rule_id", (json_int_t)t->id, "added", added);
    char *as = json_dumps(a, JSON_COMPACT);
    int rc = db_exec(db, "INSERT INTO audit_log (actor_type, action, object_type, object_id, after_json) "
                         "VALUES ('system', ?, 'customer', ?, ?)",
                     DBP(P_S(added ? "customer.tagged" : "customer.untagged"), P_I(cust), P_S(as)), NULL);
    free(as);
    if (!rc)
        rc = event_insert_crm(db, added ? "customer.tagged" : "customer.untagged", cust, owner, db_cell(r, i, 2),
                              json_pack("{s:I, s:s, s:I}", "customer_id", (json_int_t)cust, "tag", t->tag, "rule_id",
                                        (json_int_t)t->id));
    json_decref(a);
    if (rc || !added || !t->notify_owner || !owner)
        return rc;
    char msg[400], key[120];
    snprintf(msg, sizeof(msg), "%.150s is now tagged %.64s", db_cell(r, i, 3), t->tag);
    snprintf(key, sizeof(key), "tag:%lld:%lld:%s", (long long)t->id, (long long)cust, db_cell(r, i, 4));
    return db_exec(db, "INSERT IGNORE INTO reminders (kind, agent_id, customer_id, message, dedupe_key) "
                       "VALUES ('tag', ?, ?, ?, ?)", DBP(P_I(owner), P_I(cust), P_S(msg), P_S(key)), NULL);
}

/* The statement "customers (of ids, or all) matching the rule, not yet tagged", or
 * "customers this rule tagged that match no more" (untag). Parameters: tag, rule id
 * (untag only), the rule's, ids. */
#define CANDIDATES "SELECT c.id, COALESCE(c.owner_id, 0), c.region, c.name, DATE_FORMAT(NOW(), '%Y%m%d') FROM customers c "

static int select_candidates(struct db *db, const struct tag_rule *t, const int64_t *ids, size_t n, int untag,
                             struct db_result *r)
{
    struct buf tail;
    buf_init(&tail, 0);
    buf_puts(&tail, untag ? " IS NOT TRUE" : "");
    if (n) {
        buf_puts(&tail, " AND c.id IN ");
        db_put_placeholders(&tail, n);
    }
    buf_puts(&tail, " ORDER BY c.id LIMIT 1000");
    const struct db_param pre[] = {P_I(t->tag_id), P_I(t->id)};
    struct db_param *in = n ? calloc(n, sizeof(*in)) : NULL;
    for (size_t i = 0; in && i < n; i++)
        in[i] = P_I(ids[i]);
    int rc = DB_EOTHER;
    if (tail.data && (in || !n))
        rc = segment_exec(db, untag ? CANDIDATES "JOIN customer_tags x ON x.customer_id = c.id AND x.tag_id = ? "
                                                 "AND x.rule_id = ? WHERE "
                                    : CANDIDATES "WHERE c.merged_into IS NULL AND NOT EXISTS (SELECT 1 FROM customer_tags x "
                                                 "WHERE x.customer_id = c.id AND x.tag_id = ?) AND ",
                          &t->seg, tail.data, pre, untag ? 2 : 1, in, n, r);
    free(in);
    buf_free(&tail);
    return rc;
}

static int apply_rule(struct db *db, const struct tag_rule *t, const int64_t *ids, size_t n, int untag, int *done)
{
    struct db_result r;
    int rc = select_candidates(db, t, ids, n, untag, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        int64_t cust = db_cell_i64(&r, i, 0);
        if (untag)
            rc = db_exec(db, "DELETE FROM customer_tags WHERE customer_id = ? AND tag_id = ? AND rule_id = ?",
                         DBP(P_I(cust), P_I(t->tag_id), P_I(t->id)), NULL);
        else
            rc = db_exec(db, "INSERT IGNORE INTO customer_tags (customer_id, tag_id, rule_id) VALUES (?, ?, ?)",
                         DBP(P_I(cust), P_I(t->tag_id), P_I(t->id)), NULL);
        if (!rc)
            rc = tagged_one(db, t, &r, i, !untag);
        (*done)++;
    }
    if (!rc && r.nrows && !untag)
        rc = db_exec(db, "UPDATE tag_rules SET fired = fired + ? WHERE id = ?", DBP(P_I((int64_t)r.nrows), P_I(t->id)),
                     NULL);
    if (!rc || r.nrows)
        db_result_free(&r);
    return rc;
}

/* ---- step 1: rules triggered by events ---- */

static int event_rules_tx(struct db *db, void *arg)
{
    int *done = arg;
    int64_t last = 0;
    struct rules rs = {0};
    struct db_result ev;
    int settled = 0;
    int rc = event_cursor_take(db, "crm_events", cfg->crm.settle_ms * 1000, &last, &settled);
    if (!rc && !settled)
        return DB_OK;
    if (!rc)
        rc = db_exec(db, "SELECT id, kind, COALESCE(customer_id, 0), created_at < NOW(3) - INTERVAL ? MICROSECOND "
                         "FROM events WHERE id > ? ORDER BY id LIMIT ?",
                     DBP(P_I(cfg->crm.settle_ms * 1000), P_I(last), P_I(EVENTS_PER_PASS)), &ev);
    if (rc)
        return rc;
    event_keep_settled(&ev, 3);
    if (ev.nrows && !(rc = load_rules(db, &rs))) {
        int64_t *ids = calloc(ev.nrows, sizeof(*ids));
        for (size_t k = 0; ids && k < rs.n && !rc; k++) {
            const struct tag_rule *t = &rs.v[k];
            size_t n = 0;
            for (size_t i = 0; i < ev.nrows; i++)
                if (db_cell_i64(&ev, i, 2) && strcmp(db_cell(&ev, i, 1), t->event_kind) == 0)
                    ids[n++] = db_cell_i64(&ev, i, 2);
            for (size_t at = 0; at < n && !rc; at += TAG_CHUNK)
                rc = apply_rule(db, t, ids + at, n - at < TAG_CHUNK ? n - at : TAG_CHUNK, 0, done);
        }
        if (!ids)
            rc = DB_EOTHER;
        free(ids);
        if (!rc)
            rc = event_cursor_advance(db, "crm_events", db_cell_i64(&ev, ev.nrows - 1, 0));
    }
    rules_free(&rs);
    db_result_free(&ev);
    return rc;
}

/* ---- step 2: schedule rules ---- */

static int schedule_rules_tx(struct db *db, void *arg)
{
    int *done = arg;
    struct rules rs = {0};
    int rc = load_rules(db, &rs);
    for (size_t k = 0; !rc && k < rs.n; k++)
        if (strcmp(rs.v[k].event_kind, "schedule") == 0) {
            rc = apply_rule(db, &rs.v[k], NULL, 0, 0, done);
            if (!rc)
                rc = apply_rule(db, &rs.v[k], NULL, 0, 1, done);
        }
    rules_free(&rs);
    return rc;
}

/* ---- step 3: reminder policies ---- */

static int policies_tx(struct db *db, void *arg)
{
    int *done = arg;
    struct db_result r;
    int rc = db_exec(db,
                 "INSERT IGNORE INTO reminders (kind, agent_id, customer_id, deal_id, message, dedupe_key) "
                 "SELECT 'payment_due', d.owner_id, d.customer_id, d.id, "
                 "  CONCAT('Payment due ', DATE_FORMAT(d.payment_due, '%Y-%m-%d'), ': ', d.title), "
                 "  CONCAT('payment_due:', d.id, ':', DATE_FORMAT(d.payment_due, '%Y-%m-%d')) "
                 "FROM reminder_rules rr JOIN deals d "
                 "WHERE rr.kind = 'payment_due' AND rr.enabled = 1 AND d.status IN ('open', 'won') "
                 "AND d.owner_id IS NOT NULL AND d.payment_due IS NOT NULL "
                 "AND d.payment_due BETWEEN CURDATE() - INTERVAL 1 DAY AND CURDATE() + INTERVAL rr.days DAY LIMIT 5000",
                 DBP0, &r);
    if (rc)
        return rc;
    *done += (int)r.affected;
    db_result_free(&r);
    return DB_OK;
}

/* ---- step 4: delivery ---- */

static int notice_email(struct db *db, const struct db_result *r, size_t i)
{
    char subject[300];
    snprintf(subject, sizeof(subject), "Reminder: %.250s", db_cell(r, i, 5));
    json_t *p = json_pack("{s:b, s:s, s:s, s:s}", "notice", 1, "subject", subject, "body_text", db_cell(r, i, 5),
                          "to_name", db_cell(r, i, 8));
    char *ps = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    int rc = db_exec(db, "INSERT INTO outbox (channel, recipient, payload) VALUES ('email', ?, ?)",
                     DBP(P_S(db_cell(r, i, 7)), P_S(ps)), NULL);
    free(ps);
    return rc;
}

static int deliver_tx(struct db *db, void *arg)
{
    int *done = arg;
    struct db_result r;
    int rc = db_exec(db,
                     "SELECT r.id, r.kind, r.agent_id, COALESCE(r.customer_id, 0), COALESCE(r.deal_id, 0), r.message, "
                     "DATE_FORMAT(r.due_at, '%Y-%m-%dT%H:%i:%sZ'), a.email, a.name, COALESCE(a.team_id, 0) "
                     "FROM reminders r JOIN agents a ON a.id = r.agent_id "
                     "WHERE r.notified_at IS NULL AND r.done_at IS NULL AND r.due_at <= NOW(3) AND a.active = 1 "
                     "ORDER BY r.due_at, r.id LIMIT ? FOR UPDATE SKIP LOCKED",
                     DBP(P_I(DELIVER_PER_PASS)), &r);
    if (rc)
        return rc;
    int email = cfg->smtp.host[0] != '\0';
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        json_t *rem = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)db_cell_i64(&r, i, 0), "kind",
                                db_cell(&r, i, 1), "message", db_cell(&r, i, 5), "due_at", db_cell(&r, i, 6));
        if (db_cell_i64(&r, i, 3))
            json_object_set_new(rem, "customer_id", json_integer(db_cell_i64(&r, i, 3)));
        if (db_cell_i64(&r, i, 4))
            json_object_set_new(rem, "deal_id", json_integer(db_cell_i64(&r, i, 4)));
        rc = event_insert(db, "reminder.due", 0, 0, db_cell_i64(&r, i, 2), db_cell_i64(&r, i, 9),
                          json_pack("{s:o}", "reminder", rem));
        if (!rc && email)
            rc = notice_email(db, &r, i);
        if (!rc)
            rc = db_exec(db, "UPDATE reminders SET notified_at = NOW(3), emailed = ? WHERE id = ?",
                         DBP(P_I(email), P_I(db_cell_i64(&r, i, 0))), NULL);
        (*done)++;
    }
    db_result_free(&r);
    return rc;
}

int crm_run_once(const struct sb_config *config, struct db *db)
{
    cfg = config;
    int done = 0, rc;
    int (*steps[])(struct db *, void *) = {event_rules_tx, schedule_rules_tx, policies_tx, NULL, deliver_tx};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int n = 0;
        /* NULL: the rule engine's schedule rules and approval reminders (own transactions) */
        rc = steps[i] ? db_transaction(db, steps[i], &n)
                      : rules_schedule_pass(db, (int)cfg->rules.approval_remind_hours, &n);
        if (rc) {
            log_warn("crm", "event=step_failed step=%zu rc=%d", i, rc);
            return rc;
        }
        done += n;
    }
    if (done)
        event_tailer_wake();
    return done;
}

static void crm_main(struct bgthread *self)
{
    struct db *db = db_new(cfg, 1);
    int ms = (int)(cfg->crm.interval_secs * 1000);
    while (bgthread_wait(self, ms)) {
        int n = crm_run_once(cfg, db);
        if (n > 0)
            log_info("crm", "event=pass done=%d", n);
    }
    db_free(db);
}

int crm_worker_start(const struct sb_config *config)
{
    cfg = config;
    return bgthread_start(&bg, crm_main, NULL);
}

void crm_worker_stop(void)
{
    bgthread_stop(&bg);
}

/* campaigns.c — the campaign sender; see campaigns.h. */
#include "campaigns.h"
#include "gateway/api.h"
#include "gateway/auth.h"
#include "gateway/bgthread.h"
#include "gateway/campaigns.h"
#include "gateway/customers.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/scope.h"
#include "gateway/segment.h"
#include "gateway/sms_delivery.h"
#include "gateway/template.h"
#include "gateway/templates.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 20000         /* customers materialised per statement (and per transaction) */
#define BATCH_MAX 200      /* [campaigns] batch is at most this */
#define MAX_ATTEMPTS 3
#define RENDER_CAP (1024 * 1024) /* one rendered part */

static struct bgthread bg = BGTHREAD_INIT;
static const struct sb_config *cfg;
static const struct channel_ops *email_ops, *sms_ops;
static int window_from = -1, window_to = -1; /* minutes of the local day SMS may go out in */

static const char *identity_kind(const char *channel)
{
    return channel && strcmp(channel, "sms") == 0 ? "phone" : "email";
}

/* ---- materialising ---- */

/* The author's data scope (agent_info as auth would fill it). */
static int author_of(struct db *db, int64_t agent, struct agent_info *me)
{
    struct db_result r;
    memset(me, 0, sizeof(*me));
    me->scope = SCOPE_ALL;
    int rc = db_exec(db, "SELECT id, role, COALESCE(team_id, 0), COALESCE(region, ''), data_scope FROM agents WHERE id = ?",
                     DBP(P_I(agent)), &r);
    if (rc || !r.nrows) {
        if (!rc)
            db_result_free(&r);
        return rc;
    }
    me->id = db_cell_i64(&r, 0, 0);
    me->role_bit = auth_role_bit(db_cell(&r, 0, 1));
    me->team_id = db_cell_i64(&r, 0, 2);
    text_copy(me->region, sizeof(me->region), db_cell(&r, 0, 3));
    me->scope = scope_level_of(me->role_bit, db_cell(&r, 0, 4));
    db_result_free(&r);
    return DB_OK;
}

/* One page of the segment into the ledger. *done when the segment is exhausted. */
static int materialise_page(struct db *db, int64_t campaign, const char *channel, const struct segment_sql *seg,
                            const struct agent_info *me, int64_t *upto, int *done)
{
    /* joins, not per-row subqueries: a million customers in well under 30 s. A customer
     * with two primary addresses yields two rows; the UNIQUE key keeps the first. */
    const struct db_param head[] = {P_I(campaign), P_S(channel), P_S(identity_kind(channel)), P_S(channel), P_I(*upto)};
    const struct db_param tail[] = {SCOPE_PARAMS(me), P_I(PAGE)};
    int rc = segment_exec(db, "INSERT IGNORE INTO campaign_recipients (campaign_id, customer_id, channel, address, state, "
                              "skip_reason) SELECT ?, c.id, ?, " LEDGER_ADDRESS_COLUMNS "FROM customers c "
                              LEDGER_ADDRESS_JOINS("c.id") "WHERE c.merged_into IS NULL AND c.id > ? AND ",
                          seg, SCOPE_WHERE("c.owner_id", "c.region") " ORDER BY c.id LIMIT ?", head,
                          sizeof(head) / sizeof(head[0]), tail, sizeof(tail) / sizeof(tail[0]), NULL);
    if (rc)
        return rc;
    /* where the page ended: the highest customer of the campaign so far */
    int64_t last = *upto;
    rc = db_scalar_i64(db, "SELECT COALESCE(MAX(customer_id), ?) FROM campaign_recipients WHERE campaign_id = ?",
                       DBP(P_I(*upto), P_I(campaign)), *upto, &last);
    *done = last == *upto; /* nothing new: the segment is exhausted */
    *upto = last;
    return rc;
}

static int materialise_tx(struct db *db, void *arg)
{
    int *did = arg;
    struct db_result r;
    int rc = db_exec(db, "SELECT c.id, c.channel, s.rule, COALESCE(c.created_by, 0), c.materialized_upto FROM campaigns c "
                         "JOIN segments s ON s.id = c.segment_id WHERE c.status = 'starting' OR (c.status = 'scheduled' "
                         "AND c.scheduled_at <= NOW(3)) ORDER BY c.id LIMIT 1 FOR UPDATE SKIP LOCKED",
                     DBP0, &r);
    if (rc)
        return rc;
    if (!r.nrows) {
        db_result_free(&r);
        return DB_OK;
    }
    int64_t id = db_cell_i64(&r, 0, 0), upto = db_cell_i64(&r, 0, 4);
    char channel[8], why[260];
    text_copy(channel, sizeof(channel), db_cell(&r, 0, 1));
    struct segment_sql seg;
    memset(&seg, 0, sizeof(seg));
    struct agent_info me;
    rc = customer_rule_compile(db, db_cell(&r, 0, 2), &seg, why, sizeof(why));
    if (!rc)
        rc = author_of(db, db_cell_i64(&r, 0, 3), &me);
    db_result_free(&r);
    int done = 0;
    if (rc == 1) { /* the segment's rule no longer compiles (a custom field was deleted) */
        log_warn("campaigns", "event=segment_broken campaign=%lld reason=\"%s\"", (long long)id, why);
        rc = db_exec(db, "UPDATE campaigns SET status = 'paused' WHERE id = ?", DBP(P_I(id)), NULL);
    } else if (!rc) {
        rc = materialise_page(db, id, channel, &seg, &me, &upto, &done);
        if (!rc)
            rc = db_exec(db, "UPDATE campaigns SET materialized_upto = ?, status = IF(?, 'sending', 'starting'), "
                             "started_at = COALESCE(started_at, NOW(3)) WHERE id = ?",
                         DBP(P_I(upto), P_I(done), P_I(id)), NULL);
        *did = 1;
    }
    segment_sql_free(&seg);
    return rc;
}

/* ---- nurture sequences ---- */

/* New enrolments: customers tagged since the sequence was made, or in its segment (now
 * or later). Only customers not enrolled yet are looked at, so a big segment is taken
 * 100,000 a pass and never re-read from the start. */
static int enroll_tx(struct db *db, void *arg)
{
    int *did = arg;
    struct db_result r;
    int rc = db_exec(db, "INSERT IGNORE INTO sequence_enrollments (sequence_id, customer_id, next_at) "
                         "SELECT s.id, ct.customer_id, NOW(3) + INTERVAL COALESCE((SELECT st.delay_minutes FROM "
                         "  sequence_steps st WHERE st.sequence_id = s.id AND st.position = 1), 0) MINUTE "
                         "FROM sequences s JOIN tags t ON t.name = s.trigger_tag "
                         "JOIN customer_tags ct ON ct.tag_id = t.id AND ct.created_at >= s.created_at "
                         "JOIN customers c ON c.id = ct.customer_id AND c.merged_into IS NULL "
                         "WHERE s.enabled = 1 AND s.trigger_tag IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                         "  sequence_enrollments e WHERE e.sequence_id = s.id AND e.customer_id = ct.customer_id)",
                     DBP0, &r);
    if (rc)
        return rc;
    *did += r.affected > 0;
    db_result_free(&r);
    rc = db_exec(db, "SELECT s.id, g.rule FROM sequences s JOIN segments g ON g.id = s.trigger_segment_id "
                     "WHERE s.enabled = 1", DBP0, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        struct segment_sql seg;
        char why[260];
        memset(&seg, 0, sizeof(seg));
        int ok = customer_rule_compile(db, db_cell(&r, i, 1), &seg, why, sizeof(why));
        if (ok == 0) {
            int64_t sid = db_cell_i64(&r, i, 0);
            const struct db_param ids[] = {P_I(sid), P_I(sid), P_I(sid)};
            rc = segment_exec(db, "INSERT IGNORE INTO sequence_enrollments (sequence_id, customer_id, next_at) "
                                  "SELECT ?, c.id, NOW(3) + INTERVAL COALESCE((SELECT st.delay_minutes FROM "
                                  "sequence_steps st WHERE st.sequence_id = ? AND st.position = 1), 0) MINUTE "
                                  "FROM customers c WHERE c.merged_into IS NULL AND NOT EXISTS (SELECT 1 FROM "
                                  "sequence_enrollments e WHERE e.sequence_id = ? AND e.customer_id = c.id) AND ",
                              &seg, " LIMIT 100000", ids, 3, NULL, 0, NULL);
        } else if (ok > 0) {
            log_warn("sequences", "event=segment_broken sequence=%lld reason=\"%s\"", (long long)db_cell_i64(&r, i, 0), why);
        } else {
            rc = ok;
        }
        segment_sql_free(&seg);
    }
    db_result_free(&r);
    return rc;
}

/* The enrolment goes to its next step (or is completed when there is none). */
static int advance(struct db *db, int64_t enrollment, int64_t sequence, int64_t position)
{
    return db_exec(db, "UPDATE sequence_enrollments e LEFT JOIN sequence_steps st ON st.sequence_id = ? AND st.position = ? "
                       "SET e.next_position = ?, e.next_at = NOW(3) + INTERVAL COALESCE(st.delay_minutes, 0) MINUTE, "
                       "e.status = IF(st.id IS NULL, 'completed', 'active') WHERE e.id = ?",
                   DBP(P_I(sequence), P_I(position + 1), P_I(position + 1), P_I(enrollment)), NULL);
}

/* Due steps: into the step's own ledger (its campaign), at most once per enrolment. */
static int steps_tx(struct db *db, void *arg)
{
    int *did = arg;
    struct db_result r;
    int rc = db_exec(db, "SELECT e.id, e.sequence_id, e.customer_id, e.next_position, s.stop_on_stage, c.stage, "
                         "COALESCE(st.campaign_id, 0), COALESCE(st.skip_if_replied, 0), cp.channel, "
                         "(SELECT COUNT(*) FROM messages m WHERE m.customer_id = e.customer_id AND m.direction = 'in' "
                         "  AND m.created_at > e.enrolled_at), "
                         "EXISTS (SELECT 1 FROM customer_identities i JOIN suppressions sp ON sp.value = i.value "
                         "  AND sp.channel = cp.channel WHERE i.customer_id = e.customer_id AND i.is_primary = 1 "
                         "  AND i.kind = IF(cp.channel = 'sms', 'phone', 'email')) "
                         "FROM sequence_enrollments e JOIN sequences s ON s.id = e.sequence_id "
                         "JOIN customers c ON c.id = e.customer_id "
                         "LEFT JOIN sequence_steps st ON st.sequence_id = e.sequence_id AND st.position = e.next_position "
                         "LEFT JOIN campaigns cp ON cp.id = st.campaign_id "
                         "WHERE e.status = 'active' AND e.next_at <= NOW(3) ORDER BY e.next_at LIMIT 500 "
                         "FOR UPDATE SKIP LOCKED", DBP0, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        int64_t id = db_cell_i64(&r, i, 0), seq = db_cell_i64(&r, i, 1), cust = db_cell_i64(&r, i, 2);
        int64_t pos = db_cell_i64(&r, i, 3), camp = db_cell_i64(&r, i, 6);
        const char *stop = db_cell(&r, i, 4), *stage = db_cell(&r, i, 5), *channel = db_cell(&r, i, 8);
        *did = 1;
        const char *why = stop && stage && strcmp(stop, stage) == 0 ? "stage"
                          : db_cell_i64(&r, i, 10)                  ? "unsubscribed" /* opted out on the step's channel */
                                                                      : NULL;
        if (why) {
            rc = db_exec(db, "UPDATE sequence_enrollments SET status = 'stopped', stop_reason = ? WHERE id = ?",
                         DBP(P_S(why), P_I(id)), NULL);
            continue;
        }
        if (camp && !(db_cell_i64(&r, i, 7) && db_cell_i64(&r, i, 9) > 0)) {
            rc = db_exec(db, "INSERT IGNORE INTO campaign_recipients (campaign_id, customer_id, channel, address, state, "
                             "skip_reason) SELECT ?, ?, ?, " LEDGER_ADDRESS_COLUMNS "FROM (SELECT 1) one "
                             LEDGER_ADDRESS_JOINS("?") "LIMIT 1",
                         DBP(P_I(camp), P_I(cust), P_S(channel), P_I(cust), P_S(identity_kind(channel)), P_S(channel)),
                         NULL);
        }
        if (!rc)
            rc = advance(db, id, seq, pos);
    }
    if (!rc || r.nrows)
        db_result_free(&r);
    return rc;
}

/* ---- sending ---- */

struct claimed {
    int64_t id, campaign, customer, template_id, author;
    char address[256], campaign_name[201];
    int attempts;
};

struct round {
    struct claimed v[BATCH_MAX];
    size_t n;
    char channel[8];
};

/* Interrupted batches: the lease ran out while `sending`. */
static int recover(struct db *db)
{
    return db_exec(db, "UPDATE campaign_recipients SET state = 'ambiguous', error = 'interrupted while sending; "
                       "it may have been delivered' WHERE state = 'sending' AND lease_until < NOW(3)",
                   DBP0, NULL);
}

/* SMS campaigns send only inside [campaigns] sms_window, local time. */
static int sms_window_open(void)
{
    if (window_from < 0)
        return 0;
    time_t now = time(NULL);
    long local = ((long)(now % 86400) / 60 + cfg->campaigns.utc_offset_mins + 1440) % 1440;
    return window_from <= window_to ? local >= window_from && local < window_to
                                    : local >= window_from || local < window_to; /* 22:00-06:00 */
}

static int channel_ready(const char *channel)
{
    const struct channel_ops *ops = strcmp(channel, "sms") == 0 ? sms_ops : email_ops;
    return ops && ops->enabled(cfg) && (strcmp(channel, "sms") != 0 || sms_window_open());
}

/* How many this round may take from campaign row i: the batch, the campaign's rate per
 * minute and the channel's (all processes) minus what went out in the last minute. */
static int64_t budget(const struct db_result *r, size_t i)
{
    int64_t b = cfg->campaigns.batch, rate = db_cell_i64(r, i, 2), recent = db_cell_i64(r, i, 3);
    int64_t chan_rate = strcmp(db_cell(r, i, 1), "sms") == 0 ? cfg->campaigns.sms_per_minute
                                                              : cfg->campaigns.email_per_minute;
    if (rate > 0 && rate - recent < b)
        b = rate - recent;
    if (chan_rate > 0 && chan_rate - db_cell_i64(r, i, 4) < b)
        b = chan_rate - db_cell_i64(r, i, 4);
    return b > 0 ? b : 0;
}

/* A statement on the rows ids (its first parameter, DB_ID_LIST_TABLE), then `then`. */
static int ids_update(struct db *db, const char *sql, const int64_t *ids, size_t n, const struct db_param *then)
{
    if (!n)
        return DB_OK;
    char *list = db_id_list(ids, n);
    if (!list)
        return DB_EOTHER;
    int rc = then ? db_exec(db, sql, DBP(P_S(list), *then), NULL) : db_exec(db, sql, DBP(P_S(list)), NULL);
    free(list);
    return rc;
}

static int claim_tx(struct db *db, void *arg)
{
    static size_t turn; /* campaigns take turns, round by round */
    struct round *rd = arg;
    rd->n = 0;
    int rc = recover(db);
    struct db_result cs;
    if (!rc)
        /* counted only where a limit is set (every round runs this), on indexed columns:
         * sent in the last minute, plus in flight */
        rc = db_exec(db, "SELECT c.id, c.channel, COALESCE(c.rate_per_minute, 0), "
                         "IF(c.rate_per_minute IS NULL, 0, (SELECT COUNT(*) FROM campaign_recipients r "
                         "  WHERE r.campaign_id = c.id AND r.sent_at > NOW(3) - INTERVAL 1 MINUTE)), "
                         "IF(IF(c.channel = 'sms', ?, ?) = 0, 0, "
                         "  (SELECT COUNT(*) FROM campaign_recipients r2 JOIN campaigns c2 ON c2.id = r2.campaign_id "
                         "   WHERE c2.channel = c.channel AND r2.sent_at > NOW(3) - INTERVAL 1 MINUTE) + "
                         "  (SELECT COUNT(*) FROM campaign_recipients r3 JOIN campaigns c3 ON c3.id = r3.campaign_id "
                         "   WHERE c3.channel = c.channel AND r3.state = 'sending')) "
                         "FROM campaigns c WHERE c.status = 'sending' ORDER BY c.id",
                     DBP(P_I(cfg->campaigns.sms_per_minute), P_I(cfg->campaigns.email_per_minute)), &cs);
    if (rc)
        return rc;
    int64_t pick = 0, take = 0;
    for (size_t k = 0; k < cs.nrows && !pick; k++) {
        size_t i = (turn + k) % cs.nrows;
        if (channel_ready(db_cell(&cs, i, 1)) && (take = budget(&cs, i)) > 0) {
            pick = db_cell_i64(&cs, i, 0);
            text_copy(rd->channel, sizeof(rd->channel), db_cell(&cs, i, 1));
            turn = i + 1;
        }
    }
    db_result_free(&cs);
    if (!pick)
        return DB_OK;
    /* suppressions are checked here, on the rows about to be sent (an address that
     * unsubscribed or sent STOP since the start is skipped), not swept over the ledger */
    struct db_result r;
    rc = db_exec(db, "SELECT r.id, r.campaign_id, r.customer_id, r.address, r.attempts, c.template_id, "
                     "COALESCE(c.created_by, 0), c.name, s.id IS NOT NULL FROM campaign_recipients r "
                     "JOIN campaigns c ON c.id = r.campaign_id "
                     "LEFT JOIN suppressions s ON s.channel = r.channel AND s.value = r.address "
                     "WHERE r.campaign_id = ? AND c.status = 'sending' AND r.state = 'queued' "
                     "ORDER BY r.id LIMIT ? FOR UPDATE SKIP LOCKED",
                 DBP(P_I(pick), P_I(take)), &r);
    if (rc)
        return rc;
    int64_t skipped[BATCH_MAX], claimed[BATCH_MAX];
    size_t nskipped = 0;
    for (size_t i = 0; i < r.nrows && i < BATCH_MAX; i++) {
        if (db_cell_i64(&r, i, 8)) {
            skipped[nskipped++] = db_cell_i64(&r, i, 0);
            continue;
        }
        struct claimed *k = &rd->v[rd->n];
        k->id = claimed[rd->n++] = db_cell_i64(&r, i, 0);
        k->campaign = db_cell_i64(&r, i, 1);
        k->customer = db_cell_i64(&r, i, 2);
        text_copy(k->address, sizeof(k->address), db_cell(&r, i, 3));
        k->attempts = (int)db_cell_i64(&r, i, 4);
        k->template_id = db_cell_i64(&r, i, 5);
        k->author = db_cell_i64(&r, i, 6);
        text_copy(k->campaign_name, sizeof(k->campaign_name), db_cell(&r, i, 7));
    }
    db_result_free(&r);
    rc = ids_update(db, "UPDATE campaign_recipients r JOIN " DB_ID_LIST_TABLE " ON r.id = j.id "
                        "SET r.state = 'skipped', r.skip_reason = 'suppressed'", skipped, nskipped, NULL);
    struct db_param lease = P_I(cfg->campaigns.lease_secs);
    if (!rc)
        rc = ids_update(db, "UPDATE campaign_recipients r JOIN " DB_ID_LIST_TABLE " ON r.id = j.id "
                            "SET r.state = 'sending', r.attempts = r.attempts + 1, "
                            "r.lease_until = NOW(3) + INTERVAL ? SECOND", claimed, rd->n, &lease);
    return rc;
}

/* Where recipients' links point: [server] public_url. */
static const char *base_url(void)
{
    return cfg->server.public_url[0] ? cfg->server.public_url : "http://localhost";
}

/* The rendered message for one recipient, as the e-mail channel's payload. */
/* What every recipient of a round shares (a round is one campaign): the template's parts
 * compiled once and the author loaded once, not per recipient. */
struct shared {
    struct template *part[3]; /* subject, text, html; NULL when absent */
    json_t *agent;            /* {id, name, email} or NULL */
    char why[240];            /* a part that does not compile: every recipient fails with it */
};

static int shared_load(struct db *db, const struct claimed *k, struct shared *sh)
{
    static const char *const keys[3] = {"subject", "text", "html"};
    json_t *tpl = NULL;
    memset(sh, 0, sizeof(*sh));
    int rc = db_row_json_of(db, "SELECT subject, body_text AS text, body_html AS html FROM templates WHERE id = ?",
                            DBP(P_I(k->template_id)), &tpl);
    if (!rc && k->author)
        rc = db_row_json_of(db, "SELECT id, name, email FROM agents WHERE id = ?", DBP(P_I(k->author)), &sh->agent);
    for (int i = 0; !rc && i < 3 && !sh->why[0]; i++) {
        const char *src = json_string_value(json_object_get(tpl, keys[i]));
        struct template_error err;
        if (src && template_compile(src, strlen(src), &sh->part[i], &err) < 0)
            snprintf(sh->why, sizeof(sh->why), "%s, line %zu, column %zu: %s", keys[i], err.line, err.col, err.message);
    }
    if (!rc && !tpl)
        text_copy(sh->why, sizeof(sh->why), "the template was deleted");
    json_decref(tpl);
    return rc;
}

static void shared_free(struct shared *sh)
{
    for (int i = 0; i < 3; i++)
        template_free(sh->part[i]);
    json_decref(sh->agent);
}

/* One part for one recipient; *out NULL for an absent part. -1 with why on a render error. */
static int render_part(const struct template *t, json_t *ctx, int html, char **out, char *why, size_t whysz)
{
    struct buf b;
    struct template_error err;
    *out = NULL;
    if (!t)
        return 0;
    buf_init(&b, RENDER_CAP);
    if (template_render(t, ctx, html ? TEMPLATE_HTML : TEMPLATE_TEXT, NULL, NULL, &b, &err) < 0) {
        snprintf(why, whysz, "line %zu, column %zu: %s", err.line, err.col, err.message);
        buf_free(&b);
        return -1;
    }
    *out = b.data ? buf_take(&b) : strdup("");
    return 0;
}

/* The rendered message for one recipient, as the channel's payload. */
static int render_one(struct db *db, const struct claimed *k, const struct shared *sh, json_t *customers,
                      struct outbox_item *it)
{
    char token[CAMPAIGN_TOKEN_MAX], url[600], key[24];
    snprintf(key, sizeof(key), "%lld", (long long)k->customer);
    json_t *cu = json_object_get(customers, key); /* absent: merged away since the start */
    int rc = campaign_token(db, k->id, token);
    if (rc)
        return rc;
    snprintf(url, sizeof(url), "%s/u/%s", base_url(), token);
    json_t *camp = json_pack("{s:I, s:s}", "id", (json_int_t)k->campaign, "name", k->campaign_name);
    json_t *ctx = template_context(cu, sh->agent, camp, url);
    char *parts[3] = {NULL, NULL, NULL}, why[240] = "";
    int bad = sh->why[0] != '\0';
    if (bad)
        text_copy(why, sizeof(why), sh->why);
    for (int i = 0; i < 3 && !bad; i++)
        bad = render_part(sh->part[i], ctx, i == 2, &parts[i], why, sizeof(why)) < 0;
    memset(it, 0, sizeof(*it));
    it->id = k->id;
    text_copy(it->recipient, sizeof(it->recipient), k->address);
    const char *to = json_string_value(json_object_get(cu, "name"));
    const char *from = json_string_value(json_object_get(sh->agent, "name"));
    it->payload = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s}", "campaign", 1, "subject", parts[0] ? parts[0] : "",
                            "body_text", parts[1] ? parts[1] : "", "body_html", parts[2] ? parts[2] : "", "to_name",
                            to ? to : "", "from_name", from ? from : "Switchboard", "unsubscribe_url", url);
    char *tracked = NULL;
    if (!bad && parts[2] && (cfg->campaigns.track_clicks || cfg->campaigns.track_opens) &&
        campaign_track_html(db, k->id, base_url(), parts[2], (int)cfg->campaigns.track_clicks,
                            (int)cfg->campaigns.track_opens, &tracked) == DB_OK && tracked)
        json_object_set_new(it->payload, "body_html", json_string(tracked));
    free(tracked);
    if (!cu) { /* merged into another customer since the ledger was made: that one has its own row */
        it->outcome = SEND_FAILED;
        text_copy(it->error, sizeof(it->error), "the customer was merged into another one");
    } else if (bad || !it->payload) {
        it->outcome = SEND_FAILED;
        snprintf(it->error, sizeof(it->error), "the template did not render: %s", why);
    }
    for (int i = 0; i < 3; i++)
        free(parts[i]);
    json_decref(ctx);
    json_decref(camp);
    return DB_OK;
}

struct settle {
    struct outbox_item *items;
    const struct round *rd;
};

/* Every row of the round in one statement: [{id, state, pid, err}] read as a table. */
static int settle_tx(struct db *db, void *arg)
{
    struct settle *s = arg;
    json_t *rows = json_array();
    for (size_t i = 0; i < s->rd->n; i++) {
        const struct outbox_item *it = &s->items[i];
        const char *state = it->outcome == SEND_OK          ? "sent"
                            : it->outcome == SEND_AMBIGUOUS ? "ambiguous"
                            : it->outcome == SEND_RETRY && s->rd->v[i].attempts + 1 < MAX_ATTEMPTS ? "queued"
                                                                                                  : "failed";
        json_t *row = json_pack("{s:I, s:s}", "id", (json_int_t)it->id, "state", state);
        if (row && it->provider_id[0])
            json_object_set_new(row, "pid", json_string(it->provider_id));
        if (row && it->error[0])
            json_object_set_new(row, "err", json_string(it->error));
        json_array_append_new(rows, row);
    }
    char *txt = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    if (!txt)
        return DB_EOTHER;
    /* an error longer than the column is cut, never a failed settle (the rows would turn ambiguous) */
    int rc = db_exec(db, "UPDATE campaign_recipients r JOIN JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT PATH '$.id', "
                         "state VARCHAR(16) PATH '$.state', pid VARCHAR(255) PATH '$.pid', "
                         "err VARCHAR(1000) PATH '$.err')) v ON r.id = v.id "
                         "SET r.state = v.state, r.provider_id = v.pid, r.error = LEFT(v.err, 500), r.lease_until = NULL, "
                         "r.sent_at = IF(v.state = 'sent', NOW(3), r.sent_at) WHERE r.state = 'sending'",
                     DBP(P_S(txt)), NULL);
    free(txt);
    /* an SMS report that came before its id was recorded here is applied now */
    for (size_t i = 0; !rc && strcmp(s->rd->channel, "sms") == 0 && i < s->rd->n; i++)
        if (s->items[i].outcome == SEND_OK && s->items[i].provider_id[0])
            rc = sms_delivery_apply(db, s->items[i].provider_id);
    return rc;
}

static int finish_tx(struct db *db, void *arg)
{
    int *did = arg;
    struct db_result r;
    int rc = db_exec(db, "SELECT c.id FROM campaigns c WHERE c.status = 'sending' AND c.kind = 'campaign' AND NOT EXISTS (SELECT 1 FROM "
                         "campaign_recipients r WHERE r.campaign_id = c.id AND r.state IN ('queued', 'sending')) "
                         "LIMIT 20 FOR UPDATE SKIP LOCKED", DBP0, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        int64_t id = db_cell_i64(&r, i, 0);
        rc = db_exec(db, "UPDATE campaigns SET status = 'finished', finished_at = NOW(3) WHERE id = ?", DBP(P_I(id)),
                     NULL);
        if (!rc)
            rc = event_insert(db, "campaign.finished", 0, 0, 0, 0, json_pack("{s:I}", "campaign_id", (json_int_t)id));
        *did = 1;
    }
    if (!rc || r.nrows)
        db_result_free(&r);
    return rc;
}

/* One round of sending: claim, render, send, settle. Returns the number sent, or < 0. */
static int send_round(struct db *db)
{
    struct round rd;
    int rc = db_transaction(db, claim_tx, &rd);
    if (rc || !rd.n)
        return rc;
    struct outbox_item *items = calloc(rd.n, sizeof(*items));
    if (!items)
        return DB_EOTHER; /* the lease turns the claimed rows ambiguous: never sent twice */
    struct shared sh; /* a round is one campaign: one template, one author */
    int64_t ids[BATCH_MAX];
    json_t *customers = NULL;
    for (size_t i = 0; i < rd.n; i++)
        ids[i] = rd.v[i].customer;
    rc = shared_load(db, &rd.v[0], &sh);
    if (!rc)
        rc = customers_load_many(db, ids, rd.n, &customers);
    for (size_t i = 0; i < rd.n && !rc; i++)
        rc = render_one(db, &rd.v[i], &sh, customers, &items[i]);
    shared_free(&sh);
    json_decref(customers);
    size_t n = rd.n;
    if (!rc) {
        /* only items still SEND_OK are sent; the channel settles each */
        struct outbox_item *go = calloc(n, sizeof(*go));
        size_t k = 0;
        for (size_t i = 0; go && i < n; i++)
            if (items[i].outcome == SEND_OK)
                go[k++] = items[i];
        const struct channel_ops *ops = strcmp(rd.channel, "sms") == 0 ? sms_ops : email_ops;
        if (go && k)
            ops->send(cfg, go, k);
        for (size_t i = 0, j = 0; go && i < n; i++)
            if (items[i].outcome == SEND_OK)
                items[i] = go[j++];
        free(go);
        struct settle s = {items, &rd};
        rc = db_transaction(db, settle_tx, &s);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(items[i].payload);
    free(items);
    return rc ? rc : (int)n;
}

static void sender_main(struct bgthread *self)
{
    struct db *db = db_new(cfg, 1);
    time_t enrolled = 0;
    while (!bgthread_stopping(self)) {
        int did = 0, sent = 0, seq = 0;
        if (db_transaction(db, materialise_tx, &did) < 0)
            log_warn("campaigns", "event=materialise_failed");
        /* enrolment reads segments and tags: every enrol_secs, not every round of a send */
        time_t now = time(NULL);
        if (now - enrolled >= cfg->campaigns.enrol_secs) {
            enrolled = now;
            if (db_transaction(db, enroll_tx, &seq) < 0)
                log_warn("campaigns", "event=enrol_failed");
        }
        if (db_transaction(db, steps_tx, &seq) < 0)
            log_warn("campaigns", "event=sequences_failed");
        sent = send_round(db);
        if (sent < 0)
            log_warn("campaigns", "event=send_round_failed rc=%d", sent);
        int finished = 0;
        if (db_transaction(db, finish_tx, &finished) == DB_OK && finished)
            event_tailer_wake();
        if (!did && sent <= 0 && !finished) /* else more work is likely waiting */
            bgthread_wait(self, 500);
    }
    db_free(db);
}

int campaign_sender_start(const struct sb_config *config, const struct channel_ops *const *channels)
{
    cfg = config;
    for (size_t i = 0; channels && channels[i]; i++) {
        if (strcmp(channels[i]->name, "email") == 0)
            email_ops = channels[i];
        if (strcmp(channels[i]->name, "sms") == 0)
            sms_ops = channels[i];
    }
    int h1, m1, h2, m2, n = 0;
    if (sscanf(cfg->campaigns.sms_window, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &n) == 4 &&
        !cfg->campaigns.sms_window[n] && h1 < 24 && h2 <= 24 && m1 < 60 && m2 < 60) {
        window_from = h1 * 60 + m1;
        window_to = h2 * 60 + m2;
    } else {
        log_error("campaigns", "event=bad_config key=campaigns.sms_window value=\"%s\" effect=no_sms_campaigns",
                  cfg->campaigns.sms_window);
    }
    return bgthread_start(&bg, sender_main, NULL);
}

void campaign_sender_stop(void)
{
    bgthread_stop(&bg);
}

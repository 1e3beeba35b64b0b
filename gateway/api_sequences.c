/* api_sequences.c — nurture sequences (/api/v1/sequences): a trigger (a tag a customer
 * gets, or a segment they are in), an optional stage that stops the enrolment, and ordered
 * steps, each a delay and a template. Every step gets its own ledger — a campaign row of
 * kind sequence_step — so the campaign sender sends it at most once per enrolled customer
 * with the same guarantees as a campaign (workers/campaigns.c enrols and steps).
 */
#include "gateway/api_handlers.h"
#include "gateway/lib/text.h"
#include <stdio.h>
#include <string.h>

#define SEQUENCE_SELECT \
    "SELECT s.id, s.name, s.trigger_tag, s.trigger_segment_id, s.stop_on_stage, s.enabled AS enabled__bool, " \
    "s.created_at, (SELECT JSON_ARRAYAGG(JSON_OBJECT('position', st.position, 'delay_minutes', st.delay_minutes, " \
    "  'campaign_id', st.campaign_id, 'template_id', cp.template_id, 'channel', cp.channel, " \
    "  'skip_if_replied', st.skip_if_replied = 1, " \
    "  'sent', (SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id = st.campaign_id AND r.state = 'sent'), " \
    "  'skipped', (SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id = st.campaign_id " \
    "     AND r.state = 'skipped')) ORDER BY st.position) " \
    "  FROM sequence_steps st JOIN campaigns cp ON cp.id = st.campaign_id WHERE st.sequence_id = s.id) AS steps__json, " \
    "(SELECT JSON_OBJECT('active', SUM(e.status = 'active'), 'completed', SUM(e.status = 'completed'), " \
    "  'stopped', SUM(e.status = 'stopped')) FROM sequence_enrollments e WHERE e.sequence_id = s.id) AS enrollments__json " \
    "FROM sequences s "

int sequences_list(struct api_ctx *c)
{
    return api_rows(c, SEQUENCE_SELECT "ORDER BY s.id DESC", DBP0);
}

int sequences_get(struct api_ctx *c)
{
    json_t *s = NULL;
    int rc = db_row_json_of(c->db, SEQUENCE_SELECT "WHERE s.id = ?", DBP(P_I(c->req->params.id[0])), &s);
    if (rc || !s)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, s);
}

/* Checks one step; its template's channel into channel. */
static int check_step(struct api_ctx *c, struct jf *f, json_t *step, size_t i, char channel[8])
{
    static const char *const allowed[] = {"delay_minutes", "template_id", "skip_if_replied", NULL};
    struct jf g;
    bool has;
    jf_init(&g, step);
    jf_only(&g, allowed);
    jf_int(&g, "delay_minutes", 0, 525600, false, &has);
    int64_t tpl = jf_int(&g, "template_id", 1, INT64_MAX, true, &has);
    jf_bool(&g, "skip_if_replied", false);
    int rc = DB_OK;
    if (jf_ok(&g)) {
        json_t *t = NULL;
        rc = db_row_json_of(c->db, "SELECT channel FROM templates WHERE id = ?", DBP(P_I(tpl)), &t);
        if (!rc && !t)
            jf_fail(&g, "template_id", "no such template");
        else if (t)
            text_copy(channel, 8, json_string_value(json_object_get(t, "channel")));
        json_decref(t);
    }
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "steps[%zu]", i);
    jf_absorb(f, &g, prefix);
    return rc;
}

static int add_step(struct api_ctx *c, int64_t seq, const char *name, json_t *step, size_t i, const char *channel)
{
    char cname[260];
    snprintf(cname, sizeof(cname), "%.200s · step %zu", name, i + 1);
    struct db_result r;
    int rc = db_exec(c->db, "INSERT INTO campaigns (name, channel, template_id, kind, status, created_by, started_at) "
                            "VALUES (?, ?, ?, 'sequence_step', 'sending', ?, NOW(3))",
                     DBP(P_S(cname), P_S(channel), P_I(json_integer_value(json_object_get(step, "template_id"))),
                         P_IOPT(c->me.id)), &r);
    if (rc)
        return rc;
    int64_t camp = (int64_t)r.insert_id;
    db_result_free(&r);
    return db_exec(c->db, "INSERT INTO sequence_steps (sequence_id, position, delay_minutes, campaign_id, skip_if_replied) "
                          "VALUES (?, ?, ?, ?, ?)",
                   DBP(P_I(seq), P_I((int64_t)i + 1), P_I(json_integer_value(json_object_get(step, "delay_minutes"))),
                       P_I(camp), P_I(json_is_true(json_object_get(step, "skip_if_replied")))), NULL);
}

int sequences_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"name", "trigger_tag", "trigger_segment_id", "stop_on_stage", "steps", NULL};
    static const char *const stages[] = {"potential", "contacted", "proposal", "won", "maintain", "renewal", "churned", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    bool has_seg;
    const char *name = jf_str(&f, "name", 200, true), *tag = jf_str(&f, "trigger_tag", 64, false);
    int64_t seg = jf_int(&f, "trigger_segment_id", 1, INT64_MAX, false, &has_seg);
    const char *stop = jf_enum(&f, "stop_on_stage", stages, false);
    if (!tag == !has_seg)
        jf_fail(&f, "trigger_tag", "give exactly one trigger: trigger_tag or trigger_segment_id");
    int rc = DB_OK;
    int64_t n = 1;
    if (has_seg && !(rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM segments WHERE id = ?", DBP(P_I(seg)), 0, &n)) && !n)
        jf_fail(&f, "trigger_segment_id", "no such segment");
    json_t *steps = json_object_get(c->body, "steps"), *st;
    size_t i;
    char channels[20][8];
    if (!json_is_array(steps) || !json_array_size(steps) || json_array_size(steps) > 20)
        jf_fail(&f, "steps", "must be an array of 1..20 steps {delay_minutes, template_id, skip_if_replied}");
    else
        json_array_foreach(steps, i, st) if (!rc) rc = json_is_object(st) ? check_step(c, &f, st, i, channels[i])
                                                                         : (jf_fail(&f, "steps", "each step is an object"), 0);
    if (!api_checked(c, &f, &rc))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO sequences (name, trigger_tag, trigger_segment_id, stop_on_stage, created_by) "
                        "VALUES (?, ?, ?, ?, ?)",
                 DBP(P_S(name), P_S(tag), P_IOPT(has_seg ? seg : 0), P_S(stop), P_IOPT(c->me.id)), &r);
    if (rc == DB_EDUP)
        return api_duplicate(c, "name", "a sequence with this name exists");
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    json_array_foreach(steps, i, st) {
        if (!rc)
            rc = add_step(c, id, name, st, i, channels[i]);
    }
    return rc ? rc : api_written(c, SEQUENCE_SELECT "WHERE s.id = ?", "sequence", id, NULL, 201);
}

/* PATCH {"enabled": bool}: a disabled sequence enrols nobody new; enrolments carry on. */
int sequences_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"enabled", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    if (!json_is_boolean(json_object_get(c->body, "enabled")))
        jf_fail(&f, "enabled", "must be true or false");
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *before = NULL;
    rc = db_row_json_of(c->db, SEQUENCE_SELECT "WHERE s.id = ? FOR UPDATE", DBP(P_I(id)), &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    rc = db_exec(c->db, "UPDATE sequences SET enabled = ? WHERE id = ?",
                 DBP(P_I(json_is_true(json_object_get(c->body, "enabled"))), P_I(id)), NULL);
    if (!rc)
        rc = api_written(c, SEQUENCE_SELECT "WHERE s.id = ?", "sequence", id, before, 200);
    json_decref(before);
    return rc;
}

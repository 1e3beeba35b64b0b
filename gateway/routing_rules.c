/* routing_rules.c — see routing_rules.h. */
#include "gateway/routing_rules.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RULES 256

struct rule {
    int64_t id, team_id;
    char name[101], priority[8];
    json_t *match, *required, *optional;
};

struct routing_ruleset {
    struct rule r[MAX_RULES];
    size_t n;
    int uses_tags; /* some rule looks at customer tags: only then are they read */
};

static void rules_free(struct routing_ruleset *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        json_decref(rs->r[i].match);
        json_decref(rs->r[i].required);
        json_decref(rs->r[i].optional);
    }
    rs->n = 0;
}

static int load_rules(struct db *db, struct routing_ruleset *rs)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT id, name, match_json, required_skills, optional_skills, COALESCE(team_id, 0), "
                         "COALESCE(priority, '') FROM routing_rules WHERE enabled = 1 OR is_default = 1 "
                         "ORDER BY is_default, position, id LIMIT 256", DBP0, &r);
    if (rc)
        return rc;
    rs->n = 0;
    for (size_t i = 0; i < r.nrows; i++) {
        struct rule *u = &rs->r[rs->n++];
        u->id = db_cell_i64(&r, i, 0);
        text_copy(u->name, sizeof(u->name), db_cell(&r, i, 1));
        u->match = json_loads(db_cell(&r, i, 2), 0, NULL);
        u->required = json_loads(db_cell(&r, i, 3), 0, NULL);
        u->optional = json_loads(db_cell(&r, i, 4), 0, NULL);
        u->team_id = db_cell_i64(&r, i, 5);
        text_copy(u->priority, sizeof(u->priority), db_cell(&r, i, 6));
    }
    for (size_t i = 0; i < rs->n; i++)
        rs->uses_tags |= json_array_size(json_object_get(rs->r[i].match, "tags")) > 0;
    db_result_free(&r);
    return DB_OK;
}

/* What a rule can look at. text is the subject and first message, ASCII-lower-cased. */
struct facts {
    const char *channel, *language;
    int64_t mailbox_id;
    char *text;
    json_t *tags; /* lower-cased names */
};

static int any_string(json_t *list, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        if (json_is_string(v) && strcasecmp(json_string_value(v), value) == 0)
            return 1;
    }
    return 0;
}

static int rule_matches(const struct rule *u, const struct facts *f)
{
    json_t *m = u->match, *v;
    size_t i;
    if ((v = json_object_get(m, "channels")) && json_array_size(v) && !any_string(v, f->channel))
        return 0;
    if ((v = json_object_get(m, "languages")) && json_array_size(v) && !any_string(v, f->language))
        return 0;
    if ((v = json_object_get(m, "mailbox_ids")) && json_array_size(v)) {
        int hit = 0;
        json_t *x;
        json_array_foreach(v, i, x) hit |= json_integer_value(x) == f->mailbox_id;
        if (!hit)
            return 0;
    }
    if ((v = json_object_get(m, "keywords")) && json_array_size(v)) {
        int hit = 0;
        json_t *x;
        json_array_foreach(v, i, x) {
            char k[256];
            if (!hit && json_is_string(x) && text_copy(k, sizeof(k), json_string_value(x)) == 0 && *k) {
                text_lower(k);
                hit = strstr(f->text, k) != NULL;
            }
        }
        if (!hit)
            return 0;
    }
    if ((v = json_object_get(m, "tags")) && json_array_size(v)) {
        int hit = 0;
        json_t *x;
        json_array_foreach(v, i, x) hit |= json_is_string(x) && any_string(f->tags, json_string_value(x));
        if (!hit)
            return 0;
    }
    return 1;
}

/* "zh" when the text holds CJK ideographs or kana/hangul, else "en". */
static const char *language_of(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp = utf8_next(&p);
        if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x3040 && cp <= 0x30FF))
            return "zh";
    }
    return "en";
}

/* The rule's classification onto the n tickets of ids: skills, team (when it has none),
 * priority (raised only) and the SLA due time — one statement per 100 tickets, the values
 * being the rule's and the SLA due time each ticket's own. */
static int apply(struct db *db, const int64_t *ids, size_t n, const struct rule *u)
{
    enum { CHUNK = 100 };
    char *req = json_dumps(u->required ? u->required : json_array(), JSON_COMPACT);
    char *opt = json_dumps(u->optional ? u->optional : json_array(), JSON_COMPACT);
    int rc = DB_OK;
    for (size_t at = 0; !rc && at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        struct db_param p[6 + CHUNK] = {P_I(u->id), P_S(req ? req : "[]"), P_S(opt ? opt : "[]"), P_IOPT(u->team_id),
                                        P_S(u->priority), P_S(u->priority)};
        for (size_t i = 0; i < k; i++)
            p[6 + i] = P_I(ids[at + i]);
        /* left to right: the SLA subquery sees the priority just raised; the most specific
         * policy for that priority and the channel wins */
        rc = db_exec_list(db, "UPDATE tickets t SET rule_id = ?, required_skills = ?, optional_skills = ?, "
                              "team_id = COALESCE(team_id, ?), "
                              "priority = IF(FIELD(?, 'low','normal','high','urgent') > FIELD(priority, 'low','normal','high','urgent'), "
                              "              ?, priority), "
                              "sla_due_at = (SELECT t.created_at + INTERVAL IF(t.first_response_at IS NULL, p.first_response_mins, "
                              "  p.resolution_mins) MINUTE FROM sla_policies p WHERE p.priority = t.priority "
                              "  AND (p.channel = t.channel OR p.channel IS NULL) ORDER BY p.channel IS NULL LIMIT 1) "
                              "WHERE t.id IN ", k, "", p, 6 + k, NULL);
    }
    free(req);
    free(opt);
    return rc;
}

int routing_ruleset_load(struct db *db, struct routing_ruleset **out)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return DB_EOTHER;
    int rc = load_rules(db, *out);
    if (rc) {
        routing_ruleset_free(*out);
        *out = NULL;
    }
    return rc;
}

void routing_ruleset_free(struct routing_ruleset *rs)
{
    if (rs)
        rules_free(rs);
    free(rs);
}

/* The first rule of rs that matches the ticket's facts (*u NULL: none). */
static int pick_rule(struct db *db, const struct routing_facts *rf, const struct routing_ruleset *rs,
                     const struct rule **u)
{
    struct buf text;
    buf_init(&text, 0);
    buf_printf(&text, "%s\n%s", rf->subject ? rf->subject : "", rf->body ? rf->body : "");
    struct facts f = {.channel = rf->channel, .mailbox_id = rf->mailbox_id, .text = text.data};
    int rc = f.text ? DB_OK : DB_EOTHER;
    *u = NULL;
    if (rc)
        goto out;
    text_lower(f.text);
    f.language = language_of(f.text);
    f.tags = json_array();
    if (!rf->customer_is_new && rs->uses_tags) { /* a customer created just now has no tags yet */
        struct db_result tg;
        if ((rc = db_exec(db, "SELECT t.name FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.customer_id = ?",
                          DBP(P_I(rf->customer_id)), &tg))) {
            json_decref(f.tags);
            goto out;
        }
        for (size_t k = 0; k < tg.nrows; k++)
            json_array_append_new(f.tags, json_string(db_cell(&tg, k, 0)));
        db_result_free(&tg);
    }
    for (size_t k = 0; !*u && k < rs->n; k++)
        if (rule_matches(&rs->r[k], &f))
            *u = &rs->r[k];
    json_decref(f.tags);
out:
    buf_free(&text);
    return rc;
}

int routing_classify_many(struct db *db, const int64_t *ids, const struct routing_facts *rf, size_t n,
                          const struct routing_ruleset *given)
{
    struct routing_ruleset *own = NULL;
    const struct routing_ruleset *rs = given;
    const struct rule **picked = calloc(n ? n : 1, sizeof(*picked));
    int64_t *same = calloc(n ? n : 1, sizeof(*same));
    int rc = picked && same ? DB_OK : DB_EOTHER;
    if (!rc && !rs && !(rc = routing_ruleset_load(db, &own)))
        rs = own;
    for (size_t i = 0; !rc && i < n; i++)
        rc = pick_rule(db, &rf[i], rs, &picked[i]);
    for (size_t i = 0; !rc && i < n; i++) { /* one statement per rule that matched */
        size_t k = 0;
        if (!picked[i])
            continue;
        const struct rule *u = picked[i];
        for (size_t j = i; j < n; j++)
            if (picked[j] == u) {
                same[k++] = ids[j];
                picked[j] = NULL;
            }
        rc = apply(db, same, k, u);
    }
    routing_ruleset_free(own);
    free(picked);
    free(same);
    return rc;
}

int routing_classify_known(struct db *db, int64_t id, const struct routing_facts *rf,
                           const struct routing_ruleset *given)
{
    return routing_classify_many(db, &id, rf, 1, given);
}

int routing_classify(struct db *db, int64_t id)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT t.channel, COALESCE(t.mailbox_id, 0), COALESCE(t.subject, ''), t.customer_id, "
                         "(SELECT m.body_text FROM messages m WHERE m.ticket_id = t.id AND m.direction = 'in' "
                         "ORDER BY m.id LIMIT 1) FROM tickets t WHERE t.id = ?", DBP(P_I(id)), &r);
    if (rc || !r.nrows) {
        db_result_free(&r);
        return rc;
    }
    struct routing_facts rf = {.channel = db_cell(&r, 0, 0), .mailbox_id = db_cell_i64(&r, 0, 1),
                               .subject = db_cell(&r, 0, 2), .customer_id = db_cell_i64(&r, 0, 3), .body = db_cell(&r, 0, 4)};
    rc = routing_classify_known(db, id, &rf, NULL);
    db_result_free(&r);
    return rc;
}

int64_t routing_weight(const struct sb_config *cfg, const char *channel)
{
    return strcmp(channel, "chat") == 0 ? cfg->routing.weight_chat
           : strcmp(channel, "sms") == 0 ? cfg->routing.weight_sms
                                         : cfg->routing.weight_email;
}

int routing_agent_room(struct db *db, const struct sb_config *cfg, int64_t agent, const char *channel, int skip_locked,
                       int *room)
{
    struct db_result r;
    *room = 0;
    int rc = db_exec(db, skip_locked ? "SELECT capacity_units FROM agents WHERE id = ? FOR UPDATE SKIP LOCKED"
                                     : "SELECT capacity_units FROM agents WHERE id = ? FOR UPDATE",
                     DBP(P_I(agent)), &r);
    if (rc || !r.nrows) {
        *room = r.nrows ? 0 : -1;
        db_result_free(&r);
        return rc;
    }
    int64_t units_cap = db_cell_i64(&r, 0, 0);
    db_result_free(&r);
    /* a fresh read (READ COMMITTED): what every other router and agent committed */
    rc = db_exec(db, "SELECT COALESCE((SELECT max_load FROM agent_capacity WHERE agent_id = ? AND channel = ?), -1), "
                     "(SELECT COUNT(*) FROM tickets x WHERE x.status IN ('new','open') AND x.channel = ? "
                     " AND (x.assignee_id = ? OR x.offer_agent_id = ?)), "
                     "(SELECT COALESCE(SUM(CASE x.channel WHEN 'chat' THEN ? WHEN 'sms' THEN ? ELSE ? END), 0) FROM tickets x "
                     " WHERE x.status IN ('new','open') AND (x.assignee_id = ? OR x.offer_agent_id = ?))",
                 DBP(P_I(agent), P_S(channel), P_S(channel), P_I(agent), P_I(agent), P_I(cfg->routing.weight_chat),
                     P_I(cfg->routing.weight_sms), P_I(cfg->routing.weight_email), P_I(agent), P_I(agent)), &r);
    if (!rc && r.nrows) /* no capacity set for the channel: no limit (the router offers such an agent nothing) */
        *room = db_cell_i64(&r, 0, 0) < 0 || (db_cell_i64(&r, 0, 1) < db_cell_i64(&r, 0, 0) &&
                                              db_cell_i64(&r, 0, 2) + routing_weight(cfg, channel) <= units_cap);
    db_result_free(&r);
    return rc;
}

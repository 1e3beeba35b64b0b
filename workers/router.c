/* router.c — see router.h. Connections run READ COMMITTED (db.c): every statement sees
 * what other routers committed, which the recount under the agent's lock relies on. */
#include "router.h"
#include "gateway/bgthread.h"
#include "gateway/db.h"
#include "gateway/event_tailer.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/routing_rules.h"
#include "gateway/tickets.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_TEAMS 256
#define MAX_SKILLS 16

static struct bgthread bg = BGTHREAD_INIT;
static const struct sb_config *cfg;

/* ---- teams: hours and offer policy, read each round ---- */

struct team {
    int64_t id;
    int open, auto_accept;
    int64_t accept_timeout;
    char after_hours[1001];
};

struct teams {
    struct team t[MAX_TEAMS];
    size_t n;
};

static int minutes_of(const char *hhmm)
{
    int h = 0, m = 0;
    return hhmm && sscanf(hhmm, "%d:%d", &h, &m) == 2 && h >= 0 && h <= 24 && m >= 0 && m < 60 ? h * 60 + m : -1;
}

/* {} = always open; otherwise open inside one of today's [from, to) intervals. */
static int open_now(const char *hours_json, int64_t offset_mins, time_t now)
{
    static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    json_t *h = json_loads(hours_json, 0, NULL);
    if (!json_is_object(h) || json_object_size(h) == 0) {
        json_decref(h);
        return 1;
    }
    time_t local = now + (time_t)offset_mins * 60;
    struct tm tm;
    gmtime_r(&local, &tm);
    int minute = tm.tm_hour * 60 + tm.tm_min, open = 0;
    json_t *today = json_object_get(h, days[tm.tm_wday]);
    for (size_t i = 0; !open && i < json_array_size(today); i++) {
        json_t *iv = json_array_get(today, i);
        int from = minutes_of(json_string_value(json_array_get(iv, 0)));
        int to = minutes_of(json_string_value(json_array_get(iv, 1)));
        open = from >= 0 && to > from && minute >= from && minute < to;
    }
    json_decref(h);
    return open;
}

static int load_teams(struct db *db, struct teams *ts)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT id, auto_accept, accept_timeout_secs, utc_offset_mins, business_hours, "
                         "COALESCE(after_hours_reply, '') FROM teams ORDER BY id LIMIT 256", DBP0, &r);
    if (rc)
        return rc;
    time_t now = time(NULL);
    ts->n = 0;
    for (size_t i = 0; i < r.nrows && ts->n < MAX_TEAMS; i++) {
        struct team *t = &ts->t[ts->n++];
        t->id = db_cell_i64(&r, i, 0);
        t->auto_accept = (int)db_cell_i64(&r, i, 1);
        t->accept_timeout = db_cell_i64(&r, i, 2);
        t->open = open_now(db_cell(&r, i, 4), db_cell_i64(&r, i, 3), now);
        text_copy(t->after_hours, sizeof(t->after_hours), db_cell(&r, i, 5));
    }
    db_result_free(&r);
    return DB_OK;
}

static const struct team *team_of(const struct teams *ts, int64_t id)
{
    for (size_t i = 0; i < ts->n; i++)
        if (ts->t[i].id == id)
            return &ts->t[i];
    return NULL;
}

/* kind for the ticket's assignee and team — or, for an offer, for the offered agent (who
 * may be of another team once the ticket has widened). */
static int ticket_updated(struct db *db, int64_t id, const char *kind)
{
    json_t *t = NULL;
    int rc = ticket_load(db, NULL, id, &t);
    if (rc || !t)
        return rc;
    json_t *to = json_object_get(t, strcmp(kind, "ticket.offered") == 0 ? "offer_agent_id" : "assignee_id");
    rc = event_insert(db, kind, id, json_integer_value(json_object_get(t, "customer_id")), json_integer_value(to),
                      json_integer_value(json_object_get(t, "team_id")), json_pack("{s:o}", "ticket", t));
    return rc;
}

enum { CH_CHAT, CH_EMAIL, CH_SMS, CH_N };

struct agent {
    int64_t id, team, cap_units, units, idle;
    int locked;  /* 1: this round's transaction holds the agent's row, the numbers below are exact;
                  * -1: another router holds it, not this round's to give work to */
    int touched; /* given work this round: last_assigned_at is written at the end of it */
    int64_t max_load[CH_N], load[CH_N]; /* max -1: no capacity on that channel */
    struct { char skill[65]; int64_t level; } skills[MAX_SKILLS];
    size_t nskills;
};

struct agents {
    struct agent *a;
    size_t n;
};

/* What a batch gave, written in bulk before it commits (flush_given). */
struct given {
    int64_t ticket, agent, timeout;
    int autoacc;
    char *reason; /* owned */
};

struct round {
    struct teams teams;
    struct agents agents;
    struct given *given;
    size_t ngiven, given_cap;
    size_t classified, offered, assigned, withdrawn;
};

/* Tickets the creating transaction could not classify (created before the rules existed,
 * or by hand in the database) are classified here. */
static int classify_tx(struct db *db, void *arg)
{
    struct round *rd = arg;
    struct db_result r;
    int rc = db_exec(db, "SELECT id FROM tickets WHERE queued_at IS NOT NULL AND rule_id IS NULL ORDER BY queued_at "
                         "LIMIT ? FOR UPDATE SKIP LOCKED", DBP(P_I(cfg->routing.batch)), &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        int64_t id = db_cell_i64(&r, i, 0);
        if (!(rc = routing_classify(db, id)))
            rc = ticket_updated(db, id, "ticket.updated");
        rd->classified++;
    }
    db_result_free(&r);
    return rc;
}

/* ---- after hours ---- */

static int after_hours_tx(struct db *db, void *arg)
{
    struct round *rd = arg;
    struct db_result r;
    int rc = db_exec(db, "SELECT id, team_id FROM tickets WHERE queued_at IS NOT NULL AND rule_id IS NOT NULL "
                         "AND after_hours_replied = 0 AND team_id IS NOT NULL AND assignee_id IS NULL "
                         "AND status IN ('new','open') LIMIT 500 FOR UPDATE SKIP LOCKED", DBP0, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        const struct team *t = team_of(&rd->teams, db_cell_i64(&r, i, 1));
        if (!t || t->open)
            continue;
        int64_t id = db_cell_i64(&r, i, 0);
        rc = db_exec(db, "UPDATE tickets SET after_hours_replied = 1 WHERE id = ?", DBP(P_I(id)), NULL);
        if (!rc && t->after_hours[0])
            rc = ticket_bot_reply(db, id, t->after_hours, false, NULL);
    }
    db_result_free(&r);
    return rc;
}

/* ---- offers that lapsed ---- */

static int withdraw_tx(struct db *db, void *arg)
{
    struct round *rd = arg;
    struct db_result r;
    int rc = db_exec(db, "SELECT t.id, t.offer_agent_id, t.offer_expires_at < NOW(3) FROM tickets t "
                         "LEFT JOIN agent_presence p ON p.agent_id = t.offer_agent_id WHERE t.offer_agent_id IS NOT NULL "
                         "AND (t.offer_expires_at < NOW(3) OR COALESCE(p.status, 'offline') <> 'online' "
                         "     OR t.assignee_id IS NOT NULL OR t.status NOT IN ('new','open')) "
                         "LIMIT 500 FOR UPDATE SKIP LOCKED", DBP0, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        int64_t id = db_cell_i64(&r, i, 0), agent = db_cell_i64(&r, i, 1);
        const char *outcome = db_cell_i64(&r, i, 2) ? "expired" : "withdrawn";
        rc = db_exec(db, "UPDATE tickets SET offer_agent_id = NULL, offer_expires_at = NULL WHERE id = ?",
                     DBP(P_I(id)), NULL);
        if (!rc)
            rc = db_exec(db, "UPDATE ticket_offers SET outcome = ? WHERE ticket_id = ? AND agent_id = ? AND outcome = 'offered'",
                         DBP(P_S(outcome), P_I(id), P_I(agent)), NULL);
        if (!rc)
            rc = event_insert(db, "ticket.offer_withdrawn", id, 0, agent, 0,
                              json_pack("{s:I, s:I, s:s}", "ticket_id", (json_int_t)id, "agent_id", (json_int_t)agent,
                                        "reason", outcome));
        rd->withdrawn++;
    }
    db_result_free(&r);
    return rc;
}

/* ---- assignment ---- */

struct need {
    int64_t ticket, team, customer;
    const char *channel, *rule;
    int stage, repeat_ok;
    int64_t waited, lapsed; /* lapsed: offers of this ticket that expired or were withdrawn */
    struct { char skill[65]; int64_t min; } skills[MAX_SKILLS];
    size_t nskills, nrequired;
};

static void add_skills(struct need *nd, const char *json)
{
    json_t *a = json_loads(json ? json : "[]", 0, NULL);
    size_t i;
    json_t *s;
    json_array_foreach(a, i, s) {
        const char *name = json_string_value(json_object_get(s, "skill"));
        if (!name || nd->nskills == MAX_SKILLS)
            continue;
        text_copy(nd->skills[nd->nskills].skill, sizeof(nd->skills[0].skill), name);
        json_int_t min = json_integer_value(json_object_get(s, "min_level"));
        nd->skills[nd->nskills++].min = min < 1 ? 1 : min > 10 ? 10 : min;
    }
    json_decref(a);
}

/* ---- the online agents, read once per round and kept current as the round gives work ---- */

static int channel_index(const char *ch)
{
    return strcmp(ch, "chat") == 0 ? CH_CHAT : strcmp(ch, "sms") == 0 ? CH_SMS : strcmp(ch, "email") == 0 ? CH_EMAIL : -1;
}

static struct agent *agent_by_id(struct agents *as, int64_t id)
{
    size_t lo = 0, hi = as->n; /* sorted by id */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (as->a[mid].id == id)
            return &as->a[mid];
        if (as->a[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int load_agents(struct db *db, struct agents *as)
{
    struct db_result r;
    free(as->a);
    as->a = NULL;
    as->n = 0;
    int rc = db_exec(db, "SELECT a.id, COALESCE(a.team_id, 0), a.capacity_units, "
                         "TIMESTAMPDIFF(SECOND, COALESCE(p.last_assigned_at, p.changed_at), NOW(3)) FROM agents a "
                         "JOIN agent_presence p ON p.agent_id = a.id WHERE p.status = 'online' AND a.active = 1 "
                         "AND a.role IN ('agent','manager') ORDER BY a.id", DBP0, &r);
    if (rc)
        return rc;
    as->a = calloc(r.nrows ? r.nrows : 1, sizeof(*as->a));
    for (size_t i = 0; as->a && i < r.nrows; i++) {
        struct agent *g = &as->a[as->n++];
        g->id = db_cell_i64(&r, i, 0);
        g->team = db_cell_i64(&r, i, 1);
        g->cap_units = db_cell_i64(&r, i, 2);
        g->idle = db_cell_i64(&r, i, 3);
        for (int c = 0; c < CH_N; c++)
            g->max_load[c] = -1;
    }
    db_result_free(&r);
    if (!as->a)
        return DB_EOTHER;
    rc = db_exec(db, "SELECT k.agent_id, k.channel, k.max_load FROM agent_capacity k JOIN agent_presence p "
                     "ON p.agent_id = k.agent_id AND p.status = 'online'", DBP0, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        struct agent *g = agent_by_id(as, db_cell_i64(&r, i, 0));
        int c = channel_index(db_cell(&r, i, 1));
        if (g && c >= 0)
            g->max_load[c] = db_cell_i64(&r, i, 2);
    }
    db_result_free(&r);
    if (!rc)
        rc = db_exec(db, "SELECT s.agent_id, s.skill, s.level FROM agent_skills s JOIN agent_presence p "
                         "ON p.agent_id = s.agent_id AND p.status = 'online'", DBP0, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        struct agent *g = agent_by_id(as, db_cell_i64(&r, i, 0));
        if (!g || g->nskills == MAX_SKILLS)
            continue;
        text_copy(g->skills[g->nskills].skill, sizeof(g->skills[0].skill), db_cell(&r, i, 1));
        g->skills[g->nskills++].level = db_cell_i64(&r, i, 2);
    }
    db_result_free(&r);
    /* their current load: assigned and offered tickets still open */
    if (!rc)
        rc = db_exec(db, "SELECT t.assignee_id, t.channel, COUNT(*) FROM tickets t JOIN agent_presence p "
                         "ON p.agent_id = t.assignee_id AND p.status = 'online' WHERE t.status IN ('new','open') GROUP BY 1, 2 "
                         "UNION ALL SELECT t.offer_agent_id, t.channel, COUNT(*) FROM tickets t JOIN agent_presence p "
                         "ON p.agent_id = t.offer_agent_id AND p.status = 'online' WHERE t.status IN ('new','open') "
                         "GROUP BY 1, 2", DBP0, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        struct agent *g = agent_by_id(as, db_cell_i64(&r, i, 0));
        int c = channel_index(db_cell(&r, i, 1));
        if (!g || c < 0)
            continue;
        g->load[c] += db_cell_i64(&r, i, 2);
        g->units += db_cell_i64(&r, i, 2) * routing_weight(cfg, db_cell(&r, i, 1));
    }
    db_result_free(&r);
    return rc;
}

static int64_t level_of(const struct agent *g, const char *skill)
{
    for (size_t i = 0; i < g->nskills; i++)
        if (strcmp(g->skills[i].skill, skill) == 0)
            return g->skills[i].level;
    return 0;
}

struct pick {
    struct agent *g;
    int64_t score;
};

/* Best first: skill score, then the lighter load (units used / units), then longer idle. */
static int by_preference(const void *x, const void *y)
{
    const struct pick *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    double la = a->g->cap_units ? (double)a->g->units / (double)a->g->cap_units : 1.0;
    double lb = b->g->cap_units ? (double)b->g->units / (double)b->g->cap_units : 1.0;
    if (la != lb)
        return la < lb ? -1 : 1;
    if (a->g->idle != b->g->idle)
        return a->g->idle > b->g->idle ? -1 : 1;
    return a->g->id < b->g->id ? -1 : a->g->id > b->g->id;
}

/* The agents that qualify for nd, best first, into picks (at most as->n). */
static size_t candidates(const struct agents *as, const struct need *nd, const int64_t *not_again, size_t n_not,
                         const int64_t *declined, size_t n_declined, struct pick *picks)
{
    int ch = channel_index(nd->channel);
    size_t must = nd->stage == 0 ? nd->nskills : nd->nrequired, n = 0;
    int64_t w = routing_weight(cfg, nd->channel);
    for (size_t i = 0; ch >= 0 && i < as->n; i++) {
        struct agent *g = &as->a[i];
        if (g->max_load[ch] < 0 || g->load[ch] >= g->max_load[ch] || g->units + w > g->cap_units)
            continue;
        if (nd->team && nd->stage < 2 && g->team != nd->team)
            continue;
        int ok = 1;
        int64_t score = 0;
        for (size_t k = 0; k < nd->nskills; k++) {
            int64_t lv = level_of(g, nd->skills[k].skill);
            score += lv;
            if (k < must && lv < nd->skills[k].min)
                ok = 0;
        }
        for (size_t k = 0; ok && !nd->repeat_ok && k < n_not; k++)
            ok = not_again[k] != g->id;
        for (size_t k = 0; ok && k < n_declined; k++)
            ok = declined[k] != g->id;
        if (ok)
            picks[n++] = (struct pick){g, score};
    }
    qsort(picks, n, sizeof(*picks), by_preference);
    return n;
}

static json_t *reason_of(const struct need *nd, const struct pick *p, size_t ncand)
{
    json_t *skills = json_array();
    for (size_t i = 0; i < nd->nskills; i++)
        json_array_append_new(skills, json_pack("{s:s, s:I, s:b}", "skill", nd->skills[i].skill, "min_level",
                                                (json_int_t)nd->skills[i].min, "required",
                                                i < nd->nrequired || nd->stage == 0));
    int ch = channel_index(nd->channel);
    char load[48], units[48];
    snprintf(load, sizeof(load), "%lld/%lld", (long long)p->g->load[ch], (long long)p->g->max_load[ch]);
    snprintf(units, sizeof(units), "%lld/%lld", (long long)p->g->units, (long long)p->g->cap_units);
    static const char *const stages[] = {"all skills", "optional skills dropped", "any team", "escalated"};
    return json_pack("{s:s, s:s, s:o, s:I, s:s, s:s, s:I, s:I, s:I}", "rule", nd->rule, "stage", stages[nd->stage],
                     "skills", skills, "skill_score", (json_int_t)p->score, "load", load, "units", units, "idle_secs",
                     (json_int_t)p->g->idle, "candidates", (json_int_t)ncand, "waited_secs", (json_int_t)nd->waited);
}

/* The ticket goes to g: noted here, written with the rest of the batch (flush_given). */
static int give(struct round *rd, const struct need *nd, struct agent *g, json_t *reason)
{
    const struct team *t = nd->team ? team_of(&rd->teams, nd->team) : NULL;
    int autoacc = t ? t->auto_accept : 0;
    int64_t timeout = t ? t->accept_timeout : cfg->routing.accept_timeout_secs;
    if (rd->ngiven == rd->given_cap) /* sized for a whole batch (assign_tx): cannot happen */
        return DB_EOTHER;
    char *rs = json_dumps(reason, JSON_COMPACT);
    if (!rs)
        return DB_EOTHER;
    rd->given[rd->ngiven++] = (struct given){nd->ticket, g->id, timeout, autoacc, rs};
    g->touched = 1;
    if (autoacc)
        rd->assigned++;
    else
        rd->offered++;
    return DB_OK;
}

/* Agents a round wants are locked in bulk, the first time one of them is wanted: it and
 * the next candidates not yet tried, LOCK_CHUNK at a time (SKIP LOCKED: another router has
 * them, they sit this round out), with their loads read fresh under the lock. After that
 * the round's own numbers are exact, since nobody else can add to an agent whose row we
 * hold. Two statements for up to LOCK_CHUNK agents instead of two for each. */
enum { LOCK_CHUNK = 64 };

static int lock_chunk(struct db *db, struct pick *picks, size_t n, size_t from)
{
    struct db_param p[LOCK_CHUNK * 2];
    struct agent *want[LOCK_CHUNK];
    size_t k = 0;
    for (size_t i = from; i < n && k < LOCK_CHUNK; i++)
        if (!picks[i].g->locked)
            want[k++] = picks[i].g;
    for (size_t i = 0; i < k; i++) {
        p[i] = P_I(want[i]->id);
        want[i]->locked = -1; /* until the lock says otherwise */
    }
    struct db_result r;
    int rc = db_exec_list(db, "SELECT id FROM agents WHERE id IN ", k, " FOR UPDATE SKIP LOCKED", p, k, &r);
    if (rc)
        return rc;
    size_t nl = 0;
    for (size_t i = 0; i < r.nrows; i++) {
        int64_t id = db_cell_i64(&r, i, 0);
        for (size_t j = 0; j < k; j++) {
            if (want[j]->id != id)
                continue;
            want[j]->locked = 1;
            want[j]->units = 0;
            memset(want[j]->load, 0, sizeof(want[j]->load));
            p[nl++] = P_I(id);
        }
    }
    db_result_free(&r);
    if (!nl)
        return DB_OK;
    for (size_t i = 0; i < nl; i++)
        p[nl + i] = p[i];
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, "SELECT assignee_id, channel, COUNT(*) FROM tickets WHERE assignee_id IN ");
    db_put_placeholders(&q, nl);
    buf_puts(&q, " AND status IN ('new','open') GROUP BY 1, 2 UNION ALL "
                 "SELECT offer_agent_id, channel, COUNT(*) FROM tickets WHERE offer_agent_id IN ");
    db_put_placeholders(&q, nl);
    buf_puts(&q, " AND status IN ('new','open') GROUP BY 1, 2");
    rc = q.data ? db_exec(db, q.data, p, nl * 2, &r) : DB_EOTHER;
    buf_free(&q);
    if (rc)
        return rc;
    for (size_t i = 0; i < r.nrows; i++) {
        int64_t id = db_cell_i64(&r, i, 0);
        int c = channel_index(db_cell(&r, i, 1));
        for (size_t j = 0; j < k; j++) {
            if (want[j]->id != id)
                continue;
            if (c >= 0)
                want[j]->load[c] += db_cell_i64(&r, i, 2);
            want[j]->units += db_cell_i64(&r, i, 2) * routing_weight(cfg, db_cell(&r, i, 1));
        }
    }
    db_result_free(&r);
    return DB_OK;
}

/* Whether picks[i] can take one more ticket of this channel now (locking it first). */
static int lock_and_refresh(struct db *db, struct pick *picks, size_t n, size_t i, const char *channel, int *room)
{
    struct agent *g = picks[i].g;
    int ch = channel_index(channel), rc;
    *room = 0;
    if (!g->locked && (rc = lock_chunk(db, picks, n, i)))
        return rc;
    *room = g->locked == 1 && ch >= 0 && g->max_load[ch] >= 0 && g->load[ch] < g->max_load[ch] &&
            g->units + routing_weight(cfg, channel) <= g->cap_units;
    return DB_OK;
}

/* One ticket: the stage its wait has reached, then the best agent that can take it. */
static int route_one(struct db *db, struct round *rd, struct need *nd, int old_stage)
{
    int64_t w = nd->waited;
    nd->stage = w >= cfg->routing.escalate_secs ? 3 : w >= cfg->routing.overflow_team_secs ? 2
              : w >= cfg->routing.overflow_optional_secs ? 1 : 0;
    int rc = DB_OK;
    if (nd->stage > old_stage) {
        rc = db_exec(db, "UPDATE tickets SET routing_stage = ? WHERE id = ?", DBP(P_I(nd->stage), P_I(nd->ticket)), NULL);
        if (!rc && nd->stage == 3) /* the team's managers hear of it once */
            rc = event_insert(db, "ticket.escalated", nd->ticket, nd->customer, 0, nd->team,
                              json_pack("{s:I, s:I, s:s}", "ticket_id", (json_int_t)nd->ticket, "waited_secs",
                                        (json_int_t)w, "reason", "no agent could take it in time"));
        if (rc)
            return rc;
    }
    /* agents whose offer for this ticket lapsed get it again only when nobody else can */
    /* an agent who declined never gets the ticket again; one whose offer lapsed (away from
     * the desk, went offline) only when nobody else can take it */
    int64_t not_again[64], declined[64];
    size_t n_not = 0, n_declined = 0;
    struct db_result lapsed;
    if (nd->lapsed && (rc = db_exec(db, "SELECT agent_id, outcome = 'declined' FROM ticket_offers WHERE ticket_id = ? "
                                        "AND outcome IN ('expired','withdrawn','declined') LIMIT 64",
                                    DBP(P_I(nd->ticket)), &lapsed)))
        return rc;
    for (size_t i = 0; nd->lapsed && i < lapsed.nrows; i++) {
        if (db_cell_i64(&lapsed, i, 1))
            declined[n_declined++] = db_cell_i64(&lapsed, i, 0);
        else
            not_again[n_not++] = db_cell_i64(&lapsed, i, 0);
    }
    if (nd->lapsed)
        db_result_free(&lapsed);
    struct pick *picks = calloc(rd->agents.n ? rd->agents.n : 1, sizeof(*picks));
    if (!picks)
        return DB_EOTHER;
    for (nd->repeat_ok = 0; nd->repeat_ok < 2 && !rc; nd->repeat_ok++) {
        size_t n = candidates(&rd->agents, nd, not_again, n_not, declined, n_declined, picks);
        for (size_t i = 0; i < n; i++) {
            int room = 0;
            if ((rc = lock_and_refresh(db, picks, n, i, nd->channel, &room)))
                break;
            if (room <= 0)
                continue; /* held by another router (skip it), or full by now */
            json_t *reason = reason_of(nd, &picks[i], n);
            rc = give(rd, nd, picks[i].g, reason);
            json_decref(reason);
            int ch = channel_index(nd->channel);
            picks[i].g->load[ch]++;
            picks[i].g->units += routing_weight(cfg, nd->channel);
            picks[i].g->idle = 0;
            free(picks);
            return rc;
        }
        if (n_not == 0)
            break; /* a second pass would see the same agents */
    }
    free(picks);
    return rc;
}

enum given_field { GF_AGENT, GF_TIMEOUT, GF_REASON };

/* " CASE id WHEN ? THEN ? … END" of one field of the given tickets. */
static void put_case(struct buf *q, struct db_param *p, size_t *np, const struct given *const *g, size_t k,
                     enum given_field f)
{
    buf_puts(q, " CASE id");
    for (size_t i = 0; i < k; i++) {
        buf_puts(q, " WHEN ? THEN ?");
        p[(*np)++] = P_I(g[i]->ticket);
        p[(*np)++] = f == GF_AGENT ? P_I(g[i]->agent) : f == GF_TIMEOUT ? P_I(g[i]->timeout) : P_S(g[i]->reason);
    }
    buf_puts(q, " END");
}

/* The batch's tickets, outright (autoacc 1) or offered, a few UPDATEs for all. */
static int write_tickets(struct db *db, const struct round *rd, int autoacc)
{
    enum { CHUNK = 100 };
    int rc = DB_OK;
    const struct given *g[CHUNK];
    for (size_t at = 0; !rc && at < rd->ngiven;) {
        size_t k = 0, np = 0;
        for (; at < rd->ngiven && k < CHUNK; at++)
            if (rd->given[at].autoacc == autoacc)
                g[k++] = &rd->given[at];
        if (!k)
            break;
        struct db_param p[CHUNK * 7];
        struct buf q;
        buf_init(&q, 0);
        if (autoacc) {
            buf_puts(&q, "UPDATE tickets SET queued_at = NULL, status = IF(status = 'new', 'open', status), assignee_id =");
            put_case(&q, p, &np, g, k, GF_AGENT);
        } else {
            buf_puts(&q, "UPDATE tickets SET offer_agent_id =");
            put_case(&q, p, &np, g, k, GF_AGENT);
            buf_puts(&q, ", offer_expires_at = NOW(3) + INTERVAL (");
            put_case(&q, p, &np, g, k, GF_TIMEOUT);
            buf_puts(&q, ") SECOND");
        }
        buf_puts(&q, ", assign_reason =");
        put_case(&q, p, &np, g, k, GF_REASON);
        buf_puts(&q, " WHERE id IN ");
        db_put_placeholders(&q, k);
        for (size_t i = 0; i < k; i++)
            p[np++] = P_I(g[i]->ticket);
        rc = q.data ? db_exec(db, q.data, p, np, NULL) : DB_EOTHER;
        buf_free(&q);
    }
    return rc;
}

/* The agents given work this round: last_assigned_at (their idle time) in one go. */
static int touch_agents(struct db *db, const struct agents *as)
{
    enum { CHUNK = 200 };
    struct db_param p[CHUNK];
    int rc = DB_OK;
    size_t k = 0;
    for (size_t i = 0; !rc && i < as->n; i++) {
        if (as->a[i].touched)
            p[k++] = P_I(as->a[i].id);
        if (k && (k == CHUNK || i + 1 == as->n)) {
            rc = db_exec_list(db, "UPDATE agent_presence SET last_assigned_at = NOW(3) WHERE agent_id IN ", k, "", p, k, NULL);
            k = 0;
        }
    }
    return rc;
}

/* The offers of the batch into ticket_offers and their events, a few statements for all. */
static int flush_given(struct db *db, struct round *rd)
{
    enum { CHUNK = 32 };
    int rc = write_tickets(db, rd, 1);
    if (!rc)
        rc = write_tickets(db, rd, 0);
    if (!rc && rd->ngiven) /* else the agents are a past round's */
        rc = touch_agents(db, &rd->agents);
    for (size_t at = 0; !rc && at < rd->ngiven; at += CHUNK) {
        size_t k = rd->ngiven - at < CHUNK ? rd->ngiven - at : CHUNK;
        struct db_param p[CHUNK * 4];
        struct buf q;
        buf_init(&q, 0);
        buf_puts(&q, "INSERT INTO ticket_offers (ticket_id, agent_id, outcome, reason) VALUES ");
        db_put_rows(&q, k, "(?, ?, ?, ?)");
        for (size_t i = 0; i < k; i++) {
            const struct given *g = &rd->given[at + i];
            p[i * 4] = P_I(g->ticket);
            p[i * 4 + 1] = P_I(g->agent);
            p[i * 4 + 2] = P_S(g->autoacc ? "auto" : "offered");
            p[i * 4 + 3] = P_S(g->reason);
        }
        rc = q.data ? db_exec(db, q.data, p, k * 4, NULL) : DB_EOTHER;
        buf_free(&q);
    }
    int64_t *ids = rd->ngiven ? calloc(rd->ngiven, sizeof(*ids)) : NULL;
    struct event_row *rows = rd->ngiven ? calloc(rd->ngiven, sizeof(*rows)) : NULL;
    json_t *tickets = NULL;
    if (!rc && rd->ngiven && (!ids || !rows))
        rc = DB_EOTHER;
    for (size_t i = 0; !rc && i < rd->ngiven; i++)
        ids[i] = rd->given[i].ticket;
    if (!rc && rd->ngiven)
        rc = ticket_load_many(db, ids, rd->ngiven, &tickets);
    size_t n = 0, i;
    json_t *t;
    json_array_foreach(rc ? NULL : tickets, i, t) {
        int offer = json_integer_value(json_object_get(t, "offer_agent_id")) != 0;
        rows[n++] = (struct event_row){offer ? "ticket.offered" : "ticket.assigned", json_integer_value(json_object_get(t, "id")),
                                       json_integer_value(json_object_get(t, "customer_id")),
                                       json_integer_value(json_object_get(t, offer ? "offer_agent_id" : "assignee_id")),
                                       json_integer_value(json_object_get(t, "team_id")), json_pack("{s:O}", "ticket", t)};
    }
    if (!rc && n)
        rc = event_insert_many(db, rows, n);
    json_decref(tickets);
    free(rows);
    free(ids);
    for (size_t k = 0; k < rd->ngiven; k++)
        free(rd->given[k].reason);
    rd->ngiven = 0;
    return rc;
}

static int assign_tx(struct db *db, void *arg)
{
    struct round *rd = arg;
    int rc;
    for (size_t k = 0; k < rd->ngiven; k++) /* what a failed attempt gathered */
        free(rd->given[k].reason);
    rd->ngiven = 0;
    if (rd->given_cap < (size_t)cfg->routing.batch) {
        free(rd->given);
        rd->given_cap = 0;
        if (!(rd->given = calloc((size_t)cfg->routing.batch, sizeof(*rd->given))))
            return DB_EOTHER;
        rd->given_cap = (size_t)cfg->routing.batch;
    }
    struct buf q;
    struct db_param p[MAX_TEAMS + 1];
    size_t np = 0;
    buf_init(&q, 0);
    buf_puts(&q, "SELECT t.id, t.channel, COALESCE(t.team_id, 0), COALESCE(t.required_skills, '[]'), "
                 "COALESCE(t.optional_skills, '[]'), TIMESTAMPDIFF(SECOND, t.queued_at, NOW(3)), t.routing_stage, "
                 "t.customer_id, COALESCE(r.name, ''), (SELECT COUNT(*) FROM ticket_offers o WHERE o.ticket_id = t.id "
                 "AND o.outcome IN ('expired','withdrawn','declined')) FROM tickets t LEFT JOIN routing_rules r ON r.id = t.rule_id "
                 "WHERE t.queued_at IS NOT NULL AND t.rule_id IS NOT NULL AND t.assignee_id IS NULL "
                 "AND t.offer_agent_id IS NULL AND t.status IN ('new','open') AND t.channel IN ('chat','email','sms') ");
    int closed = 0;
    for (size_t i = 0; i < rd->teams.n; i++) { /* a closed team's tickets wait */
        if (rd->teams.t[i].open)
            continue;
        buf_puts(&q, closed++ ? ", ?" : "AND (t.team_id IS NULL OR t.team_id NOT IN (?");
        p[np++] = P_I(rd->teams.t[i].id);
    }
    if (closed)
        buf_puts(&q, ")) ");
    buf_puts(&q, "ORDER BY FIELD(t.priority, 'urgent','high','normal','low'), t.queued_at, t.id LIMIT ? "
                 "FOR UPDATE SKIP LOCKED");
    p[np++] = P_I(cfg->routing.batch);
    struct db_result r;
    rc = q.data ? db_exec(db, q.data, p, np, &r) : DB_EOTHER;
    buf_free(&q);
    if (rc)
        return rc;
    /* the agents and their loads only when a ticket waits: most rounds of a staffed
     * queue find none, and the loads count every open ticket; read inside the
     * transaction, so a retry reads them again */
    if (r.nrows)
        rc = load_agents(db, &rd->agents);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        struct need nd = {.ticket = db_cell_i64(&r, i, 0), .channel = db_cell(&r, i, 1), .team = db_cell_i64(&r, i, 2),
                          .waited = db_cell_i64(&r, i, 5), .customer = db_cell_i64(&r, i, 7), .rule = db_cell(&r, i, 8),
                          .lapsed = db_cell_i64(&r, i, 9)};
        add_skills(&nd, db_cell(&r, i, 3));
        nd.nrequired = nd.nskills;
        add_skills(&nd, db_cell(&r, i, 4));
        rc = route_one(db, rd, &nd, (int)db_cell_i64(&r, i, 6));
    }
    db_result_free(&r);
    return rc ? rc : flush_given(db, rd);
}

/* ---- SLA ---- */

static int sla_tx(struct db *db, void *arg)
{
    (void)arg;
    struct db_result r;
    /* sla_check_at (018_sla_check.sql): the warning moment until warned, then the due
     * moment; an index range over the due tickets only, however many are open */
    int rc = db_exec(db, "SELECT id, customer_id, COALESCE(assignee_id, 0), COALESCE(team_id, 0), NOW(3) >= sla_due_at, "
                         "sla_warned, sla_due_at FROM tickets WHERE sla_check_at <= NOW(3) ORDER BY sla_check_at "
                         "LIMIT 500 FOR UPDATE SKIP LOCKED", DBP0, &r);
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        int breach = db_cell_i64(&r, i, 4) != 0;
        int64_t id = db_cell_i64(&r, i, 0);
        rc = db_exec(db, breach ? "UPDATE tickets SET sla_warned = 1, sla_breached = 1 WHERE id = ?"
                                : "UPDATE tickets SET sla_warned = 1 WHERE id = ?", DBP(P_I(id)), NULL);
        if (!rc) /* to the team (managers see it), and to the assignee */
            rc = event_insert(db, breach ? "ticket.sla_breached" : "ticket.sla_warning", id, db_cell_i64(&r, i, 1),
                              db_cell_i64(&r, i, 2), db_cell_i64(&r, i, 3),
                              json_pack("{s:I, s:s}", "ticket_id", (json_int_t)id, "sla_due_at", db_cell(&r, i, 6)));
    }
    db_result_free(&r);
    return rc;
}

int router_sla_pass(struct db *db)
{
    return db_transaction(db, sla_tx, NULL);
}

/* ---- the loop ---- */

static int run_round(struct db *db, struct round *rd)
{
    int rc = load_teams(db, &rd->teams);
    if (!rc)
        rc = db_transaction(db, withdraw_tx, rd);
    if (!rc)
        rc = db_transaction(db, classify_tx, rd);
    if (!rc)
        rc = db_transaction(db, after_hours_tx, rd);
    if (!rc)
        rc = db_transaction(db, assign_tx, rd);
    if (!rc)
        rc = router_sla_pass(db);
    return rc;
}

static void router_main(struct bgthread *self)
{
    struct db *db = db_new(cfg, 1);
    struct round *rd = calloc(1, sizeof(*rd));
    int wait_ms = 0;
    while (rd && bgthread_wait(self, wait_ms)) {
        rd->classified = rd->offered = rd->assigned = rd->withdrawn = 0;
        int rc = run_round(db, rd);
        if (rc)
            log_warn("router", "event=round_failed rc=%d", rc);
        size_t did = rd->classified + rd->offered + rd->assigned + rd->withdrawn;
        if (did) {
            log_debug("router", "event=round classified=%zu offered=%zu assigned=%zu withdrawn=%zu", rd->classified,
                      rd->offered, rd->assigned, rd->withdrawn);
            event_tailer_wake();
        }
        wait_ms = did && !rc ? 0 : (int)cfg->routing.interval_ms;
    }
    if (rd) {
        free(rd->agents.a);
        for (size_t k = 0; k < rd->ngiven; k++)
            free(rd->given[k].reason);
        free(rd->given);
    }
    free(rd);
    db_free(db);
}

int router_start(const struct sb_config *config)
{
    cfg = config;
    if (strcmp(cfg->routing.enabled, "yes") != 0)
        return 0;
    return bgthread_start(&bg, router_main, NULL);
}

void router_wake(void)
{
    bgthread_wake(&bg);
}

void router_stop(void)
{
    bgthread_stop(&bg);
}

/* quality.c — complaint keywords and knowledge-base suggestions; see quality.h. */
#include "quality.h"
#include "gateway/bgthread.h"
#include "gateway/event_tailer.h"
#include "gateway/kb.h"
#include "gateway/kb_index.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/search_text.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/tickets.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_PER_PASS 200
#define SUGGESTIONS 3

static struct bgthread bg = BGTHREAD_INIT;
static const struct sb_config *cfg;

struct keywords {
    struct db_result r; /* word, priority */
    char **folded;
};

static int keywords_load(struct db *db, struct keywords *k)
{
    int rc = db_exec(db, "SELECT word, priority FROM quality_keywords ORDER BY id", DBP0, &k->r);
    if (rc)
        return rc;
    k->folded = calloc(k->r.nrows + 1, sizeof(*k->folded));
    for (size_t i = 0; k->folded && i < k->r.nrows; i++) {
        struct buf b;
        buf_init(&b, 0);
        search_fold(db_cell(&k->r, i, 0), &b);
        k->folded[i] = b.data ? strdup(text_trim(b.data)) : NULL; /* "　投诉" is 投诉 */
        buf_free(&b);
    }
    return k->folded ? DB_OK : DB_EOTHER;
}

static void keywords_free(struct keywords *k)
{
    for (size_t i = 0; k->folded && i < k->r.nrows; i++)
        free(k->folded[i]);
    free(k->folded);
    db_result_free(&k->r);
}

static int rank(const char *priority)
{
    static const char *const order[] = {"low", "normal", "high", "urgent"};
    for (int i = 0; i < 4; i++)
        if (strcmp(priority, order[i]) == 0)
            return i;
    return 1;
}

/* The words of k in text, ", "-joined into found; the highest priority among them. */
static const char *matches(const struct keywords *k, const char *text, char *found, size_t size)
{
    struct buf folded;
    buf_init(&folded, 0);
    search_fold(text, &folded);
    const char *top = NULL;
    found[0] = '\0';
    for (size_t i = 0; folded.data && i < k->r.nrows; i++) {
        if (!k->folded[i] || !*k->folded[i] || !strstr(folded.data, k->folded[i]))
            continue;
        size_t n = strlen(found);
        snprintf(found + n, size - n, "%s%s", n ? ", " : "", db_cell(&k->r, i, 0));
        if (!top || rank(db_cell(&k->r, i, 1)) > rank(top))
            top = db_cell(&k->r, i, 1);
    }
    buf_free(&folded);
    return top;
}

/* Flags the ticket (once), raises its priority, tells its manager(s); *fresh when this
 * message flagged it (the event follows, with the ticket as it is now). */
static int flag(struct db *db, int64_t ticket, const char *words, const char *priority, int *fresh)
{
    struct db_result r;
    int rc = db_exec(db, "UPDATE tickets SET flagged_at = NOW(3), flag_reason = ?, "
                         "priority = IF(FIELD(priority, 'low','normal','high','urgent') < FIELD(?, 'low','normal','high','urgent'), "
                         "?, priority) WHERE id = ? AND flagged_at IS NULL",
                     DBP(P_S(words), P_S(priority), P_S(priority), P_I(ticket)), &r);
    if (rc)
        return rc;
    *fresh = r.affected > 0;
    db_result_free(&r);
    if (!*fresh)
        return DB_OK;
    char message[400];
    snprintf(message, sizeof(message), "工单 #%lld 被标记：客户提到「%s」 · Ticket #%lld flagged: the customer wrote \"%s\"",
             (long long)ticket, words, (long long)ticket, words);
    char key[64];
    snprintf(key, sizeof(key), "ticket_flagged:%lld", (long long)ticket);
    /* the team's manager; a ticket without a team (or a team without a manager): the admins */
    rc = db_exec(db, "INSERT IGNORE INTO reminders (kind, agent_id, customer_id, message, dedupe_key) "
                     "SELECT 'ticket_flagged', a.id, t.customer_id, ?, ? FROM tickets t "
                     "LEFT JOIN teams tm ON tm.id = t.team_id "
                     "JOIN agents a ON (a.id = tm.manager_id) OR (tm.manager_id IS NULL AND a.role = 'admin') "
                     "WHERE t.id = ? AND a.active = 1",
                 DBP(P_S(message), P_S(key), P_I(ticket)), NULL);
    if (!rc)
        log_info("quality", "event=ticket_flagged ticket=%lld words=\"%s\"", (long long)ticket, words);
    return rc;
}

/* A customer message of the pass: its ticket, id and text (borrowed from the payload). */
struct inbound {
    int64_t ticket, message;
    const char *text;
    json_t *payload;
    int fresh;      /* this message flagged its ticket */
    char words[256];
};

static json_t *ticket_of(json_t *tickets, int64_t id)
{
    size_t i;
    json_t *t;
    json_array_foreach(tickets, i, t) {
        if (json_integer_value(json_object_get(t, "id")) == id)
            return t;
    }
    return NULL;
}

/* The pass's messages, in order: flags first (each changes its ticket), then every ticket
 * they touch in one statement per 64 (ticket_load_many), then a ticket.flagged event per
 * fresh flag, and each message's suggestions, written together (event_insert_many) —
 * a few statements per pass instead of three per message. */
static int handle(struct db *db, const struct keywords *k, struct inbound *in, size_t n)
{
    int rc = DB_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        const char *priority = matches(k, in[i].text, in[i].words, sizeof(in[i].words));
        rc = priority ? flag(db, in[i].ticket, in[i].words, priority, &in[i].fresh) : DB_OK;
    }
    int64_t *ids = n ? calloc(n, sizeof(*ids)) : NULL;
    size_t nids = 0;
    for (size_t i = 0; ids && i < n; i++) {
        size_t j = 0;
        while (j < nids && ids[j] != in[i].ticket)
            j++;
        if (j == nids)
            ids[nids++] = in[i].ticket;
    }
    json_t *tickets = NULL;
    if (!rc)
        rc = n && !ids ? DB_EOTHER : ticket_load_many(db, ids, nids, &tickets);
    free(ids);
    struct event_row *rows = n ? calloc(n, sizeof(*rows)) : NULL;
    size_t nrows = 0;
    if (!rc && n && !rows)
        rc = DB_EOTHER;
    if (!rc && n)
        kb_index_hold(db); /* one generation read for the pass's searches; failing, each reads its own */
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *t = ticket_of(tickets, in[i].ticket), *items = NULL;
        if (!t)
            continue; /* gone since (merged away) */
        if (in[i].fresh &&
            (rc = ticket_event(db, "ticket.flagged", t, json_pack("{s:O, s:s}", "ticket", t, "keywords", in[i].words))))
            break;
        /* also when nothing matches: the console drops the last message's suggestions */
        if ((rc = kb_suggest(db, json_string_value(json_object_get(t, "subject")), in[i].text, SUGGESTIONS, &items)))
            break;
        rows[nrows++] = (struct event_row){"kb.suggestions", in[i].ticket,
                                           json_integer_value(json_object_get(t, "customer_id")),
                                           json_integer_value(json_object_get(t, "assignee_id")),
                                           json_integer_value(json_object_get(t, "team_id")),
                                           json_pack("{s:I, s:I, s:o}", "ticket_id", (json_int_t)in[i].ticket,
                                                     "message_id", (json_int_t)in[i].message, "items", items)};
    }
    kb_index_release();
    if (!rc)
        rc = event_insert_many(db, rows, nrows);
    for (size_t i = 0; rows && i < nrows; i++) /* not handed over (a failure before): ours to free */
        json_decref(rows[i].payload);
    free(rows);
    json_decref(tickets);
    return rc;
}

static int pass_tx(struct db *db, void *arg)
{
    int *did = arg;
    int64_t last = 0;
    struct db_result ev;
    int settled = 0;
    int rc = event_cursor_take(db, "quality_events", cfg->crm.settle_ms * 1000, &last, &settled);
    if (!rc && !settled)
        return DB_OK;
    if (!rc)
        rc = db_exec(db, "SELECT id, kind, payload, created_at < NOW(3) - INTERVAL ? MICROSECOND FROM events "
                         "WHERE id > ? ORDER BY id LIMIT ?",
                     DBP(P_I(cfg->crm.settle_ms * 1000), P_I(last), P_I(EVENTS_PER_PASS)), &ev);
    if (rc)
        return rc;
    event_keep_settled(&ev, 3);
    struct keywords k = {0};
    struct inbound *in = ev.nrows ? calloc(ev.nrows, sizeof(*in)) : NULL;
    size_t n = 0;
    if (ev.nrows)
        rc = in ? keywords_load(db, &k) : DB_EOTHER;
    for (size_t i = 0; !rc && i < ev.nrows; i++) {
        if (strcmp(db_cell(&ev, i, 1), "message.created") != 0)
            continue;
        json_t *p = json_loads(db_cell(&ev, i, 2), 0, NULL), *msg = json_object_get(p, "message");
        const char *dir = json_string_value(json_object_get(msg, "direction"));
        const char *author = json_string_value(json_object_get(msg, "author_type"));
        int64_t ticket = json_integer_value(json_object_get(msg, "ticket_id"));
        const char *text = json_string_value(json_object_get(msg, "body_text"));
        if (dir && strcmp(dir, "in") == 0 && author && strcmp(author, "customer") == 0 && ticket && text)
            in[n++] = (struct inbound){.ticket = ticket, .message = json_integer_value(json_object_get(msg, "id")),
                                       .text = text, .payload = p};
        else
            json_decref(p);
    }
    if (!rc)
        rc = handle(db, &k, in, n);
    if (!rc && ev.nrows) {
        rc = event_cursor_advance(db, "quality_events", db_cell_i64(&ev, ev.nrows - 1, 0));
        *did = 1;
    }
    for (size_t i = 0; i < n; i++)
        json_decref(in[i].payload);
    free(in);
    if (ev.nrows)
        keywords_free(&k);
    db_result_free(&ev);
    return rc;
}

static void quality_main(struct bgthread *self)
{
    struct db *db = db_new(cfg, 1);
    while (!bgthread_stopping(self)) {
        int did = 0;
        if (db_transaction(db, pass_tx, &did) < 0)
            log_warn("quality", "event=pass_failed");
        if (did)
            event_tailer_wake();
        else
            bgthread_wait(self, 500);
    }
    db_free(db);
}

int quality_worker_start(const struct sb_config *config)
{
    cfg = config;
    return bgthread_start(&bg, quality_main, NULL);
}

void quality_worker_stop(void)
{
    bgthread_stop(&bg);
}

/* webchat.c — see webchat.h. */
#include "webchat.h"
#include "gateway/agent_socket.h"
#include "gateway/db.h"
#include "gateway/dbpool.h"
#include "gateway/event_tailer.h"
#include "gateway/ingest.h"
#include "gateway/kb_answer.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/rate_limit.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/metrics.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY_CHARS 4000
#define MAX_HISTORY 10000
#define BUCKETS 4096

enum hello_state { HELLO_NONE, HELLO_PENDING, HELLO_DONE };

struct chat_conn {
    struct ws_conn *ws;
    enum hello_state hello;
    int64_t visitor_id;
    int64_t ticket_id;              /* the open conversation, 0 before the first message */
    int64_t assignee_id, team_id;   /* who may see our typing; kept fresh by ticket events */
    char name[201];
    char email[CONTACT_MAX];        /* to attach once the first message made a customer */
    struct rate_limit frames;
    int64_t *msg_times;       /* the last chat_messages_per_10s messages' times: a sliding window */
    int msg_i;
    struct chat_conn *bnext, *bprev;
    int hashed;
    /* Resume without loss or duplicates: the socket is indexed BEFORE the history is read;
     * live messages arriving meanwhile are held, then everything goes out once, by id. */
    int catching_up;
    json_t *held;             /* visitor frames that arrived while catching up */
    int64_t *sent;            /* ids sent on this socket: an open-addressing set */
    size_t sent_cap, sent_n;
    int64_t resume_after;     /* the client's last_message_id */
};

static struct chat_conn *buckets[BUCKETS];

static int msg_window = 10; /* [server] chat_messages_per_10s */

void webchat_init(const struct sb_config *cfg)
{
    msg_window = (int)cfg->server.chat_messages_per_10s;
    memset(buckets, 0, sizeof(buckets));
}

/* ---- ids already sent on a socket ---- */

static int sent_has(const struct chat_conn *cc, int64_t id)
{
    if (!cc->sent_cap)
        return 0;
    for (size_t i = (size_t)id % cc->sent_cap;; i = (i + 1) % cc->sent_cap) {
        if (cc->sent[i] == 0)
            return 0;
        if (cc->sent[i] == id)
            return 1;
    }
}

static void sent_add(struct chat_conn *cc, int64_t id)
{
    if ((cc->sent_n + 1) * 2 > cc->sent_cap) {
        size_t cap = cc->sent_cap ? cc->sent_cap * 2 : 64;
        int64_t *v = calloc(cap, sizeof(int64_t)), *old = cc->sent;
        if (!v)
            return;
        size_t oldcap = cc->sent_cap;
        cc->sent = v;
        cc->sent_cap = cap;
        cc->sent_n = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i])
                sent_add(cc, old[i]);
        free(old);
    }
    for (size_t i = (size_t)id % cc->sent_cap;; i = (i + 1) % cc->sent_cap) {
        if (cc->sent[i] == id)
            return;
        if (cc->sent[i] == 0) {
            cc->sent[i] = id;
            cc->sent_n++;
            return;
        }
    }
}

/* ---- index of sockets by conversation ---- */

static size_t bucket_of(int64_t ticket_id)
{
    return (size_t)((uint64_t)ticket_id * 11400714819323198485ULL >> 52) % BUCKETS;
}

static void unindex(struct chat_conn *cc)
{
    if (!cc->hashed)
        return;
    if (cc->bprev)
        cc->bprev->bnext = cc->bnext;
    else
        buckets[bucket_of(cc->ticket_id)] = cc->bnext;
    if (cc->bnext)
        cc->bnext->bprev = cc->bprev;
    cc->bnext = cc->bprev = NULL;
    cc->hashed = 0;
}

static void set_conversation(struct chat_conn *cc, int64_t ticket_id)
{
    if (cc->hashed && cc->ticket_id == ticket_id)
        return;
    unindex(cc);
    cc->ticket_id = ticket_id;
    if (!ticket_id)
        return;
    size_t b = bucket_of(ticket_id);
    cc->bnext = buckets[b];
    if (cc->bnext)
        cc->bnext->bprev = cc;
    buckets[b] = cc;
    cc->hashed = 1;
}

/* ---- frames out ---- */


/* A stored message as the visitor sees it. */
static json_t *visitor_frame(json_t *m)
{
    const char *author_type = json_string_value(json_object_get(m, "author_type"));
    const char *from = author_type && strcmp(author_type, "customer") == 0 ? "customer"
                       : author_type && strcmp(author_type, "bot") == 0  ? "bot"
                                                                          : "agent";
    json_t *f = json_pack("{s:s, s:O, s:s, s:O, s:O}", "type", "message", "message_id", json_object_get(m, "id"),
                          "from", from, "body", json_object_get(m, "body_text"), "at", json_object_get(m, "created_at"));
    const char *author = json_string_value(json_object_get(m, "author_name"));
    if (author && strcmp(from, "agent") == 0)
        json_object_set_new(f, "author", json_string(author));
    json_int_t article = json_integer_value(json_object_get(m, "kb_article_id"));
    if (article) /* a self-service offer: the widget asks "solved?" under it */
        json_object_set_new(f, "offer", json_pack("{s:I}", "article_id", article));
    const char *ext = json_string_value(json_object_get(m, "external_id"));
    const char *colon = ext && strcmp(from, "customer") == 0 ? strchr(ext, ':') : NULL;
    if (colon)
        json_object_set_new(f, "client_id", json_string(colon + 1));
    return f;
}

/* Sends a message frame once per socket; held while the socket catches up. */
static void send_message(struct chat_conn *cc, json_t *frame)
{
    int64_t id = json_integer_value(json_object_get(frame, "message_id"));
    if (cc->catching_up) {
        if (!cc->held)
            cc->held = json_array();
        json_array_append(cc->held, frame);
        return;
    }
    if (id <= 0 || sent_has(cc, id))
        return;
    sent_add(cc, id);
    char *s = json_dumps(frame, JSON_COMPACT);
    if (s)
        ws_send_str(cc->ws, s);
    free(s);
}

/* ---- identities: the visitor's name and e-mail ---- */

struct identify {
    int64_t visitor_id;
    char name[201];
    char email[CONTACT_MAX];
    int64_t customer_id; /* out: the visitor's customer, 0 before the first message */
};

/* Writes name/email to the visitor and, when a customer exists, to it: an e-mail that is
 * another customer's identity is kept as an unverified contact, never merged here. */
static int identify_tx(struct db *db, void *arg)
{
    struct identify *id = arg;
    char ident[32];
    snprintf(ident, sizeof(ident), "v%lld", (long long)id->visitor_id);
    int rc = db_exec(db, "UPDATE chat_visitors SET name = COALESCE(?, name), email = COALESCE(?, email), "
                         "last_seen_at = NOW(3) WHERE id = ?",
                     DBP(P_S(id->name[0] ? id->name : NULL), P_S(id->email[0] ? id->email : NULL), P_I(id->visitor_id)),
                     NULL);
    if (!rc)
        rc = db_scalar_i64(db, "SELECT customer_id FROM customer_identities WHERE kind = 'chat' AND value = ? "
                               "AND is_primary = 1", DBP(P_S(ident)), 0, &id->customer_id);
    if (rc || !id->customer_id)
        return rc;
    if (id->name[0])
        rc = db_exec(db, "UPDATE customers SET name = ? WHERE id = ?", DBP(P_S(id->name), P_I(id->customer_id)), NULL);
    if (rc || !id->email[0])
        return rc;
    int64_t owner = 0, mine = 0;
    rc = db_scalar_i64(db, "SELECT customer_id FROM customer_identities WHERE kind = 'email' AND value = ? "
                           "AND is_primary = 1", DBP(P_S(id->email)), 0, &owner);
    if (!rc)
        rc = db_scalar_i64(db, "SELECT COUNT(*) FROM customer_identities WHERE customer_id = ? AND kind = 'email' "
                               "AND value = ?", DBP(P_I(id->customer_id), P_S(id->email)), 0, &mine);
    if (rc || mine)
        return rc;
    rc = db_exec(db, "INSERT INTO customer_identities (customer_id, kind, value, is_primary) VALUES (?, 'email', ?, ?)",
                 DBP(P_I(id->customer_id), P_S(id->email), owner ? P_NULL : P_I(1)), NULL);
    if (!rc)
        rc = event_insert(db, "customer.updated", 0, id->customer_id, 0, 0,
                          json_pack("{s:I, s:s?, s:s, s:b}", "customer_id", (json_int_t)id->customer_id, "name",
                                    id->name[0] ? id->name : NULL, "email", id->email, "primary", owner == 0));
    return rc;
}

/* Validates optional name/email of a frame into id; -1 (error sent) when invalid. */
static int read_identity(struct ws_conn *ws, json_t *msg, struct identify *id)
{
    const char *name = json_string_value(json_object_get(msg, "name"));
    const char *email = json_string_value(json_object_get(msg, "email"));
    const char *why = NULL;
    if (name && *name && (utf8_length(name, strlen(name)) > 200 || text_copy(id->name, sizeof(id->name), name) < 0)) {
        ws_send_error(ws, "invalid", "name: at most 200 characters", NULL);
        return -1;
    }
    if (email && *email && contact_email_normalise(email, id->email, sizeof(id->email), &why) < 0) {
        ws_send_error(ws, "invalid", "email: not a valid e-mail address", NULL);
        return -1;
    }
    text_copy(id->name, sizeof(id->name), text_trim(id->name));
    return 0;
}

/* ---- hello ---- */

struct hello_job {
    struct ws_conn *ws;
    char token[80];            /* in: presented; out: the visitor's (new ones are minted) */
    int64_t last_message_id;
    struct identify id;
    int rc;
    int64_t ticket_id, assignee_id, team_id;
    char name[201], email[CONTACT_MAX];
};

static void hash_token(const char *token, unsigned char out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

static int find_or_mint_visitor(struct db *db, struct hello_job *j)
{
    unsigned char h[32];
    struct db_result r;
    int rc = DB_OK;
    if (j->token[0]) {
        hash_token(j->token, h);
        if ((rc = db_exec(db, "SELECT id, COALESCE(name, ''), COALESCE(email, '') FROM chat_visitors "
                              "WHERE token_hash = ?", DBP(P_SN((const char *)h, 32)), &r)))
            return rc;
        if (r.nrows) {
            j->id.visitor_id = db_cell_i64(&r, 0, 0);
            text_copy(j->name, sizeof(j->name), db_cell(&r, 0, 1));
            text_copy(j->email, sizeof(j->email), db_cell(&r, 0, 2));
        }
        db_result_free(&r);
    }
    if (j->id.visitor_id)
        return DB_OK;
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(j->token, sizeof(j->token), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    hash_token(j->token, h);
    if ((rc = db_exec(db, "INSERT INTO chat_visitors (token_hash) VALUES (?)", DBP(P_SN((const char *)h, 32)), &r)))
        return rc;
    j->id.visitor_id = (int64_t)r.insert_id;
    db_result_free(&r);
    return DB_OK;
}

static int load_conversation(struct db *db, struct hello_job *j)
{
    char ident[32];
    snprintf(ident, sizeof(ident), "v%lld", (long long)j->id.visitor_id);
    struct db_result r;
    int rc = db_exec(db, "SELECT t.id, COALESCE(t.assignee_id, 0), COALESCE(t.team_id, 0) FROM tickets t "
                         "JOIN customer_identities i ON i.customer_id = t.customer_id AND i.kind = 'chat' "
                         "AND i.value = ? AND i.is_primary = 1 "
                         "WHERE t.channel = 'chat' AND t.status IN ('new','open','pending') ORDER BY t.id DESC LIMIT 1",
                     DBP(P_S(ident)), &r);
    if (rc)
        return rc;
    if (r.nrows) {
        j->ticket_id = db_cell_i64(&r, 0, 0);
        j->assignee_id = db_cell_i64(&r, 0, 1);
        j->team_id = db_cell_i64(&r, 0, 2);
    }
    db_result_free(&r);
    return DB_OK;
}

/* ---- history (resume) ---- */

struct history_job {
    struct ws_conn *ws;
    int64_t ticket_id, after;
    int quiet; /* a catch-up after the first message: no "synced" frame */
    int rc;
    json_t *rows;
};

static void on_history_run(struct db *db, void *arg)
{
    struct history_job *h = arg;
    struct db_result r;
    h->rc = db_exec(db, "SELECT m.id, m.author_type, ag.name AS author_name, m.body_text, m.created_at, m.external_id, "
                        "m.kb_article_id "
                        "FROM messages m LEFT JOIN agents ag ON ag.id = m.author_id AND m.author_type = 'agent' "
                        "WHERE m.ticket_id = ? AND m.internal = 0 AND m.id > ? ORDER BY m.id LIMIT 10000",
                    DBP(P_I(h->ticket_id), P_I(h->after)), &r);
    if (h->rc)
        return;
    h->rows = db_rows_json(&r);
    db_result_free(&r);
}

static int by_message_id(const void *a, const void *b)
{
    int64_t x = json_integer_value(json_object_get(*(json_t *const *)a, "message_id"));
    int64_t y = json_integer_value(json_object_get(*(json_t *const *)b, "message_id"));
    return (x > y) - (x < y);
}

/* The read happened after the socket was indexed: together with what was held, nothing
 * committed is missing; the id set drops what both carried. */
static void on_history_done(void *arg)
{
    struct history_job *h = arg;
    struct chat_conn *cc = ws_alive(h->ws) ? ws_user(h->ws) : NULL;
    if (cc) {
        size_t i, n = json_array_size(cc->held);
        json_t *m, **held = n ? calloc(n, sizeof(json_t *)) : NULL;
        for (i = 0; held && i < n; i++)
            held[i] = json_array_get(cc->held, i);
        if (held)
            qsort(held, n, sizeof(json_t *), by_message_id);
        cc->catching_up = 0;
        int64_t last = h->after;
        json_array_foreach(h->rows, i, m) {
            json_t *f = visitor_frame(m);
            send_message(cc, f);
            last = json_integer_value(json_object_get(m, "id"));
            json_decref(f);
        }
        for (i = 0; held && i < n; i++) {
            send_message(cc, held[i]);
            int64_t id = json_integer_value(json_object_get(held[i], "message_id"));
            last = id > last ? id : last;
        }
        free(held);
        json_decref(cc->held);
        cc->held = NULL;
        if (h->rc && !h->quiet)
            ws_send_error(h->ws, "unavailable", "history could not be loaded; reconnect to resume", NULL);
        else if (!h->quiet)
            ws_send_json(h->ws, json_pack("{s:s, s:I}", "type", "synced", "last_message_id", (json_int_t)last));
    }
    json_decref(h->rows);
    ws_unref(h->ws);
    free(h);
}

static void start_history(struct chat_conn *cc, int quiet)
{
    struct history_job *h = calloc(1, sizeof(*h));
    if (!h)
        return;
    h->ws = cc->ws;
    h->ticket_id = cc->ticket_id;
    h->after = cc->resume_after;
    h->quiet = quiet;
    cc->catching_up = 1;
    ws_ref(cc->ws);
    if (dbpool_submit(on_history_run, on_history_done, h) < 0) {
        cc->catching_up = 0;
        ws_unref(cc->ws);
        free(h);
    }
}

static int hello_tx(struct db *db, void *arg)
{
    struct hello_job *j = arg;
    int rc = find_or_mint_visitor(db, j);
    if (!rc && (j->id.name[0] || j->id.email[0]))
        rc = identify_tx(db, &j->id);
    else if (!rc)
        rc = db_exec(db, "UPDATE chat_visitors SET last_seen_at = NOW(3) WHERE id = ?", DBP(P_I(j->id.visitor_id)), NULL);
    if (!rc)
        rc = load_conversation(db, j);
    if (j->id.name[0])
        text_copy(j->name, sizeof(j->name), j->id.name);
    if (j->id.email[0])
        text_copy(j->email, sizeof(j->email), j->id.email);
    return rc;
}

static void on_hello_run(struct db *db, void *arg)
{
    struct hello_job *j = arg;
    j->rc = db_transaction(db, hello_tx, j);
}

static void on_hello_done(void *arg)
{
    struct hello_job *j = arg;
    struct chat_conn *cc = ws_alive(j->ws) ? ws_user(j->ws) : NULL;
    if (cc && j->rc) {
        cc->hello = HELLO_NONE;
        ws_send_error(j->ws, "unavailable", "the service is unavailable; retry shortly", NULL);
    } else if (cc) {
        cc->hello = HELLO_DONE;
        cc->visitor_id = j->id.visitor_id;
        cc->assignee_id = j->assignee_id;
        cc->team_id = j->team_id;
        text_copy(cc->name, sizeof(cc->name), j->name);
        text_copy(cc->email, sizeof(cc->email), j->email);
        set_conversation(cc, j->ticket_id);
        cc->resume_after = j->last_message_id;
        ws_send_json(j->ws, json_pack("{s:s, s:s, s:o, s:{s:s?, s:s?}}", "type", "welcome", "visitor_token", j->token,
                                   "conversation_id", j->ticket_id ? json_integer(j->ticket_id) : json_null(),
                                   "visitor", "name", j->name[0] ? j->name : NULL, "email",
                                   j->email[0] ? j->email : NULL));
        if (j->ticket_id)
            start_history(cc, 0);
    }
    ws_unref(j->ws);
    free(j);
}

static void handle_hello(struct ws_conn *ws, struct chat_conn *cc, json_t *msg)
{
    if (cc->hello != HELLO_NONE) {
        ws_send_error(ws, "invalid", "hello was already sent on this socket", NULL);
        return;
    }
    struct hello_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    const char *token = json_string_value(json_object_get(msg, "visitor_token"));
    json_t *last = json_object_get(msg, "last_message_id");
    if (token && strlen(token) < sizeof(j->token))
        text_copy(j->token, sizeof(j->token), token);
    j->last_message_id = json_is_integer(last) && json_integer_value(last) > 0 ? json_integer_value(last) : 0;
    if (read_identity(ws, msg, &j->id) < 0) {
        free(j);
        return;
    }
    j->ws = ws;
    ws_ref(ws);
    cc->hello = HELLO_PENDING;
    if (dbpool_submit(on_hello_run, on_hello_done, j) < 0) {
        cc->hello = HELLO_NONE;
        ws_unref(ws);
        free(j);
        ws_send_error(ws, "unavailable", "server is shutting down", NULL);
    }
}

/* ---- identify ---- */

struct identify_job {
    struct ws_conn *ws;
    struct identify id;
    int rc;
    int answer;         /* the visitor asked (identify frame): answer identified */
};

static void on_identify_run(struct db *db, void *arg)
{
    struct identify_job *j = arg;
    j->rc = db_transaction(db, identify_tx, &j->id);
    if (!j->rc)
        event_tailer_wake();
}

static void on_identify_done(void *arg)
{
    struct identify_job *j = arg;
    struct chat_conn *cc = j->ws && ws_alive(j->ws) ? ws_user(j->ws) : NULL;
    if (cc && j->rc) {
        ws_send_error(j->ws, "unavailable", "your details were not saved; retry", NULL);
    } else if (cc && j->answer) {
        if (j->id.name[0])
            text_copy(cc->name, sizeof(cc->name), j->id.name);
        if (j->id.email[0])
            text_copy(cc->email, sizeof(cc->email), j->id.email);
        ws_send_json(j->ws, json_pack("{s:s, s:s?, s:s?}", "type", "identified", "name", cc->name[0] ? cc->name : NULL,
                                   "email", cc->email[0] ? cc->email : NULL));
    }
    if (j->ws)
        ws_unref(j->ws);
    free(j);
}

static void submit_identify(struct ws_conn *ws, const struct identify *id, int answer)
{
    struct identify_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->id = *id;
    j->answer = answer;
    j->ws = ws;
    ws_ref(ws);
    if (dbpool_submit(on_identify_run, on_identify_done, j) < 0) {
        ws_unref(ws);
        free(j);
    }
}

/* ---- self-service answers ("this solved it" / "talk to a person") ---- */

struct answer_job {
    struct ws_conn *ws;
    int64_t ticket_id, message_id;
    bool solved;
    int rc;
};

static int answer_tx(struct db *db, void *arg)
{
    struct answer_job *j = arg;
    return kb_answer_reply(db, j->ticket_id, j->message_id, j->solved);
}

static void on_answer_run(struct db *db, void *arg)
{
    struct answer_job *j = arg;
    j->rc = db_transaction(db, answer_tx, j);
    if (j->rc == DB_OK)
        event_tailer_wake();
}

static void on_answer_done(void *arg)
{
    struct answer_job *j = arg;
    if (ws_alive(j->ws) && j->rc == KB_ANSWER_STALE)
        ws_send_error(j->ws, "stale", "that question was already answered", NULL);
    else if (ws_alive(j->ws) && j->rc)
        ws_send_error(j->ws, "unavailable", "not saved: the service is unavailable; retry", NULL);
    ws_unref(j->ws);
    free(j);
}

/* {"type":"kb_answer","message_id":N,"solved":bool} about the offer in this conversation. */
static void handle_kb_answer(struct ws_conn *ws, struct chat_conn *cc, json_t *msg)
{
    json_t *mid = json_object_get(msg, "message_id"), *solved = json_object_get(msg, "solved");
    if (!cc->ticket_id || !json_is_integer(mid) || !json_is_boolean(solved)) {
        ws_send_error(ws, "invalid", "kb_answer needs message_id and solved (true/false) in a conversation", NULL);
        return;
    }
    struct answer_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    *j = (struct answer_job){.ws = ws, .ticket_id = cc->ticket_id, .message_id = json_integer_value(mid),
                             .solved = json_is_true(solved)};
    ws_ref(ws);
    if (dbpool_submit(on_answer_run, on_answer_done, j) < 0) {
        ws_unref(ws);
        free(j);
        ws_send_error(ws, "unavailable", "busy; retry", NULL);
    }
}

static void handle_identify(struct ws_conn *ws, struct chat_conn *cc, json_t *msg)
{
    struct identify id = {.visitor_id = cc->visitor_id};
    if (read_identity(ws, msg, &id) < 0)
        return;
    if (!id.name[0] && !id.email[0]) {
        ws_send_error(ws, "invalid", "identify needs a name or an email", NULL);
        return;
    }
    submit_identify(ws, &id, 1);
}

/* ---- messages ---- */

struct pending_ack {
    struct ws_conn *ws;
    char client_id[65];
};

static void on_ack_loop(void *arg)
{
    struct ingest_msg *m = arg;
    struct pending_ack *pa = m->user;
    struct chat_conn *cc = ws_alive(pa->ws) ? ws_user(pa->ws) : NULL;
    if (cc && m->rc == 0) {
        int first = !cc->ticket_id || cc->ticket_id != m->ticket_id;
        if (first) {
            set_conversation(cc, m->ticket_id);
            cc->assignee_id = cc->team_id = 0;
            /* what was committed with the message (a self-service offer) may have been fed
             * before the socket was indexed under its conversation: read it once more */
            cc->resume_after = m->message_id;
            start_history(cc, 1);
        }
        ws_send_json(pa->ws, json_pack("{s:s, s:s, s:I, s:I}", "type", "ack", "client_id", pa->client_id, "message_id",
                                    (json_int_t)m->message_id, "conversation_id", (json_int_t)m->ticket_id));
        if (first && (cc->email[0] || cc->name[0])) { /* details left before the customer existed */
            struct identify id = {.visitor_id = cc->visitor_id};
            text_copy(id.name, sizeof(id.name), cc->name);
            text_copy(id.email, sizeof(id.email), cc->email);
            submit_identify(pa->ws, &id, 0);
        }
    } else if (cc) {
        ws_send_error(pa->ws, m->rc == INGEST_EINVAL ? "invalid" : "unavailable",
                   m->rc == INGEST_EINVAL ? "the message was refused" : "not saved: the service is unavailable; resend",
                   pa->client_id);
    }
    ws_unref(pa->ws);
    free(pa);
    ingest_msg_free(m);
}

/* Runs on the ingest writer thread after COMMIT: hand over to the net thread. */
static void on_stored(struct ingest_msg *m)
{
    if (loop_post(on_ack_loop, m) < 0) {
        /* the loop is gone (shutdown): the message is stored; the client will resend its
         * client_id after reconnecting and be acknowledged then */
        free(m->user);
        ingest_msg_free(m);
    }
}

static int valid_client_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

static void handle_message(struct ws_conn *ws, struct chat_conn *cc, json_t *msg)
{
    const char *cid = json_string_value(json_object_get(msg, "client_id"));
    const char *body = json_string_value(json_object_get(msg, "body"));
    if (!valid_client_id(cid)) {
        ws_send_error(ws, "invalid", "client_id must be 1..64 printable ASCII characters", NULL);
        return;
    }
    if (!body || strspn(body, " \t\r\n") == strlen(body)) {
        ws_send_error(ws, "invalid", "body must be a non-empty string", cid);
        return;
    }
    if (utf8_length(body, strlen(body)) > MAX_BODY_CHARS) {
        ws_send_error(ws, "too_long", "a message may have at most 4000 characters", cid);
        return;
    }
    int64_t now = metrics_now_us();
    if (cc->msg_times[cc->msg_i] && now - cc->msg_times[cc->msg_i] < 10 * 1000000LL) {
        ws_send_error(ws, "rate_limited", "too many messages; wait a moment and resend", cid);
        return;
    }
    cc->msg_times[cc->msg_i] = now;
    cc->msg_i = (cc->msg_i + 1) % msg_window;
    struct ingest_msg *m = calloc(1, sizeof(*m));
    struct pending_ack *pa = calloc(1, sizeof(*pa));
    if (!m || !pa || !(m->body_text = strdup(body))) {
        free(m);
        free(pa);
        return;
    }
    text_copy(m->channel, sizeof(m->channel), "chat");
    snprintf(m->external_id, sizeof(m->external_id), "v%lld:%s", (long long)cc->visitor_id, cid);
    text_copy(m->identity_kind, sizeof(m->identity_kind), "chat");
    snprintf(m->identity_value, sizeof(m->identity_value), "v%lld", (long long)cc->visitor_id);
    if (cc->name[0])
        text_copy(m->name, sizeof(m->name), cc->name);
    else
        snprintf(m->name, sizeof(m->name), "Visitor %lld", (long long)cc->visitor_id);
    m->ticket_hint = cc->ticket_id;
    m->done = on_stored;
    m->user = pa;
    pa->ws = ws;
    text_copy(pa->client_id, sizeof(pa->client_id), cid);
    ws_ref(ws);
    int rc = ingest_submit(m);
    if (rc < 0) {
        ws_unref(ws);
        free(pa);
        ingest_msg_free(m);
        /* "unavailable" with the client_id: the widget resends it a few seconds later */
        ws_send_error(ws, "unavailable", rc == INGEST_EBUSY ? "busy: not saved; resend in a moment"
                                                            : "server is shutting down; resend after reconnecting", cid);
    }
}

static void handle_typing(struct chat_conn *cc, json_t *msg)
{
    if (cc->ticket_id)
        agent_socket_customer_typing(cc->ticket_id, cc->assignee_id, cc->team_id,
                                     json_is_true(json_object_get(msg, "typing")));
}

/* ---- the endpoint ---- */

static int on_open(struct ws_conn *ws)
{
    struct chat_conn *cc = calloc(1, sizeof(*cc));
    if (!cc)
        return -1;
    cc->ws = ws;
    cc->msg_times = calloc((size_t)msg_window, sizeof(*cc->msg_times));
    if (!cc->msg_times) {
        free(cc);
        return -1;
    }
    /* every other frame (hello, typing, identify) within six per message allowed */
    rate_init(&cc->frames, 6.0 * msg_window, msg_window, metrics_now_us());
    ws_set_user(ws, cc);
    return 0;
}

static void on_frame(struct ws_conn *ws, const char *data, size_t len)
{
    struct chat_conn *cc = ws_user(ws);
    json_t *msg = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!json_is_object(msg) || !type)
        ws_send_error(ws, "invalid", "frames must be JSON objects with a type", NULL);
    else if (!rate_take(&cc->frames, metrics_now_us()))
        ws_send_error(ws, "rate_limited", "too many frames; slow down", NULL);
    else if (strcmp(type, "hello") == 0)
        handle_hello(ws, cc, msg);
    else if (cc->hello != HELLO_DONE)
        ws_send_error(ws, "hello_first", "send hello and wait for welcome first", NULL);
    else if (strcmp(type, "message") == 0)
        handle_message(ws, cc, msg);
    else if (strcmp(type, "typing") == 0)
        handle_typing(cc, msg);
    else if (strcmp(type, "identify") == 0)
        handle_identify(ws, cc, msg);
    else if (strcmp(type, "kb_answer") == 0)
        handle_kb_answer(ws, cc, msg);
    else if (strcmp(type, "ping") == 0)
        ws_send_str(ws, "{\"type\":\"pong\"}");
    else
        ws_send_error(ws, "invalid", "unknown frame type", NULL);
    json_decref(msg);
}

static void on_close(struct ws_conn *ws)
{
    struct chat_conn *cc = ws_user(ws);
    unindex(cc);
    json_decref(cc->held);
    free(cc->sent);
    free(cc->msg_times);
    free(cc);
    ws_set_user(ws, NULL);
}

/* ---- what agents do reaches the visitor ---- */

static void deliver_one(const struct event *e)
{
    struct chat_conn *first = buckets[bucket_of(e->ticket_id)];
    while (first && first->ticket_id != e->ticket_id)
        first = first->bnext;
    if (!first)
        return;
    /* events that carry the ticket's own assignee and team (not ticket.unassigned, which is
     * addressed to the previous assignee, nor ticket.taken, addressed to nobody) */
    if (strcmp(e->kind, "ticket.created") == 0 || strcmp(e->kind, "ticket.updated") == 0 ||
        strcmp(e->kind, "ticket.assigned") == 0) {
        for (struct chat_conn *cc = first; cc; cc = cc->bnext)
            if (cc->ticket_id == e->ticket_id) {
                cc->assignee_id = e->agent_id;
                cc->team_id = e->team_id;
            }
        return;
    }
    if (strcmp(e->kind, "message.created") != 0)
        return;
    json_t *ev = json_loads(e->json, 0, NULL);
    json_t *m = json_object_get(ev, "message");
    const char *dir = json_string_value(json_object_get(m, "direction"));
    if (dir && strcmp(dir, "out") == 0 && !json_is_true(json_object_get(m, "internal"))) {
        json_t *f = visitor_frame(m);
        for (struct chat_conn *cc = first; cc; cc = cc->bnext)
            if (cc->ticket_id == e->ticket_id)
                send_message(cc, f);
        json_decref(f);
    }
    json_decref(ev);
}

void webchat_deliver(const struct event_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->ev[i].ticket_id && b->ev[i].json)
            deliver_one(&b->ev[i]);
}

void webchat_agent_typing(const struct agent_info *me, int64_t ticket_id, bool typing)
{
    char frame[80];
    snprintf(frame, sizeof(frame), "{\"type\":\"typing\",\"from\":\"agent\",\"typing\":%s}", typing ? "true" : "false");
    for (struct chat_conn *cc = buckets[bucket_of(ticket_id)]; cc; cc = cc->bnext)
        if (cc->ticket_id == ticket_id && agent_may_see(me, ticket_id, cc->assignee_id, cc->team_id))
            ws_send_str(cc->ws, frame);
}

const struct ws_endpoint webchat_endpoint = {
    .path = "/ws/chat",
    .max_frame = 0,
    .on_open = on_open,
    .on_frame = on_frame,
    .on_close = on_close,
};

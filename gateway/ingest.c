/* ingest.c — see ingest.h. */
#include "gateway/ingest.h"
#include "gateway/campaign_results.h"
#include "gateway/db.h"
#include "gateway/event_tailer.h"
#include "gateway/kb_answer.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/routing_rules.h"
#include "gateway/rules.h"
#include "gateway/tickets.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* One lane per writer thread, each with its own queue and connection. A message's lane is
 * chosen by its sender's identity, so one customer's messages are stored in the order they
 * came, by one writer; different customers' batches commit side by side. */
#define INGEST_LANES_MAX 8
struct lane {
    pthread_t thread;
    pthread_cond_t cv;
    struct ingest_msg *qhead, *qtail;
    size_t qlen;
};
static const struct sb_config *cfg;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct lane lanes[INGEST_LANES_MAX];
static size_t nlanes;
static size_t queued; /* in all lanes' queues, not yet taken by a writer */
static int stopping, started;
/* the routing rules, read once per batch by a writer thread (inside its transaction) */
static __thread struct routing_ruleset *batch_rules;

void ingest_msg_free(struct ingest_msg *m)
{
    if (!m)
        return;
    free(m->body_text);
    free(m->body_html);
    free(m->references);
    free(m->body_visible);
    free(m->to_addrs);
    free(m->cc_addrs);
    for (size_t i = 0; i < m->n_attachments; i++) {
        free(m->attachments[i].filename);
        free(m->attachments[i].content_type);
        free(m->attachments[i].data);
        free(m->attachments[i].url);
    }
    free(m->attachments);
    free(m);
}

static struct lane *lane_of(const struct ingest_msg *m)
{
    uint32_t h = 2166136261u; /* FNV-1a over kind and value */
    for (const char *p = m->identity_kind; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = m->identity_value; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &lanes[h % nlanes];
}

int ingest_submit(struct ingest_msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&mu);
    if (stopping || !started) {
        pthread_mutex_unlock(&mu);
        return INGEST_ESTOPPING;
    }
    if (queued >= (size_t)cfg->ingest.queue_max) {
        pthread_mutex_unlock(&mu);
        return INGEST_EBUSY;
    }
    queued++;
    struct lane *l = lane_of(m);
    if (l->qtail)
        l->qtail->next = m;
    else
        l->qhead = m;
    l->qtail = m;
    l->qlen++;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&mu);
    return 0;
}

/* Takes up to batch_max messages of the lane; after the first arrives, waits up to
 * batch_wait_us for more so that one commit serves many. Returns NULL when stopping and
 * empty. */
static struct ingest_msg *take_batch(struct lane *l, size_t *n)
{
    pthread_mutex_lock(&mu);
    while (!l->qhead && !stopping)
        pthread_cond_wait(&l->cv, &mu);
    if (l->qhead && !stopping && l->qlen < (size_t)cfg->ingest.batch_max && cfg->ingest.batch_wait_us > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)cfg->ingest.batch_wait_us * 1000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (l->qlen < (size_t)cfg->ingest.batch_max && !stopping)
            if (pthread_cond_timedwait(&l->cv, &mu, &ts) != 0)
                break;
    }
    struct ingest_msg *head = l->qhead, *m = l->qhead;
    size_t k = 0;
    for (; m && k + 1 < (size_t)cfg->ingest.batch_max; k++)
        m = m->next;
    if (m) {
        l->qhead = m->next;
        m->next = NULL;
        k++;
    } else {
        l->qhead = NULL;
    }
    if (!l->qhead)
        l->qtail = NULL;
    l->qlen -= k;
    queued -= k;
    *n = k;
    pthread_mutex_unlock(&mu);
    return head;
}

static int valid_msg(const struct ingest_msg *m)
{
    static const char *const channels[] = {"chat", "email", "sms"};
    static const char *const kinds[] = {"email", "phone", "chat", "external"};
    int ok = 0;
    for (size_t i = 0; i < 3; i++)
        ok |= strcmp(m->channel, channels[i]) == 0;
    int kind_ok = 0;
    for (size_t i = 0; i < 4; i++)
        kind_ok |= strcmp(m->identity_kind, kinds[i]) == 0;
    return ok && kind_ok && m->identity_value[0] && m->external_id[0] && m->body_text &&
           utf8_valid(m->body_text, strlen(m->body_text)) && utf8_valid(m->name, strlen(m->name)) &&
           utf8_valid(m->subject, strlen(m->subject));
}

static void utc_now_iso(char *out, size_t outsz)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int find_duplicate(struct db *db, struct ingest_msg *m)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT id, ticket_id, customer_id FROM messages WHERE channel = ? AND external_id = ?",
                     DBP(P_S(m->channel), P_S(m->external_id)), &r);
    if (rc)
        return rc;
    if (r.nrows) {
        m->duplicate = 1;
        m->message_id = db_cell_i64(&r, 0, 0);
        m->ticket_id = db_cell_i64(&r, 0, 1);
        m->customer_id = db_cell_i64(&r, 0, 2);
    }
    db_result_free(&r);
    return DB_OK;
}

static int same_sender(const struct ingest_msg *a, const struct ingest_msg *b)
{
    return strcmp(a->identity_kind, b->identity_kind) == 0 && strcmp(a->identity_value, b->identity_value) == 0;
}

/* The same sender's later messages of this batch know the customer now. */
static void sender_created(struct ingest_msg *m)
{
    for (struct ingest_msg *x = m->next; x; x = x->next)
        if (x->sender_known && same_sender(x, m))
            x->sender_known = m->customer_id;
}

/* The sender's customer, created with its identity if there is none. The bulk pass may
 * have looked already in this transaction (sender_known): a customer found stays found;
 * none found means none unless an earlier message of the batch created it (sender_created)
 * or another transaction commits one meanwhile — then the identity's unique key refuses
 * ours (DB_EDUP) and the message is stored again with every look-up. */
static int find_or_create_customer(struct db *db, struct ingest_msg *m)
{
    int rc = DB_OK;
    if (m->sender_known > 0)
        m->customer_id = m->sender_known;
    else if (!m->sender_known)
        rc = db_scalar_i64(db, "SELECT customer_id FROM customer_identities WHERE kind = ? AND value = ? "
                               "AND is_primary = 1", DBP(P_S(m->identity_kind), P_S(m->identity_value)), 0,
                           &m->customer_id);
    if (rc || m->customer_id)
        return rc;
    struct db_result r;
    const char *name = m->name[0] ? m->name : m->identity_value;
    rc = db_exec(db, "INSERT INTO customers (name, source) VALUES (?, ?)", DBP(P_S(name), P_S(m->channel)), &r);
    if (rc)
        return rc;
    m->customer_id = (int64_t)r.insert_id;
    m->new_customer = 1;
    db_result_free(&r);
    rc = db_exec(db, "UPDATE customers SET customer_no = CONCAT('C', LPAD(id, 6, '0')) WHERE id = ?",
                 DBP(P_I(m->customer_id)), NULL);
    if (!rc)
        rc = db_exec(db, "INSERT INTO customer_identities (customer_id, kind, value) VALUES (?, ?, ?)",
                     DBP(P_I(m->customer_id), P_S(m->identity_kind), P_S(m->identity_value)), NULL);
    if (!rc)
        sender_created(m);
    if (!rc)
        rc = event_insert(db, "customer.created", 0, m->customer_id, 0, 0,
                          json_pack("{s:I, s:s, s:s}", "customer_id", (json_int_t)m->customer_id, "name", name,
                                    "source", m->channel));
    return rc;
}

/* A ticket row (id, assignee, team) into m: its events go to the agents who may see it.
 * No row leaves m as it was. */
static int ticket_with_owners(struct db *db, struct ingest_msg *m, const char *sql, const struct db_param *p, size_t np)
{
    struct db_result r;
    int rc = db_exec(db, sql, p, np, &r);
    if (rc)
        return rc;
    if (r.nrows) {
        m->ticket_id = db_cell_i64(&r, 0, 0);
        m->assignee_id = db_cell_i64(&r, 0, 1);
        m->team_id = db_cell_i64(&r, 0, 2);
    }
    db_result_free(&r);
    return DB_OK;
}

#define TICKET_OWNERS "SELECT id, COALESCE(assignee_id, 0), COALESCE(team_id, 0) FROM tickets "

static int ticket_owners(struct db *db, struct ingest_msg *m)
{
    return ticket_with_owners(db, m, TICKET_OWNERS "WHERE id = ?", DBP(P_I(m->ticket_id)));
}

/* The customer's open ticket on the channel, locked, with its owners (one statement: this
 * is the common case of every chat and SMS message). The index by customer, always: with
 * the statistics of a young table the optimizer would rather walk the primary key backwards
 * over every ticket (bench/sms_ingest.js). */
static int open_ticket(struct db *db, struct ingest_msg *m)
{
    return ticket_with_owners(db, m, TICKET_OWNERS "FORCE INDEX (ix_tickets_customer) WHERE customer_id = ? AND channel = ? "
                                     "AND status IN ('new','open','pending') ORDER BY id DESC LIMIT 1 FOR UPDATE",
                              DBP(P_I(m->customer_id), P_S(m->channel)));
}

/* The ticket the channel's threading chose (a chat's conversation), if it is the
 * customer's, with its owners. */
static int hinted_ticket(struct db *db, struct ingest_msg *m)
{
    return ticket_with_owners(db, m, TICKET_OWNERS "WHERE id = ? AND customer_id = ?",
                              DBP(P_I(m->ticket_hint), P_I(m->customer_id)));
}

/* One id of In-Reply-To/References: the ticket it belongs to, if we know it. */
static int thread_of(struct db *db, const char *id, size_t n, int64_t *ticket)
{
    if (n == 0 || n > 255)
        return DB_OK;
    return db_scalar_i64(db, "SELECT ticket_id FROM email_threads WHERE message_id = ?", DBP(P_SN(id, n)), 0, ticket);
}

/* "[#123]" in the subject, honoured only for a participant of ticket 123. */
static int subject_token(struct db *db, struct ingest_msg *m, int64_t *ticket)
{
    const char *p = strstr(m->subject, "[#");
    int64_t id = 0;
    for (p = p ? p + 2 : NULL; p && *p >= '0' && *p <= '9' && id < (1LL << 53); p++)
        id = id * 10 + (*p - '0');
    if (!p || *p != ']' || id <= 0)
        return DB_OK;
    int64_t ok = 0;
    int rc = db_scalar_i64(db, "SELECT COUNT(*) FROM tickets t WHERE t.id = ? AND (t.customer_id = ? "
                               "OR EXISTS (SELECT 1 FROM messages x WHERE x.ticket_id = t.id AND x.customer_id = ?) "
                               "OR EXISTS (SELECT 1 FROM ticket_participants p WHERE p.ticket_id = t.id AND p.address = ?))",
                           DBP(P_I(id), P_I(m->customer_id), P_I(m->customer_id), P_S(m->identity_value)), 0, &ok);
    if (!rc && ok)
        *ticket = id;
    return rc;
}

/* In-Reply-To, then References: a thread we know, else a campaign message it answers
 * (a new ticket then, linked to the campaign). */
static int email_thread(struct db *db, struct ingest_msg *m)
{
    int rc = thread_of(db, m->in_reply_to, strlen(m->in_reply_to), &m->ticket_id);
    for (const char *p = m->references; !rc && !m->ticket_id && p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ',')
            p++;
        size_t n = strcspn(p, " \t\r\n,");
        rc = thread_of(db, p, n, &m->ticket_id);
        p += n;
    }
    if (!rc && !m->ticket_id)
        rc = subject_token(db, m, &m->ticket_id);
    if (!rc && !m->ticket_id)
        rc = campaign_reply_of_email(db, m->in_reply_to, strlen(m->in_reply_to), &m->campaign_recipient);
    for (const char *p = m->references; !rc && !m->ticket_id && !m->campaign_recipient && p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ',')
            p++;
        size_t n = strcspn(p, " \t\r\n,");
        rc = campaign_reply_of_email(db, p, n, &m->campaign_recipient);
        p += n;
    }
    return rc;
}

static int find_or_create_ticket(struct db *db, struct ingest_msg *m)
{
    int rc;
    m->ticket_id = 0;
    if (strcmp(m->channel, "email") == 0) {
        if ((rc = email_thread(db, m)))
            return rc;
    } else if (m->ticket_hint > 0 && (rc = hinted_ticket(db, m))) {
        return rc;
    }
    /* a customer this message created has no campaign message and no ticket yet */
    if (strcmp(m->channel, "sms") == 0 && !m->keyword && !m->new_customer &&
        (rc = campaign_reply_of_sms(db, m->customer_id, &m->campaign_recipient)))
        return rc;
    int email = strcmp(m->channel, "email") == 0;
    if (!m->ticket_id && !email && !m->new_customer) { /* a new e-mail thread is a new ticket */
        rc = open_ticket(db, m);
        if (rc)
            return rc;
    } else if (m->ticket_id && email && (rc = ticket_owners(db, m))) {
        return rc; /* an e-mail thread's ticket: a hinted or open one came with its owners */
    }
    if (m->ticket_id)
        /* MariaDB assigns left to right and later expressions see new values: solved_at
         * must be computed from the old status, before status changes */
        return db_exec(db, "UPDATE tickets SET solved_at = IF(status IN ('solved','closed'), NULL, solved_at), "
                           "status = IF(status IN ('pending','solved','closed'), 'open', status), "
                           "routing_stage = IF(queued_at IS NULL, 0, routing_stage), "
                           "queued_at = IF(assignee_id IS NULL, COALESCE(queued_at, NOW(3)), queued_at), "
                           "last_message_at = NOW(3) WHERE id = ?", DBP(P_I(m->ticket_id)), NULL);
    struct db_result r;
    const char *subject = m->subject[0] ? m->subject : NULL;
    rc = db_exec(db, "INSERT INTO tickets (customer_id, channel, subject, mailbox_id, last_message_at, queued_at) "
                     "VALUES (?, ?, ?, ?, NOW(3), NOW(3))",
                 DBP(P_I(m->customer_id), P_S(m->channel), P_S(subject), P_IOPT(m->mailbox_id)), &r);
    if (rc)
        return rc;
    m->ticket_id = (int64_t)r.insert_id;
    m->new_ticket = 1;
    db_result_free(&r);
    return DB_OK; /* classified and announced once its first message is in (new_tickets_ready) */
}

/* New tickets with their first messages in: classified by the routing rules and announced
 * (ticket.created), a chat's answered from the knowledge base (defined with the bulk pass). */
static int new_tickets_ready(struct db *db, struct ingest_msg **v, size_t n);

/* Content by hash, in chunks (see 004_email_details.sql); a hash already stored is shared. */
static int store_content(struct db *db, const struct ingest_attachment *a)
{
    enum { CHUNK = 512 * 1024 };
    int64_t have = 0;
    int rc = db_scalar_i64(db, "SELECT COUNT(*) FROM attachment_chunks WHERE sha256 = ? AND seq = 0",
                           DBP(P_S(a->sha256)), 0, &have);
    if (rc || have)
        return rc;
    size_t off = 0;
    for (uint32_t seq = 0; !rc && (off < a->size || seq == 0); seq++) {
        size_t n = a->size - off < CHUNK ? a->size - off : CHUNK;
        rc = db_exec(db, "INSERT IGNORE INTO attachment_chunks (sha256, seq, data) VALUES (?, ?, ?)",
                     DBP(P_S(a->sha256), P_I(seq), P_BLOB(a->data + off, n)), NULL);
        off += n;
    }
    return rc;
}

/* The rows go in; *out lists them as REST shows them, for the event. */
static int store_attachments(struct db *db, const struct ingest_msg *m, json_t *out)
{
    int rc = DB_OK;
    for (size_t i = 0; !rc && i < m->n_attachments; i++) {
        const struct ingest_attachment *a = &m->attachments[i];
        if (a->data && (rc = store_content(db, a)))
            break;
        struct db_result r;
        rc = db_exec(db, "INSERT INTO attachments (message_id, filename, content_type, size, sha256, storage, url) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     DBP(P_I(m->message_id), P_S(a->filename), P_S(a->content_type), P_I(a->size),
                         P_S(a->sha256[0] ? a->sha256 : NULL), P_S(a->data ? "db" : a->url ? "url" : NULL),
                         P_S(a->url)), &r);
        if (rc)
            break;
        json_array_append_new(out, json_pack("{s:I, s:s?, s:s?, s:I, s:s?, s:b, s:s?}", "id", (json_int_t)r.insert_id,
                                             "filename", a->filename, "content_type", a->content_type, "size",
                                             (json_int_t)a->size, "sha256", a->sha256[0] ? a->sha256 : NULL, "stored",
                                             a->data != NULL, "url", a->url));
        db_result_free(&r);
    }
    return rc;
}

/* Sender, To and Cc of an e-mail, minus our own addresses (mailboxes, [smtp] from). */
static int store_participants(struct db *db, const struct ingest_msg *m)
{
    if (strcmp(m->channel, "email") != 0)
        return DB_OK;
    enum { MAX_ROWS = 64 };
    const char *lists[] = {m->identity_value, m->to_addrs, m->cc_addrs};
    const char *roles[] = {"from", "to", "cc"};
    struct db_param p[MAX_ROWS * 3];
    size_t np = 0, rows = 0;
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, "INSERT IGNORE INTO ticket_participants (ticket_id, address, role) SELECT ?, x.a, x.r FROM (");
    p[np++] = P_I(m->ticket_id);
    for (size_t l = 0; l < 3; l++) {
        for (const char *s = lists[l]; s && *s && rows < MAX_ROWS;) {
            while (*s == ' ')
                s++;
            size_t n = strcspn(s, " ");
            if (n && n <= 254 && !(strlen(cfg->smtp.from) == n && strncasecmp(cfg->smtp.from, s, n) == 0)) {
                buf_puts(&q, rows++ ? " UNION ALL SELECT ?, ?" : "SELECT ? AS a, ? AS r");
                p[np++] = P_SN(s, n);
                p[np++] = P_S(roles[l]);
            }
            s += n;
        }
    }
    /* one statement for them all; our own mailboxes are never participants */
    buf_puts(&q, ") x WHERE NOT EXISTS (SELECT 1 FROM mailboxes mb WHERE mb.address = x.a)");
    int rc = rows && q.data ? db_exec(db, q.data, p, np, NULL) : DB_OK;
    buf_free(&q);
    return rc;
}

/* message.created's payload: the message as REST shows it (atts is taken). */
static json_t *message_payload(const struct ingest_msg *m, json_t *atts)
{
    char now[32]; /* last_contact_at: for the whole batch at its end (touch_customers) */
    utc_now_iso(now, sizeof(now));
    json_t *msg = json_pack("{s:I, s:I, s:s, s:s, s:s, s:n, s:n, s:s, s:s?, s:s?, s:s, s:b, s:s, s:o}", "id",
                            (json_int_t)m->message_id, "ticket_id", (json_int_t)m->ticket_id, "direction", "in",
                            "channel", m->channel, "author_type", "customer", "author_id", "author_name", "body_text",
                            m->body_text, "body_html", m->body_html, "body_visible", m->body_visible, "status",
                            "received", "internal", 0, "created_at", now, "attachments", atts);
    json_object_set_new(msg, "segments", m->segments ? json_integer(m->segments) : json_null());
    json_object_set_new(msg, "encoding", m->encoding[0] ? json_string(m->encoding) : json_null());
    return json_pack("{s:o}", "message", msg);
}

/* check_dup 0: skip the look-up of the external id — the unique key refuses a duplicate
 * (DB_EDUP), the message is rolled back to its savepoint and stored again with the check.
 * Duplicates are rare; the look-up for every message was not. */
static int store_one(struct db *db, struct ingest_msg *m, int check_dup)
{
    m->duplicate = m->new_ticket = m->new_customer = m->absorbed = 0;
    m->message_id = m->ticket_id = m->customer_id = m->assignee_id = m->team_id = m->campaign_recipient = 0;
    if (!valid_msg(m))
        return INGEST_EINVAL;
    int rc = check_dup ? find_duplicate(db, m) : DB_OK;
    if (rc || m->duplicate)
        return rc;
    if (m->dsn_action[0] && m->dsn_original_id[0] && strcmp(m->channel, "email") == 0) {
        rc = campaign_email_report(db, m->dsn_original_id, m->dsn_action, m->dsn_status, m->dsn_diag, &m->absorbed);
        if (rc || m->absorbed)
            return rc;
    }
    if ((rc = find_or_create_customer(db, m)) || (rc = find_or_create_ticket(db, m)))
        return rc;
    struct db_result r;
    rc = db_exec(db, "INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, "
                     "body_html, body_visible, segments, encoding, external_id) "
                     "VALUES (?, ?, 'in', ?, 'customer', ?, ?, ?, ?, ?, ?)",
                 DBP(P_I(m->ticket_id), P_I(m->customer_id), P_S(m->channel), P_S(m->body_text), P_S(m->body_html),
                     P_S(m->body_visible), P_IOPT(m->segments), P_S(m->encoding[0] ? m->encoding : NULL),
                     P_S(m->external_id)), &r);
    if (rc)
        return rc;
    m->message_id = (int64_t)r.insert_id;
    db_result_free(&r);
    json_t *atts = json_array();
    if ((rc = store_attachments(db, m, atts)) || (rc = store_participants(db, m)) ||
        (m->campaign_recipient && (rc = campaign_reply_record(db, m->campaign_recipient,
                                                               m->new_ticket ? m->ticket_id : 0))) ||
        (m->new_ticket && (rc = new_tickets_ready(db, &m, 1)))) {
        json_decref(atts);
        return rc;
    }
    if (m->email_message_id[0] && (rc = db_exec(db, "INSERT IGNORE INTO email_threads (message_id, ticket_id, mailbox_id) "
                                                    "VALUES (?, ?, ?)", DBP(P_S(m->email_message_id), P_I(m->ticket_id),
                                                    P_IOPT(m->mailbox_id)), NULL))) {
        json_decref(atts);
        return rc;
    }
    return event_insert(db, "message.created", m->ticket_id, m->customer_id, m->assignee_id, m->team_id,
                        message_payload(m, atts));
}

/* ---- the common case, in bulk ----
 * Most messages are a chat or SMS text from a sender we know, to a ticket that exists (the
 * chat's conversation, or the sender's open ticket on the channel), with no attachment or
 * keyword. Such messages of a batch are stored with a few statements for all of them:
 * identities per kind, hinted tickets, open tickets (locked), campaign replies, one UPDATE
 * of the tickets, one INSERT of the messages and one of their events (each chunked by
 * BULK_CHUNK) — not five or six round trips each. A sender no identity knows goes in bulk
 * too, its customer and ticket made with the others' (bulk_new_senders). A sender with any
 * message that does not qualify (a known customer without an open ticket, an attachment, a
 * keyword...) has all of its batch's messages stored one by one instead, in order, so one
 * sender's messages never overtake each other. Only in a batch's first, savepoint-free
 * run: any failure reruns the batch carefully. */
#define BULK_CHUNK 100

static int bulk_qualifies(const struct ingest_msg *m)
{
    return strcmp(m->channel, "email") != 0 && !m->n_attachments && !m->keyword && !m->dsn_action[0] &&
           !m->email_message_id[0] && valid_msg(m);
}

/* run(db, w, k, sel) over the messages of v that pick(m, sel) accepts, BULK_CHUNK at a
 * time, in batch order: one statement per chunk. */
typedef int bulk_pick_fn(const struct ingest_msg *m, const char *sel);
typedef int bulk_run_fn(struct db *db, struct ingest_msg **w, size_t k, const char *sel);
static int bulk_chunks(struct db *db, struct ingest_msg **v, size_t n, const char *sel, bulk_pick_fn *pick,
                       bulk_run_fn *run)
{
    struct ingest_msg *w[BULK_CHUNK];
    size_t k = 0;
    int rc = DB_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        if (!pick(v[i], sel))
            continue;
        w[k++] = v[i];
        if (k == BULK_CHUNK) {
            rc = run(db, w, k, sel);
            k = 0;
        }
    }
    return !rc && k ? run(db, w, k, sel) : rc;
}

static int of_kind(const struct ingest_msg *m, const char *kind)
{
    return strcmp(m->identity_kind, kind) == 0;
}

/* customer_id of each sender, by primary identity; 0 = unknown (a new customer). */
static int customers_chunk(struct db *db, struct ingest_msg **w, size_t k, const char *kind)
{
    struct db_param p[BULK_CHUNK + 1];
    p[0] = P_S(kind);
    for (size_t j = 0; j < k; j++)
        p[j + 1] = P_S(w[j]->identity_value);
    struct db_result r;
    int rc = db_exec_list(db, "SELECT value, customer_id FROM customer_identities WHERE kind = ? AND is_primary = 1 "
                              "AND value IN ", k, "", p, k + 1, &r);
    if (rc)
        return rc;
    for (size_t row = 0; row < r.nrows; row++)
        for (size_t j = 0; j < k; j++)
            if (strcmp(db_cell(&r, row, 0), w[j]->identity_value) == 0)
                w[j]->customer_id = db_cell_i64(&r, row, 1);
    for (size_t j = 0; j < k; j++) /* kept for store_one if the message does not go in bulk */
        w[j]->sender_known = w[j]->customer_id ? w[j]->customer_id : -1;
    db_result_free(&r);
    return DB_OK;
}

/* Messages of a known customer: with a hint (channel NULL), or without one on channel. */
static int ticket_wanted(const struct ingest_msg *m, const char *channel)
{
    return m->customer_id && (channel ? !m->ticket_hint && strcmp(m->channel, channel) == 0 : m->ticket_hint > 0);
}

/* The ticket of each: the hinted one if it is the customer's (channel NULL), else the
 * customer's latest open ticket on the channel, locked as open_ticket does (one statement
 * per channel, so that no other channel's tickets are locked); 0 = none. */
static int tickets_chunk(struct db *db, struct ingest_msg **w, size_t k, const char *channel)
{
    struct db_param p[BULK_CHUNK + 1];
    p[0] = P_S(channel);
    for (size_t j = 0; j < k; j++)
        p[j + 1] = P_I(channel ? w[j]->customer_id : w[j]->ticket_hint);
    struct db_result r;
    int rc = channel ? db_exec_list(db, "SELECT id, customer_id, COALESCE(assignee_id, 0), COALESCE(team_id, 0) "
                                        "FROM tickets FORCE INDEX (ix_tickets_customer) WHERE channel = ? "
                                        "AND status IN ('new','open','pending') AND customer_id IN ", k,
                                    " ORDER BY id DESC FOR UPDATE", p, k + 1, &r)
                     : db_exec_list(db, "SELECT id, customer_id, COALESCE(assignee_id, 0), COALESCE(team_id, 0) "
                                        "FROM tickets WHERE id IN ", k, "", p + 1, k, &r);
    if (rc)
        return rc;
    for (size_t row = 0; row < r.nrows; row++) {
        int64_t id = db_cell_i64(&r, row, 0), cust = db_cell_i64(&r, row, 1);
        for (size_t j = 0; j < k; j++) {
            struct ingest_msg *m = w[j];
            if (m->ticket_id || m->customer_id != cust || (!channel && m->ticket_hint != id))
                continue; /* the latest open one comes first */
            m->ticket_id = id;
            m->assignee_id = db_cell_i64(&r, row, 2);
            m->team_id = db_cell_i64(&r, row, 3);
        }
    }
    db_result_free(&r);
    return DB_OK;
}

static __thread int64_t id_step;
static int ask_id_step(struct db *db);

/* A sender no identity knows, without a ticket hint (a new chat visitor's first words, a
 * new number's SMS): its customer and ticket are made in bulk (bulk_new_senders). */
static int new_sender(const struct ingest_msg *m)
{
    return !m->customer_id && !m->ticket_hint;
}

/* Leaves in v the messages that go in bulk (*n of them), in batch order. */
static int bulk_select(struct db *db, struct ingest_msg *head, struct ingest_msg **v, size_t *n)
{
    size_t k = 0;
    for (struct ingest_msg *m = head; m; m = m->next)
        if (bulk_qualifies(m))
            v[k++] = m;
    static const char *const kinds[] = {"email", "phone", "chat", "external"};
    static const char *const ticket_passes[] = {NULL, "chat", "sms"}; /* NULL: the hinted ones */
    int rc = id_step ? DB_OK : ask_id_step(db);
    for (size_t i = 0; !rc && i < 4; i++)
        rc = bulk_chunks(db, v, k, kinds[i], of_kind, customers_chunk);
    for (size_t i = 0; !rc && i < 3; i++)
        rc = bulk_chunks(db, v, k, ticket_passes[i], ticket_wanted, tickets_chunk);
    /* a sender with one message that cannot go in bulk stores them all one by one */
    for (struct ingest_msg *m = head; !rc && m; m = m->next) {
        int ok = 0;
        for (size_t i = 0; i < k && !ok; i++)
            ok = v[i] == m && (m->ticket_id || (new_sender(m) && id_step > 0));
        for (size_t i = 0; !ok && i < k; i++)
            if (v[i] && same_sender(v[i], m))
                v[i] = NULL;
    }
    size_t out = 0;
    for (size_t i = 0; i < k; i++)
        if (v[i])
            v[out++] = v[i];
    *n = rc ? 0 : out;
    return rc;
}

/* The SMS among them that answer a campaign (campaign_reply_of_sms, for all at once). */
static int bulk_campaign_replies(struct db *db, struct ingest_msg **v, size_t n)
{
    int64_t *cust = calloc(n ? n : 1, sizeof(*cust)), *rec = calloc(n ? n : 1, sizeof(*rec));
    struct ingest_msg **sms = calloc(n ? n : 1, sizeof(*sms));
    size_t k = 0;
    int rc = cust && rec && sms ? DB_OK : DB_EOTHER;
    for (size_t i = 0; !rc && i < n; i++)
        if (strcmp(v[i]->channel, "sms") == 0 && !v[i]->new_customer) { /* a new one has none */
            sms[k] = v[i];
            cust[k++] = v[i]->customer_id;
        }
    if (!rc && k)
        rc = campaign_replies_of_sms(db, cust, k, rec);
    for (size_t i = 0; !rc && i < k; i++)
        sms[i]->campaign_recipient = rec[i];
    free(cust);
    free(rec);
    free(sms);
    return rc;
}

/* Their tickets touched as find_or_create_ticket touches one (reopened, queued). */
static int bulk_touch_tickets(struct db *db, struct ingest_msg **v, size_t n)
{
    int rc = DB_OK;
    int64_t ids[BULK_CHUNK] = {0};
    size_t k = 0;
    for (size_t i = 0; !rc && i <= n; i++) {
        int seen = i < n && v[i]->new_customer; /* its ticket was made just now, as touched */
        for (size_t j = 0; i < n && j < k && !seen; j++)
            seen = ids[j] == v[i]->ticket_id;
        if (i < n && !seen)
            ids[k++] = v[i]->ticket_id;
        if (!k || (k < BULK_CHUNK && i < n))
            continue;
        struct db_param p[BULK_CHUNK];
        for (size_t j = 0; j < k; j++)
            p[j] = P_I(ids[j]);
        rc = db_exec_list(db, "UPDATE tickets SET solved_at = IF(status IN ('solved','closed'), NULL, solved_at), "
                              "status = IF(status IN ('pending','solved','closed'), 'open', status), "
                              "routing_stage = IF(queued_at IS NULL, 0, routing_stage), "
                              "queued_at = IF(assignee_id IS NULL, COALESCE(queued_at, NOW(3)), queued_at), "
                              "last_message_at = NOW(3) WHERE id IN ", k, "", p, k, NULL);
        k = 0;
    }
    return rc;
}

/* How the server numbers the rows of one multi-row INSERT: with innodb_autoinc_lock_mode 0
 * or 1 a "simple insert" (its row count known) takes its ids as one block, so row i has the
 * first id + i * auto_increment_increment; with 2 (interleaved) they may be scattered. Per
 * writer thread: 0 not asked yet, -1 not consecutive, else the increment. Asked again after
 * the connection was lost (the server may have restarted with another setting). */
static int ask_id_step(struct db *db)
{
    struct db_result r;
    int rc = db_exec(db, "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment", DBP0, &r);
    if (rc)
        return rc;
    id_step = r.nrows && db_cell_i64(&r, 0, 0) <= 1 && db_cell_i64(&r, 0, 1) >= 1 ? db_cell_i64(&r, 0, 1) : -1;
    db_result_free(&r);
    return DB_OK;
}

/* The ids of k rows just inserted by one statement, when they are consecutive; else by
 * the unique (channel, external_id) key. */
static int inserted_ids(struct db *db, struct ingest_msg **w, size_t k, const char *channel, int64_t first)
{
    if (id_step > 0 && first > 0) {
        for (size_t i = 0; i < k; i++)
            w[i]->message_id = first + (int64_t)i * id_step;
        return DB_OK;
    }
    struct db_param p[BULK_CHUNK + 1];
    p[0] = P_S(channel);
    for (size_t i = 0; i < k; i++)
        p[i + 1] = P_S(w[i]->external_id);
    struct db_result r;
    int rc = db_exec_list(db, "SELECT external_id, id FROM messages WHERE channel = ? AND external_id IN ", k, "", p,
                          k + 1, &r);
    if (rc)
        return rc;
    for (size_t row = 0; row < r.nrows; row++)
        for (size_t i = 0; i < k; i++)
            if (strcmp(db_cell(&r, row, 0), w[i]->external_id) == 0)
                w[i]->message_id = db_cell_i64(&r, row, 1);
    db_result_free(&r);
    for (size_t i = 0; i < k; i++)
        if (!w[i]->message_id)
            return DB_EOTHER; /* cannot be: the careful run will say why */
    return DB_OK;
}

/* ---- new senders, in bulk ----
 * What find_or_create_customer and find_or_create_ticket do one message at a time, for
 * every new sender of the bulk at once (a statement per BULK_CHUNK): the customers, their
 * numbers, their identities and customer.created events, then a ticket per sender and
 * channel. The first message of a sender is the one that made its customer (new_customer),
 * the first on a channel the one that made the ticket (new_ticket), as one by one. A
 * concurrent creator of the same identity (another node) hits its unique key: the batch
 * then reruns carefully, one message at a time. Ids are counted from each INSERT's first
 * (id_step > 0, checked by bulk_select). */

/* The first message of each distinct key among the messages of v that mask marks (same(a,
 * b): same key), in batch order. */
typedef int same_fn(const struct ingest_msg *a, const struct ingest_msg *b);
static size_t firsts_of(struct ingest_msg **v, size_t n, const char *mask, same_fn *same, struct ingest_msg **out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        if (!mask[i])
            continue;
        while (j < k && !same(out[j], v[i]))
            j++;
        if (j == k)
            out[k++] = v[i];
    }
    return k;
}

static int same_sender_channel(const struct ingest_msg *a, const struct ingest_msg *b)
{
    return same_sender(a, b) && strcmp(a->channel, b->channel) == 0;
}

static const char *display_name(const struct ingest_msg *m)
{
    return m->name[0] ? m->name : m->identity_value;
}

/* One multi-row INSERT: head, then row k times, with np parameters; *first (unless NULL)
 * the first row's id, the others following by id_step. */
static int insert_rows(struct db *db, const char *head, const char *row, size_t k, const struct db_param *p,
                       size_t np, int64_t *first)
{
    struct buf q;
    struct db_result r;
    buf_init(&q, 0);
    buf_puts(&q, head);
    db_put_rows(&q, k, row);
    int rc = q.data ? db_exec(db, q.data, p, np, first ? &r : NULL) : DB_EOTHER;
    buf_free(&q);
    if (!rc && first) {
        *first = (int64_t)r.insert_id;
        db_result_free(&r);
    }
    return rc;
}

/* k new customers (the senders of s) with their numbers and identities. */
static int customers_insert(struct db *db, struct ingest_msg **s, size_t k)
{
    struct db_param p[BULK_CHUNK * 3] = {0}; /* zeroed: gcc -fsanitize cannot see k > 0 */
    int64_t first = 0;
    for (size_t j = 0; j < k; j++) {
        p[2 * j] = P_S(display_name(s[j]));
        p[2 * j + 1] = P_S(s[j]->channel);
    }
    int rc = insert_rows(db, "INSERT INTO customers (name, source) VALUES ", "(?, ?)", k, p, 2 * k, &first);
    if (rc)
        return rc;
    for (size_t j = 0; j < k; j++) {
        s[j]->customer_id = first + (int64_t)j * id_step;
        s[j]->new_customer = 1;
        p[j] = P_I(s[j]->customer_id);
    }
    rc = db_exec_list(db, "UPDATE customers SET customer_no = CONCAT('C', LPAD(id, 6, '0')) WHERE id IN ", k, "", p,
                      k, NULL);
    for (size_t j = 0; !rc && j < k; j++) {
        p[3 * j] = P_I(s[j]->customer_id);
        p[3 * j + 1] = P_S(s[j]->identity_kind);
        p[3 * j + 2] = P_S(s[j]->identity_value);
    }
    return rc ? rc : insert_rows(db, "INSERT INTO customer_identities (customer_id, kind, value) VALUES ", "(?, ?, ?)",
                                 k, p, 3 * k, NULL);
}

/* k new tickets, one for each message of t (a new sender's first on its channel). */
static int tickets_insert(struct db *db, struct ingest_msg **t, size_t k)
{
    enum { COLS = 4 };
    struct db_param p[BULK_CHUNK * COLS] = {0}; /* as customers_insert */
    int64_t first = 0;
    for (size_t j = 0; j < k; j++) {
        struct db_param row[COLS] = {P_I(t[j]->customer_id), P_S(t[j]->channel),
                                     P_S(t[j]->subject[0] ? t[j]->subject : NULL), P_IOPT(t[j]->mailbox_id)};
        memcpy(&p[j * COLS], row, sizeof(row));
    }
    int rc = insert_rows(db, "INSERT INTO tickets (customer_id, channel, subject, mailbox_id, last_message_at, queued_at) "
                             "VALUES ", "(?, ?, ?, ?, NOW(3), NOW(3))", k, p, k * COLS, &first);
    for (size_t j = 0; !rc && j < k; j++) {
        t[j]->ticket_id = first + (int64_t)j * id_step;
        t[j]->new_ticket = 1;
    }
    return rc;
}

static int bulk_new_senders(struct db *db, struct ingest_msg **v, size_t n)
{
    size_t any = 0;
    while (any < n && !new_sender(v[any]))
        any++;
    if (any == n) /* the common batch: every sender known */
        return DB_OK;
    struct ingest_msg **s = calloc(n, sizeof(*s));
    struct event_row *ev = calloc(n, sizeof(*ev));
    char *fresh = calloc(n, 1); /* the messages of new senders */
    int rc = s && ev && fresh ? DB_OK : DB_EOTHER;
    for (size_t i = 0; !rc && i < n; i++)
        fresh[i] = (char)new_sender(v[i]);
    size_t k = rc ? 0 : firsts_of(v, n, fresh, same_sender, s);
    for (size_t at = 0; !rc && at < k; at += BULK_CHUNK)
        rc = customers_insert(db, s + at, k - at < BULK_CHUNK ? k - at : BULK_CHUNK);
    for (size_t i = 0; !rc && i < n; i++) /* the sender's later messages know it now */
        for (size_t j = 0; !v[i]->customer_id && j < k; j++)
            if (same_sender(s[j], v[i]))
                v[i]->customer_id = v[i]->sender_known = s[j]->customer_id;
    for (size_t j = 0; !rc && j < k; j++)
        ev[j] = (struct event_row){"customer.created", 0, s[j]->customer_id, 0, 0,
                                   json_pack("{s:I, s:s, s:s}", "customer_id", (json_int_t)s[j]->customer_id, "name",
                                             display_name(s[j]), "source", s[j]->channel)};
    if (!rc && k)
        rc = event_insert_many(db, ev, k);
    size_t nt = rc ? 0 : firsts_of(v, n, fresh, same_sender_channel, s);
    for (size_t at = 0; !rc && at < nt; at += BULK_CHUNK)
        rc = tickets_insert(db, s + at, nt - at < BULK_CHUNK ? nt - at : BULK_CHUNK);
    for (size_t i = 0; !rc && i < n; i++)
        for (size_t j = 0; !v[i]->ticket_id && j < nt; j++)
            if (same_sender_channel(s[j], v[i]))
                v[i]->ticket_id = s[j]->ticket_id;
    free(s);
    free(ev);
    free(fresh);
    return rc;
}

/* The tickets of v made in this batch (new_ticket: by bulk_new_senders, or by store_one
 * for a message of its own), their first messages in. */
static int new_tickets_ready(struct db *db, struct ingest_msg **v, size_t n)
{
    size_t any = 0;
    while (any < n && !v[any]->new_ticket)
        any++;
    if (any == n)
        return DB_OK;
    struct ingest_msg **t = calloc(n, sizeof(*t));
    int64_t *ids = calloc(n, sizeof(*ids));
    struct event_row *ev = calloc(n, sizeof(*ev));
    struct routing_facts *rf = calloc(n, sizeof(*rf));
    json_t *loaded = NULL;
    size_t k = 0, ne = 0;
    int rc = t && ids && ev && rf ? DB_OK : DB_EOTHER;
    for (size_t i = 0; !rc && i < n; i++)
        if (v[i]->new_ticket)
            t[k++] = v[i];
    if (!rc && !batch_rules)
        rc = routing_ruleset_load(db, &batch_rules); /* once a batch */
    for (size_t j = 0; !rc && j < k; j++) {
        rf[j] = (struct routing_facts){.channel = t[j]->channel, .subject = t[j]->subject, .body = t[j]->body_text,
                                       .mailbox_id = t[j]->mailbox_id, .customer_id = t[j]->customer_id,
                                       .customer_is_new = t[j]->new_customer};
        ids[j] = t[j]->ticket_id;
    }
    if (!rc)
        rc = routing_classify_many(db, ids, rf, k, batch_rules);
    if (!rc)
        rc = ticket_load_many(db, ids, k, &loaded);
    for (size_t j = 0; !rc && j < k; j++) { /* in the order the tickets were made */
        json_t *tk = NULL, *x;
        size_t at;
        json_array_foreach(loaded, at, x)
            if (json_integer_value(json_object_get(x, "id")) == t[j]->ticket_id)
                tk = x;
        if (!tk)
            continue; /* cannot be: made in this transaction */
        int64_t team = json_integer_value(json_object_get(tk, "team_id"));
        for (size_t i = 0; i < n; i++)
            if (v[i]->ticket_id == t[j]->ticket_id)
                v[i]->team_id = team;
        ev[ne++] = (struct event_row){"ticket.created", t[j]->ticket_id, t[j]->customer_id, 0, team,
                                      json_pack("{s:O}", "ticket", tk)};
    }
    json_decref(loaded);
    if (!rc && ne)
        rc = event_insert_many(db, ev, ne);
    for (size_t j = 0; !rc && j < k; j++)
        if (strcmp(t[j]->channel, "chat") == 0)
            rc = kb_answer_offer(db, t[j]->ticket_id, t[j]->subject, t[j]->body_text);
    free(t);
    free(ids);
    free(ev);
    free(rf);
    return rc;
}

/* k messages of one channel in one INSERT, then their ids. Not INSERT … RETURNING:
 * Connector/C 3.3 reports a prepared one that fails (a duplicate) as a success and leaves
 * the connection out of sync. */
static int on_channel(const struct ingest_msg *m, const char *channel)
{
    return strcmp(m->channel, channel) == 0;
}

static int insert_chunk(struct db *db, struct ingest_msg **w, size_t k, const char *channel)
{
    enum { COLS = 9 };
    int rc = id_step ? DB_OK : ask_id_step(db);
    if (rc)
        return rc;
    struct db_param p[BULK_CHUNK * COLS];
    for (size_t i = 0; i < k; i++) {
        struct ingest_msg *m = w[i];
        struct db_param row[COLS] = {P_I(m->ticket_id), P_I(m->customer_id), P_S(m->channel), P_S(m->body_text),
                                     P_S(m->body_html), P_S(m->body_visible), P_IOPT(m->segments),
                                     P_S(m->encoding[0] ? m->encoding : NULL), P_S(m->external_id)};
        memcpy(&p[i * COLS], row, sizeof(row));
    }
    int64_t first = 0;
    rc = insert_rows(db, "INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text, "
                         "body_html, body_visible, segments, encoding, external_id) VALUES ",
                     "(?, ?, 'in', ?, 'customer', ?, ?, ?, ?, ?, ?)", k, p, k * COLS, &first);
    return rc ? rc : inserted_ids(db, w, k, channel, first);
}

/* The messages, a chunk per channel at a time, then their events (rules included). */
static int bulk_insert(struct db *db, struct ingest_msg **v, size_t n)
{
    static const char *const channels[] = {"chat", "sms"};
    int rc = DB_OK;
    for (size_t c = 0; !rc && c < 2; c++)
        rc = bulk_chunks(db, v, n, channels[c], on_channel, insert_chunk);
    for (size_t i = 0; !rc && i < n; i++)
        if (v[i]->campaign_recipient)
            rc = campaign_reply_record(db, v[i]->campaign_recipient, 0);
    if (!rc)
        rc = new_tickets_ready(db, v, n);
    struct event_row *ev = rc ? NULL : calloc(n ? n : 1, sizeof(*ev));
    if (!rc && !ev)
        rc = DB_EOTHER;
    for (size_t i = 0; !rc && i < n; i++) {
        struct ingest_msg *m = v[i];
        ev[i] = (struct event_row){"message.created", m->ticket_id, m->customer_id, m->assignee_id, m->team_id,
                                   message_payload(m, json_array())};
    }
    if (!rc)
        rc = event_insert_many(db, ev, n);
    free(ev);
    return rc;
}

/* Stores what qualifies and marks it (m->bulk); the rest is left to store_one. */
static int write_bulk(struct db *db, struct ingest_msg *head, size_t n_batch)
{
    struct ingest_msg **v = calloc(n_batch ? n_batch : 1, sizeof(*v));
    if (!v)
        return DB_EOTHER;
    for (struct ingest_msg *m = head; m; m = m->next) {
        m->duplicate = m->new_ticket = m->new_customer = m->absorbed = 0;
        m->message_id = m->ticket_id = m->customer_id = m->assignee_id = m->team_id = m->campaign_recipient = 0;
    }
    size_t n = 0;
    int rc = bulk_select(db, head, v, &n);
    if (!rc && n)
        rc = bulk_new_senders(db, v, n);
    if (!rc && n)
        rc = bulk_campaign_replies(db, v, n);
    if (!rc && n)
        rc = bulk_touch_tickets(db, v, n);
    if (!rc && n)
        rc = bulk_insert(db, v, n);
    for (size_t i = 0; !rc && i < n; i++)
        v[i]->bulk = 1;
    free(v);
    return rc;
}

/* last_contact_at of every customer whose message went in, in one statement per 200. */
static int touch_customers(struct db *db, const struct ingest_msg *head)
{
    enum { CHUNK = 200 };
    int rc = DB_OK;
    const struct ingest_msg *m = head;
    while (!rc && m) {
        struct db_param p[CHUNK];
        size_t n = 0;
        for (; m && n < CHUNK; m = m->next)
            if (!m->rc && !m->duplicate && m->customer_id)
                p[n++] = P_I(m->customer_id);
        if (n)
            rc = db_exec_list(db, "UPDATE customers SET last_contact_at = NOW(3) WHERE id IN ", n, "", p, n, NULL);
    }
    return rc;
}

/* careful 0: no savepoints — the common batch, where every message goes in, saves a round
 * trip per message; the first message that fails on its own rolls the whole batch back and
 * it runs again careful (INGEST_CAREFUL). careful 1: each message under a savepoint; one that
 * fails on its own is rolled back to it and reported, the rest commit. */
#define INGEST_CAREFUL (-101)
static int write_batch(struct db *db, struct ingest_msg *head, size_t n, int careful)
{
    for (struct ingest_msg *m = head; m; m = m->next) /* nothing known of a rolled-back run */
        m->bulk = 0, m->sender_known = 0;
    int rc = db_begin(db);
    rules_batch_begin();
    if (!rc && !careful && (rc = write_bulk(db, head, n)) && rc != DB_EGONE && rc != DB_ERETRY)
        rc = INGEST_CAREFUL;
    for (struct ingest_msg *m = head; !rc && m; m = m->next) {
        m->rc = 0;
        if (m->bulk)
            continue;
        if (!valid_msg(m)) { /* nothing written yet: no savepoint needed */
            m->rc = INGEST_EINVAL;
            continue;
        }
        if (careful && (rc = db_exec(db, "SAVEPOINT ingest_msg", DBP0, NULL)))
            break;
        int mrc = store_one(db, m, 0);
        if (mrc && mrc != DB_EGONE && mrc != DB_ERETRY && !careful) {
            rc = INGEST_CAREFUL;
            break;
        }
        if (mrc == DB_EDUP) { /* a duplicate, or lost a race for the identity: look again */
            if ((rc = db_exec(db, "ROLLBACK TO SAVEPOINT ingest_msg", DBP0, NULL)))
                break;
            mrc = store_one(db, m, 1);
        }
        if (mrc == DB_EGONE || mrc == DB_ERETRY) {
            rc = mrc;
            break;
        }
        if (mrc) {
            m->rc = mrc;
            rc = db_exec(db, "ROLLBACK TO SAVEPOINT ingest_msg", DBP0, NULL);
        }
    }
    if (!rc)
        rc = touch_customers(db, head);
    if (!rc)
        rc = db_commit(db);
    else
        db_rollback(db);
    rules_batch_end();
    routing_ruleset_free(batch_rules);
    batch_rules = NULL;
    return rc;
}

/* Fast, then careful if a message failed on its own (a duplicate, bad data). */
static int write_batch_once(struct db *db, struct ingest_msg *head, size_t n)
{
    int rc = write_batch(db, head, n, 0);
    return rc == INGEST_CAREFUL ? write_batch(db, head, n, 1) : rc;
}

static void finish_batch(struct ingest_msg *head, int failed_rc)
{
    while (head) {
        struct ingest_msg *next = head->next;
        if (failed_rc)
            head->rc = failed_rc;
        head->next = NULL;
        if (head->done)
            head->done(head);
        head = next;
    }
}

static void *writer_main(void *arg)
{
    struct lane *l = arg;
    db_thread_init();
    struct db *db = db_new(cfg, 1);
    for (;;) {
        size_t n = 0;
        struct ingest_msg *batch = take_batch(l, &n);
        if (!batch)
            break;
        int rc, attempt = 0;
        /* Retry until stored: a message taken from a channel is never dropped because the
         * database blinked. Backoff caps at 2 s; during shutdown give up after ~10 s. */
        while ((rc = write_batch_once(db, batch, n)) == DB_EGONE || rc == DB_ERETRY) {
            attempt++;
            if (rc == DB_EGONE)
                id_step = 0;
            if (stopping && attempt > 20)
                break;
            log_warn("ingest", "event=batch_retry size=%zu attempt=%d rc=%d", n, attempt, rc);
            usleep((useconds_t)(attempt < 10 ? attempt * 50000 : 500000));
        }
        if (!rc) {
            metrics_ingest_batch((int64_t)n);
            event_tailer_wake();
        }
        finish_batch(batch, rc);
    }
    db_free(db);
    db_thread_end();
    return NULL;
}

int ingest_start(const struct sb_config *config)
{
    pthread_mutex_lock(&mu);
    int running = started;
    pthread_mutex_unlock(&mu);
    if (running) /* re-initialising the lanes under live writers would strand them */
        return -1;
    cfg = config;
    stopping = 0;
    queued = 0;
    nlanes = (size_t)config->ingest.writers;
    if (nlanes < 1 || nlanes > INGEST_LANES_MAX)
        nlanes = 1;
    for (size_t i = 0; i < nlanes; i++) {
        lanes[i] = (struct lane){0};
        pthread_cond_init(&lanes[i].cv, NULL);
    }
    for (size_t i = 0; i < nlanes; i++) {
        if (pthread_create(&lanes[i].thread, NULL, writer_main, &lanes[i]) != 0) {
            pthread_mutex_lock(&mu); /* the ones started stop again */
            stopping = 1;
            for (size_t k = 0; k < i; k++)
                pthread_cond_signal(&lanes[k].cv);
            pthread_mutex_unlock(&mu);
            for (size_t k = 0; k < i; k++)
                pthread_join(lanes[k].thread, NULL);
            return -1;
        }
    }
    pthread_mutex_lock(&mu);
    started = 1;
    pthread_mutex_unlock(&mu);
    return 0;
}

void ingest_stop(void)
{
    pthread_mutex_lock(&mu);
    if (!started) {
        pthread_mutex_unlock(&mu);
        return;
    }
    stopping = 1;
    for (size_t i = 0; i < nlanes; i++)
        pthread_cond_broadcast(&lanes[i].cv);
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < nlanes; i++)
        pthread_join(lanes[i].thread, NULL);
    pthread_mutex_lock(&mu);
    started = 0;
    for (size_t i = 0; i < nlanes; i++)
        pthread_cond_destroy(&lanes[i].cv);
    pthread_mutex_unlock(&mu);
}

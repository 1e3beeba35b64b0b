/* test_email_threading.c — the ingest writer's e-mail threading rule (DESIGN.md
 * section 5), against the private MariaDB: In-Reply-To / References find the ticket of a
 * Message-ID we stored or sent; a "[#id]" subject token counts only for a participant of
 * that ticket; anything else starts a new ticket; the same Message-ID is stored once. */
#include "tests/unit/unit_db.h"
#include "gateway/ingest.h"
#include "gateway/lib/text.h"
#include "gateway/migrate.h"
#include <pthread.h>

static struct sb_config cfg;
static int have_db;
static struct db *db;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int finished;

static void on_done(struct ingest_msg *m)
{
    (void)m;
    pthread_mutex_lock(&mu);
    finished = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* Stores one e-mail and waits for its commit; returns the message (caller frees). */
static struct ingest_msg *mail(const char *from, const char *msgid, const char *subject, const char *in_reply_to,
                               const char *references)
{
    struct ingest_msg *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    text_copy(m->channel, sizeof(m->channel), "email");
    text_copy(m->external_id, sizeof(m->external_id), msgid);
    text_copy(m->email_message_id, sizeof(m->email_message_id), msgid);
    text_copy(m->identity_kind, sizeof(m->identity_kind), "email");
    text_copy(m->identity_value, sizeof(m->identity_value), from);
    text_copy(m->subject, sizeof(m->subject), subject);
    text_copy(m->in_reply_to, sizeof(m->in_reply_to), in_reply_to ? in_reply_to : "");
    m->references = references ? strdup(references) : NULL;
    m->body_text = strdup("body");
    m->done = on_done;
    pthread_mutex_lock(&mu);
    finished = 0;
    pthread_mutex_unlock(&mu);
    assert_int_equal(ingest_submit(m), 0);
    pthread_mutex_lock(&mu);
    while (!finished)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    assert_int_equal(m->rc, 0);
    return m;
}

static int group_setup(void **state)
{
    (void)state;
    if (unit_db_env() != 0)
        return 0;
    log_set_level(LOG_WARN);
    db_library_init();
    char err[512];
    int applied = 0;
    if (unit_db_config(&cfg, "_thr") != 0 || unit_db_create(&cfg) != 0 ||
        migrate_run(&cfg, &applied, err, sizeof(err)) != 0 || ingest_start(&cfg) != 0)
        return -1;
    db = db_new(&cfg, 1);
    have_db = 1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!have_db)
        return 0;
    ingest_stop();
    db_free(db);
    unit_db_destroy(&cfg);
    db_library_end();
    return 0;
}

#define NEED_DB() do { if (!have_db) skip(); } while (0)

static void test_reply_threads_by_in_reply_to_and_references(void **state)
{
    (void)state;
    NEED_DB();
    struct ingest_msg *first = mail("alice@example.com", "<a1@mail.example>", "Order late", NULL, NULL);
    assert_true(first->new_ticket);
    /* our own outgoing reply is known by its Message-ID */
    assert_int_equal(db_exec(db, "INSERT INTO email_threads (message_id, ticket_id) VALUES ('<sb.1.x@example.com>', ?)",
                             DBP(P_I(first->ticket_id)), NULL), DB_OK);
    struct ingest_msg *reply = mail("alice@example.com", "<a2@mail.example>", "Re: Order late", "<sb.1.x@example.com>", NULL);
    assert_int_equal(reply->ticket_id, first->ticket_id);
    assert_false(reply->new_ticket);
    /* a colleague answering deep in the thread, found through References only */
    struct ingest_msg *cc = mail("bob@example.com", "<b1@mail.example>", "Re: Re: Order late", "<unknown@x>",
                                 "<zzz@nowhere> <a1@mail.example>  <a2@mail.example>");
    assert_int_equal(cc->ticket_id, first->ticket_id);
    assert_int_not_equal(cc->customer_id, first->customer_id);
    ingest_msg_free(first);
    ingest_msg_free(reply);
    ingest_msg_free(cc);
}

static void test_subject_token_only_for_participants(void **state)
{
    (void)state;
    NEED_DB();
    struct ingest_msg *orig = mail("carol@example.com", "<c1@mail.example>", "Invoice", NULL, NULL);
    char subject[120];
    snprintf(subject, sizeof(subject), "Re: Invoice [#%lld]", (long long)orig->ticket_id);
    struct ingest_msg *same = mail("carol@example.com", "<c2@mail.example>", subject, NULL, NULL);
    assert_int_equal(same->ticket_id, orig->ticket_id);
    struct ingest_msg *stranger = mail("mallory@evil.example", "<m1@evil.example>", subject, NULL, NULL);
    assert_int_not_equal(stranger->ticket_id, orig->ticket_id);
    assert_true(stranger->new_ticket);
    ingest_msg_free(orig);
    ingest_msg_free(same);
    ingest_msg_free(stranger);
}

static void test_new_thread_new_ticket_and_duplicates_once(void **state)
{
    (void)state;
    NEED_DB();
    struct ingest_msg *one = mail("dave@example.com", "<d1@mail.example>", "First question", NULL, NULL);
    struct ingest_msg *two = mail("dave@example.com", "<d2@mail.example>", "Another question", NULL, NULL);
    assert_int_not_equal(one->ticket_id, two->ticket_id); /* e-mail: a new thread is a new ticket */
    struct ingest_msg *again = mail("dave@example.com", "<d1@mail.example>", "First question", NULL, NULL);
    assert_true(again->duplicate);
    assert_int_equal(again->message_id, one->message_id);
    assert_int_equal(unit_scalar(db, "SELECT COUNT(*) FROM messages WHERE external_id = '<d1@mail.example>'", DBP0), 1);
    assert_int_equal(unit_scalar(db, "SELECT COUNT(*) FROM email_threads WHERE message_id = '<d1@mail.example>'", DBP0), 1);
    ingest_msg_free(one);
    ingest_msg_free(two);
    ingest_msg_free(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_threads_by_in_reply_to_and_references),
        cmocka_unit_test(test_subject_token_only_for_participants),
        cmocka_unit_test(test_new_thread_new_ticket_and_duplicates_once),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

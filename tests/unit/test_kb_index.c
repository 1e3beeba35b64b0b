/* test_kb_index.c — the knowledge base's in-memory index (gateway/kb_index.h) against the
 * real private MariaDB with the migrated schema: a search sees an article written just
 * before it (one kb_state read per search), and under kb_index_hold a batch of searches
 * reads the generation once and sees the knowledge base as it was when the batch began,
 * catching up after kb_index_release. */
#include "tests/unit/unit_db.h"
#include "gateway/kb.h"
#include "gateway/kb_index.h"
#include "gateway/lib/buf.h"
#include "gateway/log.h"

static struct sb_config cfg;
static struct db *db;
static int have_db;

static int group_setup(void **state)
{
    (void)state;
    int rc = unit_db_open(&cfg, &db);
    have_db = rc > 0;
    return rc < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (have_db)
        unit_db_close(&cfg, db);
    return 0;
}

#define NEED_DB() do { if (!have_db) skip(); } while (0)

/* A published article, written as the API writes one: the next generation, its index text. */
static void add_article(const char *title, const char *body)
{
    struct buf text;
    buf_init(&text, 0);
    json_t *tags = json_array();
    assert_int_equal(kb_index_text(title, body, tags, &text), 0);
    json_decref(tags);
    assert_int_equal(db_exec(db, "UPDATE kb_state SET generation = generation + 1 WHERE id = 1", DBP0, NULL), DB_OK);
    assert_int_equal(db_exec(db, "INSERT INTO kb_articles (title, body, published, search_text, gen) "
                                 "SELECT ?, ?, 1, ?, generation FROM kb_state WHERE id = 1",
                             DBP(P_S(title), P_S(body), P_S(text.data)), NULL), DB_OK);
    buf_free(&text);
}

static size_t found(const char *words)
{
    json_t *items = NULL;
    assert_int_equal(kb_suggest(db, NULL, words, 5, &items), DB_OK);
    size_t n = json_array_size(items);
    json_decref(items);
    return n;
}

static int64_t questions(void)
{
    return unit_session_status(db, "QUESTIONS");
}

static void test_search_sees_the_article_just_written(void **state)
{
    (void)state;
    NEED_DB();
    assert_int_equal(found("refund"), 0);
    add_article("Refund policy 退款", "Refunds take five working days.");
    assert_int_equal(found("refund"), 1);
    add_article("Invoices", "Every invoice is sent by e-mail.");
    assert_int_equal(found("invoice"), 1);
}

static void test_hold_reads_the_generation_once(void **state)
{
    (void)state;
    NEED_DB();
    assert_int_equal(found("zzzqqq"), 0); /* the index is current */
    int64_t q0 = questions();
    for (int i = 0; i < 5; i++)
        found("zzzqqq");
    int64_t alone = questions() - q0 - 1; /* less the status read itself */
    assert_int_equal(alone, 5);           /* one generation read per search */
    q0 = questions();
    assert_int_equal(kb_index_hold(db), DB_OK);
    for (int i = 0; i < 5; i++)
        found("zzzqqq");
    kb_index_release();
    assert_int_equal(questions() - q0 - 1, 1); /* one for the batch */
}

static void test_hold_sees_the_batch_start_then_catches_up(void **state)
{
    (void)state;
    NEED_DB();
    assert_int_equal(kb_index_hold(db), DB_OK);
    add_article("Parcel tracking", "Track your parcel with its number.");
    assert_int_equal(found("parcel"), 0); /* as it was when the batch began */
    kb_index_release();
    assert_int_equal(found("parcel"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_sees_the_article_just_written),
        cmocka_unit_test(test_hold_reads_the_generation_once),
        cmocka_unit_test(test_hold_sees_the_batch_start_then_catches_up),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

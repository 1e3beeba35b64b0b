/* test_ticket_read.c — a ticket's messages as the ticket API reads them
 * (ticket_messages_load, gateway/tickets.h), against the real private MariaDB with the
 * migrated schema: each message gets its own attachments in id order, and the read builds
 * no temporary table on disk. The old form of the query (a JSON_ARRAYAGG(… ORDER BY …)
 * subquery per message) made one for every execution — a file created and removed per
 * GET, most of a ticket read's cost (bench/RESULTS.md, http_read); the probe is checked
 * against that form first, so the test cannot pass by measuring nothing. */
#include "tests/unit/unit_db.h"
#include "gateway/log.h"
#include "gateway/tickets.h"

static struct sb_config cfg;
static struct db *db;
static int have_db;
static int64_t ticket, mids[3];

static int64_t insert_id(const char *sql, const struct db_param *p, size_t np)
{
    struct db_result r;
    if (db_exec(db, sql, p, np, &r) != DB_OK)
        return 0;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return id;
}

static int seed(void)
{
    int64_t customer = insert_id("INSERT INTO customers (name) VALUES ('读者')", DBP0);
    ticket = insert_id("INSERT INTO tickets (customer_id, channel, subject) VALUES (?, 'email', 'files')", DBP(P_I(customer)));
    for (int i = 0; i < 3; i++)
        mids[i] = insert_id("INSERT INTO messages (ticket_id, customer_id, direction, channel, author_type, body_text) "
                            "VALUES (?, ?, 'in', 'email', 'customer', 'm')", DBP(P_I(ticket), P_I(customer)));
    /* the middle message has two files: one stored in the database, one only described */
    return !customer || !ticket || !mids[2] ||
           db_exec(db, "INSERT INTO attachments (message_id, filename, content_type, size, storage) VALUES "
                       "(?, 'b.pdf', 'application/pdf', 20, 'db'), (?, 'a.png', 'image/png', 10, NULL)",
                   DBP(P_I(mids[1]), P_I(mids[1])), NULL) != DB_OK;
}

static int group_setup(void **state)
{
    (void)state;
    int rc = unit_db_open(&cfg, &db);
    if (rc <= 0)
        return rc; /* 0: no database, every test skips */
    if (seed() != 0) {
        print_error("seeding: %s\n", db_error(db));
        return -1;
    }
    have_db = 1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (have_db)
        unit_db_close(&cfg, db);
    return 0;
}

#define NEED_DB() do { if (!have_db) skip(); } while (0)

/* On-disk temporary tables this connection has made so far. */
static int64_t disk_tables(void)
{
    return unit_session_status(db, "CREATED_TMP_DISK_TABLES");
}

static void test_messages_carry_their_attachments(void **state)
{
    (void)state;
    NEED_DB();
    json_t *msgs = NULL;
    assert_int_equal(ticket_messages_load(db, ticket, &msgs), DB_OK);
    assert_int_equal(json_array_size(msgs), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *m = json_array_get(msgs, i);
        assert_int_equal(json_integer_value(json_object_get(m, "id")), mids[i]);
        assert_null(json_object_get(m, "has_attachments"));
        assert_int_equal(json_array_size(json_object_get(m, "attachments")), i == 1 ? 2 : 0);
    }
    json_t *att = json_object_get(json_array_get(msgs, 1), "attachments");
    assert_string_equal(json_string_value(json_object_get(json_array_get(att, 0), "filename")), "b.pdf");
    assert_true(json_is_true(json_object_get(json_array_get(att, 0), "stored")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(att, 1), "filename")), "a.png");
    assert_true(json_is_false(json_object_get(json_array_get(att, 1), "stored")));
    assert_null(json_object_get(json_array_get(att, 0), "message_id"));
    json_decref(msgs);
}

static void test_no_temporary_table_on_disk(void **state)
{
    (void)state;
    NEED_DB();
    /* the probe sees the old form's table */
    int64_t before = disk_tables();
    struct db_result r;
    assert_int_equal(db_exec(db, "SELECT m.id, COALESCE((SELECT JSON_ARRAYAGG(JSON_OBJECT('id', at.id, 'filename', "
                                 "at.filename) ORDER BY at.id) FROM attachments at WHERE at.message_id = m.id), '[]') "
                                 "AS a FROM messages m WHERE m.ticket_id = ? ORDER BY m.id", DBP(P_I(ticket)), &r), DB_OK);
    db_result_free(&r);
    assert_true(disk_tables() > before);
    before = disk_tables();
    for (int i = 0; i < 5; i++) {
        json_t *msgs = NULL;
        assert_int_equal(ticket_messages_load(db, ticket, &msgs), DB_OK);
        json_decref(msgs);
    }
    assert_int_equal(disk_tables(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_carry_their_attachments),
        cmocka_unit_test(test_no_temporary_table_on_disk),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* test_sla_pass.c — the router's SLA pass (workers/router.h router_sla_pass) against the
 * real private MariaDB with the migrated schema: a ticket past 80 % of its time gets one
 * warning, one past its due moment one breach, solved and already breached ones nothing —
 * and the pass reads the due tickets only, not every open ticket with an SLA (it ran five
 * times a second and scanned them all: 018_sla_check.sql). */
#include "tests/unit/unit_db.h"
#include "workers/router.h"

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

/* A ticket of customer 1 created `age` seconds ago, due `due` seconds from now. */
static int64_t ticket(const char *subject, int age, int due, const char *status, int breached)
{
    struct db_result r;
    assert_int_equal(db_exec(db, "INSERT INTO tickets (customer_id, channel, subject, status, created_at, sla_due_at, "
                                 "sla_warned, sla_breached) VALUES (1, 'email', ?, ?, NOW(3) - INTERVAL ? SECOND, "
                                 "NOW(3) + INTERVAL ? SECOND, ?, ?)",
                             DBP(P_S(subject), P_S(status), P_I(age), P_I(due), P_I(breached), P_I(breached)), &r),
                     DB_OK);
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return id;
}

static int64_t rows_read(void)
{
    return unit_session_status(db, "HANDLER_READ_KEY") + unit_session_status(db, "HANDLER_READ_NEXT") +
           unit_session_status(db, "HANDLER_READ_RND_NEXT") + unit_session_status(db, "HANDLER_READ_FIRST");
}

static int64_t events_of(const char *kind, int64_t t)
{
    return unit_scalar(db, "SELECT COUNT(*) FROM events WHERE kind = ? AND ticket_id = ?", DBP(P_S(kind), P_I(t)));
}

static void test_due_tickets_only(void **state)
{
    (void)state;
    if (!have_db)
        skip();
    enum { OPEN = 3000 };
    assert_int_equal(db_exec(db, "INSERT INTO customers (id, name, source) VALUES (1, 'SLA 客户', 'email')", DBP0, NULL),
                     DB_OK);
    /* many open tickets nowhere near their warning moment */
    assert_int_equal(db_exec(db, "INSERT INTO tickets (customer_id, channel, subject, status, sla_due_at) "
                                 "SELECT 1, 'sms', CONCAT('quiet ', seq), 'open', NOW(3) + INTERVAL 1 DAY FROM seq_1_to_3000",
                             DBP0, NULL), DB_OK);
    int64_t warn = ticket("warn: 100 s of 110", 100, 10, "open", 0);
    int64_t breach = ticket("breach: due 10 s ago", 100, -10, "open", 0);
    int64_t early = ticket("not yet: 50 s of 100", 50, 50, "new", 0);
    int64_t solved = ticket("solved, overdue", 100, -10, "solved", 0);
    int64_t done = ticket("breached before", 100, -10, "open", 1);

    int64_t before = rows_read();
    assert_int_equal(router_sla_pass(db), DB_OK);
    int64_t read = rows_read() - before;
    print_message("SLA pass: %lld rows read with %d open tickets\n", (long long)read, OPEN);
    if (read > OPEN / 10)
        fail_msg("the SLA pass read %lld rows: it scans the open tickets", (long long)read);

    assert_int_equal(events_of("ticket.sla_warning", warn), 1);
    assert_int_equal(events_of("ticket.sla_breached", warn), 0);
    assert_int_equal(events_of("ticket.sla_breached", breach), 1);
    assert_int_equal(events_of("ticket.sla_warning", breach), 0);
    for (size_t i = 0; i < 3; i++) {
        int64_t t = (int64_t[]){early, solved, done}[i];
        assert_int_equal(events_of("ticket.sla_warning", t) + events_of("ticket.sla_breached", t), 0);
    }
    assert_int_equal(unit_scalar(db, "SELECT sla_warned * 10 + sla_breached FROM tickets WHERE id = ?", DBP(P_I(warn))),
                     10);
    assert_int_equal(unit_scalar(db, "SELECT sla_warned * 10 + sla_breached FROM tickets WHERE id = ?", DBP(P_I(breach))),
                     11);

    /* again: nothing new; then the warned ticket's due moment passes: its breach */
    assert_int_equal(router_sla_pass(db), DB_OK);
    assert_int_equal(unit_scalar(db, "SELECT COUNT(*) FROM events WHERE kind LIKE 'ticket.sla_%'", DBP0), 2);
    assert_int_equal(db_exec(db, "UPDATE tickets SET sla_due_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ?",
                             DBP(P_I(warn)), NULL), DB_OK);
    assert_int_equal(router_sla_pass(db), DB_OK);
    assert_int_equal(events_of("ticket.sla_breached", warn), 1);
    assert_int_equal(events_of("ticket.sla_warning", warn), 1);
    /* a first answer moves the clock on (api_tickets.c): warnings may come again */
    assert_int_equal(db_exec(db, "UPDATE tickets SET sla_warned = 0, sla_breached = 0, "
                                 "sla_due_at = created_at + INTERVAL 101 SECOND WHERE id = ?", DBP(P_I(early)), NULL),
                     DB_OK);
    assert_int_equal(router_sla_pass(db), DB_OK);
    assert_int_equal(events_of("ticket.sla_warning", early), 0); /* 50 s of 101: not yet */
    assert_int_equal(db_exec(db, "UPDATE tickets SET created_at = created_at - INTERVAL 40 SECOND, "
                                 "sla_due_at = sla_due_at - INTERVAL 40 SECOND WHERE id = ?", DBP(P_I(early)), NULL),
                     DB_OK);
    assert_int_equal(router_sla_pass(db), DB_OK);
    assert_int_equal(events_of("ticket.sla_warning", early), 1); /* 90 s of 101 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_tickets_only),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* test_db.c — the MariaDB layer (gateway/db.h) against the real private MariaDB:
 * parameters of every type, UTF-8 and long values round-trip, db_rows_json typing, error
 * classes (DB_EDUP, DB_ERETRY for deadlock and lock-wait timeout, DB_EGONE when the
 * connection is killed) and reconnect + re-prepare after DB_EGONE. */
#include "tests/unit/unit_db.h"
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

static struct sb_config cfg;
static struct db *db;
static int have_db;

static int group_setup(void **state)
{
    (void)state;
    if (unit_db_env() != 0)
        return 0;
    db_library_init();
    if (unit_db_config(&cfg, NULL) != 0 || unit_db_create(&cfg) != 0)
        return -1;
    db = db_new(&cfg, 1);
    int rc = db_exec_script(db,
        "CREATE TABLE t_types (id BIGINT AUTO_INCREMENT PRIMARY KEY, i BIGINT NULL, f DOUBLE NULL,"
        " s VARCHAR(255) NULL, n VARCHAR(10) NULL, bin VARBINARY(64) NULL,"
        " ti TINYINT NULL, u BIGINT UNSIGNED NULL, dec2 DECIMAL(12,2) NULL, dt DATETIME(3) NULL,"
        " ts TIMESTAMP NULL DEFAULT NULL, day DATE NULL, attrs LONGTEXT NULL)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;"
        "CREATE TABLE t_long (id INT AUTO_INCREMENT PRIMARY KEY, a LONGTEXT NULL, b VARCHAR(20) NULL)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
        "CREATE TABLE t_uniq (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(32) NOT NULL, UNIQUE KEY uq_k (k))"
        " ENGINE=InnoDB;"
        "CREATE TABLE t_dl (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB;"
        "INSERT INTO t_dl VALUES (1, 0), (2, 0);"
        "CREATE TABLE t_cnt (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB;"
        "INSERT INTO t_cnt VALUES (1, 0)");
    if (rc != DB_OK) {
        print_error("creating tables: %s\n", db_error(db));
        return -1;
    }
    have_db = 1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!have_db)
        return 0;
    db_free(db);
    unit_db_destroy(&cfg);
    db_library_end();
    return 0;
}

#define NEED_DB() do { if (!have_db) skip(); } while (0)

/* ---- parameters and values ---- */

static void test_params_every_type(void **state)
{
    (void)state;
    NEED_DB();
    struct db_result r;
    const char bin[] = {'a', '\0', 'b', '\xff', '\n'};
    assert_int_equal(db_exec(db, "INSERT INTO t_types (i, f, s, n, bin) VALUES (?, ?, ?, ?, ?)",
                             DBP(P_I(-42), P_F(3.25), P_S("hello"), P_NULL, P_SN(bin, sizeof(bin))), &r), DB_OK);
    assert_int_equal(r.affected, 1);
    int64_t id = (int64_t)r.insert_id;
    assert_true(id > 0);
    db_result_free(&r);

    assert_int_equal(db_exec(db, "SELECT i, f, s, n, bin, ? AS pnull, ? AS ptextnull FROM t_types WHERE id = ?",
                             DBP(P_NULL, P_S(NULL), P_I(id)), &r), DB_OK);
    assert_int_equal(r.nrows, 1);
    assert_int_equal(r.ncols, 7);
    assert_string_equal(r.names[0], "i");
    assert_string_equal(db_cell(&r, 0, 0), "-42");
    assert_true(db_cell_i64(&r, 0, 0) == -42);
    assert_true(strtod(db_cell(&r, 0, 1), NULL) == 3.25);
    assert_string_equal(db_cell(&r, 0, 2), "hello");
    assert_null(db_cell(&r, 0, 3));
    assert_int_equal(r.lens[4], sizeof(bin));
    assert_memory_equal(db_cell(&r, 0, 4), bin, sizeof(bin));
    assert_null(db_cell(&r, 0, 5));
    assert_null(db_cell(&r, 0, 6));
    assert_null(db_cell(&r, 0, 7)); /* out of range */
    assert_null(db_cell(&r, 1, 0));
    db_result_free(&r);

    /* 64-bit extremes survive both directions. */
    assert_int_equal(db_exec(db, "SELECT ?, ?", DBP(P_I(INT64_MAX), P_I(INT64_MIN)), &r), DB_OK);
    assert_true(db_cell_i64(&r, 0, 0) == INT64_MAX);
    assert_true(db_cell_i64(&r, 0, 1) == INT64_MIN);
    db_result_free(&r);

    /* Optional foreign key helper. */
    assert_int_equal(db_exec(db, "SELECT ? IS NULL, ? IS NULL", DBP(P_IOPT(0), P_IOPT(7)), &r), DB_OK);
    assert_string_equal(db_cell(&r, 0, 0), "1");
    assert_string_equal(db_cell(&r, 0, 1), "0");
    db_result_free(&r);

    /* A text parameter is data, never SQL. */
    const char *evil = "x'); DROP TABLE t_types; -- ";
    assert_int_equal(db_exec(db, "INSERT INTO t_types (s) VALUES (?)", DBP(P_S(evil)), NULL), DB_OK);
    assert_int_equal(unit_scalar(db, "SELECT COUNT(*) FROM t_types WHERE s = ?", DBP(P_S(evil))), 1);
}

static void test_param_count_mismatch(void **state)
{
    (void)state;
    NEED_DB();
    struct db_result r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(db_exec(db, "SELECT ? + ?", DBP(P_I(1)), &r), DB_EOTHER);
    assert_int_equal(db_exec(db, "SELECT 1", DBP(P_I(1)), NULL), DB_EOTHER);
    assert_int_equal(unit_scalar(db, "SELECT ? + ?", DBP(P_I(1), P_I(2))), 3); /* still usable */
}

static void test_scalar_and_cells(void **state)
{
    (void)state;
    NEED_DB();
    int64_t v = 0;
    assert_int_equal(db_scalar_i64(db, "SELECT id FROM t_types WHERE id < 0", DBP0, 77, &v), DB_OK);
    assert_int_equal(v, 77); /* no row: the default */
    assert_int_equal(db_scalar_i64(db, "SELECT NULL", DBP0, 5, &v), DB_OK);
    assert_int_equal(v, 5);
    struct db_result r;
    assert_int_equal(db_exec(db, "SELECT 'abc', NULL", DBP0, &r), DB_OK);
    assert_int_equal(db_cell_i64(&r, 0, 0), 0); /* not a number */
    assert_int_equal(db_cell_i64(&r, 0, 1), 0);
    db_result_free(&r);
    assert_int_equal(db_exec(db, "SELECT id FROM t_types WHERE id < 0", DBP0, &r), DB_OK);
    assert_int_equal(r.nrows, 0);
    assert_int_equal(r.ncols, 1);
    json_t *rows = db_rows_json(&r);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    db_result_free(&r);
    db_result_free(&r); /* freeing twice is harmless (freed results are zeroed) */
}

static void test_chinese_round_trip(void **state)
{
    (void)state;
    NEED_DB();
    const char *text = "张三 李四 — 客户服务 😀 Ελληνικά Ёж";
    struct db_result r;
    assert_int_equal(db_exec(db, "INSERT INTO t_types (s) VALUES (?)", DBP(P_S(text)), &r), DB_OK);
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    assert_int_equal(db_exec(db, "SELECT s, CHAR_LENGTH(s), LENGTH(s), ? = s FROM t_types WHERE id = ?",
                             DBP(P_S(text), P_I(id)), &r), DB_OK);
    assert_string_equal(db_cell(&r, 0, 0), text);
    /* Stored as characters, not double-encoded bytes. */
    assert_int_equal(db_cell_i64(&r, 0, 1), 26);
    assert_int_equal(db_cell_i64(&r, 0, 2), (int64_t)strlen(text));
    assert_string_equal(db_cell(&r, 0, 3), "1");
    json_t *row = db_row_json(&r, 0);
    assert_string_equal(json_string_value(json_object_get(row, "s")), text);
    json_decref(row);
    db_result_free(&r);
}

static char *pattern(size_t n, unsigned seed)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('A' + (i * 7 + seed) % 26);
    p[n] = '\0';
    return p;
}

/* Values longer than the first fetch buffer (64 bytes) are fetched again in full. */
static void test_long_text_round_trip(void **state)
{
    (void)state;
    NEED_DB();
    static const size_t sizes[] = {0, 1, 63, 64, 65, 200, 1000, 65535, 65536, 300000, 1 << 20};
    enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
    char *vals[NS];
    assert_int_equal(db_exec_script(db, "DELETE FROM t_long"), DB_OK);
    for (size_t i = 0; i < NS; i++) {
        vals[i] = pattern(sizes[i], (unsigned)i);
        char small[16];
        snprintf(small, sizeof(small), "row%zu", i);
        assert_int_equal(db_exec(db, "INSERT INTO t_long (id, a, b) VALUES (?, ?, ?)",
                                 DBP(P_I(i + 1), P_SN(vals[i], sizes[i]), P_S(small)), NULL), DB_OK);
    }
    /* A multi-byte value past the buffer. */
    char zh[3 * 100 + 1] = "";
    for (int i = 0; i < 100; i++)
        memcpy(zh + 3 * i, "汉", 4);
    assert_int_equal(db_exec(db, "INSERT INTO t_long (id, a, b) VALUES (?, ?, ?)", DBP(P_I(100), P_S(zh), P_NULL), NULL),
                     DB_OK);

    /* All rows in one result: long and short values interleave, row after row. */
    struct db_result r;
    assert_int_equal(db_exec(db, "SELECT id, a, b, a AS a2 FROM t_long ORDER BY id", DBP0, &r), DB_OK);
    assert_int_equal(r.nrows, NS + 1);
    for (size_t i = 0; i < NS; i++) {
        char small[16];
        snprintf(small, sizeof(small), "row%zu", i);
        if (r.lens[i * r.ncols + 1] != sizes[i])
            fail_msg("row %zu: %zu bytes back, %zu stored", i, r.lens[i * r.ncols + 1], sizes[i]);
        assert_memory_equal(db_cell(&r, i, 1), vals[i], sizes[i]);
        assert_int_equal(db_cell(&r, i, 1)[sizes[i]], '\0');
        assert_string_equal(db_cell(&r, i, 2), small);
        assert_int_equal(r.lens[i * r.ncols + 3], sizes[i]);
        assert_memory_equal(db_cell(&r, i, 3), vals[i], sizes[i]);
    }
    assert_string_equal(db_cell(&r, NS, 1), zh);
    assert_null(db_cell(&r, NS, 2));
    db_result_free(&r);

    /* One row at a time too (a fresh statement each time: the first buffer is small). */
    for (size_t i = 0; i < NS; i++) {
        assert_int_equal(db_exec(db, "SELECT a FROM t_long WHERE id = ?", DBP(P_I(i + 1)), &r), DB_OK);
        assert_int_equal(r.lens[0], sizes[i]);
        assert_memory_equal(db_cell(&r, 0, 0), vals[i], sizes[i]);
        db_result_free(&r);
        free(vals[i]);
    }
}

/* ---- db_rows_json ---- */

static void test_rows_json_types(void **state)
{
    (void)state;
    NEED_DB();
    struct db_result r;
    assert_int_equal(db_exec(db, "INSERT INTO t_types (i, ti, u, dec2, dt, ts, day, attrs) VALUES "
                                 "(?, ?, ?, ?, ?, ?, ?, ?)",
                             DBP(P_I(123456789012LL), P_I(-5), P_I(7), P_S("12.50"), P_S("2024-03-05 06:07:08.123"),
                                 P_S("2024-03-05 06:07:08"), P_S("2024-03-05"), P_S("{\"coupon\":\"A1\",\"n\":2}")), &r),
                     DB_OK);
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    assert_int_equal(db_exec(db, "SELECT id, i, ti, u, dec2, dt, ts, day, attrs AS attrs__json, "
                                 "ti < 0 AS negative__bool, ti > 0 AS positive__bool, NULL AS nothing__bool, "
                                 "s, n, NULL AS nj__json, 'not json' AS bad__json, "
                                 "JSON_ARRAY(1, 'two', NULL) AS arr__json, CAST(1.5 AS DOUBLE) AS dbl "
                                 "FROM t_types WHERE id = ?", DBP(P_I(id)), &r), DB_OK);
    json_t *rows = db_rows_json(&r);
    db_result_free(&r);
    assert_int_equal(json_array_size(rows), 1);
    json_t *o = json_array_get(rows, 0);
    char *dump = json_dumps(o, JSON_SORT_KEYS);
    print_message("row: %s\n", dump);
    free(dump);

    assert_true(json_is_integer(json_object_get(o, "id")));
    assert_true(json_integer_value(json_object_get(o, "id")) == id);
    assert_true(json_integer_value(json_object_get(o, "i")) == 123456789012LL);
    assert_true(json_is_integer(json_object_get(o, "ti")));
    assert_int_equal(json_integer_value(json_object_get(o, "ti")), -5);
    assert_true(json_is_integer(json_object_get(o, "u")));
    assert_int_equal(json_integer_value(json_object_get(o, "u")), 7);
    assert_true(json_is_number(json_object_get(o, "dec2")));
    assert_true(json_number_value(json_object_get(o, "dec2")) == 12.5);
    assert_true(json_is_number(json_object_get(o, "dbl")));
    assert_true(json_number_value(json_object_get(o, "dbl")) == 1.5);
    assert_string_equal(json_string_value(json_object_get(o, "dt")), "2024-03-05T06:07:08Z");
    assert_string_equal(json_string_value(json_object_get(o, "ts")), "2024-03-05T06:07:08Z");
    assert_true(json_is_string(json_object_get(o, "day")));
    assert_contains(json_string_value(json_object_get(o, "day")), "2024-03-05");

    /* x__json → key x, parsed. */
    assert_null(json_object_get(o, "attrs__json"));
    json_t *attrs = json_object_get(o, "attrs");
    assert_true(json_is_object(attrs));
    assert_string_equal(json_string_value(json_object_get(attrs, "coupon")), "A1");
    assert_int_equal(json_integer_value(json_object_get(attrs, "n")), 2);
    json_t *arr = json_object_get(o, "arr");
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 3);
    assert_string_equal(json_string_value(json_array_get(arr, 1)), "two");
    assert_true(json_is_null(json_array_get(arr, 2)));
    assert_true(json_is_null(json_object_get(o, "nj")));
    assert_non_null(json_object_get(o, "bad"));
    assert_true(json_is_null(json_object_get(o, "bad"))); /* unparsable: null, not a crash */

    /* x__bool → key x, true/false/null. */
    assert_true(json_is_true(json_object_get(o, "negative")));
    assert_true(json_is_false(json_object_get(o, "positive")));
    assert_non_null(json_object_get(o, "nothing"));
    assert_true(json_is_null(json_object_get(o, "nothing")));
    assert_null(json_object_get(o, "negative__bool"));

    /* NULL columns are present as null. */
    assert_non_null(json_object_get(o, "s"));
    assert_true(json_is_null(json_object_get(o, "s")));
    assert_true(json_is_null(json_object_get(o, "n")));
    json_decref(rows);
}

static void test_rows_json_aggregate(void **state)
{
    (void)state;
    NEED_DB();
    struct db_result r;
    assert_int_equal(db_exec(db, "SELECT COUNT(*) AS n, JSON_ARRAYAGG(k) AS ks__json FROM "
                                 "(SELECT 'a' AS k UNION ALL SELECT '汉' UNION ALL SELECT 'c') x", DBP0, &r), DB_OK);
    json_t *o = db_row_json(&r, 0);
    db_result_free(&r);
    assert_int_equal(json_integer_value(json_object_get(o, "n")), 3);
    json_t *ks = json_object_get(o, "ks");
    assert_int_equal(json_array_size(ks), 3);
    assert_string_equal(json_string_value(json_array_get(ks, 1)), "汉");
    json_decref(o);
}

/* ---- error classes ---- */

static void test_duplicate_key(void **state)
{
    (void)state;
    NEED_DB();
    assert_int_equal(db_exec(db, "INSERT INTO t_uniq (k) VALUES (?)", DBP(P_S("dup-a")), NULL), DB_OK);
    assert_int_equal(db_exec(db, "INSERT INTO t_uniq (k) VALUES (?)", DBP(P_S("dup-a")), NULL), DB_EDUP);
    assert_contains(db_error(db), "Duplicate");
    /* Inside a transaction only the statement fails; the transaction goes on. */
    assert_int_equal(db_begin(db), DB_OK);
    assert_int_equal(db_exec(db, "INSERT INTO t_uniq (k) VALUES (?)", DBP(P_S("dup-b")), NULL), DB_OK);
    assert_int_equal(db_exec(db, "INSERT INTO t_uniq (k) VALUES (?)", DBP(P_S("dup-b")), NULL), DB_EDUP);
    assert_int_equal(db_exec(db, "INSERT INTO t_uniq (k) VALUES (?)", DBP(P_S("dup-c")), NULL), DB_OK);
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(unit_scalar(db, "SELECT COUNT(*) FROM t_uniq WHERE k IN ('dup-a','dup-b','dup-c')", DBP0), 3);
    /* A rolled-back transaction leaves nothing. */
    assert_int_equal(db_begin(db), DB_OK);
    assert_int_equal(db_exec(db, "INSERT INTO t_uniq (k) VALUES (?)", DBP(P_S("dup-d")), NULL), DB_OK);
    assert_int_equal(db_rollback(db), DB_OK);
    assert_int_equal(unit_scalar(db, "SELECT COUNT(*) FROM t_uniq WHERE k = 'dup-d'", DBP0), 0);
}

/* A prepared INSERT … RETURNING the server refuses: Connector/C reports the execute as a
 * success and the error only with the rows, and executing that handle again made the
 * server drop the connection. The error comes back as the statement's, the same
 * connection goes on, and the same statement works (and fails) again. */
static void test_returning_error_keeps_connection(void **state)
{
    (void)state;
    NEED_DB();
    const char *sql = "INSERT INTO t_uniq (k) VALUES (?) RETURNING k";
    struct db_result r;
    int64_t conn = unit_scalar(db, "SELECT CONNECTION_ID()", DBP0);
    assert_int_equal(db_exec(db, sql, DBP(P_S("ret-a")), &r), DB_OK);
    assert_int_equal(r.nrows, 1);
    assert_string_equal(db_cell(&r, 0, 0), "ret-a");
    db_result_free(&r);
    for (int i = 0; i < 3; i++)
        assert_int_equal(db_exec(db, sql, DBP(P_S("ret-a")), &r), DB_EDUP);
    assert_int_equal(db_exec(db, sql, DBP(P_S("ret-b")), &r), DB_OK);
    assert_int_equal(r.nrows, 1);
    db_result_free(&r);
    assert_int_equal(db_exec(db, sql, DBP(P_S("ret-b")), NULL), DB_EDUP);
    assert_int_equal(db_exec(db, sql, DBP(P_S("ret-c")), NULL), DB_OK);
    assert_true(unit_scalar(db, "SELECT CONNECTION_ID()", DBP0) == conn);
    assert_int_equal(unit_scalar(db, "SELECT COUNT(*) FROM t_uniq WHERE k LIKE 'ret-%'", DBP0), 3);
}

/* Callers declare `struct db_result r;` and pass &r; when the statement fails nothing
 * was handed to them, so nothing may be read from or freed in *res (its content is
 * whatever was on the stack). Run in a child: the bug, if present, is a bad free(). */
static void test_failed_exec_leaves_result_alone(void **state)
{
    (void)state;
    NEED_DB();
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would carry on with the remaining tests in the child. */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], SIG_DFL);
        db_thread_init();
        struct db *c = db_new(&cfg, 1);
        struct db_result r;
        memset(&r, 0xA5, sizeof(r)); /* an uninitialised stack struct */
        int rc1 = db_exec(c, "INSERT INTO t_uniq (k) VALUES (?)", DBP(P_S("dup-a")), &r); /* duplicate */
        memset(&r, 0xA5, sizeof(r));
        int rc2 = db_exec(c, "SELECT ? + ?", DBP(P_I(1)), &r); /* wrong parameter count */
        memset(&r, 0xA5, sizeof(r));
        int rc3 = db_exec(c, "SELECT no_such_column FROM t_uniq", DBP0, &r); /* prepare fails */
        db_free(c);
        _exit(rc1 == DB_EDUP && rc2 == DB_EOTHER && rc3 == DB_EOTHER ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("db_exec crashed (signal %d) on a failed statement with an uninitialised result", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

struct dl_arg {
    struct db *db;
    int first, second;
    pthread_barrier_t *barrier;
    int rc_first, rc_second, rc_after;
};

static void *dl_thread(void *p)
{
    struct dl_arg *a = p;
    db_thread_init();
    db_exec_script(a->db, "SET SESSION innodb_lock_wait_timeout = 20");
    db_begin(a->db);
    a->rc_first = db_exec(a->db, "UPDATE t_dl SET v = v + 1 WHERE id = ?", DBP(P_I(a->first)), NULL);
    pthread_barrier_wait(a->barrier);
    a->rc_second = db_exec(a->db, "UPDATE t_dl SET v = v + 1 WHERE id = ?", DBP(P_I(a->second)), NULL);
    if (a->rc_second == DB_OK)
        db_commit(a->db);
    else
        db_rollback(a->db);
    int64_t one = 0;
    a->rc_after = db_scalar_i64(a->db, "SELECT 1", DBP0, 0, &one);
    db_thread_end();
    return NULL;
}

static void test_deadlock_is_retry(void **state)
{
    (void)state;
    NEED_DB();
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct dl_arg a = {db_new(&cfg, 1), 1, 2, &barrier, -99, -99, -99};
    struct dl_arg b = {db_new(&cfg, 1), 2, 1, &barrier, -99, -99, -99};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, dl_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, dl_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);
    assert_int_equal(a.rc_first, DB_OK);
    assert_int_equal(b.rc_first, DB_OK);
    /* Exactly one is the deadlock victim, told to retry; the other goes through. */
    if (!((a.rc_second == DB_ERETRY && b.rc_second == DB_OK) || (a.rc_second == DB_OK && b.rc_second == DB_ERETRY)))
        fail_msg("second updates answered %d and %d; want one DB_ERETRY and one DB_OK", a.rc_second, b.rc_second);
    assert_int_equal(a.rc_after, DB_OK); /* both connections stay usable */
    assert_int_equal(b.rc_after, DB_OK);
    assert_int_equal(unit_scalar(db, "SELECT SUM(v) FROM t_dl", DBP0), 2);
    db_free(a.db);
    db_free(b.db);
}

static void test_lock_wait_timeout_is_retry(void **state)
{
    (void)state;
    NEED_DB();
    struct db *holder = db_new(&cfg, 1), *waiter = db_new(&cfg, 1);
    assert_int_equal(db_begin(holder), DB_OK);
    assert_int_equal(db_exec(holder, "UPDATE t_dl SET v = v + 10 WHERE id = 1", DBP0, NULL), DB_OK);
    assert_int_equal(db_exec_script(waiter, "SET SESSION innodb_lock_wait_timeout = 1"), DB_OK);
    assert_int_equal(db_begin(waiter), DB_OK);
    assert_int_equal(db_exec(waiter, "UPDATE t_dl SET v = v + 100 WHERE id = 1", DBP0, NULL), DB_ERETRY);
    assert_int_equal(db_rollback(waiter), DB_OK);
    assert_int_equal(db_rollback(holder), DB_OK);
    assert_int_equal(unit_scalar(waiter, "SELECT v FROM t_dl WHERE id = 1", DBP0),
                     unit_scalar(db, "SELECT v FROM t_dl WHERE id = 1", DBP0));
    db_free(holder);
    db_free(waiter);
}

static void test_script_error_keeps_connection(void **state)
{
    (void)state;
    NEED_DB();
    assert_int_equal(db_exec_script(db, "SELECT 1; SELECT no_such_column FROM t_uniq; SELECT 2"), DB_EOTHER);
    assert_int_equal(unit_scalar(db, "SELECT 41 + 1", DBP0), 42);
    assert_int_equal(db_exec_script(db, "SELECT 1; SELECT 2; DO 3"), DB_OK);
    assert_int_equal(unit_scalar(db, "SELECT 43 + 1", DBP0), 44);
}

/* ---- connection loss ---- */

static void kill_connection(int64_t id)
{
    struct db *killer = db_new(&cfg, 1);
    char sql[64];
    snprintf(sql, sizeof(sql), "KILL CONNECTION %lld", (long long)id);
    assert_int_equal(db_exec_script(killer, sql), DB_OK);
    /* Wait until the server has really let go of it. */
    for (int i = 0; i < 500; i++) {
        int64_t n = 1;
        assert_int_equal(db_scalar_i64(killer, "SELECT COUNT(*) FROM information_schema.processlist WHERE id = ?",
                                       DBP(P_I(id)), 0, &n), DB_OK);
        if (n == 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    db_free(killer);
}

static void test_reconnect_after_kill(void **state)
{
    (void)state;
    NEED_DB();
    struct db *x = db_new(&cfg, 1);
    int64_t v = 0, cid = 0, cid2 = 0;
    assert_int_equal(db_scalar_i64(x, "SELECT ? + 1", DBP(P_I(41)), 0, &v), DB_OK);
    assert_int_equal(v, 42);
    assert_int_equal(db_scalar_i64(x, "SELECT CONNECTION_ID()", DBP0, 0, &cid), DB_OK);

    kill_connection(cid);
    /* The cached statement's connection is gone: this call reports it... */
    assert_int_equal(db_scalar_i64(x, "SELECT ? + 1", DBP(P_I(1)), 0, &v), DB_EGONE);
    /* ...and the next reconnects and prepares it again. */
    v = 0;
    assert_int_equal(db_scalar_i64(x, "SELECT ? + 1", DBP(P_I(1)), 0, &v), DB_OK);
    assert_int_equal(v, 2);
    assert_int_equal(db_scalar_i64(x, "SELECT CONNECTION_ID()", DBP0, 0, &cid2), DB_OK);
    assert_true(cid2 != cid);

    /* The session set-up is applied to the new connection as well. */
    struct db_result r;
    assert_int_equal(db_exec(x, "SELECT @@session.time_zone, @@character_set_connection", DBP0, &r), DB_OK);
    assert_string_equal(db_cell(&r, 0, 0), "+00:00");
    assert_string_equal(db_cell(&r, 0, 1), "utf8mb4");
    db_result_free(&r);

    /* A statement never prepared on the old connection also reports DB_EGONE. */
    kill_connection(cid2);
    assert_int_equal(db_exec(x, "SELECT ? * 3 AS never_prepared_before", DBP(P_I(1)), NULL), DB_EGONE);
    assert_int_equal(db_ping(x), DB_OK);

    /* Ping notices a dead connection too. */
    assert_int_equal(db_scalar_i64(x, "SELECT CONNECTION_ID()", DBP0, 0, &cid), DB_OK);
    kill_connection(cid);
    assert_int_equal(db_ping(x), DB_EGONE);
    assert_int_equal(db_ping(x), DB_OK);
    db_free(x);
}

/* A transaction whose connection dies before COMMIT must never report success, and
 * nothing of it is stored. */
static void test_commit_after_kill_fails(void **state)
{
    (void)state;
    NEED_DB();
    struct db *x = db_new(&cfg, 1);
    int64_t cid = 0;
    assert_int_equal(db_scalar_i64(x, "SELECT CONNECTION_ID()", DBP0, 0, &cid), DB_OK);
    assert_int_equal(db_begin(x), DB_OK);
    assert_int_equal(db_exec(x, "INSERT INTO t_uniq (k) VALUES (?)", DBP(P_S("lost-1")), NULL), DB_OK);
    kill_connection(cid);
    assert_int_equal(db_commit(x), DB_EGONE);
    assert_int_equal(unit_scalar(db, "SELECT COUNT(*) FROM t_uniq WHERE k = 'lost-1'", DBP0), 0);
    /* begin after the loss reconnects */
    assert_int_equal(db_begin(x), DB_OK);
    assert_int_equal(db_rollback(x), DB_OK);
    db_free(x);
}

/* More distinct statements than the cache holds (512 slots): all still work, including
 * ones without a result set, and with correct counts. */
static void test_statement_cache_overflow(void **state)
{
    (void)state;
    NEED_DB();
    struct db *x = db_new(&cfg, 1);
    assert_int_equal(db_exec(x, "UPDATE t_cnt SET v = 0 WHERE id = 1", DBP0, NULL), DB_OK);
    int64_t want = 0;
    for (int round = 0; round < 2; round++) {
        for (int n = 0; n < 600; n++) {
            char sql[96];
            snprintf(sql, sizeof(sql), "SELECT ? + %d", n);
            int64_t v = -1;
            int rc = db_scalar_i64(x, sql, DBP(P_I(1)), 0, &v);
            if (rc != DB_OK || v != 1 + n)
                fail_msg("round %d: \"%s\" gave rc %d value %lld", round, sql, rc, (long long)v);
            snprintf(sql, sizeof(sql), "UPDATE t_cnt SET v = v + %d WHERE id = ?", n);
            struct db_result r;
            rc = db_exec(x, sql, DBP(P_I(1)), &r);
            if (rc != DB_OK)
                fail_msg("round %d: \"%s\" gave rc %d", round, sql, rc);
            if (r.affected != 1)
                fail_msg("round %d: \"%s\" affected %llu rows", round, sql, (unsigned long long)r.affected);
            db_result_free(&r);
            want += n;
        }
    }
    assert_true(unit_scalar(x, "SELECT v FROM t_cnt WHERE id = 1", DBP0) == want);
    struct db_result r;
    assert_int_equal(db_exec(x, "INSERT INTO t_uniq (k) VALUES (?)", DBP(P_S("after-overflow")), &r), DB_OK);
    assert_true(r.insert_id > 0);
    db_result_free(&r);
    db_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_every_type),
        cmocka_unit_test(test_param_count_mismatch),
        cmocka_unit_test(test_scalar_and_cells),
        cmocka_unit_test(test_chinese_round_trip),
        cmocka_unit_test(test_long_text_round_trip),
        cmocka_unit_test(test_rows_json_types),
        cmocka_unit_test(test_rows_json_aggregate),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_returning_error_keeps_connection),
        cmocka_unit_test(test_failed_exec_leaves_result_alone),
        cmocka_unit_test(test_deadlock_is_retry),
        cmocka_unit_test(test_lock_wait_timeout_is_retry),
        cmocka_unit_test(test_script_error_keeps_connection),
        cmocka_unit_test(test_reconnect_after_kill),
        cmocka_unit_test(test_commit_after_kill_fails),
        cmocka_unit_test(test_statement_cache_overflow),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

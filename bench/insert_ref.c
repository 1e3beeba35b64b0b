/* insert_ref.c — the reference for the durable-ingest benchmark (bench/sms_ingest.js):
 * what a naive gateway does with each inbound message, one autocommit INSERT of one row
 * (so one durable commit per message), from THREADS clients at once, each with its own
 * MariaDB connection and a prepared statement, into the same MariaDB the gateway uses
 * and over the same transport (the socket SWITCHBOARD_DATABASE_SOCKET when set, as
 * gateway/db.c does, else SWITCHBOARD_DATABASE_HOST/PORT; SWITCHBOARD_DATABASE_USER and
 * _PASSWORD). The gateway's group commit (ingest.h) must beat this rate while writing a
 * customer, a ticket, a message and events per message and acking only after COMMIT.
 *
 * Creates DATABASE if missing and the table bench_insert_ref in it, inserts TOTAL_ROWS
 * rows in all or stops after MAX_SECS, whichever comes first, drops the table, and prints
 * one line: ROWS SECONDS ROWS_PER_SEC (rows inserted, seconds from the first insert to the
 * last thread done, their quotient). Exits 1 when an insert failed or nothing was
 * inserted, 2 on bad usage.
 *
 * Usage: insert_ref DATABASE THREADS TOTAL_ROWS MAX_SECS
 */
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 256

static const char *db_name;
static long total_rows;
static double deadline; /* monotonic seconds, set when the threads are released */
static long next_row;   /* rows claimed so far (atomic) */
static pthread_barrier_t ready, go;

struct worker {
    pthread_t th;
    int index;
    long inserted, failed;
    int setup_failed;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static MYSQL *connect_db(const char *schema)
{
    const char *sock = getenv("SWITCHBOARD_DATABASE_SOCKET");
    const char *host = getenv("SWITCHBOARD_DATABASE_HOST");
    const char *port = getenv("SWITCHBOARD_DATABASE_PORT");
    const char *user = getenv("SWITCHBOARD_DATABASE_USER");
    const char *pass = getenv("SWITCHBOARD_DATABASE_PASSWORD");
    if (sock && !*sock)
        sock = NULL;
    MYSQL *my = mysql_init(NULL);
    if (!my)
        return NULL;
    unsigned int timeout = 5;
    mysql_optionsv(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (!mysql_real_connect(my, sock ? "localhost" : host && *host ? host : "127.0.0.1", user ? user : "switchboard",
                            pass ? pass : "", schema, port && *port ? (unsigned int)atoi(port) : 3306, sock, 0)) {
        fprintf(stderr, "insert_ref: connect: %s\n", mysql_error(my));
        mysql_close(my);
        return NULL;
    }
    return my;
}

static int run_sql(MYSQL *my, const char *q)
{
    if (mysql_query(my, q) != 0) {
        fprintf(stderr, "insert_ref: %s: %s\n", q, mysql_error(my));
        return -1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    mysql_thread_init();
    MYSQL *my = connect_db(db_name);
    MYSQL_STMT *st = NULL;
    static const char insert[] =
        "INSERT INTO bench_insert_ref (channel, external_id, body, created_at) VALUES ('sms', ?, ?, NOW(3))";
    if (my && mysql_autocommit(my, 1) == 0 && (st = mysql_stmt_init(my)) != NULL &&
        mysql_stmt_prepare(st, insert, (unsigned long)strlen(insert)) != 0) {
        fprintf(stderr, "insert_ref: prepare: %s\n", mysql_stmt_error(st));
        mysql_stmt_close(st);
        st = NULL;
    }
    w->setup_failed = st == NULL;
    pthread_barrier_wait(&ready); /* everyone connected and prepared */
    pthread_barrier_wait(&go);    /* main has taken the start time */
    char ext[64];
    char body[160];
    unsigned long ext_len = 0, body_len = 0;
    MYSQL_BIND b[2];
    memset(b, 0, sizeof(b));
    b[0].buffer_type = MYSQL_TYPE_STRING;
    b[0].buffer = ext;
    b[0].length = &ext_len;
    b[1].buffer_type = MYSQL_TYPE_STRING;
    b[1].buffer = body;
    b[1].length = &body_len;
    while (st) {
        long row = __atomic_fetch_add(&next_row, 1, __ATOMIC_RELAXED);
        if (row >= total_rows || now_s() >= deadline)
            break;
        /* the same shape as a webhook's message: a provider id and a short mixed text */
        ext_len = (unsigned long)snprintf(ext, sizeof(ext), "SMref%08ld%020ld", row, row * 7919L);
        body_len = (unsigned long)snprintf(body, sizeof(body), "你好，我的订单 %ld 什么时候到？ Where is my order %ld?",
                                           row, row);
        if (mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0) {
            if (w->failed++ < 3)
                fprintf(stderr, "insert_ref: thread %d: %s\n", w->index, mysql_stmt_error(st));
            if (mysql_stmt_errno(st) >= 2000) /* a client error: the connection is gone */
                break;
            continue;
        }
        w->inserted++;
    }
    if (st)
        mysql_stmt_close(st);
    if (my)
        mysql_close(my);
    mysql_thread_end();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s DATABASE THREADS TOTAL_ROWS MAX_SECS\n", argv[0]);
        return 2;
    }
    db_name = argv[1];
    int threads = atoi(argv[2]);
    total_rows = strtol(argv[3], NULL, 10);
    double max_secs = strtod(argv[4], NULL);
    size_t nlen = strlen(db_name);
    int name_ok = nlen > 0 && nlen <= 64;
    for (size_t i = 0; i < nlen; i++)
        name_ok &= (db_name[i] >= 'a' && db_name[i] <= 'z') || (db_name[i] >= 'A' && db_name[i] <= 'Z') ||
                   (db_name[i] >= '0' && db_name[i] <= '9') || db_name[i] == '_';
    if (!name_ok || threads < 1 || threads > MAX_THREADS || total_rows < 1 || !(max_secs > 0)) {
        fprintf(stderr, "usage: %s DATABASE THREADS TOTAL_ROWS MAX_SECS (database [A-Za-z0-9_], 1..%d threads)\n",
                argv[0], MAX_THREADS);
        return 2;
    }
    mysql_library_init(0, NULL, NULL);
    MYSQL *admin = connect_db(NULL);
    if (!admin)
        return 1;
    char q[512];
    snprintf(q, sizeof(q), "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4", db_name);
    if (run_sql(admin, q) < 0 || mysql_select_db(admin, db_name) != 0 ||
        run_sql(admin, "DROP TABLE IF EXISTS bench_insert_ref") < 0 ||
        run_sql(admin, "CREATE TABLE bench_insert_ref (id BIGINT AUTO_INCREMENT PRIMARY KEY, channel VARCHAR(8), "
                       "external_id VARCHAR(64), body TEXT, created_at DATETIME(3)) ENGINE=InnoDB "
                       "DEFAULT CHARSET=utf8mb4") < 0) {
        mysql_close(admin);
        return 1;
    }
    struct worker *ws = calloc((size_t)threads, sizeof(*ws));
    if (!ws)
        return 1;
    pthread_barrier_init(&ready, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
    int started = 0;
    for (int i = 0; i < threads; i++) {
        ws[i].index = i;
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "insert_ref: cannot start thread %d\n", i);
            return 1; /* the started ones wait at the barrier forever: exit takes them */
        }
        started++;
    }
    pthread_barrier_wait(&ready);
    double t0 = now_s();
    deadline = t0 + max_secs;
    pthread_barrier_wait(&go);
    long inserted = 0, failed = 0, setup_failed = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(ws[i].th, NULL);
        inserted += ws[i].inserted;
        failed += ws[i].failed;
        setup_failed += ws[i].setup_failed;
    }
    double secs = now_s() - t0;
    run_sql(admin, "DROP TABLE IF EXISTS bench_insert_ref");
    mysql_close(admin);
    mysql_library_end();
    free(ws);
    if (failed || setup_failed)
        fprintf(stderr, "insert_ref: %ld inserts failed, %ld threads could not start\n", failed, setup_failed);
    printf("%ld %.3f %.1f\n", inserted, secs, secs > 0 ? (double)inserted / secs : 0.0);
    return failed || setup_failed || inserted == 0 ? 1 : 0;
}

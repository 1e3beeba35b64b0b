/* db.h — one MariaDB connection with its prepared-statement cache.
 *
 * Owns: the MYSQL handle and every MYSQL_STMT prepared on it. SQL text is always a
 * constant in the calling module (DESIGN.md section 13): values travel only as
 * parameters, never spliced into the text.
 *
 * Thread: a struct db belongs to one thread at a time (a db-pool thread, the ingest
 * writer, the event tailer, or the CLI). Call db_thread_init() in every thread that
 * uses one.
 *
 * Errors: every call returns DB_OK (0) or a negative class:
 *   DB_EGONE   the server is unreachable or the connection broke (CR_SERVER_GONE_ERROR,
 *              CR_SERVER_LOST, refused...). The handle is closed and the statement cache
 *              dropped; the next call reconnects and re-prepares. Callers answer 503.
 *   DB_ERETRY  deadlock (1213) or lock wait timeout (1205): roll back and run the whole
 *              transaction again.
 *   DB_EDUP    duplicate key (1062).
 *   DB_EINUSE  the row is still referenced by a foreign key (1451: a delete of a segment a
 *              campaign uses). Callers answer 409.
 *   DB_EOTHER  anything else (logged with the server's message).
 */
#ifndef SB_DB_H
#define SB_DB_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "gateway/config.h"

enum db_rc { DB_OK = 0, DB_EGONE = -1, DB_ERETRY = -2, DB_EDUP = -3, DB_EOTHER = -4, DB_EINUSE = -5 };

enum db_type { DB_NULL, DB_I64, DB_F64, DB_TEXT, DB_BLOB };
struct db_param {
    enum db_type t;
    int64_t i;
    double f;
    const char *s;
    size_t n; /* text length; 0 with s set means strlen(s); a blob's length, 0 allowed */
};
#define P_I(v) ((struct db_param){.t = DB_I64, .i = (int64_t)(v)})
#define P_F(v) ((struct db_param){.t = DB_F64, .f = (double)(v)})
static inline struct db_param db_param_text(const char *s)
{
    return (struct db_param){.t = s ? DB_TEXT : DB_NULL, .s = s};
}
#define P_S(v) db_param_text(v)
#define P_SN(v, len) ((struct db_param){.t = DB_TEXT, .s = (v), .n = (len)})
/* P_BLOB: binary bytes (may hold NULs), bound as such. */
#define P_BLOB(v, len) ((struct db_param){.t = DB_BLOB, .s = (const char *)(v), .n = (len)})
#define P_NULL ((struct db_param){.t = DB_NULL})
/* P_IOPT: integer or NULL when v <= 0 (optional foreign keys). */
#define P_IOPT(v) ((v) > 0 ? P_I(v) : P_NULL)
/* Appends "(?, ?, …)" with n placeholders to q: the IN list of a bulk statement (the
 * values still go as parameters, never as text). */
struct buf;
void db_put_placeholders(struct buf *q, size_t n);
/* Appends row n times, comma-separated: the VALUES of a multi-row INSERT, e.g.
 * db_put_rows(q, k, "(?, ?, NOW(3))"). */
void db_put_rows(struct buf *q, size_t n, const char *row);
/* Builds the (params, count) pair: db_exec(db, SQL, DBP(P_I(1), P_S(x)), &res). */
#define DBP(...) (const struct db_param[]){__VA_ARGS__}, \
    (sizeof((const struct db_param[]){__VA_ARGS__}) / sizeof(struct db_param))
#define DBP0 NULL, 0

struct db_result {
    size_t nrows, ncols;
    char **names;        /* ncols column labels */
    int *types;          /* ncols enum_field_types */
    char **cells;        /* nrows * ncols; NULL = SQL NULL; NUL-terminated */
    size_t *lens;
    uint64_t affected;
    uint64_t insert_id;
};

struct db;

/* Library-wide set-up, once, on the main thread. */
void db_library_init(void);
void db_library_end(void);
void db_thread_init(void);
void db_thread_end(void);

/* with_schema=0 connects without selecting the database (for CREATE DATABASE). The
 * connection is made lazily on first use. */
struct db *db_new(const struct sb_config *cfg, int with_schema);
void db_free(struct db *db);
int db_ping(struct db *db);
const char *db_error(struct db *db);

/* Prepared statement, cached per connection by SQL text. res may be NULL when the
 * caller needs neither rows nor counts. On success *res must be freed. */
int db_exec(struct db *db, const char *sql, const struct db_param *p, size_t np, struct db_result *res);
/* db_exec of head "(?, …)" tail with nlist placeholders in the list (a bulk statement's IN
 * list; np counts every parameter, the list's and any before or after it). */
int db_exec_list(struct db *db, const char *head, size_t nlist, const char *tail, const struct db_param *p, size_t np,
                 struct db_result *res);
/* A script of several statements (migrations only; never user text). */
int db_exec_script(struct db *db, const char *script);
int db_begin(struct db *db);
/* A transaction whose START TRANSACTION is sent before its first statement that writes
 * or locks (anything but a plain SELECT): a request that only reads costs no BEGIN and no
 * COMMIT round trip. Same isolation (READ COMMITTED: each read sees the latest commit). */
int db_begin_lazy(struct db *db);
/* 1 while a lazy transaction has sent nothing yet (only plain reads ran in it): its commit
 * writes nothing, so nobody need be told of changes. */
int db_tx_idle(const struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);
/* Runs fn in a transaction: commits when it returns 0, rolls back otherwise (fn may
 * return a positive outcome code that is not an error but must not commit). Deadlocks
 * and lock-wait timeouts rerun fn, up to 4 times. Returns fn's result or a db_rc. */
int db_transaction(struct db *db, int (*fn)(struct db *db, void *arg), void *arg);

void db_result_free(struct db_result *r);
/* Keeps the first n rows (n <= nrows), freeing the others. */
void db_result_truncate(struct db_result *r, size_t n);
const char *db_cell(const struct db_result *r, size_t row, size_t col);
int64_t db_cell_i64(const struct db_result *r, size_t row, size_t col);
/* Rows as JSON: integers and decimals as numbers, DATETIME as ISO-8601 UTC, and a
 * column labelled "x__json" parsed as JSON into key "x" (for JSON_ARRAYAGG, attrs). */
json_t *db_row_json(const struct db_result *r, size_t row);
json_t *db_rows_json(const struct db_result *r);

/* Convenience: the first row as JSON (db_row_json), or *out = NULL when there is none. */
int db_row_json_of(struct db *db, const char *sql, const struct db_param *p, size_t np, json_t **out);
/* Convenience: one value from the first row, or `dflt` when there is no row. */
int db_scalar_i64(struct db *db, const char *sql, const struct db_param *p, size_t np,
                  int64_t dflt, int64_t *out);

/* A set of ids as one parameter, for statements on many rows without building SQL:
 * db_id_list gives "[1,2,3]" (malloc'd, the caller frees; NULL when out of memory) and
 * DB_ID_LIST_TABLE reads it as a table j with one column id. */
char *db_id_list(const int64_t *ids, size_t n);
#define DB_ID_LIST_TABLE "JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT PATH '$')) j"

#endif

/* db.c — see db.h. */
#include "gateway/db.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STMT_SLOTS 512

struct stmt_slot {
    char *sql;        /* own copy: callers may compose SQL from constant fragments */
    uint64_t hash;
    MYSQL_STMT *stmt;
};

struct db {
    const struct sb_config *cfg;
    int with_schema;
    MYSQL *my;
    struct stmt_slot slots[STMT_SLOTS];
    char err[256];
    int tx_pending; /* db_begin_lazy: START TRANSACTION not sent yet */
};

void db_library_init(void)
{
    mysql_library_init(0, NULL, NULL);
}

void db_library_end(void)
{
    mysql_library_end();
}

void db_thread_init(void)
{
    mysql_thread_init();
}

void db_thread_end(void)
{
    mysql_thread_end();
}

struct db *db_new(const struct sb_config *cfg, int with_schema)
{
    struct db *db = calloc(1, sizeof(*db));
    if (!db)
        return NULL;
    db->cfg = cfg;
    db->with_schema = with_schema;
    return db;
}

static void db_disconnect(struct db *db)
{
    for (size_t i = 0; i < STMT_SLOTS; i++) {
        if (db->slots[i].stmt)
            mysql_stmt_close(db->slots[i].stmt);
        free(db->slots[i].sql);
        db->slots[i] = (struct stmt_slot){0};
    }
    if (db->my)
        mysql_close(db->my);
    db->my = NULL;
}

void db_free(struct db *db)
{
    if (!db)
        return;
    db_disconnect(db);
    free(db);
}

const char *db_error(struct db *db)
{
    return db->err;
}

static int classify(struct db *db, unsigned int code, const char *msg, const char *sql)
{
    text_copy(db->err, sizeof(db->err), msg ? msg : "");
    switch (code) {
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
        return DB_ERETRY;
    case ER_DUP_ENTRY:
        return DB_EDUP;
    case ER_ROW_IS_REFERENCED_2:
        return DB_EINUSE;
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_LOST_EXTENDED:
    case CR_COMMANDS_OUT_OF_SYNC:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
        log_warn("db", "event=connection_lost code=%u msg=\"%s\"", code, db->err);
        db_disconnect(db);
        return DB_EGONE;
    default: {
        char q[160];
        log_error("db", "event=sql_error code=%u msg=\"%s\" sql=%s", code, db->err,
                  log_quote(q, sizeof(q), sql ? sql : ""));
        return DB_EOTHER;
    }
    }
}

static int db_ensure(struct db *db)
{
    if (db->my)
        return DB_OK;
    const struct sb_config *c = db->cfg;
    MYSQL *my = mysql_init(NULL);
    if (!my)
        return DB_EGONE;
    unsigned int timeout = (unsigned int)c->database.connect_timeout;
    unsigned int rw_timeout = 30;
    my_bool off = 0;
    mysql_optionsv(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(my, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_optionsv(my, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_optionsv(my, MYSQL_OPT_RECONNECT, &off); /* we reconnect ourselves and re-prepare */
    mysql_optionsv(my, MYSQL_INIT_COMMAND,
                   "SET time_zone='+00:00', SESSION tx_isolation='READ-COMMITTED', "
                   "sql_mode='STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO'");
    const char *sock = c->database.socket[0] ? c->database.socket : NULL;
    const char *host = sock ? "localhost" : c->database.host;
    if (!mysql_real_connect(my, host, c->database.user, c->database.password,
                            db->with_schema ? c->database.name : NULL, (unsigned int)c->database.port,
                            sock, CLIENT_MULTI_STATEMENTS | CLIENT_FOUND_ROWS)) {
        text_copy(db->err, sizeof(db->err), mysql_error(my));
        unsigned int code = mysql_errno(my);
        mysql_close(my);
        return code == ER_BAD_DB_ERROR ? DB_EOTHER : DB_EGONE;
    }
    db->my = my;
    return DB_OK;
}

int db_ping(struct db *db)
{
    int rc = db_ensure(db);
    if (rc)
        return rc;
    if (mysql_ping(db->my) != 0)
        return classify(db, mysql_errno(db->my), mysql_error(db->my), "PING");
    return DB_OK;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int stmt_prepare(struct db *db, const char *sql, MYSQL_STMT **out)
{
    MYSQL_STMT *st = mysql_stmt_init(db->my);
    if (!st)
        return classify(db, mysql_errno(db->my), mysql_error(db->my), sql);
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0) {
        int rc = classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), sql);
        mysql_stmt_close(st);
        return rc;
    }
    my_bool on = 1;
    mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    *out = st;
    return DB_OK;
}

static int stmt_get(struct db *db, const char *sql, MYSQL_STMT **out)
{
    uint64_t h = fnv1a(sql);
    size_t i = h % STMT_SLOTS;
    for (size_t probe = 0; probe < STMT_SLOTS; probe++, i = (i + 1) % STMT_SLOTS) {
        struct stmt_slot *s = &db->slots[i];
        if (!s->stmt)
            break;
        if (s->hash == h && strcmp(s->sql, sql) == 0) {
            *out = s->stmt;
            return DB_OK;
        }
    }
    MYSQL_STMT *st = NULL;
    int rc = stmt_prepare(db, sql, &st);
    if (rc)
        return rc;
    char *copy = db->slots[i].stmt ? NULL : strdup(sql);
    if (!copy) /* table full (or no memory): the statement is used once, not cached */
        i = STMT_SLOTS;
    if (i < STMT_SLOTS)
        db->slots[i] = (struct stmt_slot){.sql = copy, .hash = h, .stmt = st};
    *out = st;
    return i < STMT_SLOTS ? DB_OK : 1;
}

/* A statement whose execute succeeded but whose results failed — an INSERT … RETURNING
 * refused by the server (a duplicate): Connector/C 3.3 reports the execute as a success
 * and the error only when the rows are read, and executing that handle again makes the
 * server drop the connection ("Got an error reading communication packets", the client
 * sees 2006). The handle is replaced by a freshly prepared one; failing that, the
 * connection is dropped and made again on next use. */
static void stmt_renew(struct db *db, MYSQL_STMT *old, const char *sql)
{
    for (size_t i = 0; i < STMT_SLOTS; i++) {
        if (db->slots[i].stmt != old)
            continue;
        MYSQL_STMT *st = NULL;
        if (db->my && stmt_prepare(db, sql, &st) == DB_OK) {
            mysql_stmt_close(old);
            db->slots[i].stmt = st;
            return;
        }
        log_warn("db", "event=statement_renew_failed action=reconnect");
        db_disconnect(db);
        return;
    }
}

static int bind_params(MYSQL_STMT *st, const struct db_param *p, size_t np, MYSQL_BIND *b,
                       unsigned long *lens)
{
    if (mysql_stmt_param_count(st) != np)
        return -1;
    memset(b, 0, sizeof(*b) * np);
    for (size_t k = 0; k < np; k++) {
        switch (p[k].t) {
        case DB_NULL:
            b[k].buffer_type = MYSQL_TYPE_NULL;
            break;
        case DB_I64:
            b[k].buffer_type = MYSQL_TYPE_LONGLONG;
            b[k].buffer = (void *)&p[k].i;
            break;
        case DB_F64:
            b[k].buffer_type = MYSQL_TYPE_DOUBLE;
            b[k].buffer = (void *)&p[k].f;
            break;
        case DB_TEXT:
            lens[k] = (unsigned long)(p[k].n ? p[k].n : strlen(p[k].s));
            b[k].buffer_type = MYSQL_TYPE_STRING;
            b[k].buffer = (void *)p[k].s;
            b[k].buffer_length = lens[k];
            b[k].length = &lens[k];
            break;
        case DB_BLOB:
            lens[k] = (unsigned long)p[k].n;
            b[k].buffer_type = MYSQL_TYPE_BLOB;
            b[k].buffer = (void *)(p[k].s ? p[k].s : "");
            b[k].buffer_length = lens[k];
            b[k].length = &lens[k];
            break;
        }
    }
    return np ? mysql_stmt_bind_param(st, b) : 0;
}

static int fetch_rows(struct db *db, MYSQL_STMT *st, MYSQL_RES *meta, struct db_result *res, const char *sql)
{
    size_t nc = mysql_num_fields(meta);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    if (mysql_stmt_store_result(st) != 0)
        return classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), sql);
    size_t nr = (size_t)mysql_stmt_num_rows(st);
    res->ncols = nc;
    res->nrows = nr;
    res->names = calloc(nc, sizeof(char *));
    res->types = calloc(nc, sizeof(int));
    res->cells = calloc(nr * nc + 1, sizeof(char *));
    res->lens = calloc(nr * nc + 1, sizeof(size_t));
    MYSQL_BIND *b = calloc(nc, sizeof(MYSQL_BIND));
    unsigned long *len = calloc(nc, sizeof(unsigned long));
    my_bool *isnull = calloc(nc, sizeof(my_bool)), *trunc = calloc(nc, sizeof(my_bool));
    char **bufs = calloc(nc, sizeof(char *));
    int rc = DB_OK;
    if (!res->names || !res->types || !res->cells || !res->lens || !b || !len || !isnull || !trunc || !bufs) {
        rc = DB_EOTHER;
        goto out;
    }
    for (size_t c = 0; c < nc; c++) {
        res->names[c] = strdup(f[c].name);
        res->types[c] = f[c].type;
        size_t sz = f[c].max_length > 64 ? f[c].max_length : 64;
        bufs[c] = malloc(sz + 1);
        b[c].buffer_type = MYSQL_TYPE_STRING;
        b[c].buffer = bufs[c];
        b[c].buffer_length = sz + 1;
        b[c].length = &len[c];
        b[c].is_null = &isnull[c];
        b[c].error = &trunc[c];
    }
    if (mysql_stmt_bind_result(st, b) != 0) {
        rc = classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), sql);
        goto out;
    }
    for (size_t r = 0; r < nr; r++) {
        int fr = mysql_stmt_fetch(st);
        if (fr == 1 || fr == MYSQL_NO_DATA) {
            rc = fr == 1 ? classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), sql) : DB_OK;
            res->nrows = r;
            break;
        }
        for (size_t c = 0; c < nc; c++) {
            size_t idx = r * nc + c;
            if (isnull[c])
                continue;
            char *cell = malloc(len[c] + 1);
            if (!cell) {
                rc = DB_EOTHER;
                goto out;
            }
            if (fr == MYSQL_DATA_TRUNCATED && trunc[c]) {
                MYSQL_BIND one = {0};
                one.buffer_type = MYSQL_TYPE_STRING;
                one.buffer = cell;
                one.buffer_length = len[c] + 1;
                mysql_stmt_fetch_column(st, &one, (unsigned int)c, 0);
            } else {
                memcpy(cell, bufs[c], len[c]);
            }
            cell[len[c]] = '\0';
            res->cells[idx] = cell;
            res->lens[idx] = len[c];
        }
    }
out:
    for (size_t c = 0; bufs && c < nc; c++)
        free(bufs[c]);
    free(bufs);
    free(b);
    free(len);
    free(isnull);
    free(trunc);
    return rc;
}

static int simple(struct db *db, const char *sql);

/* A statement that neither writes nor locks: under READ COMMITTED it reads the same inside
 * a transaction as outside one, so a lazy transaction need not start for it. */
static int plain_read(const char *sql)
{
    while (*sql == ' ' || *sql == '(')
        sql++;
    if (strncasecmp(sql, "SELECT", 6) != 0)
        return 0;
    /* a locking read must run inside the transaction; strstr in both cases (our SQL is upper
     * case) is cheaper than strcasestr over every statement of a GET */
    static const char *const locks[] = {"FOR UPDATE", "for update", "LOCK IN SHARE MODE", "lock in share mode",
                                        "FOR SHARE", "for share", NULL};
    for (size_t i = 0; locks[i]; i++)
        if (strstr(sql, locks[i]))
            return 0;
    return 1;
}

/* Sends the START TRANSACTION a lazy begin held back, before the first statement that needs it. */
static int start_pending(struct db *db, const char *sql)
{
    if (!db->tx_pending || plain_read(sql))
        return DB_OK;
    db->tx_pending = 0;
    return simple(db, "START TRANSACTION");
}

static int exec_once(struct db *db, const char *sql, const struct db_param *p, size_t np, struct db_result *res)
{
    if (res) /* callers pass uninitialised results; every exit path may free it */
        memset(res, 0, sizeof(*res));
    int rc = db_ensure(db);
    if (!rc)
        rc = start_pending(db, sql);
    if (rc)
        return rc;
    MYSQL_STMT *st = NULL;
    rc = stmt_get(db, sql, &st);
    if (rc < 0)
        return rc;
    int uncached = rc == 1; /* the cache is full: close this statement after use */
    rc = DB_OK;
    MYSQL_BIND pb[np ? np : 1];
    unsigned long plen[np ? np : 1];
    MYSQL_RES *meta = NULL;
    if (bind_params(st, p, np, pb, plen) != 0) {
        log_error("db", "event=bind_failed params=%zu expected=%lu", np, mysql_stmt_param_count(st));
        rc = DB_EOTHER;
        goto out;
    }
    if (mysql_stmt_execute(st) != 0) {
        rc = classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), sql);
        goto out;
    }
    if (res) {
        res->affected = (uint64_t)mysql_stmt_affected_rows(st);
        res->insert_id = (uint64_t)mysql_stmt_insert_id(st);
    }
    meta = mysql_stmt_result_metadata(st);
    if (meta) {
        struct db_result tmp = {0};
        rc = fetch_rows(db, st, meta, res ? res : &tmp, sql);
        if (!res)
            db_result_free(&tmp);
        if (db->my)
            mysql_stmt_free_result(st);
        if (rc && db->my && !uncached) {
            mysql_free_result(meta);
            meta = NULL;
            stmt_renew(db, st, sql); /* st is closed now (or the connection dropped) */
            st = NULL;
        }
    }
out:
    if (meta)
        mysql_free_result(meta);
    if (rc && res)
        db_result_free(res);
    if (uncached && st)
        mysql_stmt_close(st);
    return rc;
}

int db_exec(struct db *db, const char *sql, const struct db_param *p, size_t np, struct db_result *res)
{
    return exec_once(db, sql, p, np, res);
}

static int simple(struct db *db, const char *sql)
{
    int rc = db_ensure(db);
    if (rc)
        return rc;
    if (mysql_real_query(db->my, sql, (unsigned long)strlen(sql)) != 0)
        return classify(db, mysql_errno(db->my), mysql_error(db->my), sql);
    return DB_OK;
}

int db_exec_script(struct db *db, const char *script)
{
    int rc = start_pending(db, script);
    if (!rc)
        rc = simple(db, script);
    if (rc)
        return rc;
    for (;;) {
        MYSQL_RES *r = mysql_store_result(db->my);
        if (r)
            mysql_free_result(r);
        int more = mysql_next_result(db->my);
        if (more == -1)
            return DB_OK;
        if (more > 0)
            return classify(db, mysql_errno(db->my), mysql_error(db->my), "migration script");
    }
}

int db_begin(struct db *db)
{
    db->tx_pending = 0;
    return simple(db, "START TRANSACTION");
}

int db_begin_lazy(struct db *db)
{
    int rc = db_ensure(db);
    db->tx_pending = !rc;
    return rc;
}

int db_tx_idle(const struct db *db)
{
    return db->tx_pending;
}

int db_commit(struct db *db)
{
    if (db->tx_pending) { /* nothing was written: there is nothing to commit */
        db->tx_pending = 0;
        return db->my ? DB_OK : DB_EGONE;
    }
    if (!db->my)
        return DB_EGONE;
    if (mysql_commit(db->my) != 0)
        return classify(db, mysql_errno(db->my), mysql_error(db->my), "COMMIT");
    return DB_OK;
}

int db_rollback(struct db *db)
{
    if (db->tx_pending) {
        db->tx_pending = 0;
        return db->my ? DB_OK : DB_EGONE;
    }
    if (!db->my)
        return DB_EGONE;
    if (mysql_rollback(db->my) != 0)
        return classify(db, mysql_errno(db->my), mysql_error(db->my), "ROLLBACK");
    return DB_OK;
}

int db_transaction(struct db *db, int (*fn)(struct db *db, void *arg), void *arg)
{
    int rc = DB_ERETRY;
    for (int attempt = 0; attempt < 4 && rc == DB_ERETRY; attempt++) {
        rc = db_begin(db);
        if (rc == DB_EGONE && attempt == 0) /* a stale connection: reconnect once */
            rc = db_begin(db);
        if (rc)
            continue;
        rc = fn(db, arg);
        if (rc == DB_OK)
            rc = db_commit(db);
        else
            db_rollback(db);
    }
    return rc;
}

void db_result_free(struct db_result *r)
{
    if (!r)
        return;
    for (size_t c = 0; r->names && c < r->ncols; c++)
        free(r->names[c]);
    for (size_t i = 0; r->cells && i < r->nrows * r->ncols; i++)
        free(r->cells[i]);
    free(r->names);
    free(r->types);
    free(r->cells);
    free(r->lens);
    memset(r, 0, sizeof(*r));
}

void db_result_truncate(struct db_result *r, size_t n)
{
    if (n >= r->nrows)
        return;
    for (size_t i = n * r->ncols; r->cells && i < r->nrows * r->ncols; i++) {
        free(r->cells[i]);
        r->cells[i] = NULL;
    }
    r->nrows = n;
}

const char *db_cell(const struct db_result *r, size_t row, size_t col)
{
    if (row >= r->nrows || col >= r->ncols)
        return NULL;
    return r->cells[row * r->ncols + col];
}

int64_t db_cell_i64(const struct db_result *r, size_t row, size_t col)
{
    const char *s = db_cell(r, row, col);
    int64_t v = 0;
    if (s && text_parse_i64(s, &v) < 0)
        v = 0;
    return v;
}

static json_t *cell_json(const struct db_result *r, size_t row, size_t c, const char **key, char *keybuf, size_t keysz)
{
    const char *name = r->names[c];
    const char *v = db_cell(r, row, c);
    size_t n = strlen(name);
    *key = name;
    int as_json = n > 6 && strcmp(name + n - 6, "__json") == 0;
    int as_bool = n > 6 && strcmp(name + n - 6, "__bool") == 0;
    if (as_json || as_bool) {
        text_copy_n(keybuf, keysz, name, n - 6);
        *key = keybuf;
    }
    if (!v)
        return json_null();
    if (as_json) {
        json_t *j = json_loadb(v, r->lens[row * r->ncols + c], JSON_DECODE_ANY, NULL);
        return j ? j : json_null();
    }
    if (as_bool)
        return json_boolean(v[0] != '0');
    switch (r->types[c]) {
    case MYSQL_TYPE_TINY: case MYSQL_TYPE_SHORT: case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG: case MYSQL_TYPE_INT24: case MYSQL_TYPE_YEAR: {
        int64_t i = 0;
        return text_parse_i64(v, &i) == 0 ? json_integer(i) : json_string(v);
    }
    case MYSQL_TYPE_DECIMAL: case MYSQL_TYPE_NEWDECIMAL: case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE: {
        int64_t i = 0; /* a DECIMAL without a scale (UNIONs of ids and NULLs make them) is an integer */
        if (!strchr(v, '.') && !strchr(v, 'e') && text_parse_i64(v, &i) == 0)
            return json_integer(i);
        return json_real(strtod(v, NULL));
    }
    case MYSQL_TYPE_DATETIME: case MYSQL_TYPE_TIMESTAMP: {
        char iso[40];
        size_t k = text_copy(iso, sizeof(iso), v) == 0 ? strlen(iso) : 0;
        if (k >= 19) {
            iso[10] = 'T';
            iso[19] = 'Z';
            iso[20] = '\0';
            return json_string(iso);
        }
        return json_string(v);
    }
    default:
        return json_stringn(v, r->lens[row * r->ncols + c]);
    }
}

json_t *db_row_json(const struct db_result *r, size_t row)
{
    json_t *o = json_object();
    for (size_t c = 0; c < r->ncols; c++) {
        const char *key;
        char keybuf[128];
        json_t *v = cell_json(r, row, c, &key, keybuf, sizeof(keybuf));
        json_object_set_new(o, key, v ? v : json_null());
    }
    return o;
}

json_t *db_rows_json(const struct db_result *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nrows; i++)
        json_array_append_new(a, db_row_json(r, i));
    return a;
}

int db_scalar_i64(struct db *db, const char *sql, const struct db_param *p, size_t np, int64_t dflt, int64_t *out)
{
    struct db_result r;
    int rc = db_exec(db, sql, p, np, &r);
    if (rc)
        return rc;
    *out = (r.nrows && r.ncols && db_cell(&r, 0, 0)) ? db_cell_i64(&r, 0, 0) : dflt;
    db_result_free(&r);
    return DB_OK;
}

void db_put_placeholders(struct buf *q, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_puts(q, i ? ", ?" : "(?");
    buf_puts(q, n ? ")" : "()");
}

void db_put_rows(struct buf *q, size_t n, const char *row)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(q, ", ");
        buf_puts(q, row);
    }
}

int db_row_json_of(struct db *db, const char *sql, const struct db_param *p, size_t np, json_t **out)
{
    struct db_result r;
    *out = NULL;
    int rc = db_exec(db, sql, p, np, &r);
    if (rc)
        return rc;
    *out = r.nrows ? db_row_json(&r, 0) : NULL;
    db_result_free(&r);
    return DB_OK;
}

char *db_id_list(const int64_t *ids, size_t n)
{
    struct buf b;
    buf_init(&b, 0);
    int bad = buf_puts(&b, "[") < 0;
    for (size_t i = 0; i < n && !bad; i++)
        bad = buf_printf(&b, "%s%lld", i ? "," : "", (long long)ids[i]) < 0;
    if (bad || buf_puts(&b, "]") < 0) { /* a list missing ids would be wrong, not short */
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

int db_exec_list(struct db *db, const char *head, size_t nlist, const char *tail, const struct db_param *p, size_t np,
                 struct db_result *res)
{
    struct buf q;
    buf_init(&q, 0);
    buf_puts(&q, head);
    db_put_placeholders(&q, nlist);
    buf_puts(&q, tail);
    int rc = q.data ? db_exec(db, q.data, p, np, res) : DB_EOTHER;
    buf_free(&q);
    return rc;
}

/* unit_db.h — for unit tests that need the private MariaDB started by
 * scripts/dev-services: reads its connection settings (the SWITCHBOARD_DATABASE_*
 * environment that tests/run-all.sh exports, or var/dev-services.env when the binary is
 * run by hand), creates a throw-away database sbunit_<pid> and drops it again.
 * Databases left by a crashed run (their pid no longer alive) are dropped on the next. */
#ifndef SB_UNIT_DB_H
#define SB_UNIT_DB_H
#include "tests/unit/unit.h"
#include "gateway/config.h"
#include "gateway/db.h"
#include "gateway/log.h"
#include "gateway/migrate.h"
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define UNIT_DB_ENV_FILE "var/dev-services.env"

/* 0 when database settings are available (exported, or loaded from the env file);
 * -1 when the env file is absent and nothing is exported: the caller skips. */
static inline int unit_db_env(void)
{
    FILE *f = fopen(UNIT_DB_ENV_FILE, "r");
    if (!f)
        return getenv("SWITCHBOARD_DATABASE_USER") ? 0 : -1;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq || strncmp(line, "SWITCHBOARD_", 12) != 0)
            continue;
        *eq = '\0';
        setenv(line, eq + 1, 0); /* what the caller exported wins */
    }
    fclose(f);
    return 0;
}

static inline int unit_db_name_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

static inline int unit_db_drop(struct db *db, const char *name)
{
    if (!unit_db_name_ok(name))
        return -1;
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS `%s`", name);
    return db_exec_script(db, sql);
}

/* Drops sbunit_<pid>[_...] databases whose process is gone. */
static inline void unit_db_drop_stale(struct db *db)
{
    struct db_result r;
    if (db_exec(db, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'sbunit\\_%'",
                DBP0, &r) != DB_OK)
        return;
    for (size_t i = 0; i < r.nrows; i++) {
        const char *name = db_cell(&r, i, 0);
        char *end = NULL;
        long pid = strtol(name + 7, &end, 10);
        if (pid <= 0 || (end && *end && *end != '_'))
            continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        unit_db_drop(db, name);
    }
    db_result_free(&r);
}

/* Fills cfg from defaults + environment and points it at database sbunit_<pid><suffix>
 * (not created here). Returns 0 or -1 with a message printed. */
static inline int unit_db_config(struct sb_config *cfg, const char *suffix)
{
    char err[512];
    if (config_load(cfg, NULL, 0, err, sizeof(err)) != 0) {
        print_error("config_load: %s\n", err);
        return -1;
    }
    char name[64];
    snprintf(name, sizeof(name), "sbunit_%ld%s", (long)getpid(), suffix ? suffix : "");
    if (config_set(cfg, "database", "name", name, err, sizeof(err)) != 0) {
        print_error("config_set: %s\n", err);
        return -1;
    }
    return 0;
}

/* Creates cfg's database (empty) after dropping stale ones. */
static inline int unit_db_create(const struct sb_config *cfg)
{
    struct db *db = db_new(cfg, 0);
    unit_db_drop_stale(db);
    char sql[200];
    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
             cfg->database.name);
    int rc = unit_db_name_ok(cfg->database.name) ? db_exec_script(db, sql) : DB_EOTHER;
    if (rc)
        print_error("create database %s: %s\n", cfg->database.name, db_error(db));
    db_free(db);
    return rc;
}

/* unit_db_config + unit_db_create + every migration: a fresh database with the schema.
 * Returns 0 or -1 with a message printed. */
static inline int unit_db_migrated(struct sb_config *cfg)
{
    if (unit_db_config(cfg, NULL) != 0 || unit_db_create(cfg) != 0)
        return -1;
    char err[512];
    int applied = 0;
    if (migrate_run(cfg, &applied, err, sizeof(err)) != 0) {
        print_error("migrate_run: %s\n", err);
        return -1;
    }
    return 0;
}

static inline void unit_db_destroy(const struct sb_config *cfg)
{
    struct db *db = db_new(cfg, 0);
    if (unit_db_drop(db, cfg->database.name) != DB_OK)
        print_error("drop database %s: %s\n", cfg->database.name, db_error(db));
    db_free(db);
}

/* The group setup of a test file against a fresh migrated database: 1 with *db
 * connected, 0 when no database is configured (its tests skip), -1 on failure.
 * unit_db_close undoes it (group teardown). */
static inline int unit_db_open(struct sb_config *cfg, struct db **db)
{
    *db = NULL;
    if (unit_db_env() != 0)
        return 0;
    log_set_level(LOG_WARN);
    db_library_init();
    if (unit_db_migrated(cfg) != 0)
        return -1;
    *db = db_new(cfg, 1);
    return *db ? 1 : -1;
}

static inline void unit_db_close(const struct sb_config *cfg, struct db *db)
{
    db_free(db);
    unit_db_destroy(cfg);
    db_library_end();
}

/* One integer from a query, failing the test on a database error. */
#define unit_scalar(db, sql, ...) unit_scalar_at((db), (sql), __FILE__, __LINE__, __VA_ARGS__)
static inline int64_t unit_scalar_at(struct db *db, const char *sql, const char *file, int line,
                                     const struct db_param *p, size_t np)
{
    int64_t v = -1;
    int rc = db_scalar_i64(db, sql, p, np, -1, &v);
    if (rc != DB_OK) {
        print_error("%s: rc=%d %s\n", sql, rc, db_error(db));
        _fail(file, line);
    }
    return v;
}

/* A counter of this connection's own session (information_schema.SESSION_STATUS; the
 * name in upper case: QUESTIONS, CREATED_TMP_DISK_TABLES), failing the test on an error. */
#define unit_session_status(db, name) \
    unit_scalar((db), "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = ?", \
                DBP(P_S(name)))

#endif

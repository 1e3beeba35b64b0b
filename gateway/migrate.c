/* migrate.c — see migrate.h. */
#include "gateway/migrate.h"
#include "gateway/log.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>

int migrate_latest_version(void)
{
    int v = 0;
    for (size_t i = 0; i < sb_n_migrations; i++)
        if (sb_migrations[i].version > v)
            v = sb_migrations[i].version;
    return v;
}

static int name_is_identifier(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

int migrate_current_version(struct db *db, int *version)
{
    int64_t v = 0;
    int rc = db_scalar_i64(db, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
                               "AND table_name = 'schema_migrations'", DBP0, 0, &v);
    if (rc)
        return rc;
    if (v == 0) {
        *version = 0;
        return DB_OK;
    }
    rc = db_scalar_i64(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", DBP0, 0, &v);
    *version = (int)v;
    return rc;
}

static int create_database(const struct sb_config *cfg, char *err, size_t errsz)
{
    if (!name_is_identifier(cfg->database.name)) {
        snprintf(err, errsz, "[database] name: must be letters, digits and _ only (got \"%s\")", cfg->database.name);
        return DB_EOTHER;
    }
    struct db *db = db_new(cfg, 0);
    char sql[200];
    /* A database name cannot be a statement parameter; it is checked above to be a plain
     * identifier from the operator's config, never request data. */
    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_as_ci",
             cfg->database.name);
    int rc = db_exec_script(db, sql);
    if (rc)
        snprintf(err, errsz, "cannot create database %s: %s", cfg->database.name, db_error(db));
    db_free(db);
    return rc;
}

static int apply_one(struct db *db, const struct migration *m, char *err, size_t errsz)
{
    int rc = db_exec_script(db, m->sql);
    if (rc) {
        snprintf(err, errsz, "migration %s failed: %s", m->name, db_error(db));
        return rc;
    }
    rc = db_exec(db, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                 DBP(P_I(m->version), P_S(m->name)), NULL);
    if (rc)
        snprintf(err, errsz, "recording migration %s failed: %s", m->name, db_error(db));
    else
        log_info("migrate", "event=applied version=%d name=%s", m->version, m->name);
    return rc;
}

int migrate_run(const struct sb_config *cfg, int *applied, char *err, size_t errsz)
{
    *applied = 0;
    int rc = create_database(cfg, err, errsz);
    if (rc)
        return rc;
    struct db *db = db_new(cfg, 1);
    int64_t locked = 0;
    rc = db_exec_script(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                            " version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,"
                            " applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB");
    if (!rc)
        rc = db_scalar_i64(db, "SELECT GET_LOCK('switchboard_migrate', 60)", DBP0, 0, &locked);
    if (rc || locked != 1) {
        snprintf(err, errsz, "cannot prepare migrations: %s", rc ? db_error(db) : "lock timeout");
        rc = rc ? rc : DB_EOTHER;
        goto out;
    }
    int current = 0;
    rc = migrate_current_version(db, &current);
    for (size_t i = 0; !rc && i < sb_n_migrations; i++) {
        if (sb_migrations[i].version <= current)
            continue;
        rc = apply_one(db, &sb_migrations[i], err, errsz);
        if (!rc)
            (*applied)++;
    }
    db_exec(db, "SELECT RELEASE_LOCK('switchboard_migrate')", DBP0, NULL);
out:
    db_free(db);
    return rc;
}

/* migrate.h — forward-only schema migrations, embedded in the binary from
 * sql/migrations/NNN_name.sql and recorded in schema_migrations.
 *
 * Owns: the schema_migrations table and the named lock 'switchboard_migrate' that keeps
 * two migrating processes from racing. Thread: the CLI thread (migrate) or any db-pool
 * thread (migrate_status, for /readyz).
 * Errors: 0, or a negative db_rc with a message in err naming the migration that failed.
 */
#ifndef SB_MIGRATE_H
#define SB_MIGRATE_H
#include <stddef.h>
#include "gateway/db.h"

struct migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct migration sb_migrations[];
extern const size_t sb_n_migrations;

int migrate_latest_version(void);
/* Creates the database when it does not exist, then applies what is missing. */
int migrate_run(const struct sb_config *cfg, int *applied, char *err, size_t errsz);
/* Highest applied version (0 when the table is missing). */
int migrate_current_version(struct db *db, int *version);

#endif

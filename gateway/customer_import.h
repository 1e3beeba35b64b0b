/* customer_import.h — bulk customer import from CSV (POST /api/v1/customers/import and
 * `switchboard import customers FILE`).
 *
 * The file: UTF-8 (with or without BOM), GBK/GB18030 or another charset of charset.h;
 * the first record is the header. Columns map to customer fields by name — English keys
 * or the Chinese labels people use (姓名, 手机, 邮箱, 公司, 行业, 地区, 地址, 来源, 标签,
 * 统一社会信用代码, 客户编号, 负责人邮箱 …) — and to custom fields by key or label; an
 * explicit mapping {"header": "field"} overrides ({"header": null} or "" skips a column,
 * e.g. a second phone column). Unknown columns are reported, not guessed.
 *
 * Each row is validated like an API write (name required; e-mail format; phone: a
 * mainland mobile has 11 digits; enums in English or Chinese; custom fields by type,
 * required ones for new customers); a bad row is reported with its line number (the
 * header is line 1) and a reason per field, and the rest are imported. Deduplication is
 * on identities: a row whose e-mail, phone or customer number belongs to an existing
 * customer updates that customer (non-empty cells win; tags are added); a row repeating
 * an identity of an earlier row of the same file is rejected ("duplicate of line N"); a
 * row whose identities point at two different customers, or at one outside the
 * importer's data scope, is rejected.
 *
 * Rows are written in batches of IMPORT_BATCH with multi-row statements inside the
 * caller's transaction; dry_run runs every check (including the lookups) and writes
 * nothing. One audit row and one customer.imported event describe the import.
 *
 * Thread: a db-pool thread or the CLI, inside a transaction the caller commits.
 * Errors: 0 with *res filled; 1 when the file as a whole is unusable (res->error says
 * why: undecodable bytes with their line, no header, no name column, a bad mapping);
 * negative db_rc on database failure (the caller rolls back).
 */
#ifndef SB_CUSTOMER_IMPORT_H
#define SB_CUSTOMER_IMPORT_H
#include <jansson.h>
#include <stdbool.h>
#include "gateway/api.h"

#define IMPORT_BATCH 500
#define IMPORT_MAX_REJECTED 10000 /* the report lists at most this many rows; counts stay exact */

struct import_opts {
    const char *charset;          /* NULL or "" = UTF-8 */
    bool dry_run;
    json_t *mapping;              /* optional {"CSV header": "field or attr key"} (borrowed) */
    const struct agent_info *me;  /* actor and data scope */
    const char *request_id;       /* for the audit row; may be NULL */
};

struct import_result {
    int64_t rows, imported, updated, rejected_count;
    json_t *rejected;             /* [{"line":N,"errors":{"field":"reason"}}] (owned) */
    json_t *ignored_columns;      /* headers that map to nothing (owned) */
    char error[300];
};

int customer_import_run(struct db *db, const char *data, size_t len, const struct import_opts *o,
                        struct import_result *res);
void customer_import_result_free(struct import_result *res);

#endif

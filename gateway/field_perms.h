/* field_perms.h — field-level permissions (issue 12; contract docs/field-permissions.md):
 * per role and field of a customer (built-in profile fields and custom fields attrs.KEY)
 * or a deal, the field is hidden, read-only or (by default) editable. Admins are never
 * restricted.
 *
 * Enforcement points: api.c opens a per-request context (fperm_request_begin) and redacts
 * every JSON answer (fperm_redact: any customer- or deal-shaped object anywhere in the
 * body loses its hidden fields); handlers that write customers and deals refuse a body
 * naming a read-only or hidden field (fperm_write_denied ⇒ 403 naming it); the customer
 * export leaves hidden columns out; segment rules and list filters may not name a hidden
 * field (the rule compiler asks fperm_access); the event tailer prepares a redacted frame
 * per role for CRM events (fperm_snapshot_*), which the net thread sends instead.
 *
 * Owns: the thread-local request context; snapshots belong to their caller. Thread: any.
 * Errors: loading failures make the context fail closed (every catalogued field hidden,
 * writes to them refused) and are returned as db_rc where a function returns int.
 */
#ifndef SB_FIELD_PERMS_H
#define SB_FIELD_PERMS_H
#include <jansson.h>
#include <stddef.h>
#include "gateway/db.h"

enum fperm_access { FP_EDIT = 0, FP_READ = 1, FP_HIDDEN = 2 };
/* The roles permissions apply to (admins: never). */
enum { FP_ROLE_MANAGER, FP_ROLE_AGENT, FP_ROLE_SALES, FP_ROLE_MARKETER, FP_ROLES };

struct fperm_set; /* one role's rows */

/* The built-in fields a permission may name, per object (NULL-terminated). Custom fields
 * are "attrs.KEY" of the customer. */
extern const char *const fperm_customer_fields[];
extern const char *const fperm_deal_fields[];
/* -1 for admin or an unknown role. */
int fperm_role_index(const char *role);

/* Loads role's rows (NULL role or admin: an empty set). */
int fperm_set_load(struct db *db, const char *role, struct fperm_set **out);
void fperm_set_free(struct fperm_set *s);
int fperm_set_access(const struct fperm_set *s, const char *object, const char *field);
int fperm_set_hides_any(const struct fperm_set *s);
void fperm_set_redact(const struct fperm_set *s, json_t *body);

/* The request context of this thread: loaded on first use from db, for role. */
void fperm_request_begin(struct db *db, const char *role);
void fperm_request_end(void);
int fperm_access(const char *object, const char *field);
void fperm_redact(json_t *body);
/* 1 when body (a customer or deal write) names a field the request's role may not write;
 * field receives its name ("uscc", "attrs.budget"). */
int fperm_write_denied(const char *object, json_t *body, char *field, size_t size);

/* The tailer's copy of every role's set, reloaded when permissions change. */
struct fperm_snapshot {
    struct fperm_set *role[FP_ROLES];
};
int fperm_snapshot_load(struct db *db, struct fperm_snapshot *s);
void fperm_snapshot_free(struct fperm_snapshot *s);

#endif

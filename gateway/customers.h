/* customers.h — the CRM records as the handlers share them (api_customers.c, api_deals.c):
 * loading in a data scope, following merges, lifecycle history, custom-field checks,
 * company normalisation, and the customer.* change event.
 *
 * Thread: db-pool threads (and the CLI importer), inside the caller's transaction.
 * Errors: db_rc values; validation problems go into the caller's struct jf.
 */
#ifndef SB_CUSTOMERS_H
#define SB_CUSTOMERS_H
#include "gateway/api.h"
#include "gateway/segment.h"

/* The customer as the API shows it, or *out = NULL when missing, merged away or outside
 * me's scope (me NULL = no scope). */
int customer_load(struct db *db, const struct agent_info *me, int64_t id, json_t **out);
/* Many customers in one statement (no scope, merged ones left out): *out is an object
 * from the id (as a string) to the customer as customer_load gives it. */
int customers_load_many(struct db *db, const int64_t *ids, size_t n, json_t **out);
/* The survivor of a merged customer (or id itself). */
int customer_resolve(struct db *db, int64_t id, int64_t *out);
/* customer.created / customer.updated / customer.merged with the record as payload. */
int customer_event(struct db *db, const char *kind, json_t *customer);
/* A CRM event about something of customer's (payload consumed), scoped like the customer
 * (its owner and region). */
int crm_record_event(struct db *db, const char *kind, int64_t customer, json_t *payload);
/* customer.tagged / customer.untagged for one tag (rule_id 0: not a rule's doing), scoped
 * by the customer's owner and region; tag.added rules run on it. */
int customer_tag_event(struct db *db, int64_t customer, const char *tag, int added, int64_t rule_id);
/* Lifecycle history row when the stage changed (from NULL = a new customer). */
int customer_stage_changed(struct db *db, int64_t id, const char *from, const char *to, int64_t actor,
                           const char *reason);
/* field_defs rows: key, type, options__json, required, label. */
int customer_field_defs(struct db *db, struct db_result *out);
/* Checks attrs (as they will be stored) against the definitions: unknown keys, types,
 * options and required fields, as "attrs.KEY" errors. */
void customer_attrs_check(const struct db_result *defs, struct jf *f, json_t *attrs);
int customer_uscc_valid(const char *s);
/* One value of a typed field (custom field or custom-object field: text, number, date,
 * select, multiselect with options) under fk in f; null is always fine here. */
void field_value_check(struct jf *f, const char *fk, const char *type, json_t *options, json_t *v, size_t max_chars);
int customer_date_valid(const char *s);
/* The companies row for a name (matched by its normalised form), created when new. */
int customer_company_id(struct db *db, const char *name, int64_t *id);
/* owner_id must be an active agent inside the caller's data scope; else a reason under
 * field in f. */
int crm_check_owner(struct api_ctx *c, struct jf *f, const char *field, int64_t owner_id);
/* Compiles a segment-language rule (segment.h) against the current custom fields: 0 with
 * *out filled; 1 when the rule is wrong, with "at POS: reason" in why; or a db_rc. */
int customer_rule_compile(struct db *db, const char *rule, struct segment_sql *out, char *why, size_t whysz);
/* The same, also knowing the columns of a rule's record (rules.c). Custom fields (attr.)
 * and custom-object fields (obj.TYPE.FIELD) come from the database each time, so a field
 * defined a moment ago can be named at once. */
int customer_rule_compile_with(struct db *db, const char *rule, const struct segment_column *cols, size_t ncols,
                               struct segment_sql *out, char *why, size_t whysz);
/* Runs head + "(" compiled rule ")" + tail with the parameters pre, the rule's, then post
 * (seg NULL: head + tail, no rule). Every statement built around a segment goes through
 * here; the rule's SQL is segment.c's fixed fragments, never request text. r may be NULL. */
int segment_exec(struct db *db, const char *head, const struct segment_sql *seg, const char *tail,
                 const struct db_param *pre, size_t npre, const struct db_param *post, size_t npost,
                 struct db_result *r);
/* The same as a validation step: a wrong rule goes into f under field. */
int crm_rule_check(struct db *db, const char *rule, struct jf *f, const char *field);
/* After a CRM record of type ("deal", "lead", "activity") was written: the audit row
 * (before NULL = created), its TYPE.created/TYPE.updated event scoped by the record's
 * region and customer_owner_id when it has one (an activity: its customer's owner),
 * else owner_id, and the 201/200 answer. Takes after. */
int crm_written(struct api_ctx *c, const char *type, json_t *before, json_t *after);
/* The same, answering the record as reload loads it after the event (whose rules may have
 * changed it). */
typedef int (*crm_loader)(struct db *db, const struct agent_info *me, int64_t id, json_t **out);
int crm_written_then(struct api_ctx *c, const char *type, json_t *before, json_t *after, crm_loader reload);
/* A deal entered its stage (before NULL: a new deal): stage history and deal.stage_changed
 * (whose seed rules move the customer's lifecycle and remind the manager). */
int deal_stage_entered(struct api_ctx *c, json_t *before, json_t *after);
/* A deal as the API shows it (api_deals.c), in me's scope (me NULL = no scope). */
int deal_load(struct db *db, const struct agent_info *me, int64_t id, json_t **out);

#endif

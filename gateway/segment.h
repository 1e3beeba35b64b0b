/* segment.h — the segment rule compiler (DESIGN.md section 7, "One rule engine"): turns
 * a marketer's rule such as
 *     tag:重要客户 AND (region = 华东 OR attr.score >= 80) AND NOT stage:churned
 * into a boolean SQL expression over the customers table aliased `c`, to be used as
 *     SELECT c.id FROM customers c WHERE c.merged_into IS NULL AND (<sql>)
 * with the returned parameters bound in order.
 *
 * The language:
 *     expr   := term ("OR" term)*          term := factor ("AND" factor)*
 *     factor := "NOT" factor | "(" expr ")" | pred
 *     pred   := "tag:" NAME | "stage:" NAME | "has:" (email|phone)
 *             | FIELD OP VALUE | "attr." KEY OP VALUE | "obj." TYPE "." FIELD OP VALUE
 *     OP     := = != < <= > >= ~          (~ is "contains")
 * Keywords, prefixes (tag: stage: has: attr.) and built-in field names are ASCII
 * case-insensitive. NAME and a bare VALUE are a run of characters other than white space
 * (ASCII, or the ideographic space U+3000), ( ) " and the operator characters = ! < > ~;
 * so `tag:重要客户` and `region = 华东` need no quotes. A quoted "..." (escapes \" and \\)
 * holds anything else, also right after tag: and stage: (`tag:"大 客户"`). A bare AND, OR or
 * NOT is never a value: quote it. Numbers: -?digits(.digits)? with at most 24 digits
 * before and 6 after the point (compared exactly as DECIMAL(30,6)). Dates: YYYY-MM-DD,
 * today, today-N, today+N (N days, at most 36500; the connection's time zone is UTC).
 *
 * Built-in fields: name customer_no industry type stage grade source region address uscc
 * company (text: = != ~); owner_id contact_days followup_days tickets.CHANNEL.Nd (CHANNEL chat, email,
 * sms or any; N 1..3650) deals.won deals.open (numbers); created_at last_contact_at
 * last_followup_at (dates, compared by calendar day). attr.KEY looks KEY up in the custom
 * field definitions the caller passes (types text, select: as text; number; date: the
 * stored "YYYY-MM-DD..." string compared as a date string; multiselect: = and ~ mean
 * "has this option", != "has not"). Type errors are compile errors.
 *
 * Semantics a marketer can rely on:
 *   - `x != v` also matches customers with no value (NULL), and NOT is the exact
 *     complement of what its operand matches (also for NULLs): `NOT region = 华东` ==
 *     `region != 华东`.
 *   - `~` is a literal substring test: % _ and \ in the value match themselves.
 *   - Custom-field data that does not fit the field's type (a number field holding "abc")
 *     simply does not match; the SQL never raises a conversion warning, so it is safe
 *     inside INSERT ... SELECT under the strict sql_mode db.c sets.
 *   - `~` relies on LIKE's default escape character '\' (the connection's sql_mode has no
 *     NO_BACKSLASH_ESCAPES; db.c sets it).
 *
 * Safety: the rule is untrusted. Only SQL fragments written in segment.c are emitted;
 * every value (names, texts, numbers, dates, JSON paths) travels as a parameter.
 * Limits: at most SEGMENT_MAX_LEN bytes of valid UTF-8 (no NUL), SEGMENT_MAX_DEPTH nested
 * parentheses or NOTs, SEGMENT_MAX_PREDICATES conditions.
 *
 * Owns: nothing global. On success *out owns the SQL text, the parameter array and the
 * strings the text parameters point into; free it with segment_sql_free(). The rule and
 * the field definitions are only read during the call.
 * Thread: any (no shared state); the result is deterministic for equal inputs.
 * Errors: segment_compile returns 0; -1 for a syntax or type error, with err->pos (0-based
 * byte offset of the offending token, the rule's length for "end of rule") and
 * err->message (valid UTF-8, e.g. "unknown field 'foo'"); -2 when memory runs out. On
 * any error *out is empty (segment_sql_free is still safe). err may be NULL.
 */
#ifndef SB_SEGMENT_H
#define SB_SEGMENT_H
#include <stddef.h>
#include "gateway/db.h"
#include "gateway/lib/buf.h"

#define SEGMENT_MAX_LEN 4000
#define SEGMENT_MAX_DEPTH 32
#define SEGMENT_MAX_PREDICATES 100

/* A custom field definition (field_defs.key, field_defs.type). */
struct segment_field {
    const char *key;
    const char *type; /* text, number, date, select or multiselect */
};

struct segment_error {
    size_t pos;
    char message[200];
};

struct segment_sql {
    struct buf sql;           /* the boolean expression, NUL-terminated */
    struct db_param *params;  /* nparams values for the '?' in sql, in order */
    size_t nparams;
    char *strings;            /* owns the text every DB_TEXT parameter points into */
};

/* A column of the record a rule is about (rules.c): the name as written in a rule
 * ("deal.amount", matched ASCII case-insensitively before the built-in fields), its type,
 * and the SQL that reads it — a fixed fragment of the caller's, never request text. */
enum segment_vtype { SEGMENT_TEXT, SEGMENT_NUMBER, SEGMENT_DATE };
struct segment_column {
    const char *name;
    enum segment_vtype type;
    const char *sql;
};

int segment_compile(const char *rule, size_t len, const struct segment_field *fields, size_t nfields,
                    struct segment_sql *out, struct segment_error *err);
/* A custom object's field (object_fields, docs/objects.md) for obj.TYPE.FIELD OP VALUE:
 * "the customer has a TYPE record whose FIELD compares so"; type as for custom fields. */
struct segment_objfield {
    const char *type_key;
    const char *field_key;
    int64_t field_id;
    const char *type;
};

/* Everything a rule may name besides the built-in fields. */
struct segment_env {
    const struct segment_field *fields;    /* attr.KEY */
    size_t nfields;
    const struct segment_column *cols;     /* the subject record's columns (rules.c) */
    size_t ncols;
    const struct segment_objfield *objs;   /* obj.TYPE.FIELD */
    size_t nobjs;
    /* NULL, or true for a field the rule's author may not see (field_perms.h): a built-in
     * field's name, or "attrs.KEY"; naming one is a compile error. */
    int (*hidden)(const char *field);
};
int segment_compile_env(const char *rule, size_t len, const struct segment_env *env, struct segment_sql *out,
                        struct segment_error *err);
void segment_sql_free(struct segment_sql *s);

#endif

/* json_field.h — typed reads of a JSON request body that collect every problem into one
 * {"field": "reason"} object, so a 422 names all bad fields at once.
 *
 * Owns: f->errors (create with jf_init, hand to api_invalid or free with jf_free).
 * Thread: any. Errors: readers return "absent" (NULL / 0) after recording a reason;
 * check jf_ok() before using any value.
 */
#ifndef SB_JSON_FIELD_H
#define SB_JSON_FIELD_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jf {
    json_t *body;
    json_t *errors;
};

void jf_init(struct jf *f, json_t *body);
void jf_free(struct jf *f);
bool jf_ok(const struct jf *f);
/* Present in the body (null counts as present). */
bool jf_has(const struct jf *f, const char *key);
void jf_fail(struct jf *f, const char *key, const char *reason);
/* Moves the errors of a nested object's checker g into f as "PREFIX.key" (prefix such as
 * "steps[2]" or "deal") and frees g. */
void jf_absorb(struct jf *f, struct jf *g, const char *prefix);
/* A deep copy of base (NULL: {}) with every key of changes set over it: a PATCH body
 * overlaid on the stored record, to check the result as a whole. */
json_t *jf_overlay(json_t *base, json_t *changes);
/* True when the array holds the string s. */
bool jf_array_has(json_t *array, const char *s);
/* Records "unknown field" for every key not in the NULL-terminated allowed list. */
void jf_only(struct jf *f, const char *const *allowed);
/* String of 1..max_chars code points after trimming; NULL when absent or null.
 * required: absent/empty is an error. Returns a pointer into the body (valid while body lives). */
const char *jf_str(struct jf *f, const char *key, size_t max_chars, bool required);
/* A name: like jf_str, but given and blank is an error even when not required (a PATCH
 * may leave a name out, not empty it). */
const char *jf_name(struct jf *f, const char *key, size_t max_chars, bool required);
/* One of choices (NULL-terminated). */
const char *jf_enum(struct jf *f, const char *key, const char *const *choices, bool required);
/* Integer in [min,max]; *present tells whether a non-null value was given. */
int64_t jf_int(struct jf *f, const char *key, int64_t min, int64_t max, bool required, bool *present);
/* v (the value under key, or given apart) must be an array of at most max_items names of
 * 1..max_chars characters (tags, categories); the problem goes to f under key. */
void jf_check_names(struct jf *f, const char *key, json_t *v, size_t max_items, size_t max_chars);
/* A sum of money: a number from 0 to 10^13, written into out with two decimals ("12.50",
 * for a DECIMAL column); false when absent or null (out untouched) or invalid. */
bool jf_money(struct jf *f, const char *key, char out[32]);
/* A UTC time "2026-12-01T09:00:00Z" (the Z may be left out), written into out as SQL
 * wants it ("2026-12-01 09:00:00"); false when absent or null (out "") or invalid. */
bool jf_utc_time(struct jf *f, const char *key, char out[24]);
/* true/false; absent ⇒ dflt. */
bool jf_bool(struct jf *f, const char *key, bool dflt);

#endif

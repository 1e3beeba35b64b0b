/* json_field.c — see json_field.h. */
#include "gateway/lib/json_field.h"
#include "gateway/lib/text.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void jf_init(struct jf *f, json_t *body)
{
    f->body = body;
    f->errors = json_object();
}

void jf_free(struct jf *f)
{
    json_decref(f->errors);
    f->errors = NULL;
}

bool jf_ok(const struct jf *f)
{
    return json_object_size(f->errors) == 0;
}

bool jf_has(const struct jf *f, const char *key)
{
    return json_object_get(f->body, key) != NULL;
}

void jf_fail(struct jf *f, const char *key, const char *reason)
{
    if (!json_object_get(f->errors, key))
        json_object_set_new(f->errors, key, json_string(reason));
}

void jf_only(struct jf *f, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(f->body, key, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok)
            jf_fail(f, key, "unknown field");
    }
}

const char *jf_str(struct jf *f, const char *key, size_t max_chars, bool required)
{
    json_t *v = json_object_get(f->body, key);
    if (!v || json_is_null(v)) {
        if (required)
            jf_fail(f, key, "is required");
        return NULL;
    }
    if (!json_is_string(v)) {
        jf_fail(f, key, "must be a string");
        return NULL;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (memchr(s, '\0', n)) {
        jf_fail(f, key, "must not contain NUL characters");
        return NULL;
    }
    size_t a = 0, b = n;
    while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == '\r'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\n' || s[b - 1] == '\r'))
        b--;
    if (a == b) {
        if (required)
            jf_fail(f, key, "must not be empty");
        return required ? NULL : "";
    }
    if (utf8_length(s + a, b - a) > max_chars) {
        char msg[64];
        snprintf(msg, sizeof(msg), "must be at most %zu characters", max_chars);
        jf_fail(f, key, msg);
        return NULL;
    }
    if (a > 0 || b < n) /* store the trimmed text in the body, which outlives the caller's use */
        json_string_setn(v, s + a, b - a);
    return json_string_value(v);
}

const char *jf_name(struct jf *f, const char *key, size_t max_chars, bool required)
{
    const char *s = jf_str(f, key, max_chars, required);
    if (s && !*s) {
        jf_fail(f, key, "must not be empty");
        return NULL;
    }
    return s;
}

const char *jf_enum(struct jf *f, const char *key, const char *const *choices, bool required)
{
    const char *s = jf_str(f, key, 64, required);
    if (!s)
        return NULL;
    for (size_t i = 0; choices[i]; i++)
        if (strcmp(choices[i], s) == 0)
            return choices[i];
    char msg[256] = "must be one of:";
    size_t n = strlen(msg);
    for (size_t i = 0; choices[i] && n + 2 < sizeof(msg); i++)
        n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s %s", i ? "," : "", choices[i]);
    jf_fail(f, key, msg);
    return NULL;
}

int64_t jf_int(struct jf *f, const char *key, int64_t min, int64_t max, bool required, bool *present)
{
    json_t *v = json_object_get(f->body, key);
    if (present)
        *present = false;
    if (!v || json_is_null(v)) {
        if (required)
            jf_fail(f, key, "is required");
        return 0;
    }
    if (!json_is_integer(v)) {
        jf_fail(f, key, "must be an integer");
        return 0;
    }
    int64_t n = json_integer_value(v);
    if (n < min || n > max) {
        char msg[96];
        snprintf(msg, sizeof(msg), "must be between %lld and %lld", (long long)min, (long long)max);
        jf_fail(f, key, msg);
        return 0;
    }
    if (present)
        *present = true;
    return n;
}

bool jf_money(struct jf *f, const char *key, char out[32])
{
    json_t *v = json_object_get(f->body, key);
    if (!v || json_is_null(v))
        return false;
    double a = json_is_number(v) ? json_number_value(v) : -1;
    if (!json_is_number(v) || !isfinite(a) || a < 0 || a > 1e13) {
        jf_fail(f, key, "must be a number from 0 to 10000000000000");
        return false;
    }
    snprintf(out, 32, "%.2f", a);
    return true;
}

bool jf_utc_time(struct jf *f, const char *key, char out[24])
{
    out[0] = '\0';
    json_t *v = json_object_get(f->body, key);
    if (!v || json_is_null(v))
        return false;
    const char *s = json_string_value(v);
    int y, mo, d, h, mi, se, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
        (s[n] != 'Z' && s[n] != '\0') || (s[n] == 'Z' && s[n + 1] != '\0') || y < 1970 || mo < 1 || mo > 12 ||
        d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) {
        jf_fail(f, key, "must be a UTC time like 2026-12-01T09:00:00Z");
        return false;
    }
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = 12}, back;
    time_t t = timegm(&tm);
    gmtime_r(&t, &back);
    if (back.tm_mday != d) { /* 2027-02-31 */
        jf_fail(f, key, "is not a date of the calendar");
        return false;
    }
    snprintf(out, 24, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, se);
    return true;
}

bool jf_bool(struct jf *f, const char *key, bool dflt)
{
    json_t *v = json_object_get(f->body, key);
    if (!v || json_is_null(v))
        return dflt;
    if (!json_is_boolean(v)) {
        jf_fail(f, key, "must be true or false");
        return dflt;
    }
    return json_is_true(v);
}

void jf_absorb(struct jf *f, struct jf *g, const char *prefix)
{
    const char *key;
    json_t *v;
    json_object_foreach(g->errors, key, v) {
        char fk[160];
        snprintf(fk, sizeof(fk), "%s.%s", prefix, key);
        jf_fail(f, fk, json_string_value(v));
    }
    jf_free(g);
}

void jf_check_names(struct jf *f, const char *key, json_t *v, size_t max_items, size_t max_chars)
{
    char why[96];
    size_t i;
    json_t *t;
    snprintf(why, sizeof(why), "must be an array of at most %zu names of 1..%zu characters", max_items, max_chars);
    if (!json_is_array(v) || json_array_size(v) > max_items) {
        jf_fail(f, key, why);
        return;
    }
    json_array_foreach(v, i, t) {
        const char *s = json_string_value(t);
        if (!s || !*s || !utf8_valid(s, strlen(s)) || utf8_length(s, strlen(s)) > max_chars) {
            jf_fail(f, key, why);
            return;
        }
    }
}

json_t *jf_overlay(json_t *base, json_t *changes)
{
    json_t *out = base ? json_deep_copy(base) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach(changes, k, v) {
        json_object_set(out, k, v);
    }
    return out;
}

bool jf_array_has(json_t *array, const char *s)
{
    size_t i;
    json_t *x;
    json_array_foreach(array, i, x) {
        if (s && json_is_string(x) && strcmp(json_string_value(x), s) == 0)
            return true;
    }
    return false;
}

/* fuzz_json_field.c — arbitrary bytes → json_loadb → every jf_* reader, as a REST handler
 * would use them. Invariants: no crash or leak; a string handed back is valid UTF-8,
 * trimmed, within max_chars code points and non-empty when required; an integer handed
 * back as present is within its range; errors is an object of strings and jf_ok agrees
 * with it. */
#include "tests/fuzz/fuzz.h"
#include "gateway/lib/json_field.h"
#include "gateway/lib/text.h"
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void check_str(struct jf *f, const char *key, size_t max, bool required)
{
    const char *s = jf_str(f, key, max, required);
    if (!s)
        return;
    size_t n = strlen(s);
    FUZZ_CHECK(utf8_valid(s, n));
    FUZZ_CHECK(utf8_length(s, n) <= max);
    if (required)
        FUZZ_CHECK(n > 0);
    if (n > 0)
        FUZZ_CHECK(!blank(s[0]) && !blank(s[n - 1]));
}

static void check_errors(const struct jf *f)
{
    FUZZ_CHECK(json_is_object(f->errors));
    const char *k;
    json_t *v;
    json_object_foreach(f->errors, k, v) {
        FUZZ_CHECK(json_is_string(v));
        FUZZ_CHECK(json_string_length(v) > 0);
    }
    FUZZ_CHECK(jf_ok(f) == (json_object_size(f->errors) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const allowed[] = {"name", "email", "status", "n", "flag", "tags", NULL};
    static const char *const statuses[] = {"new", "open", "pending", "solved", "closed", NULL};
    if (size > 65536)
        return 0;
    json_error_t err;
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!body)
        return 0;

    /* A handler's sequence. */
    struct jf f;
    jf_init(&f, body);
    jf_only(&f, allowed);
    check_str(&f, "name", 10, true);
    check_str(&f, "email", 254, false);
    const char *st = jf_enum(&f, "status", statuses, false);
    if (st) {
        int found = 0;
        for (size_t i = 0; statuses[i]; i++)
            found |= st == statuses[i];
        FUZZ_CHECK(found);
    }
    bool present = false;
    int64_t n = jf_int(&f, "n", -5, 1000, false, &present);
    if (present)
        FUZZ_CHECK(n >= -5 && n <= 1000);
    else
        FUZZ_CHECK(n == 0);
    (void)jf_bool(&f, "flag", false);
    (void)jf_has(&f, "tags");
    check_errors(&f);
    jf_free(&f);

    /* Every key of the body through every reader, each on a fresh collector. */
    if (json_is_object(body)) {
        const char *key;
        json_t *v;
        size_t seen = 0;
        json_object_foreach(body, key, v) {
            if (++seen > 64)
                break;
            struct jf g;
            jf_init(&g, body);
            check_str(&g, key, 3, seen % 2 == 0);
            check_errors(&g);
            jf_free(&g);
            jf_init(&g, body);
            present = false;
            n = jf_int(&g, key, INT64_MIN, INT64_MAX, true, &present);
            FUZZ_CHECK(present == json_is_integer(v));
            FUZZ_CHECK(jf_bool(&g, key, true) == (json_is_boolean(v) ? json_is_true(v) : true));
            (void)jf_enum(&g, key, statuses, true);
            check_errors(&g);
            jf_free(&g);
        }
    }
    json_decref(body);
    return 0;
}

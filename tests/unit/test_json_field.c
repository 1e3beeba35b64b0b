/* test_json_field.c — typed reads of a JSON body that collect every problem at once
 * (gateway/lib/json_field.h). */
#include "tests/unit/unit.h"
#include "gateway/lib/json_field.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

/* The recorded reason for key, or NULL. */
static const char *reason(const struct jf *f, const char *key)
{
    return json_string_value(json_object_get(f->errors, key));
}

static void test_str_required_and_optional(void **state)
{
    (void)state;
    json_t *b = parse("{\"name\":\"Alice\",\"note\":null,\"empty\":\"\",\"blank\":\"  \\t \"}");
    struct jf f;
    jf_init(&f, b);
    assert_string_equal(jf_str(&f, "name", 200, true), "Alice");
    assert_true(jf_ok(&f));
    assert_null(jf_str(&f, "missing", 200, false)); /* optional, absent: no error */
    assert_null(jf_str(&f, "note", 200, false));    /* optional, null: no error */
    assert_true(jf_ok(&f));
    assert_null(jf_str(&f, "missing_req", 200, true));
    assert_string_equal(reason(&f, "missing_req"), "is required");
    assert_null(jf_str(&f, "note_req", 200, true));
    assert_null(jf_str(&f, "empty", 200, true));
    assert_non_null(reason(&f, "empty"));
    assert_null(jf_str(&f, "blank", 200, true));     /* whitespace only counts as empty */
    assert_non_null(reason(&f, "blank"));
    assert_false(jf_ok(&f));
    jf_free(&f);

    /* Optional and blank: present but nothing usable — not an error. */
    jf_init(&f, b);
    const char *s = jf_str(&f, "blank", 200, false);
    assert_true(s == NULL || s[strspn(s, " \t")] == '\0');
    assert_true(jf_ok(&f));
    jf_free(&f);
    json_decref(b);
}

static void test_str_wrong_type(void **state)
{
    (void)state;
    json_t *b = parse("{\"a\":1,\"b\":true,\"c\":[\"x\"],\"d\":{\"x\":1},\"e\":1.5}");
    struct jf f;
    jf_init(&f, b);
    assert_null(jf_str(&f, "a", 10, false));
    assert_null(jf_str(&f, "b", 10, false));
    assert_null(jf_str(&f, "c", 10, true));
    assert_null(jf_str(&f, "d", 10, true));
    assert_null(jf_str(&f, "e", 10, true));
    assert_int_equal(json_object_size(f.errors), 5);
    assert_string_equal(reason(&f, "a"), "must be a string");
    jf_free(&f);
    json_decref(b);
}

static void test_str_max_chars_code_points(void **state)
{
    (void)state;
    /* 4 Chinese characters = 12 bytes; 2 emoji = 8 bytes. */
    json_t *b = parse("{\"zh\":\"张三李四\",\"emoji\":\"😀😀\",\"ascii\":\"abcd\"}");
    struct jf f;
    jf_init(&f, b);
    assert_string_equal(jf_str(&f, "zh", 4, true), "张三李四");
    assert_string_equal(jf_str(&f, "emoji", 2, true), "😀😀");
    assert_string_equal(jf_str(&f, "ascii", 4, true), "abcd");
    assert_true(jf_ok(&f));
    jf_free(&f);

    jf_init(&f, b);
    assert_null(jf_str(&f, "zh", 3, true));
    assert_null(jf_str(&f, "emoji", 1, true));
    assert_null(jf_str(&f, "ascii", 3, true));
    assert_int_equal(json_object_size(f.errors), 3);
    assert_contains(reason(&f, "zh"), "3");
    jf_free(&f);
    json_decref(b);
}

/* The limit applies to the value after trimming (json_field.h: "String of 1..max_chars
 * code points after trimming"). */
static void test_str_max_counted_after_trim(void **state)
{
    (void)state;
    json_t *b = parse("{\"name\":\"  张三  \"}");
    struct jf f;
    jf_init(&f, b);
    const char *s = jf_str(&f, "name", 2, true);
    if (!jf_ok(&f))
        print_error("\"  张三  \" with max 2: %s\n", reason(&f, "name"));
    assert_true(jf_ok(&f));
    assert_non_null(s);
    jf_free(&f);
    json_decref(b);
}

/* The value handed back is the trimmed string. */
static void test_str_value_is_trimmed(void **state)
{
    (void)state;
    json_t *b = parse("{\"name\":\" \\t Alice Smith \\n\"}");
    struct jf f;
    jf_init(&f, b);
    const char *s = jf_str(&f, "name", 200, true);
    assert_non_null(s);
    assert_string_equal(s, "Alice Smith");
    jf_free(&f);
    json_decref(b);
}

static void test_str_nul_rejected(void **state)
{
    (void)state;
    json_t *b = json_object();
    json_object_set_new(b, "s", json_stringn("a\0b", 3));
    struct jf f;
    jf_init(&f, b);
    assert_null(jf_str(&f, "s", 10, true));
    assert_non_null(reason(&f, "s"));
    jf_free(&f);
    json_decref(b);
}

static void test_enum(void **state)
{
    (void)state;
    static const char *const statuses[] = {"new", "open", "pending", "solved", "closed", NULL};
    json_t *b = parse("{\"status\":\"open\",\"bad\":\"reopened\",\"num\":3,\"case\":\"OPEN\"}");
    struct jf f;
    jf_init(&f, b);
    const char *v = jf_enum(&f, "status", statuses, true);
    assert_ptr_equal(v, statuses[1]); /* the table's own string, not the body's */
    assert_true(jf_ok(&f));
    assert_null(jf_enum(&f, "absent", statuses, false));
    assert_true(jf_ok(&f));
    assert_null(jf_enum(&f, "bad", statuses, true));
    const char *why = reason(&f, "bad");
    assert_non_null(why);
    for (size_t i = 0; statuses[i]; i++)
        assert_contains(why, statuses[i]); /* the reason lists the choices */
    assert_null(jf_enum(&f, "num", statuses, true));
    assert_null(jf_enum(&f, "case", statuses, true)); /* enums are exact */
    assert_null(jf_enum(&f, "absent_req", statuses, true));
    assert_string_equal(reason(&f, "absent_req"), "is required");
    assert_int_equal(json_object_size(f.errors), 4);
    jf_free(&f);
    json_decref(b);
}

static void test_enum_long_choice_list(void **state)
{
    (void)state;
    static const char *const many[] = {
        "alpha_alpha_alpha", "bravo_bravo_bravo", "charlie_charlie", "delta_delta_delta", "echo_echo_echo",
        "foxtrot_foxtrot", "golf_golf_golf", "hotel_hotel_hotel", "india_india_india", "juliet_juliet",
        "kilo_kilo_kilo", "lima_lima_lima", "mike_mike_mike", "november_november", "oscar_oscar_oscar",
        "papa_papa_papa", "quebec_quebec", "romeo_romeo_romeo", "sierra_sierra", "tango_tango_tango", NULL};
    json_t *b = parse("{\"x\":\"zulu\"}");
    struct jf f;
    jf_init(&f, b);
    assert_null(jf_enum(&f, "x", many, true));
    const char *why = reason(&f, "x");
    assert_non_null(why);
    assert_true(strlen(why) < 256);
    jf_free(&f);
    json_decref(b);
}

static void test_int(void **state)
{
    (void)state;
    json_t *b = parse("{\"n\":5,\"neg\":-3,\"zero\":0,\"big\":9007199254740993,\"str\":\"5\",\"real\":5.0,"
                      "\"t\":true,\"nul\":null,\"lo\":0,\"hi\":11}");
    struct jf f;
    jf_init(&f, b);
    bool present = false;
    assert_int_equal(jf_int(&f, "n", 1, 10, true, &present), 5);
    assert_true(present);
    assert_int_equal(jf_int(&f, "neg", -10, 10, true, &present), -3);
    assert_int_equal(jf_int(&f, "zero", 0, 10, true, &present), 0);
    assert_true(present);
    assert_true(jf_int(&f, "big", 0, INT64_MAX, true, &present) == 9007199254740993LL);
    assert_true(jf_ok(&f));
    present = true;
    assert_int_equal(jf_int(&f, "absent", 1, 10, false, &present), 0);
    assert_false(present);
    present = true;
    assert_int_equal(jf_int(&f, "nul", 1, 10, false, &present), 0);
    assert_false(present);
    assert_true(jf_ok(&f));
    assert_int_equal(jf_int(&f, "lo", 1, 10, true, &present), 0);
    assert_false(present);
    assert_contains(reason(&f, "lo"), "between 1 and 10");
    assert_int_equal(jf_int(&f, "hi", 1, 10, true, NULL), 0);
    assert_non_null(reason(&f, "hi"));
    assert_int_equal(jf_int(&f, "str", 1, 10, true, NULL), 0);
    assert_string_equal(reason(&f, "str"), "must be an integer");
    assert_int_equal(jf_int(&f, "real", 1, 10, true, NULL), 0);
    assert_non_null(reason(&f, "real"));
    assert_int_equal(jf_int(&f, "t", 0, 10, true, NULL), 0);
    assert_non_null(reason(&f, "t"));
    assert_int_equal(jf_int(&f, "absent_req", 0, 10, true, NULL), 0);
    assert_string_equal(reason(&f, "absent_req"), "is required");
    assert_int_equal(json_object_size(f.errors), 6);
    jf_free(&f);
    json_decref(b);
}

static void test_bool(void **state)
{
    (void)state;
    json_t *b = parse("{\"t\":true,\"f\":false,\"nul\":null,\"s\":\"true\",\"one\":1}");
    struct jf f;
    jf_init(&f, b);
    assert_true(jf_bool(&f, "t", false));
    assert_false(jf_bool(&f, "f", true));
    assert_true(jf_bool(&f, "absent", true));
    assert_false(jf_bool(&f, "absent", false));
    assert_true(jf_bool(&f, "nul", true));
    assert_true(jf_ok(&f));
    assert_false(jf_bool(&f, "s", false));
    assert_string_equal(reason(&f, "s"), "must be true or false");
    assert_true(jf_bool(&f, "one", true)); /* wrong type: error and the default */
    assert_non_null(reason(&f, "one"));
    jf_free(&f);
    json_decref(b);
}

static void test_only_unknown_fields(void **state)
{
    (void)state;
    static const char *const allowed[] = {"name", "email", "phone", NULL};
    json_t *b = parse("{\"name\":\"A\",\"emial\":\"typo@example.com\",\"admin\":true,\"phone\":null}");
    struct jf f;
    jf_init(&f, b);
    jf_only(&f, allowed);
    assert_int_equal(json_object_size(f.errors), 2);
    assert_string_equal(reason(&f, "emial"), "unknown field");
    assert_string_equal(reason(&f, "admin"), "unknown field");
    assert_null(reason(&f, "name"));
    jf_free(&f);

    static const char *const none[] = {NULL};
    jf_init(&f, b);
    jf_only(&f, none);
    assert_int_equal(json_object_size(f.errors), 4);
    jf_free(&f);
    json_decref(b);
}

static void test_has(void **state)
{
    (void)state;
    json_t *b = parse("{\"a\":null,\"b\":0}");
    struct jf f;
    jf_init(&f, b);
    assert_true(jf_has(&f, "a")); /* null counts as present */
    assert_true(jf_has(&f, "b"));
    assert_false(jf_has(&f, "c"));
    jf_free(&f);
    json_decref(b);
}

static void test_first_reason_wins(void **state)
{
    (void)state;
    json_t *b = parse("{\"x\":5}");
    struct jf f;
    jf_init(&f, b);
    jf_fail(&f, "x", "first");
    jf_fail(&f, "x", "second");
    assert_string_equal(reason(&f, "x"), "first");
    assert_null(jf_str(&f, "x", 10, true)); /* also fails, keeps "first" */
    assert_string_equal(reason(&f, "x"), "first");
    jf_free(&f);
    json_decref(b);
}

/* One body, many problems: all of them are reported together. */
static void test_all_errors_at_once(void **state)
{
    (void)state;
    static const char *const allowed[] = {"name", "email", "stage", "owner_id", "vip", "region", NULL};
    static const char *const stages[] = {"potential", "contacted", "won", NULL};
    json_t *b = parse("{\"email\":42,\"stage\":\"lost\",\"owner_id\":-1,\"vip\":\"yes\",\"region\":\"华东华东华东\","
                      "\"extra\":1}");
    struct jf f;
    jf_init(&f, b);
    jf_only(&f, allowed);
    const char *name = jf_str(&f, "name", 200, true);
    const char *email = jf_str(&f, "email", 254, false);
    const char *stage = jf_enum(&f, "stage", stages, false);
    int64_t owner = jf_int(&f, "owner_id", 1, INT64_MAX, false, NULL);
    bool vip = jf_bool(&f, "vip", false);
    const char *region = jf_str(&f, "region", 5, false);
    assert_null(name);
    assert_null(email);
    assert_null(stage);
    assert_int_equal(owner, 0);
    assert_false(vip);
    assert_null(region);
    assert_false(jf_ok(&f));
    static const char *const bad[] = {"extra", "name", "email", "stage", "owner_id", "vip", "region", NULL};
    for (size_t i = 0; bad[i]; i++)
        if (!reason(&f, bad[i]))
            fail_msg("no reason recorded for %s", bad[i]);
    assert_int_equal(json_object_size(f.errors), 7);
    jf_free(&f);
    json_decref(b);
}

/* A body that is not an object (or is missing) gives "absent" for everything. */
static void test_non_object_body(void **state)
{
    (void)state;
    static const char *const allowed[] = {"a", NULL};
    json_t *arr = parse("[1,2,3]");
    struct jf f;
    jf_init(&f, arr);
    jf_only(&f, allowed);
    assert_null(jf_str(&f, "a", 10, false));
    assert_true(jf_ok(&f));
    assert_null(jf_str(&f, "a", 10, true));
    assert_false(jf_ok(&f));
    jf_free(&f);
    json_decref(arr);

    jf_init(&f, NULL);
    jf_only(&f, allowed);
    assert_false(jf_has(&f, "a"));
    assert_int_equal(jf_int(&f, "a", 0, 1, false, NULL), 0);
    assert_true(jf_bool(&f, "a", true));
    assert_true(jf_ok(&f));
    jf_free(&f);
}

/* A nested object's errors reach the parent under "prefix.key". */
static void test_absorb(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"steps\":[{\"delay\":\"x\"}]}", 0, NULL);
    struct jf f, g;
    jf_init(&f, body);
    jf_init(&g, json_array_get(json_object_get(body, "steps"), 0));
    bool has;
    jf_int(&g, "delay", 0, 10, false, &has);
    jf_str(&g, "name", 10, true);
    jf_absorb(&f, &g, "steps[0]");
    assert_false(jf_ok(&f));
    assert_non_null(json_object_get(f.errors, "steps[0].delay"));
    assert_string_equal(json_string_value(json_object_get(f.errors, "steps[0].name")), "is required");
    assert_int_equal(json_object_size(f.errors), 2);
    jf_free(&f);
    json_decref(body);
}

static void test_overlay_and_array_has(void **state)
{
    (void)state;
    json_t *base = json_pack("{s:s, s:{s:i}}", "name", "a", "nested", "x", 1);
    json_t *changes = json_pack("{s:s, s:n}", "name", "b", "gone");
    json_t *o = jf_overlay(base, changes);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "b");
    assert_true(json_is_null(json_object_get(o, "gone")));
    assert_string_equal(json_string_value(json_object_get(base, "name")), "a"); /* base untouched */
    json_object_set_new(json_object_get(o, "nested"), "x", json_integer(2));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(base, "nested"), "x")), 1); /* deep copy */
    json_t *empty = jf_overlay(NULL, changes);
    assert_int_equal(json_object_size(empty), 2);
    json_t *arr = json_pack("[s, i, s]", "x", 3, "设备");
    assert_true(jf_array_has(arr, "设备"));
    assert_false(jf_array_has(arr, "y"));
    assert_false(jf_array_has(arr, NULL));
    assert_false(jf_array_has(NULL, "x"));
    json_decref(base);
    json_decref(changes);
    json_decref(o);
    json_decref(empty);
    json_decref(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_required_and_optional),
        cmocka_unit_test(test_str_wrong_type),
        cmocka_unit_test(test_str_max_chars_code_points),
        cmocka_unit_test(test_str_max_counted_after_trim),
        cmocka_unit_test(test_str_value_is_trimmed),
        cmocka_unit_test(test_str_nul_rejected),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_enum_long_choice_list),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_only_unknown_fields),
        cmocka_unit_test(test_has),
        cmocka_unit_test(test_first_reason_wins),
        cmocka_unit_test(test_all_errors_at_once),
        cmocka_unit_test(test_non_object_body),
        cmocka_unit_test(test_absorb),
        cmocka_unit_test(test_overlay_and_array_has),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

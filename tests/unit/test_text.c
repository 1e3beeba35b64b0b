/* test_text.c — bounded string helpers and UTF-8 checks (gateway/lib/text.h) and the
 * growable buffer (gateway/lib/buf.h). */
#include "tests/unit/unit.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/text.h"
#include <stdlib.h>

/* ---- text_copy / text_copy_n ---- */

static void test_copy_fits(void **state)
{
    (void)state;
    char dst[8];
    assert_int_equal(text_copy(dst, sizeof(dst), "abc"), 0);
    assert_string_equal(dst, "abc");
    assert_int_equal(text_copy(dst, sizeof(dst), "1234567"), 0); /* exactly size-1 */
    assert_string_equal(dst, "1234567");
    assert_int_equal(text_copy(dst, sizeof(dst), ""), 0);
    assert_string_equal(dst, "");
}

static void test_copy_truncates(void **state)
{
    (void)state;
    char dst[8];
    memset(dst, 'Z', sizeof(dst));
    assert_int_equal(text_copy(dst, sizeof(dst), "12345678"), -1);
    assert_string_equal(dst, "1234567");
    assert_int_equal(text_copy(dst, sizeof(dst), "a much longer string"), -1);
    assert_string_equal(dst, "a much ");
    char one[1] = {'Z'};
    assert_int_equal(text_copy(one, sizeof(one), "x"), -1);
    assert_int_equal(one[0], '\0');
    assert_int_equal(text_copy(one, sizeof(one), ""), 0);
    char none[1] = {'Z'};
    assert_int_equal(text_copy(none, 0, "x"), -1);
    assert_int_equal(none[0], 'Z'); /* size 0: nothing written */
}

static void test_copy_n(void **state)
{
    (void)state;
    char dst[8];
    assert_int_equal(text_copy_n(dst, sizeof(dst), "abcdef", 3), 0);
    assert_string_equal(dst, "abc");
    assert_int_equal(text_copy_n(dst, sizeof(dst), "abcdefghijk", 10), -1);
    assert_string_equal(dst, "abcdefg");
    assert_int_equal(text_copy_n(dst, sizeof(dst), "whatever", 0), 0);
    assert_string_equal(dst, "");
}

/* ---- text_parse_i64 ---- */

static void parse_ok(const char *s, int64_t want)
{
    int64_t v = 12345;
    assert_int_equal(text_parse_i64(s, &v), 0);
    assert_true(v == want);
}

static void parse_bad(const char *s)
{
    int64_t v = 12345;
    if (text_parse_i64(s, &v) != -1) {
        print_error("\"%s\" parsed as %lld\n", s ? s : "(null)", (long long)v);
        fail();
    }
}

static void test_parse_i64(void **state)
{
    (void)state;
    parse_ok("0", 0);
    parse_ok("7", 7);
    parse_ok("-42", -42);
    parse_ok("007", 7);
    parse_ok("9223372036854775807", INT64_MAX);
    parse_ok("-9223372036854775808", INT64_MIN);
    parse_bad(NULL);
    parse_bad("");
    parse_bad(" 5");   /* leading space */
    parse_bad("\t5");
    parse_bad("\n5");
    parse_bad("5 ");   /* trailing space */
    parse_bad("5\n");
    parse_bad("5x");
    parse_bad("x5");
    parse_bad("1.5");
    parse_bad("1e3");
    parse_bad("0x10");
    parse_bad("-");
    parse_bad("--5");
    parse_bad("- 5");
    parse_bad("9223372036854775808");   /* INT64_MAX + 1 */
    parse_bad("-9223372036854775809");  /* INT64_MIN - 1 */
    parse_bad("99999999999999999999999999");
    parse_bad("１２");                   /* full-width digits */
}

/* ---- utf8_valid / utf8_length ---- */

#define VALID(lit) assert_true(utf8_valid(lit, sizeof(lit) - 1))
#define INVALID(lit) assert_false(utf8_valid(lit, sizeof(lit) - 1))

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    VALID("plain ascii");
    VALID("中文字符");
    VALID("😀 emoji");
    VALID("\xc2\x80");             /* U+0080, smallest 2-byte */
    VALID("\xdf\xbf");             /* U+07FF */
    VALID("\xe0\xa0\x80");         /* U+0800, smallest 3-byte */
    VALID("\xed\x9f\xbf");         /* U+D7FF, just below the surrogates */
    VALID("\xee\x80\x80");         /* U+E000, just above */
    VALID("\xef\xbf\xbd");         /* U+FFFD */
    VALID("\xf0\x90\x80\x80");     /* U+10000, smallest 4-byte */
    VALID("\xf4\x8f\xbf\xbf");     /* U+10FFFF, the last code point */
    VALID("Ελληνικά русский العربية");
}

static void test_utf8_invalid(void **state)
{
    (void)state;
    /* overlongs */
    INVALID("\xc0\x80");
    INVALID("\xc0\xaf");
    INVALID("\xc1\xbf");
    INVALID("\xe0\x80\x80");
    INVALID("\xe0\x9f\xbf");       /* U+07FF in 3 bytes */
    INVALID("\xf0\x80\x80\x80");
    INVALID("\xf0\x8f\xbf\xbf");   /* U+FFFF in 4 bytes */
    /* surrogates */
    INVALID("\xed\xa0\x80");       /* U+D800 */
    INVALID("\xed\xbf\xbf");       /* U+DFFF */
    INVALID("\xed\xa0\xbd\xed\xb8\x80"); /* CESU-8 pair for U+1F600 */
    /* beyond U+10FFFF */
    INVALID("\xf4\x90\x80\x80");
    INVALID("\xf5\x80\x80\x80");
    INVALID("\xf7\xbf\xbf\xbf");
    INVALID("\xf8\x88\x80\x80\x80");
    INVALID("\xfc\x84\x80\x80\x80\x80");
    INVALID("\xfe");
    INVALID("\xff");
    /* truncated sequences */
    INVALID("\xe4\xb8");           /* first 2 bytes of 中 */
    INVALID("\xe4");
    INVALID("\xf0\x9f\x98");
    INVALID("abc\xc3");
    INVALID("\xe4\xb8" "abc");
    /* lone / stray continuation bytes */
    INVALID("\x80");
    INVALID("\xbf");
    INVALID("a\x80" "b");
    INVALID("\xe4\x41\xad");
    /* a valid string cut by n inside a character */
    assert_false(utf8_valid("中", 2));
    assert_false(utf8_valid("😀", 3));
    assert_true(utf8_valid("中文", 3));
}

static void test_utf8_length(void **state)
{
    (void)state;
    assert_int_equal(utf8_length("", 0), 0);
    assert_int_equal(utf8_length("abc", 3), 3);
    assert_int_equal(utf8_length("中文", strlen("中文")), 2);
    assert_int_equal(utf8_length("😀", strlen("😀")), 1);
    assert_int_equal(utf8_length("a中😀é", strlen("a中😀é")), 4);
    assert_int_equal(utf8_length("张三李四王五", strlen("张三李四王五")), 6);
    assert_int_equal(utf8_length("abc", 2), 2);
}

/* ---- trim / lower / equal_ct ---- */

static void test_trim_lower_equal(void **state)
{
    (void)state;
    char s[32] = "  \t hello world \r\n ";
    assert_string_equal(text_trim(s), "hello world");
    char e[4] = "   ";
    assert_string_equal(text_trim(e), "");
    char u[32] = "MiXeD 中 ABC";
    text_lower(u);
    assert_string_equal(u, "mixed 中 abc");
    assert_true(text_equal_ct("secret", "secret", 6));
    assert_false(text_equal_ct("secret", "secreT", 6));
    assert_true(text_equal_ct("a", "b", 0));
}

/* ---- buf ---- */

static void test_buf_growth(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(b.len, 0);
    char chunk[100];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)('a' + i % 26);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, 100000);
    assert_true(b.alloc > b.len);
    assert_int_equal(b.data[b.len], '\0');
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] != (char)('a' + (i % 100) % 26))
            fail_msg("byte %zu is wrong", i);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_puts(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_buf_empty_append(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void test_buf_cap_max(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "0123456789", 10), 0); /* exactly the cap */
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_append(&b, "x", 1), -1);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789"); /* unchanged */
    assert_int_equal(buf_puts(&b, "yz"), -1);
    assert_int_equal(buf_printf(&b, "%d", 1), -1);
    assert_string_equal(b.data, "0123456789");
    assert_int_equal(buf_append(&b, "", 0), 0);
    buf_free(&b);

    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "01234567890", 11), -1); /* one past the cap at once */
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "%s", "0123456789A"), -1);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "%s", "0123456789"), 0);
    assert_string_equal(b.data, "0123456789");
    buf_free(&b);

    /* A huge request must not wrap around the size arithmetic. */
    buf_init(&b, 0);
    assert_int_equal(buf_append(&b, "a", 1), 0);
    assert_int_equal(buf_append(&b, "x", (size_t)-1), -1);
    assert_int_equal(buf_append(&b, "x", (size_t)-2), -1);
    assert_string_equal(b.data, "a");
    buf_free(&b);
}

static void test_buf_printf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_printf(&b, "%d-%s-%05.1f", 42, "中", 3.14159), 0);
    assert_string_equal(b.data, "42-中-003.1");
    assert_int_equal(buf_printf(&b, "%s", ""), 0);
    assert_string_equal(b.data, "42-中-003.1");
    /* Output longer than the first allocation. */
    char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    size_t before = b.len;
    assert_int_equal(buf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, before + sizeof(big) + 1);
    assert_int_equal(b.data[before], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    for (int i = 0; i < 500; i++)
        assert_int_equal(buf_printf(&b, "%d,", i), 0);
    assert_non_null(strstr(b.data, ",499,"));
    buf_free(&b);
}

static void test_buf_take(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    char *p = buf_take(&b); /* never-used buffer: an empty string, not NULL */
    assert_non_null(p);
    assert_string_equal(p, "");
    free(p);
    assert_int_equal(buf_puts(&b, "owned"), 0);
    p = buf_take(&b);
    assert_string_equal(p, "owned");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(p);
    assert_int_equal(buf_puts(&b, "reuse"), 0); /* usable after take */
    assert_string_equal(b.data, "reuse");
    buf_free(&b);
}

static void test_utf8_truncate_and_like(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(utf8_truncate_copy(out, sizeof(out), "设备ab", 3), 7); /* two 3-byte characters and 'a' */
    assert_string_equal(out, "设备a");
    assert_int_equal(utf8_truncate_copy(out, 5, "设备", 10), 3); /* never cuts a character: 4 bytes fit one */
    assert_string_equal(out, "设");
    assert_int_equal(utf8_truncate_copy(out, sizeof(out), "", 5), 0);
    char *p = text_like_pattern("50%_a\\b");
    assert_non_null(p);
    assert_string_equal(p, "%50\\%\\_a\\\\b%");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_fits),
        cmocka_unit_test(test_copy_truncates),
        cmocka_unit_test(test_copy_n),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_utf8_length),
        cmocka_unit_test(test_trim_lower_equal),
        cmocka_unit_test(test_buf_growth),
        cmocka_unit_test(test_buf_empty_append),
        cmocka_unit_test(test_buf_cap_max),
        cmocka_unit_test(test_buf_printf),
        cmocka_unit_test(test_buf_take),
        cmocka_unit_test(test_utf8_truncate_and_like),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

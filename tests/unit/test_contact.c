/* test_contact.c — e-mail and phone validation/normalisation (gateway/lib/contact.h).
 * Every rejection must come with a reason (it becomes error.fields.email / .phone). */
#include "tests/unit/unit.h"
#include "gateway/lib/contact.h"

static void email_ok(const char *in, const char *want)
{
    char out[CONTACT_MAX];
    const char *why = NULL;
    int rc = contact_email_normalise(in, out, sizeof(out), &why);
    if (rc != 0)
        print_error("email \"%s\" rejected: %s\n", in, why ? why : "(no reason)");
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static void email_bad(const char *in)
{
    char out[CONTACT_MAX];
    const char *why = NULL;
    int rc = contact_email_normalise(in, out, sizeof(out), &why);
    if (rc == 0)
        print_error("email \"%s\" accepted as \"%s\"\n", in, out);
    assert_int_equal(rc, -1);
    assert_non_null(why);
    assert_true(why[0] != '\0');
}

static void phone_ok(const char *in, const char *want)
{
    char out[CONTACT_MAX];
    const char *why = NULL;
    int rc = contact_phone_normalise(in, out, sizeof(out), &why);
    if (rc != 0)
        print_error("phone \"%s\" rejected: %s\n", in, why ? why : "(no reason)");
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static void phone_bad(const char *in)
{
    char out[CONTACT_MAX];
    const char *why = NULL;
    int rc = contact_phone_normalise(in, out, sizeof(out), &why);
    if (rc == 0)
        print_error("phone \"%s\" accepted as \"%s\"\n", in, out);
    assert_int_equal(rc, -1);
    assert_non_null(why);
    assert_true(why[0] != '\0');
}

static void test_email_valid(void **state)
{
    (void)state;
    email_ok("alice@example.com", "alice@example.com");
    email_ok("a@b.co", "a@b.co");
    email_ok("first.last+tag@sub.example.org", "first.last+tag@sub.example.org");
    email_ok("o'brien@example.ie", "o'brien@example.ie");
    email_ok("user_name-1@my-domain.example.com", "user_name-1@my-domain.example.com");
    email_ok("x!#$%&*/=?^`{|}~@example.com", "x!#$%&*/=?^`{|}~@example.com");
}

/* contact.h: the whole address is lower-cased (ASCII only), so one mailbox is one
 * identity however it is typed. */
static void test_email_trim_and_lower(void **state)
{
    (void)state;
    email_ok("  Alice@Example.COM  ", "alice@example.com");
    email_ok("\tBob@MAIL.Example.Org\n", "bob@mail.example.org");
    email_ok("ÉMILE@Example.FR", "Émile@example.fr"); /* non-ASCII letters are left alone */
}

static void test_email_utf8_local_part(void **state)
{
    (void)state;
    email_ok("张三@example.cn", "张三@example.cn");
    email_ok("Pelé@Example.BR", "pelé@example.br");
}

static void test_email_invalid(void **state)
{
    (void)state;
    email_bad("");
    email_bad("   ");
    email_bad("alice.example.com");      /* no @ */
    email_bad("alice@@example.com");     /* two @ */
    email_bad("a@b@example.com");
    email_bad("al ice@example.com");     /* space */
    email_bad("alice@exa mple.com");
    email_bad("alice\t@example.com");
    email_bad(".alice@example.com");     /* leading dot */
    email_bad("alice.@example.com");     /* trailing dot */
    email_bad("al..ice@example.com");    /* consecutive dots */
    email_bad("alice@example..com");
    email_bad("alice@.example.com");
    email_bad("alice@example.com.");
    email_bad("alice@example");          /* no TLD */
    email_bad("alice@example.c");        /* one-letter TLD */
    email_bad("alice@");
    email_bad("@example.com");
    email_bad("alice@-example.com");     /* label starts with a hyphen */
    email_bad("alice@example-.com");     /* label ends with a hyphen */
    email_bad("alice@exa_mple.com");
    email_bad("<alice@example.com>");
    email_bad("Alice <alice@example.com>");
    email_bad("alice@example.com\r\nBcc: victim@example.com");
    email_bad("\"quoted\"@example.com");
    email_bad("ali(ce@example.com");
    email_bad("alice\x7f@example.com");
    email_bad("ali\xff" "ce@example.com"); /* invalid UTF-8 */
    email_bad("ali\xc3@example.com");      /* truncated UTF-8 sequence */
}

static void test_email_lengths(void **state)
{
    (void)state;
    /* 64-byte local part, 189-byte domain (labels <= 63): 254 bytes in all. */
    char local[80], domain[200], addr[400];
    memset(local, 'l', 64);
    local[64] = '\0';
    snprintf(domain, sizeof(domain), "%.63s.%.63s.%.57s.com",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
    assert_int_equal(strlen(domain), 189);
    snprintf(addr, sizeof(addr), "%s@%s", local, domain);
    assert_int_equal(strlen(addr), 254);
    email_ok(addr, addr);

    /* 255 bytes: one more character in the domain. */
    snprintf(addr, sizeof(addr), "%s@x%s", local, domain);
    assert_int_equal(strlen(addr), 255);
    email_bad(addr);

    /* 65-byte local part. */
    snprintf(addr, sizeof(addr), "%sl@example.com", local);
    email_bad(addr);

    /* 64-byte label. */
    char label[70];
    memset(label, 'd', 64);
    label[64] = '\0';
    snprintf(addr, sizeof(addr), "a@%s.com", label);
    email_bad(addr);
    label[63] = '\0';
    snprintf(addr, sizeof(addr), "a@%s.com", label);
    email_ok(addr, addr);

    /* Far too long (longer than the internal buffer). */
    char huge[2000];
    memset(huge, 'a', sizeof(huge) - 20);
    snprintf(huge + sizeof(huge) - 20, 20, "@example.com");
    email_bad(huge);
}

static void test_email_small_output(void **state)
{
    (void)state;
    char out[8];
    const char *why = NULL;
    memset(out, 'Z', sizeof(out));
    assert_int_equal(contact_email_normalise("alice@example.com", out, sizeof(out), &why), -1);
    assert_non_null(why);
    assert_true(memchr(out, '\0', sizeof(out)) != NULL);
}

static void test_email_null_why(void **state)
{
    (void)state;
    char out[CONTACT_MAX];
    assert_int_equal(contact_email_normalise("nope", out, sizeof(out), NULL), -1);
    assert_int_equal(contact_email_normalise("a@example.com", out, sizeof(out), NULL), 0);
}

static void test_phone_valid(void **state)
{
    (void)state;
    phone_ok("13812345678", "+8613812345678");
    phone_ok("+86 138-1234-5678", "+8613812345678");
    phone_ok("+8613812345678", "+8613812345678");
    phone_ok("  138 1234 5678 ", "+8613812345678");
    phone_ok("+86 (138) 1234.5678", "+8613812345678");
    phone_ok("+14155550123", "+14155550123");
    phone_ok("+1 (415) 555-0123", "+14155550123");
    phone_ok("+44 20 7946 0958", "+442079460958");
    phone_ok("+12345678", "+12345678");               /* 8 digits: the shortest E.164 we take */
    phone_ok("+123456789012345", "+123456789012345"); /* 15 digits: the longest */
}

static void test_phone_invalid(void **state)
{
    (void)state;
    phone_bad("");
    phone_bad("   ");
    phone_bad("+");
    phone_bad("12345");
    phone_bad("23812345678");        /* 11 digits not starting with 1 */
    phone_bad("1381234567");         /* 10 digits */
    phone_bad("138123456789");       /* 12 digits */
    phone_bad("(415) 555 0123");     /* no country code */
    phone_bad("8613812345678");      /* country code without + */
    phone_bad("+8612345");           /* +86 but not a mobile */
    phone_bad("+86 23812345678");    /* +86, 11 digits, not starting with 1 */
    phone_bad("+86138123456789");    /* +86, 12 digits */
    phone_bad("+0123456789");        /* country code 0 */
    phone_bad("+1234567");           /* 7 digits */
    phone_bad("+1234567890123456");  /* 16 digits */
    phone_bad("1381234567a");        /* letters */
    phone_bad("abc");
    phone_bad("138-CALL-NOW");
    phone_bad("++8613812345678");
    phone_bad("138+12345678");       /* + in the middle */
    phone_bad("13812345678+");
    phone_bad("１３８１２３４５６７８"); /* full-width digits */
    phone_bad("tel:+8613812345678");
    phone_bad("13812345678;ext=1");
    phone_bad("123456789012345678901234567890123456789012345678901234567890"); /* too long */
}

static void test_phone_small_output(void **state)
{
    (void)state;
    char out[8];
    const char *why = NULL;
    assert_int_equal(contact_phone_normalise("13812345678", out, sizeof(out), &why), -1);
    assert_non_null(why);
    assert_true(memchr(out, '\0', sizeof(out)) != NULL);
}

static void test_phone_null_why(void **state)
{
    (void)state;
    char out[CONTACT_MAX];
    assert_int_equal(contact_phone_normalise("12345", out, sizeof(out), NULL), -1);
    assert_int_equal(contact_phone_normalise("13812345678", out, sizeof(out), NULL), 0);
}

/* Normalising a normalised value changes nothing (stored identities are looked up again
 * by their normalised form). */
static void test_idempotent(void **state)
{
    (void)state;
    static const char *const emails[] = {" Alice@Example.COM ", "张三@Example.cn", "x.y+z@A.B.CO", NULL};
    static const char *const phones[] = {"13812345678", "+1 (415) 555-0123", "+44 20 7946 0958", NULL};
    char a[CONTACT_MAX], b[CONTACT_MAX];
    const char *why;
    for (size_t i = 0; emails[i]; i++) {
        assert_int_equal(contact_email_normalise(emails[i], a, sizeof(a), &why), 0);
        assert_int_equal(contact_email_normalise(a, b, sizeof(b), &why), 0);
        assert_string_equal(a, b);
    }
    for (size_t i = 0; phones[i]; i++) {
        assert_int_equal(contact_phone_normalise(phones[i], a, sizeof(a), &why), 0);
        assert_int_equal(contact_phone_normalise(a, b, sizeof(b), &why), 0);
        assert_string_equal(a, b);
    }
}

/* Duplicates are found by company: spacing, width, case and legal-form suffixes do not
 * make two companies different; anything else does. */
static void test_company_names(void **state)
{
    (void)state;
    static const char *const same[][2] = {
        {"深圳华为技术有限公司", "深圳 华为技术 股份有限公司"},
        {"深圳华为技术有限公司", "深圳华为技术有限责任公司"},
        {"阿里巴巴（中国）有限公司", "阿里巴巴(中国)"},
        {"Acme Co., Ltd.", "ACME LTD"},
        {"Acme Inc.", "acme"},
        {"ＡＣＭＥ　Ｃｏｒｐ", "Acme Corporation"},
        {"腾讯科技集团", "腾讯科技"},
    };
    char a[256], b[256];
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        contact_company_normalise(same[i][0], a, sizeof(a));
        contact_company_normalise(same[i][1], b, sizeof(b));
        assert_string_equal(a, b);
        assert_true(a[0] != '\0');
    }
    contact_company_normalise("深圳华为技术有限公司", a, sizeof(a));
    assert_string_equal(a, "深圳华为技术");
    contact_company_normalise("上海华为技术有限公司", b, sizeof(b));
    assert_string_not_equal(a, b);
    contact_company_normalise("有限公司", a, sizeof(a)); /* only suffixes: something stays, so it is not "" */
    assert_true(a[0] != '\0');
    contact_company_normalise(" ,.; ", a, sizeof(a));
    assert_string_equal(a, "");
    contact_company_normalise("\xed\xb4\xa0x", a, sizeof(a)); /* a surrogate is not a character */
    assert_string_equal(a, "x");
    contact_company_normalise("深圳华为", a, 4); /* bounded: never half a character */
    assert_string_equal(a, "深");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_valid),
        cmocka_unit_test(test_email_trim_and_lower),
        cmocka_unit_test(test_email_utf8_local_part),
        cmocka_unit_test(test_email_invalid),
        cmocka_unit_test(test_email_lengths),
        cmocka_unit_test(test_email_small_output),
        cmocka_unit_test(test_email_null_why),
        cmocka_unit_test(test_phone_valid),
        cmocka_unit_test(test_phone_invalid),
        cmocka_unit_test(test_phone_small_output),
        cmocka_unit_test(test_phone_null_why),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_company_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_search_text.c — the tokens kb search indexes and queries with (gateway/lib/search_text.h). */
#include "tests/unit/unit.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/search_text.h"
#include <stdlib.h>
#include <string.h>

static char *tokens(const char *s)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(search_tokens(s, 1, &b), 0);
    return b.data ? buf_take(&b) : strdup("");
}

#define ASSERT_TOKENS(in, want)                 \
    do {                                        \
        char *got_ = tokens(in);                \
        assert_string_equal(got_, want);        \
        free(got_);                             \
    } while (0)

static void test_cjk_bigrams(void **state)
{
    (void)state;
    ASSERT_TOKENS("怎么退款", " 怎么 么退 退款");
    ASSERT_TOKENS("退款", " 退款");
    ASSERT_TOKENS("票", "");                             /* a lone character: nothing */
    ASSERT_TOKENS("退款吗？发票呢", " 退款 发票");         /* particles and punctuation cut runs */
    ASSERT_TOKENS("日本語のテスト", " 日本 本語 語の のテ テス スト");
}

static void test_words_and_forms(void **state)
{
    (void)state;
    ASSERT_TOKENS("Shipping, shipped & SHIPS", " ship ship ship");
    ASSERT_TOKENS("refunds refunded refund", " refund refund refund");
    ASSERT_TOKENS("deliveries delivery", " delivery delivery");
    ASSERT_TOKENS("invoice invoices", " invoic invoic");
    ASSERT_TOKENS("a I x", "");                          /* one letter: too short to index */
    ASSERT_TOKENS("status address", " status address");
    ASSERT_TOKENS("iPhone15", " iphone15 iphon 15");   /* parts stemmed as words alone are */
    ASSERT_TOKENS("iPhone 15", " iphon 15");
    ASSERT_TOKENS("5G套餐", " 5g 套餐");
}

static void test_full_width_and_mixed(void **state)
{
    (void)state;
    ASSERT_TOKENS("ＶＩＰ会员，怎么取消？", " vip 会员 怎么 么取 取消");
    ASSERT_TOKENS("７天无理由退货", " 天无 无理 理由 由退 退货"); /* a lone digit is no token */
    ASSERT_TOKENS("VIP会员　续费", " vip 会员 续费");      /* ideographic space */
    ASSERT_TOKENS("Café crème", " café crème");
}

struct spans {
    char text[256];
};

static int span_cb(const char *t, size_t n, size_t from, size_t to, void *arg)
{
    struct spans *s = arg;
    char one[64];
    snprintf(one, sizeof(one), "%.*s@%zu-%zu ", (int)n, t, from, to);
    strncat(s->text, one, sizeof(s->text) - strlen(s->text) - 1);
    return 0;
}

static void test_offsets(void **state)
{
    (void)state;
    struct spans s = {""};
    /* 退 is 3 bytes; "ab 退款x" */
    assert_int_equal(search_tokens_each("ab 退款x", span_cb, &s), 0);
    assert_string_equal(s.text, "ab@0-2 退款@3-9 ");
}

static void test_repeat_and_junk(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(search_tokens("Refund 退款", 3, &b), 0);
    assert_string_equal(b.data, " refund 退款 refund 退款 refund 退款");
    buf_free(&b);
    ASSERT_TOKENS("\xff\xfe退款\xc3", " 退款");              /* invalid bytes separate */
    char longw[300];
    memset(longw, 'a', sizeof(longw) - 1);
    longw[sizeof(longw) - 1] = '\0';
    ASSERT_TOKENS(longw, "");                              /* too long for a token */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cjk_bigrams),
        cmocka_unit_test(test_words_and_forms),
        cmocka_unit_test(test_full_width_and_mixed),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_repeat_and_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_ip_class.c — which addresses a webhook may reach (gateway/lib/ip_class.h). */
#include "tests/unit/unit.h"
#include "gateway/lib/ip_class.h"

static void test_private_v4(void **state)
{
    (void)state;
    static const char *const refused[] = {"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1",
                                          "100.127.255.254", "127.0.0.1", "127.8.9.10", "169.254.169.254",
                                          "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.168.1.1",
                                          "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
                                          "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255"};
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        if (ip_text_is_public(refused[k]))
            fail_msg("%s must not be public", refused[k]);
    }
}

static void test_public_v4(void **state)
{
    (void)state;
    static const char *const fine[] = {"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.1", "100.63.255.255",
                                       "100.128.0.1", "126.255.255.255", "128.0.0.1", "169.253.0.1",
                                       "172.15.255.255", "172.32.0.1", "192.169.0.1", "198.20.0.1",
                                       "223.255.255.255", "114.114.114.114"};
    for (size_t k = 0; k < sizeof(fine) / sizeof(fine[0]); k++) {
        if (!ip_text_is_public(fine[k]))
            fail_msg("%s must be public", fine[k]);
    }
}

static void test_v6(void **state)
{
    (void)state;
    static const char *const refused[] = {"::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1",
                                          "2001:db8::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "64:ff9b::a9fe:a9fe",
                                          "100::1", "3fff::1:0:0:0", "::ffff:0:0", "4000::1"};
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        if (ip_text_is_public(refused[k]))
            fail_msg("%s must not be public", refused[k]);
    }
    assert_true(ip_text_is_public("2400:3200::1"));
    assert_true(ip_text_is_public("2606:4700:4700::1111"));
    assert_true(ip_text_is_public("::ffff:8.8.8.8"));
    assert_true(ip_text_is_public("64:ff9b::808:808"));
}

static void test_not_literals(void **state)
{
    (void)state;
    assert_false(ip_text_is_public("localhost"));
    assert_false(ip_text_is_public(""));
    assert_false(ip_text_is_public("1.2.3"));
    assert_false(ip_text_is_public("0x7f.1"));
    assert_false(ip_is_public(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_v4),
        cmocka_unit_test(test_public_v4),
        cmocka_unit_test(test_v6),
        cmocka_unit_test(test_not_literals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

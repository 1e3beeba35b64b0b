/* test_sms.c — the pure parts of the SMS channel: segment counting, form bodies, phone
 * numbers with a default country, and the Twilio provider's signature and answers. */
#include "tests/unit/unit.h"
#include "channels/sms_twilio.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/form.h"
#include "gateway/lib/sms_text.h"
#include "gateway/lib/text.h"
#include <stdlib.h>

static void count_is(const char *text, enum sms_encoding enc, size_t units, size_t segments)
{
    struct sms_count c;
    sms_count_text(text, &c);
    if (c.encoding != enc || c.units != units || c.segments != segments)
        fail_msg("\"%.40s…\": got %s %zu units %zu segments, want %s %zu %zu", text, sms_encoding_name(c.encoding),
                 c.units, c.segments, sms_encoding_name(enc), units, segments);
}

static char *repeat(const char *s, size_t times)
{
    size_t n = strlen(s);
    char *out = malloc(n * times + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(out + i * n, s, n);
    out[n * times] = '\0';
    return out;
}

static void test_segments(void **state)
{
    (void)state;
    count_is("", SMS_GSM7, 0, 1);
    count_is("hello", SMS_GSM7, 5, 1);
    count_is("Price: €5 {ok}", SMS_GSM7, 17, 1); /* € { } cost two septets each */
    count_is("café Ñandù £3 ¿?", SMS_GSM7, 16, 1);
    count_is("Ñandú", SMS_UCS2, 5, 1);               /* ú is not in GSM-7 (ù is) */
    char *g160 = repeat("a", 160), *g161 = repeat("a", 161), *g306 = repeat("a", 306), *g307 = repeat("a", 307);
    count_is(g160, SMS_GSM7, 160, 1);
    count_is(g161, SMS_GSM7, 161, 2);
    count_is(g306, SMS_GSM7, 306, 2);
    count_is(g307, SMS_GSM7, 307, 3);
    char *c70 = repeat("你", 70), *c71 = repeat("好", 71), *c134 = repeat("中", 134), *c135 = repeat("文", 135);
    count_is(c70, SMS_UCS2, 70, 1);
    count_is(c71, SMS_UCS2, 71, 2);
    count_is(c134, SMS_UCS2, 134, 2);
    count_is(c135, SMS_UCS2, 135, 3);
    count_is("ok 😊", SMS_UCS2, 5, 1);                /* an emoji is two UTF-16 units */
    count_is("a`b", SMS_UCS2, 3, 1);                  /* the backtick is not GSM-7 */
    count_is("\xff\xfe", SMS_UCS2, 2, 1);             /* invalid bytes: one unit each */
    free(g160), free(g161), free(g306), free(g307), free(c70), free(c71), free(c134), free(c135);
}

static void test_form(void **state)
{
    (void)state;
    struct form f;
    const char *why = NULL;
    const char *body = "Body=%E4%BD%A0%E5%A5%BD+STOP&From=%2B8613800138000&Empty=&NoValue&Tag=a&Tag=b&&";
    assert_int_equal(form_parse(body, strlen(body), &f, &why), 0);
    assert_int_equal(f.n, 6);
    assert_string_equal(form_get(&f, "Body"), "你好 STOP");
    assert_string_equal(form_get(&f, "From"), "+8613800138000");
    assert_string_equal(form_get(&f, "Empty"), "");
    assert_string_equal(form_get(&f, "NoValue"), "");
    assert_string_equal(form_get(&f, "Tag"), "a");
    assert_null(form_get(&f, "Missing"));
    form_free(&f);
    static const char *const bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "a=%FF%FE", NULL};
    for (size_t i = 0; bad[i]; i++) {
        why = NULL;
        assert_int_equal(form_parse(bad[i], strlen(bad[i]), &f, &why), -1);
        assert_non_null(why);
        assert_int_equal(f.n, 0);
    }
    assert_int_equal(form_parse("", 0, &f, &why), 0);
    assert_int_equal(f.n, 0);
    form_free(&f);
    char *many = repeat("x=1&", FORM_MAX + 1);
    assert_int_equal(form_parse(many, strlen(many), &f, &why), -1);
    assert_string_equal(why, "too many form fields");
    free(many);
}

static void phone_cc(const char *in, const char *cc, const char *want)
{
    char out[40];
    const char *why = NULL;
    int rc = contact_phone_normalise_cc(in, cc, out, sizeof(out), &why);
    if (!want) {
        if (rc == 0)
            fail_msg("\"%s\" (cc %s) was accepted as %s", in, cc, out);
        return;
    }
    if (rc != 0)
        fail_msg("\"%s\" (cc %s) refused: %s", in, cc, why);
    assert_string_equal(out, want);
}

static void test_phone_countries(void **state)
{
    (void)state;
    phone_cc("138 0013 8000", "86", "+8613800138000");
    phone_cc("008613800138000", "86", "+8613800138000");
    phone_cc("+86 12800138000", "86", NULL); /* 12x is not a mainland mobile prefix */
    phone_cc("010 12345678", "86", NULL);    /* a Beijing landline without + */
    phone_cc("07911 123456", "44", "+447911123456");
    phone_cc("(415) 555-0123", "1", "+14155550123");
    phone_cc("+1 415 555 0123", "44", "+14155550123");
    phone_cc("12", "44", NULL);
}

static void test_twilio_signature(void **state)
{
    (void)state;
    struct sb_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    text_copy(cfg.sms.auth_token, sizeof(cfg.sms.auth_token), "secret-token");
    const char *body = "From=%2B8613800138000&Body=%E4%BD%A0%E5%A5%BD+STOP&MessageSid=SM123&MediaUrl0=https%3A%2F%2Fx%2Fa+b"
                       "&Tag=b&Tag=a&Tag=b";
    struct form f;
    const char *why;
    assert_int_equal(form_parse(body, strlen(body), &f, &why), 0);
    const char *url = "https://example.com/webhooks/sms/inbound";
    /* computed independently (python hmac): sorted names, distinct values sorted */
    assert_true(sms_twilio.verify(&cfg, url, &f, "gt2jlfnvcFiUpAeRPfAhyiE5vPg="));
    assert_false(sms_twilio.verify(&cfg, url, &f, "gt2jlfnvcFiUpAeRPfAhyiE5vPh="));
    assert_false(sms_twilio.verify(&cfg, "https://example.com/webhooks/sms/status", &f, "gt2jlfnvcFiUpAeRPfAhyiE5vPg="));
    assert_false(sms_twilio.verify(&cfg, url, &f, ""));
    assert_false(sms_twilio.verify(&cfg, url, &f, NULL));
    text_copy(cfg.sms.auth_token, sizeof(cfg.sms.auth_token), "other-token");
    assert_false(sms_twilio.verify(&cfg, url, &f, "gt2jlfnvcFiUpAeRPfAhyiE5vPg="));
    struct sms_inbound in;
    assert_int_equal(sms_twilio.parse_inbound(&f, &in), 0);
    assert_string_equal(in.id, "SM123");
    assert_string_equal(in.body, "你好 STOP");
    assert_int_equal(in.n_media, 1);
    assert_string_equal(in.media_url[0], "https://x/a b");
    form_free(&f);
}

static void classify_is(long status, const char *body, long retry_after, enum send_outcome want, int want_unsub,
                        const char *want_error)
{
    struct outbox_item it;
    memset(&it, 0, sizeof(it));
    struct sms_answer a = {status, body, strlen(body), retry_after};
    int unsub = -1;
    sms_twilio.classify(&a, &it, &unsub);
    assert_int_equal(it.outcome, want);
    assert_int_equal(unsub, want_unsub);
    if (want_error)
        assert_contains(it.error, want_error);
}

static void test_twilio_answers(void **state)
{
    (void)state;
    classify_is(201, "{\"sid\":\"SMabc\",\"status\":\"queued\"}", -1, SEND_OK, 0, NULL);
    classify_is(201, "{\"status\":\"queued\"}", -1, SEND_AMBIGUOUS, 0, "without a message id");
    classify_is(429, "{\"code\":20429,\"message\":\"Too Many Requests\"}", 7, SEND_RETRY, 0, "rate limiting");
    classify_is(503, "<html>down</html>", -1, SEND_RETRY, 0, "failing");
    classify_is(401, "{\"code\":20003}", -1, SEND_RETRY, 0, "credentials");
    classify_is(400, "{\"code\":21610,\"message\":\"Attempt to send to unsubscribed recipient\"}", -1, SEND_FAILED, 1,
                "21610 Attempt to send to unsubscribed recipient");
    classify_is(400, "{\"code\":21211,\"message\":\"Invalid 'To' Phone Number\"}", -1, SEND_FAILED, 0, "21211");
    classify_is(404, "not json", -1, SEND_FAILED, 0, "no reason given");
    struct outbox_item it;
    memset(&it, 0, sizeof(it));
    struct sms_answer a = {429, "", 0, 7};
    int unsub;
    sms_twilio.classify(&a, &it, &unsub);
    assert_int_equal(it.retry_after_secs, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_phone_countries),
        cmocka_unit_test(test_twilio_signature),
        cmocka_unit_test(test_twilio_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

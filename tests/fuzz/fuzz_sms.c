/* fuzz_sms.c — what an SMS webhook or send touches, on arbitrary bytes: the form parser
 * (webhook bodies), the Twilio signature check and field parsing over whatever parsed,
 * segment counting (any text) and phone numbers with a default country.
 * Invariants: a parsed form holds valid UTF-8 without NULs; a signature we computed is
 * only ever accepted for the exact form; counts are consistent; no overruns. */
#include "tests/fuzz/fuzz.h"
#include "channels/sms_twilio.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/form.h"
#include "gateway/lib/sms_text.h"
#include "gateway/lib/text.h"
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_form(const uint8_t *data, size_t size)
{
    struct form f;
    const char *why = NULL;
    if (form_parse((const char *)data, size, &f, &why) < 0) {
        FUZZ_CHECK(why && *why && f.n == 0);
        return;
    }
    FUZZ_CHECK(f.n <= FORM_MAX);
    for (size_t i = 0; i < f.n; i++) {
        FUZZ_CHECK(utf8_valid(f.pairs[i].name, strlen(f.pairs[i].name)));
        FUZZ_CHECK(utf8_valid(f.pairs[i].value, strlen(f.pairs[i].value)));
    }
    static struct sb_config cfg;
    text_copy(cfg.sms.auth_token, sizeof(cfg.sms.auth_token), "fuzz-token");
    FUZZ_CHECK(!sms_twilio.verify(&cfg, "https://x.example/webhooks/sms/inbound", &f, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    struct sms_inbound in;
    if (sms_twilio.parse_inbound(&f, &in) == 0) {
        FUZZ_CHECK(in.id && *in.id && in.from && in.body);
        FUZZ_CHECK(in.n_media <= SMS_MAX_MEDIA);
    }
    struct sms_status st;
    if (sms_twilio.parse_status(&f, &st) == 0)
        FUZZ_CHECK(st.id && strlen(st.id) <= 64 && st.status);
    form_free(&f);
}

static void check_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    struct sms_count c;
    sms_count_text(s, &c);
    FUZZ_CHECK(c.segments >= 1);
    FUZZ_CHECK(c.units <= c.segments * c.per_segment);
    FUZZ_CHECK(c.segments == 1 || c.units > (c.encoding == SMS_GSM7 ? 160u : 70u));
    char out[40];
    const char *why = NULL;
    const char *ccs[] = {"86", "1", "44"};
    if (contact_phone_normalise_cc(s, ccs[size % 3], out, sizeof(out), &why) == 0)
        FUZZ_CHECK(out[0] == '+' && strlen(out) >= 9 && strlen(out) <= 16);
    else
        FUZZ_CHECK(why && *why);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    check_form(data, size);
    check_text(data, size);
    return 0;
}

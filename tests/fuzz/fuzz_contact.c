/* fuzz_contact.c — contact_email_normalise / contact_phone_normalise /
 * contact_company_normalise on arbitrary bytes.
 * Invariants: never write past outsz; a success is well-formed and normalising it again
 * gives the same text; a failure always has a reason. */
#include "tests/fuzz/fuzz.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/text.h"
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_email(const char *in, size_t outsz)
{
    char *out = malloc(outsz); /* exact size: ASan catches any overrun */
    const char *why = NULL;
    if (!out)
        return;
    if (contact_email_normalise(in, out, outsz, &why) == 0) {
        size_t n = strlen(out);
        FUZZ_CHECK(n < outsz);
        FUZZ_CHECK(n > 0 && n <= 254);
        FUZZ_CHECK(utf8_valid(out, n));
        const char *at = strchr(out, '@');
        FUZZ_CHECK(at && at != out && strchr(at + 1, '@') == NULL);
        FUZZ_CHECK(strchr(at + 1, '.') != NULL);
        for (const char *p = out; *p; p++) {
            unsigned char c = (unsigned char)*p;
            FUZZ_CHECK(c > 0x20 && c != 0x7f);
            FUZZ_CHECK(!(c >= 'A' && c <= 'Z')); /* lower-cased (ASCII) */
        }
        char again[CONTACT_MAX];
        FUZZ_CHECK(contact_email_normalise(out, again, sizeof(again), &why) == 0);
        FUZZ_CHECK(strcmp(out, again) == 0);
    } else {
        FUZZ_CHECK(why != NULL && why[0] != '\0');
    }
    free(out);
}

static void check_phone(const char *in, size_t outsz)
{
    char *out = malloc(outsz);
    const char *why = NULL;
    if (!out)
        return;
    if (contact_phone_normalise(in, out, outsz, &why) == 0) {
        size_t n = strlen(out);
        FUZZ_CHECK(n < outsz);
        FUZZ_CHECK(out[0] == '+');
        FUZZ_CHECK(n >= 9 && n <= 16); /* + and 8..15 digits */
        FUZZ_CHECK(out[1] != '0');
        for (size_t i = 1; i < n; i++)
            FUZZ_CHECK(out[i] >= '0' && out[i] <= '9');
        if (strncmp(out, "+86", 3) == 0)
            FUZZ_CHECK(n == 14 && out[3] == '1');
        char again[CONTACT_MAX];
        FUZZ_CHECK(contact_phone_normalise(out, again, sizeof(again), &why) == 0);
        FUZZ_CHECK(strcmp(out, again) == 0);
    } else {
        FUZZ_CHECK(why != NULL && why[0] != '\0');
    }
    free(out);
}

/* Company names: bounded, valid UTF-8 out of anything, idempotent (a normalised name
 * normalises to itself once its suffixes are gone), no spaces or ASCII punctuation left. */
static void check_company(const char *in, size_t outsz)
{
    char *out = malloc(outsz);
    if (!out)
        return;
    contact_company_normalise(in, out, outsz);
    size_t n = strlen(out);
    FUZZ_CHECK(n < outsz);
    FUZZ_CHECK(utf8_valid(out, n));
    for (const char *p = out; *p; p++) {
        unsigned char c = (unsigned char)*p;
        FUZZ_CHECK(c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'));
    }
    if (outsz == CONTACT_MAX) {
        char again[CONTACT_MAX];
        contact_company_normalise(out, again, sizeof(again));
        char twice[CONTACT_MAX];
        contact_company_normalise(again, twice, sizeof(twice));
        FUZZ_CHECK(strcmp(again, twice) == 0);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    /* First byte picks a small output size (1..32) for the bounded run. */
    size_t small = size ? (size_t)(data[0] % 32) + 1 : 1;
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0'; /* stops at the first NUL byte, as a C caller would */
    check_email(in, CONTACT_MAX);
    check_email(in, small);
    check_phone(in, CONTACT_MAX);
    check_phone(in, small);
    check_company(in, CONTACT_MAX);
    check_company(in, small);
    free(in);
    return 0;
}

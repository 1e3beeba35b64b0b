/* contact.c — see contact.h. */
#include "gateway/lib/contact.h"
#include "gateway/lib/text.h"
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

static bool atext(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -1;
}

static int check_local(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' && s[i + 1] == '.')
            return -1;
        if (c != '.' && !atext(c) && c < 0x80)
            return -1;
    }
    return 0;
}

static int check_domain(const char *s, size_t n)
{
    if (n == 0 || n > 253 || !memchr(s, '.', n))
        return -1;
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return -1;
            label = 0;
            continue;
        }
        if (!isalnum(c) && c != '-' && c < 0x80)
            return -1;
        label++;
    }
    const char *tld = strrchr(s, '.') + 1;
    return strlen(tld) >= 2 ? 0 : -1;
}

int contact_email_normalise(const char *in, char *out, size_t outsz, const char **why)
{
    char tmp[CONTACT_MAX];
    if (text_copy(tmp, sizeof(tmp), in) < 0)
        return fail(why, "is too long");
    char *s = text_trim(tmp);
    size_t n = strlen(s);
    if (n == 0)
        return fail(why, "is empty");
    if (n > 254 || !utf8_valid(s, n))
        return fail(why, "is not a valid email address");
    char *at = strrchr(s, '@');
    if (!at || strchr(s, '@') != at)
        return fail(why, "is not a valid email address");
    if (check_local(s, (size_t)(at - s)) < 0 || check_domain(at + 1, strlen(at + 1)) < 0)
        return fail(why, "is not a valid email address");
    /* the whole address: in practice mailboxes are case-insensitive, and an identity must
     * match however the customer typed it */
    text_lower(s);
    if (text_copy(out, outsz, s) < 0)
        return fail(why, "is too long");
    return 0;
}

int contact_phone_normalise(const char *in, char *out, size_t outsz, const char **why)
{
    char digits[32];
    size_t nd = 0;
    bool plus = false, seen_digit = false;
    for (const char *p = in; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isdigit(c)) {
            if (nd + 1 >= sizeof(digits))
                return fail(why, "is too long for a phone number");
            digits[nd++] = (char)c;
            seen_digit = true;
        } else if (c == '+' && !seen_digit && !plus) {
            plus = true;
        } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') {
            continue;
        } else {
            return fail(why, "may contain only digits, spaces, dashes and a leading +");
        }
    }
    digits[nd] = '\0';
    if (nd == 0)
        return fail(why, "is empty");
    char e164[40];
    if (!plus) {
        if (nd != 11 || digits[0] != '1')
            return fail(why, "must be an 11-digit mainland mobile starting with 1, or +country code and number");
        if (text_copy(e164, sizeof(e164), "+86") < 0 || text_copy(e164 + 3, sizeof(e164) - 3, digits) < 0)
            return fail(why, "is too long");
    } else {
        if (digits[0] == '0')
            return fail(why, "country code cannot start with 0");
        if (nd == 13 && strncmp(digits, "86", 2) == 0 && digits[2] != '1')
            return fail(why, "a +86 mobile must have 11 digits starting with 1");
        if (strncmp(digits, "86", 2) == 0 && nd != 13)
            return fail(why, "a +86 mobile must have 11 digits starting with 1");
        if (nd < 8 || nd > 15)
            return fail(why, "must have 8 to 15 digits in E.164 form");
        e164[0] = '+';
        if (text_copy(e164 + 1, sizeof(e164) - 1, digits) < 0)
            return fail(why, "is too long");
    }
    if (text_copy(out, outsz, e164) < 0)
        return fail(why, "is too long");
    return 0;
}

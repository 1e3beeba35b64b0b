/* contact.c — see contact.h. */
#include "gateway/lib/contact.h"
#include "gateway/lib/text.h"
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
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
    return contact_phone_normalise_cc(in, "86", out, outsz, why);
}

/* Mainland numbers are mobiles: 1[3-9] and 9 more digits. */
static int cn_mobile_ok(const char *national, size_t n)
{
    return n == 11 && national[0] == '1' && national[1] >= '3' && national[1] <= '9';
}

int contact_phone_normalise_cc(const char *in, const char *cc, char *out, size_t outsz, const char **why)
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
    const char *d = digits;
    if (!plus && nd > 2 && d[0] == '0' && d[1] == '0') { /* 00 = the international prefix */
        plus = true;
        d += 2, nd -= 2;
    }
    char e164[40];
    if (!plus) {
        if (strcmp(cc, "86") == 0 && !cn_mobile_ok(d, nd))
            return fail(why, "must be an 11-digit mainland mobile starting with 1, or +country code and number");
        if (d[0] == '0') /* a national trunk prefix */
            d++, nd--;
        if (snprintf(e164, sizeof(e164), "+%s%s", cc, d) >= (int)sizeof(e164))
            return fail(why, "is too long");
    } else {
        if (d[0] == '0')
            return fail(why, "country code cannot start with 0");
        if (strncmp(d, "86", 2) == 0 && !cn_mobile_ok(d + 2, nd - 2))
            return fail(why, "a +86 mobile must have 11 digits starting with 13 to 19");
        if (snprintf(e164, sizeof(e164), "+%s", d) >= (int)sizeof(e164))
            return fail(why, "is too long");
    }
    size_t total = strlen(e164) - 1;
    if (total < 8 || total > 15)
        return fail(why, "must have 8 to 15 digits in E.164 form");
    if (text_copy(out, outsz, e164) < 0)
        return fail(why, "is too long");
    return 0;
}

/* ---- company names ---- */

static int company_drops(uint32_t cp)
{
    if (cp < 0x80)
        return !isalnum((int)cp);
    /* CJK symbols and punctuation, full-width brackets/commas, middle dot, ideographic space */
    return (cp >= 0x3000 && cp <= 0x303F) || cp == 0x00B7 || cp == 0x2014 || cp == 0x2026 ||
           (cp >= 0x2018 && cp <= 0x201F) || (cp >= 0xFF01 && cp <= 0xFF0F) ||
           (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65);
}

static size_t put_cp(char *out, size_t o, size_t outsz, uint32_t cp)
{
    char tmp[4];
    size_t n;
    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xC0 | (cp >> 6));
        tmp[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xE0 | (cp >> 12));
        tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        tmp[0] = (char)(0xF0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (o + n >= outsz)
        return o;
    memcpy(out + o, tmp, n);
    return o + n;
}

/* Strips one legal-form suffix from the end; 1 when one was stripped. */
static int strip_company_suffix(char *s)
{
    static const char *const suffixes[] = {"股份有限公司", "有限责任公司", "有限公司", "集团", "公司",
                                           "colimited", "coltd", "limited", "ltd", "incorporated", "inc",
                                           "corporation", "corp", "llc", "gmbh", "co", NULL};
    size_t n = strlen(s);
    for (size_t i = 0; suffixes[i]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && memcmp(s + n - k, suffixes[i], k) == 0) {
            s[n - k] = '\0';
            return 1;
        }
    }
    return 0;
}

void contact_company_normalise(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    if (!outsz)
        return;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    uint32_t cp;
    while ((cp = utf8_next(&p)) != 0) {
        if (cp >= 0xFF01 && cp <= 0xFF5E) /* full-width ASCII */
            cp -= 0xFEE0;
        if (cp == 0x3000 || cp == 0xFFFD || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF || company_drops(cp))
            continue; /* utf8_next is lenient: what is not a character is not part of a name */
        if (cp < 0x80)
            cp = (uint32_t)tolower((int)cp);
        o = put_cp(out, o, outsz, cp);
    }
    out[o] = '\0';
    while (strip_company_suffix(out))
        ;
}

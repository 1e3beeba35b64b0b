/* contact.h — validation and normalisation of customer contact data: e-mail addresses
 * and phone numbers (mainland China mobiles: 11 digits starting with 1; elsewhere E.164).
 *
 * Owns: nothing. Thread: any.
 * Errors: functions return 0 with the normalised form written to out, or -1 with a short
 * English reason in *why (a static string suitable for error.fields).
 */
#ifndef SB_CONTACT_H
#define SB_CONTACT_H
#include <stddef.h>

#define CONTACT_MAX 256

/* Trims, checks local@domain shape (RFC 5321 lengths, dot-atoms, a dotted domain),
 * lower-cases the address (ASCII). */
int contact_email_normalise(const char *in, char *out, size_t outsz, const char **why);
/* Accepts "13812345678", "+86 138-1234-5678", "+14155550123", "(415) 555 0123" is
 * rejected (no country code). Output is E.164: "+8613812345678". */
int contact_phone_normalise(const char *in, char *out, size_t outsz, const char **why);
/* The same with another default country: cc is its calling code ("86", "44", "1"); a
 * number without + (or 00) is national: a leading trunk 0 is dropped and cc put before
 * it. +86 numbers must be mainland mobiles (1[3-9] + 9 digits). */
int contact_phone_normalise_cc(const char *in, const char *cc, char *out, size_t outsz, const char **why);
/* Company name as duplicates are compared: full-width forms folded to ASCII, ASCII
 * lower-cased, spaces and punctuation (ASCII and CJK) dropped, then legal-form suffixes
 * removed from the end (股份有限公司, 有限责任公司, 有限公司, 集团, 公司, Co., Ltd.,
 * Limited, Inc., Corp., LLC, GmbH): "深圳 华为技术 有限公司" and "深圳华为技术股份有限公司"
 * both give "深圳华为技术". Always succeeds (output truncated to outsz); "" when nothing
 * but punctuation and suffixes was given. */
void contact_company_normalise(const char *in, char *out, size_t outsz);

#endif

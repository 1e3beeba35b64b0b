/* form.h — application/x-www-form-urlencoded bodies (webhooks), parsed into name/value
 * pairs in the order sent, repeats kept ('+' is a space, %XX a byte).
 *
 * Owns: the strings of a struct form it filled (form_free). Thread: any.
 * Errors: form_parse returns 0, or -1 with a short reason in *why for a body that is not
 * a form: a bad %-escape, a NUL byte, invalid UTF-8 after decoding, more than FORM_MAX
 * pairs, or a name longer than 256 bytes. Nothing is kept on failure.
 */
#ifndef SB_FORM_H
#define SB_FORM_H
#include <stddef.h>

#define FORM_MAX 256

struct form_pair {
    char *name, *value; /* decoded, NUL-terminated UTF-8 */
};

struct form {
    struct form_pair *pairs;
    size_t n;
};

int form_parse(const char *body, size_t len, struct form *out, const char **why);
/* The first value of name, or NULL. */
const char *form_get(const struct form *f, const char *name);
void form_free(struct form *f);

#endif
